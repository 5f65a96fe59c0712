// Host tiling of `recurrent_gated_delta_rule`: work items are (request, value head, V block)
// triples split contiguously over AIV blocks.
//   triton_chain: the Triton path's tiling: a program per (V block of block_v columns, request,
//                 head), state rows = K ([HV, K, V] pool layout), state in fp32 registers.
//   fused:        the AscendC op: one item per (request, head) with the whole [V, K] state in UB,
//                 pool layout [HV, V, K] (kernels.md §3.5-3.6).
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::recurrent_gdr {

enum class Layout { kKV, kVK };  // physical state layout per head: [K, V] or [V, K]

struct Tiling {
  int64_t batch = 0, tokens = 1;  // tokens per request: 1 (decode) or d (verify)
  int64_t heads_k = 0, heads_v = 0, k_dim = 0, v_dim = 0;
  Layout layout = Layout::kKV;
  int64_t block_v = 0, v_blocks = 1;
  int64_t rows = 0, cols = 0,
          col_pitch = 0;     // the UB state tile: rows x cols (padded to col_pitch)
  bool verify = false;       // write per-token states to `intermediate`, leave the pool untouched
  bool sigmoid_beta = true;  // fused: beta input is raw b, sigmoid applied in-kernel
  bool normalise = true;     // L2-normalise q and k in the kernel (multi_op: done before it)
  float scale = 1.0f;
  int64_t program_cycles =
      0;  // triton_chain: the Triton program prologue per item (device triton.program_cycles)
  kernel_util::BlockSplit split;
};

Tiling ComputeTiling(int64_t batch, int64_t tokens, int64_t heads_k, int64_t heads_v, int64_t k_dim,
                     int64_t v_dim, Layout layout, int64_t block_v, bool verify, bool sigmoid_beta,
                     const DeviceConfig& d);

}  // namespace npusim::recurrent_gdr
