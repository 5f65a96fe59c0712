// Run configs (strict keys, --set, derived views) and the request sources.
#include "workloads/run_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "model/error.h"
#include "workloads/requests.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const std::string& yaml,
                    const std::vector<std::pair<std::string, std::string>>& sets = {}) {
  try {
    ParseRunConfig(yaml, "run.yaml", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(RunConfig, NamesTheOffendingKeyItsPlaceAndTheNearestValidOne) {
  EXPECT_THAT(ErrorOf("model: m.json\nmax_runing_requests: 8\n"),
              HasSubstr("run.yaml:2:1: unknown key 'max_runing_requests' (nearest valid: "
                        "'max_running_requests')"));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"gdn_decode_imp", "fused"}}),
              HasSubstr("unknown key 'gdn_decode_imp' (nearest valid: 'gdn_decode_impl')"));
  EXPECT_THAT(ErrorOf("model: m.json\ngdn_decode_impl: fusd\n"),
              HasSubstr("'gdn_decode_impl' cannot be 'fusd' (nearest valid: 'fused')"));
  EXPECT_THAT(ErrorOf("model: m.json\ntp_size: two\n"),
              HasSubstr("run.yaml:2:10: 'tp_size' expects an integer"));
  // A switch is read when the file is: the error has its place, whether or not a later step
  // would have looked at the key.
  EXPECT_THAT(ErrorOf("model: m.json\nenable_dp_attention: yes please\n"),
              HasSubstr("run.yaml:2:22: 'enable_dp_attention' takes true or false"));
  EXPECT_THAT(ErrorOf("model: m.json\ntrace_kernels: 2\n"),
              HasSubstr("run.yaml:2:16: 'trace_kernels' takes true or false, got '2'"));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"disable_radix_cache", "on"}}),
              HasSubstr("'disable_radix_cache' takes true or false, got 'on'"));
  EXPECT_THAT(ErrorOf("model: m.json\nspeculative_algorithm: NEXTN\nspeculative_num_steps: "
                      "3\nspeculative_num_draft_tokens: 3\n"),
              HasSubstr("must be speculative_num_steps + 1 (4)"));
  EXPECT_THAT(
      ErrorOf("model: m.json\ntp_size: 4\ndp_size: 2\nload_balance_method: shortest_queu\n"),
      HasSubstr("(nearest valid: 'shortest_queue')"));
  EXPECT_THAT(ErrorOf("tp_size: 4\n"), HasSubstr("missing key 'model'"));
  EXPECT_THAT(ErrorOf("model: m.json\nspeculative_accept_rates: [0.5, 1.5]\n"),
              HasSubstr("run.yaml:2:33: 'speculative_accept_rates' takes numbers in [0, 1], got "
                        "'1.5'"));
  EXPECT_THAT(
      ErrorOf("model: m.json\ncuda_graph_bs: [8, 0]\n"),
      HasSubstr("run.yaml:2:20: 'cuda_graph_bs' takes integers in [1, 1000000000] (requests), "
                "got '0'"));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"cuda_graph_bs", "[4, 0]"}}),
              HasSubstr("'cuda_graph_bs' takes integers in [1, 1000000000] (requests), got '0'"));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"cuda_graph_bs", "4,x"}}),
              HasSubstr("'cuda_graph_bs' takes integers in [1, 1000000000] (requests), got 'x'"));
}

// Issue #15: a bad --set value was blamed on the file's line of the key it overrides; it is the
// command line's mistake and says so.
TEST(RunConfig, ABadSetValueIsBlamedOnTheSetNotOnTheFile) {
  const std::string e = ErrorOf("model: m.json\ntp_size: 2\n", {{"tp_size", "two"}});
  EXPECT_THAT(e, HasSubstr("--set tp_size=two: 'tp_size' expects an integer"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("run.yaml:2")));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"max_running_requests", "0"}}),
              HasSubstr("--set max_running_requests=0: value 0"));
}

// Issue #15 part 2: a rule across keys (and a value checked after parsing) names the line and
// column of the key it blames, or the --set that gave it, not just the file.
TEST(RunConfig, ACrossKeyRuleNamesThePlaceOfTheKeyItBlames) {
  EXPECT_THAT(ErrorOf("model: m.json\npage_size: 128\nmamba_track_interval: 100\n"),
              HasSubstr("run.yaml:3:23: mamba_track_interval (100)"));
  EXPECT_THAT(ErrorOf("model: m.json\nfault: transposed_state\n"),
              HasSubstr("run.yaml:2:8: fault 'transposed_state' needs mode: functional"));
  EXPECT_THAT(ErrorOf("model: m.json\n\ngdn_decode_impl: fusd\n"),
              HasSubstr("run.yaml:3:18: 'gdn_decode_impl' cannot be 'fusd'"));
  // A rate is a number above 0 (the range is open at 0) or inf.
  EXPECT_THAT(
      ErrorOf("model: m.json\nrequest_rate: -3\n"),
      HasSubstr("run.yaml:2:15: value -3 of 'request_rate' is out of range (0, inf] req/s"));
  EXPECT_THAT(ErrorOf("model: m.json\nrequest_rate: 0\n"),
              HasSubstr("run.yaml:2:15: value 0 of 'request_rate' is out of range (0, inf]"));
  EXPECT_THAT(ErrorOf("model: m.json\nrequest_rate: .nan\n"),
              HasSubstr("run.yaml:2:15: value .nan of 'request_rate' is out of range"));
  EXPECT_THAT(ErrorOf("model: m.json\nrequest_rate: fast\n"),
              HasSubstr("run.yaml:2:15: 'request_rate' expects a number (req/s), got 'fast'"));
  EXPECT_THAT(ErrorOf("model: m.json\n", {{"request_rate", "0"}}),
              HasSubstr("value 0 of 'request_rate' is out of range (0, inf]"));
  EXPECT_THAT(
      ErrorOf("model: m.json\nfault: none\n", {{"fault", "conv_state_shift"}}),
      HasSubstr("--set fault=conv_state_shift: fault 'conv_state_shift' needs mode: functional"));
}

TEST(RunConfig, ListsSetsAndDerivedPlans) {
  const RunConfig c = ParseRunConfig(
      "model: ../models/x.json\ntp_size: 16\ndp_size: 4\nep_size: 16\nenable_dp_attention: "
      "true\nenable_dp_lm_head: true\n"
      "moe_a2a_backend: deepep\nmax_running_requests: 96\ncuda_graph_bs: [24, 8]\n",
      "configs/runs/r.yaml", {{"gdn_decode_impl", "triton_chain"}, {"cuda_graph_bs", "1,2"}});
  EXPECT_EQ(c.gdn_decode_impl, "triton_chain");
  EXPECT_EQ(c.cuda_graph_bs, (std::vector<int64_t>{1, 2}));
  // --set takes a list in YAML's flow form too.
  EXPECT_EQ(
      ParseRunConfig("model: x.json\n", "r.yaml", {{"speculative_accept_rates", "[0.9, 0.5]"}})
          .AcceptRates(),
      (std::vector<double>{0.9, 0.5}));
  const ParallelPlan p = c.Plan();
  EXPECT_EQ(p.tp, 16);
  EXPECT_EQ(p.dp, 4);
  EXPECT_TRUE(p.a2a);
  EXPECT_TRUE(p.dp_lm_head);
  EXPECT_EQ(c.Memory().max_running_requests, 24);  // per DP group
  EXPECT_EQ(c.ModelPath(), "configs/models/x.json");
  EXPECT_TRUE(std::isinf(c.request_rate));
}

// request_rate is a number: YAML's .inf and the "inf" a user (or --set) writes are both
// all-at-once, and config.resolved.yaml writes it back as text that reads the same.
TEST(RunConfig, RequestRateIsANumberOrInf) {
  for (const char* text : {"inf", ".inf", "+Infinity", "INF"})
    EXPECT_TRUE(std::isinf(
        ParseRunConfig(std::string("model: m.json\nrequest_rate: ") + text + "\n", "run.yaml", {})
            .request_rate))
        << text;
  EXPECT_DOUBLE_EQ(
      ParseRunConfig("model: m.json\nrequest_rate: 2.5\n", "run.yaml", {}).request_rate, 2.5);
  const RunConfig set =
      ParseRunConfig("model: m.json\nrequest_rate: 3\n", "run.yaml", {{"request_rate", "inf"}});
  EXPECT_TRUE(std::isinf(set.request_rate));
  EXPECT_THAT(set.ResolvedYaml(), HasSubstr("\nrequest_rate: inf\n"));
  const RunConfig slow = ParseRunConfig("model: m.json\nrequest_rate: 0.125\n", "run.yaml", {});
  EXPECT_THAT(slow.ResolvedYaml(), HasSubstr("\nrequest_rate: 0.125\n"));
}

TEST(Requests, RandomLengthsStayInTheRangeAndRepeatWithTheSeed) {
  RunConfig c;
  c.num_prompts = 500;
  c.random_input_len = 1000;
  c.random_output_len = 200;
  c.random_range_ratio = 0.25;
  c.context_length = 100000;
  const auto a = GenerateRequests(c), b = GenerateRequests(c);
  ASSERT_EQ(a.size(), 500u);
  int64_t min_in = 1 << 30, max_in = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].input_len, b[i].input_len);
    EXPECT_GE(a[i].output_len, 50);
    EXPECT_LE(a[i].output_len, 200);
    EXPECT_EQ(a[i].arrival_us, 0);  // request_rate inf
    min_in = std::min(min_in, a[i].input_len);
    max_in = std::max(max_in, a[i].input_len);
  }
  EXPECT_GE(min_in, 250);
  EXPECT_LE(max_in, 1000);
  EXPECT_LT(min_in, 300);  // 500 draws cover the range
  EXPECT_GT(max_in, 950);
  c.seed = 2;
  EXPECT_NE(GenerateRequests(c)[0].input_len + GenerateRequests(c)[1].input_len,
            a[0].input_len + a[1].input_len);
}

TEST(Requests, PoissonArrivalsHaveTheConfiguredRate) {
  RunConfig c;
  c.num_prompts = 4000;
  c.request_rate = 8;
  c.random_input_len = 10;
  c.random_output_len = 10;
  const auto r = GenerateRequests(c);
  // Mean gap of 4000 exponential draws at 8/s: 125 ms with a standard error of 2 ms.
  const double mean_gap_ms = r.back().arrival_us / 1e3 / 3999.0;
  EXPECT_NEAR(mean_gap_ms, 125.0, 8.0);
  for (size_t i = 1; i < r.size(); ++i) EXPECT_GE(r[i].arrival_us, r[i - 1].arrival_us);
}

TEST(Requests, TraceLinesAreCheckedWithTheirLineNumbers) {
  const std::string path = ::testing::TempDir() + "/trace.jsonl";
  std::ofstream(path) << "# comment\n{\"input_len\": 100, \"output_len\": 20, \"arrival_s\": "
                         "0.5}\n\n{\"input_len\": 7, \"output_len\": 3}\n";
  const auto r = ReadTrace(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].input_len, 7);  // sorted by arrival
  EXPECT_EQ(r[1].arrival_us, 500000);
  std::ofstream(path) << "{\"input_len\": 100, \"output_length\": 20}\n";
  try {
    ReadTrace(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(
        e.what(),
        HasSubstr("trace.jsonl:1:20: unknown key 'output_length' (nearest valid: 'output_len')"));
  }
}

// Issue #15: yaml-cpp kept the first of two equal keys without a word.
TEST(RunConfig, AKeyGivenTwiceIsRefusedAtTheSecond) {
  try {
    ParseRunConfig("model: m.json\ntp_size: 4\ntp_size: 2\n", "r.yaml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("r.yaml:3:1: key 'tp_size' is given twice"));
  }
}

// Issue #15: 2^63 - 1 input tokens wrapped input + output past the context check and hung the run.
TEST(Requests, TraceLengthsThatWouldOverflowAreRefused) {
  const std::string path = ::testing::TempDir() + "/huge.jsonl";
  std::ofstream(path) << "{\"input_len\": 9223372036854775807, \"output_len\": 1}\n";
  try {
    ReadTrace(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("huge.jsonl:1: 'input_len' must be an integer in [1, 1e9]"));
  }
}

// Issue #15: a request_rate of 1e-6 or an arrival_s of 1e300 / inf saturated the simulated clock
// (requests "sent" at 9.2e9 ms with TTFT 0, counted in the means).
TEST(Requests, ArrivalsPastTheSimulatedClocksRangeAreRefused) {
  RunConfig c;
  c.num_prompts = 16;
  c.request_rate = 1e-6;
  try {
    GenerateRequests(c);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("past the 1e6 s a run can simulate"));
  }
  c.request_rate = 0.001;  // 16 arrivals over ~4 hours: fine
  EXPECT_EQ(GenerateRequests(c).size(), 16u);
  const std::string path = ::testing::TempDir() + "/late.jsonl";
  for (const char* when : {"1e300", ".inf"}) {
    std::ofstream(path) << "{\"input_len\": 10, \"output_len\": 1, \"arrival_s\": " << when
                        << "}\n";
    try {
      ReadTrace(path);
      FAIL() << when;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(),
                  HasSubstr("late.jsonl:1: 'arrival_s' must be a time in [0, 1e6] seconds"))
          << when;
    }
  }
}

}  // namespace
}  // namespace npusim
