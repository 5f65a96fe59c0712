// The calibration corpus as tests (ctest label `calibration`, run once by `make test`, not by
// `make sanitize`; the rows marked `slow`, minutes each, under calibration_slow: `make test-slow`).
// One test per distinct simulation (rows that read the same kernel run or the same serving run
// share it; a ratio joins its two rows, a sum is tested with its rows), each row checked against
// its own tolerance when the recorded state (configs/calibration/state.json, `npusim calibrate
// --record`) had it within tolerance, and otherwise required not to get worse than recorded by
// more than two points: a gap that is reported, never hidden, and cannot silently grow.
// Plus one test per fit group: refitting from the declared start on the fit rows reproduces the
// value shipped in the device / host YAML.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "../app/npusim_process.h"
#include "devices/device_config.h"
#include "workloads/calibration.h"

namespace npusim {
namespace {

using Json = nlohmann::json;
const std::string kCorpus = std::string(NPUSIM_SOURCE_DIR) + "/configs/calibration";
// One kernel cache beside the binary for every calibrate these tests run
// (workloads/kernel_cache.h): rows of one model share most kernels, and a rebuilt binary writes
// under a new stamp.
const int kSharedKernelCache =
    ::setenv("NPUSIM_KERNEL_CACHE",
             (std::filesystem::path(NPUSIM_BIN).parent_path() / "kernel-cache").c_str(), 0);

bool AnySlow(const Corpus& c, const std::vector<std::string>& ids) {
  return std::any_of(ids.begin(), ids.end(),
                     [&](const std::string& id) { return c.Find(id)->slow; });
}

// Rows grouped by the simulation they read (a ratio and a sum: see below). `slow`: the groups
// holding a row marked slow (their tests carry the label calibration_slow, see
// tests/CMakeLists.txt), or the others.
std::vector<std::vector<std::string>> SimulationGroups(bool slow) {
  const Corpus c = LoadCorpus(kCorpus);
  std::map<std::string, std::vector<std::string>> by_command;
  std::map<std::string, std::string> key_of;
  auto key = [](const CalibrationRow& r) {
    std::string k = r.kind + "|" + r.kernel + "|" + r.device + "|" + r.run;
    for (const auto& [a, b] : r.params) k += "|" + a + "=" + b;
    for (const auto& [a, b] : r.sets) k += "|" + a + "=" + b;
    return k;
  };
  for (const auto& r : c.rows)
    if (r.status == "ok" && !r.Derived()) {
      by_command[key(r)].push_back(r.id);
      key_of[r.id] = key(r);
    }
  // A ratio joins its two rows' groups. A sum is tested with all its rows, which keep their own
  // groups too: in the group of its first slow row, so that slow simulation runs once (joining
  // the groups would take the sum's fast rows out of `make test`), else in a group of its own.
  for (const auto& r : c.rows)
    if (r.status == "ok" && r.kind == "ratio") {
      auto& g = by_command[key_of.at(r.of[0])];
      g.push_back(r.id);
      for (const auto& id : by_command[key_of.at(r.of[1])]) g.push_back(id);
      by_command.erase(key_of.at(r.of[1]));
    } else if (r.status == "ok" && r.kind == "sum") {
      std::string home = "sum|" + r.id;  // a group of its own, named after the sum (its first id)
      for (const auto& id : r.of)
        if (c.Find(id)->slow) {
          home = key_of.at(id);
          break;
        }
      auto& g = by_command[home];
      std::vector<std::string> ids = {r.id};
      ids.insert(ids.end(), r.of.begin(), r.of.end());
      for (const auto& id : ids)
        if (std::find(g.begin(), g.end(), id) == g.end()) g.push_back(id);
    }
  std::vector<std::vector<std::string>> out;
  for (auto& [k, ids] : by_command)
    if (AnySlow(c, ids) == slow) out.push_back(ids);
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, Json> Recorded() {
  std::map<std::string, Json> rows;
  std::ifstream in(kCorpus + "/state.json");
  if (!in) return rows;
  const Json state = Json::parse(in);  // named: a range-for over a member of a temporary dangles
  for (const auto& r : state.at("rows")) rows[r.at("id").get<std::string>()] = r;
  return rows;
}

std::string Name(const std::vector<std::string>& ids) {
  std::string s = ids.front();
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

class CorpusRows : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(CorpusRows, WithinToleranceOrNoWorseThanRecorded) {
  const std::vector<std::string>& ids = GetParam();
  std::string only;
  for (const auto& id : ids) only += (only.empty() ? "" : ",") + id;
  const std::string out = Dir("calibration_" + Name(ids));
  const Result r =
      Npusim("calibrate " + kCorpus + " --only " + only + " -j 1 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(out + "/metrics.json");
  const Json m = Json::parse(in);
  const auto recorded = Recorded();
  const Corpus c = LoadCorpus(kCorpus);
  for (const auto& row : m.at("rows")) {
    const std::string id = row.at("id");
    ASSERT_EQ(row.at("status"), "ok") << id << ": " << row.value("message", "");
    const double e = std::fabs(row.at("error").get<double>()), tol = c.Find(id)->tolerance;
    auto rec = recorded.find(id);
    ASSERT_NE(rec, recorded.end()) << id << " has no recorded state: run npusim calibrate --record";
    ASSERT_TRUE(rec->second.contains("error")) << id << " was not simulated when recorded";
    const double was = std::fabs(rec->second.at("error").get<double>());
    if (was <= tol)
      EXPECT_LE(e, tol) << id << ": simulated " << row.at("simulated") << " vs measured "
                        << row.at("measured");
    else
      EXPECT_LE(e, was + 0.02) << id << ": a known gap of " << was << " grew to " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusRows, ::testing::ValuesIn(SimulationGroups(false)),
                         [](const ::testing::TestParamInfo<std::vector<std::string>>& i) {
                           return Name(i.param);
                         });
INSTANTIATE_TEST_SUITE_P(CorpusSlow, CorpusRows, ::testing::ValuesIn(SimulationGroups(true)),
                         [](const ::testing::TestParamInfo<std::vector<std::string>>& i) {
                           return Name(i.param);
                         });

class FitGroups : public ::testing::TestWithParam<std::string> {};

// The fit groups with (slow) or without a slow row.
std::vector<std::string> GroupNames(bool slow) {
  const Corpus c = LoadCorpus(kCorpus);
  std::vector<std::string> out;
  for (const auto& g : c.groups)
    if (AnySlow(c, g.rows) == slow) out.push_back(g.name);
  return out;
}

// The shipped value of every fitted constant is what a refit from the declared start gives
// (within 3 % of the value, or 0.5 % of the bounds' width near zero): nobody tuned it by hand.
TEST_P(FitGroups, RefitReproducesTheShippedValues) {
  const Corpus c = LoadCorpus(kCorpus);
  const FitGroup* g = nullptr;
  for (const auto& x : c.groups)
    if (x.name == GetParam()) g = &x;
  ASSERT_NE(g, nullptr);
  std::string only;
  for (const auto& id : g->rows) only += (only.empty() ? "" : ",") + id;
  const std::string out = Dir("fit_" + g->name);
  const Result r = Npusim("calibrate " + kCorpus + " --fit --no-write --only " + only +
                          " -j 2 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(out + "/metrics.json");
  const Json m = Json::parse(in);
  int checked = 0;
  for (const auto& f : m.at("fits")) {
    if (f.at("group") != g->name) continue;
    ++checked;
    EXPECT_EQ(f.at("failed_rows"), "") << f.at("key");
    // A fit that ends at a bound is a modelling gap: the shipped YAML must not claim the value.
    const FitConstant* k = nullptr;
    for (const auto& x : g->constants)
      if (x.key == f.at("key")) k = &x;
    ASSERT_NE(k, nullptr);
    std::ifstream yaml(TargetFiles(*k).front());
    const std::string line =
        YamlLine(std::string((std::istreambuf_iterator<char>(yaml)), {}), k->key);
    ASSERT_FALSE(line.empty()) << k->key;
    if (f.at("at_bound").get<bool>()) {
      EXPECT_EQ(line.find(kFittedMarker), std::string::npos)
          << g->name << " " << k->key << " ended at a bound but the YAML claims a fit: " << line;
      continue;
    }
    EXPECT_NE(line.find(kFittedMarker), std::string::npos)
        << g->name << " " << k->key << ": " << line;
    const double fitted = f.at("value"), shipped = f.at("before");
    const auto bounds = f.at("bounds");
    const double width = bounds[1].get<double>() - bounds[0].get<double>();
    EXPECT_NEAR(fitted, shipped, std::max(0.03 * std::fabs(shipped), 0.005 * width))
        << g->name << " " << f.at("key") << ": the shipped value is not what the fit gives";
  }
  EXPECT_EQ(checked, static_cast<int>(g->constants.size()));
}

std::string GroupTestName(const ::testing::TestParamInfo<std::string>& i) {
  std::string s = i.param;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}
INSTANTIATE_TEST_SUITE_P(Calibration, FitGroups, ::testing::ValuesIn(GroupNames(false)),
                         GroupTestName);
INSTANTIATE_TEST_SUITE_P(CalibrationSlow, FitGroups, ::testing::ValuesIn(GroupNames(true)),
                         GroupTestName);

}  // namespace
}  // namespace npusim
