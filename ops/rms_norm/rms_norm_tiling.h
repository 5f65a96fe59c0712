// Host tiling of the row-norm family (RMSNorm, gated RMSNorm, L2 norm): rows (tokens, or tokens x
// heads for the gated GDN norm) split over AIV blocks, `rows_per_tile` rows per UB tile.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::rms_norm {

enum class Variant {
  kZeroCentred,  // y = x * rsqrt(mean(x^2) + eps) * (1 + w)          (Gemma style, §8)
  kGated,        // y = x * rsqrt(mean(x^2) + eps) * w * silu(z)       (GDN output norm, §8)
  kL2,  // y = x * rsqrt(sum(x^2) + eps)                       (q/k of the chunk path, §3.1)
};

struct Tiling {
  Variant variant = Variant::kZeroCentred;
  bool residual = false;  // fused x += residual before the norm (zero-centred only)
  int64_t rows = 0, cols = 0, cols_padded = 0;
  int64_t rows_per_tile = 0, buffer_num = 2;
  // > 0: one row does not fit the UB next to its fp32 work buffers (hidden above ~6k with the
  // fused residual), so each row goes through in slices of this many columns, in two passes as
  // the vendor norms split D: sums of squares slice by slice, then the scaled slices (x, and the
  // residual, read again). 0: whole rows, `rows_per_tile` at a time.
  int64_t cols_per_tile = 0;
  kernel_util::BlockSplit split;
  float eps = 1e-6f;
};

// rows_per_tile 0 = as many as fit the UB next to the fp32 work buffers (at most 64).
// cols_per_tile 0 = whole rows when one fits, else (unless rows_per_tile is forced) the widest
// slice, a multiple of 64 columns, that fits.
Tiling ComputeTiling(Variant v, bool residual, int64_t rows, int64_t cols, int64_t elem_bytes,
                     double eps, int64_t rows_per_tile, int64_t buffer_num, const DeviceConfig& d,
                     int64_t cols_per_tile = 0);

}  // namespace npusim::rms_norm
