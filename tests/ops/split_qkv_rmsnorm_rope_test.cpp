// split_qkv_rmsnorm_rope: numerics against the fp64 reference on shapes that catch layout bugs,
// the wrapper's grid rule, the UB limit of its wide grid, and a program's time as its serial rows.
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "ops/split_qkv_rmsnorm_rope/split_qkv_rmsnorm_rope_tiling.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

const std::string kOp = "split_qkv_rmsnorm_rope";

// 37 tokens (fewer than the programs: some walk no row, the others one), GQA 3:1 over two KV
// heads (q 768 = 6 x 128, k = v = 256), a partial rotation (32 of 128 dims) and a full one (64 of
// 64), each on both grids; positions anywhere in a 300-row cache.
TEST(SplitQkvRmsNormRope, MatchesTheReferenceOnBothGrids) {
  for (const char* grid : {"per_head", "wide"})
    for (const Kvs& shape : std::vector<Kvs>{
             {{"q_hidden", "768"}, {"kv_hidden", "256"}, {"head_dim", "128"}, {"rope_dim", "32"}},
             {{"q_hidden", "256"}, {"kv_hidden", "64"}, {"head_dim", "64"}, {"rope_dim", "64"}}}) {
      Kvs kv = shape;
      kv.insert(kv.end(), {{"tokens", "37"}, {"max_position", "300"}, {"grid", grid}});
      const KernelRun r = RunOp(kOp, kv, "Ascend910B3");
      ASSERT_EQ(r.status, "ok") << r.message;
      ExpectAccurate(r, kBf16Tol);
    }
  ExpectTimingOnlyMatchesFunctional(kOp, {{"tokens", "90"}, {"grid", "wide"}}, "Ascend910B3");
}

// sgl-kernel-npu PR #641 (commit 39a95200) on 910B3's 40 vector cores: below 1024 tokens the
// per-head grid (4 KV heads across, ceil(40 / 4) = 10 programs down, 4 Q heads each); from 1024
// the wide grid (40 programs down, all 16 Q and 4 KV heads each), but not past q_hidden 8192.
TEST(SplitQkvRmsNormRope, TheWrapperPicksTheGridByTokensAndWidth) {
  const DeviceConfig d = LoadDevice("Ascend910B3");
  using split_qkv_rmsnorm_rope::ComputeTiling;
  const auto narrow = ComputeTiling(1023, 2048, 512, 128, 64, 1e-6f, "auto", d);
  EXPECT_FALSE(narrow.wide);
  EXPECT_EQ(narrow.n_cols, 4);
  EXPECT_EQ(narrow.n_rows, 10);
  EXPECT_EQ(narrow.q_block_n, 4);
  const auto wide = ComputeTiling(1024, 2048, 512, 128, 64, 1e-6f, "auto", d);
  EXPECT_TRUE(wide.wide);
  EXPECT_EQ(wide.n_rows, 40);
  EXPECT_EQ(wide.q_block_n, 16);
  EXPECT_EQ(wide.k_block_n, 4);
  const auto too_wide = ComputeTiling(8192, 12288, 1536, 128, 64, 1e-6f, "auto", d);
  EXPECT_FALSE(too_wide.wide);
  EXPECT_EQ(too_wide.n_cols, 12);
  EXPECT_EQ(too_wide.n_rows, 4);
}

// The wide grid holds a whole Q row in UB four times over (bf16 in and out, fp32 value, square
// and weight tiles: 12 B per element): q_hidden 12288 takes 196608 B before K and V, more than the
// 192 KiB UB, where the real kernel stopped compiling (12288 raised MLIRCompilationError on
// 910B3); 8192 fits, as it compiled.
TEST(SplitQkvRmsNormRope, AWideGridPast8192OverflowsTheUb) {
  const Kvs big = {
      {"tokens", "2048"}, {"q_hidden", "12288"}, {"kv_hidden", "1536"}, {"grid", "wide"}};
  const KernelRun r = RunOp(kOp, big, "Ascend910B3", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "ub_overflow") << r.message;
  const KernelRun ok = RunOp(
      kOp, {{"tokens", "2048"}, {"q_hidden", "8192"}, {"kv_hidden", "1024"}, {"grid", "wide"}},
      "Ascend910B3", ModeChoice::kTimingOnly);
  EXPECT_EQ(ok.status, "ok") << ok.message;
}

// A program walks its rows one after another and each row's loads wait for the previous row's
// stores, so the time is the rows per program times one row: twice the tokens, twice the time
// (820 vs 410 rows per program on the per-head grid; the launch's fixed part is under 1 %).
TEST(SplitQkvRmsNormRope, TimeGrowsWithTheRowsEachProgramWalks) {
  const KernelRun a = RunOp(kOp, {{"tokens", "4096"}, {"grid", "per_head"}}, "Ascend910B3",
                            ModeChoice::kTimingOnly);
  const KernelRun b = RunOp(kOp, {{"tokens", "8192"}, {"grid", "per_head"}}, "Ascend910B3",
                            ModeChoice::kTimingOnly);
  ASSERT_EQ(a.status, "ok") << a.message;
  ASSERT_EQ(b.status, "ok") << b.message;
  EXPECT_NEAR(b.launch.time_us / a.launch.time_us, 820.0 / 410.0, 0.02);
}

}  // namespace
}  // namespace npusim::testing
