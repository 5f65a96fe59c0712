// scaled_dot_kkt and wy_fast (megagdn-pto's chunk-128 stages) against their fp64 references,
// their UB budgets against the PTO kernels' address plans, and how their time scales with the
// work dealt to each core.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

// Tails of every kind (200 = 128 + 72: a second chunk whose rows straddle the AIV halves; 5:
// one AIV has no rows; 131: a 3-row tail; an empty sequence), GQA 2:1, D != 128.
const Kvs kTails = {{"seq_lens", "200,64,5,131,0"}, {"heads", "4"}, {"key_heads", "2"}, {"k_dim", "48"}};
// fp16 keeps 11 significant bits; the kernels round K K^T (or A beta) and the result once each.
constexpr double kFp16Tol = 1.0 / 512;

TEST(ScaledDotKkt, MatchesTheReferenceOnTailsAndGqa) {
  ExpectAccurate(RunOp("scaled_dot_kkt", kTails, "Ascend910B2"), kFp16Tol);
}

TEST(WyFast, MatchesTheReferenceOnTailsAndGqa) {
  ExpectAccurate(RunOp("wy_fast", kTails, "Ascend910B2"), kFp16Tol);
}

TEST(GdnPto, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("scaled_dot_kkt", kTails, "Ascend910B2");
  ExpectTimingOnlyMatchesFunctional("wy_fast", kTails, "Ascend910B2");
}

// The UB each AIV reserves is the PTO kernels' address plan (megagdn-pto @3a59190c):
// scaled_dot_kkt's last tile, coeff_ub, starts at 157568 and holds 64 x 128 fp32 (32768 B);
// wy_fast's last, g_2d_ub, starts at 157952 and holds the same.
TEST(GdnPto, UbFootprintIsThePtoAddressPlan) {
  const auto ub = [](const char* op) {
    const KernelRun r = RunOp(op, {{"seq_lens", "128"}, {"heads", "1"}, {"key_heads", "1"}}, "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok") << r.message;
    return r.launch.peak_bytes[static_cast<int>(Mem::kUb)];
  };
  EXPECT_EQ(ub("scaled_dot_kkt"), 157568u + 32768u);
  EXPECT_EQ(ub("wy_fast"), 157952u + 32768u);
}

// Work is dealt round-robin over the 24 cores of a 910B2: scaled_dot_kkt deals (sequence, head)
// pairs, wy_fast (sequence, chunk, head) units. Each 24 more sequences of two full chunks give
// every core one more pair (two chunks) or two more units, which its pipeline runs at its steady
// rate once the pipeline is full: from two rounds on, each round adds the same time (within 5 %:
// the cores' HBM shares shift a little; the first round also fills the pipeline).
TEST(GdnPto, EachRoundOfWorkAddsTheSameTime) {
  for (const char* op : {"scaled_dot_kkt", "wy_fast"}) {
    const auto us = [op](const char* requests) {
      const KernelRun r = RunOp(op, {{"requests", requests}, {"seq_len", "256"}, {"heads", "1"}, {"key_heads", "1"}}, "Ascend910B2",
                                ModeChoice::kTimingOnly);
      EXPECT_EQ(r.status, "ok") << r.message;
      return r.launch.time_us;
    };
    const double t48 = us("48"), t72 = us("72"), t96 = us("96");
    EXPECT_GT(t72 - t48, 0.0) << op;
    EXPECT_NEAR((t96 - t72) / (t72 - t48), 1.0, 0.05) << op;
  }
}

}  // namespace
}  // namespace npusim::testing
