// The calibration corpus loader and the plain math of `npusim calibrate`: YAML value rewriting,
// errors against a cap, the verdict, the bounded Nelder-Mead, and the shipped corpus itself.
#include "workloads/calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "model/error.h"
#include "workloads/calibration_import.h"
#include "workloads/calibration_run.h"
#include "workloads/fidelity.h"
#include "workloads/host_profile.h"
#include "workloads/run_config.h"

namespace npusim {
namespace {

const std::string kCorpus = std::string(NPUSIM_SOURCE_DIR) + "/configs/calibration";

TEST(Calibration, SetYamlScalarRewritesOneNestedValueAndKeepsEverythingElse) {
  const std::string text =
      "# head\n"
      "launch:\n"
      "  overhead_us: 2.0        # a source\n"
      "triton:                   # group comment\n"
      "  launch_us: 0            # placeholder\n"
      "  program_cycles: 0\n"
      "other: 1\n";
  const std::string out = SetYamlScalar(text, "triton.launch_us", "46.5");
  EXPECT_EQ(out,
            "# head\n"
            "launch:\n"
            "  overhead_us: 2.0        # a source\n"
            "triton:                   # group comment\n"
            "  launch_us: 46.5         # placeholder\n"
            "  program_cycles: 0\n"
            "other: 1\n");
  // A new comment replaces the old one; a key without one gets it two spaces after the value.
  EXPECT_NE(SetYamlScalar(text, "triton.program_cycles", "1900", "fitted")
                .find("  program_cycles: 1900  # fitted\n"),
            std::string::npos);
  // Same leaf name under another group is not touched; a missing key is an error.
  EXPECT_NE(SetYamlScalar(text, "launch.overhead_us", "3").find("overhead_us: 3 "),
            std::string::npos);
  EXPECT_THROW(SetYamlScalar(text, "triton.overhead_us", "3"), InputError);
  EXPECT_THROW(SetYamlScalar(text, "launch_us", "3"), InputError);  // only under triton
}

TEST(Calibration, ErrorsAgainstACapCountOnlyAboveIt) {
  EXPECT_NEAR(RelativeError(55, 50), 0.1, 1e-12);
  EXPECT_NEAR(RelativeError(45, 50), -0.1, 1e-12);
  EXPECT_DOUBLE_EQ(RelativeError(45, 50, "cap"), 0);
  EXPECT_NEAR(RelativeError(55, 50, "cap"), 0.1, 1e-12);
}

TEST(Calibration, NelderMeadFindsAMinimumInsideTheBoxAndStopsAtABound) {
  auto bowl = [](const std::vector<double>& x) {
    return std::pow(x[0] - 3, 2) + 10 * std::pow(x[1] + 1, 2);
  };
  const FitResult r = NelderMead(bowl, {0, 0}, {-10, -10}, {10, 10}, 400, 1e-12);
  EXPECT_NEAR(r.x[0], 3, 1e-2);
  EXPECT_NEAR(r.x[1], -1, 1e-2);
  EXPECT_FALSE(AtBound(r.x[0], -10, 10));
  // The minimum at x = 3 lies outside [-10, 1]: the fit ends at the bound, which AtBound flags.
  const FitResult b = NelderMead([](const std::vector<double>& x) { return std::pow(x[0] - 3, 2); },
                                 {0}, {-10}, {1}, 200, 1e-12);
  EXPECT_NEAR(b.x[0], 1, 1e-3);
  EXPECT_TRUE(AtBound(b.x[0], -10, 1));
  EXPECT_LE(b.evals, 200);
}

TEST(Calibration, VerdictCountsRolesAndSkipsRowsThatNeedAFeature) {
  Corpus c;
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    CalibrationRow r;
    r.id = id;
    r.role = std::string(id) == "a" ? "fit" : "check";
    c.rows.push_back(r);
  }
  std::vector<PointResult> res(5);
  const double errors[] = {0.01, -0.1, 0.3, 0, 0};
  for (int i = 0; i < 5; ++i) {
    res[i].id = c.rows[i].id;
    res[i].error = errors[i];
    res[i].pass = std::fabs(errors[i]) <= 0.25;
  }
  res[3].status = "needs a feature";
  res[4].status = "failed";
  const Verdict v = Summarise(c, res);
  EXPECT_EQ(v.rows, 5);
  EXPECT_EQ(v.simulated, 3);
  EXPECT_EQ(v.needs, 1);
  EXPECT_EQ(v.failed, 1);
  EXPECT_EQ(v.check_rows, 2);
  EXPECT_EQ(v.check_pass, 1);
  EXPECT_DOUBLE_EQ(v.check_median_abs, 0.2);
  EXPECT_DOUBLE_EQ(v.check_worst_abs, 0.3);
  EXPECT_EQ(v.worst_check, "c");
  EXPECT_EQ(v.fit_rows, 1);
}

TEST(Calibration, ShippedCorpusLoadsAndEveryFitRowBelongsToAGroup) {
  const Corpus c = LoadCorpus(kCorpus);
  EXPECT_GT(c.rows.size(), 150u);
  int fit = 0, needs = 0;
  for (const auto& r : c.rows) {
    EXPECT_FALSE(r.source.empty()) << r.id;
    EXPECT_GT(r.measured, 0) << r.id;
    fit += r.role == "fit";
    needs += r.status != "ok";
  }
  EXPECT_GT(needs, 0);  // rows the simulator cannot load yet stay in the corpus
  int grouped = 0;
  for (const auto& g : c.groups) {
    grouped += static_cast<int>(g.rows.size());
    for (const auto& k : g.constants) {
      EXPECT_LT(k.lo, k.hi);
      for (const auto& f : TargetFiles(k)) EXPECT_TRUE(std::filesystem::exists(f)) << f;
    }
  }
  EXPECT_EQ(grouped, fit);
}

TEST(Calibration, BadRowsAreInputErrorsNamingTheKey) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("npusim_cal_" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nrole: check\nkernel: add\nmesured: 3\n";
  try {
    LoadCorpus(dir);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'mesured'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'measured'"), std::string::npos) << e.what();
  }
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nrole: fit\nkernel: add\nmeasured: 3\n";
  EXPECT_THROW(LoadCorpus(dir), InputError);  // a fit row no group fits on
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nratio: [x, y]\nmeasured: 3\n";
  EXPECT_THROW(LoadCorpus(dir), InputError);  // ratio of a row that does not exist
  auto rejects = [&](const std::string& yaml, const std::string& message) {
    std::ofstream(dir + "/x.yaml") << yaml;
    try {
      LoadCorpus(dir);
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), testing::HasSubstr(message));
    }
  };
  rejects("id: x\nsource: s\nsum: [y]\nmeasured: 3\n",
          "x.yaml:3:6: 'sum' lists two or more row ids");
  std::ofstream(dir + "/y.yaml") << "id: y\nsource: s\nkernel: add\nmeasured: 1\n";
  std::ofstream(dir + "/z.yaml") << "id: z\nsource: s\nratio: [y, y]\nmeasured: 1\n";
  rejects("id: x\nsource: s\nsum: [y, z]\nmeasured: 3\n",
          "'sum' names row 'z', itself a ratio or sum");
  rejects("id: x\nsource: s\nsum: [y, y]\nmetric: mean_ttft_ms\nmeasured: 3\n",
          "'sum' adds row 'y', whose metric is time_us, to a mean_ttft_ms sum");
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nsum: [y, y]\nmeasured: 3\n";
  EXPECT_EQ(LoadCorpus(dir).Find("x")->of, (std::vector<std::string>{"y", "y"}));
  EXPECT_EQ(LoadCorpus(dir).Find("x")->metric, "time_us");
  // A term no row times is written inline, a kernel with its device, parameters and launch.
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nsum: [y, {kernel: add, device: "
                                    "Ascend910B2, params: {n: 3}, launch: a}]\nmeasured: 3\n";
  const CalibrationRow x = *LoadCorpus(dir).Find("x");
  EXPECT_EQ(x.of, (std::vector<std::string>{"y"}));
  ASSERT_EQ(x.terms.size(), 1u);
  EXPECT_EQ(x.terms[0].id, "x/1");  // its position in the sum
  EXPECT_EQ(x.terms[0].kind, "kernel");
  EXPECT_EQ(x.terms[0].kernel, "add");
  EXPECT_EQ(x.terms[0].device, "Ascend910B2");
  EXPECT_EQ(x.terms[0].params, (KeyValues{{"n", "3"}}));
  EXPECT_EQ(x.terms[0].launch, "a");
  EXPECT_EQ(x.terms[0].metric, "time_us");
  EXPECT_EQ(x.terms[0].KernelLabel(), "add.a");
  // A sum that needs a feature leaves its terms unsimulated too.
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nstatus: needs more\nsum: [y, {kernel: "
                                    "add}]\nmeasured: 3\n";
  EXPECT_EQ(LoadCorpus(dir).Find("x")->terms.at(0).status, "needs more");
  rejects("id: x\nsource: s\nsum: [y, {device: Ascend910B2}]\nmeasured: 3\n",
          "x.yaml:3:10: an inline 'sum' term is a kernel");
  rejects("id: x\nsource: s\nsum: [y, {kernel: add, param: {n: 3}}]\nmeasured: 3\n", "'params'");
  rejects("id: x\nsource: s\nsum: [y, {kernel: add}]\nmetric: mean_ttft_ms\nmeasured: 3\n",
          "its metric is time_us");
  std::filesystem::remove(dir + "/y.yaml");
  std::filesystem::remove(dir + "/z.yaml");
  // Fuzz findings: a list where a scalar belongs escaped as yaml-cpp's bad conversion.
  std::ofstream(dir + "/x.yaml")
      << "id: x\nsource: s\nmeasured: 1\nkernel: add\nparams: {a: [[1]]}\n";
  try {
    LoadCorpus(dir);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("x.yaml:5:14: 'params.a' takes a single value, got a list"),
        std::string::npos)
        << e.what();
  }
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nmeasured: 1\nratio: [[a], b]\n";
  EXPECT_THROW(LoadCorpus(dir), InputError);
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nmeasured: 1\nkernel: add\nslow: maybe\n";
  try {
    LoadCorpus(dir);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("x.yaml:5:7: 'slow' cannot be 'maybe'"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir + "/x.yaml") << "id: x\nsource: s\nmeasured: 1\nkernel: add\nslow: true\n";
  EXPECT_TRUE(LoadCorpus(dir).Find("x")->slow);
  std::filesystem::remove_all(dir);
}

// A run's kernels each carry their own check rows: the run's device first, other devices when it
// has none; fit rows, other kernels, serving rows and rows waiting on a feature never count; a
// bandwidth row's error turns into the time error it implies (+100 % bandwidth = -50 % time).
TEST(Fidelity, EachKernelOfARunCarriesItsOwnCheckRows) {
  const std::vector<CorpusRow> rows = CorpusRowsFrom(nlohmann::json::parse(R"([
    {"id": "a1", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "bandwidth_gbps",
     "device": "A3", "status": "ok", "error": 1.0},
    {"id": "a2", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "device": "A3", "status": "ok", "error": 0.2},
    {"id": "a3", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "device": "A3", "status": "ok", "error": 0.4},
    {"id": "a4", "role": "fit", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "device": "A3", "status": "ok", "error": 5.0},
    {"id": "a5", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "device": "A2", "status": "ok", "error": 9.0},
    {"id": "m1", "role": "check", "kind": "kernel", "op": "matmul", "metric": "time_us",
     "device": "A2", "status": "ok", "error": -0.1},
    {"id": "m2", "role": "check", "kind": "kernel", "op": "matmul", "metric": "time_us",
     "device": "A3", "status": "needs a feature"},
    {"id": "r1", "role": "check", "kind": "run", "op": "", "metric": "mean_tpot_ms", "device": "A3",
     "status": "ok", "error": 0.3}
  ])"));
  const auto k = KernelChecks({{"all_to_all", 0.5}, {"matmul", 0.3}, {"swiglu", 0.2}}, "A3", rows);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].basis, "same device");
  EXPECT_EQ(k[0].rows, (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_DOUBLE_EQ(k[0].median_abs, 0.4);  // |1.0|, |0.2|, |0.4|
  EXPECT_DOUBLE_EQ(k[0].worst_abs, 1.0);
  EXPECT_DOUBLE_EQ(k[0].median_time_error, 0.2);  // -0.5, 0.2, 0.4
  EXPECT_EQ(k[0].faster, 1);
  EXPECT_EQ(k[0].slower, 2);
  EXPECT_EQ(k[1].basis, "other devices");
  EXPECT_EQ(k[1].rows, (std::vector<std::string>{"m1"}));
  EXPECT_EQ(k[1].Summary(),
            "m1 (other devices): error 10 % median, 10 % worst (1 simulated faster)");
  EXPECT_TRUE(k[2].rows.empty());
  EXPECT_EQ(k[2].Summary(), "no measured row");
  EXPECT_EQ(k[0].Summary(),
            "a1 +2 more: error 40 % median, 100 % worst (1 simulated faster, 2 slower)");
}

// A serving run's nearest rows: its model on its device in its parallel setup first, then its
// model on its device, then its model anywhere. A kernel run never takes the setup tier.
TEST(Fidelity, TheNearestRowsShareTheRunsModelDeviceAndSetup) {
  const std::vector<CorpusRow> rows = CorpusRowsFrom(nlohmann::json::parse(R"([
    {"id": "s1", "role": "check", "kind": "run", "model": "m.json", "device": "A3",
     "setup": "tp16 dp4", "status": "ok", "error": 0.5},
    {"id": "s2", "role": "fit", "kind": "run", "model": "m.json", "device": "A3",
     "setup": "tp16 dp4", "status": "ok", "error": 0.1},
    {"id": "b1", "role": "check", "kind": "run", "model": "m.json", "device": "A3",
     "setup": "tp2 nextn", "status": "ok", "error": 2.0},
    {"id": "c1", "role": "check", "kind": "run", "model": "m.json", "device": "A2", "setup": "tp4",
     "status": "ok", "error": -0.2},
    {"id": "k1", "role": "check", "kind": "kernel", "op": "matmul", "device": "A3", "setup": "",
     "status": "ok", "error": 0.1}
  ])"));
  Fidelity f;
  NearestCorpusRows(f, rows, "configs/models/m.json", "", "A3", "tp16 dp4");
  EXPECT_EQ(f.basis, "same model, device and setup tp16 dp4");
  EXPECT_EQ(f.check_rows, (std::vector<std::string>{"s1"}));
  EXPECT_EQ(f.fit_rows, (std::vector<std::string>{"s2"}));
  Fidelity other;
  NearestCorpusRows(other, rows, "m.json", "", "A3", "tp8");
  EXPECT_EQ(other.basis, "same model and device");
  EXPECT_EQ(other.check_rows, (std::vector<std::string>{"s1", "b1"}));
  EXPECT_DOUBLE_EQ(other.check_worst_abs, 2.0);
  Fidelity a2;
  NearestCorpusRows(a2, rows, "m.json", "", "A1", "tp16 dp4");
  EXPECT_EQ(a2.basis, "same model");
  Fidelity kernel;
  NearestCorpusRows(kernel, rows, "", "matmul", "A3", "");
  EXPECT_EQ(kernel.basis, "same kernel and device");
}

// calibrate's kernel-by-kernel table: every kernel of the kernel rows over all devices, the worst
// median first; a kernel whose rows are all unsimulated stays, with no rows.
TEST(Fidelity, TheCorpusViewListsEveryKernelWorstFirst) {
  const std::vector<CorpusRow> rows = CorpusRowsFrom(nlohmann::json::parse(R"([
    {"id": "m1", "role": "check", "kind": "kernel", "op": "matmul", "metric": "time_us",
     "status": "ok", "error": -0.1},
    {"id": "a1", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "status": "ok", "error": 0.5},
    {"id": "a2", "role": "check", "kind": "kernel", "op": "all_to_all", "metric": "time_us",
     "status": "ok", "error": 0.9},
    {"id": "w1", "role": "check", "kind": "kernel", "op": "wy_fast", "status": "needs a feature"},
    {"id": "r1", "role": "check", "kind": "run", "op": "", "metric": "mean_tpot_ms", "status": "ok",
     "error": 3.0}
  ])"));
  const auto k = CorpusKernelChecks(rows);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].op, "all_to_all");
  EXPECT_DOUBLE_EQ(k[0].median_abs, 0.7);
  EXPECT_EQ(k[0].basis, "all devices");
  EXPECT_EQ(k[1].op, "matmul");
  EXPECT_EQ(k[2].op, "wy_fast");
  EXPECT_TRUE(k[2].rows.empty());
  EXPECT_EQ(k[0].Summary(), "a1 +1 more: error 70 % median, 90 % worst (2 slower)");
}

// Check rows grouped by trait, errors as speed errors (+: simulated faster): a time 20 % short is
// 1 / 0.8 - 1 = +25 % speed, a throughput 50 % high is +50 %, a time 25 % long is -20 %. Fit rows,
// unsimulated rows and ratio rows (no speed) never count; a kernel row has no weights or model;
// an exact hit (b1) counts in the median but leans neither way;
// groups under min_rows are left out; the largest |median| comes first.
TEST(Fidelity, CheckRowsThatShareATraitShowWhichWayTheyLean) {
  const std::vector<CorpusRow> rows = CorpusRowsFrom(nlohmann::json::parse(R"([
    {"id": "q1", "role": "check", "kind": "run", "model": "a.json", "metric": "mean_tpot_ms",
     "device": "A3", "weights": "w8a8_dynamic", "status": "ok", "error": -0.2},
    {"id": "q2", "role": "check", "kind": "run", "model": "a.json", "metric": "output_throughput",
     "device": "A3", "weights": "w8a8_dynamic", "status": "ok", "error": 0.5},
    {"id": "q3", "role": "check", "kind": "run", "model": "b.json", "metric": "mean_ttft_ms",
     "device": "A2", "weights": "w8a8_dynamic", "status": "ok", "error": 0.25},
    {"id": "q4", "role": "fit", "kind": "run", "model": "b.json", "metric": "mean_tpot_ms",
     "device": "A2", "weights": "w8a8_dynamic", "status": "ok", "error": -0.9},
    {"id": "b1", "role": "check", "kind": "run", "model": "b.json", "metric": "mean_tpot_ms",
     "device": "A2", "weights": "bf16", "status": "ok", "error": 0.0},
    {"id": "b2", "role": "check", "kind": "run", "model": "b.json", "metric": "mean_tpot_ms",
     "device": "A2", "weights": "bf16", "status": "needs a feature"},
    {"id": "k1", "role": "check", "kind": "kernel", "op": "matmul", "metric": "time_us",
     "device": "A2", "weights": "w8a8_dynamic", "status": "ok", "error": 0.25},
    {"id": "k2", "role": "check", "kind": "kernel", "op": "matmul", "metric": "bandwidth_gbps",
     "device": "A2", "status": "ok", "error": 0.1},
    {"id": "x1", "role": "check", "kind": "ratio", "metric": "", "status": "ok", "error": 0.4}
  ])"));
  const std::vector<CorpusBias> all = CorpusBiases(rows, 2);
  std::vector<std::string> groups;
  for (const CorpusBias& b : all) groups.push_back(b.trait + " " + b.value);
  // weights w8a8_dynamic: q1 +25 %, q2 +50 %, q3 -20 % -> +25 %; device A3: q1, q2 -> +37.5 %;
  // model a.json: the same rows; metric mean_tpot_ms: q1 +25 %, b1 0 -> +12.5 %; device A2: q3,
  // b1, k1 (-20 %), k2 (+10 %) -> -10 %; model b.json: q3, b1 -> -10 %; metric time_us has one row.
  EXPECT_EQ(groups, (std::vector<std::string>{"device A3", "model a.json", "weights w8a8_dynamic",
                                              "metric mean_tpot_ms", "device A2", "model b.json"}));
  EXPECT_DOUBLE_EQ(all[0].median_speed_error, 0.375);
  EXPECT_EQ(all[2].rows, (std::vector<std::string>{"q1", "q2", "q3"}));
  EXPECT_DOUBLE_EQ(all[2].median_speed_error, 0.25);
  EXPECT_EQ(all[2].faster, 2);
  EXPECT_EQ(all[2].slower, 1);
  EXPECT_EQ(all[2].Summary(), "weights w8a8_dynamic +25 % on 3 check rows (2 faster, 1 slower)");
  EXPECT_DOUBLE_EQ(all[4].median_speed_error, -0.1);
  EXPECT_EQ(all[4].Summary(), "device A2 -10 % on 4 check rows (1 faster, 2 slower)");  // b1 hit
  // A bf16 run of b.json on A2 belongs to its device's and model's groups, not to w8a8's; a
  // kernel run only to its device's. With the default of three rows a group needs, the two-row
  // groups drop out.
  std::vector<std::string> mine;
  for (const CorpusBias& b : RunBiases(rows, "configs/models/b.json", "", "A2", ""))
    mine.push_back(b.trait + " " + b.value);
  EXPECT_EQ(mine, (std::vector<std::string>{"device A2"}));
  Fidelity f;
  f.state_file = "state.json";
  f.check_rows = {"b1"};
  f.bias = all;
  EXPECT_NE(f.Summary().find("corpus lean (median speed error, +: simulated faster): device A3 "
                             "+38 % on 2 check rows"),
            std::string::npos)
      << f.Summary();
  // Leans under a tenth stay out of the summary line (they are in metrics.json).
  CorpusBias small = all[3];
  small.median_speed_error = 0.05;
  f.bias = {small};
  EXPECT_EQ(f.Summary().find("corpus lean"), std::string::npos);
}

TEST(HostProfile, RunKeysOverrideOneValueOfTheProfile) {
  RunConfig c;
  c.host_profile = "sglang-ascend";
  const HostProfile base = c.Host();
  EXPECT_EQ(base.name, "sglang-ascend");
  EXPECT_DOUBLE_EQ(base.launch_us, 106.6);
  c.host_step_us = 42;
  c.host_request_us = 7;
  const HostProfile h = c.Host();
  EXPECT_DOUBLE_EQ(h.step_us, 42);
  EXPECT_DOUBLE_EQ(h.request_us, 7);
  EXPECT_DOUBLE_EQ(h.launch_us, base.launch_us);
  c.host_profile = "sglang-ascnd";
  try {
    c.Host();
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sglang-ascend"), std::string::npos) << e.what();
  }
}

// The calibrate runner's plain parts (workloads/calibration_run): what a row runs, which rows
// --only selects, and the figure read back from a point's metrics.json.
TEST(CalibrationRun, AKernelRowRunsTimingOnlyOnItsDeviceOrTheCandidateOne) {
  CalibrationRow r;
  r.kind = "kernel";
  r.kernel = "add";
  r.device = "Ascend910B2";
  r.params = {{"n", "64"}, {"buffer_num", "1"}};
  const std::vector<std::string> plain = {"kernel",      "add",           "--device",
                                          "Ascend910B2", "--timing-only", "--set",
                                          "n=64",        "--set",         "buffer_num=1"};
  EXPECT_EQ(RowCommand(r, {}), plain);
  ProfileOverrides o;
  o.device["Ascend910B2"] = "/fit/3/Ascend910B2.yaml";  // a fit evaluation's candidate device
  EXPECT_EQ(RowCommand(r, o)[3], "/fit/3/Ascend910B2.yaml");
}

// A fit evaluation reads each point's metrics.json and deletes the rest: its runs draw no charts.
TEST(CalibrationRun, ARunRowLeavesItsChartsOutOnlyWhenAsked) {
  CalibrationRow r;
  r.kind = "run";
  r.run = std::string(NPUSIM_SOURCE_DIR) + "/configs/runs/quickstart.yaml";
  r.sets = {{"num_prompts", "2"}};
  const std::vector<std::string> kept = RowCommand(r, {});
  EXPECT_EQ(std::count(kept.begin(), kept.end(), "--no-charts"), 0);
  const std::vector<std::string> fit = RowCommand(r, {}, /*charts=*/false);
  ASSERT_EQ(fit.size(), kept.size() + 1);
  EXPECT_EQ(fit.back(), "--no-charts");
}

TEST(CalibrationRun, OnlyTakesCommaListsAndRatiosAndSumsBringTheirRows) {
  Corpus c;
  c.dir = "corpus";
  for (const char* id : {"a", "b", "c", "r"}) {
    CalibrationRow row;
    row.id = id;
    row.kind = "kernel";
    c.rows.push_back(row);
  }
  c.rows[3].kind = "ratio";
  c.rows[3].of = {"a", "b"};
  EXPECT_EQ(OnlyRows(c, {"a,c", "c,"}), (std::set<std::string>{"a", "c"}));
  try {
    OnlyRows(c, {"a,rr"});
    ADD_FAILURE() << "an unknown row was accepted";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("--only: no row 'rr' in corpus (nearest valid: 'r')"));
  }
  std::vector<std::string> picked;
  for (const CalibrationRow* row : SelectRows(c, {"r"})) picked.push_back(row->id);
  EXPECT_EQ(picked, (std::vector<std::string>{"a", "b", "r"}));
  c.rows[3].kind = "sum";
  c.rows[3].of = {"b", "c"};
  picked.clear();
  for (const CalibrationRow* row : SelectRows(c, {"r"})) picked.push_back(row->id);
  EXPECT_EQ(picked, (std::vector<std::string>{"b", "c", "r"}));
  EXPECT_EQ(SelectRows(c, {}).size(), 4u);  // no --only: every row
}

// A sum row (one launch running kernels that have rows of their own) adds its rows' figures, a
// ratio divides its two; either fails, naming its rows, when one of them has no figure.
TEST(CalibrationRun, DerivedRowsAddOrDivideTheFiguresOfTheirRows) {
  std::map<std::string, PointResult> by_id;
  for (const auto& [id, v] :
       std::vector<std::pair<std::string, double>>{{"a", 100}, {"b", 250}, {"c", 50}}) {
    by_id[id].id = id;
    by_id[id].simulated = v;
  }
  CalibrationRow sum;
  sum.id = "s";
  sum.kind = "sum";
  sum.of = {"a", "b", "c"};
  sum.measured = 500;
  sum.tolerance = 0.25;
  PointResult p = DerivedPoint(sum, by_id);
  EXPECT_EQ(p.status, "ok");
  EXPECT_DOUBLE_EQ(p.simulated, 400);  // 100 + 250 + 50
  using Terms = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(p.terms, (Terms{{"a", 100}, {"b", 250}, {"c", 50}}));
  EXPECT_DOUBLE_EQ(p.error, -0.2);  // 400 / 500 - 1
  EXPECT_TRUE(p.pass);
  CalibrationRow ratio = sum;
  ratio.kind = "ratio";
  ratio.of = {"b", "a"};
  ratio.measured = 2;
  p = DerivedPoint(ratio, by_id);
  EXPECT_DOUBLE_EQ(p.simulated, 2.5);
  EXPECT_DOUBLE_EQ(p.error, 0.25);
  by_id["c"].status = "failed";
  p = DerivedPoint(sum, by_id);
  EXPECT_EQ(p.status, "failed");
  EXPECT_EQ(p.message, "needs rows a, b, c simulated");
  // Inline terms count as the sum's own: their figures are added, their failure is its failure.
  sum.of = {"a"};
  sum.terms.resize(1);
  sum.terms[0].id = "s/1";
  sum.terms[0].kernel = "wy_fast";
  by_id["s/1"].id = "s/1";
  by_id["s/1"].simulated = 300;
  p = DerivedPoint(sum, by_id);
  EXPECT_EQ(p.status, "ok");
  EXPECT_DOUBLE_EQ(p.simulated, 400);  // 100 + 300
  // Named as the report shows them: a row by its id, an inline kernel by name[.launch].
  EXPECT_EQ(p.terms, (Terms{{"a", 100}, {"wy_fast", 300}}));
  by_id["s/1"].status = "failed";
  by_id["s/1"].message = "ub overflow";
  p = DerivedPoint(sum, by_id);
  EXPECT_EQ(p.status, "failed");
  EXPECT_EQ(p.message, "s/1: ub overflow");
}

TEST(CalibrationRun, APointsFigureIsReadFromItsMetricsOrItsFailureFromTheLog) {
  const std::string dir = ::testing::TempDir() + "/calibration_point";
  std::filesystem::create_directories(dir);
  CalibrationRow r;
  r.id = "k";
  r.kind = "kernel";
  r.metric = "time_us";
  r.measured = 10;
  r.tolerance = 0.25;
  std::ofstream(dir + "/metrics.json") << R"({"status": "ok", "time_us": 12.0})";
  PointResult p = ReadCalibrationPoint(r, dir, 0, 0);
  EXPECT_EQ(p.status, "ok");
  EXPECT_DOUBLE_EQ(p.simulated, 12.0);
  EXPECT_NEAR(p.error, 0.2, 1e-12);
  EXPECT_TRUE(p.pass);
  std::filesystem::remove(dir + "/metrics.json");
  std::ofstream(dir + "/log.txt") << "info: starting\nerror: ub overflow, requires 2097152 bits\n";
  p = ReadCalibrationPoint(r, dir, 3, 0);
  EXPECT_EQ(p.status, "failed");
  EXPECT_EQ(p.message, "exit 3: error: ub overflow, requires 2097152 bits");
}

// DeepEP's normal-mode rows give a bandwidth (the test's recv bytes / time): the row names the
// bytes and the point's figure is bytes / time_us / 1e3 GB/s. 469762048 B (a C7 dispatch row's
// bf16 count) in 1035.179 us is 453.80 GB/s; against a measured 146 that is +210.8 %.
TEST(CalibrationRun, ABandwidthRowDividesItsBytesByTheKernelsTime) {
  const std::string dir = ::testing::TempDir() + "/calibration_bandwidth";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/row.yaml") << "id: bw\nsource: s\nkernel: all_to_all\nmeasured: 146\n"
                                      "metric: bandwidth_gbps\nbytes: 469762048\n";
  const CalibrationRow r = ReadRowCheck(dir + "/row.yaml");
  EXPECT_DOUBLE_EQ(r.bytes, 469762048.0);
  std::ofstream(dir + "/metrics.json") << R"({"status": "ok", "time_us": 1035.179})";
  const PointResult p = ReadCalibrationPoint(r, dir, 0, 0);
  EXPECT_EQ(p.status, "ok");
  EXPECT_NEAR(p.simulated, 469762048.0 / 1035.179e3, 1e-9);
  EXPECT_NEAR(p.error, 469762048.0 / 1035.179e3 / 146 - 1, 1e-12);
  EXPECT_FALSE(p.pass);
  // The metric without bytes, or bytes without the metric, is refused.
  for (const char* text : {"id: bw\nsource: s\nkernel: a\nmeasured: 1\nmetric: bandwidth_gbps\n",
                           "id: bw\nsource: s\nkernel: a\nmeasured: 1\nbytes: 10\n"}) {
    std::ofstream(dir + "/row.yaml") << text;
    try {
      ReadRowCheck(dir + "/row.yaml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), testing::HasSubstr("metric bandwidth_gbps and 'bytes' go together"));
    }
  }
}

}  // namespace
}  // namespace npusim
