#include "workloads/prefix_cache.h"

#include <algorithm>

#include "model/error.h"

namespace npusim {

namespace {
uint64_t Mix(uint64_t h, uint64_t v) {  // splitmix64 finaliser over the running hash
  uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

int64_t PromptLength(const Prompt& p) {
  int64_t n = 0;
  for (const Segment& s : p) n += s.len;
  return n;
}

// A page's key chains the previous page's key with the pieces of segments it covers (content id,
// offset into the segment, length), so equal keys mean equal tokens from the start of the prompt.
std::vector<uint64_t> PageKeys(const Prompt& p, int64_t page, int64_t tokens) {
  std::vector<uint64_t> keys;
  uint64_t h = 0x51ab1e5eedULL;
  int64_t in_page = 0, done = 0;
  for (const Segment& s : p) {
    int64_t off = 0;
    while (off < s.len && done < tokens) {
      const int64_t take = std::min({s.len - off, page - in_page, tokens - done});
      h = Mix(Mix(Mix(h, s.content), static_cast<uint64_t>(off)), static_cast<uint64_t>(take));
      off += take;
      in_page += take;
      done += take;
      if (in_page == page) {
        keys.push_back(h | 1);  // never 0: 0 names the root
        in_page = 0;
      }
    }
  }
  return keys;
}

PrefixCache::Match PrefixCache::Find(const std::vector<uint64_t>& keys, int64_t max_pages) const {
  Match m;
  int64_t unlocked = 0;
  const int64_t n = std::min<int64_t>(max_pages, static_cast<int64_t>(keys.size()));
  for (int64_t i = 0; i < n; ++i) {
    const auto it = nodes_.find(keys[static_cast<size_t>(i)]);
    if (it == nodes_.end()) break;
    if (it->second.locks == 0) ++unlocked;
    if (!c_.states || it->second.state) m.pages = i + 1, m.unlocked = unlocked;
    m.kv_pages = i + 1;
  }
  return m;
}

void PrefixCache::Touch(uint64_t key, Node& n) {
  if (n.locks == 0 && n.children == 0) leaves_.erase({n.used, key});
  if (n.locks == 0 && n.state) states_.erase({n.used, key});
  n.used = ++clock_;
  if (n.locks == 0 && n.children == 0) leaves_.insert({n.used, key});
  if (n.locks == 0 && n.state) states_.insert({n.used, key});
}

void PrefixCache::Lock(const std::vector<uint64_t>& keys, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; ++i) {
    const uint64_t k = keys[static_cast<size_t>(i)];
    auto it = nodes_.find(k);
    if (it == nodes_.end())
      throw std::logic_error("prefix cache: locking a page that is not cached");
    Node& nd = it->second;
    Touch(k, nd);
    if (nd.locks++ == 0) {
      --unlocked_;
      leaves_.erase({nd.used, k});
      if (nd.state) states_.erase({nd.used, k});
    }
  }
}

void PrefixCache::Unlock(const std::vector<uint64_t>& keys, int64_t from, int64_t to) {
  for (int64_t i = to - 1; i >= from; --i) {
    const uint64_t k = keys[static_cast<size_t>(i)];
    auto it = nodes_.find(k);
    if (it == nodes_.end() || it->second.locks == 0)
      throw std::logic_error("prefix cache: unlocking a page that is not locked");
    Node& nd = it->second;
    if (--nd.locks == 0) {
      ++unlocked_;
      if (nd.children == 0) leaves_.insert({nd.used, k});
      if (nd.state) states_.insert({nd.used, k});
    }
  }
}

bool PrefixCache::FreeStateSlot(uint64_t keep) {
  for (auto it = states_.begin(); it != states_.end(); ++it) {
    if (it->second == keep) continue;
    nodes_.at(it->second).state = false;
    states_.erase(it);
    --snapshots_;
    ++states_evicted_;
    return true;
  }
  return false;
}

int64_t PrefixCache::Insert(const std::vector<uint64_t>& keys, int64_t n, int64_t state_page) {
  int64_t added = 0;
  uint64_t parent = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t k = keys[static_cast<size_t>(i)];
    auto it = nodes_.find(k);
    if (it == nodes_.end()) {
      if (parent != 0) {
        Node& p = nodes_.at(parent);
        if (p.locks == 0 && p.children == 0) leaves_.erase({p.used, parent});
        ++p.children;
      }
      Node nd;
      nd.parent = parent;
      it = nodes_.emplace(k, nd).first;
      ++unlocked_;
      it->second.used = ++clock_;
      leaves_.insert({it->second.used, k});
      ++added;
    } else {
      Touch(k, it->second);
    }
    parent = k;
  }
  if (c_.states && state_page > 0 && state_page <= n) {
    const uint64_t k = keys[static_cast<size_t>(state_page - 1)];
    Node& nd = nodes_.at(k);
    if (!nd.state && (snapshots_ < c_.state_slots || FreeStateSlot(k))) {
      nd.state = true;
      ++snapshots_;
      if (nd.locks == 0) states_.insert({nd.used, k});
    }
  }
  return added;
}

void PrefixCache::Remove(uint64_t key) {
  Node nd = nodes_.at(key);
  leaves_.erase({nd.used, key});
  if (nd.state) {
    states_.erase({nd.used, key});
    --snapshots_;
  }
  nodes_.erase(key);
  --unlocked_;
  ++evicted_;
  if (nd.parent != 0) {
    Node& p = nodes_.at(nd.parent);
    if (--p.children == 0 && p.locks == 0) leaves_.insert({p.used, nd.parent});
  }
}

int64_t PrefixCache::Evict(int64_t pages) {
  int64_t freed = 0;
  while (freed < pages && !leaves_.empty()) {
    Remove(leaves_.begin()->second);
    ++freed;
  }
  return freed;
}

}  // namespace npusim
