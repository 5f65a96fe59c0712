// Row norms (RMSNorm, gated RMSNorm, L2 norm): copy a tile of rows in (MTE2), normalise row by row in fp32 (V, with the
// sum of squares read by the scalar unit), cast and copy out (MTE3); queues overlap the tiles.
#pragma once

#include <cmath>

#include "ops/rms_norm/rms_norm_tiling.h"

namespace npusim::rms_norm {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;

template <class T>
class KernelRmsNorm {
 public:
  // `residual`/`residual_out` only with t.residual, `z` only for the gated variant.
  void Init(GmBuffer* x, GmBuffer* w, GmBuffer* residual, GmBuffer* z, GmBuffer* y, GmBuffer* residual_out, const Tiling& t) {
    t_ = t;
    first_ = t.split.Begin(GetBlockIdx());
    count_ = t.split.Count(GetBlockIdx());
    xGm_.SetGlobalBuffer(x);
    yGm_.SetGlobalBuffer(y);
    if (w) wGm_.SetGlobalBuffer(w);
    const uint64_t tile_bytes = static_cast<uint64_t>(t.rows_per_tile * t.cols_padded) * sizeof(T);
    const uint64_t f32_bytes = kernel_util::PaddedCount(t.cols, 4) * 4ull;
    const int n = static_cast<int>(t.buffer_num);
    pipe_.InitBuffer(inX_, n, tile_bytes, "inQueueX");
    if (t.residual) {
      resGm_.SetGlobalBuffer(residual);
      resOutGm_.SetGlobalBuffer(residual_out);
      pipe_.InitBuffer(inRes_, n, tile_bytes, "inQueueResidual");
      pipe_.InitBuffer(outRes_, n, tile_bytes, "outQueueResidual");
    }
    if (t.variant == Variant::kGated) {
      zGm_.SetGlobalBuffer(z);
      pipe_.InitBuffer(inZ_, n, tile_bytes, "inQueueZ");
    }
    pipe_.InitBuffer(outY_, n, tile_bytes, "outQueueY");
    pipe_.InitBuffer(weight_, f32_bytes, "weightFp32");
    pipe_.InitBuffer(xf_, f32_bytes, "xFp32");
    pipe_.InitBuffer(tmp_, f32_bytes, "tmpFp32");
    pipe_.InitBuffer(tmp2_, f32_bytes, "tmp2Fp32");
    pipe_.InitBuffer(red_, 64, "reduceOut");
  }

  void Process() {
    if (count_ == 0) return;
    if (t_.variant != Variant::kL2) LoadWeight();
    for (int64_t r = 0; r < count_; r += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, count_ - r));
      CopyIn(first_ + r, rows);
      Compute(rows);
      CopyOut(first_ + r, rows);
    }
  }

 private:
  // w -> fp32 once; the zero-centred variant keeps (1 + w).
  void LoadWeight() {
    const uint32_t cols = static_cast<uint32_t>(t_.cols);
    LocalTensor<T> raw = tmp2_.Get<T>();  // scratch until the first row needs it
    kernel_util::CopyIn(raw, wGm_, cols);
    kernel_util::Sync<HardEvent::MTE2_V>();
    LocalTensor<float> w = weight_.Get<float>();
    Cast(w, raw, CAST_NONE, cols);
    if (t_.variant == Variant::kZeroCentred) Adds(w, w, 1.0f, cols);
  }

  void CopyIn(int64_t row, uint32_t rows) {
    const uint32_t cols = static_cast<uint32_t>(t_.cols);
    LocalTensor<T> x = inX_.template AllocTensor<T>();
    CopyRowsIn(x, xGm_[row * t_.cols], rows, cols, t_.cols);
    inX_.EnQue(x);
    if (t_.residual) {
      LocalTensor<T> res = inRes_.template AllocTensor<T>();
      CopyRowsIn(res, resGm_[row * t_.cols], rows, cols, t_.cols);
      inRes_.EnQue(res);
    }
    if (t_.variant == Variant::kGated) {
      LocalTensor<T> z = inZ_.template AllocTensor<T>();
      CopyRowsIn(z, zGm_[row * t_.cols], rows, cols, t_.cols);
      inZ_.EnQue(z);
    }
  }

  void Compute(uint32_t rows) {
    const uint32_t cols = static_cast<uint32_t>(t_.cols);
    const int64_t stride = t_.cols_padded;
    LocalTensor<T> x = inX_.template DeQue<T>();
    LocalTensor<T> y = outY_.template AllocTensor<T>();
    LocalTensor<T> res, resOut, z;
    if (t_.residual) {
      res = inRes_.template DeQue<T>();
      resOut = outRes_.template AllocTensor<T>();
    }
    if (t_.variant == Variant::kGated) z = inZ_.template DeQue<T>();
    LocalTensor<float> xf = xf_.Get<float>(), tmp = tmp_.Get<float>(), tmp2 = tmp2_.Get<float>(), w = weight_.Get<float>();
    LocalTensor<float> red = red_.Get<float>();
    for (uint32_t r = 0; r < rows; ++r) {
      Cast(xf, x[r * stride], CAST_NONE, cols);
      if (t_.residual) {  // the sum is rounded to the activation dtype: it is the next residual
        Cast(tmp, res[r * stride], CAST_NONE, cols);
        Add(xf, xf, tmp, cols);
        Cast(resOut[r * stride], xf, CAST_RINT, cols);
        Cast(xf, resOut[r * stride], CAST_NONE, cols);
      }
      Mul(tmp, xf, xf, cols);
      ReduceSum(red, tmp, tmp2, cols);
      kernel_util::WaitVectorForScalar();
      const float sum = red.GetValue(0);
      const float inv = 1.0f / std::sqrt((t_.variant == Variant::kL2 ? sum : sum / static_cast<float>(cols)) + t_.eps);
      Muls(xf, xf, inv, cols);
      if (t_.variant != Variant::kL2) Mul(xf, xf, w, cols);
      if (t_.variant == Variant::kGated) {
        Cast(tmp, z[r * stride], CAST_NONE, cols);
        kernel_util::Silu(tmp, tmp, tmp2, cols);
        Mul(xf, xf, tmp, cols);
      }
      Cast(y[r * stride], xf, CAST_RINT, cols);
    }
    inX_.FreeTensor(x);
    if (t_.residual) {
      inRes_.FreeTensor(res);
      outRes_.EnQue(resOut);
    }
    if (t_.variant == Variant::kGated) inZ_.FreeTensor(z);
    outY_.EnQue(y);
  }

  void CopyOut(int64_t row, uint32_t rows) {
    const uint32_t cols = static_cast<uint32_t>(t_.cols);
    LocalTensor<T> y = outY_.template DeQue<T>();
    CopyRowsOut(yGm_[row * t_.cols], y, rows, cols, t_.cols);
    outY_.FreeTensor(y);
    if (t_.residual) {
      LocalTensor<T> r = outRes_.template DeQue<T>();
      CopyRowsOut(resOutGm_[row * t_.cols], r, rows, cols, t_.cols);
      outRes_.FreeTensor(r);
    }
  }

  Tiling t_;
  int64_t first_ = 0, count_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inX_, inRes_, inZ_;
  TQue<TPosition::VECOUT, 1> outY_, outRes_;
  TBuf<TPosition::VECCALC> weight_, xf_, tmp_, tmp2_, red_;
  GlobalTensor<T> xGm_, yGm_, wGm_, resGm_, resOutGm_, zGm_;
};

}  // namespace npusim::rms_norm
