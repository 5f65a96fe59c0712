// SGLang command lines as input: the launch_server + bench_serving lines of three rows of
// serving-measurements.md import to the run configs the calibration corpus simulates for them
// (every run key equal), arguments that change nothing are listed, ones that would change the
// simulation but are not modelled are refused by name, and SGLang's spellings work in run YAMLs.
#include "workloads/sglang_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/config.h"
#include "model/error.h"
#include "workloads/run_config.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kRuns = std::string(NPUSIM_SOURCE_DIR) + "/configs/calibration/runs/";

// Every run key of two configs, as the run config lists them.
std::vector<std::pair<std::string, std::string>> Keys(RunConfig c) {
  ParamTable t;
  c.Bind(t);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : t.rows()) out.push_back({r.key, r.value});
  return out;
}

void ExpectRoundTrip(const std::string& run, const std::string& server, const std::string& bench,
                     SglangImportOptions o) {
  const SglangImport im = ImportSglang(server, bench, o);
  EXPECT_EQ(Keys(ParseRunConfig(im.Yaml(), kRuns + run)), Keys(LoadRunConfig(kRuns + run)))
      << im.Yaml();
}

TEST(SglangImport, ThreeCorpusRowsRoundTrip) {
  const std::string bench_m13 =
      "python -m sglang.bench_serving --backend sglang --host 127.0.0.1 --port 6688 --dataset-name "
      "random --random-input-len 3500 "
      "--random-output-len 1500 --random-range-ratio 1 --num-prompts 216 --max-concurrency 54 "
      "--request-rate inf";
  SglangImportOptions o;
  o.weights = "w8a8_dynamic";
  o.model = "../../models/qwen3.5-27b.json";
  // M13: Qwen3.6-27B W8A8, TP2, NEXTN 3/4.
  ExpectRoundTrip(
      "m13-qwen3.6-27b-w8a8-tp2.yaml",
      "SGLANG_ENABLE_SPEC_V2=1 SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE=1 "
      "SGLANG_PREFILL_DELAYER_MAX_DELAY_PASSES=130 "
      "python3 -m sglang.launch_server --model-path /models/Qwen3.6-27B-w8a8 --trust-remote-code "
      "--attention-backend ascend --device npu --quantization modelslim --tp-size 2 "
      "--max-running-requests 64 "
      "--context-length 8192 --chunked-prefill-size -1 --max-prefill-tokens 60000 "
      "--mem-fraction-static 0.7 "
      "--max-mamba-cache-size 74 --mamba-ssm-dtype bfloat16 --cuda-graph-bs 2 8 16 32 40 45 50 54 "
      "--disable-radix-cache "
      "--speculative-algorithm NEXTN --speculative-num-steps 3 --speculative-eagle-topk 1 "
      "--speculative-num-draft-tokens 4 "
      "--host 127.0.0.1 --port 6688",
      bench_m13, o);
  // M19: Qwen3-30B-A3B W8A8, TP2, EAGLE3 3/4 (the draft folder's config.json given explicitly
  // here).
  o.model = "../../models/qwen3-30b-a3b.json";
  o.draft_model = "../../models/qwen3-30b-a3b-eagle3.json";
  ExpectRoundTrip(
      "m19-qwen3-30b-a3b-w8a8-tp2-160.yaml",
      "SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE=1 SGLANG_PREFILL_DELAYER_MAX_DELAY_PASSES=200 "
      "python -m sglang.launch_server --model-path /root/.cache/Qwen3-30B-A3B-w8a8 --tp 2 "
      "--quantization modelslim "
      "--max-running-requests 162 --context-length 8192 --chunked-prefill-size -1 "
      "--max-prefill-tokens 35000 "
      "--mem-fraction-static 0.87 --cuda-graph-bs 1 5 15 40 70 100 120 130 140 146 150 154 156 158 "
      "160 162 --dtype bfloat16 "
      "--speculative-algorithm EAGLE3 --speculative-draft-model-path /root/.cache/Qwen3-a3B_eagle3 "
      "--speculative-num-steps 3 "
      "--speculative-eagle-topk 1 --speculative-num-draft-tokens 4 "
      "--speculative-draft-model-quantization unquant --disable-radix-cache",
      "python -m sglang.bench_serving --dataset-name random --random-input-len 3500 "
      "--random-output-len 1500 "
      "--random-range-ratio 1 --num-prompts 640 --max-concurrency 160",
      o);
  // M22: Qwen3-8B W8A8, one die, EAGLE3 3/4; `--arg=value` spellings.
  o.model = "../../models/qwen3-8b.json";
  o.draft_model = "../../models/qwen3-8b-eagle3.json";
  ExpectRoundTrip(
      "m22-qwen3-8b-w8a8-tp1-64.yaml",
      "SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE=1 SGLANG_PREFILL_DELAYER_MAX_DELAY_PASSES=50 "
      "python -m sglang.launch_server --model-path=/models/Qwen3-8B-w8a8 --tp-size=1 "
      "--quantization=modelslim "
      "--max-running-requests 70 --chunked-prefill-size 16384 --max-prefill-tokens 16384 "
      "--mem-fraction-static 0.85 "
      "--cuda-graph-bs 8 12 24 36 48 51 55 60 63 64 66 68 70 --speculative-algorithm EAGLE3 "
      "--speculative-draft-model-path /models/Qwen3-8B_eagle3 --speculative-num-steps 3 "
      "--speculative-eagle-topk 1 "
      "--speculative-num-draft-tokens 4 --disable-radix-cache",
      "python -m sglang.bench_serving --dataset-name random --random-input-len 3500 "
      "--random-output-len 1500 "
      "--random-range-ratio 1 --num-prompts 256 --max-concurrency 64 --request-rate inf",
      o);
}

// Ascend NEXTN launch lines pass the target's own checkpoint as the draft model: it is read as
// "the MTP layers of the model", not refused as an EAGLE3 draft would be without EAGLE3.
TEST(SglangImport, ANextnDraftPathNamesTheTargetItself) {
  SglangImportOptions o;
  o.weights = "w8a8_dynamic";
  o.model = "../../models/qwen3-next-80b-a3b.json";
  const SglangImport im = ImportSglang(
      "python -m sglang.launch_server --model-path /m/Qwen3-Next-80B-A3B-w8a8 --quantization "
      "modelslim --tp-size 2 "
      "--speculative-algorithm NEXTN --speculative-num-steps 3 --speculative-eagle-topk 1 "
      "--speculative-num-draft-tokens 4 "
      "--speculative-draft-model-path /m/Qwen3-Next-80B-A3B-w8a8",
      "", o);
  EXPECT_THAT(im.Yaml(), Not(HasSubstr("speculative_draft_model_path")));
  bool listed = false;
  for (const std::string& i : im.ignored)
    listed |= i.find("NEXTN drafts with the model's own MTP layers") != std::string::npos;
  EXPECT_TRUE(listed);
}

TEST(SglangImport, ASharedPrefixLoadAndTheMambaCacheFlagsBecomeRunKeys) {
  // The Ascend CI harness's Qwen3.6-27B prefix90 case (1 group of 20 prompts: 57600 shared tokens
  // and 6400 of their own); no --disable-radix-cache: the cache is on, as SGLang's default.
  SglangImportOptions o;
  const SglangImport im = ImportSglang(
      "python -m sglang.launch_server --model-path /m/Qwen3.6-27B --tp-size 2 "
      "--chunked-prefill-size 32768 "
      "--max-prefill-tokens 32768 --mamba-scheduler-strategy extra_buffer --max-mamba-cache-size "
      "160 --max-running-requests 20",
      "python -m sglang.bench_serving --dataset-name generated-shared-prefix --gsp-num-groups 1 "
      "--gsp-prompts-per-group 20 "
      "--gsp-system-prompt-len 57600 --gsp-question-len 6400 --gsp-output-len 1000 "
      "--max-concurrency 20 --num-prompts 20 "
      "--request-rate inf --warmup-requests 1",
      o);
  const std::string y = im.Yaml();
  for (const char* k : {"mamba_scheduler_strategy: extra_buffer", "max_mamba_cache_size: 160",
                        "dataset_name: generated-shared-prefix", "gsp_num_groups: 1",
                        "gsp_prompts_per_group: 20", "gsp_system_prompt_len: 57600",
                        "gsp_question_len: 6400", "gsp_output_len: 1000", "warmup_requests: 1"})
    EXPECT_THAT(y, HasSubstr(k));
  EXPECT_THAT(y, Not(HasSubstr("disable_radix_cache")));
  EXPECT_THAT(
      ImportSglang("python -m sglang.launch_server --model-path /m --disable-radix-cache", "", o)
          .Yaml(),
      HasSubstr("disable_radix_cache: true"));
  // Replicated DP: --dp-size without --enable-dp-attention, with the controller's policy.
  const std::string dp = ImportSglang(
                             "python -m sglang.launch_server --model-path /m --tp-size 2 --dp-size "
                             "4 --load-balance-method shortest_queue",
                             "", o)
                             .Yaml();
  EXPECT_THAT(dp, HasSubstr("dp_size: 4"));
  EXPECT_THAT(dp, HasSubstr("load_balance_method: shortest_queue"));
  // SGLang's fused MLA preprocessing on NPU.
  EXPECT_THAT(
      ImportSglang("SGLANG_NPU_USE_MLAPO=1 python -m sglang.launch_server --model-path /m", "", o)
          .Yaml(),
      HasSubstr("mla_prolog: fused"));
  // bench_serving flushes the cache after its warm-up: the timed run starts cold.
  EXPECT_THAT(ImportSglang("python -m sglang.launch_server --model-path /m",
                           "python -m sglang.bench_serving --dataset-name generated-shared-prefix "
                           "--flush-cache --num-prompts 4",
                           o)
                  .Yaml(),
              HasSubstr("warmup_requests: 0"));
}

TEST(SglangImport, ListsWhatChangesNothingAndRefusesWhatIsNotModelled) {
  SglangImportOptions o;
  const SglangImport im = ImportSglang(
      "HCCL_OP_EXPANSION_MODE=AIV GDN_ATTN_BACKEND_TRITON=1 python -m sglang.launch_server "
      "--model-path /m/Qwen3-Next "
      "--tp-size 16 --enable-dp-attention --dp-size 4 --moe-a2a-backend deepep --deepep-mode auto "
      "--host 0.0.0.0 --disable-radix-cache",
      "", o);
  const std::string y = im.Yaml();
  EXPECT_THAT(y, HasSubstr("model: /m/Qwen3-Next/config.json"));
  EXPECT_THAT(y,
              HasSubstr("ep_size: 16"));  // DeepEP: the experts over every rank, as SGLang sets it
  EXPECT_THAT(y, HasSubstr("gdn_decode_impl: triton_chain"));
  EXPECT_THAT(y, HasSubstr("# ignored: --host 0.0.0.0"));
  EXPECT_THAT(y, HasSubstr("# ignored: environment HCCL_OP_EXPANSION_MODE=AIV"));
  EXPECT_THAT(y, Not(HasSubstr("collectives timed as HCCL's AIV expansion")));
  EXPECT_THAT(y, HasSubstr("# assumed: device Ascend910_9392"));
  EXPECT_THAT(y, HasSubstr("# assumed: the load"));
  auto refused = [&](const std::string& args, const std::string& what) {
    try {
      ImportSglang("python -m sglang.launch_server --model-path /m " + args, "", o);
      ADD_FAILURE() << "accepted: " << args;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(what)) << args;
    }
  };
  refused("--moe-a2a-backend ascend_fuseep", "--moe-a2a-backend ascend_fuseep");
  refused("--kv-cache-dtype fp8_e4m3", "--kv-cache-dtype");
  refused("--enable-torch-compile", "--enable-torch-compile is not known");
  refused("--tp-sise 2", "nearest valid: '--tp-size'");
  refused("--quantization modelslim", "--weights w8a8_dynamic or w4a8_dynamic");
  refused("--tp-size 2 --tp 4", "sets tp_size to 4 after another argument set it to 2");
  try {
    ImportSglang("python -m sglang.launch_server --model-path /m",
                 "python -m sglang.bench_serving --dataset-name sharegpt", o);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--dataset-name sharegpt"));
  }
  EXPECT_THROW(ShellWords("python -m 'unterminated"), InputError);
  EXPECT_EQ(ShellWords("a 'b c' \"d\\\"e\" f\\ g \\\nh"),
            (std::vector<std::string>{"a", "b c", "d\"e", "f g", "h"}));
}

TEST(SglangImport, RunYamlsAndSetsTakeSglangSpellings) {
  const RunConfig c = ParseRunConfig("model: m.json\ntp-size: 4\nmax-running-requests: 12\n",
                                     "r.yaml", {{"mem-fraction-static", "0.7"}});
  EXPECT_EQ(c.tp_size, 4);
  EXPECT_EQ(c.max_running_requests, 12);
  EXPECT_DOUBLE_EQ(c.mem_fraction_static, 0.7);
  try {
    ParseRunConfig("model: m.json\ntp-size: 4\ntp_size: 2\n", "r.yaml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("r.yaml:2:1"));
    EXPECT_THAT(e.what(), HasSubstr("given twice"));
  }
  try {
    ParseRunConfig("model: m.json\ntp-sise: 4\n", "r.yaml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("r.yaml:2:1"));
  }
}

// npusim times collectives as HCCL's AIV expansion; a launch that leaves the mode to HCCL's
// default or names another one is told so, once, and a single-rank launch (no collectives) is not.
TEST(SglangImport, SaysWhenTheLaunchExpandsCollectivesOtherThanOnTheVectorCores) {
  SglangImportOptions o;
  const std::string note = "collectives timed as HCCL's AIV expansion";
  auto yaml = [&](const std::string& server) { return ImportSglang(server, "", o).Yaml(); };
  const std::string unset = yaml("python -m sglang.launch_server --model-path /m --tp-size 2");
  EXPECT_THAT(unset, HasSubstr("# assumed: " + note));
  EXPECT_THAT(unset, HasSubstr("leaves HCCL_OP_EXPANSION_MODE unset"));
  const std::string aicpu = yaml(
      "HCCL_OP_EXPANSION_MODE=AI_CPU python -m sglang.launch_server --model-path /m --tp-size 2");
  EXPECT_THAT(aicpu, HasSubstr("sets HCCL_OP_EXPANSION_MODE=AI_CPU"));
  EXPECT_THAT(aicpu, Not(HasSubstr("not read by npusim")));
  EXPECT_THAT(yaml("python -m sglang.launch_server --model-path /m"), Not(HasSubstr(note)));
}

}  // namespace

}  // namespace npusim
