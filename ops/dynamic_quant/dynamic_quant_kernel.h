// Per-token symmetric int8 quantisation (W8A8 dynamic, kernels.md §7.4):
// s[t] = max_j |x[t,j]| / 127, q[t,j] = rint(x[t,j] / s[t]) saturated to int8.
#pragma once

#include <algorithm>

#include "ops/dynamic_quant/dynamic_quant_tiling.h"

namespace npusim::dynamic_quant {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;

template <class T>
class KernelDynamicQuant {
 public:
  void Init(GmBuffer* x, GmBuffer* q, GmBuffer* scale, const Tiling& t) {
    t_ = t;
    first_ = t.split.Begin(GetBlockIdx());
    count_ = t.split.Count(GetBlockIdx());
    xGm_.SetGlobalBuffer(x);
    qGm_.SetGlobalBuffer(q);
    scaleGm_.SetGlobalBuffer(scale);
    const uint64_t n = static_cast<uint64_t>(t.rows_per_tile * t.pitch);
    const int bn = static_cast<int>(t.buffer_num);
    pipe_.InitBuffer(inX_, bn, n * sizeof(T), "inQueueX");
    pipe_.InitBuffer(outQ_, bn, n, "outQueueQ");
    pipe_.InitBuffer(outScale_, bn, static_cast<uint64_t>(t.rows_per_tile) * 4, "outQueueScale");
    pipe_.InitBuffer(xf_, static_cast<uint64_t>(t.pitch) * 4, "xFp32");
    pipe_.InitBuffer(abs_, static_cast<uint64_t>(t.pitch) * 4, "absFp32");
    pipe_.InitBuffer(red_, 64, "reduceOut");
  }

  void Process() {
    if (t_.col_chunk > 0) {
      for (int64_t r = 0; r < count_; ++r) LongRow(first_ + r);
      return;
    }
    for (int64_t r = 0; r < count_; r += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, count_ - r));
      LocalTensor<T> x = inX_.template AllocTensor<T>();
      CopyRowsIn(x, xGm_[(first_ + r) * t_.hidden], rows, static_cast<uint32_t>(t_.hidden),
                 t_.hidden, static_cast<uint32_t>(t_.pitch));
      inX_.EnQue(x);
      Compute(rows);
      CopyOut(first_ + r, rows);
    }
  }

 private:
  // One row in col_chunk pieces: pass 1 takes max |x| over the pieces, pass 2 reads them again
  // and quantises with the row's scale.
  void LongRow(int64_t row) {
    const int64_t h = t_.hidden, c = t_.col_chunk;
    LocalTensor<float> xf = xf_.Get<float>(), ab = abs_.Get<float>(), red = red_.Get<float>();
    float mx = 0;
    for (int64_t c0 = 0; c0 < h; c0 += c) {
      const uint32_t n = static_cast<uint32_t>(std::min(c, h - c0));
      LocalTensor<T> x = LoadPiece(row * h + c0, n);
      Cast(xf, x, CAST_NONE, n);
      Abs(ab, xf, n);
      ReduceMax(red, ab, ab, n);
      kernel_util::WaitVectorForScalar();
      mx = std::max(mx, red.GetValue(0));
      inX_.FreeTensor(x);
    }
    const float s = mx / 127.0f;
    for (int64_t c0 = 0; c0 < h; c0 += c) {
      const uint32_t n = static_cast<uint32_t>(std::min(c, h - c0));
      LocalTensor<T> x = LoadPiece(row * h + c0, n);
      LocalTensor<int8_t> q = outQ_.template AllocTensor<int8_t>();
      Cast(xf, x, CAST_NONE, n);
      Muls(xf, xf, s > 0 ? 1.0f / s : 0.0f, n);
      Cast(q, xf, CAST_RINT, n);
      inX_.FreeTensor(x);
      outQ_.EnQue(q);
      q = outQ_.template DeQue<int8_t>();
      kernel_util::CopyOut(qGm_[row * h + c0], q, n);
      outQ_.FreeTensor(q);
    }
    LocalTensor<float> scale = outScale_.template AllocTensor<float>();
    kernel_util::Sync<HardEvent::MTE3_S>();  // an earlier row's scale copy-out has read this buffer
    scale.SetValue(0, s);
    kernel_util::WaitScalarForVector();
    outScale_.EnQue(scale);
    scale = outScale_.template DeQue<float>();
    kernel_util::CopyOut(scaleGm_[row], scale, 1);
    outScale_.FreeTensor(scale);
  }

  // n elements of x from GM offset `at`, through the input queue (the caller frees it).
  LocalTensor<T> LoadPiece(int64_t at, uint32_t n) {
    LocalTensor<T> x = inX_.template AllocTensor<T>();
    kernel_util::CopyIn(x, xGm_[at], n);
    inX_.EnQue(x);
    return inX_.template DeQue<T>();
  }

  void Compute(uint32_t rows) {
    const uint32_t h = static_cast<uint32_t>(t_.hidden);
    LocalTensor<T> x = inX_.template DeQue<T>();
    LocalTensor<int8_t> q = outQ_.template AllocTensor<int8_t>();
    LocalTensor<float> scale = outScale_.template AllocTensor<float>();
    LocalTensor<float> xf = xf_.Get<float>(), ab = abs_.Get<float>(), red = red_.Get<float>();
    for (uint32_t r = 0; r < rows; ++r) {
      Cast(xf, x[r * t_.pitch], CAST_NONE, h);
      Abs(ab, xf, h);
      ReduceMax(red, ab, ab, h);
      kernel_util::WaitVectorForScalar();
      const float s = red.GetValue(0) / 127.0f;
      scale.SetValue(r, s);
      // An all-zero row quantises to zeros with scale 0 (no division by zero).
      Muls(xf, xf, s > 0 ? 1.0f / s : 0.0f, h);
      Cast(q[r * t_.pitch], xf, CAST_RINT, h);
    }
    kernel_util::WaitScalarForVector();  // the scales written by the scalar unit reach MTE3 via the
                                         // queue
    inX_.FreeTensor(x);
    outQ_.EnQue(q);
    outScale_.EnQue(scale);
  }
  void CopyOut(int64_t row, uint32_t rows) {
    LocalTensor<int8_t> q = outQ_.template DeQue<int8_t>();
    CopyRowsOut(qGm_[row * t_.hidden], q, rows, static_cast<uint32_t>(t_.hidden), t_.hidden,
                static_cast<uint32_t>(t_.pitch));
    outQ_.FreeTensor(q);
    LocalTensor<float> scale = outScale_.template DeQue<float>();
    kernel_util::CopyOut(scaleGm_[row], scale, rows);
    outScale_.FreeTensor(scale);
  }

  Tiling t_;
  int64_t first_ = 0, count_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inX_;
  TQue<TPosition::VECOUT, 1> outQ_, outScale_;
  TBuf<TPosition::VECCALC> xf_, abs_, red_;
  GlobalTensor<T> xGm_;
  GlobalTensor<int8_t> qGm_;
  GlobalTensor<float> scaleGm_;
};

}  // namespace npusim::dynamic_quant
