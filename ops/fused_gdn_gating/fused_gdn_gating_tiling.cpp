#include "ops/fused_gdn_gating/fused_gdn_gating_tiling.h"

#include "ops/common/op_util.h"

namespace npusim::fused_gdn_gating {

int64_t Tiling::UbBytesPerRow() const {
  // Queues: a (bf16) in, g (fp32) out, and b (bf16) in + beta (bf16) out with the sigmoid.
  const int64_t queues = buffer_num * pitch * (2 + 4 + (with_sigmoid ? 2 + 2 : 0));
  // Work: a + dt_bias, softplus, tmp, threshold (fp32), broadcast dt_bias and -exp(A_log), mask.
  return queues + pitch * (4 * 6) + pitch / 8;
}

Tiling ComputeTiling(int64_t tokens, int64_t heads, bool with_sigmoid, int64_t rows_per_tile, int64_t buffer_num,
                     const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.heads = heads;
  t.pitch = kernel_util::PaddedCount(static_cast<uint64_t>(heads), 2);
  t.with_sigmoid = with_sigmoid;
  t.buffer_num = buffer_num;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  // At most 4096 elements per tile: the per-instruction startup is amortised well before that.
  const int64_t max_rows = std::min<int64_t>(t.split.per, std::max<int64_t>(1, 4096 / t.pitch));
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile : op_util::RowsThatFit(t.UbBytesPerRow(), 1024, d.ub_bytes, max_rows);
  return t;
}

}  // namespace npusim::fused_gdn_gating
