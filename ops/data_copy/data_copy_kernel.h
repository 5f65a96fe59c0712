// `data_copy` device kernel: a read-only sweep of an fp16 matrix from GM into UB (DataCopyPad,
// one burst per tile row) or into L1 (DataCopy with Nd2Nz), tile after tile into buffer_num
// alternating slots with no wait between copies: nothing reads them, MTE2 runs its instructions
// in order and is the only busy pipe, as in the sample it models (MTE2 ratio 0.97-0.99 there).
// With write_back (UB only) every tile is stored to y as it came, so a functional run checks the
// strides and tails of each copy against the input.
#pragma once

#include <algorithm>

#include "devices/ascendc/kernel_operator.h"
#include "ops/common/cube_util.h"
#include "ops/data_copy/data_copy_tiling.h"

namespace npusim::data_copy {

using namespace npusim::ascendc;
using half = npusim::ascendc::half;
using cube_util::AlignUp;

template <TPosition kPos>
class KernelDataCopy {
 public:
  void Init(GmBuffer* x, GmBuffer* y, const DataCopyTiling& t, bool write_back) {
    t_ = t;
    write_back_ = write_back;
    x_.SetGlobalBuffer(x);
    y_.SetGlobalBuffer(y);
    const auto tm = static_cast<uint32_t>(t.tile_m), tn = static_cast<uint32_t>(t.tile_n);
    // L1: Nz fractals of 16 x 16; UB: each row padded to 32 B.
    tile_bytes_ = kPos == TPosition::A1 ? uint64_t{AlignUp(tm, 16)} * AlignUp(tn, 16) * 2
                                        : uint64_t{tm} * AlignUp(tn * 2, 32);
    pipe_.InitBuffer(buf_, tile_bytes_ * static_cast<uint64_t>(t.buffer_num), "tiles");
  }

  void Process() {
    const int64_t row0 = GetBlockIdx() * t_.rows_per_core;
    const int64_t rows = std::max<int64_t>(0, std::min(t_.rows_per_core, t_.m - row0));
    const int64_t slice_n = (t_.n + t_.slices - 1) / t_.slices;
    for (int64_t s = 0; s < t_.slices; ++s) {
      const int64_t c0 = s * slice_n, c1 = std::min(t_.n, c0 + slice_n);
      for (int64_t r = 0; r < t_.repeat; ++r)
        for (int64_t i = 0; i < rows; i += t_.tile_m)
          for (int64_t c = c0; c < c1; c += t_.tile_n)
            Tile(row0 + i, std::min(t_.tile_m, rows - i), c, std::min(t_.tile_n, c1 - c));
    }
  }

 private:
  void Tile(int64_t row, int64_t nrows, int64_t col, int64_t ncols) {
    const uint64_t slot = slot_++ % static_cast<uint64_t>(t_.buffer_num);
    LocalTensor<half> buf = buf_.template Get<half>()[slot * tile_bytes_ / sizeof(half)];
    const uint64_t at = static_cast<uint64_t>(row * t_.n + col);
    if constexpr (kPos == TPosition::A1) {
      Nd2NzParams p;
      p.nValue = static_cast<uint16_t>(nrows);
      p.dValue = static_cast<uint32_t>(ncols);
      p.srcDValue = static_cast<uint64_t>(t_.n);
      p.c0 = 16;  // 32 B of fp16: one fractal column block
      p.dstNzC0Stride = uint64_t{AlignUp(static_cast<uint32_t>(nrows), 16)} * p.c0;  // elements
      DataCopy(buf, x_[at], p);
      return;
    }
    // The tile's rows, one burst each; the rest of the GM row is the gap on the GM side.
    DataCopyExtParams rows;
    rows.blockCount = static_cast<uint16_t>(nrows);
    rows.blockLen = static_cast<uint32_t>(ncols * 2);
    const auto gm_gap = static_cast<uint32_t>((t_.n - ncols) * 2);
    rows.srcStride = gm_gap;
    DataCopyPad(buf, x_[at], rows);
    if (write_back_) {
      rows.srcStride = 0;
      rows.dstStride = gm_gap;
      SetFlag<HardEvent::MTE2_MTE3>(kKernelEventId);
      WaitFlag<HardEvent::MTE2_MTE3>(kKernelEventId);
      DataCopyPad(y_[at], buf, rows);
      SetFlag<HardEvent::MTE3_MTE2>(kKernelEventId);
      WaitFlag<HardEvent::MTE3_MTE2>(kKernelEventId);
    }
  }

  DataCopyTiling t_;
  bool write_back_ = false;
  TPipe pipe_;
  TBuf<kPos> buf_;
  uint64_t tile_bytes_ = 0, slot_ = 0;
  GlobalTensor<half> x_, y_;
};

}  // namespace npusim::data_copy
