#include "workloads/scheduler.h"

#include <algorithm>
#include <limits>

#include "model/error.h"

namespace npusim {

bool Batch::empty() const { return entries() == 0; }

int64_t Batch::entries() const {
  int64_t n = 0;
  for (const auto& g : groups) n += static_cast<int64_t>(g.size());
  return n;
}

Scheduler::Scheduler(const SchedulerConfig& c) : c_(c), groups_(static_cast<size_t>(std::max<int64_t>(1, c.dp))) {}

void Scheduler::Arrive(int64_t id, int64_t input_len, int64_t output_len) {
  Req r{id, input_len, output_len, next_group_};
  next_group_ = (next_group_ + 1) % static_cast<int64_t>(groups_.size());
  if (Reserve(r) > c_.kv_tokens)
    throw SimFailure("out_of_memory", "request " + std::to_string(id) + " needs " + std::to_string(Reserve(r)) +
                                          " KV tokens, more than the whole KV pool of its group (" + std::to_string(c_.kv_tokens) + ")");
  if (id >= static_cast<int64_t>(index_.size())) index_.resize(static_cast<size_t>(id + 1), -1);
  index_[static_cast<size_t>(id)] = static_cast<int64_t>(reqs_.size());
  groups_[static_cast<size_t>(r.group)].waiting.push_back(static_cast<int64_t>(reqs_.size()));
  reqs_.push_back(r);
}

// KV reserved for a request while it lives: its whole input and output, in pages.
int64_t Scheduler::Reserve(const Req& r) const {
  const int64_t p = c_.page_size;
  return (r.input + r.output + p - 1) / p * p;
}

std::vector<BatchEntry> Scheduler::PrefillFor(Group& g) const {
  std::vector<BatchEntry> out;
  const int64_t cap = std::max<int64_t>(1, c_.max_running_requests / static_cast<int64_t>(groups_.size()));
  int64_t rem_input = c_.max_prefill_tokens;
  int64_t rem_chunk = c_.chunked_prefill_size > 0 ? c_.chunked_prefill_size : std::numeric_limits<int64_t>::max();
  auto chunk_of = [&](const Req& r) {
    const int64_t left = r.input - r.prefilled;
    if (left <= rem_chunk) return left;
    return rem_chunk / c_.page_size * c_.page_size;  // a cut chunk ends on a page boundary
  };
  if (g.chunked >= 0) {
    const Req& r = reqs_[static_cast<size_t>(g.chunked)];
    const int64_t n = chunk_of(r);
    out.push_back({r.id, n, r.prefilled, false, r.prefilled + n == r.input});
    rem_input -= n;
    rem_chunk -= n;
    if (!out.back().completes_prefill) return out;  // the chunked request takes the whole step
  }
  int64_t kv_free = c_.kv_tokens - g.kv_used;
  int64_t running = static_cast<int64_t>(g.running.size()) + (g.chunked >= 0 ? 1 : 0);
  for (int64_t idx : g.waiting) {
    const Req& r = reqs_[static_cast<size_t>(idx)];
    if (running + 1 > cap || Reserve(r) > kv_free) break;
    if (r.input > rem_input && !out.empty()) break;
    const int64_t n = chunk_of(r);
    if (n <= 0) break;
    out.push_back({r.id, n, 0, false, n == r.input});
    kv_free -= Reserve(r);
    ++running;
    rem_input -= n;
    rem_chunk -= n;
    if (n < r.input || rem_input <= 0 || rem_chunk <= 0) break;
  }
  return out;
}

Batch Scheduler::Next() {
  Batch b;
  b.groups.resize(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) b.groups[gi] = PrefillFor(groups_[gi]);
  b.prefill = !b.empty();
  if (b.prefill && !c_.mixed_chunk) return b;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (int64_t idx : groups_[gi].running) {
      const Req& r = reqs_[static_cast<size_t>(idx)];
      b.groups[gi].push_back({r.id, 1, r.input + r.generated - 1, true, false});
    }
  return b;
}

std::vector<int64_t> Scheduler::Complete(const Batch& b, const std::vector<int64_t>& decoded_tokens) {
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
        if (r.prefilled == 0) {  // admitted: leaves the queue, reserves its KV
          g.waiting.erase(std::find(g.waiting.begin(), g.waiting.end(), idx));
          g.kv_used += Reserve(r);
        }
        r.prefilled += e.new_tokens;
        g.chunked = e.completes_prefill ? -1 : idx;
        if (e.completes_prefill) {
          r.generated = 1;  // the first token comes out of the prefill forward
          g.running.push_back(idx);
        }
      }
      if (r.prefilled == r.input && r.generated >= r.output) {
        finished.push_back(r.id);
        g.running.erase(std::remove(g.running.begin(), g.running.end(), idx), g.running.end());
        g.kv_used -= Reserve(r);
      }
    }
  }
  return finished;
}

int64_t Scheduler::waiting() const {
  int64_t n = 0;
  for (const auto& g : groups_) n += static_cast<int64_t>(g.waiting.size()) + (g.chunked >= 0 ? 1 : 0);
  return n;
}

int64_t Scheduler::running() const {
  int64_t n = 0;
  for (const auto& g : groups_) n += static_cast<int64_t>(g.running.size());
  return n;
}

}  // namespace npusim
