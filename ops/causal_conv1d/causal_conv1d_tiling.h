// Host tiling of the causal conv1d kernels: work items are (channel tile, request) pairs,
// channel-tile major, split contiguously over AIV blocks so a block reloads its weights only
// when its channel tile changes. Tokens of a request stream through a UB window of
// (kw-1) history rows + `rows_per_tile` new rows.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::causal_conv1d {

struct Tiling {
  int64_t requests = 0, dim = 0, kw = 4;
  int64_t window = 3;      // W: rows per slot of the conv-state pool ((kw-1) + extra)
  int64_t write_rows = 3;  // rows of the context written back to the slot's last rows
  int64_t conv_tile = 0, conv_pitch = 0, channel_tiles = 0;
  int64_t rows_per_tile = 0, buffer_num = 2;
  int64_t uniform_len =
      0;  // > 0: request b owns tokens [b*len, (b+1)*len) and continues from its state
  bool fault_state_shift =
      false;  // scenario S6: the upstream NPU fallback's state offset in mixed batches
  kernel_util::BlockSplit split;  // over channel_tiles * requests items
  int64_t UbBytes(int64_t elem_bytes) const;
};

// conv_tile / rows_per_tile of 0 = chosen from the UB; min_rows: rows that must fit one tile.
Tiling ComputeTiling(int64_t requests, int64_t dim, int64_t kw, int64_t window, int64_t write_rows,
                     int64_t elem_bytes, int64_t conv_tile, int64_t rows_per_tile, int64_t min_rows,
                     int64_t buffer_num, bool fault, const DeviceConfig& d);

}  // namespace npusim::causal_conv1d
