#include "workloads/scheduler.h"

#include <algorithm>
#include <limits>

#include "model/error.h"

namespace npusim {

int64_t GroupRequestCap(int64_t max_running_requests, int64_t dp) {
  return std::max<int64_t>(1, max_running_requests / std::max<int64_t>(1, dp));
}

int64_t ReservedKvTokens(int64_t input, int64_t output, int64_t page_size) {
  return (input + output + page_size - 1) / page_size * page_size;
}

bool Batch::empty() const { return entries() == 0; }

int64_t Batch::entries() const {
  int64_t n = 0;
  for (const auto& g : groups) n += static_cast<int64_t>(g.size());
  return n;
}

Scheduler::Scheduler(const SchedulerConfig& c) : c_(c) {
  PrefixCacheConfig pc;
  pc.page = c.page_size;
  pc.states = c.hybrid_states;
  pc.state_slots = c.state_slots;
  groups_.assign(static_cast<size_t>(std::max<int64_t>(1, c.dp)), Group(pc));
  max_prefill_bs_.assign(groups_.size(), 0);
}

void Scheduler::Arrive(int64_t id, int64_t input_len, int64_t output_len, Prompt prompt) {
  Req r{id, input_len, output_len, next_group_};
  next_group_ = (next_group_ + 1) % static_cast<int64_t>(groups_.size());
  if (c_.prefix_cache) {  // an empty prompt names no content: it is never shared or cached
    if (!prompt.empty() && PromptLength(prompt) != input_len)
      throw std::logic_error("scheduler: prompt length differs from input_len");
    r.prompt = std::move(prompt);
  }
  Register(r);
  groups_[static_cast<size_t>(r.group)].waiting.push_back(static_cast<int64_t>(reqs_.size()) - 1);
}

void Scheduler::Register(const Req& r) {
  if (Reserve(r) > c_.kv_tokens)
    throw SimFailure("out_of_memory", "request " + std::to_string(r.id) + " needs " +
                                          std::to_string(Reserve(r)) +
                                          " KV tokens, more than the whole KV pool of its group (" +
                                          std::to_string(c_.kv_tokens) + ")");
  if (r.id >= static_cast<int64_t>(index_.size())) index_.resize(static_cast<size_t>(r.id + 1), -1);
  index_[static_cast<size_t>(r.id)] = static_cast<int64_t>(reqs_.size());
  reqs_.push_back(r);
}

int64_t Scheduler::Running(const Group& g) const {
  return static_cast<int64_t>(g.running.size()) + g.holding + (g.chunked >= 0 ? 1 : 0);
}

int64_t Scheduler::Cap() const {
  return GroupRequestCap(c_.max_running_requests, static_cast<int64_t>(groups_.size()));
}

int64_t Scheduler::KvFree(const Group& g) const {
  return c_.kv_tokens - g.kv_used - (g.cache.pages() - g.cache.evictable()) * c_.page_size;
}

bool Scheduler::Hold(int64_t id, int64_t input_len, int64_t output_len) {
  Req r{id, input_len, output_len, next_group_};
  r.admitted = true;
  r.prefilled = input_len;
  r.generated = 1;  // the prefill pool's forward sampled the first token
  r.held = Reserve(r);
  Group& g = groups_[static_cast<size_t>(r.group)];
  if (r.held <= c_.kv_tokens && (Running(g) + 1 > Cap() || r.held > KvFree(g)))
    return false;  // not now
  Register(r);
  next_group_ = (next_group_ + 1) % static_cast<int64_t>(groups_.size());
  g.kv_used += r.held;
  FitPool(g);
  ++g.holding;
  return true;
}

void Scheduler::Free(Group& g, Req& r) {
  g.kv_used -= r.held;
  r.held = 0;
  if (r.locked > 0) g.cache.Unlock(r.keys, 0, r.locked);
  r.locked = 0;
  r.keys = {};
  r.keys.shrink_to_fit();
}

void Scheduler::Release(int64_t id) {
  Req& r = reqs_[static_cast<size_t>(index_[static_cast<size_t>(id)])];
  Free(groups_[static_cast<size_t>(r.group)], r);
}

bool Scheduler::Join(int64_t id) {
  const int64_t idx = index_[static_cast<size_t>(id)];
  Req& r = reqs_[static_cast<size_t>(idx)];
  Group& g = groups_[static_cast<size_t>(r.group)];
  --g.holding;
  if (r.generated >= r.output) {
    Free(g, r);
    return true;
  }
  g.running.push_back(idx);
  return false;
}

int64_t Scheduler::Reserve(const Req& r) const {
  return ReservedKvTokens(r.input, r.output, c_.page_size);
}

int64_t Scheduler::kv_used(int64_t group) const {
  const Group& g = groups_[static_cast<size_t>(group)];
  return g.kv_used + g.cache.pages() * c_.page_size;
}

// SGLang computes at least the prompt's last token, so a hit stops a token short of the prompt.
PrefixCache::Match Scheduler::Hit(const Group& g, const Req& r) const {
  if (!c_.prefix_cache) return {};
  return g.cache.Find(Keys(r), (r.input - 1) / c_.page_size);
}

// Made on demand: a long queue of long prompts holds only their segment lists (a page key per
// 128 tokens of every waiting prompt could take gigabytes), and a finished request drops them.
const std::vector<uint64_t>& Scheduler::Keys(const Req& r) const {
  if (r.keys.empty() && r.input > 0) r.keys = PageKeys(r.prompt, c_.page_size, r.input);
  return r.keys;
}

// With extra_buffer a request keeps one state snapshot per forward (SGLang's ping-pong track
// buffer): at its branching point in the chunk that passes it, else at the last multiple of the
// track interval the chunk reached.
void Scheduler::CachePrefilled(Group& g, Req& r, int64_t chunk_start) {
  if (!c_.prefix_cache) return;
  const int64_t p = c_.page_size;
  const int64_t full = std::min<int64_t>(r.prefilled / p, static_cast<int64_t>(Keys(r).size()));
  int64_t state_page = 0;
  if (c_.track_interval > 0) {
    const bool branch_here = r.branch > chunk_start && r.branch <= r.prefilled;
    state_page = (branch_here ? r.branch : r.prefilled / c_.track_interval * c_.track_interval) / p;
  }
  g.cache.Insert(r.keys, full, state_page);
  if (full > r.locked) {
    g.cache.Lock(r.keys, r.locked, full);
    // The request's own copy of a page another request cached first is freed too (SGLang keeps
    // the tree's), so either way the page leaves the request's reservation.
    const int64_t moved = std::min(r.held, (full - r.locked) * p);
    r.held -= moved;
    g.kv_used -= moved;
    r.locked = full;
  }
}

// Cached pages nobody holds give their room back when requests need it.
void Scheduler::FitPool(Group& g) {
  const int64_t over = g.kv_used + g.cache.pages() * c_.page_size - c_.kv_tokens;
  if (over > 0) g.cache.Evict((over + c_.page_size - 1) / c_.page_size);
}

void Scheduler::Warm(const Prompt& prompt) {
  if (!c_.prefix_cache || prompt.empty()) return;
  Group& g = groups_[0];
  const int64_t n = PromptLength(prompt), p = c_.page_size;
  const std::vector<uint64_t> keys = PageKeys(prompt, p, n);
  const int64_t chunk =
      c_.chunked_prefill_size > 0 ? std::max<int64_t>(p, c_.chunked_prefill_size / p * p) : n;
  for (int64_t end = std::min(chunk, n);; end = std::min(end + chunk, n)) {
    const int64_t state_page =
        c_.track_interval > 0 ? end / c_.track_interval * c_.track_interval / p : 0;
    g.cache.Insert(keys, std::min<int64_t>(end / p, static_cast<int64_t>(keys.size())), state_page);
    if (end == n) break;
  }
  FitPool(g);
}

std::vector<BatchEntry> Scheduler::PrefillFor(Group& g) const {
  std::vector<BatchEntry> out;
  const int64_t cap = Cap();
  int64_t rem_input = c_.max_prefill_tokens;
  int64_t rem_chunk =
      c_.chunked_prefill_size > 0 ? c_.chunked_prefill_size : std::numeric_limits<int64_t>::max();
  auto chunk_of = [&](const Req& r, int64_t from) {
    const int64_t left = r.input - from;
    if (left <= rem_chunk) return left;
    return rem_chunk / c_.page_size * c_.page_size;  // a cut chunk ends on a page boundary
  };
  if (g.chunked >= 0) {
    const Req& r = reqs_[static_cast<size_t>(g.chunked)];
    const int64_t n = chunk_of(r, r.prefilled);
    out.push_back({r.id, n, r.prefilled, false, r.prefilled + n == r.input});
    rem_input -= n;
    rem_chunk -= n;
    if (!out.back().completes_prefill) return out;  // the chunked request takes the whole step
  }
  // Free KV: the pool less what requests reserve and what the cache holds locked (unlocked cached
  // pages can be evicted for a new request, except the ones its own hit is about to lock).
  int64_t kv_free = KvFree(g), running = Running(g);
  for (int64_t idx : g.waiting) {
    const Req& r = reqs_[static_cast<size_t>(idx)];
    const PrefixCache::Match hit = Hit(g, r);
    const int64_t cached = hit.pages * c_.page_size,
                  need = Reserve(r) - cached + hit.unlocked * c_.page_size;
    if (running + 1 > cap || need > kv_free) break;
    if (r.input - cached > rem_input && !out.empty()) break;
    const int64_t n = chunk_of(r, cached);
    if (n <= 0) break;
    out.push_back({r.id, n, cached, false, cached + n == r.input});
    kv_free -= need;
    ++running;
    rem_input -= n;
    rem_chunk -= n;
    if (cached + n < r.input || rem_input <= 0 || rem_chunk <= 0) break;
    if (c_.prefill_max_requests > 0 &&
        static_cast<int64_t>(out.size()) - (g.chunked >= 0 ? 1 : 0) >= c_.prefill_max_requests)
      break;
  }
  return out;
}

// SGLang @59cd2cdb prefill_delayer.py, one negotiation per pass over the groups' gathered state.
// "prefillable": the group would admit a new request now (a chunked request's next chunk is never
// delayed). All groups: delay while max_running - running < the largest prefill batch so far
// (running and that batch the largest over groups), except the first such pass of the server's
// life. Some groups: delay at most max_passes - 1 passes in a row. None: nothing to delay.
bool Scheduler::AllowPrefill(const Batch& b, double now_us) {
  int64_t prefillable = 0, running_max = 0, bs_max = 0, queued_max = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& g = groups_[gi];
    const auto fresh = static_cast<int64_t>(b.groups[gi].size()) - (g.chunked >= 0 ? 1 : 0);
    prefillable += fresh > 0 ? 1 : 0;
    running_max = std::max(running_max, static_cast<int64_t>(g.running.size()));
    bs_max = std::max(bs_max, max_prefill_bs_[gi]);
    queued_max = std::max(queued_max, static_cast<int64_t>(g.waiting.size()));
  }
  const auto groups = static_cast<int64_t>(groups_.size());
  bool delay = false;
  if (prefillable == groups) {
    bool queue_short = false;
    if (c_.prefill_delayer_queue_min_ratio > 0 && running_max > 0) {
      const int64_t queue_min = std::min(static_cast<int64_t>(static_cast<double>(running_max) *
                                                              c_.prefill_delayer_queue_min_ratio),
                                         bs_max);
      queue_short = queue_min > 0 && queued_max < queue_min;
      if (queue_short && delayed_ > 0 &&
          now_us - delay_start_us_ >= c_.prefill_delayer_max_delay_ms * 1e3)
        queue_short = false;
    }
    if (Cap() - running_max < bs_max || queue_short) {
      if (skip_first_delay_)
        skip_first_delay_ = false;
      else
        delay = true;
    }
  } else if (prefillable > 0) {
    delay = delayed_ < c_.prefill_delayer_max_passes - 1;
  }
  // A delay with nothing to decode would leave the server idle with work waiting (SGLang spins idle
  // passes until the delay runs out, milliseconds); the simulated server prefills instead.
  if (delay && running() == 0) delay = false;
  if (delay && delayed_ == 0) delay_start_us_ = now_us;
  delayed_ = delay ? delayed_ + 1 : 0;
  delayed_total_ += delay ? 1 : 0;
  return !delay;
}

Batch Scheduler::Next(double now_us) {
  Batch b;
  b.groups.resize(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) b.groups[gi] = PrefillFor(groups_[gi]);
  if (c_.prefill_delayer) {  // decided on every group's candidates at once
    const bool delay = !AllowPrefill(b, now_us);
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      if (delay)
        b.groups[gi].resize(groups_[gi].chunked >= 0 && !b.groups[gi].empty()
                                ? 1
                                : 0);  // a chunked request goes on
      max_prefill_bs_[gi] =
          std::max(max_prefill_bs_[gi], static_cast<int64_t>(b.groups[gi].size()));
    }
  }
  b.prefill = !b.empty();
  if (b.prefill && !c_.mixed_chunk) return b;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (int64_t idx : groups_[gi].running) {
      const Req& r = reqs_[static_cast<size_t>(idx)];
      b.groups[gi].push_back({r.id, 1, r.input + r.generated - 1, true, false});
    }
  return b;
}

std::vector<int64_t> Scheduler::Complete(const Batch& b,
                                         const std::vector<int64_t>& decoded_tokens) {
  std::vector<int64_t> finished;
  size_t di = 0;
  for (size_t gi = 0; gi < b.groups.size(); ++gi) {
    Group& g = groups_[gi];
    for (const BatchEntry& e : b.groups[gi]) {
      const int64_t idx = index_[static_cast<size_t>(e.request)];
      Req& r = reqs_[static_cast<size_t>(idx)];
      if (e.decode) {
        const int64_t got = di < decoded_tokens.size() ? decoded_tokens[di] : 1;
        ++di;
        r.generated = std::min(r.output, r.generated + got);
      } else {
        if (!r.admitted) {  // leaves the queue, holds its hit, reserves the rest of its KV
          g.waiting.erase(std::find(g.waiting.begin(), g.waiting.end(), idx));
          r.admitted = true;
          r.cached = r.prefilled = e.prefix;
          r.locked = e.prefix / c_.page_size;
          if (c_.track_interval >
              0) {  // the pages go on past the last snapshot: snapshot there this time
            const int64_t kv =
                Hit(g, r).kv_pages * c_.page_size / c_.track_interval * c_.track_interval;
            r.branch = kv > e.prefix ? kv : 0;
          }
          if (r.locked > 0) g.cache.Lock(Keys(r), 0, r.locked);
          r.held = Reserve(r) - e.prefix;
          g.kv_used += r.held;
        }
        const int64_t chunk_start = r.prefilled;
        r.prefilled += e.new_tokens;
        CachePrefilled(g, r, chunk_start);
        FitPool(g);
        g.chunked = e.completes_prefill ? -1 : idx;
        if (e.completes_prefill) {
          r.generated = 1;  // the first token comes out of the prefill forward
          g.running.push_back(idx);
        }
      }
      if (r.prefilled == r.input && r.generated >= r.output) {
        finished.push_back(r.id);
        g.running.erase(std::remove(g.running.begin(), g.running.end(), idx), g.running.end());
        if (!c_.hold_finished) Free(g, r);
      }
    }
  }
  return finished;
}

int64_t Scheduler::waiting() const {
  int64_t n = 0;
  for (const auto& g : groups_)
    n += static_cast<int64_t>(g.waiting.size()) + (g.chunked >= 0 ? 1 : 0);
  return n;
}

int64_t Scheduler::running() const {
  int64_t n = 0;
  for (const auto& g : groups_) n += static_cast<int64_t>(g.running.size());
  return n;
}

}  // namespace npusim
