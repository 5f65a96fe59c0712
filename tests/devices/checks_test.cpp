// Each check of the engine has a test that triggers it (overflow, alignment, deadlock, race,
// out-of-bounds, sync misuse), with the message a kernel engineer expects.
#include "devices/ascendc/kernel_operator.h"
#include "tests/test_util.h"

namespace npusim {
namespace {

using namespace ascendc;
using testing::ExpectSimFailure;
using testing::GmArray;
using ::testing::HasSubstr;
using testing::OneBlock;
using testing::TestDevice;

TEST(Checks, UbOverflowAtInitBufferWithBreakdown) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock([] {
                                    TPipe pipe;
                                    TQue<TPosition::VECIN, 1> in;
                                    TQue<TPosition::VECOUT, 1> out;
                                    pipe.InitBuffer(in, 2, 64 * 1024, "inQueue");
                                    pipe.InitBuffer(out, 2, 40 * 1024,
                                                    "outQueue");  // 128 KiB + 80 KiB > 192 KiB
                                  }));
  EXPECT_EQ(e.status(), "ub_overflow");
  // (2 x 65536 + 2 x 40960) x 8 = 1703936 bits
  EXPECT_THAT(e.what(),
              HasSubstr("ub overflow, requires 1703936 bits while 1572864 bits available!"));
  EXPECT_THAT(e.what(), HasSubstr("inQueue (TQue VECIN): 65536 B x 2 buffers = 1048576 bits"));
  EXPECT_THAT(e.what(), HasSubstr("outQueue (TQue VECOUT): 40960 B x 2 buffers = 655360 bits"));
}

// A chip runs on after a failed launch (explore's points share one): the failure leaves a copy
// in flight, and the pipes must wait for work again. Before, the next launch on the chip was a
// "deadlock" (found by fuzz/kernel_fuzz).
TEST(Checks, AFailedLaunchLeavesTheChipReadyForTheNext) {
  Chip chip(TestDevice());
  GmArray x("x", 4096);
  auto copy = [&](bool then_overflow) {
    return OneBlock([&x, then_overflow] {
      TPipe pipe;
      TBuf<TPosition::VECCALC> buf;
      pipe.InitBuffer(buf, 4096);
      GlobalTensor<float> gx;
      gx.SetGlobalBuffer(&x.buffer);
      DataCopy(buf.Get<float>(), gx, 1024);  // MTE2 busy for 132 cycles
      if (then_overflow) {
        TBuf<TPosition::VECCALC> big;
        pipe.InitBuffer(big, 256 * 1024);  // past the 192 KiB of UB while the copy runs
      }
    });
  };
  EXPECT_EQ(ExpectSimFailure(chip, copy(true)).status(), "ub_overflow");
  // The same copy alone, as in Timing.SingleGmToUbCopy: 1 + 32 + 100 cycles.
  EXPECT_EQ(chip.Launch(copy(false)).cycles, 133u);
}

TEST(Checks, L1AndL0OverflowOnTheCube) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock(
                                            [] {
                                              TPipe pipe;
                                              TQue<TPosition::A1, 1> a1;
                                              pipe.InitBuffer(a1, 2, 300 * 1024, "a1");
                                            },
                                            CoreType::kAic));
  EXPECT_EQ(e.status(), "l1_overflow");
  EXPECT_THAT(e.what(),
              HasSubstr("l1 overflow, requires 4915200 bits while 4194304 bits available!"));
  SimFailure e2 = ExpectSimFailure(chip, OneBlock(
                                             [] {
                                               TPipe pipe;
                                               TQue<TPosition::CO1, 1> c;
                                               pipe.InitBuffer(c, 1, 129 * 1024, "acc");
                                             },
                                             CoreType::kAic));
  EXPECT_EQ(e2.status(), "l0c_overflow");
}

TEST(Checks, MisalignedCopyAndVectorOperand) {
  Chip chip(TestDevice());
  GmArray x("x", 4096);
  SimFailure e =
      ExpectSimFailure(chip, OneBlock([&] {
                         TPipe pipe;
                         TBuf<TPosition::VECCALC> buf;
                         pipe.InitBuffer(buf, 4096);
                         GlobalTensor<float> gx;
                         gx.SetGlobalBuffer(&x.buffer);
                         DataCopy(buf.Get<float>(), gx, 7);  // 28 B: not a whole 32 B DataBlock
                       }));
  EXPECT_EQ(e.status(), "misaligned");
  EXPECT_THAT(e.what(), HasSubstr("use DataCopyPad"));
  SimFailure e2 = ExpectSimFailure(chip, OneBlock([&] {
                                     TPipe pipe;
                                     TBuf<TPosition::VECCALC> buf;
                                     pipe.InitBuffer(buf, 4096);
                                     LocalTensor<float> t = buf.Get<float>();
                                     Add(t[4], t, t, 64);  // t[4] sits at 16 B
                                   }));
  EXPECT_EQ(e2.status(), "misaligned");
  EXPECT_THAT(e2.what(), HasSubstr("UB address 0x10 is not 32 B aligned"));
}

TEST(Checks, DeadlockNamesCorePipeAndFlag) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock([] {
                                    TPipe pipe;
                                    TBuf<TPosition::VECCALC> buf;
                                    pipe.InitBuffer(buf, 1024);
                                    WaitFlag<HardEvent::MTE2_V>(3);  // nobody sets it
                                    Duplicate(buf.Get<float>(), 1.0f, 256);
                                  }));
  EXPECT_EQ(e.status(), "deadlock");
  EXPECT_THAT(e.what(), HasSubstr("aiv0"));
  EXPECT_THAT(e.what(), HasSubstr("pipe V blocked at WaitFlag MTE2->V event 3"));
}

TEST(Checks, DeadlockOnCrossCoreFlagNeverSet) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock(
                                            [] {
                                              if (ASCEND_IS_AIV) CrossCoreWaitFlag(5);
                                            },
                                            CoreType::kMix));
  EXPECT_EQ(e.status(), "deadlock");
  EXPECT_THAT(e.what(), HasSubstr("CrossCoreWaitFlag id 5"));
}

// A barrier of every core cannot complete when the launch has more blocks than cores: the first
// wave waits for blocks that only start after it ends (the real kernel hangs).
TEST(Checks, AnAllCoreBarrierInASecondWaveIsASyncError) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock(
                                            [] {
                                              CrossCoreSetFlag<0, PIPE_MTE3>(2);
                                              CrossCoreWaitFlag(2);
                                            },
                                            CoreType::kAiv, 3));
  EXPECT_EQ(e.status(), "sync_error");
  EXPECT_THAT(e.what(), HasSubstr("all-core barrier) in a launch of 3 blocks on 2 cores"));
}

TEST(Checks, RaceBetweenMte2AndVWithoutSync) {
  Chip chip(TestDevice());
  GmArray x("x", 4096);
  SimFailure e =
      ExpectSimFailure(chip, OneBlock([&] {
                         TPipe pipe;
                         TBuf<TPosition::VECCALC> buf;
                         pipe.InitBuffer(buf, 4096, "tile");
                         LocalTensor<float> t = buf.Get<float>();
                         GlobalTensor<float> gx;
                         gx.SetGlobalBuffer(&x.buffer);
                         DataCopy(t, gx, 1024);
                         Muls(t, t, 2.0f, 1024);  // no SetFlag/WaitFlag MTE2->V between them
                       }));
  EXPECT_EQ(e.status(), "race");
  EXPECT_THAT(e.what(), HasSubstr("read-after-write race on aiv0 tile (TBuf VECCALC): pipe V "
                                  "(Muls) reads data written by pipe MTE2"));
}

TEST(Checks, WriteAfterReadRaceWhenReusingWithoutFree) {
  Chip chip(TestDevice());
  GmArray x("x", 8192), y("y", 8192, 0x10000);
  SimFailure e =
      ExpectSimFailure(chip, OneBlock([&] {
                         TPipe pipe;
                         TBuf<TPosition::VECCALC> buf;
                         pipe.InitBuffer(buf, 4096, "tile");
                         LocalTensor<float> t = buf.Get<float>();
                         GlobalTensor<float> gx, gy;
                         gx.SetGlobalBuffer(&x.buffer);
                         gy.SetGlobalBuffer(&y.buffer);
                         DataCopy(t, gx, 1024);
                         SetFlag<HardEvent::MTE2_MTE3>(0);
                         WaitFlag<HardEvent::MTE2_MTE3>(0);
                         DataCopy(gy, t, 1024);        // MTE3 reads the tile
                         DataCopy(t, gx[1024], 1024);  // MTE2 overwrites it with no MTE3->MTE2 sync
                       }));
  // MTE2's overwrite and MTE3's read of the tile are unordered; which access the checker sees
  // second decides whether it is reported as write-after-read or read-after-write.
  EXPECT_EQ(e.status(), "race");
  EXPECT_THAT(e.what(), HasSubstr("race on aiv0 tile (TBuf VECCALC)"));
  EXPECT_THAT(e.what(), HasSubstr("MTE3"));
}

TEST(Checks, OutOfBoundsGmAccess) {
  Chip chip(TestDevice());
  GmArray x("x", 4096);
  SimFailure e = ExpectSimFailure(chip, OneBlock([&] {
                                    TPipe pipe;
                                    TBuf<TPosition::VECCALC> buf;
                                    pipe.InitBuffer(buf, 8192);
                                    GlobalTensor<float> gx;
                                    gx.SetGlobalBuffer(&x.buffer);
                                    DataCopy(buf.Get<float>(), gx[512],
                                             1024);  // bytes [2048, 6144) of a 4096 B tensor
                                  }));
  EXPECT_EQ(e.status(), "out_of_bounds");
  EXPECT_THAT(e.what(), HasSubstr("beyond tensor 'x' [0x1000, 0x2000)"));
}

TEST(Checks, QueueMisuse) {
  Chip chip(TestDevice());
  SimFailure e = ExpectSimFailure(chip, OneBlock([] {
                                    TPipe pipe;
                                    TQue<TPosition::VECIN, 1> q;
                                    pipe.InitBuffer(q, 1, 1024, "q");
                                    q.AllocTensor<float>();
                                    q.AllocTensor<float>();  // the only buffer is still in use
                                  }));
  EXPECT_EQ(e.status(), "sync_error");
  EXPECT_THAT(e.what(), HasSubstr("missing FreeTensor"));
  SimFailure e2 = ExpectSimFailure(
      chip, OneBlock([] {
        TPipe pipe;
        TBuf<TPosition::VECCALC> buf;
        pipe.InitBuffer(buf, 1024);
        Mmad(buf.Get<float>(), buf.Get<half>(), buf.Get<half>(), MmadParams{16, 16, 16, true});
      }));
  EXPECT_EQ(e2.status(), "invalid_instruction");
}

TEST(Checks, ChipStaysUsableAfterAFailure) {
  Chip chip(TestDevice());
  ExpectSimFailure(chip, OneBlock(
                             [] {
                               WaitFlag<HardEvent::MTE2_V>(0);
                               Duplicate(LocalTensor<float>(), 0.0f, 0);
                             },
                             CoreType::kAiv, 2));
  GmArray x("x", 256);
  LaunchResult r = chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 256);
    GlobalTensor<float> gx;
    gx.SetGlobalBuffer(&x.buffer);
    DataCopy(buf.Get<float>(), gx, 64);
  }));
  EXPECT_EQ(r.cycles, 1u + 2u + 100u);  // issue + 256 B / 128 B/cycle + latency
}

}  // namespace
}  // namespace npusim
