// Instruction durations from the device config (DESIGN.md §4). Plain C++, testable without
// SystemC. GM transfers also pass through SharedMemory, which caps the whole chip's traffic.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "devices/device_config.h"
#include "devices/instr.h"

namespace npusim {

class CostModel {
 public:
  explicit CostModel(const DeviceConfig& cfg);

  // Cycles of a vector instruction over `bytes` input bytes of `elem_bytes`-wide elements;
  // work is counted in whole 256 B repeats.
  uint64_t VectorCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const;
  // Ideal (startup-free, repeat-free) cycles of the same work: the roofline's vector bound.
  double VectorIdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const;
  // Cycles of an m x k x n Mmad with inputs of `in` dtype.
  uint64_t CubeCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const;
  // The same work at peak rate with no fractal padding or startup (the roofline's cube bound).
  double CubeIdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const;
  // Cycles of a transfer on one core's MTE path, alone (no shared-memory contention).
  uint64_t PathCycles(MtePath p, uint64_t bytes) const;
  uint64_t PathLatency(MtePath p) const { return latency_[static_cast<int>(p)]; }
  double PathBytesPerCycle(MtePath p) const { return bw_[static_cast<int>(p)]; }
  // Cycles of a non-GM instruction (vector, cube, local copies). GM paths: see SharedMemory.
  uint64_t LocalCycles(const Instr& in) const;

  static bool TouchesGm(MtePath p);
  static bool WritesGm(MtePath p) { return p == MtePath::kUbToGm || p == MtePath::kL0cToGm; }

 private:
  const DeviceConfig& cfg_;
  uint64_t latency_[static_cast<int>(MtePath::kCount)];
  double bw_[static_cast<int>(MtePath::kCount)];
};

// The GM side of a transfer: `blocks` blocks of `block_bytes`, `stride` bytes apart.
struct GmSpan {
  uint64_t addr = 0;
  uint32_t blocks = 1;
  uint64_t block_bytes = 0, stride = 0;
};

// HBM and L2 as bandwidth shared by every core: each GM transfer reserves its bytes on both,
// first come first served in simulated-time order, so the chip never moves more than
// bandwidth x time. L2 hits: GM bytes read or written earlier in the same launch are resident
// (512 B granules, one bit each in 32 KiB pages evicted first-in first-out beyond the L2
// capacity) and a read of them
// costs L2 bandwidth only; a read miss fills whole granules from HBM; each granule written is
// written back to HBM once per launch (rewrites of a workspace stay in L2). L2 starts cold at
// every launch (data left by an earlier kernel is not assumed to hit).
class SharedMemory {
 public:
  SharedMemory(double hbm_bytes_per_cycle, double l2_bytes_per_cycle, uint64_t l2_bytes)
      : hbm_bpc_(hbm_bytes_per_cycle),
        l2_bpc_(l2_bytes_per_cycle),
        l2_granules_(l2_bytes / kGranule) {}
  // A transfer of `span` (`bytes` in all) starting at `start` whose core-side path alone would
  // take `path_cycles` then `latency`: returns its end cycle.
  uint64_t Transfer(uint64_t start, const GmSpan& span, uint64_t bytes, uint64_t path_cycles,
                    uint64_t latency, bool write);
  uint64_t read_bytes() const { return read_bytes_; }    // from HBM (L2 misses)
  uint64_t write_bytes() const { return write_bytes_; }  // to HBM
  uint64_t l2_hit_bytes() const { return l2_hit_bytes_; }
  // A new launch at cycle `origin`: cold L2, idle bandwidth, zero counters. Reservations are kept
  // in cycles since the origin so that a launch's timing does not depend on how much simulated
  // time earlier launches in the process took (double rounding at large absolute cycles would).
  void ResetCounters(uint64_t origin);

 private:
  static constexpr uint64_t kGranule = 512;
  static constexpr uint64_t kPageGranules =
      64;  // residency is tracked per 32 KiB page, one bit a granule
  static constexpr uint64_t kChunkPages = 4096;  // pages are stored in flat chunks of 128 MiB of GM
  struct Page {
    uint64_t resident = 0, dirty = 0;
    bool listed = false;  // in order_: resident granules, or evicted and not yet reused
  };
  using Chunk = std::array<Page, kChunkPages>;
  Page& PageAt(uint64_t page);
  Page& Listed(uint64_t page);  // the page, put in order_ if it was not
  void Evict();                 // oldest pages out until the resident granules fit in L2
  // Bytes of [addr, addr + len) already resident; makes every touched granule resident (evicting
  // the oldest pages beyond the L2 capacity), adds the granules that were not to `missed` and,
  // for a write, the granules not yet dirty in this launch to `dirtied`.
  uint64_t Touch(uint64_t addr, uint64_t len, bool write, uint64_t& missed, uint64_t& dirtied);
  double hbm_bpc_, l2_bpc_;
  uint64_t l2_granules_;
  uint64_t origin_ = 0;
  double hbm_free_ = 0, l2_free_ = 0;  // cycles since origin_
  uint64_t read_bytes_ = 0, write_bytes_ = 0, l2_hit_bytes_ = 0;
  // GM pages in flat chunks found through a small directory (a GM tensor's rows fall in one or
  // two chunks, so the last chunk answers most lookups); chunks are kept across launches and
  // their pages cleared at a reset.
  std::unordered_map<uint64_t, std::unique_ptr<Chunk>> chunks_;
  uint64_t last_chunk_id_ = ~0ull, last_page_id_ = ~0ull;
  Chunk* last_chunk_ = nullptr;
  Page* last_page_ = nullptr;   // pages never move: chunks are kept for the model's lifetime
  std::deque<uint64_t> order_;  // pages in the order they became resident
  uint64_t resident_ = 0;       // resident granules
};

// The chip-to-chip links one rank reads its peers over: per peer a link (the SIO pair link
// for the other die of an A3 package), all non-pair links together capped by the chip's
// aggregate bandwidth; each reservation is first come first served in simulated time, as
// SharedMemory does for HBM. Reset at every launch.
class LinkModel {
 public:
  explicit LinkModel(const DeviceConfig& cfg);
  // A read of `bytes` from `peer` by rank `self`, whose core-side path alone takes
  // `path_cycles` then `latency`: returns its end cycle.
  uint64_t Transfer(uint64_t start, int self, int peer, uint64_t bytes, uint64_t path_cycles,
                    uint64_t latency);
  uint64_t bytes() const { return bytes_; }            // over peer links
  uint64_t pair_bytes() const { return pair_bytes_; }  // over the package's SIO link
  uint64_t max_peer_bytes() const {                    // over the busiest non-pair peer link
    uint64_t m = 0;
    for (uint64_t b : peer_bytes_) m = std::max(m, b);
    return m;
  }
  // A new launch at cycle `origin` (reservations in cycles since it, as SharedMemory keeps them).
  void Reset(uint64_t origin) {
    peer_free_.clear();
    peer_bytes_.clear();
    aggregate_free_ = 0;
    bytes_ = pair_bytes_ = 0;
    origin_ = origin;
  }

 private:
  double peer_bpc_, aggregate_bpc_, pair_bpc_;
  int pair_ranks_;
  uint64_t origin_ = 0;
  std::vector<double> peer_free_;
  std::vector<uint64_t> peer_bytes_;
  double aggregate_free_ = 0;
  uint64_t bytes_ = 0, pair_bytes_ = 0;
};

}  // namespace npusim
