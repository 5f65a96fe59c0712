#include "ops/rms_norm/rms_norm_tiling.h"

#include "ops/common/op_util.h"

namespace npusim::rms_norm {

Tiling ComputeTiling(Variant v, bool residual, int64_t rows, int64_t cols, int64_t elem_bytes, double eps,
                     int64_t rows_per_tile, int64_t buffer_num, const DeviceConfig& d) {
  Tiling t;
  t.variant = v;
  t.residual = residual;
  t.rows = rows;
  t.cols = cols;
  t.cols_padded = kernel_util::PaddedCount(static_cast<uint64_t>(cols), static_cast<uint64_t>(elem_bytes));
  t.buffer_num = buffer_num;
  t.eps = static_cast<float>(eps);
  t.split = kernel_util::BlockSplit(rows, d.aiv_count);
  // Queues per row: x in, y out, plus residual in/out or z in.
  const int64_t queues = 2 + (residual ? 2 : 0) + (v == Variant::kGated ? 1 : 0);
  const int64_t per_row = queues * buffer_num * t.cols_padded * elem_bytes;
  const int64_t f32 = kernel_util::PaddedCount(static_cast<uint64_t>(cols), 4) * 4;
  const int64_t fixed = 4 * f32 + 64;  // weight, x in fp32, two temporaries, reduction result
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile : op_util::RowsThatFit(per_row, fixed, d.ub_bytes, std::min<int64_t>(64, t.split.per));
  return t;
}

}  // namespace npusim::rms_norm
