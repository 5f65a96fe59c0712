// `mla_prolog`: DeepSeek's MLA preprocessing for the absorbed decode form as one mixed kernel
// (CANN's MlaProlog, bf16 or W8A8): registration, inputs, launch and fp64 reference.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/common/op_util.h"
#include "ops/mla_prolog/mla_prolog_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

mla_prolog::Dims DimsOf(const ParamValues& p) {
  mla_prolog::Dims d;
  d.T = p.Int("tokens");
  d.He = p.Int("hidden");
  d.Hcq = p.Int("q_lora_rank");
  d.N = p.Int("heads");
  d.D = p.Int("nope_dim");
  d.Dr = p.Int("rope_dim");
  d.Hckv = p.Int("kv_lora_rank");
  d.slots = p.Int("pages") * p.Int("page_size");
  d.eps = static_cast<float>(p.Float("eps"));
  return d;
}

// y[cols] = x W[k0 .. k0 + |x|, 0 .. cols) for one row, in fp64 (W row-major, `cols` wide).
std::vector<double> RowTimes(const std::vector<double>& x, const Tensor& w, int64_t cols,
                             int64_t k0 = 0) {
  std::vector<double> y(static_cast<size_t>(cols), 0.0);
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    const int64_t base = (k0 + static_cast<int64_t>(i)) * cols;
    for (int64_t j = 0; j < cols; ++j) y[static_cast<size_t>(j)] += xi * w.At(base + j);
  }
  return y;
}

void RmsNorm(std::vector<double>& v, const Tensor& g, size_t cols, double eps) {
  double ss = 0;
  for (size_t i = 0; i < cols; ++i) ss += v[i] * v[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
  for (size_t i = 0; i < cols; ++i) v[i] *= inv * g.At(static_cast<int64_t>(i));
}

// NeoX rotation of v[at, at + dr) with cs = [cos | sin] of the token's rope_dim / 2 frequencies.
void Rope(std::vector<double>& v, size_t at, const Tensor& cs, int64_t tok, int64_t dr) {
  const int64_t h = dr / 2;
  for (int64_t i = 0; i < h; ++i) {
    const double c = cs.At(tok * dr + i), s = cs.At(tok * dr + h + i);
    double& x1 = v[at + static_cast<size_t>(i)];
    double& x2 = v[at + static_cast<size_t>(h + i)];
    const double a = x1, b = x2;
    x1 = a * c - b * s;
    x2 = b * c + a * s;
  }
}

void RoundAll(std::vector<double>& v) {
  for (double& e : v) e = RoundTo(e, DType::kBFloat16);
}

bool Quant(const ParamValues& p) { return p.Str("quant") == "w8a8"; }

class MlaPrologOp : public Op {
 public:
  std::string name() const override { return "mla_prolog"; }
  std::string summary() const override {
    return "DeepSeek MLA preprocessing, absorbed form (CANN MlaProlog): q = norm(x W_dq) W_uq_qr, "
           "query = [q_nope W_uk | rope(q_rope)] "
           "per head, the latent [norm(x W_dkv) | rope(x W_kr)] written to its cache slot; one "
           "mixed launch";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "16", "tokens (batch x tokens per request)", 1, 1e6},
            {"hidden", K::kInt, "7168", "hidden size (a multiple of 16)", 16, 65536},
            {"q_lora_rank", K::kInt, "1536", "q_lora_rank (a multiple of 16)", 16, 16384},
            {"heads", K::kInt, "128", "query heads on the rank", 1, 1024},
            {"nope_dim", K::kInt, "128", "qk_nope_head_dim (a multiple of 16)", 16, 1024},
            {"rope_dim", K::kInt, "64", "qk_rope_head_dim (a multiple of 16)", 16, 512},
            {"kv_lora_rank", K::kInt, "512", "kv_lora_rank (a multiple of 8)", 16, 4096},
            {"pages", K::kInt, "64", "pages of the latent cache", 1, 1e7},
            {"page_size", K::kInt, "128", "tokens per page", 1, 4096},
            {"eps", K::kFloat, "1e-6", "RMSNorm epsilon of both norms", 0, 1},
            {"step_tokens", K::kInt, "0", "tokens per pipeline step (0 = 128)", 0, 128},
            {"quant",
             K::kString,
             "none",
             "none (bf16) or w8a8: int8 x with per-token scales, int8 W_dq, W_dkv_kr, W_uq_qr with "
             "per-column scales",
             0,
             0,
             {"none", "w8a8"}}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const mla_prolog::Dims d = DimsOf(p);
    const bool q8 = Quant(p);
    const DType bf = DType::kBFloat16, w = q8 ? DType::kInt8 : bf, acc = q8 ? DType::kInt32 : bf;
    std::vector<TensorSpec> v = {
        {"x", {d.T, d.He}, w},
        {"w_dq", {d.He, d.Hcq}, w},
        {"gamma_cq", {d.Hcq}, bf},
        {"w_uq_qr", {d.Hcq, d.N * d.Qk()}, w},
        {"w_uk", {d.N, d.D, d.Hckv}, bf},
        {"w_dkv_kr", {d.He, d.Latent()}, w},
        {"gamma_ckv", {d.Hckv}, bf},
        {"cos_sin", {d.T, d.Dr}, DType::kFloat32},
        {"cache_index", {d.T}, DType::kInt32, TensorRole::kInput, true, 0, d.slots - 1},
        {"kv_cache", {p.Int("pages"), p.Int("page_size"), d.Latent()}, bf, TensorRole::kInOut},
        {"query", {d.T, d.N, d.Latent()}, bf, TensorRole::kOutput},
        {"ws_cq", {d.T, d.Hcq}, acc, TensorRole::kWorkspace},
        {"ws_cq_norm", {d.T, d.Hcq}, w, TensorRole::kWorkspace},
        {"ws_ckv_kr", {d.T, d.Latent()}, acc, TensorRole::kWorkspace},
        {"ws_q", {d.T, d.N * d.Qk()}, acc, TensorRole::kWorkspace}};
    if (q8) {
      v.push_back(
          {"x_scale", {d.T}, DType::kFloat32, TensorRole::kInput, true});  // read by the AIV scalar
      v.push_back({"w_dq_scale", {d.Hcq}, DType::kFloat32});
      v.push_back({"w_dkv_kr_scale", {d.Latent()}, DType::kFloat32});
      v.push_back({"w_uq_qr_scale", {d.N * d.Qk()}, DType::kFloat32});
      v.push_back({"ws_q_nope", {d.T, d.N * d.D}, bf, TensorRole::kWorkspace});
      v.push_back({"ws_cq_scale",
                   {d.T},
                   DType::kFloat32,
                   TensorRole::kWorkspace,
                   true});  // written and read by AIV scalars
    }
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const mla_prolog::Dims d = DimsOf(p);
    // The control tensors first, drawn from the same generator state in timing-only runs (which
    // skip the data tensors' draws), so both modes write the same cache rows: distinct slots (two
    // tokens never write one row) scattered over the pages, and x's scales.
    Tensor& slot = t["cache_index"];
    if (slot.materialised()) {
      if (d.T > d.slots)
        throw InputError("mla_prolog: " + std::to_string(d.T) +
                         " tokens need as many cache slots; pages x page_size is " +
                         std::to_string(d.slots));
      std::vector<int64_t> all(static_cast<size_t>(d.slots));
      std::iota(all.begin(), all.end(), 0);
      for (int64_t i = 0; i < d.T; ++i) {
        std::swap(all[static_cast<size_t>(i)],
                  all[static_cast<size_t>(rng.UniformInt(i, d.slots - 1))]);
        slot.Set(i, static_cast<double>(all[static_cast<size_t>(i)]));
      }
    }
    if (Quant(p)) op_util::FillUniform(t["x_scale"], rng, 0.005, 0.02);
    if (Quant(p)) {
      // int8 values (stored with rint) and scales that make the dequantised products O(1)
      for (const char* n : {"x", "w_dq", "w_dkv_kr", "w_uq_qr"})
        op_util::FillUniform(t[n], rng, -127.0, 127.0);
      // uniform int8 has std 127 / sqrt(3) = 73: x dequantises to std ~0.9, each weight to ~1 /
      // sqrt(K)
      const double he = 1.0 / (73.0 * std::sqrt(static_cast<double>(d.He))),
                   hcq = 1.0 / (73.0 * std::sqrt(static_cast<double>(d.Hcq)));
      op_util::FillUniform(t["w_dq_scale"], rng, 0.5 * he, 1.5 * he);
      op_util::FillUniform(t["w_dkv_kr_scale"], rng, 0.5 * he, 1.5 * he);
      op_util::FillUniform(t["w_uq_qr_scale"], rng, 0.5 * hcq, 1.5 * hcq);
    } else {
      op_util::FillNormal(t["x"], rng);
      op_util::FillNormal(t["w_dq"], rng, 1.0 / std::sqrt(static_cast<double>(d.He)));
      op_util::FillNormal(t["w_dkv_kr"], rng, 1.0 / std::sqrt(static_cast<double>(d.He)));
      op_util::FillNormal(t["w_uq_qr"], rng, 1.0 / std::sqrt(static_cast<double>(d.Hcq)));
    }
    op_util::FillNormal(t["w_uk"], rng, 1.0 / std::sqrt(static_cast<double>(d.D)));
    op_util::FillNormal(t["gamma_cq"], rng, 0.1, 1.0);
    op_util::FillNormal(t["gamma_ckv"], rng, 0.1, 1.0);
    op_util::FillNormal(t["kv_cache"], rng);
    Tensor& cs = t["cos_sin"];  // gathered rows of a rope cache at random positions (theta 10000)
    if (cs.materialised())
      for (int64_t i = 0; i < d.T; ++i) {
        const double pos = static_cast<double>(rng.UniformInt(0, 8191));
        for (int64_t f = 0; f < d.Dr / 2; ++f) {
          const double a = pos * op_util::RopeInvFreq(10000.0, f, d.Dr);
          cs.Set(i * d.Dr + f, std::cos(a));
          cs.Set(i * d.Dr + d.Dr / 2 + f, std::sin(a));
        }
      }
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    const mla_prolog::Tiling t =
        mla_prolog::ComputeTiling(DimsOf(p), p.Int("step_tokens"), Quant(p), dev);
    mla_prolog::Gm g;
    g.x = &gm["x"];
    g.w_dq = &gm["w_dq"];
    g.gamma_cq = &gm["gamma_cq"];
    g.w_uq_qr = &gm["w_uq_qr"];
    g.w_uk = &gm["w_uk"];
    g.w_dkv_kr = &gm["w_dkv_kr"];
    g.gamma_ckv = &gm["gamma_ckv"];
    g.cos_sin = &gm["cos_sin"];
    g.cache_index = &gm["cache_index"];
    g.kv_cache = &gm["kv_cache"];
    g.query = &gm["query"];
    g.ws_cq = &gm["ws_cq"];
    g.ws_cq_norm = &gm["ws_cq_norm"];
    g.ws_ckv_kr = &gm["ws_ckv_kr"];
    g.ws_q = &gm["ws_q"];
    if (t.quant) {
      g.x_scale = &gm["x_scale"];
      g.w_dq_scale = &gm["w_dq_scale"];
      g.w_dkv_kr_scale = &gm["w_dkv_kr_scale"];
      g.w_uq_qr_scale = &gm["w_uq_qr_scale"];
      g.ws_q_nope = &gm["ws_q_nope"];
      g.ws_cq_scale = &gm["ws_cq_scale"];
    }
    LaunchPlan plan;
    plan.launch = op_util::LaunchOf<mla_prolog::KernelMlaProlog>(name(), t.cores, CoreType::kMix,
                                                                 DType::kBFloat16, g, t);
    plan.tiling = {Kv("block_dim", t.cores),
                   Kv("step_tokens", t.step_tokens),
                   Kv("cq_cols_per_core", t.cq.per),
                   Kv("ckvkr_block", t.ckvkr_block),
                   Kv("qcqr_cols_per_core", t.qcqr.per),
                   Kv("qn_heads_per_core", t.heads_per_core),
                   Kv("base_n", t.base_n),
                   Kv("base_k", t.base_k),
                   Kv("l1_steps", t.l1_steps),
                   Kv("quant", t.quant ? "w8a8" : "none")};
    return plan;
  }
  double FunctionalMacs(const ParamValues& p) const override {
    const mla_prolog::Dims d = DimsOf(p);
    return static_cast<double>(d.T) *
           static_cast<double>(d.He * d.Hcq + d.He * d.Latent() + d.Hcq * d.N * d.Qk() +
                               d.N * d.D * d.Hckv);
  }
  // fp64, with the roundings of the kernel's GM hand-offs: bf16 c_q, its norm, q and x W_dkv_kr;
  // quantised, the int8 products dequantised by the per-token and per-column scales, norm(c_q)
  // quantised per token (rint(v / s), s = max |v| / 127) and q_nope rounded to bf16.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const mla_prolog::Dims d = DimsOf(p);
    const bool q8 = Quant(p);
    const Tensor &x = in.at("x"), &cs = in.at("cos_sin"), &slot = in.at("cache_index"),
                 &cache = in.at("kv_cache");
    const int64_t lat = d.Latent(), nq = d.N * d.Qk();
    // Dequantises y (the product of an int8 row) in place by the row's and the columns' scales.
    auto dequant = [&](std::vector<double>& y, double row_scale, const char* col_scale) {
      if (!q8) return RoundAll(y);
      for (size_t j = 0; j < y.size(); ++j)
        y[j] *= row_scale * in.at(col_scale).At(static_cast<int64_t>(j));
    };
    std::vector<double> query(static_cast<size_t>(d.T * d.N * lat)),
        out_cache(static_cast<size_t>(cache.numel()));
    for (int64_t i = 0; i < cache.numel(); ++i) out_cache[static_cast<size_t>(i)] = cache.At(i);
    for (int64_t t = 0; t < d.T; ++t) {
      const double sx = q8 ? in.at("x_scale").At(t) : 1.0;
      std::vector<double> xr(static_cast<size_t>(d.He));
      for (int64_t i = 0; i < d.He; ++i) xr[static_cast<size_t>(i)] = x.At(t * d.He + i);
      std::vector<double> cq = RowTimes(xr, in.at("w_dq"), d.Hcq);
      dequant(cq, sx, "w_dq_scale");
      RmsNorm(cq, in.at("gamma_cq"), static_cast<size_t>(d.Hcq), d.eps);
      double scq = 1.0;
      if (q8) {
        double mx = 0;
        for (double e : cq) mx = std::max(mx, std::fabs(e));
        scq = mx / 127.0;
        for (double& e : cq) e = scq > 0 ? std::clamp(std::nearbyint(e / scq), -128.0, 127.0) : 0.0;
      } else {
        RoundAll(cq);
      }
      std::vector<double> q = RowTimes(cq, in.at("w_uq_qr"), nq);
      dequant(q, scq, "w_uq_qr_scale");
      for (int64_t h = 0; h < d.N; ++h) {
        const auto at = static_cast<size_t>(h * d.Qk());
        std::vector<double> nope(
            q.begin() + static_cast<std::ptrdiff_t>(at),
            q.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(d.D)));
        if (q8) RoundAll(nope);
        const std::vector<double> ql = RowTimes(nope, in.at("w_uk"), d.Hckv, h * d.D);
        Rope(q, at + static_cast<size_t>(d.D), cs, t, d.Dr);
        const auto o = static_cast<size_t>((t * d.N + h) * lat);
        std::copy(ql.begin(), ql.end(), query.begin() + static_cast<std::ptrdiff_t>(o));
        for (int64_t i = 0; i < d.Dr; ++i)
          query[o + static_cast<size_t>(d.Hckv + i)] = q[at + static_cast<size_t>(d.D + i)];
      }
      std::vector<double> ckr = RowTimes(xr, in.at("w_dkv_kr"), lat);
      dequant(ckr, sx, "w_dkv_kr_scale");
      RmsNorm(ckr, in.at("gamma_ckv"), static_cast<size_t>(d.Hckv), d.eps);
      Rope(ckr, static_cast<size_t>(d.Hckv), cs, t, d.Dr);
      const auto s = static_cast<size_t>(slot.At(t));
      std::copy(ckr.begin(), ckr.end(),
                out_cache.begin() + static_cast<std::ptrdiff_t>(s * static_cast<size_t>(lat)));
    }
    return {{"query", query}, {"kv_cache", out_cache}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMlaPrologOp() { return std::make_unique<MlaPrologOp>(); }

}  // namespace npusim
