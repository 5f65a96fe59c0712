// Host side of `split_qkv_rmsnorm_rope` (sgl-kernel-npu's Triton kernel
// split_qkv_rmsnorm_rope_pos_cache_half_npu): the launch grid of its wrapper.
//
// Each program walks token rows serially, row_pid, row_pid + n_rows, ...: per row it reads the
// row's position, the cos / sin of that position, its Q block (q_block_n heads), K block and V
// block, normalises and rotates Q and K, and stores all three; Triton-Ascend issues each row's
// loads only after the previous row's stores (no double buffering), so a program's time is its
// row count times one row's load -> compute -> store chain.
//  - per-head grid: n_cols = kv heads programs across, each with its KV head's group of G Q
//    heads and one K / V head; n_rows = ceil(vector cores / n_cols).
//  - wide grid (sgl-kernel-npu PR #641, commit 39a95200): one program across (the whole Q, K and
//    V width per row), n_rows = vector cores: n_cols times fewer serial rows per program. The
//    wrapper takes it from 1024 tokens while q_hidden <= 8192 (the widest Q tile that still
//    compiled into the UB on 910B3: 12288 raised MLIRCompilationError).
#pragma once

#include <cstdint>
#include <string>

#include "devices/device_config.h"

namespace npusim::split_qkv_rmsnorm_rope {

constexpr int64_t kWideMinTokens = 1024;   // the wrapper's wide_grid_min_tokens default
constexpr int64_t kWideMaxQHidden = 8192;  // _WIDE_GRID_MAX_Q_HIDDEN

struct Tiling {
  int64_t tokens = 0, q_hidden = 0, kv_hidden = 0, head_dim = 0, rope_dim = 0;
  float eps = 1e-6f;
  bool wide = false;
  int64_t n_rows = 1, n_cols = 1;        // the grid: programs = n_rows x n_cols
  int64_t q_block_n = 1, k_block_n = 1;  // heads in a program's Q and K (and V) block
  int64_t Programs() const { return n_rows * n_cols; }
};

// grid: "auto" (the wrapper's rule), "per_head" or "wide".
Tiling ComputeTiling(int64_t tokens, int64_t q_hidden, int64_t kv_hidden, int64_t head_dim,
                     int64_t rope_dim, float eps, const std::string& grid, const DeviceConfig& d);

}  // namespace npusim::split_qkv_rmsnorm_rope
