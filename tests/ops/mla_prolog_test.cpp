// mla_prolog: numerics against the fp64 reference on shapes that catch layout bugs, exact cycles at
// the smallest shape, the split of its four matmuls, its weight-bound decode time and its UB
// budget.
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "ops/mla_prolog/mla_prolog_tiling.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

const std::string kOp = "mla_prolog";

// Small dims where every width differs: nope 32 != kv_lora 48 != rope 16, q_lora 96.
Kvs Small(Kvs extra) {
  Kvs kv = {{"tokens", "5"},        {"hidden", "256"},  {"q_lora_rank", "96"},
            {"heads", "6"},         {"nope_dim", "32"}, {"rope_dim", "16"},
            {"kv_lora_rank", "48"}, {"pages", "4"},     {"page_size", "16"}};
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
           {Small(
                {{"tokens", "37"}, {"step_tokens", "16"}, {"heads", "3"}, {"kv_lora_rank", "80"}}),
            "Ascend910_9392"},
           {Small({{"tokens", "1"}, {"heads", "40"}}), "Ascend910_9392"},
           {Small({{"quant", "w8a8"}, {"hidden", "224"}}), "Ascend910B3"},
           {Small({{"quant", "w8a8"},
                   {"tokens", "37"},
                   {"step_tokens", "16"},
                   {"heads", "19"},
                   {"kv_lora_rank", "80"}}),
            "Ascend910_9392"}}) {
    const KernelRun r = RunOp(kOp, kv, device);
    ASSERT_EQ(r.status, "ok") << r.message;
    ExpectAccurate(r, kBf16Tol);
  }
  ExpectTimingOnlyMatchesFunctional(kOp, Small({{"tokens", "37"}, {"step_tokens", "16"}}),
                                    "Ascend910_9392");
  ExpectTimingOnlyMatchesFunctional(
      kOp, Small({{"tokens", "37"}, {"step_tokens", "16"}, {"quant", "w8a8"}}), "Ascend910_9392");
}

// The smallest shape, exact cycles on the test device (1 AIC + 2 AIVs at 1 GHz; GM -> L1 and GM ->
// UB 100 cycles + 256 / 128 B/cycle, UB -> GM 50 + 64 B/cycle, L1 -> L0A 256 and L0B 128 B/cycle,
// Mmad 24 + 1 per fractal, FixPipe 20 + 128 B/cycle, vector ops of up to 32 fp32 1 + 2 cycles, one
// scalar issue per cycle, transfers rounded up to whole cycles): one token, hidden 32, q_lora 16,
// one head of nope 16 + rope 16, kv_lora 16 (a 32-wide latent), a 16-token page. AIV 1 has no row.
//  AIC, MatmulCq: x (64 B: 101) 1..102, W_dq (32 x 16 bf16, 1 KiB: 104) ..206, moves (2 + 8) ..216,
//    Mmad (2 fractals: 26) ..242, FixPipe of c_q (64 B fp32: 21) ..263 with kCqDone. MatmulCkvKr: x
//    again into the other L1 buffer 206..307, W_dkv_kr (32 x 32, 2 KiB: 108) ..415, moves (2 + 16)
//    ..433, Mmad (4 fractals: 28) ..461, FixPipe ..482 with kCkvKrDone.
//  AIV 0, while it waits: gamma_cq and gamma_ckv (32 B each: 101, cast to fp32 in 3) 1..209. At
//    kCqDone (263) two sync issues, the c_q row (32 B) 265..366; RMSNorm: Cast, Mul 3 each,
//    ReduceSum 5 ..377, the scalar reads the sum (V->S, S->V) ..380, Muls, Mul, Cast ..389; the
//    normed row out (32 B: 51) ..440 with kCqNormed.
//  AIC, MatmulQcQr: four flag issues, norm(c_q) (32 B) 445..546, W_uq_qr (16 x 32, 1 KiB: 104)
//  ..650,
//    moves (2 + 8) ..660, Mmad (2 fractals: 26) ..686, FixPipe ..707 with kQDone; MatmulQn after
//    the all-AIC barrier (three issues): q_nope (32 B) 711..812, W_uk (16 x 16, 512 B: 102) ..914,
//    moves (2 + 4) ..920, Mmad (1 fractal: 25) ..945, FixPipe ..966.
//  AIV 0, the latent (kCkvKrDone at 482, two issues): its row (64 B) 484..585 and cos / sin (16
//    fp32: 101) ..686; Cast, Mul, ReduceSum ..697, the scalar's sum ..700, Muls, Mul ..706; the
//    NeoX rotation of the rope half (six ops of 3) ..724, Cast ..727; the row into its cache slot
//    (64 B: 51) ..778. The query's rope part (kQDone came at 707): one sync issue, its row (32 B)
//    779..880, cos / sin ..981, Cast, rotation, Cast (8 ops of 3) ..1005, out (32 B: 51) ..1056,
//    the end.
TEST(MlaProlog, TheSmallestShapeTakesTheDerivedCycles) {
  const KernelRun r = RunOp(kOp,
                            {{"tokens", "1"},
                             {"hidden", "32"},
                             {"q_lora_rank", "16"},
                             {"heads", "1"},
                             {"nope_dim", "16"},
                             {"rope_dim", "16"},
                             {"kv_lora_rank", "16"},
                             {"pages", "1"},
                             {"page_size", "16"}},
                            std::string(NPUSIM_SOURCE_DIR) + "/tests/data/test_device.yaml");
  ASSERT_EQ(r.status, "ok") << r.message;
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.launch.cycles, 1056u);
  // The AIC's busy cycles, sums of the figures above: MTE2 101 + 104 + 101 + 108 + 101 + 104 + 101
  // + 102, MTE1 10 + 18 + 10 + 6, M 26 + 28 + 26 + 25, FIX 4 x 21.
  EXPECT_EQ(r.launch.aic[static_cast<int>(Pipe::kMte2)].busy_cycles, 822u);
  EXPECT_EQ(r.launch.aic[static_cast<int>(Pipe::kMte1)].busy_cycles, 44u);
  EXPECT_EQ(r.launch.aic[static_cast<int>(Pipe::kM)].busy_cycles, 105u);
  EXPECT_EQ(r.launch.aic[static_cast<int>(Pipe::kFix)].busy_cycles, 84u);
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
  const KernelRun q16 =
      RunOp(kOp, {{"tokens", "16"}, {"quant", "w8a8"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
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
  const KernelRun r =
      RunOp(kOp, {{"tokens", "1"}, {"heads", "1024"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
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
