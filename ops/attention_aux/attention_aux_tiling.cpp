#include "ops/attention_aux/attention_aux_tiling.h"

#include <algorithm>

#include "model/error.h"
#include "ops/common/op_util.h"

namespace npusim::attention_aux {

RopeTiling ComputeRopeTiling(int64_t tokens, int64_t heads_q, int64_t heads_k, int64_t dim,
                             int64_t rot, int64_t rows_per_tile, const DeviceConfig& d) {
  RopeTiling t;
  t.tokens = tokens;
  t.heads_q = heads_q;
  t.heads_k = heads_k;
  t.dim = dim;
  t.rot = rot;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  const int64_t width = (heads_q + heads_k) * dim;
  t.rows_per_tile = rows_per_tile > 0
                        ? rows_per_tile
                        : op_util::RowsThatFit(width * 6 + rot * 4, rot * 4, d.ub_bytes,
                                               std::min<int64_t>(32, t.split.per));
  return t;
}

GateTiling ComputeGateTiling(int64_t tokens, int64_t heads, int64_t dim, bool headwise,
                             int64_t rows_per_tile, const DeviceConfig& d) {
  GateTiling t;
  t.tokens = tokens;
  t.heads = heads;
  t.dim = dim;
  t.headwise = headwise;
  if ((heads * dim) % 16)
    throw InputError("heads x head_dim must be a multiple of 16 (whole 32 B rows)");
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  const int64_t w = heads * dim;
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile
                                      : op_util::RowsThatFit(w * (headwise ? 6 : 16), 0, d.ub_bytes,
                                                             std::min<int64_t>(64, t.split.per));
  return t;
}

MaskTiling ComputeMaskTiling(int64_t batch, int64_t cols, int64_t window, const DeviceConfig& d) {
  MaskTiling t;
  t.batch = batch;
  t.cols = cols;
  t.window = window;
  t.split = kernel_util::BlockSplit(batch, d.aiv_count);
  return t;
}

}  // namespace npusim::attention_aux
