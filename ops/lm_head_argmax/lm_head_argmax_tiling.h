// Host tiling of `lm_head_argmax`: the logits product tiled as the matmul family tiles it (every
// AIC takes output tiles of the [tokens, vocab shard] logits), then token rows over AIV blocks
// for the argmax, each row read in UB chunks of `cols` fp32 logits.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"
#include "ops/matmul/matmul_tiling.h"

namespace npusim::lm_head {

struct ArgmaxTiling {
  int64_t tokens = 0, vocab = 0, vocab_start = 0, cols = 0;  // cols: logits per UB chunk
  kernel_util::BlockSplit split;
};

struct Tiling {
  matmul::Tiling logits;  // logits = hidden W^T, W the [vocab, hidden] torch weight
  ArgmaxTiling argmax;
};

// `argmax_cols` of 0 means "as many as fit": the chunk and ReduceMax's work buffer, both fp32,
// share UB with 64 B kept for the reduce result (a multiple of 8 columns keeps rows 32 B whole).
Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t vocab, int64_t vocab_start,
                     int64_t elem_bytes, int64_t argmax_cols, const DeviceConfig& d);

}  // namespace npusim::lm_head
