#include "ops/fused_gdn_gating/fused_gdn_gating_tiling.h"

#include <algorithm>
#include <cmath>

#include "ops/common/op_util.h"

namespace npusim::fused_gdn_gating {

int64_t Tiling::UbBytesPerRow() const {
  // Queues: a (bf16) in, g (fp32) out, and b (bf16) in + beta (bf16) out with the sigmoid.
  const int64_t queues = buffer_num * pitch * (2 + 4 + (with_sigmoid ? 2 + 2 : 0));
  // Work: a + dt_bias, softplus, tmp, threshold (fp32), broadcast dt_bias and -exp(A_log), mask.
  return queues + pitch * (4 * 6) + pitch / 8;
}

Tiling ComputeTiling(int64_t tokens, int64_t heads, bool with_sigmoid, int64_t rows_per_tile,
                     int64_t buffer_num, const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.heads = heads;
  t.pitch = kernel_util::PaddedCount(static_cast<uint64_t>(heads), 2);
  t.with_sigmoid = with_sigmoid;
  t.buffer_num = buffer_num;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  // At most 4096 elements per tile: the per-instruction startup is amortised well before that.
  const int64_t max_rows = std::min<int64_t>(t.split.per, std::max<int64_t>(1, 4096 / t.pitch));
  t.rows_per_tile = rows_per_tile > 0
                        ? rows_per_tile
                        : op_util::RowsThatFit(t.UbBytesPerRow(), 1024, d.ub_bytes, max_rows);
  return t;
}

TritonGrid ComputeTritonGrid(int64_t tokens, int64_t heads, int64_t elem_bytes,
                             const DeviceConfig& d) {
  TritonGrid g;
  g.col_iter = (heads + g.blk_heads - 1) / g.blk_heads;
  g.pitch = 32 / elem_bytes;    // a block row of 8 heads of a / b in one 32 B block; the fp32 tiles
                                // use the same element pitch
  if (tokens <= d.aiv_count) {  // one row per program
    g.programs = tokens;
    return g;
  }
  // The launcher's rule: its UB constant is 1,572,864 (the UB in bits, taken as bytes), 95 % of
  // it over 8 x heads rows of a block, to a power of two, halved; at most 64 rows.
  const auto ub = static_cast<double>(d.ub_bytes * 8) * 0.95;
  const int64_t fit = static_cast<int64_t>(
      std::ceil(ub / static_cast<double>(8 * heads * g.blk_heads * elem_bytes)));
  int64_t pow2 = 1;
  while (pow2 < fit) pow2 *= 2;
  const int64_t max_ub_rows =
      static_cast<int64_t>(ub / static_cast<double>(g.blk_heads * elem_bytes));
  g.programs = d.aiv_count;
  g.blk_batches = std::max<int64_t>(1, std::min({pow2 / 2, max_ub_rows, int64_t{64}}));
  const int64_t rows_per_program = (tokens + g.programs - 1) / g.programs;
  g.row_iter = (rows_per_program + g.blk_batches - 1) / g.blk_batches;
  return g;
}

}  // namespace npusim::fused_gdn_gating
