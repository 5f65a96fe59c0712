#include "ops/move_intermediate_cache/move_intermediate_cache_tiling.h"

namespace npusim::move_intermediate_cache {

int64_t NextPow2(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

Tiling ComputeTiling(int64_t layers, int64_t requests, int64_t draft_tokens, int64_t heads,
                     int64_t k_dim, int64_t v_dim, int64_t pool, int64_t h_block,
                     int64_t buffer_num, int64_t elem_bytes) {
  Tiling t{layers, requests, draft_tokens,    heads,           k_dim,      v_dim,
           pool,   h_block,  NextPow2(v_dim), NextPow2(k_dim), buffer_num, elem_bytes};
  t.row_pitch_bytes = (t.block_k * elem_bytes + 31) / 32 * 32;
  t.tile_bytes = h_block * t.block_v * t.row_pitch_bytes;
  return t;
}

}  // namespace npusim::move_intermediate_cache
