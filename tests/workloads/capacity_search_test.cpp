// The rate search against known limits: the answer lands within the tolerance below the true
// limit, never above it, in the probe count the bracketing and bisection imply.
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
