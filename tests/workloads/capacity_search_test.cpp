// The capacity planner without simulations: the rate search against known limits (the answer
// lands within the tolerance below the true limit, never above it, in the probe count the
// bracketing and bisection imply), and the plan against fake probes.
#include "workloads/capacity_search.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/error.h"

namespace npusim {
namespace {

TEST(RateSearch, BracketsUpwardThenBisects) {
  // Limit 5.3 from start 1: 1, 2, 4, 8 (fails) bracket [4, 8]; bisection sqrt(32) = 5.657 fails,
  // sqrt(4 * 5.657) = 4.757 passes, sqrt(4.757 * 5.657) = 5.187 passes and 5.657 / 5.187 =
  // 1.09 < 1.1 stops: 7 probes.
  const RateSearch s = SearchHighestRate(1.0, [](double r) { return r <= 5.3; });
  EXPECT_EQ(s.probed.size(), 7u);
  EXPECT_NEAR(s.best, 5.187, 1e-3);
  EXPECT_NEAR(s.lowest_failing, 5.657, 1e-3);
  EXPECT_LE(s.best, 5.3);
  EXPECT_LE(s.lowest_failing / s.best, 1.1);
}

TEST(RateSearch, HalvesWhenTheStartFails) {
  const RateSearch s = SearchHighestRate(10.0, [](double r) { return r <= 0.7; });
  EXPECT_GT(s.best, 0.7 / 1.1);
  EXPECT_LE(s.best, 0.7);
  EXPECT_DOUBLE_EQ(s.probed[1], 5.0);  // halving first
}

TEST(RateSearch, StopsAtTheProbeBudget) {
  const RateSearch never = SearchHighestRate(
      1.0, [](double) { return false; }, 0.1, 5);
  EXPECT_EQ(never.probed.size(), 5u);
  EXPECT_EQ(never.best, 0);
  const RateSearch always = SearchHighestRate(
      1.0, [](double) { return true; }, 0.1, 5);
  EXPECT_EQ(always.best, 16.0);
  EXPECT_EQ(always.lowest_failing, 0);
  EXPECT_THROW(SearchHighestRate(0.0, [](double) { return true; }), InputError);
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

const std::string kQuickstart = std::string(NPUSIM_SOURCE_DIR) + "/configs/runs/quickstart.yaml";

// A fake serving run whose p99 TPOT is 2 ms per concurrent request and whose throughput is one
// request per second per concurrent request: the search's decisions, with no simulation.
CapacityPoint Fake(const KeyValues& load, std::vector<std::string>* where, const std::string& w) {
  where->push_back(w);
  CapacityPoint p;
  p.status = "ok";
  double c = 0, rate = 0;
  for (const auto& [k, v] : load) {
    if (k == "max_concurrency" && v != "0") c = std::stod(v);
    if (k == "request_rate" && v != "inf") rate = std::stod(v);
  }
  if (c == 0) c = rate > 0 ? rate : 1000;  // rate probes: as many in flight as the rate
  p.tpot_p99_ms = 2 * c;
  p.ttft_p99_ms = 1;
  p.request_throughput = c;
  return p;
}

// The quickstart run with `sets`, searched against Fake up to `max_by_memory` requests; the
// probed points' names in order.
CapacityAnswer SearchFake(const KeyValues& sets, int64_t max_by_memory,
                          std::vector<std::string>* where) {
  CapacityAnswer a;
  a.max_by_memory = max_by_memory;
  SearchCapacity(LoadRunConfig(kQuickstart, sets), a,
                 [&](const std::string& w, const KeyValues& load) { return Fake(load, where, w); });
  return a;
}

TEST(CapacityPlan, TheConcurrencySearchStopsAtTheFirstBreakAndTheRateSearchStartsThere) {
  std::vector<std::string> where;
  const CapacityAnswer a =
      SearchFake({{"slo_tpot_p99_ms", "10"}, {"capacity_search", "both"}}, 100, &where);
  // 1, 2, 4 meet 10 ms (2, 4, 8 ms); 8 breaks it (16 ms): the curve stops there.
  ASSERT_EQ(a.curve.size(), 4u);
  EXPECT_EQ(a.max_concurrency, 4);
  EXPECT_EQ(a.binding, "tpot");
  EXPECT_EQ(where[3], "points/8");
  // All 16 prompts at once break it too, so the rate search runs from 4 req/s (the answer's
  // throughput) and ends between 5 req/s (meets: 10 ms) and 5.5 (breaks).
  EXPECT_EQ(where[4], "rate_points/all_at_once");
  EXPECT_EQ(where[5], "rate_points/0");
  EXPECT_DOUBLE_EQ(a.rate_curve.front().request_rate, 4);
  EXPECT_LE(a.max_request_rate, 5.0);
  EXPECT_GT(a.max_request_rate, 5.0 / 1.1);
  EXPECT_EQ(a.rate_binding, "tpot");
}

TEST(CapacityPlan, MemoryBindsWhenEveryLevelMeetsTheSlos) {
  std::vector<std::string> where;
  const CapacityAnswer a =
      SearchFake({{"slo_tpot_p99_ms", "1000"}, {"capacity_search", "concurrency"}}, 12, &where);
  EXPECT_EQ(where, (std::vector<std::string>{"points/1", "points/2", "points/4", "points/8",
                                             "points/12"}));
  EXPECT_EQ(a.max_concurrency, 12);
  EXPECT_EQ(a.binding, "memory");
  EXPECT_TRUE(a.rate_curve.empty());
}

// What one rank's memory allows: at most the request cap of every DP group, and no request when
// one prompt outgrows the KV pool.
TEST(CapacityPlan, MemoryLimitsFollowTheGroupCapAndTheKvPool) {
  const ResolvedRun capped =
      ResolveRun(LoadRunConfig(kQuickstart, {{"max_running_requests", "3"}}));
  EXPECT_EQ(CapacityMemoryLimits(capped).max_by_memory, 3 * capped.replicas);
  EXPECT_TRUE(CapacityMemoryLimits(capped).oom.empty());
  const ResolvedRun huge = ResolveRun(
      LoadRunConfig(kQuickstart, {{"random_input_len", "4000000"}, {"context_length", "4100000"}}));
  const MemoryLimits m = CapacityMemoryLimits(huge);
  EXPECT_EQ(m.max_by_memory, 0);
  EXPECT_NE(m.oom.find("out of memory: a request of 4000000 + 256 tokens"), std::string::npos)
      << m.oom;
}

TEST(CapacityPlan, EachTryVariantIsSearchedWithItsKnobsAndOneThatDoesNotFitIsRecorded) {
  std::vector<std::pair<size_t, KeyValues>> probed;
  const std::vector<CapacityVariant> v = PlanCapacity(
      kQuickstart, {{"capacity_search", "concurrency"}, {"slo_tpot_p99_ms", "5"}},
      {{"tp_size", {"4", "1"}}},  // the 80B model's weights do not fit one die
      [&](size_t i, const KeyValues& sets, const std::string& w, const KeyValues& load) {
        probed.push_back({i, sets});
        std::vector<std::string> where;
        return Fake(load, &where, w);
      });
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].knobs, (KeyValues{{"tp_size", "4"}}));
  EXPECT_EQ(v[0].answer.max_concurrency, 2);  // 4 ms meets 5, 8 ms does not
  ASSERT_TRUE(v[0].setup.has_value());
  EXPECT_EQ(v[1].answer.binding, "out_of_memory");
  EXPECT_FALSE(v[1].error.empty());
  for (const auto& [i, sets] : probed) {
    EXPECT_EQ(i, 0u);  // the variant that does not fit is never probed
    EXPECT_EQ(sets.back(), (std::pair<std::string, std::string>{"tp_size", "4"}));
  }
  // Alone, the same variant is the command's failure.
  EXPECT_THROW(PlanCapacity(kQuickstart, {{"tp_size", "1"}}, {},
                            [](size_t, const KeyValues&, const std::string&, const KeyValues&) {
                              return CapacityPoint{};
                            }),
               SimFailure);
}

}  // namespace
}  // namespace npusim
