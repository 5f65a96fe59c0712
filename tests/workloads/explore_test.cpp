// Kernel design exploration (the S1 grid on an A3 die, device what-ifs, config errors) and sweep
// grids (tied keys, shards).
#include "workloads/explore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "model/error.h"
#include "workloads/sweep.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

const ExplorePoint& Find(const ExploreResult& r, const std::string& ub, const std::string& dtype,
                         const std::string& h, const std::string& bn) {
  for (const ExplorePoint& p : r.points) {
    const KeyValues want = {{"ssm_dtype", dtype}, {"h_block", h}, {"buffer_num", bn}};
    if (p.params == want && p.device_values == KeyValues{{"buffers.ub_bytes", ub}}) return p;
  }
  throw std::logic_error("no such point");
}

TEST(Explore, ScenarioS1GridOnAnA3DieAndABiggerUb) {
  const ExploreResult r = RunExplore(LoadExploreConfig(
      std::string(NPUSIM_SOURCE_DIR) + "/configs/explore/move_intermediate_cache.yaml"));
  ASSERT_EQ(r.points.size(), 24u);  // 2 UB sizes x 2 dtypes x 3 h_block x 2 buffer_num
  const ExplorePoint& s1 = Find(r, "196608", "float32", "2", "2");
  EXPECT_EQ(s1.status, "ub_overflow");
  EXPECT_EQ(s1.required_bits, 2097152);
  EXPECT_EQ(s1.available_bits, 1572864);
  EXPECT_EQ(Find(r, "262144", "float32", "2", "2").status,
            "ok");  // the what-if: a 256 KiB UB holds it
  EXPECT_EQ(Find(r, "196608", "float32", "2", "1").status, "ok");
  EXPECT_EQ(Find(r, "196608", "bfloat16", "4", "2").status, "ub_overflow");
  // Double buffering hides the copy latency: same tile, about twice as fast, twice the UB.
  const ExplorePoint &one = Find(r, "196608", "bfloat16", "1", "1"),
                     &two = Find(r, "196608", "bfloat16", "1", "2");
  EXPECT_EQ(two.ub_peak, 2 * one.ub_peak);
  EXPECT_LT(two.time_us, 0.7 * one.time_us);
  ASSERT_GE(r.fastest, 0);
  const ExplorePoint& f = r.points[static_cast<size_t>(r.fastest)];
  EXPECT_EQ(f.status, "ok");
  for (const ExplorePoint& p : r.points)
    if (p.status == "ok") {
      EXPECT_GE(p.time_us, f.time_us);
    }
  // The front is sorted by time with strictly falling UB peaks, and nothing fitting dominates it.
  ASSERT_FALSE(r.pareto.empty());
  EXPECT_EQ(r.pareto.front(), r.fastest);
  for (size_t i = 1; i < r.pareto.size(); ++i)
    EXPECT_LT(r.points[static_cast<size_t>(r.pareto[i])].ub_peak,
              r.points[static_cast<size_t>(r.pareto[i - 1])].ub_peak);
  for (int i : r.pareto)
    for (const ExplorePoint& p : r.points)
      if (p.status == "ok") {
        EXPECT_FALSE(p.time_us < r.points[static_cast<size_t>(i)].time_us &&
                     p.ub_peak < r.points[static_cast<size_t>(i)].ub_peak);
      }
}

TEST(Explore, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(NPUSIM_SOURCE_DIR) + "/configs/explore")) {
    if (e.path().extension() != ".yaml") continue;
    const ExploreConfig c = LoadExploreConfig(e.path().string());
    EXPECT_FALSE(c.sweep.empty()) << e.path();
    ++n;
  }
  EXPECT_GE(n, 3);
}

TEST(Explore, ConfigErrorsNameTheKeyAndItsPlace) {
  auto error = [](const std::string& yaml) {
    try {
      ParseExploreConfig(yaml, "x.yaml");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(error("kernel: move_intermediate_cache\nsweeep:\n  h_block: [1]\n"),
              HasSubstr("x.yaml:2:1: unknown key 'sweeep' (nearest valid: 'sweep')"));
  EXPECT_THAT(error("kernel: move_intermediate_cache\nsweep:\n  h_blok: [1]\n"),
              HasSubstr("x.yaml:3:3: sweep.h_blok"));
  EXPECT_THAT(error("kernel: move_intermediate_cache\ndevice_sweep:\n  buffers.ub_byte: [1024]\n"),
              HasSubstr("nearest valid: 'buffers.ub_bytes'"));
  EXPECT_THAT(
      error("kernel: move_intermediate_cache\nsweep:\n  h_block: {from: 4, to: 1, step: 1}\n"),
      HasSubstr("needs numbers from <= to"));
  EXPECT_THAT(error("kernel: move_intermediate_cach\n"), HasSubstr("move_intermediate_cache"));
  // Issue #15: a device_sweep value bypassed the device files' own rule (two AIVs per AIC).
  EXPECT_THAT(
      error("kernel: rms_norm\ndevices: [Ascend910B3]\ndevice_sweep:\n  cores.aiv: [40, 30]\n"),
      HasSubstr("device_sweep point Ascend910B3 cores.aiv=30: cores.aiv must be 2 x cores.aic"));
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

TEST(SweepConfig, TiedKeysMoveTogetherAndShardsPartitionTheGrid) {
  const SweepConfig c = ParseSweepConfig(
      "run: ../runs/qwen3.5-35b-a3-mtp.yaml\ngrid:\n  "
      "speculative_num_steps,speculative_num_draft_tokens: [[1, 2], [3, 4]]\n"
      "  mamba_ssm_dtype: [bfloat16, float32]\n",
      "configs/sweeps/x.yaml");
  EXPECT_EQ(c.run, "configs/runs/qwen3.5-35b-a3-mtp.yaml");
  const auto points = SweepPoints(c);
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[2],
            (std::vector<std::pair<std::string, std::string>>{{"speculative_num_steps", "3"},
                                                              {"speculative_num_draft_tokens", "4"},
                                                              {"mamba_ssm_dtype", "bfloat16"}}));
  int64_t covered = 0;
  for (int64_t s = 1; s <= 3; ++s)
    for (int64_t i = 0; i < 4; ++i) covered += InShard(i, {s, 3});
  EXPECT_EQ(covered, 4);  // every point in exactly one of 3 shards
  EXPECT_THROW(ParseShard("0/4"), InputError);
  EXPECT_THROW(ParseShard("5/4"), InputError);
  EXPECT_EQ(ParseShard("2/4"), (std::pair<int64_t, int64_t>{2, 4}));
  try {
    ParseSweepConfig("kernel: rms_norm\ngrid:\n  token: [1]\n", "y.yaml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("y.yaml:3:3: unknown key 'token' (nearest valid: 'tokens')"));
  }
}

}  // namespace
}  // namespace npusim
