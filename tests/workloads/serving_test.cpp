// The serving engine's clock with a fake kernel timer (every launch takes a known time), so
// TTFT, TPOT and the host/device interplay can be derived by hand. One serving run per TEST
// (one SystemC simulation per process).
#include "workloads/serving.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "model/error.h"
#include "workloads/metrics.h"

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
  c.host_profile =
      std::string(NPUSIM_SOURCE_DIR) + "/tests/data/test_host.yaml";  // no glue launches
  c.host_step_us = 100;
  return c;
}

int64_t Launches(const ResolvedRun& s, const StepShape& shape) {
  std::vector<int> order;
  StepKernels(s.model, s.plan, shape, &order);
  return static_cast<int64_t>(order.size());
}

// Launches of the run's prefill (one request of 128 tokens) and of a decode step after it.
std::pair<int64_t, int64_t> PrefillAndDecodeLaunches(const ResolvedRun& s) {
  StepShape prefill;
  prefill.batch = 1, prefill.tokens = 128, prefill.prefix = 0;
  StepShape decode;
  decode.batch = 1, decode.tokens = 1, decode.prefix = 128;
  return {Launches(s, prefill), Launches(s, decode)};
}

// The fused recurrent op takes a bf16 state only: a run asking for it with an fp32 pool is bad
// input when it is prepared (so `validate` says it), not a failure at the first decode step;
// the Triton chain takes either.
TEST(Serving, FusedGdnDecodeWithAnFp32StateIsRefusedBeforeTheRun) {
  RunConfig c = Base();
  c.mamba_ssm_dtype = "float32";
  c.gdn_decode_impl = "fused";
  try {
    ResolveRun(c);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("takes a bfloat16 state only"), std::string::npos)
        << e.what();
  }
  c.gdn_decode_impl = "triton_chain";
  EXPECT_NO_THROW(ResolveRun(c));
}

TEST(Serving, EagerIssueIsHostBoundWhenALaunchCostsMoreOnTheHostThanOnTheDevice) {
  RunConfig c = Base();
  c.disable_cuda_graph = true;
  c.host_launch_us = 50;
  const ResolvedRun s = ResolveRun(c);
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
  EXPECT_DOUBLE_EQ(r.requests[0].finish_us,
                   ttft + 2 * step);  // output 3: prefill's token + 2 decode steps
  EXPECT_DOUBLE_EQ(r.device_busy_us, 10.0 * static_cast<double>(np + 2 * nd));
  const ServingMetrics m = ComputeMetrics(r);
  EXPECT_DOUBLE_EQ(m.tpot_ms.mean, step / 1e3);
  EXPECT_NEAR(m.device_busy_share, 10.0 / 50.0, 0.01);
}

TEST(Serving, GraphReplayMakesTheDecodeStepDeviceBound) {
  RunConfig c = Base();
  c.cuda_graph_bs = {1};
  c.host_launch_us = 0;  // prefill stays eager: all its launches issued at once here
  c.host_graph_replay_us = 30;
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const auto [np, nd] = PrefillAndDecodeLaunches(s);
  const double ttft = 100 + 10.0 * static_cast<double>(np);
  const double step =
      100 + 30 + 10.0 * static_cast<double>(nd);  // schedule, replay, then the device
  EXPECT_DOUBLE_EQ(r.requests[0].first_token_us, ttft);
  EXPECT_DOUBLE_EQ(r.requests[0].finish_us, ttft + 2 * step);
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_TRUE(r.steps[1].forwards[0].graph);
  // Decode contexts 128 and 129 fall in different buckets (128, 256): 3 forward shapes timed.
  EXPECT_EQ(r.forwards_simulated, 3);
  EXPECT_EQ(timer.batches, 3);
}

// Bucketing rounds up by less than one eighth, exactly below 16: the bound the serving engine
// states for tokens, context and eager decode batches.
TEST(Serving, ShapeBucketsRoundUpByLessThanAnEighth) {
  for (int64_t x = 1; x <= 100000; ++x) {
    const int64_t b = ShapeBucket(x, 1);
    ASSERT_GE(b, x);
    ASSERT_LT(static_cast<double>(b - x), static_cast<double>(x) / 8.0) << x;
    if (x < 16) {
      ASSERT_EQ(b, x);
    }
  }
  EXPECT_EQ(ShapeBucket(17, 1), 18);
  EXPECT_EQ(ShapeBucket(100, 64), 128);  // a minimum step (tokens: 64) rounds to it
}

// Seventeen requests decoding eagerly are timed as a batch of 18 (the bucket of 17), like a graph
// batch padded up: one decode shape, and the records say the batch that was timed.
TEST(Serving, AnEagerDecodeBatchIsTimedAtItsBucket) {
  RunConfig c = Base();
  c.disable_cuda_graph = true;
  c.num_prompts = 17;
  c.max_concurrency = 17;
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 17u);
  bool decoded = false;
  for (const auto& step : r.steps)
    for (const auto& f : step.forwards)
      if (f.kind == ForwardKind::kDecode) {
        EXPECT_EQ(f.batch, 18);
        decoded = true;
      }
  EXPECT_TRUE(decoded);
}

TEST(Serving, MaxConcurrencyHoldsTheNextRequestUntilOneFinishes) {
  RunConfig c = Base();
  c.num_prompts = 3;
  c.max_concurrency = 1;
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].sent_us, 0);
  EXPECT_DOUBLE_EQ(r.requests[1].sent_us, r.requests[0].finish_us);
  EXPECT_DOUBLE_EQ(r.requests[2].sent_us, r.requests[1].finish_us);
  // TTFT counts from sending, as bench_serving does: the same for all three.
  EXPECT_DOUBLE_EQ(r.requests[2].first_token_us - r.requests[2].sent_us,
                   r.requests[0].first_token_us);
}

TEST(Serving, MtpRoundsFollowTheAcceptRates) {
  RunConfig c = Base();
  c.speculative_algorithm = "NEXTN";
  c.random_output_len = 9;
  c.num_prompts = 2;
  c.speculative_accept_rates = {1};  // every draft accepted: 4 tokens per round
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const ServingMetrics m = ComputeMetrics(r);
  EXPECT_DOUBLE_EQ(m.accept_length, 4.0);
  EXPECT_EQ(m.decode_steps, 2);  // 1 token from prefill + 2 rounds of 4
  const StepRecord& round = r.steps.back();
  ASSERT_EQ(round.forwards.size(), 5u);  // 3 draft forwards, verify, draft extend
  EXPECT_EQ(round.forwards[0].kind, ForwardKind::kDraft);
  EXPECT_EQ(round.forwards[3].kind, ForwardKind::kVerify);
  EXPECT_EQ(round.forwards[3].tokens, 4);
  EXPECT_EQ(round.forwards[4].kind, ForwardKind::kDraftExtend);
  EXPECT_GT(round.forwards[3].commit_us, 0);  // move_intermediate_cache + conv_state_rollback
  EXPECT_DOUBLE_EQ(m.commit_ms_per_step, 2 * 10.0 / 1e3);
}

// A host profile like tests/data/test_host.yaml with some values changed, written next to the
// test's temporary files.
std::string ProfileWith(const std::string& extra) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("npusim_host_" + std::to_string(::getpid()) + ".yaml"))
                               .string();
  std::ofstream(path)
      << "name: test_host\nlaunch_us: 106\ntorch_op_us: 10\ngraph_replay_us: 150\nstep_us: 1500\n"
      << extra;
  return path;
}

// Base() run eagerly at 50 us a launch, every kernel 10 us, under test_host.yaml plus `extra`;
// with its prefill's and a decode step's launch counts.
struct EagerRun {
  ServingResult r;
  int64_t np = 0, nd = 0;
};
EagerRun RunEager(const std::string& extra) {
  RunConfig c = Base();
  c.disable_cuda_graph = true;
  c.host_launch_us = 50;
  c.host_profile = ProfileWith(extra);
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  EagerRun e{RunServing(s, timer)};
  std::tie(e.np, e.nd) = PrefillAndDecodeLaunches(s);
  return e;
}

TEST(Serving, GlueLaunchesCostHostTimePerLayerInEagerForwards) {
  const auto [r, np, nd] = RunEager("glue_launches_per_layer: 3\n");
  // 3 glue launches per layer x 48 layers spread over the forward's launches: the host spends
  // 50 us on each of np + 144 launches, the device finishes 10 us after the last.
  const double ttft = 100 + 50.0 * static_cast<double>(np + 3 * 48) + 10;
  EXPECT_NEAR(r.requests[0].first_token_us, ttft, 1e-6);
  const double step = 100 + 50.0 * static_cast<double>(nd + 3 * 48) + 10;
  EXPECT_NEAR(r.requests[0].finish_us, ttft + 2 * step, 1e-6);
}

// The front end's latency holds the request back before the scheduler sees it: TTFT grows by
// request_us, the steps (and so TPOT) do not.
TEST(Serving, TheFrontEndDelaysTheRequestNotItsSteps) {
  const auto [r, np, nd] = RunEager("request_us: 20000\n");
  // Sent at 0, schedulable at 20000 us; then a step of 100 us, a launch every 50 us, the device
  // done 10 us after the last.
  const double ttft = 20000 + 100 + 50.0 * static_cast<double>(np) + 10;
  EXPECT_NEAR(r.requests[0].first_token_us, ttft, 1e-6);
  const double step = 100 + 50.0 * static_cast<double>(nd) + 10;
  EXPECT_NEAR(r.requests[0].finish_us, ttft + 2 * step, 1e-6);
  EXPECT_NEAR(ComputeMetrics(r).ttft_ms.mean, ttft / 1e3, 1e-9);
}

// A timer whose chunk_gated_delta_rule calls are a Python composite of `ops` torch ops (the
// launch=torch form), every call 10 us of device time.
class TorchCompositeTimer : public KernelTimer {
 public:
  explicit TorchCompositeTimer(int64_t ops) : ops_(ops) {}
  std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) override {
    std::vector<KernelProfile> out;
    for (const KernelCall& k : calls) {
      KernelProfile p;
      p.us = 10;
      p.bound = "memory";
      if (k.op == "chunk_gated_delta_rule") p.launches = p.torch_ops = ops_;
      out.push_back(p);
    }
    return out;
  }

 private:
  int64_t ops_;
};

TEST(Serving, ATorchCompositeCostsTheHostItsOpsAndTheGlueStaysWithKernelLaunches) {
  RunConfig c = Base();
  c.disable_cuda_graph = true;
  c.host_launch_us = 50;
  c.host_profile = ProfileWith("glue_launches_per_layer: 3\n");  // torch_op_us: 10
  const ResolvedRun s = ResolveRun(c);
  TorchCompositeTimer timer(100);
  const ServingResult r = RunServing(s, timer);
  const auto [np, nd] = PrefillAndDecodeLaunches(s);
  StepShape prefill;
  prefill.batch = 1, prefill.tokens = 128, prefill.prefix = 0;
  std::vector<int> order;
  const std::vector<KernelCall> calls = StepKernels(s.model, s.plan, prefill, &order);
  int64_t gdn = 0;
  for (int i : order) gdn += calls[static_cast<size_t>(i)].op == "chunk_gated_delta_rule";
  ASSERT_EQ(gdn, 36);  // Qwen3-Next: 36 of its 48 layers are GDN
  // Host-bound: each GDN prefill issues 100 torch ops at 10 us; the other np - 36 calls are
  // kernel launches at 50 us, among which the 3 x 48 glue launches spread; the device ends 10 us
  // after the last (one-launch) call is issued.
  const double ttft = 100 + 50.0 * static_cast<double>(np - gdn + 3 * 48) +
                      10.0 * 100 * static_cast<double>(gdn) + 10;
  EXPECT_NEAR(r.requests[0].first_token_us, ttft, 1e-6);
  const double step = 100 + 50.0 * static_cast<double>(nd + 3 * 48) + 10;  // decode: no composite
  EXPECT_NEAR(r.requests[0].finish_us, ttft + 2 * step, 1e-6);
}

TEST(Serving, AnEagerDeepEpDispatchMakesTheHostWaitForTheDevice) {
  RunConfig c = Base();
  c.disable_cuda_graph = true;
  c.ep_size = 4;
  c.moe_a2a_backend = "deepep";
  c.host_launch_us = 5;  // the host issues faster than the device (10 us per launch) runs
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  StepShape prefill;
  prefill.batch = 1, prefill.tokens = 128, prefill.prefix = 0;
  std::vector<int> order;
  const std::vector<KernelCall> calls = StepKernels(s.model, s.plan, prefill, &order);
  // DeepEP `auto`: the prefill's dispatch and combine in normal mode in each of the 48 MoE
  // layers, the decode's in low-latency mode (the relay all_to_all).
  int64_t a2a = 0;
  for (int i : order)
    a2a += calls[static_cast<size_t>(i)].op == "moe_dispatch_normal" ||
           calls[static_cast<size_t>(i)].op == "moe_combine_normal";
  ASSERT_EQ(a2a, 2 * 48);
  StepShape decode;
  decode.batch = 1, decode.tokens = 1, decode.prefix = 128;
  int64_t ll = 0;
  for (const KernelCall& k : StepKernels(s.model, s.plan, decode))
    ll += k.op == "all_to_all" ? k.count : 0;
  EXPECT_EQ(ll, 2 * 48);
  const int64_t np = static_cast<int64_t>(order.size());
  // Device-bound: launches run back to back from t = 105, except that after each of the 48
  // dispatches the host first waits for the device, then takes 5 us to issue the next launch,
  // during which the device idles.
  EXPECT_NEAR(r.requests[0].first_token_us, 105 + 10.0 * static_cast<double>(np) + 5 * 48, 1e-6);
  EXPECT_EQ(r.steps[0].forwards[0].host_syncs, 48);
}

// A replayed decode graph whose FIA launches each wait for a host refresh of 1000 us (far above
// the 10 us kernels), refreshed after the replay call (vLLM) or beside it (SGLang). Qwen3-Next
// has 12 full-attention layers: FIA k (k = 1..12) may start at refresh_start + 1000 k, so the
// device idles before each one and the step ends with the launches after the last FIA:
//   step = 100 (step_us) + 12 x 1000 + 10 x (launches from the last FIA to the end)
//          + 150 (replay) when the refreshes start only after the replay call.
double GraphRefreshStep(bool during_replay, int64_t* refreshes) {
  RunConfig c = Base();
  c.cuda_graph_bs = {1};
  c.host_launch_us = 0;
  c.host_profile = ProfileWith(std::string("graph_update_us: 1000\ngraph_update_during_replay: ") +
                               (during_replay ? "true\n" : "false\n"));
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  StepShape decode;
  decode.batch = 1, decode.tokens = 1, decode.prefix = 128;
  std::vector<int> order;
  const std::vector<KernelCall> calls = StepKernels(s.model, s.plan, decode, &order);
  int64_t last_fia = -1, fia = 0;
  for (size_t i = 0; i < order.size(); ++i)
    if (calls[static_cast<size_t>(order[i])].op == "fused_infer_attention_score")
      last_fia = static_cast<int64_t>(i), ++fia;
  EXPECT_EQ(fia, 12);
  const int64_t tail = static_cast<int64_t>(order.size()) - last_fia;
  EXPECT_GT(tail, 10);  // the last layer's MoE, the final norm, lm_head
  EXPECT_TRUE(r.steps.at(1).forwards.at(0).graph);
  *refreshes = r.steps[1].forwards[0].graph_refreshes;
  const double expected =
      100 + 12 * 1000.0 + 10.0 * static_cast<double>(tail) + (during_replay ? 0 : 150);
  EXPECT_DOUBLE_EQ(r.steps[1].end_us - r.steps[1].start_us, expected);
  return r.steps[1].end_us - r.steps[1].start_us;
}

TEST(Serving, ReplayedAttentionWaitsForItsHostRefreshAfterTheReplayCall) {
  int64_t refreshes = 0;
  GraphRefreshStep(false, &refreshes);
  EXPECT_EQ(refreshes, 12);
}

TEST(Serving, ReplayedAttentionWaitsForItsHostRefreshBesideTheReplayCall) {
  int64_t refreshes = 0;
  GraphRefreshStep(true, &refreshes);
  EXPECT_EQ(refreshes, 12);
}

TEST(Serving, AnMtpRoundPaysItsHostBookkeeping) {
  RunConfig c = Base();
  c.speculative_algorithm = "NEXTN";
  c.random_output_len = 5;
  c.speculative_accept_rates = {1};
  c.host_profile = ProfileWith("mtp_round_us: 700\n");
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.steps.size(), 2u);  // prefill, then one round of 4 tokens
  // The round: step 100 + MTP bookkeeping 700, then its graph replays (150 each): the three
  // draft steps are one captured graph, so the verify is issued after one replay, not three.
  const StepRecord& round = r.steps[1];
  EXPECT_DOUBLE_EQ(round.forwards[0].issue_start_us - round.start_us, 100 + 700);
  ASSERT_EQ(round.forwards[3].kind, ForwardKind::kVerify);
  EXPECT_DOUBLE_EQ(round.forwards[3].issue_start_us - round.start_us, 100 + 700 + 150);
  EXPECT_DOUBLE_EQ(round.forwards[4].issue_start_us - round.start_us, 100 + 700 + 2 * 150);
}

// An EAGLE3 round of Qwen3-8B at TP 1 with every launch 10 us and graph replays: 3 draft
// forwards of 13 launches (StepGraph.AnEagle3DraftStepIsOneLlamaLayerOverTwiceTheHidden), the
// verify of 4 tokens (embedding; 36 layers x [norm, qkv, QK-norm, RoPE, attention, o_proj, norm,
// gate_up, SwiGLU, down]; final norm, lm_head, greedy acceptance: 1 + 360 + 3 = 364 launches, no
// GDN state to commit), and the draft extend (13 + the fc = 14). Device-bound, so the round's
// device time is 10 us x (39 + 364 + 14).
TEST(Serving, AnEagle3RoundRunsTheDraftModelsForwards) {
  RunConfig c = Base();
  c.model = "../models/qwen3-8b.json";
  c.tp_size = 1;
  c.speculative_algorithm = "EAGLE3";
  c.speculative_draft_model_path = "../models/qwen3-8b-eagle3.json";
  c.random_output_len = 5;
  c.speculative_accept_rates = {1};
  const ResolvedRun s = ResolveRun(c);
  ASSERT_TRUE(s.eagle3_draft.has_value());
  EXPECT_GT(s.memory.mtp_weights, 0);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.steps.size(), 2u);  // prefill (+ draft extend), then one round of 4 tokens
  const StepRecord& round = r.steps[1];
  ASSERT_EQ(round.forwards.size(), 5u);
  int64_t launches = 0;
  double busy = 0;
  for (const ForwardRecord& f : round.forwards) launches += f.launches, busy += f.device_busy_us;
  EXPECT_EQ(round.forwards[0].launches, 13);
  EXPECT_EQ(round.forwards[3].launches, 364);
  EXPECT_EQ(round.forwards[4].launches, 14);
  EXPECT_EQ(launches, 3 * 13 + 364 + 14);
  EXPECT_DOUBLE_EQ(busy, 10.0 * (3 * 13 + 364 + 14));
}

TEST(Serving, Eagle3NeedsADraftModelAndNextnNeedsMtpLayers) {
  RunConfig c = Base();
  c.model = "../models/qwen3-8b.json";
  c.tp_size = 1;
  c.speculative_algorithm = "NEXTN";
  EXPECT_THROW(ResolveRun(c), InputError);  // Qwen3-8B ships no MTP layer
  c.speculative_algorithm = "EAGLE3";
  c.speculative_draft_model_path = "../models/qwen3-8b.json";  // a target, not a draft
  EXPECT_THROW(ResolveRun(c), InputError);
  c.speculative_draft_model_path =
      "../models/qwen3-32b-eagle3.json";  // drafts for another hidden size
  EXPECT_THROW(ResolveRun(c), InputError);
}

TEST(Serving, NoAcceptedDraftsGiveOneTokenPerRound) {
  RunConfig c = Base();
  c.speculative_algorithm = "NEXTN";
  c.random_output_len = 5;
  c.speculative_accept_rates = {0};
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingMetrics m = ComputeMetrics(RunServing(s, timer));
  EXPECT_DOUBLE_EQ(m.accept_length, 1.0);
  EXPECT_EQ(m.decode_steps, 4);
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

RunConfig SharedPrefixLoad() {
  RunConfig c = Base();
  c.dataset_name = "generated-shared-prefix";
  c.gsp_num_groups = 1;
  c.gsp_prompts_per_group = 3;
  c.gsp_system_prompt_len = 1000;
  c.gsp_question_len = 100;
  c.gsp_output_len = 2;
  c.max_concurrency = 1;  // one after the other: each finds what the ones before left
  c.chunked_prefill_size = 512;
  return c;
}

// New tokens of every prefill step, in order.
std::vector<int64_t> PrefillTokens(const ServingResult& r) {
  std::vector<int64_t> out;
  for (const StepRecord& st : r.steps)
    if (st.prefill) out.push_back(st.new_tokens);
  return out;
}

TEST(Serving, AHybridModelReusesASharedPrefixUpToItsLastStateSnapshot) {
  RunConfig c = SharedPrefixLoad();
  c.mamba_scheduler_strategy = "extra_buffer";
  c.mamba_track_interval = 256;
  c.max_mamba_cache_size = c.max_running_requests + 1 + 8;  // room for 8 snapshots
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  // Prompts: the same 1000-token system prompt, then 100 tokens of their own (1100 in all).
  // The warm-up sent request 0's prompt alone: chunks ending at 512, 1024 and 1100 left state
  // snapshots at 512 and 1024 (the last multiple of 256 each chunk reached).
  // Request 0 (the warm-up's prompt again) finds 8 pages with a state at 1024: it computes 76.
  // Request 1 shares 7 whole pages (896 tokens) with it; the deepest snapshot inside them is at
  // 512, so it computes 588 tokens (a 512-token chunk, then 76) and, its pages going on to 896,
  // snapshots its state at the branching point 768 (896 on the 256 grid) in the chunk that
  // passes it. Request 2 then finds 768 and computes 332 in one chunk.
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].cached_tokens, 1024);
  EXPECT_EQ(r.requests[1].cached_tokens, 512);
  EXPECT_EQ(r.requests[2].cached_tokens, 768);
  EXPECT_EQ(PrefillTokens(r), (std::vector<int64_t>{76, 512, 76, 332}));
  EXPECT_NEAR(ComputeMetrics(r).cache_hit_rate, 2304.0 / 3300.0, 1e-12);
}

TEST(Serving, AnAttentionOnlyModelReusesEveryWholeSharedPage) {
  RunConfig c = SharedPrefixLoad();
  c.model = "../models/qwen3-8b.json";
  c.tp_size = 1;
  c.mamba_ssm_dtype = "";
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  // No state to wait for: request 0 finds the warm-up's 8 whole pages below its last token
  // (1024, computes 76), requests 1 and 2 the 7 whole pages of the system prompt (896, compute
  // 204 in one chunk).
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].cached_tokens, 1024);
  EXPECT_EQ(r.requests[1].cached_tokens, 896);
  EXPECT_EQ(r.requests[2].cached_tokens, 896);
  EXPECT_EQ(PrefillTokens(r), (std::vector<int64_t>{76, 204, 204}));
}

TEST(Serving, WithoutTheRadixCacheEveryPromptIsComputedWhole) {
  RunConfig c = SharedPrefixLoad();
  c.disable_radix_cache = true;
  const ResolvedRun s = ResolveRun(c);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  for (const RequestRecord& q : r.requests) EXPECT_EQ(q.cached_tokens, 0);
  EXPECT_EQ(PrefillTokens(r), (std::vector<int64_t>{512, 512, 76, 512, 512, 76, 512, 512, 76}));
  EXPECT_EQ(ComputeMetrics(r).cache_hit_rate, 0);
}

TEST(Serving, TwoReplicasServeTwoRequestsEachAsIfAlone) {
  RunConfig c = Base();
  c.cuda_graph_bs = {1};
  c.host_launch_us = 0;
  c.host_graph_replay_us = 30;
  c.num_prompts = 2;
  c.dp_size = 2;  // without DP attention: two replicas of tp 4 behind a round-robin router
  const ResolvedRun s = ResolveRun(c);
  ASSERT_EQ(s.replicas, 2);
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  const auto [np, nd] = PrefillAndDecodeLaunches(s);
  // Each replica runs one request alone, as in GraphReplayMakesTheDecodeStepDeviceBound: both
  // get their first token at 100 + 10 np and finish two decode steps of 100 + 30 + 10 nd later.
  const double ttft = 100 + 10.0 * static_cast<double>(np),
               step = 100 + 30 + 10.0 * static_cast<double>(nd);
  ASSERT_EQ(r.requests.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(r.requests[i].replica, i);
    EXPECT_DOUBLE_EQ(r.requests[i].first_token_us, ttft);
    EXPECT_DOUBLE_EQ(r.requests[i].finish_us, ttft + 2 * step);
  }
  EXPECT_DOUBLE_EQ(r.duration_us, ttft + 2 * step);
  EXPECT_EQ(r.steps.size(), 6u);  // a prefill and two decode steps on each replica
  const std::vector<ServingMetrics> per = PerReplicaMetrics(r);
  ASSERT_EQ(per.size(), 2u);
  EXPECT_EQ(per[0].completed, 1);
  EXPECT_DOUBLE_EQ(per[0].ttft_ms.mean, per[1].ttft_ms.mean);
}

// Request 0 needs 9 output tokens, requests 1 and 2 need 3; at most two in flight. Request 2 is
// sent when request 1 finishes (replica 1 idle, replica 0 still on request 0).
RunConfig UnevenTwoReplicaLoad(const std::string& method) {
  RunConfig c = Base();
  const std::string trace = ::testing::TempDir() + "/uneven_" + method + ".jsonl";
  std::ofstream(trace)
      << "{\"input_len\": 128, \"output_len\": 9}\n{\"input_len\": 128, \"output_len\": 3}\n"
         "{\"input_len\": 128, \"output_len\": 3}\n";
  c.dataset_name = "trace";
  c.dataset_path = trace;
  c.num_prompts = 3;
  c.max_concurrency = 2;
  c.dp_size = 2;
  c.load_balance_method = method;
  return c;
}

TEST(Serving, RoundRobinSendsTheThirdRequestToTheBusyReplica) {
  const ResolvedRun s = ResolveRun(UnevenTwoReplicaLoad("round_robin"));
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[2].replica, 0);  // its turn, though replica 0 still decodes request 0
  EXPECT_DOUBLE_EQ(r.requests[2].sent_us, r.requests[1].finish_us);
}

TEST(Serving, ShortestQueueSendsTheThirdRequestToTheIdleReplica) {
  const ResolvedRun s = ResolveRun(UnevenTwoReplicaLoad("shortest_queue"));
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[2].replica, 1);  // replica 1 has none in flight, replica 0 one
  // Alone on replica 1, it runs exactly as request 1 did there.
  EXPECT_DOUBLE_EQ(r.requests[2].first_token_us - r.requests[2].sent_us,
                   r.requests[1].first_token_us - r.requests[1].sent_us);
  EXPECT_DOUBLE_EQ(r.requests[2].finish_us - r.requests[2].sent_us,
                   r.requests[1].finish_us - r.requests[1].sent_us);
}

// bench_serving's aggregate figures on two hand-made requests.
//   A: sent 0 s, tokens at 0.5, 0.9, 1.2 s (3 output, 10 input); B: sent 1.0 s, tokens at 1.5,
//   1.6 s (2 output, 20 input); the run lasts 2 s.
// The MLA decode scenario (configs/runs/deepseek-v3-a3-mla.yaml, shortened): DeepSeek-V3 W8A8 on
// 16 A3 dies, DP attention in 4 groups, DeepEP, NEXTN 1/2. The latent cache costs every rank
// 61 layers x 576 x 2 B = 70272 B per token (no per-head K and V, no TP split); 8 requests of
// 2048 tokens go round robin over the 4 groups (2 each), and every decode round is a verify of 2
// tokens per request through the absorbed form.
TEST(Serving, TheDeepseekMlaScenarioCachesOneLatentPerTokenAndLayer) {
  RunConfig c =
      LoadRunConfig(std::string(NPUSIM_SOURCE_DIR) + "/configs/runs/deepseek-v3-a3-mla.yaml",
                    {{"num_prompts", "8"}, {"max_concurrency", "8"}, {"random_output_len", "4"}});
  const ResolvedRun s = ResolveRun(c);
  EXPECT_EQ(s.memory.kv_per_token, 61 * 576 * 2);
  EXPECT_EQ(s.shapes.q_heads, 32);  // 128 heads over an attention TP of 4
  StepShape verify;
  verify.kind = ForwardKind::kVerify;
  verify.batch = 2;
  verify.tokens = 2;
  verify.prefix = 2048;
  verify.quant = WeightQuant::kW8A8;
  for (const KernelCall& k : StepKernels(s.model, s.plan, verify))
    if (k.op == "fused_infer_attention_score") {
      EXPECT_EQ(k.count, 61);
      EXPECT_THAT(k.params, ::testing::Contains(
                                std::make_pair(std::string("kv_cache"), std::string("latent"))));
    }
  FixedTimer timer(10);
  const ServingResult r = RunServing(s, timer);
  ASSERT_EQ(r.requests.size(), 8u);
  for (const RequestRecord& q : r.requests) EXPECT_EQ(q.output_len, 4);
}

TEST(Metrics, BenchServingAggregatesOnHandMadeRequests) {
  ServingResult r;
  r.duration_us = 2e6;
  RequestRecord a, b;
  a.input_len = 10, a.output_len = 3, a.sent_us = 0, a.first_token_us = 0.5e6, a.finish_us = 1.2e6,
  a.token_times_us = {0.5e6, 0.9e6, 1.2e6};
  b.input_len = 20, b.output_len = 2, b.sent_us = 1.0e6, b.first_token_us = 1.5e6,
  b.finish_us = 1.6e6, b.token_times_us = {1.5e6, 1.6e6};
  r.requests = {a, b};
  const ServingMetrics m = ComputeMetrics(r);
  EXPECT_DOUBLE_EQ(m.total_throughput, (30 + 5) / 2.0);
  EXPECT_DOUBLE_EQ(m.e2e_ms.mean, 900);
  EXPECT_DOUBLE_EQ(m.e2e_ms.std, 300);    // population std of {1200, 600}
  EXPECT_DOUBLE_EQ(m.concurrency, 0.9);   // (1.2 + 0.6) s of latency over 2 s
  EXPECT_DOUBLE_EQ(m.tpot_ms.mean, 225);  // A (1200 - 500) / 2 = 350, B 100 / 1 = 100
  EXPECT_DOUBLE_EQ(m.tpot_ms.std, 125);
  EXPECT_NEAR(m.itl_ms.p95, 390, 1e-9);  // {100, 300, 400}: position 1.9 -> 300 + 0.9 x 100
  EXPECT_DOUBLE_EQ(m.itl_ms.max, 400);
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 3);  // second 0: 2 tokens, second 1: 3
  EXPECT_EQ(m.max_concurrent_requests, 2);         // A and B overlap in [1.0, 1.2] s
}

}  // namespace
}  // namespace npusim
