// Collective device kernel, as one rank runs it: AIV blocks pull the segments this rank needs
// from the other ranks' HBM over the chip-to-chip links (DataCopy from a peer's GM into UB,
// the A2 cross-card path over HCCS) and write them, summed for a reduction, into their own HBM.
// Every rank runs the same kernel on its own chip at the same time (the op launches it once
// per rank, concurrently), so each rank's output is computed and the time is any rank's.
#pragma once

#include "ops/collectives/collective_tiling.h"
#include "ops/common/kernel_util.h"

namespace npusim::collective {

using namespace ascendc;

template <class T>
class KernelCollective {
 public:
  // `x` and `out` are cluster tensors ([ranks, ...]) seen from rank `x->self_rank`.
  void Init(const GmBuffer* x, const GmBuffer* out, const Tiling& t) {
    t_ = t;
    self_ = x->self_rank;
    x_.SetGlobalBuffer(const_cast<GmBuffer*>(x));
    out_.SetGlobalBuffer(const_cast<GmBuffer*>(out));
    const uint64_t tile_bytes =
        kernel_util::PaddedCount(static_cast<uint64_t>(t.tile), sizeof(T)) * sizeof(T);
    if (t.kind == Kind::kReduceScatter) {
      const uint64_t f32 = kernel_util::PaddedCount(static_cast<uint64_t>(t.tile), 4) * 4;
      pipe_.InitBuffer(in_, tile_bytes, "peer_tile");
      pipe_.InitBuffer(acc_, f32, "acc_fp32");
      pipe_.InitBuffer(tmp_, f32, "peer_fp32");
      pipe_.InitBuffer(res_, tile_bytes, "sum_tile");
    } else {
      pipe_.InitBuffer(que_, 2, tile_bytes, "relay");
    }
  }
  void Process() {
    const int64_t b0 = t_.split.Begin(GetBlockIdx()), end = b0 + t_.split.Count(GetBlockIdx());
    for (int64_t e0 = b0; e0 < end; e0 += t_.tile) {
      const auto len = static_cast<uint32_t>(std::min(t_.tile, end - e0));
      if (t_.kind == Kind::kReduceScatter) {
        Reduce(e0, len);
        continue;
      }
      // Rank order starting at self + 1 so that, at the same time, ranks read different peers.
      for (int64_t i = 1; i <= t_.ranks; ++i) Relay((self_ + i) % t_.ranks, e0, len);
    }
  }

 private:
  // Element offsets of segment `r` of this rank's work in x and out.
  int64_t Src(int64_t r) const {
    return t_.kind == Kind::kAllGather
               ? r * t_.n
               : r * t_.n + self_ * t_.seg;  // all_to_all and reduce: chunk `self` of rank r
  }
  int64_t Dst(int64_t r) const {
    return t_.kind == Kind::kAllGather ? self_ * t_.ranks * t_.n + r * t_.n
                                       : self_ * t_.n + r * t_.seg;
  }

  void Relay(int64_t r, int64_t e0, uint32_t len) {
    LocalTensor<T> t = que_.AllocTensor<T>();
    kernel_util::CopyIn(t, x_[Src(r) + e0], len);
    que_.EnQue(t);
    t = que_.DeQue<T>();
    kernel_util::CopyOut(out_[Dst(r) + e0], t, len);
    que_.FreeTensor(t);
  }

  // out[self chunk] = sum over ranks r (in rank order) of x[r][self chunk], in fp32.
  void Reduce(int64_t e0, uint32_t len) {
    LocalTensor<T> in = in_.Get<T>(), res = res_.Get<T>();
    LocalTensor<float> acc = acc_.Get<float>(), tmp = tmp_.Get<float>();
    for (int64_t r = 0; r < t_.ranks; ++r) {
      kernel_util::Sync<HardEvent::V_MTE2>();
      kernel_util::CopyIn(in, x_[r * t_.n + self_ * t_.seg + e0], len);
      kernel_util::Sync<HardEvent::MTE2_V>();
      if (r == 0) {
        Cast(acc, in, CAST_NONE, len);
      } else {
        Cast(tmp, in, CAST_NONE, len);
        Add(acc, acc, tmp, len);
      }
    }
    kernel_util::Sync<HardEvent::MTE3_V>();
    Cast(res, acc, CAST_RINT, len);
    kernel_util::Sync<HardEvent::V_MTE3>();
    kernel_util::CopyOut(out_[self_ * t_.seg + e0], res, len);
  }

  Tiling t_;
  int64_t self_ = 0;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 2> que_;
  TBuf<TPosition::VECCALC> in_, acc_, tmp_, res_;
  GlobalTensor<T> x_, out_;
};

}  // namespace npusim::collective
