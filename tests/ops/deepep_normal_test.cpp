// DeepEP normal mode (moe_dispatch_normal, moe_combine_normal): every rank's rows against the
// fp64 reference on shapes whose receive counts differ by rank, the routing tables, and what the
// row-by-row structure costs next to a bulk all-to-all of the same bytes.
#include "ops/deepep_normal/deepep_normal_tiling.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

// 4 ranks, 7 tokens x 3 experts each = 21 rows per rank over 8 experts: 21 is not a multiple of
// 8, so ranks receive different counts (a layout bug shows as rows in the wrong place); hidden
// 96 is three 32 B blocks of bf16, not a power of two.
const Kvs kUneven = {
    {"ranks", "4"}, {"tokens", "7"}, {"hidden", "96"}, {"top_k", "3"}, {"experts", "8"}};

Kvs With(Kvs kv, const std::string& k, const std::string& v) {
  kv.push_back({k, v});
  return kv;
}

TEST(DeepepNormal, RoutingTablesPartitionEveryRanksRows) {
  deepep_normal::Routing r;
  r.ranks = 4, r.tokens = 7, r.top_k = 3, r.experts = 8;
  DeviceConfig d;
  d.aiv_count = 48;
  const deepep_normal::Tiling t = deepep_normal::ComputeTiling(r, 96, true, d);
  int64_t received = 0;
  for (int64_t s = 0; s < r.ranks; ++s) {
    int64_t sent = 0;
    for (int64_t e = 0; e < r.experts; ++e) {
      EXPECT_EQ(t.SendOffset(s, e), sent) << "rank " << s << " expert " << e;
      sent += r.Count(s, e);
    }
    EXPECT_EQ(sent, r.Rows());
    for (int64_t i = 0; i < r.Rows(); ++i)  // each row's index within its expert is in range
      EXPECT_LT(r.IndexInExpert(s, i), r.Count(s, r.Expert(s, i)));
  }
  for (int64_t dst = 0; dst < r.ranks; ++dst) received += t.recv_count[dst];
  EXPECT_EQ(received, r.ranks * r.Rows());
  // 84 rows over 8 experts: experts 0-3 get 11 rows, 4-7 get 10; rank 0 holds experts 0 and 1.
  EXPECT_EQ(t.recv_count[0], 22);
  EXPECT_EQ(t.recv_count[3], 20);
  EXPECT_EQ(t.recv_max, 22);
  EXPECT_THROW(deepep_normal::ComputeTiling({3, 7, 3, 8}, 96, true, d), InputError);
}

TEST(DeepepNormal, Int8DispatchQuantisesEveryRoutedCopy) {
  KernelRun r = RunOp("moe_dispatch_normal", kUneven, "Ascend910_9392", ModeChoice::kFunctional);
  ASSERT_EQ(r.status, "ok") << r.message;
  // rint(x * 127 / max|x|) in fp32 against fp64: a value on a rounding boundary may land one step
  // away; the scales (1 / scale) agree to fp32 precision.
  EXPECT_LE(r.numerics.at("expand_x").max_abs_err, 1.0);
  EXPECT_LE(r.numerics.at("scales").max_rel_err, 1e-6);
}

TEST(DeepepNormal, Bf16DispatchMovesRowsExactly) {
  KernelRun r = RunOp("moe_dispatch_normal", With(kUneven, "quant", "none"), "Ascend910_9392",
                      ModeChoice::kFunctional);
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.numerics.at("expand_x").max_abs_err, 0.0);
}

TEST(DeepepNormal, CombineSumsTheWeightedRowsOfEveryToken) {
  KernelRun r = RunOp("moe_combine_normal", kUneven, "Ascend910_9392", ModeChoice::kFunctional);
  ExpectAccurate(r, kBf16Tol);
}

TEST(DeepepNormal, TimingDoesNotDependOnTheData) {
  ExpectTimingOnlyMatchesFunctional("moe_dispatch_normal", kUneven, "Ascend910_9392");
  ExpectTimingOnlyMatchesFunctional("moe_combine_normal", kUneven, "Ascend910_9392");
}

TEST(DeepepNormal, HiddenMustBeWhole32ByteBlocks) {
  EXPECT_THROW(RunOp("moe_dispatch_normal", With(kUneven, "hidden", "100"), "Ascend910_9392",
                     ModeChoice::kTimingOnly),
               InputError);
}

// Per row, the int8 pack runs the quantisation (Cast, Abs, max, Muls, three casts) the bf16 pack
// does not. It writes half the bytes (the bf16 pack is HBM-bound: 48 cores move 14 KB in and out
// per row), so without the vector work it would be the cheaper one; with it, it is dearer.
TEST(DeepepNormal, TheInt8PackPaysAQuantisationPerRow) {
  const Kvs c7 = {{"ranks", "8"}, {"tokens", "192"}};
  KernelRun q = RunOp("moe_dispatch_normal", c7, "Ascend910_9392", ModeChoice::kTimingOnly);
  KernelRun b = RunOp("moe_dispatch_normal", With(c7, "quant", "none"), "Ascend910_9392",
                      ModeChoice::kTimingOnly);
  ASSERT_EQ(q.status, "ok") << q.message;
  ASSERT_EQ(b.status, "ok") << b.message;
  EXPECT_GT(q.launch_times.front().second, 1.3 * b.launch_times.front().second);
}

// Normal mode moves a slot per transfer and, in the combine, waits for each row and its status
// flag: the same bytes take longer than the bulk all_to_all's UB-sized tiles. C7 at EP 8: the
// combine's 469762048 B per rank against all_to_all of 234881024 bf16 elements.
TEST(DeepepNormal, RowByRowIsSlowerThanABulkAllToAllOfTheSameBytes) {
  KernelRun normal =
      RunOp("moe_combine_normal", {{"ranks", "8"}}, "Ascend910_9392", ModeChoice::kTimingOnly);
  KernelRun bulk = RunOp("all_to_all", {{"ranks", "8"}, {"elements", "234881024"}},
                         "Ascend910_9392", ModeChoice::kTimingOnly);
  ASSERT_EQ(normal.status, "ok") << normal.message;
  ASSERT_EQ(bulk.status, "ok") << bulk.message;
  EXPECT_GT(normal.launch.time_us, 1.3 * bulk.launch.time_us);
}

// Large launches are timed from two probes (tokens per rank 192 and 384 here, whole rows per
// block and per expert pair); the full simulation agrees.
TEST(DeepepNormal, ExtrapolatedTimeMatchesTheFullSimulation) {
  const Kvs kv = {{"ranks", "8"}, {"tokens", "2304"}};
  ParamValues p(FindOp("moe_dispatch_normal").params());
  for (const auto& [k, v] : kv) p.Set(k, v);
  RunOptions o;
  o.mode = ModeChoice::kTimingOnly;
  o.use_cache = false;
  const DeviceConfig d = LoadDevice("Ascend910_9392");
  const KernelRun ex = RunKernel(FindOp("moe_dispatch_normal"), p, d, o);
  o.extrapolate = false;
  const KernelRun full = RunKernel(FindOp("moe_dispatch_normal"), p, d, o);
  ASSERT_TRUE(ex.extrapolated);
  ASSERT_FALSE(full.extrapolated);
  EXPECT_NEAR(ex.launch.time_us / full.launch.time_us, 1.0, 0.01);
}

}  // namespace
}  // namespace npusim::testing
