// `conv_state_rollback`: registration, inputs, launch and reference.
#include "model/error.h"
#include "ops/conv_state_rollback/conv_state_rollback_kernel.h"
#include "ops/op.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

namespace csr = conv_state_rollback;

int64_t WindowOf(const ParamValues& p) {
  return p.Int("conv_kernel") - 1 + p.Int("draft_tokens") - 1;
}

class ConvStateRollbackOp : public Op {
 public:
  std::string name() const override { return "conv_state_rollback"; }
  std::string summary() const override {
    return "NPU conv-window shift after MTP acceptance: keep the kw-1 inputs ending at the last "
           "accepted token (kernels.md §2.5)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    std::vector<OpParam> params = StateBatchParams("conv");
    params.insert(
        params.end(),
        {
            {"conv_kernel", K::kInt, "4", "conv kernel width kw", 2, 64},
            {"conv_dim", K::kInt, "8192", "channels per rank (2*H*K + HV*V; Qwen3.5-35B at TP1)", 1,
             1e7},
            {"dtype",
             K::kString,
             "bfloat16",
             "conv state dtype",
             0,
             0,
             {"bfloat16", "float16", "float32"}},
            {"dim_tile", K::kInt, "0", "channels per UB tile (0 = from UB capacity)", 0, 1e7},
            {"buffer_num", K::kInt, "2", "buffers of the row queue", 1, 8},
        });
    return params;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t S = p.Int("requests");
    RequirePoolFits(p);
    return {
        {"conv_states",
         {p.Int("layers"), PoolSizeOf(p), WindowOf(p), p.Int("conv_dim")},
         ParseDType(p.Str("dtype")),
         TensorRole::kInOut},
        {"cache_indices", {S}, DType::kInt32, TensorRole::kInput, true, 0, PoolSizeOf(p) - 1},
        {"last_steps", {S}, DType::kInt32, TensorRole::kInput, true, 0, p.Int("draft_tokens") - 1}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const std::vector<int64_t> slots = ShuffledSlots(PoolSizeOf(p), rng);
    for (int64_t b = 0; b < p.Int("requests"); ++b) {
      t["cache_indices"].Set(b, static_cast<double>(slots[b]));
      t["last_steps"].Set(b, static_cast<double>(rng.UniformInt(0, p.Int("draft_tokens") - 1)));
    }
    Tensor& conv = t["conv_states"];
    if (conv.materialised())
      for (int64_t i = 0; i < conv.numel(); ++i) conv.Set(i, rng.Normal());
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    DType dt = ParseDType(p.Str("dtype"));
    csr::Tiling t =
        csr::ComputeTiling(p.Int("layers"), p.Int("requests"), PoolSizeOf(p), p.Int("conv_kernel"),
                           p.Int("draft_tokens"), p.Int("conv_dim"), p.Int("dim_tile"),
                           p.Int("buffer_num"), static_cast<int64_t>(SizeOf(dt)), d);
    GmBuffer *conv = &gm["conv_states"], *idx = &gm["cache_indices"], *steps = &gm["last_steps"];
    auto body = [&](auto tag) -> std::function<void()> {
      using T = decltype(tag);
      return [=] {
        csr::KernelConvStateRollback<T> k;
        k.Init(conv, idx, steps, t);
        k.Process();
      };
    };
    LaunchPlan plan;
    plan.launch.name = name();
    plan.launch.block_dim = t.requests;
    plan.launch.core_type = CoreType::kAiv;
    plan.launch.body = dt == DType::kFloat32    ? body(float{})
                       : dt == DType::kBFloat16 ? body(ascendc::bfloat16_t{})
                                                : body(ascendc::half{});
    plan.tiling = {{"block_dim", std::to_string(t.requests)},
                   {"window", std::to_string(t.window)},
                   {"dim_tile", std::to_string(t.dim_tile)},
                   {"buffer_num", std::to_string(t.buffer_num)}};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const Tensor& conv = in.at("conv_states");
    const int64_t W = WindowOf(p), dim = p.Int("conv_dim"), d = p.Int("draft_tokens");
    std::vector<double> out = conv.ToDoubles();
    for (int64_t b = 0; b < p.Int("requests"); ++b) {
      const int64_t slot = static_cast<int64_t>(in.at("cache_indices").At(b));
      const int64_t shift = (d - 1) - static_cast<int64_t>(in.at("last_steps").At(b));
      for (int64_t l = 0; l < p.Int("layers"); ++l) {
        const int64_t base = (l * PoolSizeOf(p) + slot) * W * dim;
        for (int64_t r = W - 1; r >= shift; --r)  // high to low: the in-place order of §2.5
          for (int64_t c = 0; c < dim; ++c)
            out[base + r * dim + c] = out[base + (r - shift) * dim + c];
      }
    }
    return {{"conv_states", out}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeConvStateRollbackOp() { return std::make_unique<ConvStateRollbackOp>(); }

}  // namespace npusim
