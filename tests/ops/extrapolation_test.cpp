// Long streaming launches of the row kernels and the cube matmuls are timed from two simulated
// probes (ops/common/probe_extrapolation.h). Each test takes a launch just above the threshold
// (small tiles pinned so the full simulation stays short), times it both ways and holds the
// extrapolated time to the full simulation's. Odd token counts leave blocks with unequal rows
// and partial last tiles, which the fit prices per row; the matmul shapes leave a partial last
// row band.
#include <gtest/gtest.h>

#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

struct BothWays {
  KernelRun fast, full;
};

BothWays TimeBothWays(const std::string& op, const Kvs& kv, const std::string& device) {
  ParamValues p(FindOp(op).params());
  for (const auto& [k, v] : kv) p.Set(k, v);
  RunOptions o;
  o.mode = ModeChoice::kTimingOnly;
  o.use_cache = false;
  const DeviceConfig d = LoadDevice(device);
  BothWays r;
  r.fast = RunKernel(FindOp(op), p, d, o);
  o.extrapolate = false;
  r.full = RunKernel(FindOp(op), p, d, o);
  return r;
}

// Within 1 % of the simulated time: the probes run the launch's own tile loop on its own blocks,
// so what is left is the partial tiles and the HBM / L2 contention of a longer run.
void ExpectExtrapolatesToTheSimulatedTime(const std::string& op, const Kvs& kv,
                                          const std::string& device = "Ascend910B3") {
  const BothWays r = TimeBothWays(op, kv, device);
  ASSERT_EQ(r.fast.status, "ok") << r.fast.message;
  ASSERT_EQ(r.full.status, "ok") << r.full.message;
  EXPECT_TRUE(r.fast.extrapolated) << op;
  EXPECT_FALSE(r.full.extrapolated) << op;
  EXPECT_NEAR(r.fast.launch.time_us / r.full.launch.time_us, 1.0, 0.01) << op;
}

// 910B3: 40 AIV cores. 3001 rows of one tile each give blocks of 75 or 76 tiles (threshold 64).
TEST(ProbeExtrapolation, RmsNormWithResidual) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm", {{"tokens", "3001"}, {"hidden", "5120"}, {"rows_per_tile", "1"}});
}

// A row split into column slices: the probes keep cols_per_tile.
TEST(ProbeExtrapolation, RmsNormSplitRows) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm",
      {{"tokens", "2999"}, {"hidden", "8192"}, {"rows_per_tile", "1"}, {"cols_per_tile", "2048"}});
}

// Per-head rows: 1999 tokens x 8 heads, 4 rows per tile -> about 100 tiles a block.
TEST(ProbeExtrapolation, GatedRmsNormPerHead) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm_gated",
      {{"tokens", "1999"}, {"heads", "8"}, {"v_dim", "128"}, {"rows_per_tile", "4"}});
}

TEST(ProbeExtrapolation, L2NormPerHead) {
  ExpectExtrapolatesToTheSimulatedTime(
      "l2norm", {{"tokens", "1501"}, {"heads", "16"}, {"head_dim", "128"}, {"rows_per_tile", "4"}},
      "Ascend910B2");
}

TEST(ProbeExtrapolation, SwiGlu) {
  ExpectExtrapolatesToTheSimulatedTime(
      "swiglu", {{"tokens", "3001"}, {"inter", "1536"}, {"rows_per_tile", "1"}});
}

TEST(ProbeExtrapolation, DynamicQuant) {
  ExpectExtrapolatesToTheSimulatedTime(
      "dynamic_quant", {{"tokens", "3001"}, {"hidden", "5120"}, {"rows_per_tile", "1"}});
}

TEST(ProbeExtrapolation, RotaryEmbedding) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rotary_embedding",
      {{"tokens", "3001"}, {"heads", "8"}, {"kv_heads", "2"}, {"rows_per_tile", "1"}});
}

TEST(ProbeExtrapolation, AttentionGate) {
  ExpectExtrapolatesToTheSimulatedTime(
      "attention_gate", {{"tokens", "3001"}, {"heads", "8"}, {"rows_per_tile", "1"}});
}

// 910B3: 20 AIC cores. n = 5120 in 256-wide tiles is 20 tile columns, so the probes take 16 and
// 32 row bands and launches above 4 x 32 bands (m > 16384 with 128-row bands) extrapolate.
TEST(ProbeExtrapolation, Matmul) {
  ExpectExtrapolatesToTheSimulatedTime(
      "matmul",
      {{"m", "16900"}, {"k", "512"}, {"n", "5120"}, {"base_m", "128"}, {"base_n", "256"}});
}

TEST(ProbeExtrapolation, QuantMatmul) {
  ExpectExtrapolatesToTheSimulatedTime(
      "quant_matmul",
      {{"m", "16900"}, {"k", "512"}, {"n", "5120"}, {"base_m", "128"}, {"base_n", "256"}});
}

// Below the thresholds every launch is simulated (and records its timeline).
TEST(ProbeExtrapolation, ShortLaunchesAreSimulated) {
  const std::vector<std::pair<std::string, Kvs>> short_launches = {
      {"rms_norm", {{"tokens", "2560"}, {"hidden", "5120"}, {"rows_per_tile", "1"}}},
      {"swiglu", {{"tokens", "2560"}, {"inter", "1536"}, {"rows_per_tile", "1"}}},
      {"matmul",
       {{"m", "16384"}, {"k", "512"}, {"n", "5120"}, {"base_m", "128"}, {"base_n", "256"}}},
  };
  for (const auto& [op, kv] : short_launches) {
    const KernelRun r = RunOp(op, kv, "Ascend910B3", ModeChoice::kTimingOnly);
    ASSERT_EQ(r.status, "ok") << r.message;
    EXPECT_FALSE(r.extrapolated) << op;
  }
}

// Functional runs compute every row, so they are never extrapolated.
TEST(ProbeExtrapolation, FunctionalRunsAreSimulated) {
  const KernelRun r =
      RunOp("rms_norm", {{"tokens", "3001"}, {"hidden", "512"}, {"rows_per_tile", "1"}},
            "Ascend910B3", ModeChoice::kFunctional);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_FALSE(r.extrapolated);
}

}  // namespace
}  // namespace npusim::testing
