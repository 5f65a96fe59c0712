#include "ops/conv_state_rollback/conv_state_rollback_tiling.h"

#include <algorithm>

namespace npusim::conv_state_rollback {

Tiling ComputeTiling(int64_t layers, int64_t requests, int64_t pool, int64_t conv_kernel,
                     int64_t draft_tokens, int64_t dim, int64_t dim_tile, int64_t buffer_num,
                     int64_t elem_bytes, const DeviceConfig& d) {
  Tiling t{layers,    requests,     pool,     (conv_kernel - 1) + (draft_tokens - 1),
           dim,       draft_tokens, dim_tile, buffer_num,
           elem_bytes};
  if (t.dim_tile <= 0) {
    const int64_t rows = std::max<int64_t>(1, t.window - 1);
    const int64_t per_row =
        d.ub_bytes / buffer_num / rows / 32 * 32;  // bytes of one row in one tile
    t.dim_tile = std::max<int64_t>(32 / elem_bytes, std::min(dim, per_row / elem_bytes));
  }
  return t;
}

}  // namespace npusim::conv_state_rollback
