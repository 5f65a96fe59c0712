#include "ops/dynamic_quant/dynamic_quant_tiling.h"

#include <algorithm>

#include "ops/common/op_util.h"

namespace npusim::dynamic_quant {

Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t elem_bytes, int64_t rows_per_tile,
                     int64_t buffer_num, const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.hidden = hidden;
  t.pitch = kernel_util::PaddedCount(static_cast<uint64_t>(hidden),
                                     1);  // 32 elements: int8, bf16 and fp32 rows all aligned
  t.buffer_num = buffer_num;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  const int64_t per_row =
      buffer_num * t.pitch * (elem_bytes + 1) + buffer_num * 32;  // x in, q out, scale out
  const int64_t fixed = 2 * t.pitch * 4 + 64;                     // fp32 row, |x| row, reduce
  if (rows_per_tile == 0 && fixed + per_row > d.ub_bytes) {
    // Pieces of c elements: buffer_num x c x (elem + 1) in/out, two fp32 pieces, scale and reduce.
    const int64_t per_elem = buffer_num * (elem_bytes + 1) + 2 * 4, rest = buffer_num * 32 + 64;
    t.col_chunk = std::max<int64_t>(32, (d.ub_bytes - rest) / per_elem / 32 * 32);
    t.pitch = t.col_chunk;
    t.rows_per_tile = 1;
    return t;
  }
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile
                                      : op_util::RowsThatFit(per_row, fixed, d.ub_bytes,
                                                             std::min<int64_t>(64, t.split.per));
  return t;
}

}  // namespace npusim::dynamic_quant
