// Row norms (RMSNorm, gated RMSNorm, L2 norm): copy a tile of rows in (MTE2), normalise row by row
// in fp32 (V, with the sum of squares read by the scalar unit), cast and copy out (MTE3); queues
// overlap the tiles.
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
  void Init(GmBuffer* x, GmBuffer* w, GmBuffer* residual, GmBuffer* z, GmBuffer* y,
            GmBuffer* residual_out, const Tiling& t) {
    t_ = t;
    first_ = t.split.Begin(GetBlockIdx());
    count_ = t.split.Count(GetBlockIdx());
    xGm_.SetGlobalBuffer(x);
    yGm_.SetGlobalBuffer(y);
    if (w) wGm_.SetGlobalBuffer(w);
    const bool sliced = t.cols_per_tile > 0;
    const uint64_t tile_bytes =
        static_cast<uint64_t>(sliced ? t.cols_per_tile : t.rows_per_tile * t.cols_padded) *
        sizeof(T);
    const uint64_t f32_bytes =
        kernel_util::PaddedCount(sliced ? t.cols_per_tile : t.cols, 4) * 4ull;
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
    if (t_.cols_per_tile > 0) {
      for (int64_t r = 0; r < count_; ++r) ProcessSlicedRow(first_ + r);
      return;
    }
    if (t_.variant != Variant::kL2) LoadWeight();
    for (int64_t r = 0; r < count_; r += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, count_ - r));
      CopyIn(first_ + r, rows);
      Compute(rows);
      CopyOut(first_ + r, rows);
    }
  }

 private:
  // A row wider than the UB: pass 1 adds the residual slice by slice (writing residual_out) and
  // sums the squares on the scalar unit; pass 2 reads each slice again (x and residual: the sum
  // is recomputed, bit-identical, rather than read back from GM), scales it by the row's inverse
  // RMS and the weight slice, and writes y.
  void ProcessSlicedRow(int64_t row) {
    const int64_t W = t_.cols_per_tile, cols = t_.cols;
    LocalTensor<float> xf = xf_.Get<float>(), tmp = tmp_.Get<float>(), tmp2 = tmp2_.Get<float>(),
                       w = weight_.Get<float>();
    LocalTensor<float> red = red_.Get<float>();
    float sum = 0;
    for (int64_t c0 = 0; c0 < cols; c0 += W) {
      const uint32_t n = static_cast<uint32_t>(std::min<int64_t>(W, cols - c0));
      CopySliceIn(row, c0, n, false);
      LocalTensor<T> x = inX_.template DeQue<T>();
      Cast(xf, x, CAST_NONE, n);
      inX_.FreeTensor(x);
      if (t_.residual) {
        LocalTensor<T> res = inRes_.template DeQue<T>(), out = outRes_.template AllocTensor<T>();
        AddResidual(xf, res, out, tmp, n);
        inRes_.FreeTensor(res);
        outRes_.EnQue(out);
        out = outRes_.template DeQue<T>();
        CopyRowsOut(resOutGm_[row * cols + c0], out, 1, n, cols);
        outRes_.FreeTensor(out);
      }
      Mul(tmp, xf, xf, n);
      ReduceSum(red, tmp, tmp2, n);
      kernel_util::WaitVectorForScalar();
      sum += red.GetValue(0);
    }
    const float inv =
        1.0f /
        std::sqrt((t_.variant == Variant::kL2 ? sum : sum / static_cast<float>(cols)) + t_.eps);
    for (int64_t c0 = 0; c0 < cols; c0 += W) {
      const uint32_t n = static_cast<uint32_t>(std::min<int64_t>(W, cols - c0));
      CopySliceIn(row, c0, n, true);
      if (t_.variant != Variant::kL2) LoadWeightSlice(c0, n);
      LocalTensor<T> x = inX_.template DeQue<T>(), y = outY_.template AllocTensor<T>();
      Cast(xf, x, CAST_NONE, n);
      inX_.FreeTensor(x);
      if (t_.residual) {
        LocalTensor<T> res = inRes_.template DeQue<T>();
        AddResidual(xf, res, y, tmp, n);  // y holds the rounded sum until it is overwritten below
        inRes_.FreeTensor(res);
      }
      Muls(xf, xf, inv, n);
      if (t_.variant != Variant::kL2) Mul(xf, xf, w, n);
      if (t_.variant == Variant::kGated) {
        LocalTensor<T> z = inZ_.template DeQue<T>();
        Cast(tmp, z, CAST_NONE, n);
        inZ_.FreeTensor(z);
        kernel_util::Silu(tmp, tmp, tmp2, n);
        Mul(xf, xf, tmp, n);
      }
      Cast(y, xf, CAST_RINT, n);
      outY_.EnQue(y);
      y = outY_.template DeQue<T>();
      CopyRowsOut(yGm_[row * cols + c0], y, 1, n, cols);
      outY_.FreeTensor(y);
    }
  }

  // xf += residual, rounded to the activation dtype (it is the next residual) into `rounded`.
  void AddResidual(const LocalTensor<float>& xf, const LocalTensor<T>& res,
                   const LocalTensor<T>& rounded, const LocalTensor<float>& tmp, uint32_t n) {
    Cast(tmp, res, CAST_NONE, n);
    Add(xf, xf, tmp, n);
    Cast(rounded, xf, CAST_RINT, n);
    Cast(xf, rounded, CAST_NONE, n);
  }

  // One slice of x (and residual; z in the second pass) into the input queues.
  void CopySliceIn(int64_t row, int64_t c0, uint32_t n, bool second_pass) {
    const int64_t at = row * t_.cols + c0;
    LocalTensor<T> x = inX_.template AllocTensor<T>();
    CopyRowsIn(x, xGm_[at], 1, n, t_.cols);
    inX_.EnQue(x);
    if (t_.residual) {
      LocalTensor<T> res = inRes_.template AllocTensor<T>();
      CopyRowsIn(res, resGm_[at], 1, n, t_.cols);
      inRes_.EnQue(res);
    }
    if (second_pass && t_.variant == Variant::kGated) {
      LocalTensor<T> z = inZ_.template AllocTensor<T>();
      CopyRowsIn(z, zGm_[at], 1, n, t_.cols);
      inZ_.EnQue(z);
    }
  }

  // Weight columns [c0, c0 + n) -> fp32 (the zero-centred variant keeps 1 + w).
  void LoadWeightSlice(int64_t c0, uint32_t n) {
    LocalTensor<T> raw = tmp2_.Get<T>();
    kernel_util::Sync<HardEvent::V_MTE2>();  // the previous slice's vector work may still read tmp2
    kernel_util::CopyIn(raw, wGm_[c0], n);
    kernel_util::Sync<HardEvent::MTE2_V>();
    LocalTensor<float> w = weight_.Get<float>();
    Cast(w, raw, CAST_NONE, n);
    if (t_.variant == Variant::kZeroCentred) Adds(w, w, 1.0f, n);
  }

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
    LocalTensor<float> xf = xf_.Get<float>(), tmp = tmp_.Get<float>(), tmp2 = tmp2_.Get<float>(),
                       w = weight_.Get<float>();
    LocalTensor<float> red = red_.Get<float>();
    for (uint32_t r = 0; r < rows; ++r) {
      Cast(xf, x[r * stride], CAST_NONE, cols);
      if (t_.residual) AddResidual(xf, res[r * stride], resOut[r * stride], tmp, cols);
      Mul(tmp, xf, xf, cols);
      ReduceSum(red, tmp, tmp2, cols);
      kernel_util::WaitVectorForScalar();
      const float sum = red.GetValue(0);
      const float inv =
          1.0f /
          std::sqrt((t_.variant == Variant::kL2 ? sum : sum / static_cast<float>(cols)) + t_.eps);
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
