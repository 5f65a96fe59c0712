// Exact cycle counts for small instruction sequences on the test device
// (tests/data/test_device.yaml: 1 GHz, so 1 ns = 1 cycle and 1 GB/s = 1 B/cycle;
// scalar issue 1 cycle per instruction; launch overhead 0).
#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "devices/ascendc/kernel_operator.h"
#include "devices/cost_model.h"
#include "devices/memory_system.h"
#include "model/trace.h"
#include "tests/test_util.h"

namespace npusim {
namespace {

using namespace ascendc;
using testing::GmArray;
using testing::OneBlock;
using testing::TestDevice;

TEST(Timing, SingleGmToUbCopy) {
  DeviceConfig d = TestDevice();
  Chip chip(d);
  GmArray x("x", 4096);
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 4096);
    GlobalTensor<float> gx;
    gx.SetGlobalBuffer(&x.buffer);
    DataCopy(buf.Get<float>(), gx, 1024);
  }));
  // Issued at cycle 1 (one scalar issue cycle). Path: 4096 B / 128 B/cycle = 32 cycles of data,
  // HBM: 4096 / 1024 = 4 cycles (not binding), then 100 cycles latency: 1 + 32 + 100 = 133.
  EXPECT_EQ(r.cycles, 133u);
  EXPECT_EQ(r.hbm_read_bytes, 4096u);
  EXPECT_EQ(r.aiv[static_cast<int>(Pipe::kMte2)].busy_cycles, 132u);
  // The same figures, registered once and dumped by name with their units.
  auto stat = [&](const std::string& name) -> const Stat* {
    for (const Stat& s : r.stats)
      if (s.name == name) return &s;
    return nullptr;
  };
  ASSERT_NE(stat("aiv.MTE2.busy_cycles"), nullptr);
  EXPECT_EQ(stat("aiv.MTE2.busy_cycles")->value, 132);
  EXPECT_EQ(stat("aiv.MTE2.busy_cycles")->unit, "cycles");
  EXPECT_EQ(stat("hbm.read_bytes")->value, 4096);
  EXPECT_EQ(stat("launch.cycles")->value, 133);
}

TEST(Timing, CopyComputeCopyChainedByFlags) {
  DeviceConfig d = TestDevice();
  Chip chip(d);
  GmArray x("x", 4096, 0x1000), y("y", 4096, 0x10000);
  for (int i = 0; i < 1024; ++i) x.as<float>()[i] = static_cast<float>(i);
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 4096);
    LocalTensor<float> t = buf.Get<float>();
    GlobalTensor<float> gx, gy;
    gx.SetGlobalBuffer(&x.buffer);
    gy.SetGlobalBuffer(&y.buffer);
    DataCopy(t, gx, 1024);           // issue 1, MTE2 1..133 (see SingleGmToUbCopy)
    SetFlag<HardEvent::MTE2_V>(0);   // issue 2, fires at 133
    WaitFlag<HardEvent::MTE2_V>(0);  // issue 3, V passes at 133
    Add(t, t, t, 1024);              // issue 4, V 133..166: 1 startup + 4096 B / 128 B/cycle
    SetFlag<HardEvent::V_MTE3>(0);   // issue 5, fires at 166
    WaitFlag<HardEvent::V_MTE3>(0);  // issue 6, MTE3 passes at 166
    DataCopy(gy, t, 1024);  // issue 7, MTE3 166..280: 4096 B / 64 B/cycle = 64 + 50 latency
  }));
  EXPECT_EQ(r.cycles, 280u);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(y.as<float>()[i], 2.0f * i);
}

// GetValue on GM goes through the scalar data cache (test device: 32 KB, 64 B lines, 8 ways,
// a miss stalls the scalar unit 100 cycles, a hit costs 1).
TEST(Timing, ScalarGmReadsMissTheDataCacheOncePerLine) {
  DeviceConfig d = TestDevice();
  Chip chip(d);
  GmArray x("x", 4096, 0x1000);  // line-aligned
  for (int i = 0; i < 1024; ++i) x.as<float>()[i] = static_cast<float>(i);
  float sum = 0;
  LaunchResult r = chip.Launch(OneBlock([&] {
    GlobalTensor<float> gx;
    gx.SetGlobalBuffer(&x.buffer);
    for (int i = 0; i < 16; ++i) sum += gx.GetValue(i);       // one line: 1 miss + 15 hits = 115
    for (int i = 1; i < 17; ++i) sum += gx.GetValue(16 * i);  // 16 more lines, one read each: 1600
    sum += gx.GetValue(3);                                    // the first line is still there: 1
  }));
  EXPECT_EQ(r.cycles, 115u + 1600u + 1u);
  EXPECT_EQ(r.dcache_misses, 17u);
  EXPECT_EQ(sum, 120.0f + 16.0f * 136.0f + 3.0f);  // the values are read, not just timed
}

TEST(Timing, MmadFractalsAndFp32Rate) {
  DeviceConfig d = TestDevice();
  CostModel cost(d);
  // 24 startup + one cycle per 16x16x16 fractal: 32x64x48 -> 2 x 4 x 3 = 24 fractals.
  EXPECT_EQ(cost.CubeCycles(32, 64, 48, DType::kFloat16), 24u + 24u);
  // int8 fractals are 16x32x16: K = 64 is 2 fractals deep -> 2 x 2 x 3 = 12.
  EXPECT_EQ(cost.CubeCycles(32, 64, 48, DType::kInt8), 24u + 12u);
  // fp32 at a quarter rate: 24 fractals x 4.
  EXPECT_EQ(cost.CubeCycles(32, 64, 48, DType::kFloat32), 24u + 96u);
}

TEST(Timing, VectorClassesAndRepeats) {
  DeviceConfig d = TestDevice();
  CostModel cost(d);
  // Work counts whole 256 B repeats: 100 B -> 1 repeat; binary 128 B/cycle -> 2 cycles + 1 startup.
  EXPECT_EQ(cost.VectorCycles(VecClass::kBinary, 100, 4), 3u);
  // exp on fp16 runs at 64 B/cycle: 1024 B -> 16 cycles + 1.
  EXPECT_EQ(cost.VectorCycles(VecClass::kTranscendental, 1024, 2), 17u);
  // ... and on fp32 at 128 B/cycle (the same 32 elements/cycle): 8 + 1.
  EXPECT_EQ(cost.VectorCycles(VecClass::kTranscendental, 1024, 4), 9u);
}

// The repeat form: one instruction over 4 rows of 32 floats (128 B, half a repeat each), rows 64
// floats apart, times a broadcast row (pitch 0). Each row is a whole 256 B repeat: 1 startup + 4 x
// 256 B / 128 B/cycle = 9 cycles on V (a count-based Mul of the same 128 floats takes 1 + 4 = 5);
// the lanes past each row's 32 floats are untouched. A row wider than one repeat is not one
// instruction.
TEST(Timing, ARepeatFormVectorOpCostsAWholeRepeatPerRow) {
  DeviceConfig d = TestDevice();
  Chip chip(d);
  std::vector<float> got;
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 3 * 256 * 4);
    LocalTensor<float> x = buf.Get<float>(), y = x[256], z = x[512];
    for (uint32_t i = 0; i < 256; ++i) x.SetValue(i, static_cast<float>(i)), z.SetValue(i, -1.0f);
    for (uint32_t i = 0; i < 32; ++i) y.SetValue(i, 2.0f);
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
    Mul(z, x, y, RowBlock{4, 32, 64, 64, 0});
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    got = {z.GetValue(0), z.GetValue(31), z.GetValue(32), z.GetValue(64 * 3 + 5)};
  }));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], 62.0f);
  EXPECT_EQ(got[2], -1.0f);                                      // lane 32 of row 0: masked off
  EXPECT_EQ(got[3], 2.0f * (64 * 3 + 5));                        // row 3, lane 5
  EXPECT_EQ(r.aiv[static_cast<int>(Pipe::kV)].busy_cycles, 9u);  // the only vector instruction
  Chip wide(TestDevice());
  const SimFailure f = testing::ExpectSimFailure(wide, OneBlock([&] {
                                                   TPipe pipe;
                                                   TBuf<TPosition::VECCALC> buf;
                                                   pipe.InitBuffer(buf, 4096);
                                                   LocalTensor<float> x = buf.Get<float>();
                                                   Mul(x, x, x, RowBlock{2, 128, 128, 128, 128});
                                                 }));
  EXPECT_EQ(f.status(), "invalid_instruction");
  EXPECT_NE(std::string(f.what()).find("more than one 256 B repeat"), std::string::npos)
      << f.what();
}

// The rank-1 update of the AscendC recurrent GDN op (ops/recurrent_gated_delta_rule): a Brcb of a
// 4-row column (each element across its own 32 B block) then S[r, :] += u[r] k in the repeat form,
// the Brcb block read for every block of a row and k's row reused. Brcb writes 4 x 32 B: one whole
// repeat, 256 B / 255 B/cycle -> 2 cycles + 1 startup = 3. MulAddDst: 4 rows, one repeat each ->
// 1024 B / 128 B/cycle = 8 + 1 = 9. V busy 3 + 9 = 12.
TEST(Timing, BrcbAndMulAddDstUpdateRowsByAColumn) {
  DeviceConfig d = TestDevice();
  Chip chip(d);
  std::vector<float> got;
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, (256 + 256 + 64 + 8) * 4);
    LocalTensor<float> s = buf.Get<float>(), tmp = s[256], k = s[512], u = s[576];
    for (uint32_t i = 0; i < 256; ++i) s.SetValue(i, 1.0f), tmp.SetValue(i, -7.0f);
    for (uint32_t c = 0; c < 64; ++c) k.SetValue(c, static_cast<float>(c));
    for (uint32_t r = 0; r < 4; ++r) u.SetValue(r, static_cast<float>(r + 1));
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
    Brcb(tmp, u, 4);
    MulAddDst(s, tmp, k, RowBlock{4, 64, 64, 8, 0, true});
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    got = {tmp.GetValue(0), tmp.GetValue(8 * 3 + 7), s.GetValue(5), s.GetValue(64 * 2 + 10)};
  }));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], 1.0f);                 // u[0]
  EXPECT_EQ(got[1], 4.0f);                 // u[3] at the last column
  EXPECT_EQ(got[2], 1.0f + 1.0f * 5.0f);   // 1 + u[0] k[5]
  EXPECT_EQ(got[3], 1.0f + 3.0f * 10.0f);  // 1 + u[2] k[10]
  EXPECT_EQ(r.aiv[static_cast<int>(Pipe::kV)].busy_cycles, 12u);
}

// Vector results land `latency_cycles` after the last issue slot, in order: an independent
// instruction issues meanwhile; a dependent one, a barrier or a SetFlag from V waits for every
// result to land (the PipeBarrier<PIPE_V> AscendC's compiler inserts). These run one block on
// the test device with binary results landing 20 cycles late (unary: 0) over a UB tensor of
// 5 x 64 floats.
LaunchResult WithBinaryLatency(const std::function<void(const LocalTensor<float>&)>& body) {
  DeviceConfig d = TestDevice();
  d.vec[static_cast<int>(VecClass::kBinary)].latency_cycles = 20;
  Chip chip(d);
  return chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 5 * 256);
    body(buf.Get<float>());
  }));
}

TEST(Timing, DependentVectorInstructionsWaitForTheLatency) {
  LaunchResult r = WithBinaryLatency([](const LocalTensor<float>& t) {
    LocalTensor<float> x = t, y = t[64], a = t[128], b = t[192], c = t[256];
    Add(a, x, y, 64);  // issue 1: V 1..4 (1 startup + 256 B / 128 B/cycle), lands at 4 + 20 = 24
    Add(b, x, y, 64);  // issue 2, independent: V 4..7, lands at 27
    Add(c, a, b, 64);  // issue 3 reads a and b: waits until 27, V 27..30, lands at 50
  });
  // The block ends when the last result has landed.
  EXPECT_EQ(r.cycles, 50u);
  EXPECT_EQ(r.aiv[static_cast<int>(Pipe::kV)].busy_cycles, 9u);  // issue slots only: 3 x 3
}

TEST(Timing, ABarrierOrASetFlagFromVectorWaitsForItsResults) {
  for (bool barrier : {true, false}) {
    LaunchResult r = WithBinaryLatency([barrier](const LocalTensor<float>& t) {
      Add(t[128], t, t[64], 64);  // issue 1: V 1..4, lands at 24
      if (barrier) {
        PipeBarrier<PIPE_V>();  // issue 2: holds the V queue until 24
      } else {
        SetFlag<HardEvent::V_S>(0);   // issue 2: fires at 24
        WaitFlag<HardEvent::V_S>(0);  // the scalar resumes at 24
      }
      // Independent of the Add. With the barrier: issued at 3, runs 24..27 (1 + ceil(256 / 255));
      // after the flag: issued at 25, runs 25..28.
      Adds(t[192], t, 1.0f, 64);
    });
    EXPECT_EQ(r.cycles, barrier ? 27u : 28u) << (barrier ? "PipeBarrier" : "SetFlag V->S");
  }
}

// CrossCoreSetFlag mode 0 (SyncAll): no core passes the wait before the last one has set it.
TEST(Timing, AnAllCoreBarrierReleasesEveryCoreWhenTheLastArrives) {
  for (bool barrier : {true, false}) {
    Chip chip(TestDevice());
    LaunchResult r = chip.Launch(OneBlock(
        [barrier] {
          TPipe pipe;
          TBuf<TPosition::VECCALC> buf;
          pipe.InitBuffer(buf, 8192 + 256);
          LocalTensor<float> t = buf.Get<float>();
          // issue 1 (a scalar-operand op, 255 B/cycle): block 0 runs V 1..19 (1 + ceil(4096 /
          // 255)), block 1 V 1..35 (1 + ceil(8192 / 255))
          Adds(t, t, 1.0f, static_cast<uint32_t>(1024 * (GetBlockIdx() + 1)));
          if (barrier) {
            CrossCoreSetFlag<0, PIPE_V>(1);  // issue 2: fires when V reaches it, at 19 and 35
            CrossCoreWaitFlag(1);            // both scalars resume at 35, the last core's set
          }
          // With the barrier both issue at 36 and run 36..39 (1 + ceil(256 / 255)); without, each
          // is issued at 3 and runs behind its first Adds: block 0 19..22, block 1 35..38.
          Adds(t[2048], t[2048], 1.0f, 64);
        },
        CoreType::kAiv, 2));
    ASSERT_EQ(r.unit_cycles.size(), 2u);
    if (barrier) {
      EXPECT_EQ(r.unit_cycles[0], 39u);
      EXPECT_EQ(r.unit_cycles[1], 39u);
    } else {
      EXPECT_EQ(r.unit_cycles[0], 22u);
      EXPECT_EQ(r.unit_cycles[1], 38u);
    }
  }
}

// A cross-core signal that takes time (cross_core_latency_ns): the waiter resumes that long after
// the set that releases it, here the last core's.
TEST(Timing, ACrossCoreSignalReachesTheWaiterAfterItsLatency) {
  DeviceConfig d = TestDevice();
  d.cross_core_latency_ns = 10;  // 10 cycles at the test device's 1000 MHz
  Chip chip(d);
  LaunchResult r = chip.Launch(OneBlock(
      [] {
        TPipe pipe;
        TBuf<TPosition::VECCALC> buf;
        pipe.InitBuffer(buf, 8192 + 256);
        LocalTensor<float> t = buf.Get<float>();
        // As above: block 0's V runs 1..19, block 1's 1..35; the last set is at 35.
        Adds(t, t, 1.0f, static_cast<uint32_t>(1024 * (GetBlockIdx() + 1)));
        CrossCoreSetFlag<0, PIPE_V>(1);
        CrossCoreWaitFlag(1);              // both scalars resume at 35 + 10 = 45
        Adds(t[2048], t[2048], 1.0f, 64);  // issued at 46, runs 46..49
      },
      CoreType::kAiv, 2));
  ASSERT_EQ(r.unit_cycles.size(), 2u);
  EXPECT_EQ(r.unit_cycles[0], 49u);
  EXPECT_EQ(r.unit_cycles[1], 49u);
}

TEST(Timing, SharedHbmCapsTheChip) {
  // Two transfers of 8192 B from different addresses starting together: each core's path alone
  // takes 64 cycles (128 B/cycle), but with 64 B/cycle of HBM the second queues behind the first.
  L2HbmMemory mem(64, 1e9, 1 << 20);
  uint64_t a = mem.Transfer(0, GmSpan{0, 1, 8192, 8192}, 8192, 64, 0, false);
  uint64_t b = mem.Transfer(0, GmSpan{8192, 1, 8192, 8192}, 8192, 64, 0, false);
  EXPECT_EQ(a, 128u);  // 8192 / 64
  EXPECT_EQ(b, 256u);  // queued behind the first: 2 x 8192 / 64
  EXPECT_EQ(mem.read_bytes(), 16384u);
}

TEST(Timing, RereadsHitL2AndSkipHbm) {
  // HBM 64 B/cycle, L2 256 B/cycle, L2 of 4 granules (2048 B).
  L2HbmMemory mem(64, 256, 2048);
  EXPECT_EQ(mem.Transfer(0, GmSpan{0, 1, 1024, 1024}, 1024, 4, 0, false), 16u);  // miss: 1024 / 64
  // The same 1024 B again: L2 only, queued behind the first on L2 (4 cycles) -> 4 + 1024/256 = 8,
  // but HBM is untouched (its reservation ends at 16, not pushed further).
  EXPECT_EQ(mem.Transfer(0, GmSpan{0, 1, 1024, 1024}, 1024, 4, 0, false), 8u);
  EXPECT_EQ(mem.read_bytes(), 1024u);
  EXPECT_EQ(mem.l2_hit_bytes(), 1024u);
  // Two strided rows of 256 B, one inside a resident granule, one beyond: the miss fills a
  // whole 512 B granule from HBM.
  mem.Transfer(100, GmSpan{512, 2, 256, 1024}, 512, 4, 0, false);
  EXPECT_EQ(mem.read_bytes(), 1024u + 512u);
  EXPECT_EQ(mem.l2_hit_bytes(), 1024u + 256u);
  // Residency is tracked per 32 KiB page and evicted a page at a time, oldest first: 3 granules
  // in the next page make 6 > 4 resident, so page 0 (granules 0, 1 and 3) goes; a re-read of
  // granule 0 misses, the newer page still hits.
  mem.Transfer(200, GmSpan{32768, 1, 1536, 1536}, 1536, 4, 0, false);
  const uint64_t before = mem.read_bytes();
  mem.Transfer(300, GmSpan{0, 1, 512, 512}, 512, 4, 0, false);
  EXPECT_EQ(mem.read_bytes(), before + 512u);
  mem.Transfer(400, GmSpan{32768, 1, 512, 512}, 512, 4, 0, false);
  EXPECT_EQ(mem.read_bytes(), before + 512u);
}

TEST(Timing, AWorkspaceRewrittenInL2GoesToHbmOnce) {
  // 1024 B written three times (a workspace slot reused per loop iteration): written back once.
  L2HbmMemory mem(64, 256, 1 << 20);
  for (int i = 0; i < 3; ++i) mem.Transfer(100 * i, GmSpan{4096, 1, 1024, 1024}, 1024, 4, 0, true);
  EXPECT_EQ(mem.write_bytes(), 1024u);
  // Read back: all hits, no HBM read.
  mem.Transfer(400, GmSpan{4096, 1, 1024, 1024}, 1024, 4, 0, false);
  EXPECT_EQ(mem.read_bytes(), 0u);
  EXPECT_EQ(mem.l2_hit_bytes(), 1024u);
}

TEST(Timing, ALaunchsTransfersDoNotDependOnHowLateItStarts) {
  // The same transfers in a launch at cycle 0 and in one at cycle 3e12 (a serving run's kernel
  // timer has simulated that much before): identical durations. HBM 1.9 B/cycle makes every
  // reservation fractional, which double arithmetic at 3e12 cycles would round differently.
  auto run = [](uint64_t origin) {
    L2HbmMemory mem(1.9, 7.3, 1 << 20);
    mem.BeginLaunch(origin, false);
    std::vector<uint64_t> ends;
    for (int i = 0; i < 50; ++i)
      ends.push_back(mem.Transfer(origin + 3 * static_cast<uint64_t>(i),
                                  GmSpan{4096ull * static_cast<uint64_t>(i), 1, 777, 777}, 777, 5,
                                  2, false) -
                     origin);
    return ends;
  };
  EXPECT_EQ(run(0), run(3000000000000ull));
  // 777 B missing L2 fill two 512 B granules from HBM: 1024 / 1.9 = 538.9 cycles, rounded up,
  // plus the 2-cycle latency.
  EXPECT_EQ(run(0).front(), 541u);
}

TEST(Timing, L2KeptAcrossLaunchesServesTheNextStage) {
  // A stage writes 4096 B; the next launch reads them back. Kept L2 (a later launch of the same
  // op): all hits, no HBM read, and the read is paced by L2 (4096 / 256 = 16 cycles, + 4 of
  // latency) instead of HBM (4096 / 64 = 64). Cold L2: the read misses and fills from HBM.
  auto second_read = [](bool keep) {
    L2HbmMemory mem(64, 256, 1 << 20);
    mem.BeginLaunch(0, false);
    mem.Transfer(0, GmSpan{8192, 1, 4096, 4096}, 4096, 16, 4, true);
    mem.BeginLaunch(1000, keep);
    const uint64_t end = mem.Transfer(1000, GmSpan{8192, 1, 4096, 4096}, 4096, 16, 4, false);
    return std::make_pair(end - 1000, mem.read_bytes());
  };
  EXPECT_EQ(second_read(true), std::make_pair(uint64_t{20}, uint64_t{0}));
  EXPECT_EQ(second_read(false), std::make_pair(uint64_t{68}, uint64_t{4096}));
}

TEST(Timing, ALaterLaunchOfAnOpFindsTheStageBeforeInL2WhenTheDeviceKeepsIt) {
  // On a device with memory.l2_across_launches: a launch writes 4096 B of y, the next reads them.
  // Marked as following it (a later launch of the same op), the read finds all of y in L2; not
  // so marked (another op), L2 starts cold and all 4096 B come from HBM.
  DeviceConfig d = TestDevice();
  d.l2_across_launches = true;
  Chip chip(d);
  GmArray y("y", 4096, 0x10000);
  auto copy = [&](bool write) {
    return OneBlock([&, write] {
      TPipe pipe;
      TBuf<TPosition::VECCALC> buf;
      pipe.InitBuffer(buf, 4096);
      GlobalTensor<float> gy;
      gy.SetGlobalBuffer(&y.buffer);
      if (write)
        DataCopy(gy, buf.Get<float>(), 1024);
      else
        DataCopy(buf.Get<float>(), gy, 1024);
    });
  };
  auto read_after_write = [&](bool follows) {
    chip.Launch(copy(true));
    KernelLaunch read = copy(false);
    read.follows = follows;
    const LaunchResult r = chip.Launch(read);
    return std::make_pair(r.hbm_read_bytes, r.l2_hit_bytes);
  };
  EXPECT_EQ(read_after_write(true), std::make_pair(uint64_t{0}, uint64_t{4096}));
  EXPECT_EQ(read_after_write(false), std::make_pair(uint64_t{4096}, uint64_t{0}));
}

TEST(Timing, PipeTableSaysWhichCoreHasWhichPipe) {
  EXPECT_EQ(PipesOf(CoreType::kAic), "S/M/MTE1/MTE2/MTE3/FIX");
  EXPECT_EQ(PipesOf(CoreType::kAiv), "S/V/MTE2/MTE3");
  EXPECT_FALSE(SpecOf(Pipe::kS).queued);  // the scalar unit dispatches; it has no queue
  for (int p = 0; p < kNumPipes; ++p) EXPECT_EQ(SpecOf(static_cast<Pipe>(p)).pipe, Pipe(p));
}

TEST(Timing, LinksSharePerPeerAndPerChip) {
  // At 1000 MHz, GB/s = B/cycle: peer links 2 B/cycle, the chip 3 B/cycle in all, the pair link 8.
  DeviceConfig d;
  d.clock_mhz = 1000;
  d.link_peer_gbps = 2;
  d.link_aggregate_gbps = 3;
  d.link_pair_gbps = 8;
  d.link_pair_ranks = 2;
  PeerAggregateLinks links(d);
  // Rank 0 reads 600 B from rank 2 and 600 B from rank 3 at once: each peer link alone would
  // take 300 cycles, but the chip's 3 B/cycle cap makes the second end at 1200 / 3 = 400.
  EXPECT_EQ(links.Transfer(0, 0, 2, 600, 1, 0), 300u);
  EXPECT_EQ(links.Transfer(0, 0, 3, 600, 1, 0), 400u);
  // Rank 1 is rank 0's package partner: the SIO pair link, outside the aggregate cap.
  EXPECT_EQ(links.Transfer(0, 0, 1, 800, 1, 0), 100u);
  EXPECT_EQ(links.bytes(), 1200u);
  EXPECT_EQ(links.pair_bytes(), 800u);
  EXPECT_EQ(links.max_peer_bytes(), 600u);
}

// The kernel trace: instruction slices say what they moved or computed; a SetFlag and the
// WaitFlag it releases are instant slices on their pipes' tracks joined by one arrow.
TEST(Trace, ASetFlagAndTheWaitFlagItReleasesAreJoinedByAnArrow) {
  TraceRecorder trace;
  Chip chip(TestDevice(), &trace);
  GmArray x("x", 1024);
  chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    GlobalTensor<float> g;
    g.SetGlobalBuffer(&x.buffer);
    LocalTensor<float> t = buf.Get<float>();
    DataCopy(t, g, 256);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Adds(t, t, 1.0f, 256);
  }));
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("npusim_flag_trace_" + std::to_string(::getpid()) + ".json"))
                               .string();
  trace.Write(path);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  using ::testing::HasSubstr;
  EXPECT_THAT(text, HasSubstr("\"name\":\"DataCopy gm_to_ub\","));
  EXPECT_THAT(text, HasSubstr("\"args\":{\"bytes\":1024,\"blocks\":1}"));
  EXPECT_THAT(text, HasSubstr("\"args\":{\"elements\":256,\"dtype\":\"float32\"}"));
  // MTE2 is track 4, V track 1 (Pipe order S, V, M, MTE1, MTE2); the flag is set when the copy
  // is done and waited for at the same cycle.
  EXPECT_THAT(text, HasSubstr("\"tid\":4,\"name\":\"SetFlag MTE2->V\""));
  EXPECT_THAT(text, HasSubstr("\"tid\":1,\"name\":\"WaitFlag MTE2->V\""));
  EXPECT_THAT(text, HasSubstr("{\"ph\":\"s\",\"cat\":\"flag\",\"name\":\"flag\",\"id\":1,"));
  EXPECT_THAT(text, HasSubstr("{\"ph\":\"f\",\"cat\":\"flag\",\"name\":\"flag\",\"id\":1,"));
  EXPECT_THAT(text, HasSubstr("\"thread_name\",\"args\":{\"name\":\"S\"}"));
}

}  // namespace
}  // namespace npusim
