// The SGLang-like scheduler without simulated time: admission, chunking, priorities, DP groups.
#include "workloads/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/error.h"
#include "tests/workloads/batch_util.h"

namespace npusim {
namespace {

// Runs decode steps (one token each) until nothing is left; returns the number of steps.
int DrainDecode(Scheduler& s) {
  int steps = 0;
  for (Batch b = s.Next(); !b.empty(); b = s.Next(), ++steps) {
    EXPECT_FALSE(b.prefill);
    s.Complete(b, std::vector<int64_t>(static_cast<size_t>(b.entries()), 1));
  }
  return steps;
}

TEST(Scheduler, ChunksALongPromptIntoWholePagesAndCarriesThePrefix) {
  SchedulerConfig c;
  c.chunked_prefill_size = 300;  // not a page multiple: chunks are cut to 256 = 2 pages of 128
  c.max_prefill_tokens = 100000;
  Scheduler s(c);
  s.Arrive(7, 1000, 2);
  std::vector<int64_t> chunks, prefixes;
  for (;;) {
    Batch b = s.Next();
    ASSERT_TRUE(b.prefill);
    auto e = Flat(b);
    ASSERT_EQ(e.size(), 1u);
    chunks.push_back(e[0].new_tokens);
    prefixes.push_back(e[0].prefix);
    s.Complete(b, {});
    if (e[0].completes_prefill) break;
  }
  EXPECT_EQ(chunks, (std::vector<int64_t>{256, 256, 256, 232}));
  EXPECT_EQ(prefixes, (std::vector<int64_t>{0, 256, 512, 768}));
  // The prefill produced token 1 of 2: one decode step at prefix 1000 finishes it.
  Batch d = s.Next();
  ASSERT_EQ(Flat(d).size(), 1u);
  EXPECT_TRUE(Flat(d)[0].decode);
  EXPECT_EQ(Flat(d)[0].prefix, 1000);
  EXPECT_EQ(s.Complete(d, {1}), std::vector<int64_t>{7});
  EXPECT_TRUE(s.Next().empty());
}

TEST(Scheduler, MaxPrefillTokensAdmitsTheFirstRequestWholeAndStopsBeforeTheNext) {
  SchedulerConfig c;
  c.chunked_prefill_size = 0;  // no chunking
  c.max_prefill_tokens = 4000;
  Scheduler s(c);
  s.Arrive(0, 3500, 4);
  s.Arrive(1, 3500, 4);
  s.Arrive(2, 400, 4);
  Batch b = s.Next();
  ASSERT_EQ(Flat(b).size(), 1u);  // 3500 + 3500 > 4000: one request per prefill step
  EXPECT_EQ(Flat(b)[0].new_tokens, 3500);
  s.Complete(b, {});
  b = s.Next();  // prefill has priority over the running request's decode
  EXPECT_TRUE(b.prefill);
  ASSERT_EQ(Flat(b).size(), 2u);  // 3500 + 400 <= 4000
  EXPECT_EQ(Flat(b)[0].request, 1);
  EXPECT_EQ(Flat(b)[1].request, 2);
  s.Complete(b, {});
  EXPECT_EQ(s.running(), 3);
  EXPECT_EQ(DrainDecode(s), 3);  // 3 more tokens each, all in the same decode batches
}

TEST(Scheduler, MaxRunningRequestsAndTheKvPoolHoldRequestsBack) {
  SchedulerConfig c;
  c.max_running_requests = 2;
  c.kv_tokens = 1024;  // pages of 128; a request reserves input + output rounded up
  Scheduler s(c);
  s.Arrive(0, 100, 10);  // reserves 128
  s.Arrive(1, 100, 10);
  s.Arrive(2, 100, 10);
  Batch b = s.Next();
  EXPECT_EQ(Flat(b).size(), 2u);
  s.Complete(b, {});
  b = s.Next();
  EXPECT_FALSE(b.prefill);  // request 2 waits for a running slot
  EXPECT_EQ(Flat(b).size(), 2u);
  EXPECT_EQ(s.waiting(), 1);

  Scheduler kv({1, 48, 8192, 16384, 128, 1024, false});
  kv.Arrive(0, 600, 100);  // 768
  kv.Arrive(1, 200, 50);   // 256: 1024 in all, fits
  kv.Arrive(2, 10, 10);    // 128 more: no room
  b = kv.Next();
  EXPECT_EQ(Flat(b).size(), 2u);
  kv.Complete(b, {});
  EXPECT_EQ(kv.kv_used(0), 1024);
  EXPECT_EQ(kv.waiting(), 1);
  EXPECT_THROW(kv.Arrive(3, 2000, 1), SimFailure);  // can never fit: out_of_memory, not a hang
}

// PD decode pool: a transferred request holds its KV (input + output, in pages) while its KV
// moves, counts as running, and decodes once joined; one that does not fit now is refused.
TEST(Scheduler, PdDecodePoolHoldsTransferredKvThenDecodesIt) {
  SchedulerConfig c;
  c.kv_tokens = 1024;  // 8 pages
  c.max_running_requests = 2;
  Scheduler s(c);
  ASSERT_TRUE(s.Hold(1, 500, 12));  // ceil(512 / 128) = 4 pages
  EXPECT_EQ(s.kv_used(0), 512);
  EXPECT_TRUE(s.Next().empty());     // its KV has not arrived: nothing to run
  EXPECT_FALSE(s.Hold(2, 600, 10));  // 5 pages > the 4 left: refused, nothing changed
  EXPECT_EQ(s.kv_used(0), 512);
  ASSERT_TRUE(s.Hold(3, 300, 1));   // 3 pages
  EXPECT_FALSE(s.Hold(4, 10, 10));  // the running cap (2) counts held requests
  EXPECT_TRUE(s.Join(3));           // its one token came from the prefill pool: done
  EXPECT_EQ(s.kv_used(0), 512);
  EXPECT_FALSE(s.Join(1));
  const Batch b = s.Next();
  ASSERT_EQ(Flat(b).size(), 1u);
  EXPECT_TRUE(Flat(b)[0].decode);
  EXPECT_EQ(Flat(b)[0].prefix, 500);  // the prompt and the prefill pool's token
  EXPECT_EQ(DrainDecode(s), 11);      // 12 tokens, the first from the prefill pool
  EXPECT_EQ(s.kv_used(0), 0);
}

// PD prefill pool: a finished request keeps its KV until its transfer has ended.
TEST(Scheduler, PdPrefillPoolKeepsAFinishedRequestsKvUntilReleased) {
  SchedulerConfig c;
  c.kv_tokens = 1024;
  c.hold_finished = true;
  Scheduler s(c);
  s.Arrive(5, 700, 1);
  const Batch b = s.Next();
  ASSERT_TRUE(b.prefill);
  EXPECT_EQ(s.Complete(b, {}), (std::vector<int64_t>{5}));
  EXPECT_EQ(s.kv_used(0), 768);  // 701 tokens in whole pages, still held
  s.Arrive(6, 500, 1);           // 4 pages do not fit beside it
  EXPECT_TRUE(s.Next().empty());
  s.Release(5);
  EXPECT_EQ(s.kv_used(0), 0);
  EXPECT_FALSE(s.Next().empty());
}

TEST(Scheduler, DpGroupsGetRequestsRoundRobinAndBatchSeparately) {
  SchedulerConfig c;
  c.dp = 4;
  c.max_running_requests = 96;
  c.max_prefill_tokens = 4000;
  c.chunked_prefill_size = 0;
  Scheduler s(c);
  for (int i = 0; i < 10; ++i) s.Arrive(i, 3500, 2);
  Batch b = s.Next();
  ASSERT_EQ(b.groups.size(), 4u);
  for (int g = 0; g < 4; ++g) {  // each group prefills its first request in the same step
    ASSERT_EQ(b.groups[g].size(), 1u);
    EXPECT_EQ(b.groups[g][0].request, g);
  }
  s.Complete(b, {});
  b = s.Next();
  EXPECT_EQ(b.groups[0][0].request, 4);
  EXPECT_EQ(b.groups[1][0].request, 5);
}

TEST(Scheduler, MixedChunkLetsRunningRequestsDecodeInsidePrefillSteps) {
  SchedulerConfig c;
  c.mixed_chunk = true;
  c.chunked_prefill_size = 256;
  Scheduler s(c);
  s.Arrive(0, 100, 5);
  s.Complete(s.Next(), {});
  s.Arrive(1, 1000, 5);
  Batch b = s.Next();
  EXPECT_TRUE(b.prefill);
  auto e = Flat(b);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_FALSE(e[0].decode);
  EXPECT_EQ(e[0].new_tokens, 256);
  EXPECT_TRUE(e[1].decode);
  EXPECT_EQ(e[1].request, 0);
}

TEST(Scheduler, MtpRoundsAddSeveralTokensButNeverPastTheOutputLength) {
  Scheduler s(SchedulerConfig{});
  s.Arrive(0, 64, 6);
  s.Complete(s.Next(), {});  // token 1
  Batch b = s.Next();
  EXPECT_TRUE(s.Complete(b, {4}).empty());                        // 5 tokens
  EXPECT_EQ(s.Complete(s.Next(), {4}), std::vector<int64_t>{0});  // capped at 6
}

// One pass of the scheduler (at `now_ms`) as text: "P" and the ids a prefill admits, or "D" for a
// decode step (empty when nothing runs). The step is completed with one token per decode entry.
std::string Pass(Scheduler& s, double now_ms = 0) {
  const Batch b = s.Next(now_ms * 1e3);
  if (b.empty()) return "";
  std::string out = b.prefill ? "P" : "D";
  if (b.prefill)
    for (const BatchEntry& e : Flat(b)) out += std::to_string(e.request);
  s.Complete(b, {});
  return out;
}

// The prefill delayer on, no chunking, prompts never cut by max_prefill_tokens.
SchedulerConfig Delayer(int64_t dp, int64_t max_running) {
  SchedulerConfig c;
  c.dp = dp;
  c.max_running_requests = max_running;
  c.chunked_prefill_size = 0;
  c.max_prefill_tokens = 100000;
  c.prefill_delayer = true;
  return c;
}

// SGLang's prefill delayer (prefill_delayer.py @59cd2cdb), one group: new requests wait while the
// free running slots are fewer than the largest prefill batch so far (4 here), except the first
// time. Outputs are chosen so requests finish one pass apart: 0..3 have outputs 2..5 tokens (the
// prefill samples the first), 4 has 5, the rest 100.
TEST(Scheduler, PrefillDelayerWaitsForRoomForTheLargestPrefillBatch) {
  for (const bool delayer : {true, false}) {
    SchedulerConfig c = Delayer(1, 8);
    c.prefill_delayer = delayer;
    Scheduler s(c);
    for (int64_t i = 0; i < 4; ++i) s.Arrive(i, 10, 2 + i);
    std::vector<std::string> passes = {Pass(s)};  // 8 free >= 0: P0123, the largest batch is now 4
    s.Arrive(4, 10, 5);
    for (int64_t i = 5; i < 8; ++i) s.Arrive(i, 10, 100);
    passes.push_back(Pass(s));  // 4 free slots, not fewer than 4: P4567, 8 running
    s.Arrive(8, 10, 100);
    s.Arrive(9, 10, 100);
    for (int k = 0; k < 6; ++k) passes.push_back(Pass(s));
    if (delayer) {
      // D: 0 ends (7 run). 1 free < 4 but the first such pass goes through: P8. D: 1 ends. Then
      // 1 and 2 free slots: delayed twice while 2, then 3 and 4 end; 4 free: P9.
      EXPECT_EQ(passes,
                (std::vector<std::string>{"P0123", "P4567", "D", "P8", "D", "D", "D", "P9"}));
      EXPECT_EQ(s.delayed_passes(), 2);
    } else {
      EXPECT_EQ(passes,
                (std::vector<std::string>{"P0123", "P4567", "D", "P8", "D", "P9", "D", "D"}));
      EXPECT_EQ(s.delayed_passes(), 0);
    }
  }
}

// With DP attention, a group with a new request waits for the others at most max_passes - 1 passes.
TEST(Scheduler, PrefillDelayerHoldsOneGroupBackAtMostMaxPassesMinusOne) {
  SchedulerConfig c = Delayer(2, 16);
  c.prefill_delayer_max_passes = 3;
  Scheduler s(c);
  s.Arrive(0, 10, 50);        // group 0
  s.Arrive(1, 10, 50);        // group 1
  EXPECT_EQ(Pass(s), "P01");  // both groups have one: nothing to wait for
  s.Arrive(2, 10, 50);        // group 0 only
  EXPECT_EQ(Pass(s), "D");
  EXPECT_EQ(Pass(s), "D");
  EXPECT_EQ(Pass(s), "P2");  // the third pass goes through
  EXPECT_EQ(s.delayed_passes(), 2);
}

// A delay with nothing to decode would idle the server with work waiting: it prefills at once.
TEST(Scheduler, PrefillDelayerNeverIdlesAnEmptyServer) {
  Scheduler s(Delayer(2, 48));
  s.Arrive(0, 10, 2);  // group 0 only, nothing running anywhere
  EXPECT_EQ(Pass(s), "P0");
  EXPECT_EQ(s.delayed_passes(), 0);
}

// The queue trigger: with every group able to prefill, new requests wait until min(ratio x
// running, the largest prefill batch) are queued, or until the wait reaches max_delay_ms.
TEST(Scheduler, PrefillDelayerQueueTriggerWaitsForAQueueOrATimeout) {
  SchedulerConfig c = Delayer(1, 100);
  c.prefill_delayer_queue_min_ratio = 0.5;
  c.prefill_delayer_max_delay_ms = 10;
  Scheduler s(c);
  for (int64_t i = 0; i < 4; ++i) s.Arrive(i, 10, 1000);
  EXPECT_EQ(Pass(s, 0), "P0123");  // nothing running: no queue to wait for; the largest batch is 4
  s.Arrive(4, 10, 1000);
  // queue_min = min(0.5 x 4, 4) = 2 > 1 queued: the first delay is skipped (SGLang's
  // skip_first_delayer covers either condition), then held.
  EXPECT_EQ(Pass(s, 1), "P4");
  s.Arrive(5, 10, 1000);
  EXPECT_EQ(Pass(s, 2), "D");  // 1 queued < min(0.5 x 5, 4) = 2: waits from 2 ms
  EXPECT_EQ(Pass(s, 5), "D");
  s.Arrive(6, 10, 1000);
  EXPECT_EQ(Pass(s, 6), "P56");  // 2 queued: enough
  s.Arrive(7, 10, 1000);
  EXPECT_EQ(Pass(s, 7), "D");    // waits from 7 ms
  EXPECT_EQ(Pass(s, 16), "D");   // 9 ms
  EXPECT_EQ(Pass(s, 17), "P7");  // 10 ms: the wait ran out
  EXPECT_EQ(s.delayed_passes(), 4);
}

// prefill_max_requests caps the new requests of one prefill batch.
TEST(Scheduler, PrefillMaxRequestsCapsANewBatch) {
  SchedulerConfig c;
  c.chunked_prefill_size = 0;
  c.max_prefill_tokens = 100000;
  c.prefill_max_requests = 2;
  Scheduler s(c);
  for (int64_t i = 0; i < 5; ++i) s.Arrive(i, 10, 3);
  EXPECT_EQ(Pass(s), "P01");
  EXPECT_EQ(Pass(s), "P23");
  EXPECT_EQ(Pass(s), "P4");
}

}  // namespace
}  // namespace npusim
