// Host tiling of `data_copy`: how the [m, n] matrix splits over cores, N slices and tiles.
// The shape of CANN's DataCopy best-practice sample (asc-devkit examples data_copy, read for its
// loop structure and parameters): M split by core, each core walks its rows in tile_m x tile_n
// tiles, one DataCopy instruction per tile; `slices` x `repeat` reproduce its L2 reuse scenarios.
#pragma once

#include <cstdint>

#include "devices/device_config.h"

namespace npusim::data_copy {

struct DataCopyTiling {
  int64_t m = 0, n = 0;
  int64_t tile_m = 0, tile_n = 0;
  int64_t block_dim = 0;
  int64_t rows_per_core = 0;  // the last core takes what is left
  int64_t slices = 1;         // N is cut into this many column slices, walked one after another
  int64_t repeat = 1;         // each slice is read this many times in a row
  int64_t buffer_num = 1;
};

// block_dim 0 = every core of the destination's kind (AIV for UB, AIC for L1).
DataCopyTiling ComputeDataCopyTiling(int64_t m, int64_t n, int64_t tile_m, int64_t tile_n,
                                     int64_t slices, int64_t repeat, int64_t buffer_num,
                                     int64_t block_dim, bool to_l1, const DeviceConfig& d);

}  // namespace npusim::data_copy
