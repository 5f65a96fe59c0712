// The scalar unit's data cache (DCache) of one core: what a GetValue/SetValue on a GlobalTensor
// costs. Plain C++ (no SystemC), set-associative with LRU replacement per set.
//
// Why it matters: a scalar read of GM that misses stalls the in-order scalar unit for a line
// fill from L2/HBM, and the scalar unit is what issues every other instruction. Kernels that read
// per-row scalars from GM (chunk GDN's decay and beta per row, routing tables, sequence lengths)
// pay that once per line, and a strided walk pays it on every read.
#pragma once

#include <cstdint>
#include <vector>

namespace npusim {

class ScalarDataCache {
 public:
  // bytes / line_bytes lines in `ways`-way sets; a fully associative cache has ways == lines.
  void Configure(int64_t bytes, int64_t line_bytes, int64_t ways);
  // Forgets every line (a launch starts cold: kernel timing must not depend on what ran before).
  void Reset();
  // Touches the line holding `addr`; true on a hit. A miss fills the line (write-allocate).
  bool Access(uint64_t addr);

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Way {
    uint64_t tag = 0;
    uint64_t used = 0;  // LRU stamp; 0 = empty
  };
  int64_t line_bytes_ = 64, sets_ = 1, ways_ = 1;
  std::vector<Way> lines_;  // sets_ x ways_
  uint64_t clock_ = 0, hits_ = 0, misses_ = 0;
};

}  // namespace npusim
