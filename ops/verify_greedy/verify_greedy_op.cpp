// `verify_greedy`: registration, inputs, launch and reference.
#include "ops/common/op_util.h"
#include "ops/verify_greedy/verify_greedy_kernel.h"

namespace npusim {

namespace {

class VerifyGreedyOp : public Op {
 public:
  std::string name() const override { return "verify_greedy"; }
  std::string summary() const override {
    return "MTP greedy acceptance: accept drafts while they match the target argmax, emit accepted "
           "+ bonus token (§4.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"batch", K::kInt, "24", "requests B", 1, 65535},
            {"draft_tokens", K::kInt, "4", "verify rows per request d = speculative_num_steps + 1",
             1, 64},
            {"accept_rate", K::kFloat, "0.7",
             "probability each draft matches the target (seeded inputs)", 0, 1}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const Shape s{p.Int("batch"), p.Int("draft_tokens")};
    const DType i32 = DType::kInt32;
    return {{"candidates", s, i32, TensorRole::kInput, true},
            {"target_predict", s, i32, TensorRole::kInput, true},
            {"accept_len", {p.Int("batch")}, i32, TensorRole::kOutput, true},
            {"accept_index", s, i32, TensorRole::kOutput, true},
            {"output_tokens", s, i32, TensorRole::kOutput, true}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t B = p.Int("batch"), d = p.Int("draft_tokens");
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < d; ++i) {
        t["target_predict"].Set(b * d + i, static_cast<double>(rng.UniformInt(0, 151935)));
        // d_i matches the target's prediction at i-1 with probability accept_rate.
        const double draft = i == 0 ? rng.UniformInt(0, 151935)
                                    : (rng.Uniform() < p.Float("accept_rate")
                                           ? t["target_predict"].At(b * d + i - 1)
                                           : static_cast<double>(rng.UniformInt(0, 151935)));
        t["candidates"].Set(b * d + i, draft);
      }
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig&, GmMap& gm) const override {
    const verify_greedy::Tiling t =
        verify_greedy::ComputeTiling(p.Int("batch"), p.Int("draft_tokens"));
    GmBuffer *c = &gm["candidates"], *tp = &gm["target_predict"], *len = &gm["accept_len"],
             *idx = &gm["accept_index"];
    GmBuffer* tok = &gm["output_tokens"];
    LaunchPlan plan;
    plan.launch.name = name();
    plan.launch.block_dim = t.block_dim;
    plan.launch.core_type = CoreType::kAiv;
    plan.launch.body = [=] {
      verify_greedy::KernelVerifyGreedy k;
      k.Init(c, tp, len, idx, tok, t);
      k.Process();
    };
    plan.tiling = {op_util::Kv("block_dim", t.block_dim)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t B = p.Int("batch"), d = p.Int("draft_tokens");
    const Tensor &c = in.at("candidates"), &tp = in.at("target_predict");
    std::vector<double> len(static_cast<size_t>(B)), idx(static_cast<size_t>(B * d), -1),
        tok(idx.size(), -1);
    for (int64_t b = 0; b < B; ++b) {
      int64_t n = 0;
      while (n + 1 < d && c.At(b * d + n + 1) == tp.At(b * d + n)) ++n;
      len[b] = static_cast<double>(n + 1);
      for (int64_t i = 0; i <= n; ++i) idx[b * d + i] = static_cast<double>(b * d + i);
      for (int64_t i = 0; i < n; ++i) tok[b * d + i] = c.At(b * d + i + 1);
      tok[b * d + n] = tp.At(b * d + n);
    }
    return {{"accept_len", len}, {"accept_index", idx}, {"output_tokens", tok}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeVerifyGreedyOp() { return std::make_unique<VerifyGreedyOp>(); }

}  // namespace npusim
