// Host tiling of the attention side kernels: every one splits its rows (tokens, or requests for
// the mask) over the AIV blocks; RoPE and the gate move `rows_per_tile` token rows per UB tile.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::attention_aux {

struct RopeTiling {
  int64_t tokens = 0, heads_q = 0, heads_k = 0, dim = 0, rot = 0, rows_per_tile = 1;
  kernel_util::BlockSplit split;
};

struct GateTiling {
  int64_t tokens = 0, heads = 0, dim = 0, rows_per_tile = 1;
  bool headwise = false;
  kernel_util::BlockSplit split;
};

struct MaskTiling {
  int64_t batch = 0, cols = 0, window = 0;
  kernel_util::BlockSplit split;
};

// `rows_per_tile` of 0 means "as many as fit, at most 32": per token the q and k rows in bf16
// and in fp32 (6 B per element) and the token's cos/sin in fp32, plus a fixed rot x 4 B scratch.
RopeTiling ComputeRopeTiling(int64_t tokens, int64_t heads_q, int64_t heads_k, int64_t dim,
                             int64_t rot, int64_t rows_per_tile, const DeviceConfig& d);
// `rows_per_tile` of 0 means "as many as fit, at most 64": per element the attention row in
// bf16 and fp32, and for an elementwise gate its row in bf16 and fp32 and an fp32 temporary
// (16 B; 6 B headwise). InputError unless a token's heads x dim bf16 row is whole 32 B blocks.
GateTiling ComputeGateTiling(int64_t tokens, int64_t heads, int64_t dim, bool headwise,
                             int64_t rows_per_tile, const DeviceConfig& d);
MaskTiling ComputeMaskTiling(int64_t batch, int64_t cols, int64_t window, const DeviceConfig& d);

}  // namespace npusim::attention_aux
