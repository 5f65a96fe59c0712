// `moe_init_routing` and `moe_finalize_routing`: registration, inputs, launches and fp64
// references (kernels.md §7.1; the expanded-row order is by expert, stable by row t*k + i).
#include <algorithm>
#include <numeric>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/moe/moe_routing_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

std::vector<OpParam> RoutingParams() {
  using K = OpParam::Kind;
  return {{"tokens", K::kInt, "4096", "tokens", 1, 1e7},
          {"hidden", K::kInt, "2048", "hidden size", 1, 1e6},
          {"top_k", K::kInt, "10", "experts per token", 1, 64},
          {"experts", K::kInt, "512", "routed experts E", 1, 65536},
          {"dtype",
           K::kString,
           "bfloat16",
           "activation dtype",
           0,
           0,
           {"bfloat16", "float16", "float32"}}};
}

// Expanded position of every row r = t*k + i: by expert, stably by r.
std::vector<int64_t> Positions(const Tensor& ids, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n)), pos(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids.At(a) < ids.At(b); });
  for (int64_t p = 0; p < n; ++p) pos[static_cast<size_t>(order[static_cast<size_t>(p)])] = p;
  return pos;
}

// Distinct experts per token, as a router picks them.
void FillTopkIds(Tensor& ids, int64_t T, int64_t k, int64_t E, Rng& rng) {
  std::vector<int64_t> pick(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    std::iota(pick.begin(), pick.end(), 0);
    for (int64_t i = 0; i < k; ++i) {
      std::swap(pick[static_cast<size_t>(i)], pick[static_cast<size_t>(rng.UniformInt(i, E - 1))]);
      ids.Set(t * k + i, static_cast<double>(pick[static_cast<size_t>(i)]));
    }
  }
}

class MoeInitRoutingOp : public Op {
 public:
  std::string name() const override { return "moe_init_routing"; }
  std::string summary() const override {
    return "MoE permute: token rows ordered by expert (expanded_x), where each (token, choice) "
           "went, tokens per expert (§7.1)";
  }
  std::vector<OpParam> params() const override {
    auto v = RoutingParams();
    v.push_back({"rows_per_tile", OpParam::Kind::kInt, "0",
                 "rows gathered per UB tile (0 = as many as fit, at most 64)", 0, 4096});
    return v;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), k = p.Int("top_k"), E = p.Int("experts");
    if (k > E) throw InputError("parameter 'top_k' exceeds 'experts'");
    const DType dt = ParseDType(p.Str("dtype"));
    return {{"x", {T, p.Int("hidden")}, dt},
            {"topk_ids", {T, k}, DType::kInt32, TensorRole::kInput, true, 0, E - 1},
            {"expanded_x", {T * k, p.Int("hidden")}, dt, TensorRole::kOutput},
            {"expanded_row_idx", {T * k}, DType::kInt32, TensorRole::kOutput},
            {"expert_tokens", {E}, DType::kInt32, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
    FillTopkIds(t["topk_ids"], p.Int("tokens"), p.Int("top_k"), p.Int("experts"), rng);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const moe::RoutingTiling t = moe::ComputeInitRoutingTiling(
        p.Int("tokens"), p.Int("hidden"), p.Int("top_k"), p.Int("experts"),
        static_cast<int64_t>(SizeOf(dt)), p.Int("rows_per_tile"), d);
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<moe::KernelMoeInitRouting>(
        name(), t.split.blocks, dt, &gm["x"], &gm["topk_ids"], &gm["expanded_x"],
        &gm["expanded_row_idx"], &gm["expert_tokens"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), k = p.Int("top_k"), E = p.Int("experts"),
                  H = p.Int("hidden"), n = T * k;
    const Tensor &x = in.at("x"), &ids = in.at("topk_ids");
    const std::vector<int64_t> pos = Positions(ids, n);
    std::vector<double> ex(static_cast<size_t>(n * H)), ri(static_cast<size_t>(n)),
        cnt(static_cast<size_t>(E), 0.0);
    for (int64_t r = 0; r < n; ++r) {
      ri[static_cast<size_t>(r)] = static_cast<double>(pos[static_cast<size_t>(r)]);
      cnt[static_cast<size_t>(ids.At(r))] += 1;
      for (int64_t h = 0; h < H; ++h)
        ex[static_cast<size_t>(pos[static_cast<size_t>(r)] * H + h)] = x.At(r / k * H + h);
    }
    return {{"expanded_x", ex}, {"expanded_row_idx", ri}, {"expert_tokens", cnt}};
  }
};

class MoeFinalizeRoutingOp : public Op {
 public:
  std::string name() const override { return "moe_finalize_routing"; }
  std::string summary() const override {
    return "MoE unpermute: y = sum_i w_i expert_out[row of (t, i)] + (sigmoid-gated) shared expert "
           "(§7.1-7.2)";
  }
  std::vector<OpParam> params() const override {
    auto v = RoutingParams();
    v.push_back({"shared",
                 OpParam::Kind::kString,
                 "gated",
                 "shared expert: none, plain (Step-3.5), gated (Qwen sigmoid gate)",
                 0,
                 0,
                 {"none", "plain", "gated"}});
    v.push_back({"rows_per_tile", OpParam::Kind::kInt, "0",
                 "tokens per UB tile (0 = as many as fit, at most 16)", 0, 4096});
    return v;
  }
  static int Shared(const ParamValues& p) {
    return p.Str("shared") == "none" ? 0 : p.Str("shared") == "plain" ? 1 : 2;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), k = p.Int("top_k"), H = p.Int("hidden");
    if (k > p.Int("experts"))  // as moe_init_routing: k distinct experts per token
      throw InputError("parameter 'top_k' (" + std::to_string(k) + ") exceeds 'experts' (" +
                       std::to_string(p.Int("experts")) + ")");
    const DType dt = ParseDType(p.Str("dtype"));
    std::vector<TensorSpec> v = {
        {"expanded_y", {T * k, H}, dt},
        {"expanded_row_idx", {T * k}, DType::kInt32, TensorRole::kInput, true, 0, T * k - 1},
        {"topk_weights", {T, k}, DType::kFloat32, TensorRole::kInput, true}};
    if (Shared(p)) v.push_back({"shared_out", {T, H}, dt});
    if (Shared(p) == 2)
      v.push_back({"shared_gate", {T}, DType::kFloat32, TensorRole::kInput, true});
    v.push_back({"y", {T, H}, dt, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t T = p.Int("tokens"), k = p.Int("top_k");
    Tensor ids("ids", {T, k}, DType::kInt32, true);
    FillTopkIds(ids, T, k, p.Int("experts"), rng);
    const std::vector<int64_t> pos = Positions(ids, T * k);
    for (int64_t r = 0; r < T * k; ++r)
      t["expanded_row_idx"].Set(r, static_cast<double>(pos[static_cast<size_t>(r)]));
    op_util::FillUniform(t["topk_weights"], rng, 0.0, 0.3);
    op_util::FillNormal(t["expanded_y"], rng);
    if (Shared(p)) op_util::FillNormal(t["shared_out"], rng);
    if (Shared(p) == 2) op_util::FillNormal(t["shared_gate"], rng, 2.0);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const moe::RoutingTiling t = moe::ComputeFinalizeRoutingTiling(
        p.Int("tokens"), p.Int("hidden"), p.Int("top_k"), p.Int("experts"), Shared(p),
        static_cast<int64_t>(SizeOf(dt)), p.Int("rows_per_tile"), d);
    GmBuffer* shared = t.shared ? &gm["shared_out"] : nullptr;
    GmBuffer* gate = t.shared == 2 ? &gm["shared_gate"] : nullptr;
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<moe::KernelMoeFinalizeRouting>(
        name(), t.split.blocks, dt, &gm["expanded_y"], &gm["expanded_row_idx"], &gm["topk_weights"],
        shared, gate, &gm["y"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile),
                   Kv("cols_per_tile", t.cols_per_tile > 0 ? t.cols_per_tile : t.hidden)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), k = p.Int("top_k"), H = p.Int("hidden");
    const Tensor &ey = in.at("expanded_y"), &ri = in.at("expanded_row_idx"),
                 &w = in.at("topk_weights");
    std::vector<double> y(static_cast<size_t>(T * H), 0.0);
    for (int64_t t = 0; t < T; ++t) {
      const double g = Shared(p) == 2 ? op_util::Sigmoid(in.at("shared_gate").At(t)) : 1.0;
      for (int64_t h = 0; h < H; ++h) {
        double acc = 0;
        for (int64_t i = 0; i < k; ++i)
          acc += w.At(t * k + i) * ey.At(static_cast<int64_t>(ri.At(t * k + i)) * H + h);
        if (Shared(p)) acc += g * in.at("shared_out").At(t * H + h);
        y[static_cast<size_t>(t * H + h)] = acc;
      }
    }
    return {{"y", y}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMoeInitRoutingOp() { return std::make_unique<MoeInitRoutingOp>(); }
std::unique_ptr<Op> MakeMoeFinalizeRoutingOp() { return std::make_unique<MoeFinalizeRoutingOp>(); }

}  // namespace npusim
