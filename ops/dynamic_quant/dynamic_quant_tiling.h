// Host tiling of `dynamic_quant`: token rows over AIV blocks, `rows_per_tile` rows per UB tile.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::dynamic_quant {

struct Tiling {
  int64_t tokens = 0, hidden = 0, pitch = 0;  // pitch: UB row pitch, a multiple of 32 elements (int8 rows aligned)
  int64_t rows_per_tile = 0, buffer_num = 2;
  kernel_util::BlockSplit split;
};

Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t elem_bytes, int64_t rows_per_tile, int64_t buffer_num,
                     const DeviceConfig& d);

}  // namespace npusim::dynamic_quant
