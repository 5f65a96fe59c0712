// `moe_gating_topk`: registration, inputs, launch and fp64 reference (kernels.md §7.1, §7.2).
#include <algorithm>
#include <numeric>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/moe/moe_gating_topk_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class MoeGatingTopkOp : public Op {
 public:
  std::string name() const override { return "moe_gating_topk"; }
  std::string summary() const override {
    return "router: softmax (Qwen) or sigmoid + correction bias (Step-3.5) scores, top-k, "
           "renormalised weights (§7.1-7.2)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e7},
            {"experts", K::kInt, "512", "routed experts E (Qwen3-Next 512)", 1, 4096},
            {"top_k", K::kInt, "10", "experts per token (Qwen3-Next 10, Step-3.5 8)", 1, 64},
            {"scoring",
             K::kString,
             "softmax",
             "softmax (Qwen) or sigmoid (Step-3.5)",
             0,
             0,
             {"softmax", "sigmoid"}},
            {"bias", K::kInt, "0",
             "1: add the fp32 correction bias for the selection only (Step-3.5 router_bias)", 0, 1},
            {"renormalize", K::kInt, "1", "1: weights divided by their sum (norm_topk_prob)", 0, 1},
            {"scaling", K::kFloat, "1.0",
             "routed scaling factor applied to the weights (Step-3.5 moe_router_scaling_factor)", 0,
             1e3},
            {"dtype", K::kString, "float32", "router logits dtype", 0, 0, {"float32", "bfloat16"}},
            {"rows_per_tile", K::kInt, "0",
             "token rows per UB tile (0 = as many as fit, at most 16)", 0, 4096}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), E = p.Int("experts"), k = p.Int("top_k");
    if (k > E)
      throw InputError("parameter 'top_k' (" + std::to_string(k) + ") exceeds 'experts' (" +
                       std::to_string(E) + ")");
    std::vector<TensorSpec> v = {{"logits", {T, E}, ParseDType(p.Str("dtype"))}};
    if (p.Int("bias")) v.push_back({"router_bias", {E}, DType::kFloat32});
    v.push_back({"topk_weights", {T, k}, DType::kFloat32, TensorRole::kOutput});
    v.push_back({"topk_ids", {T, k}, DType::kInt32, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["logits"], rng, 2.0);
    if (p.Int("bias")) op_util::FillNormal(t["router_bias"], rng, 0.5);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const moe::GatingTiling t = moe::ComputeGatingTiling(
        p.Int("tokens"), p.Int("experts"), p.Int("top_k"), p.Str("scoring") == "sigmoid",
        p.Int("bias") != 0, p.Int("renormalize") != 0, p.Float("scaling"), p.Int("rows_per_tile"),
        d);
    GmBuffer* bias = t.has_bias ? &gm["router_bias"] : nullptr;
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<moe::KernelMoeGatingTopk>(
        name(), t.split.blocks, ParseDType(p.Str("dtype")), &gm["logits"], bias,
        &gm["topk_weights"], &gm["topk_ids"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), E = p.Int("experts"), k = p.Int("top_k");
    const bool sigmoid = p.Str("scoring") == "sigmoid", bias = p.Int("bias") != 0;
    const Tensor& lg = in.at("logits");
    std::vector<double> w(static_cast<size_t>(T * k)), ids(w.size()), s(static_cast<size_t>(E)),
        sel(s.size());
    std::vector<int64_t> order(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
      double mx = -1e300, sum = 0;
      for (int64_t e = 0; e < E; ++e) mx = std::max(mx, lg.At(t * E + e));
      for (int64_t e = 0; e < E; ++e) {
        s[e] = sigmoid ? op_util::Sigmoid(lg.At(t * E + e)) : std::exp(lg.At(t * E + e) - mx);
        sum += s[e];
      }
      for (int64_t e = 0; e < E; ++e) {
        if (!sigmoid) s[e] /= sum;
        sel[e] = s[e] + (bias ? in.at("router_bias").At(e) : 0.0);
      }
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return sel[a] > sel[b]; });
      double picked = 0;
      for (int64_t i = 0; i < k; ++i) picked += s[order[i]];
      const double norm = (p.Int("renormalize") ? 1.0 / picked : 1.0) * p.Float("scaling");
      for (int64_t i = 0; i < k; ++i) {
        ids[t * k + i] = static_cast<double>(order[i]);
        w[t * k + i] = s[order[i]] * norm;
      }
    }
    return {{"topk_weights", w}, {"topk_ids", ids}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMoeGatingTopkOp() { return std::make_unique<MoeGatingTopkOp>(); }

}  // namespace npusim
