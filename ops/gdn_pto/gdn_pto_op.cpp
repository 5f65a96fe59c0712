// `scaled_dot_kkt`, `wy_fast` and `tri_inverse`: megagdn-pto's chunk-128 stages as standalone
// kernels (gdn_pto_tiling.h): registration, inputs, launch and fp64 references.
#include <cmath>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/gdn_pto/gdn_pto_kernels.h"
#include "ops/gdn_pto/tri_inverse_kernel.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

using gdn_pto::kChunk;
using op_util::Kv;

// What every PTO stage takes: the varlen batch, the value heads, the cores launched, and the
// batch's cu_seqlens.
class GdnPtoBatch : public Op {
 public:
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"requests", K::kInt, "4", "sequences in the batch", 1, 65535},
            {"seq_len", K::kInt, "1024", "tokens per sequence (unless seq_lens is given)", 0, 1e7},
            {"seq_lens", K::kString, "",
             "comma-separated tokens per sequence, overrides requests/seq_len"},
            {"heads", K::kInt, "8", "value heads H", 1, 1024},
            {"cores", K::kInt, "24",
             "blocks launched, the harness's BLOCK_DIM (the chip's cube cores: 24 on 910B2), at "
             "most the device's AIC count",
             1, 256}};
  }

 protected:
  static TensorSpec CuSeqlens(const gdn_pto::Dims& d) {
    TensorSpec cu{"cu_seqlens", {d.B + 1}, DType::kInt32, TensorRole::kInput, true, 0, d.T, true};
    cu.fixed_by_params = true;
    return cu;
  }
  static void FillCuSeqlens(const gdn_pto::Dims& d, TensorMap& t) {
    int64_t at = 0;
    for (int64_t b = 0; b < d.B; ++b) {
      t["cu_seqlens"].Set(b, static_cast<double>(at));
      at += d.lens[static_cast<size_t>(b)];
    }
    t["cu_seqlens"].Set(d.B, static_cast<double>(at));
  }
  static int64_t Blocks(const ParamValues& p, const DeviceConfig& dev) {
    return std::min<int64_t>(p.Int("cores"), dev.aic_count);
  }
};

// What scaled_dot_kkt and wy_fast add: key heads, the head dim, and the inputs both read.
class GdnPtoStage : public GdnPtoBatch {
 public:
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    std::vector<OpParam> v = GdnPtoBatch::params();
    v.insert(
        v.end() - 1,
        {{"key_heads", K::kInt, "4", "key heads Hg (H a multiple of Hg)", 1, 1024},
         {"k_dim", K::kInt, "128",
          "head dim D of k (and v), the kernel's GDN_D (a multiple of 16, at most 128)", 16, 128}});
    return v;
  }

 protected:
  static gdn_pto::Dims DimsOf(const ParamValues& p) {
    const gdn_pto::Dims d =
        gdn_pto::MakeDims(SeqLens(p), p.Int("heads"), p.Int("key_heads"), p.Int("k_dim"));
    if (d.H % d.Hg)
      throw InputError("parameter 'heads' (" + std::to_string(d.H) +
                       ") must be a multiple of 'key_heads'");
    if (d.D % 16)
      throw InputError(
          "parameter 'k_dim' must be a multiple of 16 (the cube's K step is 32 B of fp16)");
    return d;
  }
  // The tensors both stages read; `cu_seqlens` follows the seq_lens parameter.
  static std::vector<TensorSpec> Common(const gdn_pto::Dims& d, int64_t cores,
                                        int64_t ws_per_core) {
    const DType f16 = DType::kFloat16;
    return {{"k", {d.T, d.Hg, d.D}, f16},
            {"beta", {d.H, d.T}, f16},
            {"g", {d.H, d.T}, DType::kFloat32},
            CuSeqlens(d),
            {"workspace", {cores * ws_per_core, kChunk, kChunk}, f16, TensorRole::kWorkspace},
            {"zero_rows", {kChunk, d.D}, f16, TensorRole::kWorkspace}};
  }
  // k rows L2-normalised (as the l2norm kernel hands them over), beta in (0, 1), G the
  // chunk-local cumsum of log decays in [-0.3, -0.01] (cumsum restarting every 128 tokens).
  static void FillCommon(const gdn_pto::Dims& d, TensorMap& t, Rng& rng) {
    FillCuSeqlens(d, t);
    Tensor& k = t["k"];
    if (k.materialised()) {
      std::vector<double> row(static_cast<size_t>(d.D));
      for (int64_t r = 0; r < d.T * d.Hg; ++r) {
        double ss = 0;
        for (auto& e : row) {
          e = rng.Normal();
          ss += e * e;
        }
        for (int64_t i = 0; i < d.D; ++i)
          k.Set(r * d.D + i, row[static_cast<size_t>(i)] / std::sqrt(ss + 1e-6));
      }
    }
    op_util::FillUniform(t["beta"], rng, 0.05, 0.95);
    Tensor& g = t["g"];
    if (!g.materialised()) return;
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t b = 0; b < d.B; ++b) {
        double acc = 0;
        for (int64_t i = 0; i < d.lens[static_cast<size_t>(b)]; ++i) {
          if (i % kChunk == 0) acc = 0;
          acc += rng.Uniform(-0.3, -0.01);
          g.Set(h * d.T + d.bos[static_cast<size_t>(b)] + i, acc);
        }
      }
  }
  static gdn_pto::Gm GmOf(GmMap& gm) {
    gdn_pto::Gm g;
    g.k = &gm["k"];
    g.beta = &gm["beta"];
    g.g = &gm["g"];
    g.zeros = &gm["zero_rows"];
    g.ws1 = &gm["workspace"];
    return g;
  }
  // Calls f(b, start, rows, h) for every chunk of every sequence and value head.
  template <class F>
  static void ForChunks(const gdn_pto::Dims& d, F&& f) {
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t c = 0; c < d.Chunks(b); ++c)
        for (int64_t h = 0; h < d.H; ++h)
          f(d.bos[static_cast<size_t>(b)] + c * kChunk,
            std::min(kChunk, d.lens[static_cast<size_t>(b)] - c * kChunk), h);
  }
};

class ScaledDotKktOp : public GdnPtoStage {
 public:
  std::string name() const override { return "scaled_dot_kkt"; }
  std::string summary() const override {
    return "GDN chunk-128 A = (K K^T) exp(min(G_t + ln beta_t - G_s, 0)) strictly below the "
           "diagonal: megagdn-pto's "
           "mixed kernel (AIC K K^T -> two-slot GM workspace -> two AIVs gate and store A), "
           "calibration.md C1 PTO kkt";
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const gdn_pto::Dims d = DimsOf(p);
    std::vector<TensorSpec> v = Common(d, p.Int("cores"), 2);
    v.push_back({"mask", {kChunk, kChunk}, DType::kFloat32});
    v.push_back({"A", {d.T, d.H, kChunk}, DType::kFloat16, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    FillCommon(DimsOf(p), t, rng);
    Tensor& m = t["mask"];  // the harness's torch.tril(ones, diagonal=-1)
    if (m.materialised())
      for (int64_t i = 0; i < kChunk; ++i)
        for (int64_t j = 0; j < kChunk; ++j) m.Set(i * kChunk + j, j < i ? 1.0 : 0.0);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    const gdn_pto::Dims d = DimsOf(p);
    gdn_pto::Gm g = GmOf(gm);
    g.mask = &gm["mask"];
    g.a = &gm["A"];
    LaunchPlan plan;
    plan.launch = op_util::LaunchOf<gdn_pto::KernelScaledDotKkt>(
        name(), Blocks(p, dev), CoreType::kMix, DType::kFloat16, g, d);
    plan.tiling = {Kv("chunk", kChunk), Kv("block_dim", Blocks(p, dev)),
                   Kv("work_items", d.B * d.H), Kv("chunks", d.TotalChunks())};
    return plan;
  }
  // The kernel's arithmetic in fp64: padded rows of K and G are zero, the mask as given.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const gdn_pto::Dims d = DimsOf(p);
    const Tensor &k = in.at("k"), &beta = in.at("beta"), &g = in.at("g"), &mask = in.at("mask");
    std::vector<double> a(static_cast<size_t>(d.T * d.H * kChunk));
    ForChunks(d, [&](int64_t start, int64_t rows, int64_t h) {
      const int64_t hg = h / (d.H / d.Hg);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t t = start + i;
        const double gt = g.At(h * d.T + t) + std::log(beta.At(h * d.T + t));
        for (int64_t j = 0; j < kChunk; ++j) {
          const double m = mask.At(i * kChunk + j);
          if (j >= rows || m == 0) continue;  // padded K rows give 0
          double kk = 0;
          for (int64_t e = 0; e < d.D; ++e)
            kk += k.At((t * d.Hg + hg) * d.D + e) * k.At(((start + j) * d.Hg + hg) * d.D + e);
          a[static_cast<size_t>((t * d.H + h) * kChunk + j)] =
              kk * std::exp(std::min(gt - g.At(h * d.T + start + j), 0.0)) * m;
        }
      }
    });
    return {{"A", a}};
  }
};

class WyFastOp : public GdnPtoStage {
 public:
  std::string name() const override { return "wy_fast"; }
  std::string summary() const override {
    return "GDN chunk-128 WY vectors U = (A beta) V, W = (A beta exp(G)) K: megagdn-pto's mixed "
           "kernel (two AIVs scale A's "
           "columns into GM workspaces, the AIC multiplies), calibration.md C1 PTO wy_fast";
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const gdn_pto::Dims d = DimsOf(p);
    std::vector<TensorSpec> v = Common(d, p.Int("cores"), 1);
    v.push_back({"v", {d.T, d.H, d.D}, DType::kFloat16});
    v.push_back({"A", {d.T, d.H, kChunk}, DType::kFloat16});
    v.push_back({"workspace_a1",
                 {p.Int("cores"), kChunk, kChunk},
                 DType::kFloat16,
                 TensorRole::kWorkspace});
    v.push_back({"w", {d.T, d.H, d.D}, DType::kFloat16, TensorRole::kOutput});
    v.push_back({"u", {d.T, d.H, d.D}, DType::kFloat16, TensorRole::kOutput});
    return v;
  }
  // A shaped as solve_tril hands it over: (I + A)^-1 of a strictly lower A is unit lower
  // triangular; zero beyond a partial chunk's rows.
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const gdn_pto::Dims d = DimsOf(p);
    FillCommon(d, t, rng);
    op_util::FillNormal(t["v"], rng);
    Tensor& a = t["A"];
    if (!a.materialised()) return;
    ForChunks(d, [&](int64_t start, int64_t rows, int64_t h) {
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j <= i; ++j)
          a.Set(((start + i) * d.H + h) * kChunk + j, i == j ? 1.0 : rng.Normal() * 0.1);
    });
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    const gdn_pto::Dims d = DimsOf(p);
    gdn_pto::Gm g = GmOf(gm);
    g.ws2 = g.ws1;
    g.ws1 = &gm["workspace_a1"];
    g.v = &gm["v"];
    g.a = &gm["A"];
    g.w = &gm["w"];
    g.u = &gm["u"];
    LaunchPlan plan;
    plan.launch = op_util::LaunchOf<gdn_pto::KernelWyFast>(name(), Blocks(p, dev), CoreType::kMix,
                                                           DType::kFloat16, g, d);
    plan.tiling = {Kv("chunk", kChunk), Kv("block_dim", Blocks(p, dev)),
                   Kv("work_items", d.TotalChunks() * d.H)};
    return plan;
  }
  // u_t = sum_s A[t, s] beta_s v_s, w_t = sum_s A[t, s] beta_s exp(G_s) k_s over the chunk's rows.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const gdn_pto::Dims d = DimsOf(p);
    const Tensor &k = in.at("k"), &v = in.at("v"), &beta = in.at("beta"), &g = in.at("g"),
                 &a = in.at("A");
    std::vector<double> w(static_cast<size_t>(d.T * d.H * d.D)), u(w.size());
    ForChunks(d, [&](int64_t start, int64_t rows, int64_t h) {
      const int64_t hg = h / (d.H / d.Hg);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t t = start + i;
        for (int64_t j = 0; j < rows; ++j) {
          const int64_t s = start + j;
          const double ab = a.At((t * d.H + h) * kChunk + j) * beta.At(h * d.T + s),
                       abg = ab * std::exp(g.At(h * d.T + s));
          if (ab == 0) continue;
          for (int64_t e = 0; e < d.D; ++e) {
            u[static_cast<size_t>((t * d.H + h) * d.D + e)] += ab * v.At((s * d.H + h) * d.D + e);
            w[static_cast<size_t>((t * d.H + h) * d.D + e)] +=
                abg * k.At((s * d.Hg + hg) * d.D + e);
          }
        }
      }
    });
    return {{"w", w}, {"u", u}};
  }
};

class TriInverseOp : public GdnPtoBatch {
 public:
  std::string name() const override { return "tri_inverse"; }
  std::string summary() const override {
    return "GDN chunk-128 solve_tril: (I + A)^-1 of every chunk's strictly lower 128 x 128 block, "
           "megagdn-pto's cube-only "
           "tri_inverse (fractal inverses by doubling, then 16 -> 128 block recursion; "
           "calibration.md C1 PTO solve_tril)";
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const gdn_pto::Dims d = DimsOf(p);
    return {{"A", {d.T, d.H, kChunk}, DType::kFloat16},
            {"minus_identity", {kChunk, kChunk}, DType::kFloat16},
            CuSeqlens(d),
            {"zero_rows", {kChunk, kChunk}, DType::kFloat16, TensorRole::kWorkspace},
            {"A_inv", {d.T, d.H, kChunk}, DType::kFloat32, TensorRole::kOutput}};
  }
  // 24 products of 128^3 per matrix (tri_inverse_kernel.h), whatever the chunk's valid rows: the
  // auto mode's limit keeps a large batch timing-only instead of minutes of emulated cube work.
  double FunctionalMacs(const ParamValues& p) const override {
    const gdn_pto::Dims d = DimsOf(p);
    return static_cast<double>(d.TotalChunks() * d.H) * 24.0 *
           static_cast<double>(kChunk * kChunk * kChunk);
  }
  // A as scaled_dot_kkt writes it: strictly lower inside each chunk, zero elsewhere.
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const gdn_pto::Dims d = DimsOf(p);
    FillCuSeqlens(d, t);
    Tensor& e = t["minus_identity"];
    if (e.materialised())
      for (int64_t i = 0; i < kChunk; ++i) e.Set(i * kChunk + i, -1.0);
    Tensor& a = t["A"];
    if (!a.materialised()) return;
    for (const gdn_pto::TriTile& tile : gdn_pto::TriTiles(d))
      for (int64_t i = 0; i < tile.rows; ++i)
        for (int64_t j = 0; j < i; ++j)
          a.Set(tile.offset + i * d.H * kChunk + j, rng.Normal() * 0.1);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    const gdn_pto::Dims d = DimsOf(p);
    gdn_pto::TriGm g;
    g.a = &gm["A"];
    g.minus_eye = &gm["minus_identity"];
    g.zeros = &gm["zero_rows"];
    g.out = &gm["A_inv"];
    const int64_t blocks = Blocks(p, dev);
    LaunchPlan plan;
    plan.launch = op_util::LaunchOf<gdn_pto::KernelTriInverse>(name(), blocks, CoreType::kAic,
                                                               DType::kFloat16, g, d);
    plan.tiling = {Kv("chunk", kChunk), Kv("block_dim", blocks),
                   Kv("matrices", d.TotalChunks() * d.H),
                   Kv("matrices_per_iteration", gdn_pto::kTriTilesPerIter)};
    return plan;
  }
  // (I + A)^-1 of each valid block by forward substitution in fp64; zero outside the blocks.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const gdn_pto::Dims d = DimsOf(p);
    const Tensor& a = in.at("A");
    std::vector<double> out(static_cast<size_t>(d.T * d.H * kChunk));
    const int64_t ld = d.H * kChunk;
    for (const gdn_pto::TriTile& t : gdn_pto::TriTiles(d)) {
      // Row i of the inverse: x_i = e_i - sum_{k<i} A[i][k] x_k (unit lower triangular).
      for (int64_t i = 0; i < t.rows; ++i) {
        double* xi = &out[static_cast<size_t>(t.offset + i * ld)];
        xi[i] = 1.0;
        for (int64_t k = 0; k < i; ++k) {
          const double aik = a.At(t.offset + i * ld + k);
          if (aik == 0) continue;
          const double* xk = &out[static_cast<size_t>(t.offset + k * ld)];
          for (int64_t j = 0; j <= k; ++j) xi[j] -= aik * xk[j];
        }
      }
    }
    return {{"A_inv", out}};
  }

 private:
  static gdn_pto::Dims DimsOf(const ParamValues& p) {
    return gdn_pto::MakeDims(SeqLens(p), p.Int("heads"), p.Int("heads"), kChunk);
  }
};

}  // namespace

std::unique_ptr<Op> MakeScaledDotKktOp() { return std::make_unique<ScaledDotKktOp>(); }
std::unique_ptr<Op> MakeWyFastOp() { return std::make_unique<WyFastOp>(); }
std::unique_ptr<Op> MakeTriInverseOp() { return std::make_unique<TriInverseOp>(); }

}  // namespace npusim
