#include "ops/swiglu/swiglu_tiling.h"

#include "ops/common/op_util.h"

namespace npusim::swiglu {

Tiling ComputeTiling(int64_t tokens, int64_t inter, int64_t elem_bytes, double limit,
                     int64_t col_tile, int64_t rows_per_tile, int64_t buffer_num,
                     const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.inter = inter;
  t.limit = static_cast<float>(limit);
  t.buffer_num = buffer_num;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  // Per element of a tile: gate, up in and out (activation dtype) x buffers, three fp32
  // temporaries.
  const int64_t per_elem = 3 * buffer_num * elem_bytes + 3 * 4;
  const int64_t max_elems = std::min<int64_t>(8192, (d.ub_bytes - 1024) / per_elem);
  t.col_tile = col_tile > 0 ? col_tile : std::min<int64_t>(inter, max_elems);
  t.col_pitch = kernel_util::PaddedCount(static_cast<uint64_t>(t.col_tile),
                                         static_cast<uint64_t>(elem_bytes));
  t.rows_per_tile =
      rows_per_tile > 0
          ? rows_per_tile
          : op_util::RowsThatFit(
                per_elem * t.col_pitch, 1024, d.ub_bytes,
                std::min<int64_t>(t.split.per, std::max<int64_t>(1, max_elems / t.col_pitch)));
  return t;
}

}  // namespace npusim::swiglu
