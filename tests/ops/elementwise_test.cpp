// fused_gdn_gating, swiglu/swiglustep and dynamic_quant against their fp64 references.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

TEST(FusedGdnGating, GatesAtFp32AndBetaAtBf16) {
  // Odd head count (rows padded to a common pitch), tokens not a multiple of the tile.
  KernelRun r = RunOp("fused_gdn_gating", {{"tokens", "37"}, {"heads", "5"}, {"rows_per_tile", "4"}});
  ExpectAccurate(r, kBf16Tol);
  EXPECT_LE(r.numerics.at("g").norm_err, kFp32Tol);  // g is fp32, never rounded (§1.1)
}

TEST(FusedGdnGating, WithoutSigmoidWritesOnlyG) {
  KernelRun r = RunOp("fused_gdn_gating", {{"tokens", "21"}, {"heads", "12"}, {"variant", "without_sigmoid"}});
  ExpectAccurate(r, kFp32Tol);
  EXPECT_EQ(r.numerics.size(), 1u);
  EXPECT_EQ(r.numerics.count("g"), 1u);
}

TEST(Swiglu, GateHalfThenUpHalf) {
  // inter odd and split into column tiles with a tail: swapped halves or a wrong row stride fail.
  ExpectAccurate(RunOp("swiglu", {{"tokens", "11"}, {"inter", "99"}, {"col_tile", "40"}}), kBf16Tol);
  ExpectAccurate(RunOp("swiglu", {{"tokens", "6"}, {"inter", "24"}, {"dtype", "float32"}}), kFp32Tol);
}

TEST(SwigluStep, ClampsSiluAboveAndUpBothSides) {
  KernelRun r = RunOp("swiglustep", {{"tokens", "9"}, {"inter", "130"}, {"limit", "7"}});
  ExpectAccurate(r, kBf16Tol);
  // With a huge limit it is plain SwiGLU: the same inputs give the same numbers.
  KernelRun big = RunOp("swiglustep", {{"tokens", "9"}, {"inter", "130"}, {"limit", "1e9"}, {"dtype", "float32"}});
  KernelRun plain = RunOp("swiglu", {{"tokens", "9"}, {"inter", "130"}, {"dtype", "float32"}});
  ASSERT_EQ(big.status, "ok");
  const Tensor &a = big.outputs.at("out"), &b = plain.outputs.at("out");
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.At(i), b.At(i)) << i;
}

TEST(DynamicQuant, PerTokenScaleAndInt8Values) {
  KernelRun r = RunOp("dynamic_quant", {{"tokens", "23"}, {"hidden", "333"}, {"rows_per_tile", "5"}});
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_LE(r.numerics.at("scale").max_rel_err, 1e-6);
  // x * (1/s) in fp32 may land on the other side of a .5 than x / s in fp64: one step at most.
  EXPECT_LE(r.numerics.at("q").max_abs_err, 1.0);
  EXPECT_GE(r.launch.time_us, r.roofline_us);
}

// Rows longer than UB holds with their fp32 copies (Qwen3.5-27B's 17408-wide down projection
// input) go in col_chunk pieces, two passes per row; an odd tail piece (17440 = 32 x 545 is not a
// whole number of pieces) and several rows per block (buffers reused: the race checker watches)
// catch offset and sync bugs.
TEST(DynamicQuant, RowsLongerThanUbGoInPieces) {
  KernelRun r = RunOp("dynamic_quant", {{"tokens", "150"}, {"hidden", "17440"}});
  ASSERT_EQ(r.status, "ok") << r.message;
  bool chunked = false;
  for (const auto& [k, v] : r.tiling) chunked |= k == "col_chunk" && v != "0";
  EXPECT_TRUE(chunked);
  EXPECT_LE(r.numerics.at("scale").max_rel_err, 1e-6);
  EXPECT_LE(r.numerics.at("q").max_abs_err, 1.0);
}

TEST(Elementwise, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("fused_gdn_gating", {{"tokens", "50"}, {"heads", "8"}});
  ExpectTimingOnlyMatchesFunctional("swiglustep", {{"tokens", "17"}, {"inter", "64"}});
  ExpectTimingOnlyMatchesFunctional("dynamic_quant", {{"tokens", "17"}, {"hidden", "64"}});
  ExpectTimingOnlyMatchesFunctional("dynamic_quant", {{"tokens", "3"}, {"hidden", "17408"}});
}

}  // namespace
}  // namespace npusim::testing
