// The radix cache at page granularity, and the scheduler computing only what it does not find.
#include "workloads/prefix_cache.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/workloads/batch_util.h"
#include "workloads/requests.h"
#include "workloads/run_config.h"
#include "workloads/scheduler.h"

namespace npusim {
namespace {

TEST(PrefixCache, PageKeysNameEqualTokensFromTheStartOnly) {
  // Two prompts with the same 300-token system prompt and different questions: pages 0 and 1
  // (tokens 0-255) are equal, page 2 (256-383) already holds question tokens, so it differs.
  const Prompt a{{7, 300}, {100, 100}}, b{{7, 300}, {101, 100}}, c{{8, 300}, {100, 100}};
  const auto ka = PageKeys(a, 128, 400), kb = PageKeys(b, 128, 400), kc = PageKeys(c, 128, 400);
  ASSERT_EQ(ka.size(), 3u);  // 400 tokens = 3 whole pages + 16
  EXPECT_EQ(ka[0], kb[0]);
  EXPECT_EQ(ka[1], kb[1]);
  EXPECT_NE(ka[2], kb[2]);
  EXPECT_NE(ka[0], kc[0]);
  // The same tokens cut into other segments are still the same tokens only if the ids say so:
  // a segment is content, so {7,300} and {7,100}{7',200} differ from page 0 on.
  EXPECT_NE(PageKeys(Prompt{{7, 100}, {9, 200}}, 128, 300)[0], ka[0]);
}

TEST(PrefixCache, LeastRecentlyUsedUnlockedLeavesAreEvictedFirst) {
  PrefixCache c({128, false, 0});
  const auto a = PageKeys({{1, 512}}, 128, 512), b = PageKeys({{2, 256}}, 128, 256);
  EXPECT_EQ(c.Insert(a, 4), 4);
  EXPECT_EQ(c.Insert(b, 2), 2);
  EXPECT_EQ(c.Insert(a, 4), 0);  // already there: only touched (now more recent than b)
  EXPECT_EQ(c.Find(a, 4).pages, 4);
  c.Lock(a, 0, 2);  // a request holds a's first two pages
  EXPECT_EQ(c.evictable(), 4);
  // Three pages: b's leaf, then b's first page (b is older than a), then a's last page; a's
  // locked pages stay, and a's third page (now a leaf) is the only unlocked one left.
  EXPECT_EQ(c.Evict(3), 3);
  EXPECT_EQ(c.Find(b, 2).pages, 0);
  EXPECT_EQ(c.Find(a, 4).pages, 3);
  EXPECT_EQ(c.Evict(10), 1);  // only a's third page is left unlocked
  EXPECT_EQ(c.Find(a, 4).pages, 2);
  c.Unlock(a, 0, 2);
  EXPECT_EQ(c.Evict(10), 2);
  EXPECT_EQ(c.pages(), 0);
}

TEST(PrefixCache, HybridHitsEndAtTheDeepestStateSnapshot) {
  PrefixCache c({128, true, 1});
  const auto k = PageKeys({{1, 1024}}, 128, 1024);
  c.Insert(k, 8, 4);  // pages 0-7 cached, a state after page 4 (token 512)
  EXPECT_EQ(c.Find(k, 8).pages, 4);
  EXPECT_EQ(c.Find(k, 3).pages, 0);  // no state at or before page 3
  c.Insert(k, 8, 8);                 // one slot: the older snapshot gives way
  EXPECT_EQ(c.snapshots(), 1);
  EXPECT_EQ(c.states_evicted(), 1);
  EXPECT_EQ(c.Find(k, 8).pages, 8);
  EXPECT_EQ(c.Find(k, 7).pages, 0);
}

SchedulerConfig CacheOn() {
  SchedulerConfig c;
  c.chunked_prefill_size = -1;
  c.max_prefill_tokens = 100000;
  c.prefix_cache = true;
  return c;
}

// Runs one prefill step; returns its entries' prefixes (tokens found in the cache or done).
std::vector<int64_t> PrefillOf(Scheduler& s) {
  std::vector<int64_t> prefixes;
  Batch b = s.Next();
  EXPECT_TRUE(b.prefill);
  for (const BatchEntry& e : Flat(b)) prefixes.push_back(e.prefix);
  s.Complete(b, {});
  return prefixes;
}

TEST(Scheduler, ASharedSystemPromptIsComputedOnceAndOnlyTheQuestionAfter) {
  Scheduler s(CacheOn());
  // 1000-token system prompt + 100-token questions: 7 whole pages (896 tokens) are shareable.
  s.Arrive(0, 1100, 4, {{5, 1000}, {50, 100}});
  EXPECT_EQ(PrefillOf(s), std::vector<int64_t>{0});
  s.Arrive(1, 1100, 4, {{5, 1000}, {51, 100}});
  Batch b = s.Next();
  ASSERT_TRUE(b.prefill);
  ASSERT_EQ(Flat(b).size(), 1u);  // request 0 is decoding; a prefill step takes request 1 alone
  EXPECT_EQ(Flat(b)[0].prefix, 896);
  EXPECT_EQ(Flat(b)[0].new_tokens, 1100 - 896);
  s.Complete(b, {});
  EXPECT_EQ(s.cached_tokens(1), 896);
  // KV in use: each request reserves its 1104 tokens as 9 pages; request 0's 8 whole prompt
  // pages moved into the cache (1 page left reserved); request 1 shares 7 of them, adds its own
  // page 7 to the cache and keeps 9 - 7 - 1 = 1 page reserved. Cache: 8 + 1 = 9 pages.
  EXPECT_EQ(s.kv_used(0), (9 + 1 + 1) * 128);
}

TEST(Scheduler, AHitIsAlwaysATokenShortOfTheWholePrompt) {
  Scheduler s(CacheOn());
  s.Arrive(0, 256, 1, {{9, 256}});
  PrefillOf(s);
  s.Arrive(1, 256, 1, {{9, 256}});  // the same 2 pages: SGLang still computes the last token
  EXPECT_EQ(PrefillOf(s), std::vector<int64_t>{128});
}

TEST(Scheduler, CachedPagesGiveWayToNewRequestsWhenThePoolIsFull) {
  SchedulerConfig c = CacheOn();
  c.kv_tokens = 8 * 128;
  Scheduler s(c);
  s.Arrive(0, 512, 1, {{1, 512}});  // 4 pages, finishes at prefill (one output token)
  PrefillOf(s);
  EXPECT_EQ(s.kv_used(0), 4 * 128);  // its pages stay cached after it finishes
  s.Arrive(1, 768, 1,
           {{2, 768}});  // reserves 7 pages (769 tokens): 3 of the 4 cached pages must go
  PrefillOf(s);
  EXPECT_EQ(s.cache(0).evicted(), 3);
  EXPECT_EQ(s.kv_used(0),
            7 * 128);  // it finished at its prefill: its 6 pages and request 0's first stay cached
}

// A hybrid model's cache: chunks of 512, snapshots on the 256 grid (extra_buffer; 0: no_buffer).
SchedulerConfig HybridCacheOn(int64_t track_interval) {
  SchedulerConfig c = CacheOn();
  c.hybrid_states = true;
  c.state_slots = 4;
  c.chunked_prefill_size = 512;
  c.track_interval = track_interval;
  return c;
}

// Request 0 (a 1000-token system prompt and its own 100) prefilled whole, then request 1 of the
// same group arrives; returns the prefixes of request 1's first prefill step.
std::vector<int64_t> SecondPromptOfAGroup(Scheduler& s) {
  s.Arrive(0, 1100, 4, {{5, 1000}, {50, 100}});
  for (int chunk = 0; chunk < 3; ++chunk) PrefillOf(s);  // 512, 512, 76 tokens
  s.Arrive(1, 1100, 4, {{5, 1000}, {51, 100}});
  return PrefillOf(s);
}

TEST(Scheduler, HybridModelsReuseAPrefixOnlyWhereAStateWasTracked) {
  {
    Scheduler s(HybridCacheOn(256));
    // Chunks end at 512, 1024 and 1100: snapshots at 512 and 1024 (the last multiple of 256 at
    // or below 1100). The second prompt shares 1000 tokens (7 whole pages): the deepest snapshot
    // inside them is at 512.
    EXPECT_EQ(SecondPromptOfAGroup(s), std::vector<int64_t>{512});
    // Its pages matched on to 896: it snapshots the branching point (768 on the 256 grid) in the
    // chunk that passes it, so a third prompt of the group finds 768.
    s.Arrive(2, 1100, 4, {{5, 1000}, {52, 100}});
    EXPECT_EQ(PrefillOf(s),
              (std::vector<int64_t>{1024, 768}));  // request 1's last chunk, then request 2
  }
  Scheduler s(HybridCacheOn(0));  // no_buffer: no snapshots, no reuse
  EXPECT_EQ(SecondPromptOfAGroup(s), std::vector<int64_t>{0});
}

TEST(Scheduler, WarmUpCachesTheFirstPromptAsItsChunksLeaveIt) {
  Scheduler s(HybridCacheOn(256));
  s.Warm({{5, 1000}, {50, 100}});
  s.Arrive(0, 1100, 4, {{5, 1000}, {50, 100}});  // the warm-up's own prompt: snapshot at 1024
  EXPECT_EQ(PrefillOf(s), std::vector<int64_t>{1024});
}

TEST(Requests, GeneratedSharedPrefixGivesEveryGroupItsOwnSystemPrompt) {
  RunConfig c;
  c.dataset_name = "generated-shared-prefix";
  c.gsp_num_groups = 3;
  c.gsp_prompts_per_group = 4;
  c.gsp_system_prompt_len = 900;
  c.gsp_question_len = 100;
  c.gsp_output_len = 7;
  c.context_length = 2000;
  const auto reqs = GenerateRequests(c);
  ASSERT_EQ(reqs.size(), 12u);
  std::map<uint64_t, int> per_system;
  std::set<uint64_t> questions;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].id, static_cast<int64_t>(i));
    EXPECT_EQ(reqs[i].input_len, 1000);
    EXPECT_EQ(reqs[i].output_len, 7);
    ASSERT_EQ(reqs[i].prompt.size(), 2u);
    ++per_system[reqs[i].prompt[0].content];
    questions.insert(reqs[i].prompt[1].content);
  }
  EXPECT_EQ(per_system.size(), 3u);
  for (const auto& [content, n] : per_system) EXPECT_EQ(n, 4);
  EXPECT_EQ(questions.size(), 12u);
  // Seeded shuffle: the groups are interleaved, and the same seed gives the same order.
  bool first_four_one_group = true;
  for (size_t i = 1; i < 4; ++i)
    first_four_one_group &= reqs[i].prompt[0].content == reqs[0].prompt[0].content;
  EXPECT_FALSE(first_four_one_group);
  EXPECT_EQ(GenerateRequests(c)[5].prompt[1].content, reqs[5].prompt[1].content);
}

}  // namespace
}  // namespace npusim
