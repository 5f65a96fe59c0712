// split_qkv_rmsnorm_rope as Triton-Ascend runs it: per token row, Q (and K) heads RMS-normalised
// in fp32 with their weight, rounded to bf16, the first rope_dim dims of each head rotated
// (NeoX halves, cos / sin of the row's position from the packed [cos | sin] cache), V copied.
// A program walks its rows one after another (split_qkv_rmsnorm_rope_tiling.h); within a row
// the Q, K and V loads are issued in program order and overlap the work before them, but the
// next row's loads wait for this row's stores (one set of buffers).
#pragma once

#include "ops/common/kernel_util.h"
#include "ops/split_qkv_rmsnorm_rope/split_qkv_rmsnorm_rope_tiling.h"

namespace npusim::split_qkv_rmsnorm_rope {

using namespace npusim::ascendc;

struct Gm {
  GmBuffer *input = nullptr, *positions = nullptr, *cos_sin = nullptr, *q_weight = nullptr,
           *k_weight = nullptr;
  GmBuffer *q = nullptr, *k = nullptr, *v = nullptr;
};

template <class T>
class KernelSplitQkvRmsNormRope {
 public:
  void Init(const Gm& gm, const Tiling& t) {
    t_ = t;
    in_.SetGlobalBuffer(gm.input);
    pos_.SetGlobalBuffer(gm.positions);
    cs_gm_.SetGlobalBuffer(gm.cos_sin);
    q_.SetGlobalBuffer(gm.q);
    k_.SetGlobalBuffer(gm.k);
    v_.SetGlobalBuffer(gm.v);
    const auto D = static_cast<uint64_t>(t.head_dim), nq = static_cast<uint64_t>(t.q_block_n) * D,
               nk = static_cast<uint64_t>(t.k_block_n) * D;
    pipe_.InitBuffer(qin_, nq * sizeof(T), "q_in");
    pipe_.InitBuffer(qf_, nq * 4, "q_fp32");
    pipe_.InitBuffer(sq_, nq * 4, "square");
    pipe_.InitBuffer(qw_, nq * 4, "q_weight_tile");
    pipe_.InitBuffer(qo_, nq * sizeof(T), "q_out");
    pipe_.InitBuffer(kin_, nk * sizeof(T), "k_in");
    pipe_.InitBuffer(kf_, nk * 4, "k_fp32");
    pipe_.InitBuffer(kw_, nk * 4, "k_weight_tile");
    pipe_.InitBuffer(ko_, nk * sizeof(T), "k_out");
    pipe_.InitBuffer(vb_, nk * sizeof(T), "v");
    pipe_.InitBuffer(sums_, kernel_util::PaddedCount(static_cast<uint64_t>(t.q_block_n), 4) * 4,
                     "head_sums");
    pipe_.InitBuffer(cs_, static_cast<uint64_t>(t.rope_dim) * 4, "cos_sin");
    pipe_.InitBuffer(tmp_, static_cast<uint64_t>(t.q_block_n * t.rope_dim) * 4, "rope_tmp");
    GlobalTensor<T> qw, kw;
    qw.SetGlobalBuffer(gm.q_weight);
    kw.SetGlobalBuffer(gm.k_weight);
    LoadWeight(qw, qin_.Get<T>(), qw_.Get<float>(), t.q_block_n);
    LoadWeight(kw, kin_.Get<T>(), kw_.Get<float>(), t.k_block_n);
  }

  void Process() {
    const int64_t b = GetBlockIdx(), row0 = b % t_.n_rows, col = b / t_.n_rows;
    const int64_t D = t_.head_dim, W = t_.q_hidden + 2 * t_.kv_hidden;
    const auto nq = static_cast<uint32_t>(t_.q_block_n * D),
               nk = static_cast<uint32_t>(t_.k_block_n * D);
    LocalTensor<T> qin = qin_.Get<T>(), qo = qo_.Get<T>(), kin = kin_.Get<T>(), ko = ko_.Get<T>(),
                   vb = vb_.Get<T>();
    LocalTensor<float> cs = cs_.Get<float>();
    for (int64_t r = row0; r < t_.tokens; r += t_.n_rows) {
      kernel_util::Sync<HardEvent::MTE3_MTE2>();  // the previous row's stores have left the buffers
      const int64_t pos = pos_.GetValue(static_cast<uint64_t>(r));
      kernel_util::CopyIn(cs, cs_gm_[static_cast<uint64_t>(pos * t_.rope_dim)],
                          static_cast<uint32_t>(t_.rope_dim));
      const int64_t at = r * W;
      kernel_util::CopyIn(qin, in_[static_cast<uint64_t>(at + col * nq)], nq);
      kernel_util::Sync<HardEvent::MTE2_V>();
      NormRope(qin, qf_.Get<float>(), qw_.Get<float>(), qo, t_.q_block_n);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyOut(q_[static_cast<uint64_t>(r * t_.q_hidden + col * nq)], qo, nq);
      kernel_util::CopyIn(kin, in_[static_cast<uint64_t>(at + t_.q_hidden + col * nk)], nk);
      kernel_util::Sync<HardEvent::MTE2_V>();
      NormRope(kin, kf_.Get<float>(), kw_.Get<float>(), ko, t_.k_block_n);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyOut(k_[static_cast<uint64_t>(r * t_.kv_hidden + col * nk)], ko, nk);
      kernel_util::CopyIn(
          vb, in_[static_cast<uint64_t>(at + t_.q_hidden + t_.kv_hidden + col * nk)], nk);
      kernel_util::Sync<HardEvent::MTE2_MTE3>();
      kernel_util::CopyOut(v_[static_cast<uint64_t>(r * t_.kv_hidden + col * nk)], vb, nk);
    }
  }

 private:
  // The norm weight (head_dim values) as an fp32 tile of `heads` identical rows.
  void LoadWeight(const GlobalTensor<T>& w, const LocalTensor<T>& raw,
                  const LocalTensor<float>& tile, int64_t heads) {
    const auto D = static_cast<uint32_t>(t_.head_dim);
    kernel_util::CopyIn(raw, w, D);
    kernel_util::Sync<HardEvent::MTE2_V>();
    Cast(tile, raw, CAST_NONE, D);
    kernel_util::BroadcastRow(tile, static_cast<uint32_t>(heads), D);
    kernel_util::Sync<HardEvent::V_MTE2>();  // raw is the row buffer the loop loads into
  }

  // out = bf16(rmsnorm(x) * w) with each head's first rope_dim dims then rotated in fp32 and
  // rounded again (the Triton code rotates the bf16-rounded norm, cast_norm_to_bf16). The rotation
  // works on the [heads x rope_dim / 2] slices of all heads at once, as Triton's 2-D slices
  // compile: one repeat-form instruction per step, the cos / sin row broadcast over the heads.
  void NormRope(const LocalTensor<T>& in, const LocalTensor<float>& f, const LocalTensor<float>& w,
                const LocalTensor<T>& out, int64_t heads) {
    const auto D = static_cast<uint32_t>(t_.head_dim), n = static_cast<uint32_t>(heads) * D,
               h = static_cast<uint32_t>(t_.rope_dim / 2);
    const auto H = static_cast<uint32_t>(heads);
    LocalTensor<float> sq = sq_.Get<float>(), sums = sums_.Get<float>(), cs = cs_.Get<float>(),
                       a = tmp_.Get<float>(), bb = a[H * h];
    Cast(f, in, CAST_NONE, n);
    Mul(sq, f, f, n);
    WholeReduceSum(sums, sq, D, n);
    Muls(sums, sums, 1.0f / static_cast<float>(D), H);
    Adds(sums, sums, t_.eps, H);
    Rsqrt(sums, sums, H);
    kernel_util::WaitVectorForScalar();
    for (uint32_t hd = 0; hd < H; ++hd) Muls(f[hd * D], f[hd * D], sums.GetValue(hd), D);
    Mul(f, f, w, n);
    Cast(out, f, CAST_RINT, n);
    // x1 = head rows [0, h), x2 = [h, 2h), D apart; a, bb: [heads x h] temporaries; c, s: one row.
    kernel_util::ForRepeatBlocks(
        H, 2 * h, 4, [&](uint32_t r, uint32_t rows, uint32_t c, uint32_t cols) {
          Cast(f[r * D + c], out[r * D + c], CAST_NONE,
               RowBlock{rows, cols, D, D, 0});  // the rounded rope dims, in fp32
        });
    kernel_util::ForRepeatBlocks(
        H, h, 4, [&](uint32_t r, uint32_t rows, uint32_t c, uint32_t cols) {
          const LocalTensor<float> x1 = f[r * D + c], x2 = f[r * D + h + c], ar = a[r * h + c],
                                   br = bb[r * h + c];
          Mul(ar, x2, cs[h + c], RowBlock{rows, cols, h, D, 0});  // x2 sin
          Mul(br, x1, cs[h + c], RowBlock{rows, cols, h, D, 0});  // x1 sin
          Mul(x1, x1, cs[c], RowBlock{rows, cols, D, D, 0});
          Sub(x1, x1, ar, RowBlock{rows, cols, D, D, h});  // x1 cos - x2 sin
          Mul(x2, x2, cs[c], RowBlock{rows, cols, D, D, 0});
          Add(x2, x2, br, RowBlock{rows, cols, D, D, h});  // x2 cos + x1 sin
        });
    kernel_util::ForRepeatBlocks(
        H, 2 * h, 4, [&](uint32_t r, uint32_t rows, uint32_t c, uint32_t cols) {
          Cast(out[r * D + c], f[r * D + c], CAST_RINT, RowBlock{rows, cols, D, D, 0});
        });
  }

  Tiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> qin_, qf_, sq_, qw_, qo_, kin_, kf_, kw_, ko_, vb_, sums_, cs_, tmp_;
  GlobalTensor<T> in_, q_, k_, v_;
  GlobalTensor<int32_t> pos_;
  GlobalTensor<float> cs_gm_;
};

}  // namespace npusim::split_qkv_rmsnorm_rope
