// `move_intermediate_cache`: registration, inputs, launch and reference.
#include "model/error.h"
#include "ops/move_intermediate_cache/move_intermediate_cache_kernel.h"
#include "ops/op.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

namespace mic = move_intermediate_cache;

class MoveIntermediateCacheOp : public Op {
 public:
  std::string name() const override { return "move_intermediate_cache"; }
  std::string summary() const override {
    return "MTP ssm-state commit: pool[slot_b] = intermediate[b, last_step_b] for every layer "
           "(kernels.md §4.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    std::vector<OpParam> params = StateBatchParams("ssm");
    params.insert(params.end(),
                  {
                      {"heads", K::kInt, "32", "value heads per rank (HV)", 1, 4096},
                      {"k_dim", K::kInt, "128", "key head dim K", 1, 4096},
                      {"v_dim", K::kInt, "128", "value head dim V", 1, 4096},
                      {"ssm_dtype",
                       K::kString,
                       "float32",
                       "ssm state dtype (mamba_ssm_dtype)",
                       0,
                       0,
                       {"float32", "bfloat16", "float16"}},
                      {"h_block", K::kInt, "2", "heads per tile (H_BLOCK_SIZE)", 1, 4096},
                      {"buffer_num", K::kInt, "2",
                       "copies of the tile (2 = the compiler's default multi-buffer)", 1, 8},
                  });
    return params;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    DType t = ParseDType(p.Str("ssm_dtype"));
    const int64_t L = p.Int("layers"), S = p.Int("requests"), D = p.Int("draft_tokens"),
                  H = p.Int("heads");
    const int64_t K = p.Int("k_dim"), V = p.Int("v_dim");
    RequirePoolFits(p);
    return {
        {"intermediate", {L, S, D, H, V, K}, t, TensorRole::kInput},
        {"ssm_states", {L, PoolSizeOf(p), H, V, K}, t, TensorRole::kInOut},
        {"cache_indices", {S}, DType::kInt32, TensorRole::kInput, true, 0, PoolSizeOf(p) - 1},
        {"last_steps", {S}, DType::kInt32, TensorRole::kInput, true, -1, D - 1}};  // -1: nothing
                                                                                   // accepted
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t S = p.Int("requests"), D = p.Int("draft_tokens");
    const std::vector<int64_t> slots = ShuffledSlots(PoolSizeOf(p), rng);
    for (int64_t b = 0; b < S; ++b) {
      t["cache_indices"].Set(b, static_cast<double>(slots[b]));
      t["last_steps"].Set(
          b, static_cast<double>(rng.UniformInt(-1, D - 1)));  // -1: nothing accepted to commit
    }
    for (const char* name : {"intermediate", "ssm_states"}) {
      Tensor& x = t[name];
      if (!x.materialised()) continue;
      for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, rng.Normal());
    }
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig&, GmMap& gm) const override {
    DType dt = ParseDType(p.Str("ssm_dtype"));
    mic::Tiling t =
        mic::ComputeTiling(p.Int("layers"), p.Int("requests"), p.Int("draft_tokens"),
                           p.Int("heads"), p.Int("k_dim"), p.Int("v_dim"), PoolSizeOf(p),
                           p.Int("h_block"), p.Int("buffer_num"), static_cast<int64_t>(SizeOf(dt)));
    LaunchPlan plan;
    plan.launch.name = name();
    plan.launch.block_dim = t.requests;
    plan.launch.core_type = CoreType::kAiv;
    GmBuffer *inter = &gm["intermediate"], *ssm = &gm["ssm_states"], *idx = &gm["cache_indices"],
             *steps = &gm["last_steps"];
    auto body = [&](auto tag) -> std::function<void()> {
      using T = decltype(tag);
      return [=] {
        mic::KernelMoveIntermediateCache<T> k;
        k.Init(inter, ssm, idx, steps, t);
        k.Process();
      };
    };
    plan.launch.body = dt == DType::kFloat32    ? body(float{})
                       : dt == DType::kBFloat16 ? body(ascendc::bfloat16_t{})
                                                : body(ascendc::half{});
    plan.tiling = {{"block_dim", std::to_string(t.requests)},
                   {"tile", "[" + std::to_string(t.h_block) + ", " + std::to_string(t.block_v) +
                                ", " + std::to_string(t.block_k) + "]"},
                   {"tile_bytes", std::to_string(t.tile_bytes)},
                   {"buffer_num", std::to_string(t.buffer_num)}};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const Tensor &inter = in.at("intermediate"), &ssm = in.at("ssm_states");
    const Tensor &idx = in.at("cache_indices"), &steps = in.at("last_steps");
    const int64_t L = p.Int("layers"), S = p.Int("requests"), D = p.Int("draft_tokens");
    const int64_t state = p.Int("heads") * p.Int("k_dim") * p.Int("v_dim");
    std::vector<double> out = ssm.ToDoubles();
    for (int64_t b = 0; b < S; ++b) {
      const int64_t slot = static_cast<int64_t>(idx.At(b)),
                    step = static_cast<int64_t>(steps.At(b));
      if (step < 0) continue;
      for (int64_t l = 0; l < L; ++l)
        for (int64_t e = 0; e < state; ++e)
          out[(l * PoolSizeOf(p) + slot) * state + e] =
              inter.At(((l * S + b) * D + step) * state + e);
    }
    return {{"ssm_states", out}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMoveIntermediateCacheOp() {
  return std::make_unique<MoveIntermediateCacheOp>();
}

}  // namespace npusim
