// Long streaming launches timed from two small probes of the same tile shape (Op::Extrapolate,
// ops/op.h; ops/runner.cpp fits a block's cycles as a fixed part + a part per item of work on
// the probes' first block to finish, i.e. under full contention, and gives the full launch its
// slowest block under that fit). Two families qualify, because every item of their work costs
// the same once the pipeline is full and their blocks share HBM and L2 the same way in a probe
// as in the full launch:
//
// - RowStream: the element-wise row kernels (the norms, SwiGLU, dynamic quant, RoPE, the
//   attention gate) split rows contiguously over AIV blocks (kernel_util::BlockSplit) and walk
//   them tile by tile through one double-buffered CopyIn / Compute / CopyOut loop; each row is
//   read and written once, the per-column parameters once per block. Probes: 16 and 32 tiles per
//   block with the launch's rows (and columns) per tile pinned.
// - TileStream: the cube matmuls deal base_m x base_n output tiles round-robin to the AIC blocks
//   and walk K per tile. Probes keep n, k and the base sizes and take fewer row bands of tiles:
//   at least 16 bands, and enough for 16 tiles per block in the smaller. The fit's per-tile cost
//   is the marginal cost between the two probes, after the first bands have warmed L2 as they do
//   in the full launch (with 4 bands the warm-up leaked into the per-tile cost: +3.4 % on a
//   32768 x 5120 x 34816 quant_matmul whose weights fill L2; +0.1 % with 16).
//
// What is not carried over: a block's partial last tile (priced per row, or as a whole tile:
// one tile in hundreds). tests/ops/extrapolation_test.cpp holds each op's extrapolated time
// against its full simulation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/common/kernel_util.h"
#include "ops/op.h"

namespace npusim::op_util {

// Row launches whose blocks run more than this many tiles each are timed from probes. Below it a
// launch simulates in a fraction of a second, so a serving run's ordinary prefill chunks (a few
// thousand tokens) keep their simulated times and only the long prefills (tens of thousands of
// tokens, seconds each to simulate) are extrapolated.
inline constexpr int64_t kRowExtrapolateAboveTiles = 256;
// Matmuls with more than this many times the larger probe's row bands are timed from probes.
inline constexpr int64_t kTileExtrapolateAboveProbes = 4;
// The smaller matmul probe's row bands, at least.
inline constexpr int64_t kTileProbeMinBands = 16;

using Pins = std::vector<std::pair<std::string, int64_t>>;  // parameters the probes fix

struct RowStream {
  kernel_util::BlockSplit split;  // the full launch's rows over blocks
  int64_t rows_per_tile = 0;      // the full launch's tile
  int64_t rows_per_token = 1;     // rows of one `tokens` step (heads, for per-head norms)
  int64_t max_blocks = 0;         // the block cap the op's tiling splits with (AIV cores)
  Pins pins;                      // the launch's tiling: rows_per_tile, cols_per_tile, ...
  std::string tokens_key = "tokens";
};

struct TileStream {
  int64_t tiles_m = 0, tiles_n = 0, blocks = 0, base_m = 0;  // the full launch's tiling
  Pins pins;                                                 // base_m, base_n, base_k
  std::string rows_key = "m";
};

// A cube matmul tiling's stream (matmul::Tiling: tiles_m, tiles_n, blocks, base_m/n/k).
template <class MatmulTiling>
TileStream TileStreamOf(const MatmulTiling& t) {
  return {t.tiles_m,
          t.tiles_n,
          t.blocks,
          t.base_m,
          {{"base_m", t.base_m}, {"base_n", t.base_n}, {"base_k", t.base_k}}};
}

// nullopt when the launch is small enough to simulate or not split evenly enough to extrapolate.
std::optional<Extrapolation> RowStreamExtrapolation(const ParamValues& p, const RowStream& s);
std::optional<Extrapolation> TileStreamExtrapolation(const ParamValues& p, const TileStream& s);

}  // namespace npusim::op_util
