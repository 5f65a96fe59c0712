// Host tiling of `swiglu` / `swiglustep`: token rows over AIV blocks, each UB tile holds
// `rows_per_tile` rows of the gate half and the up half (columns split in `col_tile` pieces
// when a row does not fit).
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::swiglu {

struct Tiling {
  int64_t tokens = 0, inter = 0;  // x is [tokens, 2*inter]: gate = x[:, :inter], up = x[:, inter:]
  int64_t col_tile = 0, col_pitch = 0, rows_per_tile = 0, buffer_num = 2;
  float limit = 0;  // > 0: SwigluStep clamp
  kernel_util::BlockSplit split;
};

Tiling ComputeTiling(int64_t tokens, int64_t inter, int64_t elem_bytes, double limit,
                     int64_t col_tile, int64_t rows_per_tile, int64_t buffer_num,
                     const DeviceConfig& d);

}  // namespace npusim::swiglu
