// A sweep's plan without running it: which points a shard owns, the command of each point, when
// a point counts as done for a resume, and where a shard writes by default.
#include "workloads/sweep.h"

#include <gtest/gtest.h>

#include "model/error.h"

namespace npusim {
namespace {

TEST(SweepPlan, ShardsSplitThePointsRoundRobinAndCoverThemOnce) {
  EXPECT_EQ(ShardPoints(7, {1, 3}), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(ShardPoints(7, {3, 3}), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(ShardPoints(2, {3, 3}), std::vector<int64_t>{});
  size_t all = 0;
  for (int64_t i = 1; i <= 4; ++i) all += ShardPoints(10, {i, 4}).size();
  EXPECT_EQ(all, 10u);
}

TEST(SweepPlan, APointRunsItsBaseWithItsOverrides) {
  SweepConfig run;
  run.run = "configs/runs/quickstart.yaml";
  EXPECT_EQ(SweepPointCommand(run, {{"tp_size", "2"}, {"max_concurrency", "8"}}),
            (std::vector<std::string>{"run", "configs/runs/quickstart.yaml", "--set", "tp_size=2",
                                      "--set", "max_concurrency=8"}));
  SweepConfig kernel;
  kernel.kernel = "rms_norm";
  kernel.device = "Ascend910B3";
  EXPECT_EQ(SweepPointCommand(kernel, {{"tokens", "8"}}),
            (std::vector<std::string>{"kernel", "rms_norm", "--device", "Ascend910B3",
                                      "--timing-only", "--set", "tokens=8"}));
}

TEST(SweepPlan, OnlyAPointThatRanToItsEndIsDoneForAResume) {
  EXPECT_TRUE(SweepPointFinished(kExitOk));
  EXPECT_TRUE(SweepPointFinished(kExitInvalidInput));
  EXPECT_TRUE(SweepPointFinished(kExitSimulatedFailure));
  EXPECT_FALSE(SweepPointFinished(124));  // killed at --point-timeout
  EXPECT_FALSE(SweepPointFinished(130));  // interrupted
  EXPECT_FALSE(SweepPointFinished(4));    // its outputs could not be written
  EXPECT_EQ(SweepDefaultOut("configs/sweeps/rms-norm-rows.yaml", {1, 1}),
            "reports/out/sweep-rms-norm-rows");
  EXPECT_EQ(SweepDefaultOut("x/y.yaml", {2, 3}), "reports/out/sweep-y-2of3");
}

}  // namespace
}  // namespace npusim
