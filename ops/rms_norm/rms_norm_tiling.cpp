#include "ops/rms_norm/rms_norm_tiling.h"

#include "ops/common/op_util.h"

namespace npusim::rms_norm {

Tiling ComputeTiling(Variant v, bool residual, int64_t rows, int64_t cols, int64_t elem_bytes,
                     double eps, int64_t rows_per_tile, int64_t buffer_num, const DeviceConfig& d,
                     int64_t cols_per_tile) {
  Tiling t;
  t.variant = v;
  t.residual = residual;
  t.rows = rows;
  t.cols = cols;
  t.cols_padded =
      kernel_util::PaddedCount(static_cast<uint64_t>(cols), static_cast<uint64_t>(elem_bytes));
  t.buffer_num = buffer_num;
  t.eps = static_cast<float>(eps);
  t.split = kernel_util::BlockSplit(rows, d.aiv_count);
  // Queues per row: x in, y out, plus residual in/out or z in.
  const int64_t queues = 2 + (residual ? 2 : 0) + (v == Variant::kGated ? 1 : 0);
  const int64_t per_row = queues * buffer_num * t.cols_padded * elem_bytes;
  const int64_t f32 = kernel_util::PaddedCount(static_cast<uint64_t>(cols), 4) * 4;
  const int64_t fixed = 4 * f32 + 64;  // weight, x in fp32, two temporaries, reduction result
  if (cols_per_tile <= 0 && rows_per_tile <= 0 && fixed + per_row > d.ub_bytes) {
    // A slice of w columns costs queues x buffers x w activations, four fp32 work rows of w and
    // the reduction result; the widest whole number of 64-element groups (32 B in every dtype).
    const int64_t bytes_per_col = queues * buffer_num * elem_bytes + 4 * 4;
    cols_per_tile = std::max<int64_t>(64, (d.ub_bytes - 64) / bytes_per_col / 64 * 64);
  }
  if (cols_per_tile > 0 && cols_per_tile < cols) {
    t.cols_per_tile = cols_per_tile;
    t.rows_per_tile = 1;
    return t;
  }
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile
                                      : op_util::RowsThatFit(per_row, fixed, d.ub_bytes,
                                                             std::min<int64_t>(64, t.split.per));
  return t;
}

}  // namespace npusim::rms_norm
