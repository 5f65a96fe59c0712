// Host side of megagdn-pto's chunk-128 GDN prefill stages as standalone kernels
// (huawei-csl/megagdn-pto kernels/pto/scaled_dot_kkt.cpp and wy_fast.cpp @3a59190c, read for
// their structure; calibration.md C1's PTO column times them one launch each):
//
//   scaled_dot_kkt (mixed)  A[t, s] = (k_t . k_s) exp(min(G_t + ln beta_t - G_s, 0)) for s < t
//                           AIC: K K^T of a chunk -> a two-slot fp16 GM workspace per core;
//                           AIVs (rows 0-63 / 64-127): the gate coefficients, then A -> GM
//   wy_fast (mixed)         U = (A beta) V, W = (A beta exp(G)) K
//                           AIVs scale A's columns -> one-slot workspaces; AIC the two products
//   tri_inverse (cube)      (I + A)^-1 of every chunk's 128 x 128 block (solve_tril, from
//                           tri_inverse_impl.cpp): four tiles per core per iteration
//
// Layouts are the kernels': k [T, Hg, D], v [T, H, D], beta and G head-first [H, T], A
// [T, H, C]. Work goes round-robin over the launched cores: scaled_dot_kkt deals (sequence,
// head) pairs and walks their chunks in order; wy_fast deals (sequence, chunk, head) units.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace npusim::gdn_pto {

constexpr int64_t kChunk = 128;  // GDN_C
constexpr int64_t kHalf = kChunk / 2;

struct Dims {
  int64_t T = 0, B = 0, H = 0, Hg = 0, D = 0;
  std::vector<int64_t> bos, lens;  // per sequence
  int64_t Chunks(int64_t b) const { return (lens[static_cast<size_t>(b)] + kChunk - 1) / kChunk; }
  int64_t TotalChunks() const;
};

Dims MakeDims(const std::vector<int64_t>& lens, int64_t heads, int64_t key_heads, int64_t dim);

// One (sequence, chunk, head) unit of wy_fast, in the kernel's order.
struct Unit {
  int64_t seq = 0, start = 0, rows = 0, head = 0;
};
std::vector<Unit> WyUnits(const Dims& d);

// One 128 x 128 block of A [T, H, C] for tri_inverse: chunk-major, then head (the kernel's
// tile_id order); `offset` in elements of A (and of the fp32 output), `rows` valid rows and
// columns.
struct TriTile {
  int64_t offset = 0, rows = 0;
};
std::vector<TriTile> TriTiles(const Dims& d);
// Matrices a core loads together per iteration (NumTilesPerCubeIter: the harness's 4 whenever
// there are more than twice as many matrices as cores).
constexpr int kTriTilesPerIter = 4;

}  // namespace npusim::gdn_pto
