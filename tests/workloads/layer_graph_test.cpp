// The one layer graph (issue #13 part 1): the functional forward and the timed step are two
// executors of the same graph, so a functional forward issues exactly the launches the step
// graph times for the same shape, in the same order — for each family, in prefill, decode and
// MTP verify (with its commit) and for the MTP draft step.
#include <gtest/gtest.h>

#include "workloads/functional_model.h"
#include "workloads/step_graph.h"

namespace npusim {
namespace {

ModelConfig Tiny(const std::string& name) {
  return LoadModelConfig(std::string(NPUSIM_SOURCE_DIR) + "/configs/models/" + name + ".json");
}

// The step graph's launches in issue order, "block:op".
std::vector<std::string> Timed(const std::vector<KernelCall>& calls,
                               const std::vector<int>& order) {
  std::vector<std::string> out;
  for (int i : order)
    out.push_back(calls[static_cast<size_t>(i)].where + ":" + calls[static_cast<size_t>(i)].op);
  return out;
}

std::vector<std::string> Since(const FunctionalModel& f, size_t from) {
  return std::vector<std::string>(f.timed_launches().begin() + static_cast<std::ptrdiff_t>(from),
                                  f.timed_launches().end());
}

std::vector<FunctionalModel::Entry> Entries(int64_t n, int64_t tokens, int64_t prefix) {
  std::vector<FunctionalModel::Entry> b;
  for (int64_t i = 0; i < n; ++i)
    b.push_back({i + 1,
                 std::vector<int32_t>(static_cast<size_t>(tokens), static_cast<int32_t>(3 + i)),
                 prefix});
  return b;
}

TEST(LayerGraph, TheFunctionalForwardIssuesTheTimedStepsLaunches) {
  for (const std::string name : {"tiny-hybrid", "tiny-qwen3", "tiny-qwen3-moe", "tiny-llama",
                                 "tiny-qwen2", "tiny-step", "tiny-deepseek"}) {
    const ModelConfig m = Tiny(name);
    FunctionalOptions o;
    o.gdn_impl = "fused";
    o.ssm_dtype = "bfloat16";
    o.intermediate_dtype = "bfloat16";
    o.draft_tokens = m.mtp_layers > 0 ? 3 : 0;
    FunctionalModel f(m, LoadDevice("Ascend910B3"), o);
    StepShape s;
    s.gdn_impl = "fused";
    s.ssm_dtype = "bfloat16";
    std::vector<int> order;

    size_t at = f.timed_launches().size();
    f.Extend(Entries(2, 5, 0));
    s.batch = 2, s.tokens = 5, s.prefix = 0;
    std::vector<KernelCall> calls = StepKernels(m, ParallelPlan{}, s, &order);
    EXPECT_EQ(Since(f, at), Timed(calls, order)) << name << " prefill";

    if (o.draft_tokens == 0) {  // with MTP every decode is a draft-and-verify round
      at = f.timed_launches().size();
      f.Decode(Entries(2, 1, 5));
      s.tokens = 1, s.prefix = 5;
      calls = StepKernels(m, ParallelPlan{}, s, &order);
      EXPECT_EQ(Since(f, at), Timed(calls, order)) << name << " decode";
      continue;
    }
    at = f.timed_launches().size();
    f.Decode(Entries(2, 3, 5), true);
    f.Commit(Entries(2, 3, 5), {0, 2});
    s.kind = ForwardKind::kVerify, s.tokens = 3, s.prefix = 5;
    calls = StepKernels(m, ParallelPlan{}, s, &order);
    EXPECT_EQ(Since(f, at), Timed(calls, order)) << name << " verify and commit";

    at = f.timed_launches().size();
    f.Draft(1, 7, std::vector<double>(static_cast<size_t>(m.hidden), 0.5), 9, nullptr);
    StepShape d;
    d.batch = 1, d.tokens = 1, d.prefix = 9;
    calls = DraftStepKernels(m, ParallelPlan{}, d, &order);
    std::vector<std::string> draft = Since(f, at);
    for (std::string& l : draft)
      l = "draft:" + l.substr(l.find(':') + 1);  // the step graph labels a draft's calls "draft"
    EXPECT_EQ(draft, Timed(calls, order)) << name << " draft";
  }
}

}  // namespace
}  // namespace npusim
