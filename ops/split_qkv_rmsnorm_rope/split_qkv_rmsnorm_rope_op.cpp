// `split_qkv_rmsnorm_rope`: registration, inputs, launch, reference.
#include <cmath>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/split_qkv_rmsnorm_rope/split_qkv_rmsnorm_rope_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class SplitQkvRmsNormRopeOp : public Op {
 public:
  std::string name() const override { return "split_qkv_rmsnorm_rope"; }
  std::string summary() const override {
    return "QKV split + per-head RMSNorm of q and k + partial NeoX RoPE by position + V copy: "
           "sgl-kernel-npu's Triton kernel "
           "(pos_cache_half form), per-head or wide grid";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"tokens", K::kInt, "4096", "token rows B", 1, 1e7},
        {"q_hidden", K::kInt, "2048",
         "q width per rank (q heads x head_dim), a multiple of kv_hidden", 1, 1 << 20},
        {"kv_hidden", K::kInt, "512", "k (and v) width per rank (kv heads x head_dim)", 1, 1 << 20},
        {"head_dim", K::kInt, "128",
         "head dim (a power of two, as the wrapper asserts; at least 16)", 16, 4096},
        {"rope_dim", K::kInt, "64",
         "rotated dims of each head (a multiple of 16, at most head_dim)", 16, 4096},
        {"eps", K::kFloat, "1e-6", "RMSNorm epsilon", 0, 1},
        {"max_position", K::kInt, "8192", "rows of the cos/sin cache", 1, 1e7},
        {"theta", K::kFloat, "10000000", "rope_theta of the generated cos/sin cache", 1, 1e12},
        {"grid",
         K::kString,
         "auto",
         "auto: the wrapper's rule (wide from 1024 tokens while q_hidden <= 8192, else per-head); "
         "per_head; wide",
         0,
         0,
         {"auto", "per_head", "wide"}}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), Q = p.Int("q_hidden"), KV = p.Int("kv_hidden"),
                  D = p.Int("head_dim"), R = p.Int("rope_dim");
    if ((D & (D - 1)) != 0)
      throw InputError("head_dim " + std::to_string(D) +
                       " is not a power of two (the kernel's wrapper asserts it)");
    if (KV % D || Q % KV)
      throw InputError(
          "kv_hidden must be a multiple of head_dim and q_hidden a multiple of kv_hidden");
    if (R % 16 || R > D) throw InputError("rope_dim must be a multiple of 16 and at most head_dim");
    const DType bf = DType::kBFloat16;
    return {
        {"positions", {T}, DType::kInt32, TensorRole::kInput, true, 0, p.Int("max_position") - 1},
        {"input", {T, Q + 2 * KV}, bf},
        {"cos_sin_cache", {p.Int("max_position"), R}, DType::kFloat32},
        {"q_weight", {D}, bf},
        {"k_weight", {D}, bf},
        {"q", {T, Q}, bf, TensorRole::kOutput},
        {"k", {T, KV}, bf, TensorRole::kOutput},
        {"v", {T, KV}, bf, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t R = p.Int("rope_dim");
    const double theta = p.Float("theta");
    op_util::FillPositionsAndRopeCache(
        t["positions"], t["cos_sin_cache"], rng, p.Int("max_position"), R,
        [&](int64_t i) { return op_util::RopeInvFreq(theta, i, R); });
    op_util::FillNormal(t["input"], rng, 2.0);
    op_util::FillUniform(t["q_weight"], rng, 0.5, 1.5);
    op_util::FillUniform(t["k_weight"], rng, 0.5, 1.5);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const split_qkv_rmsnorm_rope::Tiling t = split_qkv_rmsnorm_rope::ComputeTiling(
        p.Int("tokens"), p.Int("q_hidden"), p.Int("kv_hidden"), p.Int("head_dim"),
        p.Int("rope_dim"), static_cast<float>(p.Float("eps")), p.Str("grid"), d);
    split_qkv_rmsnorm_rope::Gm g{&gm["input"],    &gm["positions"], &gm["cos_sin_cache"],
                                 &gm["q_weight"], &gm["k_weight"],  &gm["q"],
                                 &gm["k"],        &gm["v"]};
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<split_qkv_rmsnorm_rope::KernelSplitQkvRmsNormRope>(
        name(), t.Programs(), DType::kBFloat16, g, t);
    plan.tiling = {Kv("grid", t.wide ? "wide" : "per_head"),
                   Kv("block_dim", t.Programs()),
                   Kv("n_rows", t.n_rows),
                   Kv("n_cols", t.n_cols),
                   Kv("q_block_heads", t.q_block_n),
                   Kv("k_block_heads", t.k_block_n),
                   Kv("rows_per_program", (t.tokens + t.n_rows - 1) / t.n_rows)};
    return plan;
  }
  // fp64: rmsnorm(x) * w per head, the first rope_dim dims rotated by the row position's cos / sin
  // (read from the cache input, as the kernel reads it); V as given.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), Q = p.Int("q_hidden"), KV = p.Int("kv_hidden"),
                  D = p.Int("head_dim"), R = p.Int("rope_dim");
    const int64_t W = Q + 2 * KV, h = R / 2;
    const double eps = p.Float("eps");
    const Tensor &x = in.at("input"), &cs = in.at("cos_sin_cache"), &pos = in.at("positions");
    std::vector<double> q(static_cast<size_t>(T * Q)), k(static_cast<size_t>(T * KV)),
        v(static_cast<size_t>(T * KV));
    auto norm_rope = [&](int64_t t, int64_t col0, const Tensor& w, std::vector<double>& out,
                         int64_t width) {
      const auto p0 = static_cast<int64_t>(pos.At(t));
      for (int64_t c = 0; c < width; c += D) {
        double ss = 0;
        for (int64_t i = 0; i < D; ++i)
          ss += x.At(t * W + col0 + c + i) * x.At(t * W + col0 + c + i);
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
        double* o = &out[static_cast<size_t>(t * width + c)];
        for (int64_t i = 0; i < D; ++i) o[i] = x.At(t * W + col0 + c + i) * inv * w.At(i);
        for (int64_t i = 0; i < h; ++i) {
          const double cn = cs.At(p0 * R + i), sn = cs.At(p0 * R + h + i), x1 = o[i], x2 = o[h + i];
          o[i] = x1 * cn - x2 * sn;
          o[h + i] = x2 * cn + x1 * sn;
        }
      }
    };
    for (int64_t t = 0; t < T; ++t) {
      norm_rope(t, 0, in.at("q_weight"), q, Q);
      norm_rope(t, Q, in.at("k_weight"), k, KV);
      for (int64_t i = 0; i < KV; ++i)
        v[static_cast<size_t>(t * KV + i)] = x.At(t * W + Q + KV + i);
    }
    return {{"q", q}, {"k", k}, {"v", v}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeSplitQkvRmsNormRopeOp() {
  return std::make_unique<SplitQkvRmsNormRopeOp>();
}

}  // namespace npusim
