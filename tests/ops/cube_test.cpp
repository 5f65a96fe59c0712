// The cube kernels (matmul, quant_matmul) against their fp64 references, their tiling limits
// and their timing.
#include <gmock/gmock.h>

#include "devices/cost_model.h"
#include "model/error.h"
#include "ops/common/cube_util.h"
#include "ops/common/reference_gemm.h"
#include "tests/ops/op_test_util.h"
#include "tests/test_util.h"

namespace npusim::testing {
namespace {

using testing::GmArray;
using ::testing::HasSubstr;
using testing::OneBlock;
using testing::TestDevice;

TEST(Matmul, Bf16OddShapesBothWeightLayouts) {
  // M odd, N not a multiple of 16 (tail tile of 44 columns), K != M != N: a transposed
  // operand or a wrong tail pitch shows as a large error.
  for (const char* tb : {"0", "1"}) {
    KernelRun r = RunOp("matmul", {{"m", "77"}, {"n", "300"}, {"k", "256"}, {"trans_b", tb}});
    ExpectAccurate(r, kBf16Tol);
  }
}

TEST(Matmul, Fp16SmallForcedTilesWalkManyKSteps) {
  // 2 x 3 output tiles with tails in both directions, 3 K steps of 64.
  KernelRun r = RunOp("matmul", {{"m", "50"},
                                 {"n", "100"},
                                 {"k", "192"},
                                 {"dtype", "float16"},
                                 {"trans_b", "1"},
                                 {"base_m", "32"},
                                 {"base_n", "48"},
                                 {"base_k", "64"}});
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.block_dim, 6);
}

TEST(Matmul, KThatIsNotWhole32BytesIsAnInputError) {
  EXPECT_THROW(RunOp("matmul", {{"m", "16"}, {"n", "16"}, {"k", "100"}}), InputError);
}

TEST(Matmul, ForcedTileTooLargeForL0BReportsTheOverflow) {
  // base_k 256 x base_n 256 bf16 = 128 KiB per L0B buffer, twice, in 64 KiB (L0A holds
  // 32 x 256 x 2 B twice = 32 KiB and fits).
  KernelRun r = RunOp(
      "matmul", {{"m", "32"}, {"n", "256"}, {"k", "512"}, {"base_n", "256"}, {"base_k", "256"}},
      "Ascend910B3", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "l0b_overflow");
  EXPECT_THAT(r.message, HasSubstr("b_l0b"));
}

TEST(Matmul, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("matmul",
                                    {{"m", "77"}, {"n", "300"}, {"k", "256"}, {"trans_b", "1"}});
}

TEST(Matmul, LargeShapeIsCubeBoundAndScalesWithK) {
  // 4096 x 3072 output on 20 AICs: cube-bound. Doubling K doubles the cube work and the
  // operand traffic of every tile; only the launch overhead and the Fixpipe stay fixed.
  KernelRun a = RunOp("matmul", {{"k", "2048"}}, "Ascend910B3", ModeChoice::kTimingOnly);
  KernelRun b = RunOp("matmul", {{"k", "4096"}}, "Ascend910B3", ModeChoice::kTimingOnly);
  ASSERT_EQ(a.status, "ok");
  EXPECT_EQ(a.roofline_us, a.cube_bound_us);
  EXPECT_GT(a.roofline_us / a.launch.time_us, 0.6);
  EXPECT_NEAR(b.launch.time_us / a.launch.time_us, 2.0, 0.05);
}

TEST(Matmul, OneFractalTileTakesTheSumOfItsStages) {
  // m = n = 16, k = 32 bf16 on one AIC, nothing overlaps: after the launch overhead and the
  // scalar's first dispatch (the rest are issued while MTE2 works), MTE2 moves A then B (1 KiB
  // each, GM -> L1; when the MTE path overlaps latencies, B's transfer runs during A's latency, so
  // the pair costs one latency less), MTE1 moves them to L0A and L0B, Mmad runs 2 fractals,
  // FixPipe writes 512 B.
  const DeviceConfig d = LoadDevice("Ascend910B3");
  KernelRun r = RunOp("matmul", {{"m", "16"}, {"n", "16"}, {"k", "32"}}, "Ascend910B3",
                      ModeChoice::kTimingOnly);
  ASSERT_EQ(r.status, "ok");
  CostModel cost(d);
  const uint64_t overlap = cost.MteOverlapsLatency() ? cost.PathLatency(MtePath::kGmToL1) : 0;
  const uint64_t stages =
      2 * cost.PathCycles(MtePath::kGmToL1, 1024) - overlap +
      cost.PathCycles(MtePath::kL1ToL0A, 1024) + cost.PathCycles(MtePath::kL1ToL0B, 1024) +
      cost.CubeCycles(16, 32, 16, DType::kBFloat16) + cost.PathCycles(MtePath::kL0cToGm, 512);
  const uint64_t overhead = static_cast<uint64_t>(d.NsToCycles(d.launch_overhead_us * 1e3));
  EXPECT_EQ(r.launch.cycles, overhead + static_cast<uint64_t>(d.scalar_issue_cycles) + stages);
}

// CubeTile's L1 depth on the test device (1 GHz, GM -> L1 100 cycles + 256 B/cycle, L1 -> L0A
// 256 and L0B 128 B/cycle, Mmad 24 + 1 per fractal, FixPipe 20 + 128 B/cycle): C[16, 16] =
// A[16, 64] B[64, 16] in fp16, K steps of 32, single-buffered. The product is the same.
// One step per copy: each step copies A and B (1 KiB each, 104 cycles), moves them to L0 (4 + 8)
// and multiplies (24 + 2 fractals); the second step's copies wait for L1 to be freed after the
// first step's moves: copies 1..209, moves ..221, Mmad ..247; copies 221..429, moves ..441, Mmad
// ..467; FixPipe of 1 KiB fp32 (20 + 8) ends at 495.
// Two steps per copy: A and B in one copy each (2 KiB, 108 cycles) 1..217; step 1 cut from L1
// (A's 32 K columns as a strided block of 16 x 64 B: 4, B's rows: 8) ..229, Mmad ..255; step 2's
// moves wait for L0 (single-buffered) 255..267, Mmad ..293; FixPipe ..321.
TEST(CubeTile, AKDeepL1CopyFeedsSeveralL0Steps) {
  using namespace ascendc;
  GmArray a("a", 16 * 64 * 2, 0x1000), b("b", 64 * 16 * 2, 0x10000);
  Rng rng(5);
  for (int i = 0; i < 16 * 64; ++i)
    StoreElement(a.bytes.data() + 2 * i, DType::kFloat16, rng.Uniform(-1, 1));
  for (int i = 0; i < 64 * 16; ++i)
    StoreElement(b.bytes.data() + 2 * i, DType::kFloat16, rng.Uniform(-1, 1));
  LaunchResult r[2];
  for (uint32_t steps : {1u, 2u}) {
    GmArray c("c", 16 * 16 * 4, 0x20000);
    Chip chip(TestDevice());
    r[steps - 1] = chip.Launch(OneBlock(
        [&] {
          TPipe pipe;
          cube_util::CubeTile<half, float> tile;
          tile.Init(pipe, 16, 16, 32, 1, steps);
          GlobalTensor<half> ga, gb;
          GlobalTensor<float> gc;
          ga.SetGlobalBuffer(&a.buffer);
          gb.SetGlobalBuffer(&b.buffer);
          gc.SetGlobalBuffer(&c.buffer);
          tile.Compute(cube_util::Operand<half>{ga, 64, false},
                       cube_util::Operand<half>{gb, 16, false}, 16, 16, 64);
          tile.Store(gc, 16, QuantMode_t::NoQuant);
        },
        CoreType::kAic));
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) {
        double ref = 0;
        for (int k = 0; k < 64; ++k)
          ref += LoadElement(a.bytes.data() + 2 * (i * 64 + k), DType::kFloat16) *
                 LoadElement(b.bytes.data() + 2 * (k * 16 + j), DType::kFloat16);
        ASSERT_NEAR(LoadElement(c.bytes.data() + 4 * (i * 16 + j), DType::kFloat32), ref, 1e-4)
            << steps << " steps per copy";
      }
  }
  EXPECT_EQ(r[0].aic[static_cast<int>(Pipe::kMte2)].instructions, 4u);
  EXPECT_EQ(r[1].aic[static_cast<int>(Pipe::kMte2)].instructions, 2u);
  EXPECT_EQ(r[0].cycles, 495u);
  EXPECT_EQ(r[1].cycles, 321u);
}

// Operands a kernel keeps in L1 (FIA's MLA path): A [20, 80] and one page [48, 80] loaded once
// each with LoadNz, the page read both transposed (S = A page^T: K 80 in steps of 32, 32, 16) and
// plain (O = P page[:, :48]: K 48 in steps of 32 and 16 rows, N 48 from a 32-column block and a
// 16-column tail block). Tails in K, N and the page's rows all show as layout errors against fp64;
// three MTE2 copies feed both products.
TEST(CubeTile, L1HeldOperandsServeBothProductsWithTails) {
  using namespace ascendc;
  constexpr int M = 20, K = 80, R = 48;
  GmArray a("a", M * K * 2, 0x1000), pg("page", R * K * 2, 0x10000), pm("p", M * R * 2, 0x20000);
  Rng rng(7);
  for (GmArray* g : {&a, &pg, &pm})
    for (size_t i = 0; i < g->bytes.size() / 2; ++i)
      StoreElement(g->bytes.data() + 2 * i, DType::kFloat16, rng.Uniform(-1, 1));
  GmArray s("s", M * R * 4, 0x30000), o("o", M * R * 4, 0x40000);
  Chip chip(TestDevice());
  const LaunchResult r = chip.Launch(OneBlock(
      [&] {
        TPipe pipe;
        cube_util::CubeTile<half, float> tile;
        tile.Init(pipe, 32, 64, 32, 2, 0);
        TQue<TPosition::A1, 1> qa, qp;
        TQue<TPosition::B1, 1> qb;
        pipe.InitBuffer(qa, 1, 32 * 96 * 2, "a_l1");  // 32 layout rows x 3 blocks of 32
        pipe.InitBuffer(qb, 1, R * 96 * 2, "page_l1");
        pipe.InitBuffer(qp, 1, 32 * 64 * 2, "p_l1");  // 2 blocks of 32 columns
        GlobalTensor<half> ga, gpg, gpm;
        GlobalTensor<float> gs, go;
        ga.SetGlobalBuffer(&a.buffer);
        gpg.SetGlobalBuffer(&pg.buffer);
        gpm.SetGlobalBuffer(&pm.buffer);
        gs.SetGlobalBuffer(&s.buffer);
        go.SetGlobalBuffer(&o.buffer);
        auto la = qa.AllocTensor<half>();
        auto lb = qb.AllocTensor<half>();
        auto lp = qp.AllocTensor<half>();
        tile.LoadNz(la, ga, M, K, K, 32);
        tile.LoadNz(lb, gpg, R, K, K, R);
        tile.LoadNz(lp, gpm, M, R, R, 32);
        qa.EnQue(la);
        qb.EnQue(lb);
        qp.EnQue(lp);
        la = qa.DeQue<half>();
        lb = qb.DeQue<half>();
        lp = qp.DeQue<half>();
        tile.ComputeL1({la, 32, 0, false}, {lb, R, 0, true}, M, R, K);
        tile.Store(gs, R, QuantMode_t::NoQuant);
        tile.ComputeL1({lp, 32, 0, false}, {lb, R, 0, false}, M, R, R);
        tile.Store(go, R, QuantMode_t::NoQuant);
      },
      CoreType::kAic));
  auto at = [](const GmArray& g, int i) {
    return LoadElement(g.bytes.data() + 2 * i, DType::kFloat16);
  };
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < R; ++j) {
      double ref_s = 0, ref_o = 0;
      for (int k = 0; k < K; ++k) ref_s += at(a, i * K + k) * at(pg, j * K + k);
      for (int k = 0; k < R; ++k) ref_o += at(pm, i * R + k) * at(pg, k * K + j);
      ASSERT_NEAR(LoadElement(s.bytes.data() + 4 * (i * R + j), DType::kFloat32), ref_s, 1e-4)
          << i << "," << j;
      ASSERT_NEAR(LoadElement(o.bytes.data() + 4 * (i * R + j), DType::kFloat32), ref_o, 1e-4)
          << i << "," << j;
    }
  EXPECT_EQ(r.aic[static_cast<int>(Pipe::kMte2)].instructions, 3u);
}

// The blocked fp64 product the matmul references share keeps the three-loop sum order, so its
// bits equal the plain loop's: shapes with tails in every blocked dimension (rows not a multiple
// of the 4-row tile, columns past the 8-column tiles and the 512-column panel, k past a 256 block).
TEST(ReferenceGemm, BitIdenticalToThePlainLoopOnTailShapes) {
  for (const auto& [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {5, 300, 13}, {7, 513, 530}, {4, 256, 8}}) {
    std::vector<double> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(k * n));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i)) * 1e3;
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.11 * static_cast<double>(i)) / 7.0;
    std::vector<double> plain(static_cast<size_t>(m * n), 0.5), blocked = plain;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < n; ++j) plain[i * n + j] += x[i * k + kk] * w[kk * n + j];
    ref::GemmF64(x.data(), w.data(), blocked.data(), m, k, n);
    for (size_t i = 0; i < plain.size(); ++i)
      ASSERT_EQ(blocked[i], plain[i]) << m << "x" << k << "x" << n << " at " << i;
  }
}

TEST(QuantMatmul, W8A8OddShapesThroughTheWorkspace) {
  // Several tiles per block (two workspace slots reused), odd M split unevenly between the two
  // AIVs, N tail; both weight layouts.
  for (const char* tb : {"0", "1"}) {
    KernelRun r = RunOp("quant_matmul", {{"m", "77"},
                                         {"n", "300"},
                                         {"k", "256"},
                                         {"trans_b", tb},
                                         {"base_m", "32"},
                                         {"base_n", "64"}});
    ExpectAccurate(r, kBf16Tol);
  }
}

TEST(QuantMatmul, OneRowLeavesTheSecondAivIdle) {
  KernelRun r =
      RunOp("quant_matmul", {{"m", "1"}, {"n", "40"}, {"k", "64"}, {"out_dtype", "float16"}});
  ExpectAccurate(r, kBf16Tol);
}

TEST(QuantMatmul, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("quant_matmul",
                                    {{"m", "77"}, {"n", "300"}, {"k", "256"}, {"base_m", "32"}});
}

TEST(QuantMatmul, Int8IsTwiceTheCubeRateOfBf16) {
  // Same shape and tiles, so the same Mmads; each costs the cube startup (24 cycles on 910B3)
  // plus one cycle per fractal, and int8 fractals are 16 x 32 x 16: the bf16 run's fractal cycles
  // are twice the int8 run's, counted on the cube pipe as simulated.
  const Kvs tiles = {{"base_m", "128"},
                     {"base_n", "128"},
                     {"base_k", "128"}};  // auto: int8 takes twice the K step
  KernelRun q = RunOp("quant_matmul", tiles, "Ascend910B3", ModeChoice::kTimingOnly);
  KernelRun b = RunOp("matmul", tiles, "Ascend910B3", ModeChoice::kTimingOnly);
  ASSERT_EQ(q.status, "ok") << q.message;
  ASSERT_EQ(b.status, "ok") << b.message;
  const PipeUsage &qm = q.launch.aic[static_cast<int>(Pipe::kM)],
                  &bm = b.launch.aic[static_cast<int>(Pipe::kM)];
  ASSERT_EQ(qm.instructions, bm.instructions);
  ASSERT_GT(qm.instructions, 0u);
  const uint64_t startup = 24 * qm.instructions;
  EXPECT_EQ(bm.busy_cycles - startup, 2 * (qm.busy_cycles - startup));
  EXPECT_LT(q.launch.time_us, b.launch.time_us);
}

}  // namespace
}  // namespace npusim::testing
