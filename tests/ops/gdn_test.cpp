// recurrent_gated_delta_rule: both implementations, decode and verify, against the fp64 reference.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

// K != V, neither a power of two, V not a multiple of block_v, GQA 2:1, shuffled slots.
const Kvs kSmall = {{"batch", "3"}, {"heads_k", "2"}, {"heads_v", "4"}, {"k_dim", "48"}, {"v_dim", "80"}, {"draft_tokens", "3"},
                    {"pool_size", "6"}};

Kvs With(Kvs kv, const Kvs& more) {
  kv.insert(kv.end(), more.begin(), more.end());
  return kv;
}

TEST(RecurrentGatedDeltaRule, FusedDecodeUpdatesThePoolInVKLayout) {
  KernelRun r = RunOp("recurrent_gated_delta_rule", With(kSmall, {{"impl", "fused"}, {"mode", "decode"}}));
  ExpectAccurate(r, kBf16Tol);
}

TEST(RecurrentGatedDeltaRule, FusedVerifyWritesPerTokenStatesAndLeavesThePool) {
  KernelRun r = RunOp("recurrent_gated_delta_rule", With(kSmall, {{"impl", "fused"}, {"mode", "verify"}}));
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.numerics.at("ssm_states").max_abs_err, 0.0);  // committed state untouched (§3.6)
}

TEST(RecurrentGatedDeltaRule, TritonChainDecodeAndVerifyWithFp32Pool) {
  for (const char* mode : {"decode", "verify"}) {
    KernelRun r = RunOp("recurrent_gated_delta_rule",
                        With(kSmall, {{"impl", "triton_chain"}, {"mode", mode}, {"ssm_dtype", "float32"}, {"block_v", "32"}}));
    ExpectAccurate(r, kBf16Tol);
  }
}

TEST(RecurrentGatedDeltaRule, FusedRejectsAnFp32Pool) {
  EXPECT_THROW(RunOp("recurrent_gated_delta_rule", {{"impl", "fused"}, {"ssm_dtype", "float32"}}), InputError);
}

TEST(RecurrentGatedDeltaRule, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("recurrent_gated_delta_rule", With(kSmall, {{"impl", "fused"}, {"mode", "verify"}}));
  ExpectTimingOnlyMatchesFunctional("recurrent_gated_delta_rule", With(kSmall, {{"impl", "triton_chain"}}));
}

}  // namespace
}  // namespace npusim::testing
