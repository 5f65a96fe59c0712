// Host tiling of `quant_matmul` (and of `grouped_matmul quant=w8a8|w4a8`, which runs the same
// kernel): the matmul family's base sizes for int8 operands, the list of output tiles the blocks
// walk, and the GM workspaces the AIC -> AIV hand-off needs, sized before the device is known.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/device_config.h"
#include "ops/matmul/matmul_tiling.h"

namespace npusim::quant_matmul {

constexpr int kSlots = 2;  // workspace slots per block: the cube runs one tile ahead of the AIVs

// One output tile: rows [row, row + m) of x, s_x and y; columns [n0, n0 + n) of y; the weight
// operand starts at element w_off (row stride k when trans_b, else ldw) and its per-channel
// scales at sw_off.
struct Tile {
  int64_t row = 0, n0 = 0;
  uint32_t m = 0, n = 0;
  uint64_t w_off = 0, sw_off = 0;
};

struct Plan {
  matmul::Tiling t;   // base sizes, k (the x row stride), n (the y row stride), trans_b
  int64_t ldw = 0;    // weight row stride when not transposed (elements)
  bool int4 = false;  // weights are packed int4 (offsets and strides above stay in elements)
  std::vector<Tile> tiles;
};

// GM workspaces are sized before the device is known: for this many AIC blocks at most, above
// the AIC count of every A2/A3 part (ref §1.2: at most 25).
constexpr int64_t kMaxBlocks = 32;
// int32 elements of the accumulator workspace: kSlots tiles of base_m x base_n per block.
int64_t AccWorkspaceElems(int64_t base_m, int64_t base_n);
// The accumulator workspace for the largest tile ComputeTiling can pick for an m x n product
// (0 base sizes: at most 128 x 256, the matmul family's caps).
int64_t LargestAccWorkspaceElems(int64_t m, int64_t n, int64_t base_m, int64_t base_n);
// int8 elements of one W4A8 weight slot (the tile's weights as the cube reads them: rows padded
// to 32 B), and of all slots.
uint64_t WeightSlotElems(int64_t k, int64_t base_n);
int64_t WeightSlotsElems(int64_t k, int64_t base_n);

// The matmul family's tiling for int8 operands; InputError when it needs more blocks than the
// workspaces hold.
matmul::Tiling ComputeTiling(int64_t m, int64_t n, int64_t k, int64_t base_m, int64_t base_n,
                             int64_t base_k, int64_t buffer_num, bool trans_b,
                             const DeviceConfig& d);

// Appends the tiles of the product of x rows [row0, row0 + m) with the weight at w_base (a
// [k, ldw] or [n, k] matrix) and scales at sw_base, row-major over the tile grid.
void AddTiles(Plan& p, int64_t row0, int64_t m, uint64_t w_base, uint64_t sw_base);

}  // namespace npusim::quant_matmul
