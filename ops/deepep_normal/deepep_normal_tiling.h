// Host side of DeepEP's normal-mode dispatch and combine on Ascend (sgl-kernel-npu
// csrc/deepep cam_moe_dispatch_normal / cam_moe_combine_normal @f425bdf1, the commit whose
// README gives calibration.md C7): the routing table, each rank's window and receive layout, and
// the split of rows over AIV blocks.
//
// Routing: row (token t, slot k) of rank r goes to expert ((r * tokens + t) * top_k + k) mod
// experts, expert e living on rank e / (experts / ranks). A router without preference, as the C7
// benchmark draws it, made deterministic so that every rank's counts are known to the host and
// the reference.
//
// Layouts, as the kernels keep them:
//   window of rank s: its own rows, grouped by destination expert (global id order), each
//                     expert's rows in (t, k) order; slot of (t, k) = send_offset[s][e] + its
//                     index among s's rows for e.
//   output of rank d: the rows it receives, grouped by local expert, then source rank, then the
//                     source's (t, k) order (expert-major, as expand_x feeds the grouped GEMM).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::deepep_normal {

struct Routing {
  int64_t ranks = 1, tokens = 0, top_k = 1, experts = 1;

  int64_t LocalExperts() const { return experts / ranks; }
  int64_t Rows() const { return tokens * top_k; }  // rows each rank sends
  int64_t Expert(int64_t r, int64_t row) const { return (r * Rows() + row) % experts; }
  // Rows rank s sends to expert e, and the first row index that goes there (Rows() if none).
  int64_t Count(int64_t s, int64_t e) const;
  int64_t First(int64_t s, int64_t e) const;
  // Index of `row` among the rows rank s sends to its expert.
  int64_t IndexInExpert(int64_t s, int64_t row) const {
    return (row - First(s, Expert(s, row))) / experts;
  }
};

struct Tiling {
  Routing route;
  int64_t hidden = 0;
  bool quant = false;      // int8 dispatch with a per-row scale (DEEP_NORMAL_MODE_USE_INT8_QUANT)
  int64_t slot_elems = 0;  // window slot: the row, then (int8) its fp32 scale in a 32 B block
  int64_t recv_max = 0;    // the most rows any rank receives (the output's row capacity)
  std::vector<int64_t> send_offset;     // [ranks * experts]: slot of expert e's first row on rank s
  std::vector<int64_t> recv_offset;     // [ranks * experts]: rank d's output row of pair (le, s)
  std::vector<int64_t> recv_count;      // [ranks]
  kernel_util::BlockSplit rows_split;   // a rank's rows over AIV blocks (pack, combine push)
  kernel_util::BlockSplit pairs_split;  // (local expert, source rank) pairs over AIV blocks (pull)
  kernel_util::BlockSplit tokens_split;  // combine: a rank's tokens over AIV blocks (reduce)

  int64_t SendOffset(int64_t s, int64_t e) const { return send_offset[s * route.experts + e]; }
  // Output row of the first row rank d receives from source s for its local expert le.
  int64_t RecvOffset(int64_t d, int64_t le, int64_t s) const {
    return recv_offset[(d * route.LocalExperts() + le) * route.ranks + s];
  }
  // Where row `row` of rank s lands: its expert's rank and the row of that rank's output.
  std::pair<int64_t, int64_t> RecvRow(int64_t s, int64_t row) const {
    const int64_t e = route.Expert(s, row), Le = route.LocalExperts();
    return {e / Le, RecvOffset(e / Le, e % Le, s) + route.IndexInExpert(s, row)};
  }
};

// Throws InputError when experts is not a multiple of ranks.
Tiling ComputeTiling(const Routing& route, int64_t hidden, bool quant, const DeviceConfig& d);

}  // namespace npusim::deepep_normal
