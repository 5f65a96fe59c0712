// The npusim binary end to end: exit codes, messages, files, determinism.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "model/npy.h"
#include "tests/app/npusim_process.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

std::string Devices() { return std::string(NPUSIM_SOURCE_DIR) + "/configs/devices/"; }

TEST(Cli, ScenarioS1ReproducesTheUbOverflow) {
  Result r =
      Npusim("kernel move_intermediate_cache --device Ascend910_9392 --set ssm_dtype=float32");
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.output,
              HasSubstr("ub overflow, requires 2097152 bits while 1572864 bits available!"));
  EXPECT_THAT(r.output, HasSubstr("timing-only"));
  EXPECT_EQ(
      Npusim("kernel move_intermediate_cache --device Ascend910_9392 --set ssm_dtype=bfloat16")
          .code,
      0);
}

TEST(Cli, ModelPrintsWhatItReadsAndRejectsABadConfig) {
  Result r = Npusim("model " + std::string(NPUSIM_SOURCE_DIR) +
                    "/configs/models/step-3.5-flash.json --tp 8");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("12 full_attention, 33 sliding_attention (+3 MTP)"));
  EXPECT_THAT(r.output, HasSubstr("8 q / 1 kv heads"));  // 64 / 8 heads over 8 ranks
  EXPECT_EQ(
      Npusim("model " + std::string(NPUSIM_SOURCE_DIR) + "/configs/models/step-3.5-flash.json")
          .code,
      3);  // 196 B on one chip
  const std::string bad = Dir("model") + "/bad.json";
  std::ofstream(bad) << "{\n  \"model_type\": \"step3p5\",\n  \"hidden_size\": \"wide\"\n}\n";
  Result b = Npusim("model " + bad);
  EXPECT_EQ(b.code, 2);
  EXPECT_THAT(b.output,
              HasSubstr("bad.json:3:18: key 'hidden_size' has a value of the wrong type"));
  // Two shapes the config fuzzer found escaping as yaml-cpp exceptions (an abort): a scalar
  // text_config, and a mapping used as a key next to a missing one.
  std::ofstream(bad) << "{\n  \"model_type\": \"qwen3_5_moe\",\n  \"text_config\": 7\n}\n";
  b = Npusim("model " + bad);
  EXPECT_EQ(b.code, 2) << b.output;
  EXPECT_THAT(b.output, HasSubstr("bad.json:3:18: text_config must be a mapping of keys"));
  std::ofstream(bad) << "model_type: qwen3_next\n? {a: 1}\n: 2\n";
  b = Npusim("model " + bad);
  EXPECT_EQ(b.code, 2) << b.output;
  EXPECT_THAT(b.output, HasSubstr("needs key 'hidden_size'"));
}

TEST(Cli, KernelWritesEveryOutput) {
  std::string out = Dir("add");
  Result r =
      Npusim("kernel add --device Ascend910B3 --set n=4099 --set dtype=bfloat16 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"metrics.json", "trace.json", "op_summary.csv", "report.md", "z.npy"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  std::string m = Slurp(out + "/metrics.json");
  for (const char* key :
       {"\"kernel\": \"add\"", "\"status\": \"ok\"", "\"time_us\"", "\"cycles\"", "\"block_dim\"",
        "\"ub_peak_bytes\"", "\"hbm_bytes\"", "\"roofline_us\"", "\"pipes\"", "\"aiv.MTE2\"",
        "\"utilisation\"", "\"numerics\"", "\"max_rel_err\""})
    EXPECT_THAT(m, HasSubstr(key));
  // msprof's op_summary header (PipeUtilization), in msprof's order, aic columns first.
  const std::string summary = Slurp(out + "/op_summary.csv");
  EXPECT_EQ(summary.rfind("Device_id,Model ID,Task ID,Stream ID,Op Name,OP Type,OP State,Task "
                          "Type,Task Start Time(us),"
                          "Task Duration(us),Task Wait Time(us),Block Dim,Mix Block Dim,HF32 "
                          "Eligible,Input Shapes,Input Data Types,"
                          "Input Formats,Output Shapes,Output Data Types,Output Formats,Context "
                          "ID,aicore_time(us),aic_total_cycles,"
                          "aic_mac_time(us),aic_mac_ratio,aic_scalar_time(us),aic_scalar_ratio,aic_"
                          "mte1_time(us),aic_mte1_ratio,"
                          "aic_mte2_time(us),aic_mte2_ratio,aic_fixpipe_time(us),aic_fixpipe_ratio,"
                          "aic_icache_miss_rate,aiv_time(us),"
                          "aiv_total_cycles,aiv_vec_time(us),aiv_vec_ratio,aiv_scalar_time(us),aiv_"
                          "scalar_ratio,aiv_mte2_time(us),"
                          "aiv_mte2_ratio,aiv_mte3_time(us),aiv_mte3_ratio,aiv_icache_miss_rate,"
                          "cube_utilization(%),Status\n",
                          0),
            0u);
  EXPECT_THAT(summary, HasSubstr(",add,add,static,AI_VECTOR_CORE,0.000,"));
  EXPECT_THAT(Slurp(out + "/trace.json"),
              HasSubstr("\"thread_name\",\"args\":{\"name\":\"MTE2\"}"));
  // The page: HBM traffic, the host tiling and every output's error against the fp64 reference.
  const std::string page = Slurp(out + "/report.html");
  for (const char* part : {"HBM traffic", "MB read", "<h2>Tiling</h2>",
                           "Numerics (against the fp64 reference)", "<td>z</td>"})
    EXPECT_THAT(page, HasSubstr(part));
}

TEST(Cli, FailureStillWritesMetricsWithItsStatus) {
  std::string out = Dir("s1");
  EXPECT_EQ(Npusim("kernel move_intermediate_cache --device Ascend910_9392 --out " + out).code, 3);
  EXPECT_THAT(Slurp(out + "/metrics.json"), HasSubstr("\"status\": \"ub_overflow\""));
  EXPECT_THAT(Slurp(out + "/op_summary.csv"),
              HasSubstr(",N/A,ub_overflow\n"));  // the failed launch's row
}

// A multi-launch op is one op_summary row per launch, each with its own Task Type, as msprof
// lists them; the rows' durations add up to the op's time.
TEST(Cli, OpSummaryHasARowPerLaunch) {
  const std::string out = Dir("op_summary_gdn");
  ASSERT_EQ(Npusim("kernel chunk_gated_delta_rule --timing-only --set requests=2 --set tokens=96 "
                   "--set heads=4 --set key_heads=2 "
                   "--quiet --out " +
                   out)
                .code,
            0);
  const std::string csv = Slurp(out + "/op_summary.csv");
  const int rows = static_cast<int>(std::count(csv.begin(), csv.end(), '\n')) - 1;
  const auto m = nlohmann::json::parse(Slurp(out + "/metrics.json"));
  ASSERT_TRUE(m.contains("launches")) << m.dump();
  EXPECT_EQ(rows, static_cast<int>(m["launches"].size()));
  EXPECT_GT(rows, 1);
  EXPECT_THAT(csv, HasSubstr(",chunk_gated_delta_rule.cumsum,cumsum,static,AI_VECTOR_CORE,0.000,"));
  EXPECT_THAT(csv, HasSubstr(",MIX_AIC,"));  // chunk_h runs cube and vector together
}

TEST(Cli, SameInputsAndSeedGiveIdenticalFiles) {
  std::string a = Dir("det_a"), b = Dir("det_b");
  ASSERT_EQ(Npusim("kernel conv_state_rollback --set layers=2 --seed 5 --out " + a).code, 0);
  ASSERT_EQ(Npusim("kernel conv_state_rollback --set layers=2 --seed 5 --out " + b).code, 0);
  for (const char* f :
       {"metrics.json", "trace.json", "op_summary.csv", "report.md", "conv_states.npy"})
    EXPECT_EQ(Slurp(a + "/" + f), Slurp(b + "/" + f)) << f;
}

TEST(Cli, InputsFromNpyFiles) {
  std::string in = Dir("inputs"), out = Dir("inputs_out");
  Tensor x("x", {37}, DType::kFloat16), y("y", {37}, DType::kFloat16);
  for (int i = 0; i < 37; ++i) x.Set(i, i * 0.5), y.Set(i, 1000.0 + i);
  WriteNpy(in + "/x.npy", x);
  WriteNpy(in + "/y.npy", y);
  Result r = Npusim("kernel add --set n=37 --inputs " + in + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  Tensor z = ReadNpy(out + "/z.npy", "z", DType::kFloat16);
  for (int i = 0; i < 37; ++i) EXPECT_EQ(z.At(i), RoundTo(i * 0.5 + 1000.0 + i, DType::kFloat16));
  Tensor bad("x", {36}, DType::kFloat16);
  WriteNpy(in + "/x.npy", bad);
  Result e = Npusim("kernel add --set n=37 --inputs " + in);
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.output, HasSubstr("input 'x' must be [37] float16, file holds [36] float16"));
}

// Index tensors a user supplies are checked against the values the kernel can index with before
// any code reads them (issue #15: a topk_ids of -1 corrupted the heap, a last_steps past the
// draft made the reference read garbage, a decreasing query_start_loc crashed).
TEST(Cli, OutOfRangeIndexInputsAreInputErrors) {
  const std::string in = Dir("bad_index");
  Tensor x("x", {8, 16}, DType::kBFloat16), ids("topk_ids", {8, 2}, DType::kInt32);
  for (int i = 0; i < 16; ++i) ids.Set(i, (i * 3) % 8);
  ids.Set(5, -1);
  WriteNpy(in + "/x.npy", x);
  WriteNpy(in + "/topk_ids.npy", ids);
  Result r = Npusim(
      "kernel moe_init_routing --set tokens=8 --set top_k=2 --set hidden=16 --set experts=8 "
      "--inputs " +
      in);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("moe_init_routing: input 'topk_ids' element 5 is -1, outside [0, 7]"));
  ids.Set(5, 8);
  WriteNpy(in + "/topk_ids.npy", ids);
  r = Npusim(
      "kernel moe_init_routing --set tokens=8 --set top_k=2 --set hidden=16 --set experts=8 "
      "--inputs " +
      in);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("element 5 is 8, outside [0, 7]"));
  ids.Set(5, 7);
  WriteNpy(in + "/topk_ids.npy", ids);
  EXPECT_EQ(Npusim("kernel moe_init_routing --set tokens=8 --set top_k=2 --set hidden=16 --set "
                   "experts=8 --inputs " +
                   in)
                .code,
            0);
}

// import-sglang end to end: a valid run config written whole, an argument that is not modelled
// refused by name with exit 2 and no file.
TEST(Cli, ImportSglangWritesARunConfigOrRefusesByName) {
  const std::string dir = ::testing::TempDir() + "/import_sglang";
  fs::create_directories(dir);
  const std::string out = dir + "/run.yaml",
                    model = std::string(NPUSIM_SOURCE_DIR) + "/configs/models/qwen3-8b.json";
  Result r = Npusim(
      "import-sglang \"python -m sglang.launch_server --model-path /m --tp-size 1 --host 0.0.0.0\" "
      "\"python -m sglang.bench_serving --dataset-name random --random-input-len 64 "
      "--random-output-len 4 --num-prompts 2\" "
      "--model " +
      model + " -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ignored --host 0.0.0.0"));
  EXPECT_EQ(Npusim("validate " + out).code, 0);
  const std::string bad = dir + "/bad.yaml";
  Result b = Npusim(
      "import-sglang \"python -m sglang.launch_server --model-path /m --kv-cache-dtype fp8_e4m3\" "
      "-o " +
      bad);
  EXPECT_EQ(b.code, 2);
  EXPECT_THAT(b.output, HasSubstr("--kv-cache-dtype fp8_e4m3: not modelled"));
  EXPECT_FALSE(fs::exists(bad));
}

TEST(Cli, BadCommandLineIsExit2WithTheNearestName) {
  Result k = Npusim("kernel ad");
  EXPECT_EQ(k.code, 2);
  EXPECT_THAT(k.output, HasSubstr("unknown kernel 'ad' (nearest valid: 'add')"));
  Result s = Npusim("kernel add --set buffer_nun=2");
  EXPECT_EQ(s.code, 2);
  EXPECT_THAT(
      s.output,
      HasSubstr(
          "--set buffer_nun=2: unknown parameter 'buffer_nun' (nearest valid: 'buffer_num')"));
  Result v = Npusim("kernel add --set buffer_num=3");
  EXPECT_EQ(v.code, 2);
  EXPECT_THAT(v.output,
              HasSubstr("--set buffer_num=3: parameter 'buffer_num' = 3 is out of range [1, 2]"));
  Result d = Npusim("kernel add --device Ascend910B9");
  EXPECT_EQ(d.code, 2);
  EXPECT_THAT(d.output, HasSubstr("nearest valid: 'Ascend910B"));
  Result o = Npusim("kernel add --outt x");
  EXPECT_EQ(o.code, 2);
  EXPECT_THAT(o.output, HasSubstr("nearest valid: '--out'"));
  EXPECT_THAT(Npusim("kernel --list").output, HasSubstr("move_intermediate_cache"));
}

TEST(Cli, ValidateEveryShippedDevice) {
  for (const auto& e : fs::directory_iterator(Devices())) {
    Result r = Npusim("validate " + e.path().string());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("is a valid device config"));
  }
}

// One malformed device YAML per error kind: exit 2 with file:line:col, key and nearest key.
TEST(Cli, MalformedDeviceYamlEachErrorKind) {
  const std::string src = Slurp(Devices() + "Ascend910_9392.yaml");
  struct Case {
    std::string from, to, expect;
  };
  const Case cases[] = {
      {"  ub_bytes: 196608", "  ub_bytse: 196608",
       ":11:3: unknown key 'ub_bytse' in 'buffers' (nearest valid: 'ub_bytes')"},
      {"  l0c_align: 512", "  l0c_align: 512\n  l0d_bytes: 1",
       ":21:3: unknown key 'l0d_bytes' in 'buffers' (nearest valid: 'l0a_bytes')"},
      {"clock_mhz: 1850", "clock_mhz: fast",
       ":4:12: 'clock_mhz' expects a number (MHz), got 'fast'"},
      {"  aic: 24", "  aic: 0", ":7:8: value 0 of 'cores.aic' is out of range [1, 4096] cores"},
      {"  queue_depth: 32", "", "missing key 'scalar.queue_depth'"},
      {"  aiv: 48", "  aiv: [48", "YAML syntax error"},
      {"  impl: l2_hbm", "  impl: l2_hmb",
       "'memory.impl' cannot be 'l2_hmb' (nearest valid: 'l2_hbm'); one of l2_hbm"},
      {"  impl: peer_aggregate", "  impl: peer_agregate",
       "'links.impl' cannot be 'peer_agregate' (nearest valid: 'peer_aggregate'); one of "
       "peer_aggregate"},
  };
  std::string dir = Dir("bad_yaml");
  int i = 0;
  for (const Case& c : cases) {
    std::string text = src;
    size_t pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    text.replace(pos, c.from.size(), c.to);
    std::string path = dir + "/bad" + std::to_string(i++) + ".yaml";
    std::ofstream(path) << text;
    Result r = Npusim("validate " + path);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_THAT(r.output, HasSubstr(c.expect)) << r.output;
    EXPECT_THAT(r.output, HasSubstr(path));
    EXPECT_EQ(Npusim("kernel add --set n=64 --device " + path).code, 2);
  }
}

// Issue #15: `validate` passed a sweep whose run file is missing (each point then failed on its
// own); it now loads every point's run config and names the point that does not, and a kernel
// sweep's kernel must exist.
TEST(Cli, ValidateLoadsEverySweepPoint) {
  const std::string dir = Dir("sweep_validate");
  std::ofstream(dir + "/missing.yaml") << "run: nowhere/run.yaml\ngrid:\n  tp_size: [1, 2]\n";
  Result r = Npusim("validate " + dir + "/missing.yaml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("point 0 (tp_size=1)"));
  std::ofstream(dir + "/badvalue.yaml")
      << "run: " << std::string(NPUSIM_SOURCE_DIR)
      << "/configs/runs/quickstart.yaml\ngrid:\n  tp_size: [1, 0]\n";
  r = Npusim("validate " + dir + "/badvalue.yaml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("point 1 (tp_size=0)"));
  std::ofstream(dir + "/kernel.yaml") << "kernel: rms_nrom\ngrid:\n  tokens: [1, 2]\n";
  r = Npusim("validate " + dir + "/kernel.yaml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rms_norm"));  // the nearest name
}

// Runs npusim with stdout and stderr kept apart.
struct Streams {
  int code;
  std::string out, err;
};
Streams NpusimStreams(const std::string& args) {
  const std::string err = Dir("streams") + "/stderr.txt";
  FILE* p = popen((std::string(NPUSIM_BIN) + " " + args + " 2>" + err).c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, Slurp(err)};
}

TEST(Cli, ResultsGoToStdoutLogsToStderrAndTheLogLevelFiltersOnlyLogs) {
  const std::string out = Dir("streams_out");
  Streams s = NpusimStreams("kernel add --set n=4099 --out " + out);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_THAT(s.out, HasSubstr("status     ok"));
  EXPECT_THAT(s.out, ::testing::Not(HasSubstr("info:")));
  EXPECT_THAT(s.err, HasSubstr("info: written " + out + "/"));
  s = NpusimStreams("kernel add --set n=4099 --log-level off --out " + out);
  EXPECT_THAT(s.out, HasSubstr("status     ok"));  // results stay
  EXPECT_EQ(s.err, "");
  s = NpusimStreams("kernel add --set n=4099 --quiet --out " + out);
  EXPECT_EQ(s.code, 0);
  EXPECT_EQ(s.out, "");  // results only in the files
  EXPECT_TRUE(fs::exists(out + "/metrics.json"));
  s = NpusimStreams("kernel add --outt x");
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(s.out, "");
  EXPECT_THAT(s.err, HasSubstr("nearest valid: '--out'"));
}

// `make install`'s rule: the installed binary, run from a folder without configs/, reads the
// configs installed beside it.
TEST(Cli, AnInstalledBinaryReadsTheInstalledConfigs) {
  const std::string prefix = Dir("install_prefix");
  const std::string build = std::filesystem::path(NPUSIM_BIN).parent_path().string();
  ASSERT_EQ(std::system(
                ("cmake --install " + build + " --prefix " + prefix + " > " + prefix + ".log 2>&1")
                    .c_str()),
            0)
      << Slurp(prefix + ".log");
  ASSERT_TRUE(std::filesystem::exists(prefix + "/share/npusim/configs/devices/Ascend910B3.yaml"));
  const std::string run =
      "cd " + prefix + " && env -u NPUSIM_CONFIG_DIR " + prefix + "/bin/npusim ";
  std::array<char, 4096> buf{};
  std::string out;
  FILE* f = popen((run + "--version 2>&1").c_str(), "r");
  ASSERT_NE(f, nullptr);
  while (size_t n = fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
  EXPECT_EQ(pclose(f), 0);
  EXPECT_THAT(out, HasSubstr("configs: " + std::filesystem::canonical(prefix).string() +
                             "/share/npusim/configs"));
  EXPECT_EQ(std::system((run + "kernel add --device Ascend910B3 --quiet --out " + prefix +
                         "/k > /dev/null 2>&1")
                            .c_str()),
            0);
}

TEST(Cli, HelpVersionAndKeys) {
  Streams s = NpusimStreams("--version");
  EXPECT_EQ(s.code, 0);
  EXPECT_TRUE(
      std::regex_search(s.out, std::regex(R"(^npusim \d+\.\d+\.\d+ \(git ([0-9a-f]+|unknown)\))")))
      << s.out;
  s = NpusimStreams("run --help");
  EXPECT_EQ(s.code, 0);
  EXPECT_THAT(s.out, HasSubstr("usage: npusim run [RUN.yaml] [options]"));
  EXPECT_THAT(s.out, HasSubstr("--set KEY=VALUE"));
  s = NpusimStreams("--help");
  EXPECT_EQ(s.code, 0);
  for (const char* c : {"run", "capacity", "explore", "sweep", "merge", "kernel", "calibrate",
                        "validate", "model", "import-sglang", "compare", "keys"})
    EXPECT_THAT(s.out, HasSubstr("\n  " + std::string(c) + " ")) << c;
  EXPECT_EQ(NpusimStreams("").code, 2);
  s = NpusimStreams("keys run");
  EXPECT_EQ(s.code, 0);
  EXPECT_THAT(s.out, HasSubstr("| model | text |  | required |"));
  EXPECT_THAT(s.out, HasSubstr("| tp_size | integer | ranks | 1 | [1, 4096] |"));
  s = NpusimStreams("keys device");
  EXPECT_THAT(s.out, HasSubstr("| clock_mhz | number | MHz | required | [1, 10000] |"));
  s = NpusimStreams("keys hosts");
  EXPECT_EQ(s.code, 2);
  EXPECT_THAT(s.err, HasSubstr("nearest valid: 'host'"));
}

TEST(Cli, ResultJsonlAndCompareAgainstABenchServingLine) {
  const std::string dir = Dir("compare"), run = dir + "/run", jsonl = dir + "/results.jsonl",
                    real = dir + "/bench.jsonl";
  fs::remove(jsonl);
  ASSERT_EQ(Npusim("run " + std::string(NPUSIM_SOURCE_DIR) +
                   "/configs/runs/quickstart.yaml --set num_prompts=2 --set random_output_len=8 "
                   "--quiet --out " +
                   run + " --result-jsonl " + jsonl)
                .code,
            0);
  const std::string line = Slurp(jsonl);
  ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_EQ(line.rfind("{\"backend\":\"npusim\",\"dataset_name\":\"random\"", 0), 0u) << line;
  EXPECT_THAT(
      line,
      HasSubstr("\"max_concurrent_requests\":2}"));  // bench_serving's last field closes the line
  // A line as `python -m sglang.bench_serving --output-file` writes it (fields abridged).
  std::ofstream(real) << "{\"backend\": \"sglang\", \"completed\": 2, \"mean_ttft_ms\": 100.0, "
                         "\"output_throughput\": 50.5}\n";
  Streams s = NpusimStreams("compare " + real + " " + jsonl);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_THAT(s.out, HasSubstr("| backend | sglang | npusim |"));
  EXPECT_THAT(s.out, HasSubstr("| completed | 2 | 2 | +0 | +0.0 % |"));
  EXPECT_THAT(s.out,
              ::testing::ContainsRegex(
                  "\\| mean_ttft_ms \\| 100 \\| [0-9.]+ \\| [-+][0-9.]+ \\| [-+][0-9.]+ % \\|"));
  EXPECT_THAT(s.out, HasSubstr("| p99_ttft_ms | - |"));  // a field only npusim wrote
  EXPECT_EQ(NpusimStreams("compare " + run + " " + real + ":2").code, 2);  // the file has one line
  EXPECT_EQ(NpusimStreams("compare " + run).code, 2);
}

TEST(Cli, ACutTraceSaysSoWithTheTimeItCovers) {
  const std::string out = Dir("trace_cut");
  Streams s = NpusimStreams("kernel add --set n=65536 --trace-limit 10 --out " + out);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_THAT(s.err, HasSubstr("warning: trace.json is cut: 10 instruction slices kept"));
  EXPECT_THAT(Slurp(out + "/report.md"),
              HasSubstr("**trace.json is cut**: 10 instruction slices kept"));
  EXPECT_THAT(Slurp(out + "/trace.json"), HasSubstr("\"kept_slices\":10,"));
  s = NpusimStreams("kernel add --set n=65536 --out " + out);
  EXPECT_THAT(s.err, Not(HasSubstr("trace.json is cut")));
}

// Outputs are written whole into a partial folder and moved into place: a reused --out keeps
// nothing of the previous command, a folder of other files is refused rather than cleared.
TEST(Cli, OutputFoldersAreReplacedWholeAndForeignFoldersRefused) {
  const std::string out = Dir("reused_out");
  ASSERT_EQ(Npusim("kernel add --set n=64 --quiet --out " + out).code, 0);
  EXPECT_TRUE(fs::exists(out + "/z.npy"));
  ASSERT_EQ(Npusim("kernel conv_state_rollback --set layers=1 --quiet --out " + out).code, 0);
  EXPECT_FALSE(fs::exists(out + "/z.npy"));  // the add run's output is gone
  EXPECT_TRUE(fs::exists(out + "/conv_states.npy"));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  const std::string mine = Dir("foreign_out");
  std::ofstream(mine + "/notes.txt") << "mine\n";
  Result r = Npusim("kernel add --set n=64 --quiet --out " + mine);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("holds 'notes.txt', which npusim did not write"));
  EXPECT_TRUE(fs::exists(mine + "/notes.txt"));
  EXPECT_EQ(Npusim("kernel add --set n=64 --quiet --out " + mine + "/notes.txt").code,
            2);  // a file, not a folder
}

// A write that fails (here /dev/full: no space left) is exit 4 naming the path, and a closed
// stdout does not kill the run before its files are in place.
TEST(Cli, AFailedWriteIsExit4AndAClosedPipeLosesNoFile) {
  const std::string out = Dir("full_disk");
  const std::string run =
      "run " + std::string(NPUSIM_SOURCE_DIR) +
      "/configs/runs/quickstart.yaml --set num_prompts=2 --set random_output_len=4";
  Result r = Npusim(run + " --quiet --out " + out + " --result-jsonl /dev/full");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_THAT(r.output, HasSubstr("/dev/full"));
  const std::string piped = Dir("closed_pipe");
  const std::string cmd = "bash -c 'set -o pipefail; " + std::string(NPUSIM_BIN) + " " + run +
                          " --out " + piped + " 2>/dev/null | head -c 1 >/dev/null'";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  for (const char* f : {"metrics.json", "report.html", "trace.json"})
    EXPECT_TRUE(fs::exists(piped + "/" + f)) << f;
}

// Ordinary bad paths are input errors (issue #15: each was exit 1, "internal error").
TEST(Cli, FoldersGivenAsFilesAndMalformedSweepTablesAreInputErrors) {
  const std::string src = NPUSIM_SOURCE_DIR;
  for (const std::string& cmd :
       {"validate " + src + "/configs/runs", "model " + src + "/configs/models"}) {
    Result r = Npusim(cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(": a folder, not a file")) << cmd;
  }
  const std::string shard = Dir("bad_sweep");
  for (const char* text :
       {"[]", "{\"config\": 7}",
        "{\"config\": \"s.yaml\", \"grid\": \"0\", \"total_points\": 100000000000, \"points\": []}",
        "{\"config\": \"s.yaml\", \"grid\": \"0\", \"total_points\": 2, \"points\": [{\"index\": "
        "9}]}",
        "{\"config\": \"s.yaml\", \"total_points\": 2, \"points\": []}"}) {
    std::ofstream(shard + "/sweep.json") << text;
    Result r = Npusim("merge " + shard + " --out " + Dir("bad_sweep_out"));
    EXPECT_EQ(r.code, 2) << text << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("merge: " + shard + "/sweep.json")) << text;
  }
}

TEST(Cli, KernelHelpListsParametersAndTensors) {
  auto r = Npusim("kernel l2norm --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("head_dim"), std::string::npos);
  EXPECT_NE(r.output.find("default 128"), std::string::npos);
  EXPECT_NE(r.output.find("[4096, 8, 128]"), std::string::npos);
}

}  // namespace
}  // namespace npusim
