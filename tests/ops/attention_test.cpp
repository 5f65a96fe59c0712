// fused_infer_attention_score against the fp64 reference in each mode SGLang uses it, the S4
// band-mode quirk and its explicit-mask fix; rotary_embedding, attention_gate and swa_mask.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

const char* kFia = "fused_infer_attention_score";

// GQA 2:1, D = 64, a request without prefix, one with a prefix spanning pages, an odd one.
Kvs Small(Kvs more) {
  Kvs kv = {{"heads", "4"}, {"kv_heads", "2"}, {"head_dim", "64"}, {"context_lens", "0,300,17"}};
  kv.insert(kv.end(), more.begin(), more.end());
  return kv;
}

TEST(Attention, ExtendWithPrefixIsRightDownCausal) {
  ExpectAccurate(RunOp(kFia, Small({{"q_len", "70"}, {"sparse_mode", "3"}})), kBf16Tol);
}

TEST(Attention, LeftUpCausalAndBsndLayout) {
  ExpectAccurate(RunOp(kFia, Small({{"q_len", "70"}, {"sparse_mode", "2"}, {"layout", "BSND"}})), kBf16Tol);
}

TEST(Attention, SlidingWindowPrefillIsABand) {
  ExpectAccurate(RunOp(kFia, Small({{"q_len", "70"}, {"sparse_mode", "4"}, {"window", "40"}})), kBf16Tol);
}

TEST(Attention, MtpVerifyPacksTheGroupsHeadsOfEachToken) {
  KernelRun r = RunOp(kFia, Small({{"q_len", "4"}, {"sparse_mode", "3"}}));
  ExpectAccurate(r, kBf16Tol);
}

TEST(Attention, DecodeOverTheWholeContextAndATransposedCacheWouldShow) {
  // D = 48 != page rows: a K/V mix-up or a wrong block-table page gives a large error.
  ExpectAccurate(RunOp(kFia, {{"batch", "3"}, {"context", "300"}, {"heads", "6"}, {"kv_heads", "2"}, {"head_dim", "48"}}),
                 kBf16Tol);
}

TEST(Attention, ScenarioS4BandModeIgnoresTheWindowForOneQueryAndTheMaskFixesIt) {
  // Step-3.5 SWA decode: sparse_mode 4, window 64, contexts longer than the window.
  const Kvs decode = Small({{"context_lens", "5,300,170"}, {"q_len", "1"}, {"sparse_mode", "4"}, {"window", "64"}});
  KernelRun quirk = RunOp(kFia, decode);  // CANN 8.5 behaviour: attends the whole context
  ASSERT_EQ(quirk.status, "ok");
  EXPECT_GT(quirk.numerics.at("attention_out").norm_err, 0.1);
  Kvs documented = decode;
  documented.push_back({"band_q1_quirk", "0"});
  ExpectAccurate(RunOp(kFia, documented), kBf16Tol);
  Kvs fixed = decode;  // the fix: an explicit swa mask (window keys, current token included)
  fixed.push_back({"mask", "swa"});
  KernelRun f = RunOp(kFia, fixed);
  ExpectAccurate(f, kBf16Tol);
}

TEST(Attention, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional(kFia, Small({{"q_len", "70"}, {"sparse_mode", "3"}}));
  ExpectTimingOnlyMatchesFunctional(kFia, Small({{"q_len", "1"}, {"sparse_mode", "4"}, {"window", "64"}, {"mask", "swa"}}));
}

TEST(Attention, DecodeIsBoundByTheKvCacheRead) {
  // 24 requests x 4096 keys x (K + V) x 256 x bf16 = 100.7 MB; the causal prefill of the same
  // heads moves far less per flop. Decode time within 2x of its HBM bound.
  KernelRun r = RunOp(kFia, {}, "Ascend910B3", ModeChoice::kTimingOnly);
  ASSERT_EQ(r.status, "ok");
  EXPECT_EQ(r.roofline_us, r.memory_bound_us);
  EXPECT_GT(r.roofline_us / r.launch.time_us, 0.5);
}

TEST(RotaryEmbedding, PartialNeoxOnQAndKWithOddHeadCounts) {
  // D = 96 with 32 rotated dims: the pass-through part and the half split both show.
  KernelRun r = RunOp("rotary_embedding", {{"tokens", "37"}, {"heads", "3"}, {"kv_heads", "1"}, {"head_dim", "96"},
                                           {"rotary_dim", "32"}, {"max_position", "100"}, {"rows_per_tile", "5"}});
  ExpectAccurate(r, kBf16Tol);
}

TEST(AttentionGate, ElementwiseAndHeadwise) {
  for (const char* mode : {"elementwise", "headwise"})
    ExpectAccurate(RunOp("attention_gate", {{"tokens", "37"}, {"heads", "3"}, {"head_dim", "48"}, {"mode", mode}, {"rows_per_tile", "4"}}),
                   kBf16Tol);
}

TEST(SwaMask, MasksAllButTheLastWindowKeys) {
  KernelRun r = RunOp("swa_mask", {{"batch", "5"}, {"max_seq_len", "1000"}, {"window", "64"}});
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.numerics.at("mask").max_abs_err, 0.0);
}

TEST(AttentionAux, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("rotary_embedding", {{"tokens", "37"}, {"heads", "3"}, {"head_dim", "96"}, {"rotary_dim", "32"}});
  ExpectTimingOnlyMatchesFunctional("attention_gate", {{"tokens", "37"}, {"heads", "3"}, {"head_dim", "48"}, {"mode", "headwise"}});
  ExpectTimingOnlyMatchesFunctional("swa_mask", {{"batch", "5"}, {"max_seq_len", "1000"}});
}

}  // namespace
}  // namespace npusim::testing
