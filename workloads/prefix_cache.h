// SGLang's radix cache at page granularity (plain C++, no simulation time): the KV pages of
// prompts already computed, found again by a later prompt that starts with the same tokens, so
// its prefill computes only the rest. A node is one page of tokens, named by a hash of every
// token up to its end (a trie of pages is the radix tree cut at page boundaries, which is where
// SGLang's paged tree splits too). Pages a running request uses are locked; unlocked pages stay
// cached until the KV pool needs them back, least recently used leaf first.
//
// Hybrid (GDN) models also need the recurrent state at the point a hit ends: a hit is cut back to
// the deepest page that carries a state snapshot (SGLang's MambaRadixCache). Snapshots take slots
// of the mamba state pool beside the running requests' own and are evicted least recently used.
// Where the pages go on past the last snapshot (the branching point), the scheduler has the
// request snapshot its state there, so the prompts after it find it.
//
// Prompts are described by content, not tokens: a list of segments (content id, length), so a
// shared system prompt is one segment every prompt of its group starts with.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace npusim {

struct Segment {
  uint64_t content = 0;  // equal ids are equal token sequences
  int64_t len = 0;
};
using Prompt = std::vector<Segment>;

int64_t PromptLength(const Prompt& p);
// The hash naming each whole page of `p` (its first `tokens` tokens at most), page by page.
std::vector<uint64_t> PageKeys(const Prompt& p, int64_t page, int64_t tokens);

struct PrefixCacheConfig {
  int64_t page = 128;
  bool states = false;      // hybrid model: a hit must end at a page with a state snapshot
  int64_t state_slots = 0;  // snapshots the mamba pool can hold beside the running requests
};

class PrefixCache {
 public:
  explicit PrefixCache(const PrefixCacheConfig& c) : c_(c) {}

  struct Match {
    int64_t pages = 0;  // usable hit, in pages
    int64_t unlocked =
        0;  // of those, pages no request holds now (locking them takes them off the evictable list)
    int64_t kv_pages = 0;  // pages found with or without a state (hybrid: the branching point of
                           // SGLang's mamba cache)
  };
  // The longest usable cached prefix of `keys` (at most `max_pages`).
  Match Find(const std::vector<uint64_t>& keys, int64_t max_pages) const;

  // A request holds pages [from, to) of its keys: they cannot be evicted until released. Locking
  // also marks them used now (LRU). Pages must be in the cache.
  void Lock(const std::vector<uint64_t>& keys, int64_t from, int64_t to);
  void Unlock(const std::vector<uint64_t>& keys, int64_t from, int64_t to);
  // Adds pages [0, n) of keys that are missing (as children of the page before); returns how many
  // were new. With `state_page` > 0, page state_page - 1 gets a state snapshot if a slot is free
  // or can be freed.
  int64_t Insert(const std::vector<uint64_t>& keys, int64_t n, int64_t state_page = 0);
  // Frees up to `pages` unlocked pages, least recently used leaves first; returns how many.
  int64_t Evict(int64_t pages);

  int64_t pages() const { return static_cast<int64_t>(nodes_.size()); }
  int64_t evictable() const { return unlocked_; }
  int64_t snapshots() const { return snapshots_; }
  int64_t evicted() const { return evicted_; }
  int64_t states_evicted() const { return states_evicted_; }

 private:
  struct Node {
    uint64_t parent = 0;  // 0: the root
    int64_t children = 0, locks = 0;
    uint64_t used = 0;  // logical time of the last lock or insert
    bool state = false;
  };
  void Touch(uint64_t key, Node& n);
  void Remove(uint64_t key);
  bool FreeStateSlot(uint64_t keep);

  PrefixCacheConfig c_;
  std::unordered_map<uint64_t, Node> nodes_;
  std::set<std::pair<uint64_t, uint64_t>>
      leaves_;  // (used, key) of unlocked leaves: eviction order
  std::set<std::pair<uint64_t, uint64_t>> states_;  // (used, key) of unlocked pages with a snapshot
  uint64_t clock_ = 0;
  int64_t unlocked_ = 0, snapshots_ = 0, evicted_ = 0, states_evicted_ = 0;
};

}  // namespace npusim
