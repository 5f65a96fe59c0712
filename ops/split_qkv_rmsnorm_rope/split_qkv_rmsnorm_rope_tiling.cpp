#include "ops/split_qkv_rmsnorm_rope/split_qkv_rmsnorm_rope_tiling.h"

namespace npusim::split_qkv_rmsnorm_rope {

Tiling ComputeTiling(int64_t tokens, int64_t q_hidden, int64_t kv_hidden, int64_t head_dim,
                     int64_t rope_dim, float eps, const std::string& grid, const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.q_hidden = q_hidden;
  t.kv_hidden = kv_hidden;
  t.head_dim = head_dim;
  t.rope_dim = rope_dim;
  t.eps = eps;
  t.wide =
      grid == "wide" || (grid == "auto" && tokens >= kWideMinTokens && q_hidden <= kWideMaxQHidden);
  const int64_t vector_cores = d.aiv_count;
  if (t.wide) {
    t.n_cols = 1;
    t.n_rows = vector_cores;
    t.q_block_n = q_hidden / head_dim;
    t.k_block_n = kv_hidden / head_dim;
  } else {
    t.n_cols = kv_hidden / head_dim;
    t.n_rows = (vector_cores + t.n_cols - 1) / t.n_cols;
    t.q_block_n = q_hidden / kv_hidden;
    t.k_block_n = 1;
  }
  return t;
}

}  // namespace npusim::split_qkv_rmsnorm_rope
