// `.contiguous()` of a column slice: `rows` rows of `cols` elements that start `offset` elements
// into rows `stride` elements apart, copied into a dense [rows, cols] tensor. The rows are split
// contiguously over AIV blocks; each block moves up to half a UB of rows per tile, in and out
// through one buffer (no double buffering: torch's view copy of a few decode rows is one tile).
// Used where a framework splits a fused projection into separate tensors between kernels
// (vllm-ascend's rearrange_mixed_qkv: q, k and v of a GDN layer, three launches).
#pragma once

#include <algorithm>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::strided_copy {

using namespace npusim::ascendc;

struct Tiling {
  int64_t rows = 0, cols = 0, stride = 0, offset = 0, rows_per_tile = 1;
  kernel_util::BlockSplit split;
};

// A tile's rows: at most half the UB of padded rows, and at most 4095 (DataCopyPad's documented
// blockCount range on A2/A3).
inline Tiling ComputeTiling(int64_t rows, int64_t cols, int64_t stride, int64_t offset,
                            int64_t elem_bytes, const DeviceConfig& d) {
  Tiling t;
  t.rows = rows, t.cols = cols, t.stride = stride, t.offset = offset;
  t.split = kernel_util::BlockSplit(rows, d.aiv_count);
  const int64_t row_bytes =
      kernel_util::PaddedCount(static_cast<uint64_t>(cols), static_cast<uint64_t>(elem_bytes)) *
      elem_bytes;
  t.rows_per_tile = std::clamp<int64_t>(d.ub_bytes / 2 / std::max<int64_t>(1, row_bytes), 1,
                                        std::max<int64_t>(1, std::min<int64_t>(t.split.per, 4095)));
  return t;
}

template <class T>
class KernelStridedCopy {
 public:
  void Init(GmBuffer* src, GmBuffer* dst, const Tiling& t) {
    t_ = t;
    src_.SetGlobalBuffer(src);
    dst_.SetGlobalBuffer(dst);
    pitch_ = kernel_util::PaddedCount(static_cast<uint64_t>(t.cols), sizeof(T));
    pipe_.InitBuffer(buf_, static_cast<uint64_t>(t.rows_per_tile) * pitch_ * sizeof(T), "rows");
  }
  void Process() {
    const int64_t first = t_.split.Begin(GetBlockIdx()), count = t_.split.Count(GetBlockIdx());
    const auto cols = static_cast<uint32_t>(t_.cols);
    LocalTensor<T> rows = buf_.Get<T>();
    for (int64_t r = first; r < first + count; r += t_.rows_per_tile) {
      const auto n = static_cast<uint32_t>(std::min(t_.rows_per_tile, first + count - r));
      kernel_util::Sync<HardEvent::MTE3_MTE2>();  // the previous tile has been written out
      kernel_util::CopyRowsIn(rows, src_[r * t_.stride + t_.offset], n, cols,
                              static_cast<uint64_t>(t_.stride), pitch_);
      kernel_util::Sync<HardEvent::MTE2_MTE3>();
      kernel_util::CopyRowsOut(dst_[r * t_.cols], rows, n, cols, static_cast<uint64_t>(t_.cols),
                               pitch_);
    }
  }

 private:
  Tiling t_;
  uint32_t pitch_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> buf_;
  GlobalTensor<T> src_, dst_;
};

}  // namespace npusim::strided_copy
