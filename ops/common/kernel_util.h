// Building blocks the kernels share, in the spirit of AscendC's high-level APIs: copies that
// pick DataCopy or DataCopyPad by alignment, strided row copies, the V->S hand-off before a
// scalar read, and fp32 activations composed from basic vector instructions (so their cost is
// the cost of the instructions they issue, nothing assumed).
#pragma once

#include <algorithm>
#include <cstdint>

#include "devices/ascendc/kernel_operator.h"

namespace npusim::kernel_util {

using namespace npusim::ascendc;

// Elements per row once padded to the 32 B DataBlock a UB row starts on.
inline uint32_t PaddedCount(uint64_t count, uint64_t elem_bytes) {
  const uint64_t per_block = 32 / elem_bytes;
  return static_cast<uint32_t>((count + per_block - 1) / per_block * per_block);
}

// GM -> local, `count` elements.
template <class T>
void CopyIn(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t count) {
  if ((count * sizeof(T)) % 32 == 0) {
    DataCopy(dst, src, count);
  } else {
    DataCopyPad(dst, src, DataCopyExtParams{1, static_cast<uint32_t>(count * sizeof(T)), 0, 0, 0});
  }
}
// local -> GM, `count` elements, written exactly.
template <class T>
void CopyOut(const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count) {
  if ((count * sizeof(T)) % 32 == 0) {
    DataCopy(dst, src, count);
  } else {
    DataCopyPad(dst, src, DataCopyExtParams{1, static_cast<uint32_t>(count * sizeof(T)), 0, 0, 0});
  }
}
// `rows` rows of `cols` elements, `gm_stride` elements apart in GM, to/from UB rows
// `ub_pitch` elements apart (0 = PaddedCount(cols), the 32 B-aligned minimum). One MTE instruction.
template <class T>
void CopyRowsIn(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols,
                uint64_t gm_stride, uint32_t ub_pitch = 0) {
  const uint32_t bytes = cols * sizeof(T);
  const uint32_t gap = ub_pitch ? (ub_pitch - PaddedCount(cols, sizeof(T))) * sizeof(T) / 32 : 0;
  DataCopyPad(dst, src,
              DataCopyExtParams{static_cast<uint16_t>(rows), bytes,
                                static_cast<uint32_t>(gm_stride * sizeof(T) - bytes), gap, 0});
}
template <class T>
void CopyRowsOut(const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t rows,
                 uint32_t cols, uint64_t gm_stride, uint32_t ub_pitch = 0) {
  const uint32_t bytes = cols * sizeof(T);
  const uint32_t gap = ub_pitch ? (ub_pitch - PaddedCount(cols, sizeof(T))) * sizeof(T) / 32 : 0;
  DataCopyPad(dst, src,
              DataCopyExtParams{static_cast<uint16_t>(rows), bytes, gap,
                                static_cast<uint32_t>(gm_stride * sizeof(T) - bytes), 0});
}

// Repeats row 0 (`pitch` elements) of `t` into rows 1..rows-1 by doubling: log2(rows) vector
// instructions instead of one per row.
inline void BroadcastRow(const LocalTensor<float>& t, uint32_t rows, uint32_t pitch) {
  for (uint32_t have = 1; have < rows; have *= 2) {
    const uint32_t n = std::min(have, rows - have);
    Adds(t[have * pitch], t, 0.0f, n * pitch);
  }
}

// A [rows x cols] block in repeat-form instructions (RowBlock): op(r0, rows, c0, cols) for pieces
// of at most 255 rows and one 256 B repeat of `elem_bytes` elements per row.
template <class F>
void ForRepeatBlocks(uint32_t rows, uint32_t cols, uint32_t elem_bytes, F&& op) {
  const uint32_t step = 256 / elem_bytes;
  for (uint32_t r0 = 0; r0 < rows; r0 += 255)
    for (uint32_t c0 = 0; c0 < cols; c0 += step)
      op(r0, std::min(255u, rows - r0), c0, std::min(step, cols - c0));
}

// In a mixed (1:2) launch an AIV's GetBlockIdx() is 2 x group + GetSubBlockIdx() and
// GetBlockNum() twice the AIC count, as in AscendC: the AIC/AIV group index and count.
inline int64_t GroupIdx() { return ASCEND_IS_AIV ? GetBlockIdx() / 2 : GetBlockIdx(); }
inline int64_t GroupNum() { return ASCEND_IS_AIV ? GetBlockNum() / 2 : GetBlockNum(); }

// The destination pipe of `e` waits until the source pipe's work issued so far is done.
template <HardEvent e>
void Sync() {
  SetFlag<e>(kKernelEventId);
  WaitFlag<e>(kKernelEventId);
}
// The scalar unit reads a vector result: wait for the vector pipe first.
inline void WaitVectorForScalar() { Sync<HardEvent::V_S>(); }
// The vector pipe uses a value the scalar unit just wrote into a local tensor.
inline void WaitScalarForVector() { Sync<HardEvent::S_V>(); }

// dst = 1 / (1 + exp(-src)), fp32. `tmp` holds `count` floats; dst may alias src.
inline void Sigmoid(const LocalTensor<float>& dst, const LocalTensor<float>& src,
                    const LocalTensor<float>& tmp, uint32_t count) {
  Muls(tmp, src, -1.0f, count);
  Exp(tmp, tmp, count);
  Adds(tmp, tmp, 1.0f, count);
  Reciprocal(dst, tmp, count);
}
// dst = src * sigmoid(src) = src / (1 + exp(-src)), fp32; dst may alias src.
inline void Silu(const LocalTensor<float>& dst, const LocalTensor<float>& src,
                 const LocalTensor<float>& tmp, uint32_t count) {
  Muls(tmp, src, -1.0f, count);
  Exp(tmp, tmp, count);
  Adds(tmp, tmp, 1.0f, count);
  Div(dst, src, tmp, count);
}
// dst = src > threshold ? src : log(1 + exp(src)) (torch softplus, beta 1), fp32.
// `tmp` and `limit` hold `count` floats, `mask` count/8 bytes; dst must not alias src.
inline void Softplus(const LocalTensor<float>& dst, const LocalTensor<float>& src,
                     const LocalTensor<float>& tmp, const LocalTensor<float>& limit,
                     const LocalTensor<uint8_t>& mask, float threshold, uint32_t count) {
  Exp(tmp, src, count);
  Adds(tmp, tmp, 1.0f, count);
  Ln(tmp, tmp, count);
  Duplicate(limit, threshold, count);
  Compare(mask, src, limit, CMPMODE::GT, count);
  Select(dst, mask, src, tmp, SELMODE::VSEL_TENSOR_TENSOR_MODE, count);
}

// Contiguous split of `total` items over at most `max_blocks` blocks: block b owns
// [Begin(b), Begin(b) + Count(b)).
struct BlockSplit {
  int64_t total = 0, blocks = 1, per = 0;
  BlockSplit() = default;
  BlockSplit(int64_t total_items, int64_t max_blocks) : total(total_items) {
    blocks = std::max<int64_t>(1, std::min(total_items, max_blocks));
    per = (total_items + blocks - 1) / blocks;
    blocks = std::max<int64_t>(1, (total_items + per - 1) / per);
  }
  int64_t Begin(int64_t b) const { return std::min(total, b * per); }
  int64_t Count(int64_t b) const { return std::max<int64_t>(0, std::min(per, total - b * per)); }
};

}  // namespace npusim::kernel_util
