// SwiGLU out = silu(gate) * up, and SwigluStep out = min(silu(gate), L) * clamp(up, -L, L)
// (kernels.md §7.3), in fp32 between a cast in and a cast out.
#pragma once

#include "ops/swiglu/swiglu_tiling.h"

namespace npusim::swiglu {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;

template <class T>
class KernelSwiglu {
 public:
  void Init(GmBuffer* x, GmBuffer* out, const Tiling& t) {
    t_ = t;
    first_ = t.split.Begin(GetBlockIdx());
    count_ = t.split.Count(GetBlockIdx());
    xGm_.SetGlobalBuffer(x);
    outGm_.SetGlobalBuffer(out);
    const uint64_t n = static_cast<uint64_t>(t.rows_per_tile * t.col_pitch);
    const int bn = static_cast<int>(t.buffer_num);
    pipe_.InitBuffer(inGate_, bn, n * sizeof(T), "inQueueGate");
    pipe_.InitBuffer(inUp_, bn, n * sizeof(T), "inQueueUp");
    pipe_.InitBuffer(out_, bn, n * sizeof(T), "outQueue");
    pipe_.InitBuffer(g_, n * 4, "gateFp32");
    pipe_.InitBuffer(u_, n * 4, "upFp32");
    pipe_.InitBuffer(tmp_, n * 4, "tmpFp32");
  }

  void Process() {
    for (int64_t r = 0; r < count_; r += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, count_ - r));
      for (int64_t c = 0; c < t_.inter; c += t_.col_tile) {
        const uint32_t cols = static_cast<uint32_t>(std::min<int64_t>(t_.col_tile, t_.inter - c));
        CopyIn(first_ + r, c, rows, cols);
        Compute(rows);
        CopyOut(first_ + r, c, rows, cols);
      }
    }
  }

 private:
  void CopyIn(int64_t row, int64_t col, uint32_t rows, uint32_t cols) {
    const uint32_t pitch = static_cast<uint32_t>(t_.col_pitch);
    LocalTensor<T> g = inGate_.template AllocTensor<T>(), u = inUp_.template AllocTensor<T>();
    CopyRowsIn(g, xGm_[row * 2 * t_.inter + col], rows, cols, 2 * t_.inter, pitch);
    CopyRowsIn(u, xGm_[row * 2 * t_.inter + t_.inter + col], rows, cols, 2 * t_.inter, pitch);
    inGate_.EnQue(g);
    inUp_.EnQue(u);
  }
  void Compute(uint32_t rows) {
    const uint32_t n = rows * static_cast<uint32_t>(t_.col_pitch);
    LocalTensor<T> g = inGate_.template DeQue<T>(), u = inUp_.template DeQue<T>();
    LocalTensor<T> o = out_.template AllocTensor<T>();
    LocalTensor<float> gf = g_.Get<float>(), uf = u_.Get<float>();
    Cast(gf, g, CAST_NONE, n);
    Cast(uf, u, CAST_NONE, n);
    inGate_.FreeTensor(g);
    inUp_.FreeTensor(u);
    kernel_util::Silu(gf, gf, tmp_.Get<float>(), n);
    if (t_.limit > 0) {
      Mins(gf, gf, t_.limit, n);
      Mins(uf, uf, t_.limit, n);
      Maxs(uf, uf, -t_.limit, n);
    }
    Mul(gf, gf, uf, n);
    Cast(o, gf, CAST_RINT, n);
    out_.EnQue(o);
  }
  void CopyOut(int64_t row, int64_t col, uint32_t rows, uint32_t cols) {
    LocalTensor<T> o = out_.template DeQue<T>();
    CopyRowsOut(outGm_[row * t_.inter + col], o, rows, cols, t_.inter,
                static_cast<uint32_t>(t_.col_pitch));
    out_.FreeTensor(o);
  }

  Tiling t_;
  int64_t first_ = 0, count_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inGate_, inUp_;
  TQue<TPosition::VECOUT, 1> out_;
  TBuf<TPosition::VECCALC> g_, u_, tmp_;
  GlobalTensor<T> xGm_, outGm_;
};

}  // namespace npusim::swiglu
