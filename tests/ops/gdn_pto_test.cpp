// scaled_dot_kkt, wy_fast and tri_inverse (megagdn-pto's chunk-128 stages) against their fp64
// references, their UB budgets against the PTO kernels' address plans, and how their time scales
// with the work dealt to each core.
#include "ops/gdn_pto/gdn_pto_kernels.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

// Tails of every kind (200 = 128 + 72: a second chunk whose rows straddle the AIV halves; 5:
// one AIV has no rows; 131: a 3-row tail; an empty sequence), GQA 2:1, D != 128.
const Kvs kTails = {
    {"seq_lens", "200,64,5,131,0"}, {"heads", "4"}, {"key_heads", "2"}, {"k_dim", "48"}};
// fp16 keeps 11 significant bits; the kernels round K K^T (or A beta) and the result once each.
constexpr double kFp16Tol = 1.0 / 512;

TEST(ScaledDotKkt, MatchesTheReferenceOnTailsAndGqa) {
  ExpectAccurate(RunOp("scaled_dot_kkt", kTails, "Ascend910B2"), kFp16Tol);
}

TEST(WyFast, MatchesTheReferenceOnTailsAndGqa) {
  ExpectAccurate(RunOp("wy_fast", kTails, "Ascend910B2"), kFp16Tol);
}

// TROWEXPAND as pto-isa issues it on A2/A3: a V->S and an S->V hand-over around every row's
// vector_dup. On the test device (1 GHz, 1 cycle per scalar issue or UB read) with Duplicate's
// results landing 10 cycles after its last issue slot: three SetValue on UB (cycles 1-3); row 0's
// SetFlag V->S issues at 4 and fires at once (nothing in flight); then each row is the UB read
// (+1), the WaitFlag S->V into the V queue (+1), the Duplicate's issue (+1), its 1 + ceil(512 /
// 255) = 4 cycles on V and 10 of latency: 17 cycles, the next row's SetFlag V->S firing only when
// it lands. Rows land at 4 + 17 = 21, 38, 55; the final V->S sync resumes at 55 and three UB reads
// end the block at 58. (One Duplicate per row without the hand-overs would end near 4 x 3 + 10.)
TEST(GdnPto, RowExpandIsAVectorRoundTripPerRow) {
  using namespace ascendc;
  DeviceConfig d = TestDevice();
  d.vec[static_cast<int>(VecClass::kUnary)].latency_cycles = 10;
  Chip chip(d);
  std::vector<float> got;
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 4 * 128 * 4);
    LocalTensor<float> col = buf.Get<float>(), dst = col[128];
    for (uint32_t i = 0; i < 3; ++i) col.SetValue(i, 1.5f + static_cast<float>(i));
    gdn_pto::RowExpand(dst, col, 3);
    kernel_util::WaitVectorForScalar();
    for (uint32_t i = 0; i < 3; ++i) got.push_back(dst.GetValue(i * 128 + 127));
  }));
  EXPECT_EQ(got, (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_EQ(r.cycles, 58u);
}

// (I + A)^-1 of every chunk's block with partial chunks of every size (the padded rows and
// columns of a 72-, 5- or 3-row tail invert to the identity and are not stored), an empty
// sequence, three heads, four cores: X and Y go through fp16 in L1 between products, so the
// tolerance is fp16's.
const Kvs kTriTails = {{"seq_lens", "200,64,5,131,0"}, {"heads", "3"}, {"cores", "4"}};

TEST(TriInverse, MatchesTheReferenceOnTailsAndHeads) {
  ExpectAccurate(RunOp("tri_inverse", kTriTails, "Ascend910B2"), kFp16Tol);
}

TEST(GdnPto, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("scaled_dot_kkt", kTails, "Ascend910B2");
  ExpectTimingOnlyMatchesFunctional("wy_fast", kTails, "Ascend910B2");
  ExpectTimingOnlyMatchesFunctional("tri_inverse", kTriTails, "Ascend910B2");
}

// The cube work of tri_inverse, counted from the kernel: two products make I and a zero tile once
// per core, then each matrix takes 24 products of 128 x 128 x 128 (4 for -A, N_d^2, -N_d and
// I - N_d; 3 + 3 + 2 for the three doublings of the fractal inverses, the last without Y^2; 4 for
// each of the recursion's block sizes 16, 32 and 64), 2 x 128^3 flops each. Five matrices on one
// core: (2 + 5 x 24) x 4194304.
TEST(TriInverse, EachMatrixIsTwentyFourCubeProducts) {
  const KernelRun r = RunOp("tri_inverse", {{"seq_lens", "128"}, {"heads", "5"}, {"cores", "1"}},
                            "Ascend910B2", ModeChoice::kTimingOnly);
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.launch.cube_flops, (2.0 + 5 * 24) * 2 * 128 * 128 * 128);
}

// The matrices of a core run one after another (the recursion is one dependency chain through
// L1): four more matrices per core add the same time each round (within 1 %: the loads of a
// round overlap the previous round's last products differently only at the start).
TEST(TriInverse, EachRoundOfFourMatricesAddsTheSameTime) {
  const auto us = [](const char* heads) {
    const KernelRun r =
        RunOp("tri_inverse", {{"seq_lens", "128"}, {"heads", heads}, {"cores", "1"}}, "Ascend910B2",
              ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok") << r.message;
    return r.launch.time_us;
  };
  const double t4 = us("4"), t8 = us("8"), t12 = us("12");
  EXPECT_GT(t8 - t4, 0.0);
  EXPECT_NEAR((t12 - t8) / (t8 - t4), 1.0, 0.01);
}

// The UB each AIV reserves is the PTO kernels' address plan (megagdn-pto @3a59190c):
// scaled_dot_kkt's last tile, coeff_ub, starts at 157568 and holds 64 x 128 fp32 (32768 B);
// wy_fast's last, g_2d_ub, starts at 157952 and holds the same.
TEST(GdnPto, UbFootprintIsThePtoAddressPlan) {
  const auto ub = [](const char* op) {
    const KernelRun r = RunOp(op, {{"seq_lens", "128"}, {"heads", "1"}, {"key_heads", "1"}},
                              "Ascend910B2", ModeChoice::kTimingOnly);
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
      const KernelRun r = RunOp(
          op, {{"requests", requests}, {"seq_len", "256"}, {"heads", "1"}, {"key_heads", "1"}},
          "Ascend910B2", ModeChoice::kTimingOnly);
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
