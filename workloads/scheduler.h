// An SGLang-like scheduler (plain C++, no simulation time): requests queue per DP-attention group
// (round-robin at arrival), each step is a prefill batch if any group can admit work, else a
// decode batch of every running request. Prefill admission follows SGLang's PrefillAdder: the
// in-progress chunked request first, then waiting requests first come first served while
// max_prefill_tokens lasts (the first request of a batch always goes in), chunks cut to
// chunked_prefill_size in whole pages, up to max_running_requests per group and while the KV
// pool can reserve the request's input and output. With the radix cache on, a new request
// first looks its prompt up in its group's PrefixCache: the hit is not computed again, its pages
// are shared (locked, not reserved), and the pages each prefill chunk completes join the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "workloads/prefix_cache.h"

namespace npusim {

// SGLang's request cap of one DP-attention group: max_running_requests // dp_size, at least 1.
// The memory plan, the scheduler and the capacity planner all read it from here.
int64_t GroupRequestCap(int64_t max_running_requests, int64_t dp);
// The KV a request reserves while it lives: its whole prompt and output, in whole pages.
int64_t ReservedKvTokens(int64_t input, int64_t output, int64_t page_size);

struct SchedulerConfig {
  int64_t dp = 1;                       // DP-attention groups
  int64_t max_running_requests = 48;    // over all groups (SGLang divides it by dp_size)
  int64_t chunked_prefill_size = 8192;  // <= 0: no chunking
  int64_t max_prefill_tokens = 16384;
  int64_t page_size = 128;
  int64_t kv_tokens = 1 << 30;  // KV pool per group, tokens
  bool mixed_chunk = false;     // running requests decode inside prefill steps
  bool prefix_cache = false;    // SGLang's radix cache (off: --disable-radix-cache)
  bool hybrid_states = false;   // GDN layers: a hit must end at a state snapshot
  int64_t track_interval =
      0;  // extra_buffer: snapshot at the last multiple at or below each chunk end, or
          // at the branching point in the chunk that passes it (0: none)
  int64_t state_slots = 0;     // snapshots the mamba pool holds beside the running requests
  bool hold_finished = false;  // PD prefill pool: a finished request keeps its KV until Release
  int64_t prefill_max_requests = 0;  // new requests per prefill batch and group (0: no limit)
  // SGLang's prefill delayer (--enable-prefill-delayer, or SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE):
  // new requests wait while too few running slots are free to take a prefill batch as large as the
  // largest one so far (the first time excepted), and with DP attention while only some groups have
  // one, at most prefill_delayer_max_passes - 1 passes. Each Next() is one scheduling pass.
  // Its opt-in queue trigger (--prefill-delayer-queue-min-ratio r > 0): with every group able to
  // prefill, new requests also wait while fewer than min(r x running, the largest prefill batch)
  // are queued, at most prefill_delayer_max_delay_ms from the first pass of the wait.
  bool prefill_delayer = false;
  int64_t prefill_delayer_max_passes = 30;
  double prefill_delayer_queue_min_ratio = 0;
  double prefill_delayer_max_delay_ms = 5000;
};

struct BatchEntry {
  int64_t request = 0;
  int64_t new_tokens = 0;  // prefill: chunk length; decode: 1 (MTP: the verify width)
  int64_t prefix = 0;      // tokens already in the cache
  bool decode = false;     // a decode entry (also inside a mixed prefill step)
  bool completes_prefill = false;
};

struct Batch {
  bool prefill = false;  // a prefill (extend) step, maybe with decode entries
  std::vector<std::vector<BatchEntry>> groups;  // per DP group
  bool empty() const;
  int64_t entries() const;
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerConfig& c);

  // `prompt` names the request's tokens by content (empty: none; never shared, never cached).
  void Arrive(int64_t id, int64_t input_len, int64_t output_len, Prompt prompt = {});
  // bench_serving's warm-up: `prompt` ran alone on the idle server before the load (its pages
  // and snapshots are cached in group 0, as its chunks would have left them).
  void Warm(const Prompt& prompt);
  // PD decode pool: a request whose prompt was computed in the prefill pool. Hold reserves its KV
  // in the next group in turn (the transfer writes into it) when that group has the room and a
  // running slot, else returns false and changes nothing; Join makes it a running request once
  // its KV has arrived (true: it is already finished, its one token came from the prefill pool).
  bool Hold(int64_t id, int64_t input_len, int64_t output_len);
  bool Join(int64_t id);
  // PD prefill pool (hold_finished): the KV of a finished request is freed once its transfer ends.
  void Release(int64_t id);
  // The next step's batch (empty when nothing can run now). Does not change progress: Complete does
  // (with the prefill delayer on, it counts one scheduling pass, at `now_us` of simulated time).
  Batch Next(double now_us = 0);
  // Scheduling passes the prefill delayer held new requests back, over the run.
  int64_t delayed_passes() const { return delayed_total_; }
  // Applies a finished step: prefill chunks advance; decode entries gain tokens[i] tokens each
  // (entries in Batch order, flattened over groups; 1 without MTP). Returns requests that finished.
  std::vector<int64_t> Complete(const Batch& b, const std::vector<int64_t>& decoded_tokens);

  int64_t waiting() const;
  int64_t running() const;
  // KV tokens of the group's pool in use: reserved by requests plus held by the cache.
  int64_t kv_used(int64_t group) const;
  int64_t cached_tokens(int64_t id) const {
    return reqs_[static_cast<size_t>(index_[static_cast<size_t>(id)])].cached;
  }
  const PrefixCache& cache(int64_t group) const {
    return groups_[static_cast<size_t>(group)].cache;
  }

 private:
  struct Req {
    int64_t id, input, output, group;
    Prompt prompt;  // its content (radix cache on)
    mutable std::vector<uint64_t>
        keys;  // page keys of the prompt, made when first looked up, dropped when it finishes
    bool admitted = false;
    int64_t cached = 0;  // prompt tokens found in the cache at admission
    int64_t branch = 0;  // hybrid: where its prompt leaves the cached pages (a snapshot goes there)
    int64_t locked = 0;  // pages [0, locked) of keys this request holds in the cache
    int64_t held = 0;    // KV tokens reserved for it outside the cache
    int64_t prefilled = 0,
            generated = 0;  // generated counts the token sampled at the end of prefill
  };
  struct Group {
    explicit Group(const PrefixCacheConfig& c) : cache(c) {}
    std::deque<int64_t> waiting;   // request indices
    std::vector<int64_t> running;  // decoding
    int64_t chunked = -1;          // request in the middle of a chunked prefill
    int64_t holding = 0;           // PD: requests whose KV is on its way (they count as running)
    int64_t kv_used = 0;           // reserved by requests, outside the cache
    PrefixCache cache;
  };
  int64_t Reserve(const Req& r) const;
  PrefixCache::Match Hit(const Group& g, const Req& r) const;
  const std::vector<uint64_t>& Keys(const Req& r) const;
  // The pages of r's prompt computed so far join the cache; r holds them instead of reserving them.
  void CachePrefilled(Group& g, Req& r, int64_t chunk_start);
  void FitPool(Group& g);
  void Free(Group& g, Req& r);  // gives back r's KV and its hold on cached pages
  // Running requests the group counts against its cap (decoding, chunked, KV on its way), the cap,
  // and its KV not reserved or locked (unlocked cached pages can still be evicted).
  int64_t Running(const Group& g) const;
  int64_t Cap() const;
  int64_t KvFree(const Group& g) const;
  // Adds r to the requests (an out_of_memory SimFailure when it can never fit its group's pool).
  void Register(const Req& r);
  std::vector<BatchEntry> PrefillFor(Group& g) const;
  // The prefill delayer's verdict on this pass's new requests: false holds them back.
  bool AllowPrefill(const Batch& b, double now_us);

  SchedulerConfig c_;
  std::vector<Req> reqs_;
  std::vector<int64_t> index_;  // id -> reqs_ index
  std::vector<Group> groups_;
  int64_t next_group_ = 0;
  // Prefill delayer state (SGLang's PrefillDelayer): the largest prefill batch a group has run,
  // passes delayed in a row, the one slot-condition delay it skips, passes delayed over the run.
  std::vector<int64_t> max_prefill_bs_;
  int64_t delayed_ = 0, delayed_total_ = 0;
  double delay_start_us_ = 0;  // when the current run of delayed passes began
  bool skip_first_delay_ = true;
};

}  // namespace npusim
