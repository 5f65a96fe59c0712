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
// AICs, a latent (80 + 16) whose last 64-column block is partial, a K (224) that ends inside an
// L1 tile, 19 heads (a partial chunk of 16 when quantised), bf16 and w8a8, on 20- and 24-AIC
// chips: the query and every cache row (written or not) against fp64.
TEST(MlaProlog, MatchesTheReferenceOnShapesThatCatchLayoutBugs) {
  for (const auto& [kv, device] : std::vector<std::pair<Kvs, std::string>>{
           {Small({}), "Ascend910B3"},
           {Small({{"tokens", "37"}, {"step_tokens", "16"}, {"heads", "3"}, {"kv_lora_rank", "80"}}), "Ascend910_9392"},
           {Small({{"tokens", "1"}, {"heads", "40"}}), "Ascend910_9392"},
           {Small({{"quant", "w8a8"}, {"hidden", "224"}}), "Ascend910B3"},
           {Small({{"quant", "w8a8"}, {"tokens", "37"}, {"step_tokens", "16"}, {"heads", "19"}, {"kv_lora_rank", "80"}}), "Ascend910_9392"}}) {
    const KernelRun r = RunOp(kOp, kv, device);
    ASSERT_EQ(r.status, "ok") << r.message;
    ExpectAccurate(r, kBf16Tol);
  }
  ExpectTimingOnlyMatchesFunctional(kOp, Small({{"tokens", "37"}, {"step_tokens", "16"}}), "Ascend910_9392");
  ExpectTimingOnlyMatchesFunctional(kOp, Small({{"tokens", "37"}, {"step_tokens", "16"}, {"quant", "w8a8"}}), "Ascend910_9392");
}

// DeepSeek-V3 on 24 AICs: q_lora 1536 = 24 x 64 columns; the latent 576 = nine 64-column blocks;
// 128 heads x 192 = 24576 = 24 x 1024; ceil(128 / 24) = 6 heads per AIC (AIC 21 takes the last
// two, AICs 22 and 23 none). On 20 AICs the shares
// round up to 16 columns: 1536 / 20 = 76.8 -> 80 (the last AIC 16), 24576 / 20 = 1228.8 -> 1232.
TEST(MlaProlog, SplitsEachMatmulOverTheAics) {
  mla_prolog::Dims d{16, 7168, 1536, 128, 128, 64, 512, 8192, 1e-6f};
  DeviceConfig a3 = LoadDevice("Ascend910_9392");
  const mla_prolog::Tiling t = mla_prolog::ComputeTiling(d, 0, false, a3);
  EXPECT_EQ(t.cores, 24);
  EXPECT_EQ(t.step_tokens, 16);
  EXPECT_EQ(t.cq.per, 64);
  EXPECT_EQ(t.CkvKrBlocks(), 9);
  EXPECT_EQ(t.qcqr.per, 1024);
  EXPECT_EQ(t.heads_per_core, 6);
  // The main tile (16 rows, 64 columns, bf16) double-buffered in 64 KiB of L0B: base_k 256
  // (2 x 256 x 64 x 2 B = 64 KiB; 512 would need 128). L1: 4 steps per copy, 2 x 4 x 256 x
  // (16 + 64) x 2 B = 320 KiB of 512 (8 would need 640).
  EXPECT_EQ(t.base_k, 256);
  EXPECT_EQ(t.l1_steps, 4);
  // Quantised, MatmulQn's bf16 tile (128 x 128 x 2 B = 32 KiB of L0B, single) leaves 32 KiB for
  // the int8 pair: base_k 256 (2 x 256 x 64 B); L1 2 x 8 x 256 x 80 B + 36 KiB = 356 KiB (8 is
  // the cap).
  const mla_prolog::Tiling q = mla_prolog::ComputeTiling(d, 0, true, a3);
  EXPECT_EQ(q.base_k, 256);
  EXPECT_EQ(q.l1_steps, 8);
  DeviceConfig b3 = LoadDevice("Ascend910B3");
  const mla_prolog::Tiling u = mla_prolog::ComputeTiling(d, 0, false, b3);
  EXPECT_EQ(u.cores, 20);
  EXPECT_EQ(u.cq.per, 80);
  EXPECT_EQ(u.cq.Count(19), 16);
  EXPECT_EQ(u.qcqr.per, 1232);
  EXPECT_EQ(u.qcqr.Count(19), 24576 - 19 * 1232);
  EXPECT_EQ(u.heads_per_core, 7);
}

// A decode step's prolog reads its weights once: 7168 x 1536 + 7168 x 576 + 1536 x 24576 +
// 128 x 128 x 512 = 61.3 M of them, 122.6 MB in bf16, which at small batch is the time; doubling
// the tokens adds activations and cube work but little time. Quantised, all but W_uk are int8:
// 52.9 MB + 16.8 MB = 69.7 MB, and the step is faster by a good part of the bytes saved.
TEST(MlaProlog, DecodeIsBoundByReadingItsWeights) {
  const KernelRun r16 = RunOp(kOp, {{"tokens", "16"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  const KernelRun r32 = RunOp(kOp, {{"tokens", "32"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  const KernelRun q16 = RunOp(kOp, {{"tokens", "16"}, {"quant", "w8a8"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  for (const KernelRun* r : {&r16, &r32, &q16}) ASSERT_EQ(r->status, "ok") << r->message;
  const double bf16 = (7168.0 * 1536 + 7168.0 * 576 + 1536.0 * 24576 + 128.0 * 128 * 512) * 2;
  const double int8 = 7168.0 * 1536 + 7168.0 * 576 + 1536.0 * 24576 + 128.0 * 128 * 512 * 2;
  EXPECT_GE(static_cast<double>(r16.launch.hbm_read_bytes), bf16);
  EXPECT_LE(static_cast<double>(r16.launch.hbm_read_bytes), bf16 * 1.02);
  EXPECT_GE(static_cast<double>(q16.launch.hbm_read_bytes), int8);
  EXPECT_LE(static_cast<double>(q16.launch.hbm_read_bytes), int8 * 1.05);
  EXPECT_LT(r32.launch.time_us / r16.launch.time_us, 1.15);
  EXPECT_GT(r32.launch.time_us, r16.launch.time_us);
  EXPECT_LT(q16.launch.time_us / r16.launch.time_us, 0.8);
}

// The AIVs hold every head's rope part of a token at once (bf16 and fp32): 1024 heads need
// 1024 x 64 x 6 B = 393216 B besides the row buffers, past a 192 KiB UB.
TEST(MlaProlog, ThousandsOfHeadsOverflowTheUb) {
  const KernelRun r = RunOp(kOp, {{"tokens", "1"}, {"heads", "1024"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "ub_overflow") << r.message;
  EXPECT_NE(r.message.find("1572864 bits available"), std::string::npos) << r.message;
}

TEST(MlaProlog, WidthsOffThe32ByteGridAreInputErrors) {
  EXPECT_THROW(RunOp(kOp, Small({{"rope_dim", "24"}})), InputError);
  EXPECT_THROW(RunOp(kOp, Small({{"kv_lora_rank", "52"}})), InputError);
  EXPECT_THROW(RunOp(kOp, Small({{"quant", "w8a8"}, {"hidden", "240"}})), InputError);
}

}  // namespace
}  // namespace npusim::testing
