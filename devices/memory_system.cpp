#include "devices/memory_system.h"

#include <cmath>

namespace npusim {

namespace {
// Bits [lo, hi) of a 64-bit mask.
uint64_t Bits(uint64_t lo, uint64_t hi) {
  return (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
}

// Set bits of a word, by bit arithmetic: portable (no -mpopcnt) and without the libgcc call
// __builtin_popcountll becomes without it.
inline uint64_t Popcount(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (x * 0x0101010101010101ull) >> 56;
}
}  // namespace

void L2Residency::Clear() {
  for (const uint64_t page : order_) PageAt(page) = Page{};
  order_.clear();
  resident_ = 0;
}

L2Residency::Page& L2Residency::PageAt(uint64_t page) {
  const uint64_t id = page / kChunkPages;
  if (id != last_chunk_id_) {
    auto& chunk = chunks_[id];
    if (!chunk) chunk = std::make_unique<Chunk>();
    last_chunk_ = chunk.get();
    last_chunk_id_ = id;
  }
  return (*last_chunk_)[page % kChunkPages];
}

L2Residency::Page& L2Residency::Listed(uint64_t page) {
  if (page != last_page_id_) {  // a strided copy's rows mostly share a page with the row before
    last_page_ = &PageAt(page);
    last_page_id_ = page;
  }
  Page& pg = *last_page_;
  if (!pg.listed) {
    pg.listed = true;
    order_.push_back(page);
  }
  return pg;
}

void L2Residency::Evict() {
  // First in, first out, a page at a time; the dirty bits of an evicted page go with it (it was
  // written back), so a rewrite after eviction is written back again.
  while (resident_ > capacity_granules_ && order_.size() > 1) {
    Page& old = PageAt(order_.front());
    order_.pop_front();
    resident_ -= Popcount(old.resident);
    old = Page{};
  }
}

uint64_t L2Residency::Touch(uint64_t addr, uint64_t len, bool write, uint64_t& missed,
                            uint64_t& dirtied) {
  if (len == 0) return 0;
  uint64_t hit = 0;
  const uint64_t g_first = addr / kGranule, g_last = (addr + len - 1) / kGranule;
  if (g_first == g_last) {  // inside one granule (most rows of a tile copy): one bit
    Page& pg = Listed(g_first / kPageGranules);
    const uint64_t bit = 1ull << (g_first % kPageGranules);
    if (pg.resident & bit) {
      hit = len;
    } else {
      ++missed;
      ++resident_;
      pg.resident |= bit;
    }
    if (write && !(pg.dirty & bit)) {
      ++dirtied;
      pg.dirty |= bit;
    }
    if (resident_ > capacity_granules_) Evict();
    return hit;
  }
  for (uint64_t page = g_first / kPageGranules; page <= g_last / kPageGranules; ++page) {
    const uint64_t lo = std::max(g_first, page * kPageGranules) - page * kPageGranules;
    const uint64_t hi = std::min(g_last + 1, (page + 1) * kPageGranules) - page * kPageGranules;
    const uint64_t mask = Bits(lo, hi);
    Page& pg = Listed(page);
    const uint64_t was = pg.resident & mask;
    // Bytes of the resident granules in range: whole granules, less the parts of the first and
    // last granule that lie outside [addr, addr + len).
    uint64_t bytes = Popcount(was) * kGranule;
    const uint64_t g0 = page * kPageGranules + lo, g1 = page * kPageGranules + hi - 1;
    if (was & (1ull << lo)) bytes -= addr > g0 * kGranule ? addr - g0 * kGranule : 0;
    if (was & (1ull << (hi - 1)))
      bytes -= (g1 + 1) * kGranule > addr + len ? (g1 + 1) * kGranule - (addr + len) : 0;
    hit += bytes;
    const uint64_t added = Popcount(mask & ~pg.resident);
    missed += added;
    resident_ += added;
    pg.resident |= mask;
    if (write) {
      dirtied += Popcount(mask & ~pg.dirty);
      pg.dirty |= mask;
    }
  }
  if (resident_ > capacity_granules_) Evict();
  return hit;
}

L2HbmMemory::L2HbmMemory(const DeviceConfig& cfg)
    : L2HbmMemory(cfg.BytesPerCycle(cfg.hbm_bandwidth_gbps),
                  cfg.BytesPerCycle(cfg.l2_bandwidth_gbps), static_cast<uint64_t>(cfg.l2_bytes)) {}

void L2HbmMemory::BeginLaunch(uint64_t origin, bool keep_l2) {
  read_bytes_ = write_bytes_ = l2_hit_bytes_ = 0;
  if (!keep_l2) residency_.Clear();
  origin_ = origin;
  hbm_.Reset();
  l2_.Reset();
}

uint64_t L2HbmMemory::Transfer(uint64_t start, const GmSpan& span, uint64_t bytes,
                               uint64_t path_cycles, uint64_t latency, bool write) {
  uint64_t hit = 0, missed = 0, dirtied = 0;
  if (span.stride == span.block_bytes) {  // contiguous blocks: one range
    hit = residency_.Touch(span.addr, span.block_bytes * span.blocks, write, missed, dirtied);
  } else {
    for (uint32_t b = 0; b < span.blocks; ++b)
      hit +=
          residency_.Touch(span.addr + b * span.stride, span.block_bytes, write, missed, dirtied);
  }
  const uint64_t hbm_bytes = (write ? dirtied : missed) * L2Residency::kGranule;
  if (!write) l2_hit_bytes_ += std::min(hit, bytes);
  const double s = static_cast<double>(start - origin_);
  const double hbm_done = hbm_bytes > 0 ? hbm_.Reserve(s, hbm_bytes) : s;  // all-hit: no wait
  const double l2_done = l2_.Reserve(s, bytes);
  (write ? write_bytes_ : read_bytes_) += hbm_bytes;
  const double data_done =
      std::max({s + static_cast<double>(path_cycles - latency), hbm_done, l2_done});
  return origin_ + static_cast<uint64_t>(std::ceil(data_done - 1e-9)) + latency;
}

}  // namespace npusim
