// move_intermediate_cache (scenario S1) and conv_state_rollback.
#include "ops/runner.h"
#include "tests/test_util.h"

namespace npusim {
namespace {

KernelRun RunOp(const std::string& op, const std::vector<std::pair<std::string, std::string>>& kv,
                const std::string& device, ModeChoice mode = ModeChoice::kAuto) {
  ParamValues p(FindOp(op).params());
  for (const auto& [k, v] : kv) p.Set(k, v);
  RunOptions o;
  o.mode = mode;
  o.seed = 3;
  return RunKernel(FindOp(op), p, LoadDevice(device), o);
}

TEST(MoveIntermediateCache, DefaultsOnA3OverflowExactlyAsScenarioS1) {
  KernelRun r = RunOp("move_intermediate_cache", {{"ssm_dtype", "float32"}}, "Ascend910_9392");
  EXPECT_EQ(r.status, "ub_overflow");
  // [2, 128, 128] fp32 = 128 KiB, x 2 multi-buffer = 2,097,152 bits > 192 KiB = 1,572,864 bits.
  EXPECT_NE(r.message.find("ub overflow, requires 2097152 bits while 1572864 bits available!"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("131072 B x 2 buffers"), std::string::npos);
}

TEST(MoveIntermediateCache, EachFixRunsAndMovesTheRightBytes) {
  // Reduced layers/requests so the run is functional; heads/dims as in Qwen3.5.
  const std::vector<std::vector<std::pair<std::string, std::string>>> fixes = {
      {{"ssm_dtype", "bfloat16"}}, {{"h_block", "1"}}, {{"buffer_num", "1"}}};
  for (auto kv : fixes) {
    kv.push_back({"layers", "2"});
    kv.push_back({"requests", "5"});
    KernelRun r = RunOp("move_intermediate_cache", kv, "Ascend910_9392");
    ASSERT_EQ(r.status, "ok") << r.message;
    ASSERT_TRUE(r.functional);
    EXPECT_EQ(r.numerics.at("ssm_states").max_abs_err, 0.0) << kv[0].first;
    EXPECT_GT(r.launch.time_us, 0);
    EXPECT_LE(r.launch.peak_bytes[static_cast<int>(Mem::kUb)], 131072u);
  }
}

TEST(MoveIntermediateCache, AsymmetricShapesAndPaddedTiles) {
  // K != V, neither a power of two: the tile pads to [h, 64, 128]; a transposed or mis-strided
  // copy would move the wrong bytes. Odd head count leaves a partial last head block.
  KernelRun r = RunOp("move_intermediate_cache",
                      {{"layers", "3"},
                       {"requests", "4"},
                       {"draft_tokens", "3"},
                       {"heads", "5"},
                       {"k_dim", "96"},
                       {"v_dim", "40"},
                       {"h_block", "2"},
                       {"pool_size", "9"}},
                      "Ascend910B3");
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.numerics.at("ssm_states").max_abs_err, 0.0);
  EXPECT_EQ(r.launch.peak_bytes[static_cast<int>(Mem::kUb)], 2u * 2 * 64 * 128 * 4);
}

TEST(MoveIntermediateCache, TimingOnlyMatchesFunctional) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"layers", "2"}, {"requests", "3"}, {"ssm_dtype", "bfloat16"}};
  KernelRun f = RunOp("move_intermediate_cache", kv, "Ascend910_9392", ModeChoice::kFunctional);
  KernelRun t = RunOp("move_intermediate_cache", kv, "Ascend910_9392", ModeChoice::kTimingOnly);
  ASSERT_EQ(f.status, "ok");
  EXPECT_EQ(f.launch.cycles, t.launch.cycles);
}

TEST(ConvStateRollback, ShiftsTheWindowToTheAcceptedToken) {
  for (const char* dtype : {"bfloat16", "float32"}) {
    // Odd channel count and a small forced tile: several tiles plus a 32 B-unaligned tail.
    KernelRun r = RunOp("conv_state_rollback",
                        {{"layers", "3"},
                         {"requests", "6"},
                         {"draft_tokens", "4"},
                         {"conv_dim", "1000"},
                         {"dim_tile", "272"},
                         {"dtype", dtype}},
                        "Ascend910B3");
    ASSERT_EQ(r.status, "ok") << r.message;
    EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0) << dtype;
  }
}

TEST(ConvStateRollback, NoDraftTokensMeansNothingToMove) {
  KernelRun r =
      RunOp("conv_state_rollback", {{"draft_tokens", "1"}, {"layers", "2"}}, "Ascend910B3");
  ASSERT_EQ(r.status, "ok");
  EXPECT_EQ(r.launch.hbm_read_bytes, 0u);
  EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0);
}

}  // namespace
}  // namespace npusim
