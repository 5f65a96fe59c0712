// Device kernels of DeepEP's normal mode, one rank's view, written after sgl-kernel-npu's
// cam_moe_dispatch_normal.h / cam_moe_combine_normal.h @f425bdf1. What makes normal mode cost
// what it does, and what these keep:
//   - it works one row (token, routed expert) at a time per AIV core, through a two-buffer queue;
//   - the int8 dispatch quantises every routed copy of a token again (Cast, Abs, max, Muls and
//     the fp32 -> int32 -> fp16 -> int8 cast chain, once per row, not once per token);
//   - data crosses the link once, one window slot per transfer: the sender packs its rows into
//     its own window, the receiver reads each slot from the sender's window and writes it out;
//   - the combine moves each expert output row back with a full pipe barrier and a 32 B status
//     write after every row, then each token's owner sums its top-k rows in fp32.
// Every rank runs the same kernels at once (the op launches one per rank); a slot read from a
// peer's window goes over the chip-to-chip link. The combine's per-row pushes are timed as the
// token owner's reads of the same rows (same bytes and link, same serialisation).
#pragma once

#include <algorithm>

#include "ops/common/kernel_util.h"
#include "ops/deepep_normal/deepep_normal_tiling.h"

namespace npusim::deepep_normal {

using namespace ascendc;

// Pack: each of this rank's rows, quantised (int8) or as is, into its slot of this rank's window.
template <class T, class W>  // T: the tokens' type; W: the window's (int8_t or T)
class KernelDispatchPack {
 public:
  void Init(const GmBuffer* x, const GmBuffer* window, const Tiling& t, int self) {
    t_ = t;
    self_ = self;
    x_.SetGlobalBuffer(const_cast<GmBuffer*>(x));
    win_.SetGlobalBuffer(const_cast<GmBuffer*>(window));
    const uint64_t h = static_cast<uint64_t>(t.hidden);
    const uint64_t row = kernel_util::PaddedCount(h, sizeof(T)) * sizeof(T);
    if (!t.quant) {
      pipe_.InitBuffer(relay_, 2, row, "xRelay");  // bf16 rows go straight back out
      return;
    }
    pipe_.InitBuffer(in_, 2, row, "xIn");
    {
      pipe_.InitBuffer(out_, 2, static_cast<uint64_t>(t.slot_elems), "slotOut");
      pipe_.InitBuffer(f32_, h * 4, "tokenFp32");
      pipe_.InitBuffer(abs_, h * 4, "tokenAbs");
      pipe_.InitBuffer(red_, 64, "reduceOut");
    }
  }
  void Process() {
    const Routing& r = t_.route;
    const int64_t b0 = t_.rows_split.Begin(GetBlockIdx());
    const int64_t end = b0 + t_.rows_split.Count(GetBlockIdx());
    const uint32_t h = static_cast<uint32_t>(t_.hidden);
    for (int64_t i = b0; i < end; ++i) {
      const int64_t e = r.Expert(self_, i);
      const int64_t slot = t_.SendOffset(self_, e) + r.IndexInExpert(self_, i);
      const GlobalTensor<T> src = x_[(self_ * r.tokens + i / r.top_k) * t_.hidden];
      if constexpr (std::is_same_v<W, int8_t>) {
        LocalTensor<T> x = in_.template AllocTensor<T>();
        kernel_util::CopyIn(x, src, h);
        in_.EnQue(x);
        Quantise(in_.template DeQue<T>(), slot);
      } else {
        LocalTensor<T> x = relay_.template AllocTensor<T>();
        kernel_util::CopyIn(x, src, h);
        relay_.EnQue(x);
        x = relay_.template DeQue<T>();
        kernel_util::CopyOut(win_[(self_ * r.Rows() + slot) * t_.slot_elems], x, h);
        relay_.FreeTensor(x);
      }
    }
  }

 private:
  // scale = 127 / max|x|; q = int8(fp16(int32(rint(x * scale)))); the slot keeps q and 1 / scale.
  void Quantise(const LocalTensor<T>& x, int64_t slot) {
    const uint32_t h = static_cast<uint32_t>(t_.hidden);
    LocalTensor<float> xf = f32_.template Get<float>(), ab = abs_.template Get<float>(),
                       red = red_.template Get<float>();
    Cast(xf, x, CAST_NONE, h);
    in_.FreeTensor(x);
    Abs(ab, xf, h);
    ReduceMax(red, ab, ab, h);
    kernel_util::WaitVectorForScalar();
    const float scale = 127.0f / (red.GetValue(0) + 1e-12f);
    kernel_util::WaitScalarForVector();
    Muls(xf, xf, scale, h);
    LocalTensor<W> q = out_.template AllocTensor<W>();
    LocalTensor<int32_t> xi = xf.template ReinterpretCast<int32_t>();
    LocalTensor<half> xh = xf.template ReinterpretCast<half>();
    Cast(xi, xf, CAST_RINT, h);
    Cast(xh, xi, CAST_ROUND, h);
    Cast(q, xh, CAST_TRUNC, h);
    kernel_util::Sync<HardEvent::V_S>();
    q.template ReinterpretCast<float>().SetValue(static_cast<uint64_t>(h / 4), 1.0f / scale);
    kernel_util::Sync<HardEvent::S_MTE3>();
    out_.EnQue(q);
    q = out_.template DeQue<W>();
    kernel_util::CopyOut(win_[(self_ * t_.route.Rows() + slot) * t_.slot_elems], q,
                         static_cast<uint32_t>(t_.slot_elems));
    out_.FreeTensor(q);
  }

  Tiling t_;
  int self_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> in_;
  TQue<TPosition::VECOUT, 1> out_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 2> relay_;
  TBuf<TPosition::VECCALC> f32_, abs_, red_;
  GlobalTensor<T> x_;
  GlobalTensor<W> win_;
};

// Pull: for each (local expert, source rank) pair of this block, the source's slots for that
// expert, read from the source's window, written to this rank's rows (and scales).
template <class W>
class KernelDispatchPull {
 public:
  void Init(const GmBuffer* window, const GmBuffer* out, const GmBuffer* scales, const Tiling& t,
            int self) {
    t_ = t;
    self_ = self;
    win_.SetGlobalBuffer(const_cast<GmBuffer*>(window));
    out_.SetGlobalBuffer(const_cast<GmBuffer*>(out));
    if (scales) scales_.SetGlobalBuffer(const_cast<GmBuffer*>(scales));
    pipe_.InitBuffer(
        que_, 2,
        kernel_util::PaddedCount(static_cast<uint64_t>(t.slot_elems), sizeof(W)) * sizeof(W),
        "slot");
  }
  void Process() {
    const Routing& r = t_.route;
    const int64_t R = r.ranks, Le = r.LocalExperts();
    const int64_t b0 = t_.pairs_split.Begin(GetBlockIdx());
    const int64_t end = b0 + t_.pairs_split.Count(GetBlockIdx());
    const uint32_t h = static_cast<uint32_t>(t_.hidden),
                   slot = static_cast<uint32_t>(t_.slot_elems);
    for (int64_t pair = b0; pair < end; ++pair) {
      const int64_t le = pair / R, s = pair % R, e = self_ * Le + le;
      const int64_t n = r.Count(s, e), from = t_.SendOffset(s, e), to = t_.RecvOffset(self_, le, s);
      for (int64_t j = 0; j < n; ++j) {
        LocalTensor<W> v = que_.template AllocTensor<W>();
        kernel_util::CopyIn(v, win_[(s * r.Rows() + from + j) * t_.slot_elems], slot);
        que_.EnQue(v);
        v = que_.template DeQue<W>();
        kernel_util::CopyOut(out_[(self_ * t_.recv_max + to + j) * t_.hidden], v, h);
        if (t_.quant)
          kernel_util::CopyOut(scales_[self_ * t_.recv_max + to + j],
                               v[h].template ReinterpretCast<float>(), 1);
        que_.FreeTensor(v);
      }
    }
  }

 private:
  Tiling t_;
  int self_ = 0;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 2> que_;
  GlobalTensor<W> win_, out_;
  GlobalTensor<float> scales_;
};

// Combine, first half: every row this rank's tokens were routed to comes back from the expert's
// rank into this rank's window (slot t * top_k + k), one row at a time, each followed by a full
// barrier and the 32 B status flag of that row.
template <class T>
class KernelCombinePush {
 public:
  void Init(const GmBuffer* y, const GmBuffer* window, const GmBuffer* status, const Tiling& t,
            int self) {
    t_ = t;
    self_ = self;
    y_.SetGlobalBuffer(const_cast<GmBuffer*>(y));
    win_.SetGlobalBuffer(const_cast<GmBuffer*>(window));
    status_.SetGlobalBuffer(const_cast<GmBuffer*>(status));
    pipe_.InitBuffer(
        que_, 2, kernel_util::PaddedCount(static_cast<uint64_t>(t.hidden), sizeof(T)) * sizeof(T),
        "row");
    pipe_.InitBuffer(flag_, 32, "status");
  }
  void Process() {
    const Routing& r = t_.route;
    const int64_t b0 = t_.rows_split.Begin(GetBlockIdx());
    const int64_t end = b0 + t_.rows_split.Count(GetBlockIdx());
    const uint32_t h = static_cast<uint32_t>(t_.hidden);
    LocalTensor<int32_t> flag = flag_.template Get<int32_t>();
    for (int64_t i = b0; i < end; ++i) {
      const auto [d, at] = t_.RecvRow(self_, i);
      LocalTensor<T> v = que_.template AllocTensor<T>();
      kernel_util::CopyIn(v, y_[(d * t_.recv_max + at) * t_.hidden], h);
      que_.EnQue(v);
      v = que_.template DeQue<T>();
      kernel_util::CopyOut(win_[(self_ * r.Rows() + i) * t_.hidden], v, h);
      que_.FreeTensor(v);
      PipeBarrier<PIPE_ALL>();
      kernel_util::CopyIn(flag, status_[d * 8], 8);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  Tiling t_;
  int self_ = 0;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 2> que_;
  TBuf<TPosition::VECCALC> flag_;
  GlobalTensor<T> y_, win_;
  GlobalTensor<int32_t> status_;
};

// Combine, second half: out[t] = sum_k w[t, k] * window[t * top_k + k], in fp32, rounded once.
template <class T>
class KernelCombineReduce {
 public:
  void Init(const GmBuffer* window, const GmBuffer* weights, const GmBuffer* out, const Tiling& t,
            int self) {
    t_ = t;
    self_ = self;
    win_.SetGlobalBuffer(const_cast<GmBuffer*>(window));
    w_.SetGlobalBuffer(const_cast<GmBuffer*>(weights));
    out_.SetGlobalBuffer(const_cast<GmBuffer*>(out));
    const uint64_t h = static_cast<uint64_t>(t.hidden);
    const uint64_t row = kernel_util::PaddedCount(h, sizeof(T)) * sizeof(T);
    pipe_.InitBuffer(in_, 2, row, "row");
    pipe_.InitBuffer(outQ_, 1, row, "sumOut");
    pipe_.InitBuffer(acc_, h * 4, "sumFp32");
    pipe_.InitBuffer(tmp_, h * 4, "rowFp32");
    pipe_.InitBuffer(w_ub_, kernel_util::PaddedCount(static_cast<uint64_t>(t.route.top_k), 4) * 4,
                     "topkWeights");
  }
  void Process() {
    const Routing& r = t_.route;
    const int64_t b0 = t_.tokens_split.Begin(GetBlockIdx());
    const int64_t end = b0 + t_.tokens_split.Count(GetBlockIdx());
    const uint32_t h = static_cast<uint32_t>(t_.hidden), K = static_cast<uint32_t>(r.top_k);
    LocalTensor<float> acc = acc_.template Get<float>(), tmp = tmp_.template Get<float>(),
                       w = w_ub_.template Get<float>();
    for (int64_t t = b0; t < end; ++t) {
      kernel_util::CopyIn(w, w_[(self_ * r.tokens + t) * r.top_k], K);
      kernel_util::Sync<HardEvent::MTE2_S>();
      kernel_util::Sync<HardEvent::MTE3_V>();  // the previous token's sum has left acc's cast
      Duplicate(acc, 0.0f, h);
      for (uint32_t k = 0; k < K; ++k) {
        LocalTensor<T> v = in_.template AllocTensor<T>();
        kernel_util::CopyIn(v, win_[(self_ * r.Rows() + t * r.top_k + k) * t_.hidden], h);
        in_.EnQue(v);
        v = in_.template DeQue<T>();
        const float wk = w.GetValue(k);
        Cast(tmp, v, CAST_NONE, h);
        in_.FreeTensor(v);
        Muls(tmp, tmp, wk, h);
        Add(acc, acc, tmp, h);
      }
      LocalTensor<T> o = outQ_.template AllocTensor<T>();
      Cast(o, acc, CAST_RINT, h);
      outQ_.EnQue(o);
      o = outQ_.template DeQue<T>();
      kernel_util::CopyOut(out_[(self_ * r.tokens + t) * t_.hidden], o, h);
      outQ_.FreeTensor(o);
      kernel_util::Sync<HardEvent::V_MTE2>();  // the weights buffer is read again next token
    }
  }

 private:
  Tiling t_;
  int self_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> in_;
  TQue<TPosition::VECOUT, 1> outQ_;
  TBuf<TPosition::VECCALC> acc_, tmp_, w_ub_;
  GlobalTensor<T> win_, out_;
  GlobalTensor<float> w_;
};

}  // namespace npusim::deepep_normal
