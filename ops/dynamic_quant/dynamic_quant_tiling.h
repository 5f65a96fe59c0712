// Host tiling of `dynamic_quant`: token rows over AIV blocks, `rows_per_tile` rows per UB tile.
// A row too long for UB with its fp32 copies (hidden above ~6000 with bf16 input: Qwen3.5-27B's
// 17408-wide down projection) is processed in `col_chunk`-element pieces, in two passes over
// GM: the row's max |x| first, then the quantisation.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::dynamic_quant {

struct Tiling {
  int64_t tokens = 0, hidden = 0,
          pitch = 0;  // pitch: UB row pitch, a multiple of 32 elements (int8 rows aligned)
  int64_t rows_per_tile = 0, buffer_num = 2;
  int64_t col_chunk = 0;  // 0: whole rows; else elements per piece of one row (pitch = col_chunk)
  kernel_util::BlockSplit split;
};

Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t elem_bytes, int64_t rows_per_tile,
                     int64_t buffer_num, const DeviceConfig& d);

}  // namespace npusim::dynamic_quant
