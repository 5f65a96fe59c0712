// `npusim run` end to end: the shipped run configs, scenarios S1, S2 and S7 at serving level,
// outputs, determinism and the exit codes of bad input and simulated failures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/app/npusim_process.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string Runs(const std::string& name) {
  return std::string(NPUSIM_SOURCE_DIR) + "/configs/runs/" + name;
}
Json Metrics(const std::string& dir) { return Json::parse(Slurp(dir + "/metrics.json")); }

double KernelMs(const Json& m, const std::string& op) {
  for (const auto& k : m["kernel_share"])
    if (k["op"] == op) return k["device_ms"].get<double>();
  return 0;
}

// --cache DIR keeps the kernel profiles under DIR (one stamp directory per simulator build) and a
// warm run answers from them with the same outputs; --no-cache remembers nothing, even with
// NPUSIM_KERNEL_CACHE set; both at once is a usage error.
TEST(Run, CacheFlagsChooseWhereKernelProfilesAreKept) {
  namespace fs = std::filesystem;
  const std::string cache = Dir("flag_cache"), other = Dir("env_cache") + "/kernels";
  const std::string run = "run " + Runs("quickstart.yaml") + " --set num_prompts=2 --quiet";
  ASSERT_EQ(Npusim(run + " --cache " + cache + " --out " + Dir("cache_cold")).code, 0);
  // One stamp directory, and beside it the binary's remembered hash (a `.exe-` file).
  std::vector<fs::path> stamps, memos;
  for (const auto& e : fs::directory_iterator(cache))
    (e.is_directory() ? stamps : memos).push_back(e.path());
  ASSERT_EQ(stamps.size(), 1u);
  ASSERT_EQ(memos.size(), 1u);
  EXPECT_EQ(memos[0].filename().string().rfind(".exe-", 0), 0u) << memos[0];
  EXPECT_EQ(stamps[0].filename().string().rfind("code-", 0), 0u) << stamps[0];
  const auto entries = std::distance(fs::directory_iterator(stamps[0]), fs::directory_iterator());
  EXPECT_GT(entries, 10);
  ASSERT_EQ(Npusim(run + " --cache " + cache + " --out " + Dir("cache_warm")).code, 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(stamps[0]), fs::directory_iterator()), entries);
  for (const char* f : {"metrics.json", "kernel_calls.csv", "report.md"})
    EXPECT_EQ(Slurp(Dir("cache_cold") + "/" + f), Slurp(Dir("cache_warm") + "/" + f)) << f;
  ASSERT_EQ(Shell("NPUSIM_KERNEL_CACHE=" + other + " " + NPUSIM_BIN + " " + run +
                  " --no-cache --out " + Dir("cache_none") + " 2>&1")
                .code,
            0);
  EXPECT_FALSE(fs::exists(other));
  const Result both = Npusim(run + " --cache " + cache + " --no-cache --out " + Dir("cache_both"));
  EXPECT_EQ(both.code, 2);
  EXPECT_THAT(both.output, HasSubstr("--cache and --no-cache"));
}

TEST(Run, QuickstartWritesEveryFileAndRepeatsByteForByte) {
  const std::string a = Dir("quick_a"), b = Dir("quick_b");
  Result r = Npusim("run " + Runs("quickstart.yaml") + " --out " + a);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("16/16 requests done"));  // progress on stderr
  r = Npusim("explore " + std::string(NPUSIM_SOURCE_DIR) +
             "/configs/explore/move_intermediate_cache.yaml --quiet --out " + a + "_x");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(Npusim("explore " + std::string(NPUSIM_SOURCE_DIR) +
                   "/configs/explore/move_intermediate_cache.yaml --quiet --out " + b + "_x")
                .code,
            0);
  for (const char* f : {"metrics.json", "points.csv", "report.md", "report.html"})
    EXPECT_EQ(Slurp(a + "_x/" + f), Slurp(b + "_x/" + f)) << f;
  ASSERT_EQ(Npusim("run " + Runs("quickstart.yaml") + " --quiet --out " + b).code, 0);
  for (const char* f : {"metrics.json", "config.resolved.yaml", "requests.csv", "kernel_calls.csv",
                        "trace.json", "report.md", "report.html"}) {
    ASSERT_TRUE(std::filesystem::exists(a + "/" + f)) << f;
    EXPECT_EQ(Slurp(a + "/" + f), Slurp(b + "/" + f)) << f;
  }
  const Json m = Metrics(a);
  EXPECT_EQ(m["completed"], 16);
  EXPECT_EQ(m["total_output_tokens"], 16 * 256);
  // bench_serving's result fields, by its names.
  for (const char* k : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_latency_ms"})
    for (const char* s : {"mean_", "median_", "p90_", "p99_", "max_"})
      EXPECT_GT(m[s + std::string(k)].get<double>(), 0) << s << k;
  for (const char* k : {"duration", "total_throughput", "concurrency", "max_output_tokens_per_s",
                        "max_concurrent_requests", "std_ttft_ms", "p95_itl_ms", "request_rate",
                        "random_input_len", "backend"})
    EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_EQ(m["load"]["num_prompts"], 16);
  EXPECT_GT(m["memory_per_rank_bytes"]["kv_pool"].get<double>(), 0);
  double share = 0;
  for (const auto& k : m["kernel_share"]) share += k["share"].get<double>();
  EXPECT_NEAR(share, 1.0, 1e-3);
  EXPECT_THAT(Slurp(a + "/trace.json"), HasSubstr("\"decode b16 t1 p1024 graph\""));
  EXPECT_THAT(
      Slurp(a + "/requests.csv"),
      HasSubstr("id,dp_group,input_len,output_len,arrival_ms,sent_ms,ttft_ms,tpot_ms,e2e_ms"));
}

// S2: the same deployment with the Triton GDN decode chain and with the fused op. Everything but
// the recurrent GDN kernel is the same in decode, so the decode steps differ by exactly that
// kernel's time (no hand-set factor); the fused op is the faster. (Simulated vs measured TPOT:
// README "Calibration checks".)
TEST(Run, ScenarioS2TheDecodeGapIsTheGdnKernelGap) {
  const std::string t = Dir("s2_triton"), f = Dir("s2_fused");
  Result rt = Npusim("run " + Runs("qwen3-next-80b-a3-tp16.yaml") + " --quiet --out " + t);
  Result rf = Npusim("run " + Runs("qwen3-next-80b-a3-tp16-fused.yaml") + " --quiet --out " + f);
  ASSERT_EQ(rt.code, 0) << rt.output;
  ASSERT_EQ(rf.code, 0) << rf.output;
  const Json mt = Metrics(t), mf = Metrics(f);
  EXPECT_EQ(mt["completed"], 24);
  EXPECT_EQ(
      mt["steps"]["prefill"],
      6);  // 24 requests of 3500 over 4 DP groups, one per group per step (max_prefill_tokens 4000)
  EXPECT_EQ(mt["steps"]["decode"], 1499);
  EXPECT_GT(mt["mean_tpot_ms"].get<double>(), mf["mean_tpot_ms"].get<double>());
  const double steps = mt["steps"]["decode"].get<double>();
  const double step_gap_ms = (mt["steps"]["decode_device_ms"].get<double>() -
                              mf["steps"]["decode_device_ms"].get<double>()) *
                             steps;
  const double kernel_gap_ms =
      KernelMs(mt, "recurrent_gated_delta_rule") - KernelMs(mf, "recurrent_gated_delta_rule");
  EXPECT_GT(kernel_gap_ms, 0);
  EXPECT_NEAR(step_gap_ms, kernel_gap_ms, 1e-3 * kernel_gap_ms);
  EXPECT_THAT(Slurp(t + "/kernel_calls.csv"), HasSubstr("all_to_all"));  // DeepEP dispatch/combine
}

// S1 in a serving run: with an fp32 state pool, the first verify step's commit kernel overflows
// the UB of an A3 die; with the bf16 state the run completes and reports the commit cost (S7).
TEST(Run, ScenarioS1OverflowsAtTheFirstVerifyAndS7ReportsTheCommitCost) {
  const std::string load =
      " --set num_prompts=2 --set random_input_len=256 --set random_output_len=24 --set "
      "random_range_ratio=1";
  const std::string bad = Dir("s1_fp32");
  Result r = Npusim("run " + Runs("qwen3.5-35b-a3-mtp.yaml") + load +
                    " --set mamba_ssm_dtype=float32 --quiet --out " + bad);
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("ub overflow, requires 2097152 bits while 1572864 bits available!"));
  EXPECT_THAT(r.output, HasSubstr("move_intermediate_cache"));
  EXPECT_THAT(r.output, HasSubstr("the run's first verify"));
  EXPECT_EQ(Metrics(bad)["status"], "ub_overflow");

  const std::string ok = Dir("s1_bf16");
  r = Npusim("run " + Runs("qwen3.5-35b-a3-mtp.yaml") + load + " --quiet --out " + ok);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(ok);
  EXPECT_GT(m["accept_length"].get<double>(), 1.0);
  EXPECT_LE(m["accept_length"].get<double>(), 4.0);
  EXPECT_GT(m["mtp_commit"]["ms_per_verify_step"].get<double>(), 0);
  EXPECT_GT(m["memory_per_rank_bytes"]["mtp_spec_caches"].get<double>(), 0);
  // The output says what ran: the --set overrides, in the load section.
  EXPECT_EQ(m["load"]["overrides"]["random_output_len"], "24");
  EXPECT_EQ(m["random_output_len"], 24);
  EXPECT_THAT(Slurp(ok + "/report.md"),
              HasSubstr("state commit (move_intermediate_cache + conv_state_rollback)"));
}

// Functional serving runs of the reduced model: numbers alongside the timed run.
TEST(Run, ASharedPrefixLoadComputesEachPromptOnlyPastItsCachedState) {
  const std::string on = Dir("gsp_on"), off = Dir("gsp_off");
  Result r = Npusim("run " + Runs("qwen3.5-35b-a3-shared-prefix.yaml") + " --quiet --out " + on);
  ASSERT_EQ(r.code, 0) << r.output;
  r = Npusim(
      "run " + Runs("qwen3.5-35b-a3-shared-prefix.yaml") +
      " --set disable_radix_cache=true --set mamba_scheduler_strategy=no_buffer --quiet --out " +
      off);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json mon = Metrics(on), moff = Metrics(off);
  // The config's header derives it: 4352 + 2048 + 4 x 3840 of 6 x 4500 prompt tokens.
  EXPECT_EQ(mon["prefix_cache"]["cached_tokens"].get<int64_t>(), 21760);
  EXPECT_NEAR(mon["prefix_cache"]["hit_rate"].get<double>(), 21760.0 / 27000.0, 1e-5);
  EXPECT_EQ(moff["prefix_cache"]["cached_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(moff["prefix_cache"]["enabled"].get<bool>(), false);
  const std::string csv = Slurp(on + "/requests.csv");
  EXPECT_THAT(csv, HasSubstr(",4352,0\n"));  // request 0 (replica 0): the warm-up's own prompt
  // Prefill work falls with the hit rate: requests 2-5 compute 660 of 4500 tokens each.
  EXPECT_LT(mon["mean_ttft_ms"].get<double>(), 0.5 * moff["mean_ttft_ms"].get<double>());
  EXPECT_THAT(Slurp(on + "/report.md"),
              HasSubstr("prefix cache: 21760 of 27000 prompt tokens were cached"));
}

TEST(Run, TwoReplicasServeTwiceTheLoadOfOneInTheSameTime) {
  const std::string two = Dir("dp2"), one = Dir("dp1");
  Result r = Npusim("run " + Runs("qwen3-8b-dp2.yaml") + " --quiet --out " + two);
  ASSERT_EQ(r.code, 0) << r.output;
  r = Npusim("run " + Runs("qwen3-8b-dp2.yaml") +
             " --set dp_size=1 --set num_prompts=8 --quiet --out " + one);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m2 = Metrics(two), m1 = Metrics(one);
  // Round robin: each replica gets 8 identical requests and runs the one-replica timeline.
  EXPECT_EQ(m2["duration"].get<double>(), m1["duration"].get<double>());
  // metrics.json keeps 6 significant digits: twice 629.209 is written 1258.42.
  EXPECT_NEAR(m2["output_throughput"].get<double>() / m1["output_throughput"].get<double>(), 2.0,
              1e-5);
  ASSERT_EQ(m2["replicas"]["per_replica"].size(), 2u);
  for (const auto& rep : m2["replicas"]["per_replica"])
    EXPECT_EQ(rep["completed"].get<int64_t>(), 8);
  EXPECT_EQ(m2["parallel"]["replicas"].get<int64_t>(), 2);
  EXPECT_FALSE(m1.contains("replicas"));
  EXPECT_THAT(Slurp(two + "/report.md"),
              HasSubstr("replicated DP: 2 replicas of tp 1 (round_robin router, 2 chips)"));
  // Two servers of one replica each are the same two replicas behind the router.
  const std::string servers = Dir("servers2");
  r = Npusim("run " + Runs("qwen3-8b-dp2.yaml") +
             " --set dp_size=1 --set servers=2 --quiet --out " + servers);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json ms = Metrics(servers);
  EXPECT_EQ(ms["duration"].get<double>(), m2["duration"].get<double>());
  EXPECT_EQ(ms["replicas"]["per_replica"], m2["replicas"]["per_replica"]);
  EXPECT_EQ(ms["parallel"]["replicas"].get<int64_t>(), 2);
}

// A KV hand-off ending between two SystemC ticks (1 ps): the decode replica's wait for it ended
// half a tick early and `end > now` never passed, so the host spun at that moment forever
// (3000-token prompts end their transfers at such a time; 4096-token ones did not). Now it
// finishes.
TEST(Run, APdHandOffEndingBetweenTicksIsTakenWhenItsWaitEnds) {
  const std::string out = Dir("pd_tick");
  const Result r = Npusim(
      "run " + Runs("qwen3-8b-1p1d.yaml") +
      " --set num_prompts=4 --set random_input_len=3000 --set random_output_len=16 --quiet --out " +
      out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Metrics(out)["completed"].get<int64_t>(), 4);
}

TEST(Run, PdHandOffAddsTheKvTransferToTtft) {
  const std::string pd = Dir("pd"), uni = Dir("pd_unified");
  Result r =
      Npusim("run " + Runs("qwen3-8b-1p1d.yaml") + " --set num_prompts=1 --quiet --out " + pd);
  ASSERT_EQ(r.code, 0) << r.output;
  // The prefill pool's server arguments as one unified server: the same lone prefill.
  std::filesystem::create_directories(uni);
  const std::string yaml = uni + "/unified.yaml";
  std::ofstream(yaml) << "model: " << NPUSIM_SOURCE_DIR << "/configs/models/qwen3-8b.json\n"
                      << "device: Ascend910_9392\nquantization: w8a8_dynamic\ncontext_length: "
                         "8192\nchunked_prefill_size: 8192\n"
                         "max_prefill_tokens: 16384\nmem_fraction_static: 0.8\ntp_size: "
                         "1\nmax_running_requests: 16\n"
                         "disable_cuda_graph: true\nnum_prompts: 1\nrandom_input_len: "
                         "4096\nrandom_output_len: 256\n"
                         "request_rate: 4\nmax_concurrency: 32\n";
  r = Npusim("run " + yaml + " --quiet --out " + uni + "/out");
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(pd), u = Metrics(uni + "/out");
  // 4096 tokens x 36 layers x 2 (K, V) x 8 KV heads x 128 x 2 B = 603,979,776 B over one 19.3 GB/s
  // stream, plus the 50 us per request (configs/devices/Ascend910_9392.yaml links).
  const double transfer_ms = (603979776.0 / 19.3e3 + 50.0) / 1e3;
  const Json& d = m["disaggregation"];
  EXPECT_NEAR(d["mean_transfer_ms"].get<double>(), transfer_ms,
              1e-4);  // metrics.json keeps 6 significant digits
  EXPECT_EQ(d["mean_transfer_wait_ms"].get<double>(), 0.0);  // an idle decode pool takes it at once
  EXPECT_NEAR(m["mean_ttft_ms"].get<double>() - u["mean_ttft_ms"].get<double>(), transfer_ms,
              2e-3);  // each TTFT to 1 us
  ASSERT_EQ(d["pools"].size(), 2u);
  EXPECT_EQ(d["pools"][0]["pool"], "prefill");
  EXPECT_EQ(d["pools"][1]["steps"].get<int64_t>(),
            255);  // 256 tokens: the first came from the prefill pool
  EXPECT_THAT(Slurp(pd + "/report.md"), HasSubstr("PD disaggregation: prefill 1 x tp 1"));
  // --set POOL.KEY sets a key in one pool only (capacity --try sizes pools the same way).
  r = Npusim("run " + Runs("qwen3-8b-1p1d.yaml") +
             " --set num_prompts=1 --set decode.tp_size=2 --quiet --out " + pd + "_tp2");
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m2 = Metrics(pd + "_tp2");
  EXPECT_EQ(m2["disaggregation"]["pools"][0]["tp_size"].get<int64_t>(), 1);
  EXPECT_EQ(m2["disaggregation"]["pools"][1]["tp_size"].get<int64_t>(), 2);
  // Each decode rank receives half the KV heads (301,989,888 B), but the one prefill rank sends
  // them all: the larger share, 603,979,776 B, sets the time, as with TP1 on both sides.
  EXPECT_NEAR(m2["disaggregation"]["mean_transfer_ms"].get<double>(), transfer_ms, 1e-4);
  EXPECT_THAT(Slurp(pd + "_tp2/config.resolved.yaml"), HasSubstr("decode: {tp_size: 2,"));
  EXPECT_EQ(Npusim("run " + Runs("qwen3-8b-1p1d.yaml") +
                   " --set prefill.num_prompts=3 --quiet --out " + pd + "_x")
                .code,
            2);
  r = Npusim("run " + Runs("qwen3-8b-1p1d.yaml") + " --set middle.tp_size=3 --quiet --out " + pd +
             "_x");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("a dotted key names a PD pool"));
  // A pool takes server arguments only: the load is the run's (exit 2 at the key).
  const std::string bad = uni + "/bad.yaml";
  std::ofstream(bad) << "model: " << NPUSIM_SOURCE_DIR
                     << "/configs/models/qwen3-8b.json\nprefill:\n  tp_size: 1\n  num_prompts: "
                        "3\ndecode:\n  tp_size: 1\n";
  r = Npusim("run " + bad + " --quiet --out " + uni + "/bad");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:4:3: 'num_prompts' is the whole run's, not a pool's"));
}

TEST(Run, TinyHybridFunctionalReportsTokensComparisonsAndKernelErrors) {
  const std::string out = Dir("tiny");
  Result r = Npusim("run " + Runs("tiny-hybrid-functional.yaml") + " --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(out);
  const Json& f = m["functional"];
  ASSERT_TRUE(f.is_object());
  // Chunking changes bf16 rounding only: first-token logits within bf16 noise; a token may differ
  // only where the reference's top-2 margin is below that noise.
  const Json& c = f["chunked_vs_unchunked"];
  EXPECT_LT(c["max_first_logit_diff"].get<double>(), 0.1);
  EXPECT_LT(c["max_state_diff_after_prefill"].get<double>(), 0.05);
  if (!c["tokens_equal"].get<bool>()) {
    ASSERT_FALSE(c["divergence_top2_margin"].is_null()) << "tokens diverged after the first token";
    EXPECT_LT(c["divergence_top2_margin"].get<double>(), c["max_first_logit_diff"].get<double>());
  }
  // fp32 state: MTP changes nothing (S5).
  EXPECT_TRUE(f["mtp_vs_no_mtp"]["tokens_equal"].get<bool>());
  EXPECT_EQ(f["mtp_vs_no_mtp"]["max_state_diff_same_position"].get<double>(), 0.0);
  EXPECT_GT(f["mtp_vs_no_mtp"]["positions_compared"].get<int>(), 3);
  EXPECT_GE(f["accept_length"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["accept_length"].get<double>() > 0 ? 1.0 : 0.0,
                   1.0);  // the timed run used the model's acceptance
  for (const auto& [op, e] : f["kernel_max_error"].items()) EXPECT_LT(e.get<double>(), 0.02) << op;
  EXPECT_EQ(f["generated_tokens"].size(), 3u);
  EXPECT_THAT(Slurp(out + "/tokens.csv"), HasSubstr("request,run,tokens"));
}

TEST(Run, ScenarioS3TransposedStateDriftsWithKEqualVAndIsAShapeErrorOtherwise) {
  const std::string out = Dir("s3");
  Result r = Npusim("run " + Runs("s3-transposed-state.yaml") + " --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(out);
  const Json& c = m["functional"]["chunked_vs_unchunked"];
  EXPECT_GT(c["max_state_diff_after_prefill"].get<double>(),
            0.5);  // far beyond bf16 rounding (0.02 without the fault)
  r = Npusim("run " + Runs("s3-transposed-state.yaml") +
             " --set model=../models/tiny-hybrid.json --quiet --out " + Dir("s3kv"));
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.output, HasSubstr("with K != V the S3 fault is a shape error"));
}

TEST(Run, ScenarioS6MixedBatchConvStateDamageIsReported) {
  const std::string out = Dir("s6");
  Result r = Npusim("run " + Runs("s6-conv-mixed-batch.yaml") + " --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(out);
  const Json& f = m["functional"];
  EXPECT_GT(f["chunked_vs_unchunked"]["max_state_diff_after_prefill"].get<double>(), 0.05);
  EXPECT_GT(f["kernel_max_error"]["causal_conv1d_fn"].get<double>(),
            0.5);  // the conv kernel against its correct reference
}

TEST(Run, ScenarioS5Bf16StateShowsTheStateErrorOfMtp) {
  const std::string out = Dir("s5");
  Result r = Npusim("run " + Runs("s5-mtp-bf16-state.yaml") + " --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json m = Metrics(out);
  const Json& d = m["functional"]["mtp_vs_no_mtp"];
  EXPECT_GT(d["max_state_diff_same_position"].get<double>(), 0.0);
  EXPECT_GT(d["positions_compared"].get<int>(), 3);
  EXPECT_THAT(Slurp(out + "/report.md"), HasSubstr("MTP vs no MTP: tokens"));
}

// S4 on a reduced Step-3.5: without the explicit mask the sliding layers' decode attends the
// whole context (FIA's band ignored for one query): prefill agrees, decode tokens diverge; the
// missing SwiGLU clamp shows at the first token already.
TEST(Run, ScenarioS4SlidingWindowDecodeWithoutMaskAndTheMissingClamp) {
  std::string out = Dir("s4");
  Result r = Npusim("run " + Runs("s4-step3p5-swa.yaml") + " --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  Json m = Metrics(out);
  const Json& c = m["functional"]["chunked_vs_unchunked"];
  EXPECT_EQ(c["max_first_logit_diff"].get<double>(),
            0.0);  // prefill uses the band with pre_tokens: right
  EXPECT_FALSE(c["tokens_equal"].get<bool>());
  EXPECT_GT(c["first_divergence"]["token"].get<int>(), 0);
  EXPECT_GT(m["functional"]["kernel_max_error"]["fused_infer_attention_score"].get<double>(), 0.5);
  EXPECT_THAT(Slurp(out + "/report.md"),
              HasSubstr("with fault swa_without_mask vs the clean unchunked reference"));

  out = Dir("s4clamp");
  r = Npusim("run " + Runs("s4-step3p5-swa.yaml") + " --set fault=no_swiglu_clamp --quiet --out " +
             out);
  ASSERT_EQ(r.code, 0) << r.output;
  m = Metrics(out);
  EXPECT_GT(m["functional"]["chunked_vs_unchunked"]["max_first_logit_diff"].get<double>(), 0.01);
  EXPECT_LT(m["functional"]["kernel_max_error"]["fused_infer_attention_score"].get<double>(), 0.02);
}

TEST(Explore, WritesThePointsAndRejectsABadConfig) {
  const std::string out = Dir("explore");
  Result r = Npusim("explore " + std::string(NPUSIM_SOURCE_DIR) +
                    "/configs/explore/move_intermediate_cache.yaml --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ub_overflow: requires 2097152 bits, 1572864 available"));
  EXPECT_THAT(r.output, HasSubstr("fastest that fits: Ascend910_9392"));
  const Json m = Metrics(out);
  EXPECT_EQ(m["points"].size(), 24u);
  EXPECT_THAT(Slurp(out + "/points.csv"),
              HasSubstr("index,device,point,status,required_bits,available_bits,time_us"));
  const std::string bad = Dir("explore_bad") + "/bad.yaml";
  std::ofstream(bad) << "kernel: move_intermediate_cache\nsweep:\n  h_blok: [1, 2]\n";
  r = Npusim("explore " + bad);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:3:3: sweep.h_blok"));
}

// Shards of a kernel sweep run separately (one with 2 local processes) and merge into the whole
// grid; a missing shard or a shard given twice is reported with exit 2.
TEST(Sweep, ShardsMergeIntoTheWholeGridAndGapsAreReported) {
  const std::string cfg = std::string(NPUSIM_SOURCE_DIR) + "/configs/sweeps/rms-norm-rows.yaml";
  const std::string a = Dir("sweep_a"), b = Dir("sweep_b"), m = Dir("sweep_m");
  ASSERT_EQ(Npusim("sweep " + cfg + " --shard 1/2 -j 2 --quiet --out " + a).code, 0);
  // The same sweep named another way: the shards are of one grid whatever the path.
  const std::string other_path =
      std::string(NPUSIM_SOURCE_DIR) + "/configs/sweeps/../sweeps/rms-norm-rows.yaml";
  ASSERT_EQ(Npusim("sweep " + other_path + " --shard 2/2 --quiet --out " + b).code, 0);
  const Json ja = Json::parse(Slurp(a + "/sweep.json"));
  EXPECT_EQ(ja["total_points"], 8);
  ASSERT_EQ(ja["points"].size(), 4u);
  for (const auto& p : ja["points"])
    EXPECT_EQ(p["index"].get<int>() % 2, 0);  // shard 1/2: even indices
  Result r = Npusim("merge " + a + " " + b + " --quiet --out " + m);
  ASSERT_EQ(r.code, 0) << r.output;
  const Json jm = Json::parse(Slurp(m + "/sweep.json"));
  ASSERT_EQ(jm["points"].size(), 8u);
  // More rows cost more time at the same tiling: the table carries each point's own figures.
  EXPECT_LT(jm["points"][0]["figures"]["time_us"].get<double>(),
            jm["points"][6]["figures"]["time_us"].get<double>());
  EXPECT_EQ(jm["points"][6]["params"]["tokens"], "4096");
  r = Npusim("merge " + a + " --quiet --out " + Dir("sweep_m1"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("missing points 1, 3, 5, 7"));
  r = Npusim("merge " + a + " " + a + " " + b + " --quiet --out " + Dir("sweep_m2"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("points 0, 2, 4, 6 appear in more than one shard"));
  EXPECT_EQ(Npusim("sweep " + cfg + " --shard 3/2").code, 2);
  // A shard of an edited grid (same file, same point count, another axis value) does not merge.
  const std::string edited_dir = Dir("sweep_edited"), edited = edited_dir + "/rms-norm-rows.yaml";
  std::filesystem::create_directories(edited_dir);
  std::string text = Slurp(cfg);
  const size_t at = text.find("4096");
  ASSERT_NE(at, std::string::npos);
  std::ofstream(edited) << text.replace(at, 4, "2048");
  ASSERT_EQ(Npusim("sweep " + edited + " --shard 2/2 --quiet --out " + edited_dir + "/b").code, 0);
  r = Npusim("merge " + a + " " + edited_dir + "/b --quiet --out " + Dir("sweep_m3"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("the sweep or its run config changed between shards"));
}

// Capacity: rising concurrency until an SLO binds (tight p99 TPOT), or until memory does (a
// small max_running_requests caps the concurrent requests before any SLO is met... or missed).
TEST(Capacity, NamesTheBindingConstraintAndKeepsTheCurve) {
  const std::string load = " --set random_output_len=32";
  std::string out = Dir("cap_tpot");
  Result r = Npusim("capacity " + Runs("quickstart.yaml") + load +
                    " --set slo_tpot_p99_ms=10 --set capacity_search=both --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  Json m = Metrics(out);
  EXPECT_EQ(m["answer"]["binding"], "tpot");
  // The rate search: every probed rate up to the answer meets the SLO, every one above misses it,
  // and the bracket around the answer is within the search's 10 % tolerance.
  EXPECT_EQ(m["answer"]["rate_binding"], "tpot");
  const double max_rate = m["answer"]["max_request_rate"].get<double>();
  EXPECT_GT(max_rate, 0);
  double above = 1e300;
  for (const auto& p : m["rate_curve"]) {
    const double rate = p["request_rate"].get<double>();
    if (rate <= max_rate) {
      EXPECT_LE(p["tpot_p99_ms"].get<double>(), 10.0) << rate;
    } else {
      EXPECT_GT(p["tpot_p99_ms"].get<double>(), 10.0) << rate;
      above = std::min(above, rate);
    }
  }
  EXPECT_LE(above / max_rate, 1.1 + 1e-6);
  const int64_t answer = m["answer"]["max_concurrency"].get<int64_t>();
  ASSERT_GE(m["curve"].size(), 2u);
  for (const auto& p :
       m["curve"]) {  // every point up to the answer meets the SLO, the next one does not
    if (p["concurrency"].get<int64_t>() <= answer)
      EXPECT_LE(p["tpot_p99_ms"].get<double>(), 10.0);
    else
      EXPECT_GT(p["tpot_p99_ms"].get<double>(), 10.0);
  }
  EXPECT_GT(m["max_requests_by_memory"].get<int64_t>(), answer);
  out = Dir("cap_mem");
  r = Npusim("capacity " + Runs("quickstart.yaml") + load +
             " --set max_running_requests=4 --set capacity_search=both --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  m = Metrics(out);
  EXPECT_EQ(m["answer"]["rate_binding"], "no SLO given");  // a rate search needs an objective
  EXPECT_TRUE(m["rate_curve"].empty());
  EXPECT_EQ(m["max_requests_by_memory"], 4);
  EXPECT_EQ(m["answer"]["binding"], "memory");
  EXPECT_EQ(m["answer"]["max_concurrency"], 4);
  EXPECT_THAT(Slurp(out + "/report.md"), HasSubstr("binding constraint: memory"));
  // Knobs compared: TP 2 does not fit the weights, TP 4 does; the recommendation is a fitting one.
  out = Dir("cap_try");
  r = Npusim("capacity " + Runs("quickstart.yaml") + load +
             " --set max_running_requests=4 --set capacity_search=concurrency --try tp_size=2,4 "
             "--quiet --out " +
             out);
  ASSERT_EQ(r.code, 0) << r.output;
  m = Metrics(out);
  ASSERT_EQ(m["variants"].size(), 2u);
  EXPECT_EQ(m["variants"][0]["binding"], "out_of_memory");
  EXPECT_EQ(m["variants"][1]["max_concurrency"], 4);
  EXPECT_EQ(m["recommended_variant"], 1);
}

TEST(Run, BadInputIsExit2AndOutOfMemoryIsExit3) {
  Result r = Npusim("run " + Runs("quickstart.yaml") + " --set max_runing_requests=4");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(
      r.output,
      HasSubstr("unknown key 'max_runing_requests' (nearest valid: 'max_running_requests')"));
  r = Npusim("run " + Runs("quickstart.yaml") + " --set tp_size=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("does not divide over 3 ranks"));
  r = Npusim("run " + Runs("quickstart.yaml") + " --set random_input_len=5000");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("over context_length 4096"));
  r = Npusim("run " + Runs("quickstart.yaml") + " --set tp_size=1 --out " + Dir("oom"));
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.output, HasSubstr("out of memory on one rank"));
  // A KV pool smaller than one request: a simulated out-of-memory (exit 3), not an exception
  // escaping a SystemC process (it was exit 1, "internal error"); capacity says so without probes.
  r = Npusim("run " + Runs("quickstart.yaml") +
             " --set max_total_tokens=256 --set num_prompts=2 --out " + Dir("kv_too_small"));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("needs 1280 KV tokens, more than the whole KV pool of its group (256)"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("internal error")));
  r = Npusim("capacity " + Runs("quickstart.yaml") +
             " --set max_total_tokens=256 --set slo_tpot_p99_ms=50 --out " +
             Dir("kv_too_small_cap"));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("reserves 1280 KV tokens, more than the KV pool of a DP group (256)"));
  EXPECT_EQ(Npusim("validate " + Runs("qwen3-next-80b-a3-tp16.yaml")).code, 0);
  for (const char* f :
       {"/configs/explore/move_intermediate_cache.yaml", "/configs/sweeps/mtp-draft-tokens.yaml",
        "/configs/sweeps/rms-norm-rows.yaml"}) {
    r = Npusim("validate " + std::string(NPUSIM_SOURCE_DIR) + f);
    EXPECT_EQ(r.code, 0) << f << ": " << r.output;
  }
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

// config.resolved.yaml holds every key after defaults and --set, with absolute paths: run from it
// (from another folder) the outputs are those of the original run, but for the file names.
TEST(Run, ResolvedConfigReRunsToIdenticalOutputs) {
  const std::string a = Dir("resolved_a"), b = Dir("resolved_b");
  Result r = Npusim("run " + std::string(NPUSIM_SOURCE_DIR) +
                    "/configs/runs/quickstart.yaml --set num_prompts=3 --set random_output_len=8 "
                    "--set mem_fraction_static=0.8123456789 --quiet --out " +
                    a);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string resolved = Slurp(a + "/config.resolved.yaml");
  EXPECT_THAT(resolved, HasSubstr("mem_fraction_static: 0.8123456789\n"));  // exact, not %g
  EXPECT_THAT(resolved, HasSubstr("#   --set num_prompts=3\n"));
  r = Npusim("run " + a + "/config.resolved.yaml --quiet --out " + b);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"requests.csv", "kernel_calls.csv"})
    EXPECT_EQ(Slurp(a + "/" + f), Slurp(b + "/" + f)) << f;
  Json ma = Metrics(a), mb = Metrics(b);
  for (Json* m : {&ma, &mb})
    for (const char* k : {"config", "model", "load"}) m->erase(k);
  EXPECT_EQ(ma.dump(), mb.dump());
  const std::string again =
      Slurp(b + "/config.resolved.yaml");  // the same keys and values; only its header differs
  EXPECT_EQ(again.substr(again.find("\nmodel:")), resolved.substr(resolved.find("\nmodel:")));
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

// Issue #15: a point past --point-timeout is killed and reported, the sweep goes on; SIGTERM to
// a sweep stops its running points (they kept writing into the output folder) and leaves no
// output folder behind.
TEST(Sweep, PointTimeoutAndSignalsStopTheChildren) {
  const std::string cfg = std::string(NPUSIM_SOURCE_DIR) + "/configs/sweeps/mtp-draft-tokens.yaml";
  const std::string out = Dir("sweep_timeout");
  Result r = Npusim("sweep " + cfg + " --shard 1/8 --point-timeout 0.05 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(Slurp(out + "/summary.csv"), HasSubstr(",timeout,124"));
  const std::string stopped = Dir("sweep_stopped") + "/out";
  const std::string cmd = "bash -c '" + std::string(NPUSIM_BIN) + " sweep " + cfg +
                          " -j 2 --quiet --out " + stopped +
                          " & p=$!; sleep 1.5; kill -TERM $p; wait $p; echo exit=$?'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  pclose(p);
  EXPECT_THAT(text, HasSubstr("exit=143"));
  // No point process (nor its forked kernel timer) is left: read every process's command line.
  usleep(500000);
  int left = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string line((std::istreambuf_iterator<char>(in)), {});
    std::replace(line.begin(), line.end(), '\0', ' ');
    if (line.find("--out " + stopped + ".partial/points") != std::string::npos) ++left;
  }
  EXPECT_EQ(left, 0);
  EXPECT_FALSE(std::filesystem::exists(stopped));
  // What finished is kept for a resume, stamped with the grid it belongs to.
  EXPECT_TRUE(std::filesystem::exists(stopped + ".partial/grid_id"));
}

// Rerunning a sweep into its folder skips the points that ran to their end (a doctored figure
// of point 2 survives the rerun) and runs the rest (point 5, its completion mark removed); an
// edited grid in the same folder starts over.
TEST(Sweep, ARerunResumesFromTheFinishedPointsOfTheSameGrid) {
  const std::string cfg = std::string(NPUSIM_SOURCE_DIR) + "/configs/sweeps/rms-norm-rows.yaml";
  const std::string out = Dir("sweep_resume");
  ASSERT_EQ(Npusim("sweep " + cfg + " -j 2 --quiet --out " + out).code, 0);
  const Json first = Json::parse(Slurp(out + "/sweep.json"));
  Json doctored = Json::parse(Slurp(out + "/points/2/metrics.json"));
  doctored["time_us"] = 12345.0;
  std::ofstream(out + "/points/2/metrics.json") << doctored.dump();
  std::filesystem::remove(out + "/points/5/exit_code");
  Result r = Npusim("sweep " + cfg + " -j 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("resuming: 7 of 8 points of this grid are already done"));
  const Json second = Json::parse(Slurp(out + "/sweep.json"));
  EXPECT_EQ(second["points"][2]["figures"]["time_us"].get<double>(), 12345.0);
  EXPECT_EQ(second["points"][5]["figures"]["time_us"], first["points"][5]["figures"]["time_us"]);
  EXPECT_TRUE(std::filesystem::exists(out + "/points/5/exit_code"));
  const std::string edited_dir = Dir("sweep_resume_edited"),
                    edited = edited_dir + "/rms-norm-rows.yaml";
  std::filesystem::create_directories(edited_dir);
  std::string text = Slurp(cfg);
  std::ofstream(edited) << text.replace(text.find("4096"), 4, "2048");
  r = Npusim("sweep " + edited + " -j 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("resuming")));
  EXPECT_NE(
      Json::parse(Slurp(out + "/sweep.json"))["points"][2]["figures"]["time_us"].get<double>(),
      12345.0);
}

}  // namespace
}  // namespace npusim
