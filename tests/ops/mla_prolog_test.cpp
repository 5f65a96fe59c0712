// mla_prolog: numerics against the fp64 reference on shapes that catch layout bugs, the split of
// its four matmuls, its weight-bound decode time and its UB budget.
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "ops/mla_prolog/mla_prolog_tiling.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

const std::string kOp = "mla_prolog";

// Small dims where every width differs: nope 32 != kv_lora 48 != rope 16, q_lora 96.
Kvs Small(Kvs extra) {
  Kvs kv = {{"tokens", "5"},    {"hidden", "256"},        {"q_lora_rank", "96"}, {"heads", "6"},    {"nope_dim", "32"},
            {"rope_dim", "16"}, {"kv_lora_rank", "48"},   {"pages", "4"},        {"page_size", "16"}};
  for (auto& e : extra) kv.push_back(e);
  return kv;
}

// Odd token counts, several pipeline steps with a tail (37 tokens in steps of 16), fewer heads than
// AICs, a latent (80 + 16) whose last 64-column block is partial, on 20- and 24-AIC chips: the
// query and every cache row (written or not) against fp64.
TEST(MlaProlog, MatchesTheReferenceOnShapesThatCatchLayoutBugs) {
  for (const auto& [kv, device] : std::vector<std::pair<Kvs, std::string>>{
           {Small({}), "Ascend910B3"},
           {Small({{"tokens", "37"}, {"step_tokens", "16"}, {"heads", "3"}, {"kv_lora_rank", "80"}}), "Ascend910_9392"},
           {Small({{"tokens", "1"}, {"heads", "40"}}), "Ascend910_9392"}}) {
    const KernelRun r = RunOp(kOp, kv, device);
    ASSERT_EQ(r.status, "ok") << r.message;
    ExpectAccurate(r, kBf16Tol);
  }
  ExpectTimingOnlyMatchesFunctional(kOp, Small({{"tokens", "37"}, {"step_tokens", "16"}}), "Ascend910_9392");
}

// DeepSeek-V3 on 24 AICs: q_lora 1536 = 24 x 64 columns; the latent 576 = nine 64-column blocks;
// 128 heads x 192 = 24576 = 24 x 1024; ceil(128 / 24) = 6 heads per AIC (AIC 21 takes the last
// two, AICs 22 and 23 none). On 20 AICs the shares
// round up to 16 columns: 1536 / 20 = 76.8 -> 80 (the last AIC 16), 24576 / 20 = 1228.8 -> 1232.
TEST(MlaProlog, SplitsEachMatmulOverTheAics) {
  mla_prolog::Dims d{16, 7168, 1536, 128, 128, 64, 512, 8192, 1e-6f};
  DeviceConfig a3 = LoadDevice("Ascend910_9392");
  const mla_prolog::Tiling t = mla_prolog::ComputeTiling(d, 0, a3);
  EXPECT_EQ(t.cores, 24);
  EXPECT_EQ(t.step_tokens, 16);
  EXPECT_EQ(t.cq.per, 64);
  EXPECT_EQ(t.CkvKrBlocks(), 9);
  EXPECT_EQ(t.qcqr.per, 1024);
  EXPECT_EQ(t.heads_per_core, 6);
  DeviceConfig b3 = LoadDevice("Ascend910B3");
  const mla_prolog::Tiling u = mla_prolog::ComputeTiling(d, 0, b3);
  EXPECT_EQ(u.cores, 20);
  EXPECT_EQ(u.cq.per, 80);
  EXPECT_EQ(u.cq.Count(19), 16);
  EXPECT_EQ(u.qcqr.per, 1232);
  EXPECT_EQ(u.qcqr.Count(19), 24576 - 19 * 1232);
  EXPECT_EQ(u.heads_per_core, 7);
}

// A decode step's prolog reads its weights once: (7168 x 1536 + 7168 x 576 + 1536 x 24576 +
// 128 x 128 x 512) x 2 B = 120.6 MB, which at small batch is the time; doubling the tokens adds
// activations and cube work but little time.
TEST(MlaProlog, DecodeIsBoundByReadingItsWeights) {
  const Kvs deepseek = {{"tokens", "16"}};
  const KernelRun r16 = RunOp(kOp, deepseek, "Ascend910_9392", ModeChoice::kTimingOnly);
  const KernelRun r32 = RunOp(kOp, {{"tokens", "32"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  ASSERT_EQ(r16.status, "ok") << r16.message;
  ASSERT_EQ(r32.status, "ok") << r32.message;
  const double weights = (7168.0 * 1536 + 7168.0 * 576 + 1536.0 * 24576 + 128.0 * 128 * 512) * 2;
  EXPECT_GE(static_cast<double>(r16.launch.hbm_read_bytes), weights);
  EXPECT_LE(static_cast<double>(r16.launch.hbm_read_bytes), weights * 1.02);
  EXPECT_LT(r32.launch.time_us / r16.launch.time_us, 1.15);
  EXPECT_GT(r32.launch.time_us, r16.launch.time_us);
}

// The AIVs hold every head's rope part of a token at once (bf16 and fp32): 1024 heads need
// 1024 x 64 x 6 B = 393216 B besides the row buffers, past a 192 KiB UB.
TEST(MlaProlog, ThousandsOfHeadsOverflowTheUb) {
  const KernelRun r = RunOp(kOp, {{"tokens", "1"}, {"heads", "1024"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "ub_overflow") << r.message;
  EXPECT_NE(r.message.find("1572864 bits available"), std::string::npos) << r.message;
}

TEST(MlaProlog, AnOddRopeDimIsAnInputError) {
  EXPECT_THROW(RunOp(kOp, Small({{"rope_dim", "15"}})), InputError);
}

}  // namespace
}  // namespace npusim::testing
