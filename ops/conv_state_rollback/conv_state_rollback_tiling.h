// Host tiling of `conv_state_rollback`, the NPU conv-window shift after MTP acceptance
// (kernels.md §2.5): conv_states [L, P, W, dim] with W = (kw-1) + (d-1); for request b with
// last accepted step s, rows [0, W-shift) move to [shift, W), shift = (d-1) - s.
#pragma once

#include <cstdint>

#include "devices/device_config.h"

namespace npusim::conv_state_rollback {

struct Tiling {
  int64_t layers = 0, requests = 0, pool = 0, window = 0, dim = 0, draft_tokens = 0;
  int64_t dim_tile = 0;  // channels per UB tile
  int64_t buffer_num = 2;
  int64_t elem_bytes = 2;
};

// A tile holds up to W-1 rows of `dim_tile` channels; `dim_tile` = 0 picks the largest 32 B
// multiple that fits buffer_num tiles in UB, capped at the whole dim.
Tiling ComputeTiling(int64_t layers, int64_t requests, int64_t pool, int64_t conv_kernel,
                     int64_t draft_tokens, int64_t dim, int64_t dim_tile, int64_t buffer_num,
                     int64_t elem_bytes, const DeviceConfig& d);

}  // namespace npusim::conv_state_rollback
