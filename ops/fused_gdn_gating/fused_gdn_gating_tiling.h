// Host tiling of `fused_gdn_gating`: token rows split over AIV blocks; a UB tile holds
// `rows_per_tile` rows of HV heads, each row padded to a common pitch so bf16 and fp32 rows
// both start 32 B aligned.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::fused_gdn_gating {

// `impl: triton`: the Triton kernel as vllm-ascend / sgl-kernel-npu launch it (the grid of the
// benchmark behind calibration.md C5): up to one program per vector core, each looping over
// blocks of `blk_batches` token rows x `blk_heads` heads, one block after another with nothing
// overlapped (Triton-Ascend does not double-buffer the loop).
struct TritonGrid {
  int64_t programs = 1, blk_heads = 8, blk_batches = 1, row_iter = 1, col_iter = 1;
  int64_t pitch =
      16;  // UB elements per block row: 8 heads padded to a 32 B bf16 block, fp32 rows alike
};
TritonGrid ComputeTritonGrid(int64_t tokens, int64_t heads, int64_t elem_bytes,
                             const DeviceConfig& d);

struct Tiling {
  bool triton = false;
  TritonGrid grid;
  int64_t tokens = 0, heads = 0, pitch = 0;
  int64_t rows_per_tile = 0, buffer_num = 2;
  bool with_sigmoid = true;  // false: the without_sigmoid variant (g only; b passes through raw)
  float threshold = 20.0f;   // softplus: x above it is taken as is
  kernel_util::BlockSplit split;
  int64_t UbBytesPerRow() const;
};

Tiling ComputeTiling(int64_t tokens, int64_t heads, bool with_sigmoid, int64_t rows_per_tile,
                     int64_t buffer_num, const DeviceConfig& d);

}  // namespace npusim::fused_gdn_gating
