// Host tiling of the cube matmuls (`matmul`, `quant_matmul`, `grouped_matmul`, `lm_head_argmax`):
// the output is cut into base_m x base_n tiles dealt round-robin to the AIC blocks; each tile
// walks K in base_k steps through double-buffered L1 and L0 (ops/common/cube_util.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_config.h"

namespace npusim::matmul {

struct Tiling {
  int64_t m = 0, n = 0, k = 0;
  int64_t base_m = 0, base_n = 0, base_k = 0, buffer_num = 2;
  int64_t tiles_m = 0, tiles_n = 0, blocks = 0;
  bool trans_b = false;  // weight stored [N, K] (torch Linear) rather than [K, N]
};

// Zero base sizes are chosen: base_m up to 128 rows, base_n up to 256 columns but small enough
// that every AIC gets a tile when the output is small, base_k the largest power of two whose
// double-buffered L0A/L0B tiles fit. Forced sizes are kept, so an oversized one reports the
// L0/L1 overflow. InputError when K is not a whole number of 32 B (the ND cube path has no K
// padding).
Tiling ComputeTiling(int64_t m, int64_t n, int64_t k, int64_t in_bytes, int64_t base_m,
                     int64_t base_n, int64_t base_k, int64_t buffer_num, bool trans_b,
                     const DeviceConfig& d);

std::vector<std::pair<std::string, std::string>> Describe(const Tiling& t);

}  // namespace npusim::matmul
