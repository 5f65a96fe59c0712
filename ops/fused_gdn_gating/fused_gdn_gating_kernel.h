// fused_gdn_gating: g = -exp(A_log) * softplus(a + dt_bias) in fp32, beta = sigmoid(b) rounded
// to b's dtype (kernels.md §1). Per-head parameters are broadcast once over a tile of rows, then
// every tile is a handful of whole-tile vector instructions.
#pragma once

#include "ops/fused_gdn_gating/fused_gdn_gating_tiling.h"

namespace npusim::fused_gdn_gating {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;

// The fp32 work tiles of n elements both forms use: x, softplus, tmp, the threshold, the rows of
// dt_bias and -exp(A_log) broadcast over the tile, and the compare mask.
struct GatingWork {
  TBuf<TPosition::VECCALC> x, sp, tmp, limit, bias, negA, mask;
  void Init(TPipe& pipe, uint64_t n) {
    pipe.InitBuffer(x, n * 4, "xFp32");
    pipe.InitBuffer(sp, n * 4, "softplusFp32");
    pipe.InitBuffer(tmp, n * 4, "tmpFp32");
    pipe.InitBuffer(limit, n * 4, "thresholdFp32");
    pipe.InitBuffer(bias, n * 4, "dtBiasTile");
    pipe.InitBuffer(negA, n * 4, "negExpALogTile");
    pipe.InitBuffer(mask, (n + 7) / 8, "cmpMask");
  }
  // `cols` heads of dt_bias (through `raw`) and A_log -> `rows` identical rows of dt_bias and
  // -exp(A_log) in fp32, `pitch` apart.
  template <class T>
  void LoadParameters(const GlobalTensor<T>& dt_bias, const GlobalTensor<float>& a_log,
                      const LocalTensor<T>& raw, uint32_t cols, uint32_t rows, uint32_t pitch) {
    LocalTensor<float> b = bias.Get<float>(), na = negA.Get<float>();
    kernel_util::CopyIn(raw, dt_bias, cols);
    kernel_util::CopyIn(na, a_log, cols);
    kernel_util::Sync<HardEvent::MTE2_V>();
    Cast(b, raw, CAST_NONE, pitch);
    Exp(na, na, pitch);
    Muls(na, na, -1.0f, pitch);
    kernel_util::BroadcastRow(b, rows, pitch);
    kernel_util::BroadcastRow(na, rows, pitch);
  }
};

template <class T>  // T: dtype of a, b, dt_bias and beta
class KernelFusedGdnGating {
 public:
  void Init(GmBuffer* a, GmBuffer* b, GmBuffer* a_log, GmBuffer* dt_bias, GmBuffer* g,
            GmBuffer* beta, const Tiling& t) {
    t_ = t;
    first_ = t.split.Begin(GetBlockIdx());
    count_ = t.split.Count(GetBlockIdx());
    aGm_.SetGlobalBuffer(a);
    aLogGm_.SetGlobalBuffer(a_log);
    dtBiasGm_.SetGlobalBuffer(dt_bias);
    gGm_.SetGlobalBuffer(g);
    const uint64_t n = static_cast<uint64_t>(t.rows_per_tile * t.pitch);
    const int bn = static_cast<int>(t.buffer_num);
    pipe_.InitBuffer(inA_, bn, n * sizeof(T), "inQueueA");
    pipe_.InitBuffer(outG_, bn, n * 4, "outQueueG");
    if (t.with_sigmoid) {
      bGm_.SetGlobalBuffer(b);
      betaGm_.SetGlobalBuffer(beta);
      pipe_.InitBuffer(inB_, bn, n * sizeof(T), "inQueueB");
      pipe_.InitBuffer(outBeta_, bn, n * sizeof(T), "outQueueBeta");
    }
    w_.Init(pipe_, n);
  }

  void Process() {
    if (count_ == 0) return;
    LoadParameters();
    for (int64_t r = 0; r < count_; r += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, count_ - r));
      CopyIn(first_ + r, rows);
      Compute(rows);
      CopyOut(first_ + r, rows);
    }
  }

 private:
  // dt_bias (T) and A_log (fp32) -> tiles of rows_per_tile identical rows: dt_bias, -exp(A_log).
  void LoadParameters() {
    w_.LoadParameters(dtBiasGm_, aLogGm_, w_.tmp.Get<T>(), static_cast<uint32_t>(t_.heads),
                      static_cast<uint32_t>(t_.rows_per_tile), static_cast<uint32_t>(t_.pitch));
  }

  void CopyIn(int64_t row, uint32_t rows) {
    const uint32_t h = static_cast<uint32_t>(t_.heads), pitch = static_cast<uint32_t>(t_.pitch);
    LocalTensor<T> a = inA_.template AllocTensor<T>();
    CopyRowsIn(a, aGm_[row * t_.heads], rows, h, t_.heads, pitch);
    inA_.EnQue(a);
    if (t_.with_sigmoid) {
      LocalTensor<T> b = inB_.template AllocTensor<T>();
      CopyRowsIn(b, bGm_[row * t_.heads], rows, h, t_.heads, pitch);
      inB_.EnQue(b);
    }
  }

  void Compute(uint32_t rows) {
    const uint32_t n = rows * static_cast<uint32_t>(t_.pitch);
    LocalTensor<float> x = w_.x.Get<float>(), sp = w_.sp.Get<float>(), tmp = w_.tmp.Get<float>();
    LocalTensor<T> a = inA_.template DeQue<T>();
    LocalTensor<float> g = outG_.template AllocTensor<float>();
    Cast(x, a, CAST_NONE, n);
    inA_.FreeTensor(a);
    Add(x, x, w_.bias.Get<float>(), n);
    kernel_util::Softplus(sp, x, tmp, w_.limit.Get<float>(), w_.mask.Get<uint8_t>(), t_.threshold,
                          n);
    Mul(g, sp, w_.negA.Get<float>(), n);
    outG_.EnQue(g);
    if (t_.with_sigmoid) {
      LocalTensor<T> b = inB_.template DeQue<T>();
      LocalTensor<T> beta = outBeta_.template AllocTensor<T>();
      Cast(x, b, CAST_NONE, n);
      inB_.FreeTensor(b);
      kernel_util::Sigmoid(x, x, tmp, n);
      Cast(beta, x, CAST_RINT, n);
      outBeta_.EnQue(beta);
    }
  }

  void CopyOut(int64_t row, uint32_t rows) {
    const uint32_t h = static_cast<uint32_t>(t_.heads), pitch = static_cast<uint32_t>(t_.pitch);
    LocalTensor<float> g = outG_.template DeQue<float>();
    CopyRowsOut(gGm_[row * t_.heads], g, rows, h, t_.heads, pitch);
    outG_.FreeTensor(g);
    if (t_.with_sigmoid) {
      LocalTensor<T> beta = outBeta_.template DeQue<T>();
      CopyRowsOut(betaGm_[row * t_.heads], beta, rows, h, t_.heads, pitch);
      outBeta_.FreeTensor(beta);
    }
  }

  Tiling t_;
  int64_t first_ = 0, count_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inA_, inB_;
  TQue<TPosition::VECOUT, 1> outG_, outBeta_;
  GatingWork w_;
  GlobalTensor<T> aGm_, bGm_, dtBiasGm_, betaGm_;
  GlobalTensor<float> aLogGm_, gGm_;
};

// The Triton form (impl triton): each program walks its rows block by block and, inside, the
// heads 8 at a time; every block loads A_log, a, b and dt_bias, computes, stores g and beta, and
// the next block waits for those stores (its buffers are the same: no double buffering).
template <class T>
class KernelFusedGdnGatingTriton {
 public:
  void Init(GmBuffer* a, GmBuffer* b, GmBuffer* a_log, GmBuffer* dt_bias, GmBuffer* g,
            GmBuffer* beta, const Tiling& t) {
    t_ = t;
    const TritonGrid& gr = t.grid;
    aGm_.SetGlobalBuffer(a);
    aLogGm_.SetGlobalBuffer(a_log);
    dtBiasGm_.SetGlobalBuffer(dt_bias);
    gGm_.SetGlobalBuffer(g);
    if (t.with_sigmoid) {
      bGm_.SetGlobalBuffer(b);
      betaGm_.SetGlobalBuffer(beta);
    }
    const uint64_t n = static_cast<uint64_t>(gr.blk_batches * gr.pitch);
    pipe_.InitBuffer(in_, n * sizeof(T), "blk_a_b");
    pipe_.InitBuffer(out_, n * sizeof(T), "blk_beta");
    w_.Init(pipe_, n);
  }

  void Process() {
    const TritonGrid& gr = t_.grid;
    // Program i owns rows [i x row_iter x blk_batches, ...) as the kernel indexes them: with few
    // tokens the first programs get whole blocks and the rest nothing (their blocks are all
    // masked).
    const int64_t per = gr.row_iter * gr.blk_batches;
    const int64_t first = GetBlockIdx() * per, last = std::min(t_.tokens, first + per);
    for (int64_t r = first; r < last; r += gr.blk_batches)
      for (int64_t c = 0; c < gr.col_iter; ++c)
        Block(r, static_cast<uint32_t>(std::min(gr.blk_batches, last - r)), c);
  }

 private:
  void Block(int64_t row, uint32_t rows, int64_t col) {
    const int64_t h0 = col * t_.grid.blk_heads;
    const auto cols = static_cast<uint32_t>(std::min(t_.grid.blk_heads, t_.heads - h0));
    const auto pitch = static_cast<uint32_t>(t_.grid.pitch), n = rows * pitch;
    LocalTensor<T> raw = in_.Get<T>(), beta = out_.Get<T>();
    LocalTensor<float> x = w_.x.Get<float>(), sp = w_.sp.Get<float>(), tmp = w_.tmp.Get<float>();
    LocalTensor<float> bias = w_.bias.Get<float>(), negA = w_.negA.Get<float>();
    // tl.load(A_log), tl.load(dt_bias): one row each, broadcast over the block's rows.
    w_.LoadParameters(dtBiasGm_[h0], aLogGm_[h0], raw, cols, rows, pitch);
    kernel_util::Sync<HardEvent::V_MTE2>();
    // g = -exp(A_log) * softplus(a + dt_bias)
    kernel_util::CopyRowsIn(raw, aGm_[row * t_.heads + h0], rows, cols, t_.heads, pitch);
    kernel_util::Sync<HardEvent::MTE2_V>();
    Cast(x, raw, CAST_NONE, n);
    Add(x, x, bias, n);
    kernel_util::Softplus(sp, x, tmp, w_.limit.Get<float>(), w_.mask.Get<uint8_t>(), t_.threshold,
                          n);
    Mul(sp, sp, negA, n);
    kernel_util::Sync<HardEvent::V_MTE3>();
    kernel_util::CopyRowsOut(gGm_[row * t_.heads + h0], sp, rows, cols, t_.heads, pitch);
    if (t_.with_sigmoid) {  // beta = sigmoid(b), in b's dtype
      kernel_util::Sync<HardEvent::V_MTE2>();
      kernel_util::CopyRowsIn(raw, bGm_[row * t_.heads + h0], rows, cols, t_.heads, pitch);
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(x, raw, CAST_NONE, n);
      kernel_util::Sigmoid(x, x, tmp, n);
      Cast(beta, x, CAST_RINT, n);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyRowsOut(betaGm_[row * t_.heads + h0], beta, rows, cols, t_.heads, pitch);
    }
    PipeBarrier<PIPE_ALL>();  // the next block reuses every buffer
  }

  Tiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, out_;
  GatingWork w_;
  GlobalTensor<T> aGm_, bGm_, dtBiasGm_, betaGm_;
  GlobalTensor<float> aLogGm_, gGm_;
};

}  // namespace npusim::fused_gdn_gating
