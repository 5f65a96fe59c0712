// `lm_head_argmax`: logits = hidden W^T on the cube (fp32 out, W as the [vocab shard, hidden]
// torch weight), then greedy: per token the largest logit of this rank's vocab shard and its
// global token id (kernels.md §4.3 greedy sampling; merging the shards' (max, id) pairs across
// TP ranks is the collectives' job). Two launches: a batched AIC matmul and an AIV argmax.
#include "model/error.h"
#include "ops/common/batched_matmul.h"
#include "ops/common/op_util.h"
#include "ops/lm_head_argmax/lm_head_argmax_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class LmHeadArgmaxOp : public Op {
 public:
  std::string name() const override { return "lm_head_argmax"; }
  std::string summary() const override {
    return "lm_head logits on the cube (vocab shard) + greedy argmax per token with the shard's "
           "global id (§4.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"tokens", K::kInt, "24", "tokens to sample (decode batch, or verify tokens)", 1, 1e6},
        {"hidden", K::kInt, "2048", "hidden size", 16, 1e6},
        {"vocab", K::kInt, "37984", "vocab rows on this rank (Qwen3-Next 151936 / TP 4)", 1, 1e7},
        {"vocab_start", K::kInt, "0", "first token id of this rank's shard", 0, 1e9},
        {"dtype", K::kString, "bfloat16", "hidden and weight dtype", 0, 0, {"bfloat16", "float16"}},
        {"argmax_cols", K::kInt, "0", "logits per argmax UB chunk (0 = as many as fit)", 0, 1e7}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("hidden"), V = p.Int("vocab");
    const DType dt = ParseDType(p.Str("dtype"));
    return {{"hidden_states", {T, H}, dt},
            {"weight", {V, H}, dt},
            {"logits", {T, V}, DType::kFloat32, TensorRole::kOutput},
            {"max_logit",
             {T},
             DType::kFloat32,
             TensorRole::kOutput,
             true},  // written by the AIV scalar
            {"next_token", {T}, DType::kInt32, TensorRole::kOutput, true}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["hidden_states"], rng);
    op_util::FillNormal(t["weight"], rng, 1.0 / std::sqrt(static_cast<double>(p.Int("hidden"))));
  }
  double FunctionalMacs(const ParamValues& p) const override {
    return static_cast<double>(p.Int("tokens")) * p.Int("hidden") * p.Int("vocab");
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("hidden"), V = p.Int("vocab");
    const DType dt = ParseDType(p.Str("dtype"));
    const lm_head::Tiling t = lm_head::ComputeTiling(
        T, H, V, p.Int("vocab_start"), static_cast<int64_t>(SizeOf(dt)), p.Int("argmax_cols"), d);
    const matmul::Tiling& mt = t.logits;
    const lm_head::ArgmaxTiling& at = t.argmax;
    batched_matmul::Batch b;
    b.base_m = static_cast<uint32_t>(mt.base_m);
    b.base_n = static_cast<uint32_t>(mt.base_n);
    b.base_k = static_cast<uint32_t>(mt.base_k);
    batched_matmul::Problem pr;  // logits = hidden W^T, W the [vocab, hidden] weight
    pr.a = &gm["hidden_states"];
    pr.b = &gm["weight"];
    pr.c = &gm["logits"];
    pr.lda = pr.ldb = static_cast<uint32_t>(H);
    pr.ldc = static_cast<uint32_t>(V);
    pr.trans_b = true;
    pr.m = static_cast<uint32_t>(T);
    pr.n = static_cast<uint32_t>(V);
    pr.k = static_cast<uint32_t>(H);
    batched_matmul::AddTiled(b, pr);
    LaunchPlan plan;
    plan.launch = op_util::DispatchFloat(dt, [&](auto tag) {
      return batched_matmul::Launch<decltype(tag)>(name() + ".logits", b, d.aic_count);
    });
    plan.then.push_back(op_util::AivLaunch<lm_head::KernelArgmax>(
        name() + ".argmax", at.split.blocks, DType::kFloat32, &gm["logits"], &gm["max_logit"],
        &gm["next_token"], at));
    plan.tiling = {Kv("base_m", mt.base_m), Kv("base_n", mt.base_n), Kv("base_k", mt.base_k),
                   Kv("argmax_block_dim", at.split.blocks), Kv("argmax_cols", at.cols)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("hidden"), V = p.Int("vocab");
    const Tensor &x = in.at("hidden_states"), &w = in.at("weight");
    std::vector<double> logits(static_cast<size_t>(T * V)), mx(static_cast<size_t>(T)),
        tok(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      int64_t best = 0;
      for (int64_t v = 0; v < V; ++v) {
        double acc = 0;
        for (int64_t h = 0; h < H; ++h) acc += x.At(t * H + h) * w.At(v * H + h);
        logits[static_cast<size_t>(t * V + v)] = acc;
        if (acc > logits[static_cast<size_t>(t * V + best)]) best = v;
      }
      mx[static_cast<size_t>(t)] = logits[static_cast<size_t>(t * V + best)];
      tok[static_cast<size_t>(t)] = static_cast<double>(p.Int("vocab_start") + best);
    }
    return {{"logits", logits}, {"max_logit", mx}, {"next_token", tok}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeLmHeadArgmaxOp() { return std::make_unique<LmHeadArgmaxOp>(); }

}  // namespace npusim
