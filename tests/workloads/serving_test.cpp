// The serving engine's clock with a fake kernel timer (every launch takes a known time), so
// TTFT, TPOT and the host/device interplay can be derived by hand. One serving run per TEST
// (one SystemC simulation per process).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workloads/metrics.h"
#include "workloads/serving.h"

namespace npusim {
namespace {

class FixedTimer : public KernelTimer {
 public:
  explicit FixedTimer(double us) : us_(us) {}
  std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) override {
    ++batches;
    KernelProfile p;
    p.us = us_;
    p.bound = "memory";
    return std::vector<KernelProfile>(calls.size(), p);
  }
  int batches = 0;

 private:
  double us_;
};

RunConfig Base() {
  RunConfig c;
  c.file = std::string(NPUSIM_SOURCE_DIR) + "/configs/runs/test.yaml";
  c.model = "../models/qwen3-next-80b-a3b.json";
  c.device = "Ascend910B3";
  c.tp_size = 4;
  c.mamba_ssm_dtype = "bfloat16";
  c.num_prompts = 1;
  c.random_input_len = 128;
  c.random_output_len = 3;
  c.host_profile = std::string(NPUSIM_SOURCE_DIR) + "/tests/data/test_host.yaml";  // no glue launches
  c.host_step_us = 100;
  return c;
}

int64_t Launches(const ServingSetup& s, const StepShape& shape) {
  return static_cast<int64_t>(IssueOrder(s.model, StepKernels(s.model, s.plan, shape)).size());
}

// Launches of the run's prefill (one request of 128 tokens) and of a decode step after it.
std::pair<int64_t, int64_t> PrefillAndDecodeLaunches(const ServingSetup& s) {
  StepShape prefill;
  prefill.batch = 1, prefill.tokens = 128, prefill.prefix = 0;
  StepShape decode;
  decode.batch = 1, decode.tokens = 1, decode.prefix = 128;
  return {Launches(s, prefill), Launches(s, decode)};
}

TEST(Serving, EagerIssueIsHostBoundWhenALaunchCostsMoreOnTheHostThanOnTheDevice) {
  RunConfig c = Base();
  c.disable_cuda_graph = "true";
  c.host_launch_us = 50;
  const ServingSetup s = PrepareServing(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const auto [np, nd] = PrefillAndDecodeLaunches(s);
  ASSERT_GT(np, 500);  // 48 layers of several kernels each
  // Launch i is issued at step start + 100 + 50 i and runs 10 us: the device finishes 10 us
  // after the host issued the last launch.
  const double ttft = 100 + 50.0 * static_cast<double>(np) + 10;
  const double step = 100 + 50.0 * static_cast<double>(nd) + 10;
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_DOUBLE_EQ(r.requests[0].first_token_us, ttft);
  EXPECT_DOUBLE_EQ(r.requests[0].finish_us, ttft + 2 * step);  // output 3: prefill's token + 2 decode steps
  EXPECT_DOUBLE_EQ(r.device_busy_us, 10.0 * static_cast<double>(np + 2 * nd));
  const ServingMetrics m = ComputeMetrics(r);
  EXPECT_DOUBLE_EQ(m.tpot_ms.mean, step / 1e3);
  EXPECT_NEAR(m.device_busy_share, 10.0 / 50.0, 0.01);
}

TEST(Serving, GraphReplayMakesTheDecodeStepDeviceBound) {
  RunConfig c = Base();
  c.cuda_graph_bs = "1";
  c.host_launch_us = 0;  // prefill stays eager: all its launches issued at once here
  c.host_graph_replay_us = 30;
  const ServingSetup s = PrepareServing(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const auto [np, nd] = PrefillAndDecodeLaunches(s);
  const double ttft = 100 + 10.0 * static_cast<double>(np);
  const double step = 100 + 30 + 10.0 * static_cast<double>(nd);  // schedule, replay, then the device
  EXPECT_DOUBLE_EQ(r.requests[0].first_token_us, ttft);
  EXPECT_DOUBLE_EQ(r.requests[0].finish_us, ttft + 2 * step);
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_TRUE(r.steps[1].forwards[0].graph);
  // Decode contexts 128 and 129 fall in different buckets (128, 256): 3 forward shapes timed.
  EXPECT_EQ(r.forwards_simulated, 3);
  EXPECT_EQ(timer.batches, 3);
}

TEST(Serving, MaxConcurrencyHoldsTheNextRequestUntilOneFinishes) {
  RunConfig c = Base();
  c.num_prompts = 3;
  c.max_concurrency = 1;
  const ServingSetup s = PrepareServing(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].sent_us, 0);
  EXPECT_DOUBLE_EQ(r.requests[1].sent_us, r.requests[0].finish_us);
  EXPECT_DOUBLE_EQ(r.requests[2].sent_us, r.requests[1].finish_us);
  // TTFT counts from sending, as bench_serving does: the same for all three.
  EXPECT_DOUBLE_EQ(r.requests[2].first_token_us - r.requests[2].sent_us, r.requests[0].first_token_us);
}

TEST(Serving, MtpRoundsFollowTheAcceptRates) {
  RunConfig c = Base();
  c.speculative_algorithm = "NEXTN";
  c.random_output_len = 9;
  c.num_prompts = 2;
  c.speculative_accept_rates = "1";  // every draft accepted: 4 tokens per round
  const ServingSetup s = PrepareServing(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const ServingMetrics m = ComputeMetrics(r);
  EXPECT_DOUBLE_EQ(m.accept_length, 4.0);
  EXPECT_EQ(m.decode_steps, 2);  // 1 token from prefill + 2 rounds of 4
  const StepRecord& round = r.steps.back();
  ASSERT_EQ(round.forwards.size(), 5u);  // 3 draft forwards, verify, draft extend
  EXPECT_EQ(round.forwards[0].kind, "draft");
  EXPECT_EQ(round.forwards[3].kind, "verify");
  EXPECT_EQ(round.forwards[3].tokens, 4);
  EXPECT_EQ(round.forwards[4].kind, "draft_extend");
  EXPECT_GT(round.forwards[3].commit_us, 0);  // move_intermediate_cache + conv_state_rollback
  EXPECT_DOUBLE_EQ(m.commit_ms_per_step, 2 * 10.0 / 1e3);
}

TEST(Serving, NoAcceptedDraftsGiveOneTokenPerRound) {
  RunConfig c = Base();
  c.speculative_algorithm = "NEXTN";
  c.random_output_len = 5;
  c.speculative_accept_rates = "0";
  const ServingSetup s = PrepareServing(c);
  FixedTimer timer(10);
  const ServingMetrics m = ComputeMetrics(RunServing(s, timer));
  EXPECT_DOUBLE_EQ(m.accept_length, 1.0);
  EXPECT_EQ(m.decode_steps, 4);
}

}  // namespace
}  // namespace npusim
