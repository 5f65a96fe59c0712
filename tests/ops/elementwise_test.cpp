// fused_gdn_gating, swiglu/swiglustep and dynamic_quant against their fp64 references.
#include "ops/fused_gdn_gating/fused_gdn_gating_tiling.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

TEST(FusedGdnGating, GatesAtFp32AndBetaAtBf16) {
  // Odd head count (rows padded to a common pitch), tokens not a multiple of the tile.
  KernelRun r =
      RunOp("fused_gdn_gating", {{"tokens", "37"}, {"heads", "5"}, {"rows_per_tile", "4"}});
  ExpectAccurate(r, kBf16Tol);
  EXPECT_LE(r.numerics.at("g").norm_err, kFp32Tol);  // g is fp32, never rounded (§1.1)
}

TEST(FusedGdnGating, WithoutSigmoidWritesOnlyG) {
  KernelRun r = RunOp("fused_gdn_gating",
                      {{"tokens", "21"}, {"heads", "12"}, {"variant", "without_sigmoid"}});
  ExpectAccurate(r, kFp32Tol);
  EXPECT_EQ(r.numerics.size(), 1u);
  EXPECT_EQ(r.numerics.count("g"), 1u);
}

// impl triton: the launcher's grid, then the numbers. 100 tokens > 48 vector cores: 48 programs,
// 64-row blocks, one block each as the kernel indexes rows (program i from row 64 i): program 0
// takes rows 0-63, program 1 rows 64-99 (a partial block), the others nothing; 12 heads: an
// 8-head block and a 4-head tail, so a head offset or row stride bug shows.
TEST(FusedGdnGating, TritonGridAndNumbers) {
  const DeviceConfig d = LoadDevice("Ascend910B2");
  const fused_gdn_gating::TritonGrid big = fused_gdn_gating::ComputeTritonGrid(262144, 32, 2, d);
  // C5's largest shape: 0.95 x 1,572,864 / (8 x 32 x 8 x 2) = 364.8 -> 365 -> 512 / 2 = 256, capped
  // at 64 rows.
  EXPECT_EQ(big.programs, 48);
  EXPECT_EQ(big.blk_batches, 64);
  EXPECT_EQ(big.row_iter, 86);  // ceil(ceil(262144 / 48) / 64) = ceil(5462 / 64)
  EXPECT_EQ(big.col_iter, 4);
  const fused_gdn_gating::TritonGrid small = fused_gdn_gating::ComputeTritonGrid(16, 128, 2, d);
  EXPECT_EQ(small.programs, 16);  // at most one row per program up to the core count
  EXPECT_EQ(small.blk_batches, 1);
  EXPECT_EQ(small.col_iter, 16);
  KernelRun r = RunOp("fused_gdn_gating", {{"tokens", "100"}, {"heads", "12"}, {"impl", "triton"}},
                      "Ascend910B2");
  ExpectAccurate(r, kBf16Tol);
  EXPECT_LE(r.numerics.at("g").norm_err, kFp32Tol);
  KernelRun f = RunOp("fused_gdn_gating", {{"tokens", "21"},
                                           {"heads", "5"},
                                           {"impl", "triton"},
                                           {"variant", "without_sigmoid"},
                                           {"dtype", "float32"}});
  ExpectAccurate(f, kFp32Tol);
}

// Blocks run one after another in each program, each the same work: doubling the tokens past the
// core count doubles every program's blocks (48 programs of 2, 4, 8 blocks of 64 rows x 4 head
// groups), so each doubling adds the same time per added block (the launch and the first, cold
// block stay fixed).
TEST(FusedGdnGating, TritonBlocksRunOneAfterAnother) {
  auto us = [&](int tokens) {
    KernelRun r = RunOp("fused_gdn_gating",
                        {{"tokens", std::to_string(tokens)}, {"heads", "32"}, {"impl", "triton"}},
                        "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok") << r.message;
    return r.launch.time_us;
  };
  const double t2 = us(48 * 64 * 2), t4 = us(48 * 64 * 4), t8 = us(48 * 64 * 8);
  const double per_block_a = (t4 - t2) / (2 * 4),
               per_block_b = (t8 - t4) / (4 * 4);  // blocks added per program
  EXPECT_GT(per_block_a, 0.0);
  EXPECT_NEAR(per_block_b / per_block_a, 1.0, 0.01);
}

TEST(Swiglu, GateHalfThenUpHalf) {
  // inter odd and split into column tiles with a tail: swapped halves or a wrong row stride fail.
  ExpectAccurate(RunOp("swiglu", {{"tokens", "11"}, {"inter", "99"}, {"col_tile", "40"}}),
                 kBf16Tol);
  ExpectAccurate(RunOp("swiglu", {{"tokens", "6"}, {"inter", "24"}, {"dtype", "float32"}}),
                 kFp32Tol);
}

TEST(SwigluStep, ClampsSiluAboveAndUpBothSides) {
  KernelRun r = RunOp("swiglustep", {{"tokens", "9"}, {"inter", "130"}, {"limit", "7"}});
  ExpectAccurate(r, kBf16Tol);
  // With a huge limit it is plain SwiGLU: the same inputs give the same numbers.
  KernelRun big = RunOp(
      "swiglustep", {{"tokens", "9"}, {"inter", "130"}, {"limit", "1e9"}, {"dtype", "float32"}});
  KernelRun plain = RunOp("swiglu", {{"tokens", "9"}, {"inter", "130"}, {"dtype", "float32"}});
  ASSERT_EQ(big.status, "ok");
  const Tensor &a = big.outputs.at("out"), &b = plain.outputs.at("out");
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.At(i), b.At(i)) << i;
}

TEST(DynamicQuant, PerTokenScaleAndInt8Values) {
  KernelRun r =
      RunOp("dynamic_quant", {{"tokens", "23"}, {"hidden", "333"}, {"rows_per_tile", "5"}});
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
  const std::string chunk = TilingValue(r, "col_chunk");
  EXPECT_TRUE(!chunk.empty() && chunk != "0") << chunk;
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
