// Host tiling of the MoE kernels: gating and finalize split tokens over the AIV blocks, init
// routing splits the expanded (token, choice) rows; each moves `rows_per_tile` rows per UB tile
// (finalize takes a wide hidden row in column passes). The expert GEMM's own problem list needs
// group_list's counts and is built in its op; its shape checks and int8 tiling live here.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"
#include "ops/matmul/matmul_tiling.h"

namespace npusim::moe {

struct GatingTiling {
  int64_t tokens = 0, experts = 0, top_k = 0, rows_per_tile = 1;
  bool sigmoid = false, renormalize = true, has_bias = false;
  float scaling = 1.0f;
  kernel_util::BlockSplit split;
};

struct RoutingTiling {
  int64_t tokens = 0, hidden = 0, top_k = 0, experts = 0, rows_per_tile = 1;
  int64_t cols_per_tile =
      0;  // finalize: hidden columns per pass (0 = all; a wide row times top_k may not fit UB)
  int shared = 0;  // finalize: 0 none, 1 plain shared expert, 2 sigmoid-gated shared expert
  kernel_util::BlockSplit split;  // init: over expanded rows; finalize: over tokens
};

// `rows_per_tile` of 0 means "as many as fit, at most 16" in every function below (64 for init
// routing, whose rows are plain copies).
// Gating: per token the fp32 scores and the top-k weights and ids; per block the selection,
// temporary and bias rows of all experts.
GatingTiling ComputeGatingTiling(int64_t tokens, int64_t experts, int64_t top_k, bool sigmoid,
                                 bool has_bias, bool renormalize, double scaling,
                                 int64_t rows_per_tile, const DeviceConfig& d);
// Init routing: per row one padded hidden row; per block its expanded rows' ids and the
// per-expert counts.
RoutingTiling ComputeInitRoutingTiling(int64_t tokens, int64_t hidden, int64_t top_k,
                                       int64_t experts, int64_t elem_bytes, int64_t rows_per_tile,
                                       const DeviceConfig& d);
// Finalize routing: a token's top_k expert rows and the shared one, in the element type and in
// fp32, are fixed; each token row of the tile adds an fp32 sum and an output row.
RoutingTiling ComputeFinalizeRoutingTiling(int64_t tokens, int64_t hidden, int64_t top_k,
                                           int64_t experts, int shared, int64_t elem_bytes,
                                           int64_t rows_per_tile, const DeviceConfig& d);

// grouped_matmul's checks before any problem is built: InputError when k or base_k is not a
// whole number of 32 B (the ND cube path has no K padding).
void CheckGroupedShape(int64_t k, int64_t base_k, int64_t elem_bytes);
// grouped_matmul quant=w8a8|w4a8: base_m / base_n as given, base_k the largest that fits L0;
// InputError unless base_n is a multiple of 32 (an int8 L1 row is padded to 32 B, so a
// narrower tile would not hold its own rows).
matmul::Tiling ComputeGroupedQuantTiling(int64_t rows, int64_t n, int64_t k, int64_t base_m,
                                         int64_t base_n, bool trans_b, const std::string& quant,
                                         const DeviceConfig& d);

}  // namespace npusim::moe
