// Host tiling of `add`: how the n elements split over blocks and UB tiles.
#pragma once

#include <cstdint>

#include "devices/device_config.h"

namespace npusim::add {

struct AddTiling {
  int64_t n = 0;
  int64_t block_dim = 0;
  int64_t block_len = 0;   // elements per block (the last block takes what is left)
  int64_t tile = 0;        // elements per UB tile
  int64_t buffer_num = 2;  // 1 = single buffer, 2 = double buffer
  int64_t elem_bytes = 2;
};

// `tile`/`block_dim` of 0 mean "choose": every block starts 32 B aligned; the tile is the
// largest 32 B multiple with 3 queues x buffer_num tiles in UB, capped at 32 KiB per tile
// (transfers of >= 16 KB reach peak bandwidth, ref ascend-hardware.md §1.5).
AddTiling ComputeAddTiling(int64_t n, int64_t elem_bytes, int64_t tile, int64_t buffer_num,
                           int64_t block_dim, const DeviceConfig& d);

}  // namespace npusim::add
