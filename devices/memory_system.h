// The memory system shared by the cores (implementation "l2_hbm" of MemorySystem): an L2
// residency model in front of HBM, each with its own bandwidth. Plain C++, no SystemC.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "devices/timing_models.h"

namespace npusim {

// Bandwidth handed out first come first served in simulated-time order: a channel never moves
// more than bytes_per_cycle x time. Times are cycles since the launch origin (see L2HbmMemory).
class BandwidthChannel {
 public:
  explicit BandwidthChannel(double bytes_per_cycle) : bpc_(bytes_per_cycle) {}
  // Reserves `bytes` from `start` on: returns when they have moved.
  double Reserve(double start, uint64_t bytes) {
    free_ = std::max(start, free_) + static_cast<double>(bytes) / bpc_;
    return free_;
  }
  void Reset() { free_ = 0; }

 private:
  double bpc_;
  double free_ = 0;
};

// Which GM bytes L2 holds: 512 B granules, one bit each in 32 KiB pages, evicted a page at a
// time first in, first out beyond the L2 capacity. A written granule is dirty until evicted (it
// goes back to HBM once, however often it is rewritten).
class L2Residency {
 public:
  explicit L2Residency(uint64_t capacity_bytes) : capacity_granules_(capacity_bytes / kGranule) {}
  static constexpr uint64_t kGranule = 512;
  // Bytes of [addr, addr + len) already resident; makes every touched granule resident, adds the
  // granules that were not to `missed` and, for a write, the granules not yet dirty to `dirtied`.
  uint64_t Touch(uint64_t addr, uint64_t len, bool write, uint64_t& missed, uint64_t& dirtied);
  void Clear();  // cold: nothing resident

 private:
  static constexpr uint64_t kPageGranules = 64;  // one 64-bit mask per 32 KiB page
  static constexpr uint64_t kChunkPages = 4096;  // pages stored in flat chunks of 128 MiB of GM
  struct Page {
    uint64_t resident = 0, dirty = 0;
    bool listed = false;  // in order_: resident granules, or evicted and not yet reused
  };
  using Chunk = std::array<Page, kChunkPages>;
  Page& PageAt(uint64_t page);
  Page& Listed(uint64_t page);  // the page, put in order_ if it was not
  void Evict();                 // oldest pages out until the resident granules fit

  uint64_t capacity_granules_;
  // GM pages in flat chunks found through a small directory (a GM tensor's rows fall in one or
  // two chunks, so the last chunk answers most lookups); chunks live as long as the model, so
  // page pointers stay valid.
  std::unordered_map<uint64_t, std::unique_ptr<Chunk>> chunks_;
  uint64_t last_chunk_id_ = ~0ull, last_page_id_ = ~0ull;
  Chunk* last_chunk_ = nullptr;
  Page* last_page_ = nullptr;
  std::deque<uint64_t> order_;  // pages in the order they became resident
  uint64_t resident_ = 0;       // resident granules
};

// HBM and L2 as bandwidth shared by every core: each GM transfer reserves its bytes on both, so
// the chip never moves more than either allows. A read of resident bytes costs L2 bandwidth
// only; a read miss fills whole granules from HBM; a granule is written back to HBM the first
// time it is dirtied. L2 starts cold at a launch unless the launch keeps it (BeginLaunch).
class L2HbmMemory : public MemorySystem {
 public:
  L2HbmMemory(double hbm_bytes_per_cycle, double l2_bytes_per_cycle, uint64_t l2_bytes)
      : hbm_(hbm_bytes_per_cycle), l2_(l2_bytes_per_cycle), residency_(l2_bytes) {}
  explicit L2HbmMemory(const DeviceConfig& cfg);
  // Reservations are kept in cycles since `origin` so that a launch's timing does not depend on
  // how much simulated time earlier launches took (double rounding at large absolute cycles
  // would).
  void BeginLaunch(uint64_t origin, bool keep_l2) override;
  uint64_t Transfer(uint64_t start, const GmSpan& span, uint64_t bytes, uint64_t path_cycles,
                    uint64_t latency, bool write) override;
  uint64_t read_bytes() const override { return read_bytes_; }
  uint64_t write_bytes() const override { return write_bytes_; }
  uint64_t l2_hit_bytes() const override { return l2_hit_bytes_; }

 private:
  BandwidthChannel hbm_, l2_;
  L2Residency residency_;
  uint64_t origin_ = 0;
  uint64_t read_bytes_ = 0, write_bytes_ = 0, l2_hit_bytes_ = 0;
};

}  // namespace npusim
