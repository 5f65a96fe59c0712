// rms_norm, rms_norm_gated and l2norm against their fp64 references.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

TEST(RmsNorm, ZeroCentredWithResidualAtBf16Precision) {
  // Odd hidden size (padded UB rows), token count not a multiple of the tile or of the cores.
  KernelRun r = RunOp("rms_norm", {{"tokens", "37"}, {"hidden", "1001"}, {"rows_per_tile", "3"}});
  ExpectAccurate(r, kBf16Tol);
  // The residual sum is a rounding point of the math itself (§8): exact.
  EXPECT_EQ(r.numerics.at("residual_out").max_abs_err, 0.0);
}

// Issue #15: eps=nan passed the range check and gave all-NaN output with "max_abs_err 0".
TEST(RmsNorm, NanParametersAreRefused) {
  EXPECT_THROW(RunOp("rms_norm", {{"eps", "nan"}}), InputError);
  EXPECT_THROW(RunOp("rms_norm", {{"eps", "-nan"}}), InputError);
}

TEST(RmsNorm, Fp32PathWithoutResidual) {
  KernelRun r = RunOp("rms_norm", {{"tokens", "19"},
                                   {"hidden", "300"},
                                   {"dtype", "float32"},
                                   {"residual", "0"},
                                   {"eps", "1e-5"}});
  ExpectAccurate(r, kFp32Tol);
  EXPECT_EQ(r.numerics.count("residual_out"), 0u);
}

TEST(RmsNorm, ForcedTileTooLargeOverflowsTheUb) {
  KernelRun r = RunOp("rms_norm", {{"tokens", "128"}, {"hidden", "8192"}, {"rows_per_tile", "64"}},
                      "Ascend910B3", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "ub_overflow");
  EXPECT_NE(r.message.find("inQueueX (TQue VECIN): 1048576 B x 2 buffers"), std::string::npos)
      << r.message;
}

TEST(RmsNorm, RowsWiderThanTheUbGoInColumnSlices) {
  // With the fused residual a whole row needs ~32 B per column of UB: hidden 7168 (DeepSeek-V3),
  // 8192 (Llama-70B) and 12288 overflowed the 192 KiB UB before the rows were sliced.
  for (const char* hidden : {"7168", "8192", "12288"}) {
    KernelRun r = RunOp("rms_norm", {{"tokens", "5"}, {"hidden", hidden}});
    ExpectAccurate(r, kBf16Tol);
    EXPECT_EQ(r.numerics.at("residual_out").max_abs_err, 0.0)
        << hidden;  // recomputed in pass 2, bit-identical
    const std::string cols = TilingValue(r, "cols_per_tile");
    ASSERT_FALSE(cols.empty()) << hidden;
    EXPECT_TRUE(std::stoll(cols) > 0 && std::stoll(cols) % 64 == 0) << hidden << ": " << cols;
  }
  // Whole rows stay whole where they fit.
  EXPECT_EQ(TilingValue(RunOp("rms_norm", {{"tokens", "5"}, {"hidden", "4096"}}, "Ascend910B3",
                              ModeChoice::kTimingOnly),
                        "cols_per_tile"),
            "");
}

TEST(NormFamily, ForcedSlicesWithATailMatchTheReference) {
  // 200 columns in slices of 64: three full slices and a tail of 8, every variant.
  ExpectAccurate(RunOp("rms_norm", {{"tokens", "7"}, {"hidden", "200"}, {"cols_per_tile", "64"}}),
                 kBf16Tol);
  ExpectAccurate(
      RunOp("rms_norm",
            {{"tokens", "7"}, {"hidden", "200"}, {"cols_per_tile", "64"}, {"residual", "0"}}),
      kBf16Tol);
  ExpectAccurate(
      RunOp("rms_norm_gated",
            {{"tokens", "3"}, {"heads", "2"}, {"v_dim", "200"}, {"cols_per_tile", "64"}}),
      kBf16Tol);
  ExpectAccurate(
      RunOp("l2norm",
            {{"tokens", "3"}, {"heads", "2"}, {"head_dim", "200"}, {"cols_per_tile", "64"}}),
      kBf16Tol);
  ExpectTimingOnlyMatchesFunctional("rms_norm", {{"tokens", "9"}, {"hidden", "8192"}});
}

TEST(RmsNorm, LargeShapeIsMemoryBoundAndNearTheRoofline) {
  KernelRun r = RunOp("rms_norm", {{"tokens", "4096"}, {"hidden", "2048"}}, "Ascend910B3",
                      ModeChoice::kTimingOnly);
  ASSERT_EQ(r.status, "ok");
  EXPECT_EQ(r.roofline_us, r.memory_bound_us);
  EXPECT_GE(r.launch.time_us, r.roofline_us);
  EXPECT_GT(r.roofline_us / r.launch.time_us, 0.8);  // 4 streams of 16 MiB: bandwidth, not overhead
}

TEST(RmsNormGated, PerHeadGroupWithSiluGate) {
  // V odd and != heads: a norm over the wrong axis or a transposed z would not match.
  KernelRun r = RunOp("rms_norm_gated", {{"tokens", "13"}, {"heads", "5"}, {"v_dim", "72"}});
  ExpectAccurate(r, kBf16Tol);
  KernelRun f = RunOp("rms_norm_gated",
                      {{"tokens", "7"}, {"heads", "3"}, {"v_dim", "40"}, {"dtype", "float32"}});
  ExpectAccurate(f, kFp32Tol);
}

TEST(L2Norm, UnitRowsAtBf16AndFp32) {
  ExpectAccurate(RunOp("l2norm", {{"tokens", "29"}, {"heads", "3"}, {"head_dim", "100"}}),
                 kBf16Tol);
  ExpectAccurate(
      RunOp("l2norm", {{"tokens", "5"}, {"heads", "7"}, {"head_dim", "24"}, {"dtype", "float32"}}),
      kFp32Tol);
}

TEST(NormFamily, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("rms_norm", {{"tokens", "40"}, {"hidden", "512"}});
  ExpectTimingOnlyMatchesFunctional("rms_norm_gated", {{"tokens", "9"}, {"heads", "4"}});
}

TEST(RmsNorm, AsQkNormOneRowPerHead) {
  // QK-norm of Qwen3-Next/3.5 (kernels.md §6.2): zero-centred (1+w) RMSNorm over head_dim 256,
  // one row per (token, head): 37 tokens x 4 heads, no residual.
  ExpectAccurate(RunOp("rms_norm", {{"tokens", "148"}, {"hidden", "256"}, {"residual", "0"}}),
                 kBf16Tol);
}

}  // namespace
}  // namespace npusim::testing
