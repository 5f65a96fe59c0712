#include "devices/cost_model.h"
#include "model/error.h"
#include "ops/add/add_tiling.h"
#include "ops/runner.h"
#include "tests/test_util.h"

namespace npusim {
namespace {

ParamValues AddParams(const std::vector<std::pair<std::string, std::string>>& kv) {
  ParamValues p(FindOp("add").params());
  for (const auto& [k, v] : kv) p.Set(k, v);
  return p;
}

KernelRun RunAdd(const std::vector<std::pair<std::string, std::string>>& kv, const DeviceConfig& d,
                 ModeChoice mode = ModeChoice::kAuto) {
  RunOptions o;
  o.mode = mode;
  o.seed = 7;
  return RunKernel(FindOp("add"), AddParams(kv), d, o);
}

// Odd lengths exercise the 32 B-unaligned tail (DataCopyPad) and uneven blocks.
TEST(AddKernel, MatchesFp64ReferenceAtEachDtypeWithTails) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  const std::pair<const char*, double> cases[] = {
      {"float32", 0x1p-24}, {"float16", 0x1p-11}, {"bfloat16", 0x1p-8}};
  for (auto [dtype, half_ulp] : cases) {
    for (const char* n : {"1", "31", "1000003"}) {
      KernelRun r = RunAdd({{"n", n}, {"dtype", dtype}}, d);
      ASSERT_EQ(r.status, "ok") << r.message;
      ASSERT_TRUE(r.functional);
      // One rounding of the exact sum: at most half an ulp, relative 2^-(p) for p mantissa bits
      // + 1.
      EXPECT_LE(r.numerics.at("z").max_rel_err, half_ulp) << dtype << " n=" << n;
      EXPECT_GT(r.numerics.at("z").elements, 0);
    }
  }
}

TEST(AddKernel, DoubleBufferingShortensACopyBoundAdd) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  // The derivation below holds each copy's pipe to its end (the latency inside T_in); the
  // pipelined MTE model is checked for the same direction after it.
  d.mte_impl = "latency_bandwidth";
  // One block, 64 tiles of 4096 fp16: copy-bound (MTE2 ~2 x 8 KiB per tile vs a short Add).
  auto single = RunAdd({{"n", "262144"}, {"tile", "4096"}, {"block_dim", "1"}, {"buffer_num", "1"}},
                       d, ModeChoice::kTimingOnly);
  auto dbl = RunAdd({{"n", "262144"}, {"tile", "4096"}, {"block_dim", "1"}, {"buffer_num", "2"}}, d,
                    ModeChoice::kTimingOnly);
  ASSERT_EQ(single.status, "ok");
  ASSERT_EQ(dbl.status, "ok");
  const double ratio =
      static_cast<double>(dbl.launch.cycles) / static_cast<double>(single.launch.cycles);
  // With one buffer per queue, CopyIn of tile i+1 waits for Compute of tile i to free x and y
  // (CopyOut still overlaps: MTE3 is its own pipe), so a tile costs T_in + T_v. With two, MTE2
  // streams and a tile costs T_in. Expected ratio T_in / (T_in + T_v), from the cost model.
  CostModel cost(d);
  const double t_in = 2.0 * static_cast<double>(cost.PathCycles(MtePath::kGmToUb, 8192));
  const double t_v = static_cast<double>(cost.VectorCycles(VecClass::kBinary, 8192, 2));
  EXPECT_LT(ratio, 1.0);
  EXPECT_NEAR(ratio, t_in / (t_in + t_v), 0.02)
      << single.launch.cycles << " vs " << dbl.launch.cycles;
  // With the latency overlapping the next transfer, a tile's chain (loads, their landing, the
  // Add, the store's landing before z is reused) is mostly latency: two buffers still shorten it.
  d.mte_impl = "latency_bandwidth_pipelined";
  auto single_dev =
      RunAdd({{"n", "262144"}, {"tile", "4096"}, {"block_dim", "1"}, {"buffer_num", "1"}}, d,
             ModeChoice::kTimingOnly);
  auto dbl_dev =
      RunAdd({{"n", "262144"}, {"tile", "4096"}, {"block_dim", "1"}, {"buffer_num", "2"}}, d,
             ModeChoice::kTimingOnly);
  EXPECT_LT(dbl_dev.launch.cycles, single_dev.launch.cycles);
}

TEST(AddKernel, LargeAddOnTheWholeChipSitsAtTheHbmRoofline) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  KernelRun r = RunAdd({{"n", "67108864"}}, d, ModeChoice::kTimingOnly);  // 3 x 128 MiB
  ASSERT_EQ(r.status, "ok");
  EXPECT_EQ(r.block_dim, d.aiv_count);
  // x and y are filled from HBM in 512 B granules, z written back once. Block b+1 starts inside
  // the granule holding block b's end (blocks start unaligned); when block b reaches it at the
  // end, 384 MiB of traffic has evicted it from the 192 MiB L2: at most one granule per
  // block boundary and input is filled twice.
  EXPECT_GE(r.launch.hbm_read_bytes, 2ull * 67108864 * 2);
  EXPECT_LE(r.launch.hbm_read_bytes, 2ull * 67108864 * 2 + 2ull * d.aiv_count * 512);
  EXPECT_LT(r.launch.l2_hit_bytes, r.launch.hbm_read_bytes / 50);
  EXPECT_GE(r.launch.hbm_write_bytes,
            67108864ull * 2);  // and a boundary granule written back twice at most
  EXPECT_LE(r.launch.hbm_write_bytes, 67108864ull * 2 + 2ull * d.aiv_count * 512);
  const double bytes = static_cast<double>(r.launch.hbm_read_bytes + r.launch.hbm_write_bytes);
  EXPECT_DOUBLE_EQ(r.memory_bound_us, bytes / (d.hbm_bandwidth_gbps * 1e3));
  EXPECT_GE(r.launch.time_us, r.roofline_us);         // never faster than the roofline
  EXPECT_GT(r.roofline_us / r.launch.time_us, 0.97);  // and HBM is the only limit left
}

TEST(AddKernel, TimingOnlyGivesTheSameTimeAsFunctional) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  for (const char* dtype : {"float16", "float32"}) {
    KernelRun f = RunAdd({{"n", "300001"}, {"dtype", dtype}}, d, ModeChoice::kFunctional);
    KernelRun t = RunAdd({{"n", "300001"}, {"dtype", dtype}}, d, ModeChoice::kTimingOnly);
    ASSERT_EQ(f.status, "ok");
    EXPECT_TRUE(f.functional);
    EXPECT_FALSE(t.functional);
    EXPECT_EQ(f.launch.cycles, t.launch.cycles);
    EXPECT_EQ(f.launch.instructions, t.launch.instructions);
  }
}

TEST(AddKernel, ForcedTileTooLargeOverflowsInsteadOfShrinking) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  KernelRun r =
      RunAdd({{"tile", "40000"}, {"dtype", "float16"}}, d);  // 80000 B tiles, 2 buffers per queue
  EXPECT_EQ(r.status, "ub_overflow");
  // InitBuffer fails at the second queue: (2 + 2) x 80000 B x 8 = 2,560,000 bits.
  EXPECT_NE(r.message.find("requires 2560000 bits while 1572864 bits available!"),
            std::string::npos)
      << r.message;
}

TEST(AddKernel, RunsAreMemoised) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  const CacheStats before = KernelCacheStats();
  KernelRun a = RunAdd({{"n", "65536"}}, d, ModeChoice::kTimingOnly);
  KernelRun b = RunAdd({{"n", "65536"}}, d, ModeChoice::kTimingOnly);
  KernelRun c = RunAdd({{"n", "65537"}}, d, ModeChoice::kTimingOnly);
  EXPECT_FALSE(a.from_cache);
  EXPECT_TRUE(b.from_cache);
  EXPECT_FALSE(c.from_cache);
  EXPECT_EQ(a.launch.cycles, b.launch.cycles);
  EXPECT_EQ(KernelCacheStats().hits - before.hits, 1);
  EXPECT_EQ(KernelCacheStats().misses - before.misses, 2);
}

// Values are parsed once: an integer's text is normalised, a number keeps the text it was given
// (the memo key) and reads back as the parsed value; a bad value names the range and the meaning.
TEST(ParamValues, ParsedOnceAndCheckedAgainstTheDeclaration) {
  ParamValues p(FindOp("add").params());
  EXPECT_EQ(p.Int("n"), 1048576);  // the default
  p.Set("n", "0x10");
  EXPECT_EQ(p.Int("n"), 16);
  EXPECT_EQ(p.Str("n"), "16");
  EXPECT_DOUBLE_EQ(p.Float("n"), 16.0);
  EXPECT_EQ(p.Canonical(), "n=16,dtype=float16,tile=0,buffer_num=2,block_dim=0");
  try {
    p.Set("buffer_num", "3");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "parameter 'buffer_num' = 3 is out of range [1, 2] (buffers per queue (1 = single, "
        "2 = double buffering))");
  }
  EXPECT_THROW(p.Set("n", "12x"), InputError);
  EXPECT_THROW(p.Set("dtype", "float64"), InputError);
  EXPECT_THROW(p.Int("m"), InputError);  // unknown: names the nearest
  EXPECT_EQ(p.Int("n"), 16);             // a refused value changes nothing
  ParamValues v(FindOp("verify_greedy").params());
  v.Set("accept_rate", "0.50");
  EXPECT_EQ(v.Str("accept_rate"), "0.50");
  EXPECT_DOUBLE_EQ(v.Float("accept_rate"), 0.5);
  // An integer with choices (chunk GDN's chunk: 64 or 128 in [64, 128]) takes only those, checked
  // in its normalised text.
  ParamValues g(FindOp("chunk_gated_delta_rule").params());
  g.Set("chunk", "0x80");
  EXPECT_EQ(g.Int("chunk"), 128);
  try {
    g.Set("chunk", "96");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "parameter 'chunk' = '96' is not one of {64, 128} (nearest valid: '64')");
  }
  EXPECT_EQ(g.Int("chunk"), 128);
}

TEST(AddTiling, BlocksStartAlignedAndCoverN) {
  DeviceConfig d = LoadDevice("Ascend910B3");
  add::AddTiling t = add::ComputeAddTiling(1000003, 2, 0, 2, 0, d);
  EXPECT_EQ(t.block_dim, 40);
  EXPECT_EQ(t.block_len % 16, 0);  // 32 B of fp16
  EXPECT_GE(t.block_len * t.block_dim, 1000003);
  EXPECT_LT((t.block_len) * (t.block_dim - 1), 1000003);
  EXPECT_LE(3 * 2 * t.tile * 2, d.ub_bytes);
}

}  // namespace
}  // namespace npusim
