// Host tiling of one collective stage as one rank runs it: a segment's elements over the AIV
// blocks, moved through UB in `tile`-element pieces.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::collective {

enum class Kind { kAllGather, kReduceScatter, kAllToAll };

struct Tiling {
  Kind kind = Kind::kAllGather;
  int64_t ranks = 1, n = 0;       // n: elements of one rank's input slice
  int64_t seg = 0;                // elements per segment: n (all_gather) or n / ranks (the others)
  int64_t tile = 0;               // elements per UB tile
  kernel_util::BlockSplit split;  // of a segment's elements over the AIV blocks
};

// `tile` of 0 means "as large as UB holds", a multiple of 16 elements: a relay keeps two
// buffers of the element type per element, a reduction also two fp32 values (the incoming
// slice cast up and the running sum).
Tiling ComputeTiling(Kind kind, int64_t ranks, int64_t in_elems, int64_t elem_bytes, int64_t tile,
                     const DeviceConfig& d);

}  // namespace npusim::collective
