// `fused_gdn_gating` and its `without_sigmoid` variant: registration, inputs, launch, reference.
#include "ops/common/op_util.h"
#include "ops/fused_gdn_gating/fused_gdn_gating_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class FusedGdnGatingOp : public Op {
 public:
  std::string name() const override { return "fused_gdn_gating"; }
  std::string summary() const override {
    return "GDN gates: g = -exp(A_log)*softplus(a+dt_bias) fp32, beta = sigmoid(b) in b's dtype "
           "(§1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens T", 1, 1e9},
            {"heads", K::kInt, "8", "value heads per rank HV", 1, 65536},
            {"dtype",
             K::kString,
             "bfloat16",
             "dtype of a, b, dt_bias and beta",
             0,
             0,
             {"bfloat16", "float16", "float32"}},
            {"variant",
             K::kString,
             "standard",
             "standard: g and beta; without_sigmoid: g only, raw b passes to the verify op",
             0,
             0,
             {"standard", "without_sigmoid"}},
            {"impl",
             K::kString,
             "ascendc",
             "ascendc: rows over AIV blocks, double-buffered tiles; triton: the Triton kernel's "
             "grid (one program per vector core, 64-row x 8-head blocks, one at a time)",
             0,
             0,
             {"ascendc", "triton"}},
            {"rows_per_tile", K::kInt, "0",
             "token rows per UB tile (0 = up to 4096 elements that fit)", 0, 65535},
            {"buffer_num", K::kInt, "2", "buffers per queue", 1, 4}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const int64_t T = p.Int("tokens"), H = p.Int("heads");
    const bool sig = p.Str("variant") == "standard";
    std::vector<TensorSpec> v = {{"a", {T, H}, t}};
    if (sig) v.push_back({"b", {T, H}, t});
    v.push_back({"A_log", {H}, DType::kFloat32});
    v.push_back({"dt_bias", {H}, t});
    v.push_back({"g", {1, T, H}, DType::kFloat32, TensorRole::kOutput});
    if (sig) v.push_back({"beta", {1, T, H}, t, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    // a spans the softplus threshold (x > 20 takes the linear branch) and negative values.
    op_util::FillUniform(t["a"], rng, -8.0, 24.0);
    if (p.Str("variant") == "standard") op_util::FillNormal(t["b"], rng, 3.0);
    op_util::FillUniform(t["A_log"], rng, -2.0, 2.0);
    op_util::FillNormal(t["dt_bias"], rng, 1.0);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const bool sig = p.Str("variant") == "standard";
    fused_gdn_gating::Tiling t = fused_gdn_gating::ComputeTiling(
        p.Int("tokens"), p.Int("heads"), sig, p.Int("rows_per_tile"), p.Int("buffer_num"), d);
    GmBuffer *a = &gm["a"], *b = sig ? &gm["b"] : nullptr, *alog = &gm["A_log"],
             *dtb = &gm["dt_bias"], *g_out = &gm["g"];
    GmBuffer* beta = sig ? &gm["beta"] : nullptr;
    LaunchPlan plan;
    if (p.Str("impl") == "triton") {
      t.triton = true;
      t.grid = fused_gdn_gating::ComputeTritonGrid(p.Int("tokens"), p.Int("heads"),
                                                   static_cast<int64_t>(SizeOf(dt)), d);
      const fused_gdn_gating::TritonGrid& g = t.grid;
      plan.launch = op_util::AivLaunch<fused_gdn_gating::KernelFusedGdnGatingTriton>(
          name(), g.programs, dt, a, b, alog, dtb, g_out, beta, t);
      plan.tiling = {Kv("block_dim", g.programs),  Kv("blk_batches", g.blk_batches),
                     Kv("blk_heads", g.blk_heads), Kv("row_iter", g.row_iter),
                     Kv("col_iter", g.col_iter),   Kv("row_pitch", g.pitch)};
      return plan;
    }
    plan.launch = op_util::AivLaunch<fused_gdn_gating::KernelFusedGdnGating>(
        name(), t.split.blocks, dt, a, b, alog, dtb, g_out, beta, t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_block", t.split.per),
                   Kv("rows_per_tile", t.rows_per_tile), Kv("row_pitch", t.pitch),
                   Kv("buffer_num", t.buffer_num)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("heads");
    const Tensor &a = in.at("a"), &alog = in.at("A_log"), &dtb = in.at("dt_bias");
    std::vector<double> g(static_cast<size_t>(T * H)), beta;
    for (int64_t i = 0; i < T * H; ++i)
      g[i] = -std::exp(alog.At(i % H)) * op_util::Softplus(a.At(i) + dtb.At(i % H));
    Expected e{{"g", g}};
    if (p.Str("variant") == "standard") {
      beta.resize(g.size());
      for (int64_t i = 0; i < T * H; ++i) beta[i] = op_util::Sigmoid(in.at("b").At(i));
      e["beta"] = beta;
    }
    return e;
  }
};

}  // namespace

std::unique_ptr<Op> MakeFusedGdnGatingOp() { return std::make_unique<FusedGdnGatingOp>(); }

}  // namespace npusim
