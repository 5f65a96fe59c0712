#include "ops/causal_conv1d/causal_conv1d_tiling.h"

#include <algorithm>

namespace npusim::causal_conv1d {

int64_t Tiling::UbBytes(int64_t elem_bytes) const {
  const int64_t tile = rows_per_tile * conv_pitch;
  return buffer_num * tile * elem_bytes * 2           // x in, y out
         + kw * tile * 4                              // weights broadcast over the tile rows
         + (kw - 1 + rows_per_tile) * conv_pitch * 4  // the window
         + tile * 4                                   // accumulator
         + std::max(rows_per_tile, kw - 1) * conv_pitch *
               4  // temporary (also the window shift's kw-1 rows)
         +
         (kw - 1 + rows_per_tile) * conv_pitch * elem_bytes;  // state rows (history in, state out)
}

Tiling ComputeTiling(int64_t requests, int64_t dim, int64_t kw, int64_t window, int64_t write_rows,
                     int64_t elem_bytes, int64_t conv_tile, int64_t rows_per_tile, int64_t min_rows,
                     int64_t buffer_num, bool fault, const DeviceConfig& d) {
  Tiling t;
  t.requests = requests;
  t.dim = dim;
  t.kw = kw;
  t.window = window;
  t.write_rows = write_rows;
  t.buffer_num = buffer_num;
  t.fault_state_shift = fault;
  // Up to 512 channels (2 KiB fp32 rows per vector instruction), narrower while that leaves
  // cores without a (channel tile, request) item; never below 64 (256 B rows).
  if (conv_tile <= 0) {
    conv_tile = 512;
    while (conv_tile > 64 && ((dim + conv_tile - 1) / conv_tile) * requests < d.aiv_count)
      conv_tile /= 2;
  }
  t.conv_tile = std::min(conv_tile, dim);
  t.conv_pitch = kernel_util::PaddedCount(static_cast<uint64_t>(t.conv_tile),
                                          static_cast<uint64_t>(elem_bytes));
  t.channel_tiles = (dim + t.conv_tile - 1) / t.conv_tile;
  if (rows_per_tile > 0) {
    t.rows_per_tile = rows_per_tile;
  } else {
    t.rows_per_tile = std::max<int64_t>(min_rows, 1);
    while (t.rows_per_tile < 64) {
      Tiling bigger = t;
      bigger.rows_per_tile *= 2;
      if (bigger.UbBytes(elem_bytes) > d.ub_bytes - 1024) break;
      t = bigger;
    }
  }
  t.split = kernel_util::BlockSplit(t.channel_tiles * requests, d.aiv_count);
  return t;
}

}  // namespace npusim::causal_conv1d
