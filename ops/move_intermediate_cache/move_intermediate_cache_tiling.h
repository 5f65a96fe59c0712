// Host tiling of `move_intermediate_cache`, the MTP ssm-state commit (kernels.md §4.3 step 4).
// Mirrors sgl-kernel-npu's Triton launch: one program per request, a 3-D tile
// [h_block, next_pow2(V), next_pow2(K)] per loop step, and the compiler's automatic
// multi-buffer (buffer_num copies of the tile) — the shape that overflows UB with fp32 state
// (scenario S1: 2 x 128 KiB > 192 KiB).
#pragma once

#include <cstdint>

namespace npusim::move_intermediate_cache {

struct Tiling {
  int64_t layers = 0, requests = 0, draft_tokens = 0, heads = 0, k_dim = 0, v_dim = 0, pool = 0;
  int64_t h_block = 0, block_v = 0, block_k = 0, buffer_num = 0, elem_bytes = 0;
  int64_t row_pitch_bytes = 0;  // UB bytes per tile row: block_k elements, 32 B aligned
  int64_t tile_bytes = 0;       // h_block x block_v rows
};

int64_t NextPow2(int64_t v);
Tiling ComputeTiling(int64_t layers, int64_t requests, int64_t draft_tokens, int64_t heads,
                     int64_t k_dim, int64_t v_dim, int64_t pool, int64_t h_block,
                     int64_t buffer_num, int64_t elem_bytes);

}  // namespace npusim::move_intermediate_cache
