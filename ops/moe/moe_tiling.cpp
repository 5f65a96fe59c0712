#include "ops/moe/moe_tiling.h"

#include <algorithm>
#include <string>

#include "model/error.h"
#include "ops/common/op_util.h"

namespace npusim::moe {

namespace {
int64_t Padded(int64_t n, int64_t elem_bytes) {
  return static_cast<int64_t>(
      kernel_util::PaddedCount(static_cast<uint64_t>(n), static_cast<uint64_t>(elem_bytes)));
}
}  // namespace

GatingTiling ComputeGatingTiling(int64_t tokens, int64_t experts, int64_t top_k, bool sigmoid,
                                 bool has_bias, bool renormalize, double scaling,
                                 int64_t rows_per_tile, const DeviceConfig& d) {
  GatingTiling t;
  t.tokens = tokens;
  t.experts = experts;
  t.top_k = top_k;
  t.sigmoid = sigmoid;
  t.has_bias = has_bias;
  t.renormalize = renormalize;
  t.scaling = static_cast<float>(scaling);
  const int64_t ep = Padded(experts, 4), kp = Padded(top_k, 4);
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  t.rows_per_tile = rows_per_tile > 0
                        ? rows_per_tile
                        : op_util::RowsThatFit(2 * ep * 4 + 2 * kp * 4, 3 * ep * 4 + 32, d.ub_bytes,
                                               std::min<int64_t>(16, t.split.per));
  return t;
}

RoutingTiling ComputeInitRoutingTiling(int64_t tokens, int64_t hidden, int64_t top_k,
                                       int64_t experts, int64_t elem_bytes, int64_t rows_per_tile,
                                       const DeviceConfig& d) {
  RoutingTiling t;
  t.tokens = tokens;
  t.hidden = hidden;
  t.top_k = top_k;
  t.experts = experts;
  t.split = kernel_util::BlockSplit(tokens * top_k, d.aiv_count);
  const int64_t row = Padded(hidden, elem_bytes) * elem_bytes;
  const int64_t fixed = (Padded(t.split.per, 4) + Padded(experts, 4)) * 4;
  t.rows_per_tile =
      rows_per_tile > 0 ? rows_per_tile : op_util::RowsThatFit(row, fixed, d.ub_bytes, 64);
  return t;
}

RoutingTiling ComputeFinalizeRoutingTiling(int64_t tokens, int64_t hidden, int64_t top_k,
                                           int64_t experts, int shared, int64_t elem_bytes,
                                           int64_t rows_per_tile, const DeviceConfig& d) {
  RoutingTiling t;
  t.tokens = tokens;
  t.hidden = hidden;
  t.top_k = top_k;
  t.experts = experts;
  t.shared = shared;
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  const int64_t s = elem_bytes;
  int64_t hp = Padded(hidden, s);
  // When a whole hidden row set does not fit UB, the kernel takes the hidden columns in passes.
  const int64_t per_col = (top_k + 2) * (s + 4);
  if (hp * per_col > d.ub_bytes) {
    t.cols_per_tile = std::max<int64_t>(
        16, d.ub_bytes / per_col / 16 * 16);  // 16: a 32 B block of bf16 and two of fp32
    hp = t.cols_per_tile;
  }
  const int64_t fixed = (top_k + 1) * hp * (s + 4);
  t.rows_per_tile = rows_per_tile > 0 ? rows_per_tile
                                      : op_util::RowsThatFit(hp * (4 + s), fixed, d.ub_bytes,
                                                             std::min<int64_t>(16, t.split.per));
  return t;
}

void CheckGroupedShape(int64_t k, int64_t base_k, int64_t elem_bytes) {
  if ((k * elem_bytes) % 32)
    throw InputError("k must be a whole number of 32 B rows (16 elements); pad K");
  // A tiling choice, checked as matmul checks it: bad input, not a failure of the simulated chip.
  if ((base_k * elem_bytes) % 32)
    throw InputError("base_k must be a whole number of 32 B (" + std::to_string(32 / elem_bytes) +
                     " elements)");
}

matmul::Tiling ComputeGroupedQuantTiling(int64_t rows, int64_t n, int64_t k, int64_t base_m,
                                         int64_t base_n, bool trans_b, const std::string& quant,
                                         const DeviceConfig& d) {
  if (base_n % 32)
    throw InputError("grouped_matmul quant=" + quant +
                     ": base_n must be a multiple of 32 (int8 rows are 32 B aligned in L1), got " +
                     std::to_string(base_n));
  return matmul::ComputeTiling(rows, n, k, 1, base_m, base_n, 0, 2, trans_b, d);
}

}  // namespace npusim::moe
