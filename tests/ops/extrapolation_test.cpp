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
                                          const std::string& device = "Ascend910B3",
                                          double tolerance = 0.01) {
  const BothWays r = TimeBothWays(op, kv, device);
  ASSERT_EQ(r.fast.status, "ok") << r.fast.message;
  ASSERT_EQ(r.full.status, "ok") << r.full.message;
  EXPECT_TRUE(r.fast.extrapolated) << op;
  EXPECT_FALSE(r.full.extrapolated) << op;
  EXPECT_NEAR(r.fast.launch.time_us / r.full.launch.time_us, 1.0, tolerance) << op;
}

// 910B3: 40 AIV cores. 10301 rows of one tile each give blocks of 257 or 258 tiles (threshold 256).
TEST(ProbeExtrapolation, RmsNormWithResidual) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm", {{"tokens", "10301"}, {"hidden", "5120"}, {"rows_per_tile", "1"}});
}

// A row split into column slices: the probes keep cols_per_tile.
TEST(ProbeExtrapolation, RmsNormSplitRows) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm",
      {{"tokens", "10299"}, {"hidden", "8192"}, {"rows_per_tile", "1"}, {"cols_per_tile", "2048"}});
}

// Per-head rows: 5201 tokens x 8 heads, 4 rows per tile -> 260 tiles a block.
TEST(ProbeExtrapolation, GatedRmsNormPerHead) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rms_norm_gated",
      {{"tokens", "5201"}, {"heads", "8"}, {"v_dim", "128"}, {"rows_per_tile", "4"}});
}

// 910B2: 48 AIV cores; 3101 tokens x 16 heads in 4-row tiles -> 258 or 259 tiles a block.
TEST(ProbeExtrapolation, L2NormPerHead) {
  ExpectExtrapolatesToTheSimulatedTime(
      "l2norm", {{"tokens", "3101"}, {"heads", "16"}, {"head_dim", "128"}, {"rows_per_tile", "4"}},
      "Ascend910B2");
}

TEST(ProbeExtrapolation, SwiGlu) {
  ExpectExtrapolatesToTheSimulatedTime(
      "swiglu", {{"tokens", "10301"}, {"inter", "1536"}, {"rows_per_tile", "1"}});
}

TEST(ProbeExtrapolation, DynamicQuant) {
  ExpectExtrapolatesToTheSimulatedTime(
      "dynamic_quant", {{"tokens", "10301"}, {"hidden", "5120"}, {"rows_per_tile", "1"}});
}

TEST(ProbeExtrapolation, RotaryEmbedding) {
  ExpectExtrapolatesToTheSimulatedTime(
      "rotary_embedding",
      {{"tokens", "10301"}, {"heads", "8"}, {"kv_heads", "2"}, {"rows_per_tile", "1"}});
}

// Within 2.5 %, not 1 %: the gate streams three tensors and is HBM-bound on the 910B3 (1152 GB/s
// since session 60; within 1 % at the former 1600), and the simulated launch's cost per row
// still falls past the probes' sizes: 21834 / 39065 / 73204 / 139892 / 275222 cycles at 640 /
// 1280 / 2560 / 5120 / 10301 rows, i.e. 26.9, 26.7, 26.1, 26.1 cycles a row between them. The
// probes (640, 1280) carry the first slope, so the extrapolation says 280706 cycles (155.9 us)
// against 275222 simulated (152.9 us): +2.0 %. Larger probes would close it (not done: it moves
// every extrapolated attention-gate launch, P rows at 16k and 32k tokens included).
TEST(ProbeExtrapolation, AttentionGate) {
  ExpectExtrapolatesToTheSimulatedTime(
      "attention_gate", {{"tokens", "10301"}, {"heads", "8"}, {"rows_per_tile", "1"}},
      "Ascend910B3", 0.025);
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

// Chunked GDN above 65536 tokens per request: its nine launches each fit as a + b * tokens on
// probes of 16384 and 32768 tokens. Two requests with initial states, an odd length (a partial
// last chunk) and K != V.
TEST(ProbeExtrapolation, ChunkGatedDeltaRuleLaunchByLaunch) {
  const BothWays r = TimeBothWays("chunk_gated_delta_rule",
                                  {{"requests", "2"},
                                   {"tokens", "65601"},
                                   {"initial", "all"},
                                   {"heads", "4"},
                                   {"key_heads", "2"},
                                   {"k_dim", "128"},
                                   {"v_dim", "64"}},
                                  "Ascend910B2");
  ASSERT_EQ(r.fast.status, "ok") << r.fast.message;
  ASSERT_EQ(r.full.status, "ok") << r.full.message;
  EXPECT_TRUE(r.fast.extrapolated);
  EXPECT_FALSE(r.full.extrapolated);
  ASSERT_EQ(r.fast.launch_times.size(), r.full.launch_times.size());
  for (size_t i = 0; i < r.full.launch_times.size(); ++i) {
    EXPECT_EQ(r.fast.launch_times[i].first, r.full.launch_times[i].first);
    // Each stage within 0.2 % of the chain's time. Measured: solve_tril +0.5 % of its own time
    // (0.11 % of the chain's), cumsum, 1 % of the chain, +2.3 % of its own (its blocks' row
    // rounding does not scale exactly); the other stages within 0.1 % of their own.
    EXPECT_NEAR(r.fast.launch_times[i].second, r.full.launch_times[i].second,
                2e-3 * r.full.launch.time_us)
        << r.full.launch_times[i].first;
  }
  EXPECT_NEAR(r.fast.launch.time_us / r.full.launch.time_us, 1.0, 0.005);
  EXPECT_NEAR(static_cast<double>(r.fast.launch.hbm_read_bytes) /
                  static_cast<double>(r.full.launch.hbm_read_bytes),
              1.0, 0.02);
}

// Requests of different lengths, or some with an initial state and some without, are not one
// size scaled, so they are simulated as given.
TEST(ProbeExtrapolation, ChunkGatedDeltaRuleMixedBatchesAreSimulated) {
  const Op& op = FindOp("chunk_gated_delta_rule");
  const DeviceConfig d = LoadDevice("Ascend910B2");
  GmMap gm;
  for (const Kvs& kv : {Kvs{{"requests", "2"}, {"tokens", "70000"}, {"initial", "mixed"}},
                        Kvs{{"requests", "2"}, {"seq_lens", "70000,90000"}},
                        Kvs{{"requests", "1"}, {"tokens", "65536"}}}) {
    ParamValues p(op.params());
    for (const auto& [k, v] : kv) p.Set(k, v);
    EXPECT_FALSE(op.Extrapolate(p, d, gm).has_value()) << p.Canonical();
  }
  ParamValues p(op.params());
  p.Set("tokens", "65537");
  EXPECT_TRUE(op.Extrapolate(p, d, gm).has_value());
}

// Below the thresholds every launch is simulated (and records its timeline).
TEST(ProbeExtrapolation, ShortLaunchesAreSimulated) {
  const std::vector<std::pair<std::string, Kvs>> short_launches = {
      {"rms_norm", {{"tokens", "10240"}, {"hidden", "5120"}, {"rows_per_tile", "1"}}},
      {"swiglu", {{"tokens", "10240"}, {"inter", "1536"}, {"rows_per_tile", "1"}}},
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
      RunOp("rms_norm", {{"tokens", "10301"}, {"hidden", "512"}, {"rows_per_tile", "1"}},
            "Ascend910B3", ModeChoice::kFunctional);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_FALSE(r.extrapolated);
}

}  // namespace
}  // namespace npusim::testing
