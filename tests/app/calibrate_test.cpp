// `npusim calibrate` as a user runs it: a few corpus rows end to end (outputs, verdict,
// determinism), the importers on files written by hand in bench_serving's and msprof's formats
// (tests/data/import/), and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "npusim_process.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;
const std::string kSrc = NPUSIM_SOURCE_DIR;

TEST(Calibrate, RowsRunAndWriteEveryOutputDeterministically) {
  const std::string a = Dir("cal_a"), b = Dir("cal_b");
  // A kernel row, an e2e kernel row (back-to-back calls: the slower of device and one eager
  // launch), a row that needs a feature.
  const std::string only = "--only C2-fused-b4,C3-pr601-e2e-b1,C8-rmsnorm-dynquant-fused";
  const Result r =
      Npusim("calibrate " + kSrc + "/configs/calibration " + only + " -j 2 --out " + a);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("calibration: 2 of 3 rows simulated (1 need a feature"));
  for (const char* f : {"metrics.json", "points.csv", "report.md", "report.html"})
    EXPECT_TRUE(std::filesystem::exists(a + "/" + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(a + ".partial"));
  EXPECT_THAT(Slurp(a + "/report.html"), HasSubstr("<svg"));
  const auto m = nlohmann::json::parse(Slurp(a + "/metrics.json"));
  for (const auto& row : m["rows"]) {
    if (row["id"] == "C8-rmsnorm-dynquant-fused") {
      EXPECT_THAT(row["status"].get<std::string>(), HasSubstr("needs"));
    }
    if (row["id"] == "C3-pr601-e2e-b1") {  // a batch-1 conv1d is launch-bound: one eager launch of
                                           // sglang-ascend (106.6 us)
      const std::string k = Dir("cal_kernel");
      ASSERT_EQ(Npusim("kernel causal_conv1d_fn --device Ascend910B2 --timing-only --set "
                       "requests=1 --set seq_len=128 --set dim=2048 "
                       "--set initial=none --set dtype=float16 --quiet --out " +
                       k)
                    .code,
                0);
      const double kernel_us =
          nlohmann::json::parse(Slurp(k + "/metrics.json")).at("time_us").get<double>();
      EXPECT_LT(kernel_us, 106.6);
      EXPECT_NEAR(row["simulated"].get<double>(), 106.6, 0.01);
    }
  }
  ASSERT_EQ(
      Npusim("calibrate " + kSrc + "/configs/calibration " + only + " -j 1 --quiet --out " + b)
          .code,
      0);
  EXPECT_EQ(Slurp(a + "/points.csv"), Slurp(b + "/points.csv"));
  EXPECT_EQ(Slurp(a + "/metrics.json"), Slurp(b + "/metrics.json"));
}

TEST(Calibrate, ImportersTurnABenchServingResultAndAnMsprofSummaryIntoRows) {
  const std::string corpus = Dir("import_corpus");
  const Result bench = Npusim("calibrate " + corpus + " --add-bench-serving " + kSrc +
                              "/tests/data/import/bench_serving_result.jsonl --run " + kSrc +
                              "/configs/runs/qwen3-next-80b-a3-tp16-fused.yaml --id s2real");
  ASSERT_EQ(bench.code, 0) << bench.output;
  EXPECT_THAT(bench.output, HasSubstr("added s2real-1-ttft"));
  EXPECT_THAT(bench.output, HasSubstr("added s2real-1-tput"));
  const std::string tpot = Slurp(corpus + "/s2real-1-tpot.yaml");
  EXPECT_THAT(tpot, HasSubstr("metric: mean_tpot_ms"));
  EXPECT_THAT(tpot, HasSubstr("measured: 44.3"));
  EXPECT_THAT(tpot, HasSubstr("random_input_len: \"3500\""));
  EXPECT_THAT(tpot, HasSubstr("max_concurrency: \"24\""));
  const Result prof = Npusim("calibrate " + corpus + " --add-msprof " + kSrc +
                             "/tests/data/import/op_summary.csv --device Ascend910B3");
  ASSERT_EQ(prof.code, 0) << prof.output;
  EXPECT_THAT(prof.output, HasSubstr("unmapped FusedInferAttentionScore (1 launches)"));
  // Two MatMulV2 launches of one shape: one row, their mean.
  const std::string mm = Slurp(corpus + "/msprof-op_summary-line2-matmul.yaml");
  EXPECT_THAT(
      mm,
      HasSubstr(
          "params: {m: \"4096\", k: \"2048\", n: \"3072\", dtype: \"bfloat16\", trans_b: \"0\"}"));
  EXPECT_THAT(mm, HasSubstr("measured: 120"));
  EXPECT_THAT(Slurp(corpus + "/msprof-op_summary-line4-rms_norm.yaml"),
              HasSubstr("tokens: \"4096\", hidden: \"2048\""));
  // The imported kernel rows simulate.
  const Result run = Npusim(
      "calibrate " + corpus +
      " --only msprof-op_summary-line2-matmul,msprof-op_summary-line4-rms_norm --quiet --out " +
      Dir("import_out"));
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("2 of 2 rows simulated"));
  // A row whose run config is gone fails alone; the others still run.
  std::ofstream(corpus + "/lost.yaml")
      << "id: lost\nsource: s\nrun: runs/none.yaml\nmetric: mean_tpot_ms\nmeasured: 1\n";
  const Result lost =
      Npusim("calibrate " + corpus +
             " --only lost,msprof-op_summary-line4-rms_norm --quiet --out " + Dir("import_lost"));
  EXPECT_EQ(lost.code, 0) << lost.output;
  EXPECT_THAT(lost.output, HasSubstr("1 of 2 rows simulated (0 need a feature, 1 failed)"));
  std::filesystem::remove(corpus + "/lost.yaml");
  // Importing the same file again would duplicate ids.
  EXPECT_EQ(Npusim("calibrate " + corpus + " --add-msprof " + kSrc +
                   "/tests/data/import/op_summary.csv --device Ascend910B3")
                .code,
            2);
}

// Every kernel and serving run says how far to trust it: the fitted constants of the profiles it
// used (with their rows) and the recorded corpus error of the nearest rows.
TEST(Calibrate, RunsCarryAFidelitySection) {
  const std::string k = Dir("fidelity_kernel");
  ASSERT_EQ(Npusim("kernel recurrent_gated_delta_rule --device Ascend910B2 --timing-only --set "
                   "impl=triton_chain --set ssm_dtype=float32 "
                   "--set heads_k=16 --set heads_v=32 --quiet --out " +
                   k)
                .code,
            0);
  const auto f = nlohmann::json::parse(Slurp(k + "/metrics.json")).at("fidelity");
  bool triton = false;
  for (const auto& v : f.at("fitted"))
    triton |= v.at("key") == "triton.launch_us" && v.at("rows") == "C2-triton-b1, C2-triton-b16";
  EXPECT_TRUE(triton) << f.dump(1);
  EXPECT_EQ(f.at("corpus").at("basis"), "same kernel and device");
  EXPECT_THAT(f.at("corpus").at("check_rows").dump(), HasSubstr("C2-triton-b4"));
  EXPECT_THAT(f.at("summary").get<std::string>(), HasSubstr("calibrated:"));
  const std::string r = Dir("fidelity_run");
  ASSERT_EQ(Npusim("run " + kSrc +
                   "/configs/runs/quickstart.yaml --set num_prompts=2 --set random_output_len=4 "
                   "--quiet --out " +
                   r)
                .code,
            0);
  const auto m = nlohmann::json::parse(Slurp(r + "/metrics.json"));
  EXPECT_EQ(m.at("host_profile").at("name"), "sglang-ascend");
  EXPECT_THAT(m.at("fidelity").at("summary").get<std::string>(),
              HasSubstr("not fitted (modelling gap): step_us"));
  // Each kernel of the run with its share and the corpus's check rows of it, in share order.
  const auto& kernels = m.at("fidelity").at("kernels");
  ASSERT_EQ(kernels.size(), m.at("kernel_share").size());
  for (size_t i = 0; i < kernels.size(); ++i)
    EXPECT_EQ(kernels[i].at("op"), m.at("kernel_share")[i].at("op"));
  bool matmul = false;
  for (const auto& k : kernels)
    matmul |= k.at("op") == "matmul" && k.at("check_rows").dump().find("C6-") != std::string::npos;
  EXPECT_TRUE(matmul) << kernels.dump(1);
  EXPECT_THAT(Slurp(r + "/report.md"), HasSubstr("corpus check rows of the kernel"));
}

TEST(Calibrate, BadInputIsExitTwoWithTheNearestName) {
  const Result only =
      Npusim("calibrate " + kSrc + "/configs/calibration --only C2-fused-b5 --out " + Dir("bad1"));
  EXPECT_EQ(only.code, 2);
  EXPECT_THAT(only.output, HasSubstr("no row 'C2-fused-b5'"));
  EXPECT_THAT(only.output, HasSubstr("nearest valid"));
  const std::string corpus = Dir("bad_corpus");
  EXPECT_EQ(
      Npusim("calibrate " + corpus + " --add-msprof " + kSrc + "/tests/data/import/op_summary.csv")
          .code,
      2);  // no --device
  const std::string csv = corpus + "/bad.csv";
  std::ofstream(csv) << "Op Name,Op Typ,Input Shapes,Task Duration(us)\nx,MatMulV2,\"1,2;2,3\",5\n";
  const Result col =
      Npusim("calibrate " + corpus + " --add-msprof " + csv + " --device Ascend910B3");
  EXPECT_EQ(col.code, 2);
  EXPECT_THAT(col.output, HasSubstr("no column 'OP Type'"));
  EXPECT_EQ(Npusim("calibrate " + corpus + " --add-bench-serving " + csv).code, 2);  // no --run
  EXPECT_EQ(Npusim("calibrate " + kSrc + "/configs/nothing-here").code, 2);
  // validate knows rows and host profiles; a misspelt key names the nearest one.
  EXPECT_EQ(Npusim("validate " + kSrc + "/configs/calibration/C2-triton-b1.yaml").code, 0);
  EXPECT_EQ(Npusim("validate " + kSrc + "/configs/hosts/sglang-ascend.yaml").code, 0);
  std::ofstream(corpus + "/row.yaml") << "id: x\nsource: s\nmeasured: 1\nkernel: add\nrol: fit\n";
  const Result row = Npusim("validate " + corpus + "/row.yaml");
  EXPECT_EQ(row.code, 2);
  EXPECT_THAT(row.output, HasSubstr("row.yaml:5:1: unknown key 'rol' (nearest valid: 'role')"));
}

}  // namespace
}  // namespace npusim
