// Gated delta rule, token by token, per (request, value head, V block) (kernels.md §3.1, 3.3-3.6):
//   q^, k^ = L2-normalised q, k (rsqrt(sum + 1e-6)), q~ = q^ / sqrt(K)
//   S = exp(g) S;  u = beta (v - S^T k^);  S += k^ u^T;  o = S^T q~
// with the state in fp32 in UB for the whole call. Two state tiles, as the two implementations
// hold them: rows = K (Triton: a [K, block_v] slice, sums over K as K scaled row adds) or
// rows = V (AscendC: the whole [V, K] state, sums over K as row-wise reductions).
#pragma once

#include <cmath>

#include "ops/recurrent_gated_delta_rule/recurrent_gdr_tiling.h"

namespace npusim::recurrent_gdr {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;
using kernel_util::Sync;

struct Gm {
  GmBuffer *mix_qkv, *g, *beta, *states, *cache_indices, *intermediate, *o;
  // multi_op: q, k (L2-normalised) and v each in its own contiguous tensor, mix_qkv unused.
  GmBuffer *q = nullptr, *k = nullptr, *v = nullptr;
};

template <class S>  // S: element type of the pool and the intermediate cache (q/k/v/o are bf16)
class KernelRecurrentGdr {
 public:
  void Init(const Gm& gm, const Tiling& t) {
    t_ = t;
    // q, k, v as three views: of mix_qkv (one token's row holds all three) or of their own
    // contiguous tensors (multi_op). Offsets and strides are in elements.
    const int64_t HK = t.heads_k * t.k_dim, HVV = t.heads_v * t.v_dim, width = 2 * HK + HVV;
    if (gm.q) {
      qGm_.SetGlobalBuffer(gm.q), kGm_.SetGlobalBuffer(gm.k), vGm_.SetGlobalBuffer(gm.v);
      q_stride_ = k_stride_ = HK, v_stride_ = HVV;
    } else {
      qGm_.SetGlobalBuffer(gm.mix_qkv), kGm_.SetGlobalBuffer(gm.mix_qkv);
      vGm_.SetGlobalBuffer(gm.mix_qkv);
      q_stride_ = k_stride_ = v_stride_ = width, k_off_ = HK, v_off_ = 2 * HK;
    }
    gGm_.SetGlobalBuffer(gm.g);
    betaGm_.SetGlobalBuffer(gm.beta);
    stGm_.SetGlobalBuffer(gm.states);
    slotGm_.SetGlobalBuffer(gm.cache_indices);
    oGm_.SetGlobalBuffer(gm.o);
    if (t.verify) interGm_.SetGlobalBuffer(gm.intermediate);
    pitch_ = static_cast<uint32_t>(t.col_pitch);
    tile_ = static_cast<uint32_t>(t.rows) * pitch_;
    kp_ = kernel_util::PaddedCount(static_cast<uint64_t>(t.k_dim), 2);
    op_ = kernel_util::PaddedCount(
        static_cast<uint64_t>(t.layout == Layout::kKV ? t.block_v : t.v_dim), 2);
    pipe_.InitBuffer(state_, tile_ * 4ull, "stateFp32");
    pipe_.InitBuffer(raw_, tile_ * static_cast<uint64_t>(std::max<size_t>(sizeof(S), 2)),
                     "stateIo");
    if (t.layout == Layout::kVK) pipe_.InitBuffer(tmp_, tile_ * 4ull, "rowsTmp");
    pipe_.InitBuffer(qkRaw_, kp_ * 2ull * 2, "qkBf16");
    pipe_.InitBuffer(vRaw_, op_ * 2ull, "vBf16");
    pipe_.InitBuffer(q_, kp_ * 4ull, "qFp32");
    pipe_.InitBuffer(k_, kp_ * 4ull, "kFp32");
    pipe_.InitBuffer(v_, op_ * 4ull, "vFp32");
    pipe_.InitBuffer(o_, op_ * 4ull, "oFp32");
    pipe_.InitBuffer(sq_, kp_ * 4ull, "squaresFp32");
    pipe_.InitBuffer(oRaw_, op_ * 2ull, "oBf16");
    pipe_.InitBuffer(red_, 64, "reduceOut");
  }

  void Process() {
    const int64_t first = t_.split.Begin(GetBlockIdx()), count = t_.split.Count(GetBlockIdx());
    for (int64_t item = first; item < first + count; ++item) {
      const int64_t vb = item % t_.v_blocks, h = (item / t_.v_blocks) % t_.heads_v,
                    b = item / (t_.v_blocks * t_.heads_v);
      Item(b, h, vb);
    }
  }

 private:
  // Offset of the state tile of head h in slot `slot` of a [N, HV, K, V] or [N, HV, V, K] tensor.
  int64_t TileOffset(int64_t slot, int64_t h, int64_t vb) const {
    const int64_t head = (slot * t_.heads_v + h) * t_.k_dim * t_.v_dim;
    return t_.layout == Layout::kKV ? head + vb * t_.block_v : head;
  }
  int64_t RowStride() const { return t_.layout == Layout::kKV ? t_.v_dim : t_.k_dim; }

  void Item(int64_t b, int64_t h, int64_t vb) {
    if (t_.program_cycles > 0) CurrentCore().ScalarCycles(static_cast<uint64_t>(t_.program_cycles));
    const int64_t slot = slotGm_.GetValue(b);
    const int64_t j = h / (t_.heads_v / t_.heads_k);
    const uint32_t vlen = static_cast<uint32_t>(std::min(t_.block_v, t_.v_dim - vb * t_.block_v));
    const uint32_t rows = static_cast<uint32_t>(t_.rows);
    cols_ = t_.layout == Layout::kKV
                ? vlen
                : static_cast<uint32_t>(t_.cols);  // the last V block may be partial
    LocalTensor<float> st = state_.Get<float>();
    LocalTensor<S> raw = raw_.Get<S>();

    Sync<HardEvent::MTE3_MTE2>();  // the previous item's state write-out has read `raw`
    CopyRowsIn(raw, stGm_[TileOffset(slot, h, vb)], rows, cols_, RowStride(), pitch_);
    Sync<HardEvent::MTE2_V>();
    Cast(st, raw, CAST_NONE, tile_);

    for (int64_t i = 0; i < t_.tokens; ++i) {
      const int64_t tok = b * t_.tokens + i;
      LoadToken(tok, j, h, vb, vlen);
      const float decay = std::exp(gGm_.GetValue(tok * t_.heads_v + h));
      float beta = static_cast<float>(betaGm_.GetValue(tok * t_.heads_v + h));
      if (t_.sigmoid_beta) beta = 1.0f / (1.0f + std::exp(-beta));
      if (t_.layout == Layout::kKV)
        StepRowsK(decay, beta, vlen);
      else
        StepRowsV(decay, beta);
      StoreOutput(tok, h, vb, vlen);
      if (t_.verify) StoreState(interGm_, tok, h, vb);
    }
    if (!t_.verify) StoreState(stGm_, slot, h, vb);
  }

  // q, k of key head j and the v block of value head h for token `tok` in fp32, q and k
  // L2-normalised here unless they come normalised (multi_op).
  void LoadToken(int64_t tok, int64_t j, int64_t h, int64_t vb, uint32_t vlen) {
    const uint32_t K = static_cast<uint32_t>(t_.k_dim);
    LocalTensor<bfloat16_t> qk = qkRaw_.Get<bfloat16_t>(), v = vRaw_.Get<bfloat16_t>();
    Sync<HardEvent::V_MTE2>();  // the previous token's q/k/v have been read
    kernel_util::CopyIn(qk, qGm_[tok * q_stride_ + j * t_.k_dim], K);
    kernel_util::CopyIn(qk[kp_], kGm_[tok * k_stride_ + k_off_ + j * t_.k_dim], K);
    kernel_util::CopyIn(v, vGm_[tok * v_stride_ + v_off_ + h * t_.v_dim + vb * t_.block_v], vlen);
    Sync<HardEvent::MTE2_V>();
    LocalTensor<float> q = q_.Get<float>(), k = k_.Get<float>();
    Duplicate(q, 0.0f, kp_);  // zero padding: row dot products reduce whole padded rows
    Duplicate(k, 0.0f, kp_);
    Cast(q, qk, CAST_NONE, K);
    Cast(k, qk[kp_], CAST_NONE, K);
    Cast(v_.Get<float>(), v, CAST_NONE, vlen);
    if (t_.normalise) {
      Normalise(q, K, t_.scale);
      Normalise(k, K, 1.0f);
    } else {  // multi_op: q and k come L2-normalised; only q's scale is left
      Muls(q, q, t_.scale, K);
    }
  }
  void Normalise(const LocalTensor<float>& x, uint32_t n, float scale) {
    LocalTensor<float> sq = sq_.Get<float>(), red = red_.Get<float>();
    Mul(sq, x, x, n);
    ReduceSum(red, sq, sq, n);
    kernel_util::WaitVectorForScalar();
    Muls(x, x, scale / std::sqrt(red.GetValue(0) + 1e-6f), n);
  }

  // Tile rows = K: S[k, :] is a block_v slice. sums over K are K scaled row adds.
  void StepRowsK(float decay, float beta, uint32_t vlen) {
    const uint32_t K = static_cast<uint32_t>(t_.k_dim);
    LocalTensor<float> st = state_.Get<float>(), q = q_.Get<float>(), k = k_.Get<float>(),
                       v = v_.Get<float>(), o = o_.Get<float>();
    Muls(st, st, decay, tile_);
    kernel_util::WaitVectorForScalar();  // k and q values are read by the scalar unit below
    Duplicate(o, 0.0f, vlen);
    for (uint32_t r = 0; r < K; ++r) Axpy(o, st[r * pitch_], k.GetValue(r), vlen);  // o = S^T k
    Sub(v, v, o, vlen);
    Muls(v, v, beta, vlen);                                                         // u
    for (uint32_t r = 0; r < K; ++r) Axpy(st[r * pitch_], v, k.GetValue(r), vlen);  // S += k u^T
    Duplicate(o, 0.0f, vlen);
    for (uint32_t r = 0; r < K; ++r) Axpy(o, st[r * pitch_], q.GetValue(r), vlen);  // o = S^T q
  }

  // Tile rows = V: S[v, :] is length K. Sums over K: broadcast the vector over the rows, multiply,
  // reduce each row; the rank-1 update is a scaled add of k per row.
  void StepRowsV(float decay, float beta) {
    const uint32_t K = static_cast<uint32_t>(t_.k_dim), V = static_cast<uint32_t>(t_.v_dim);
    LocalTensor<float> st = state_.Get<float>(), q = q_.Get<float>(), k = k_.Get<float>();
    LocalTensor<float> v = v_.Get<float>(), o = o_.Get<float>();
    Muls(st, st, decay, tile_);
    if (FoldedRows(V)) {
      StepRowsVFolded(beta);
      return;
    }
    RowDots(o, k, K, V);  // o = S k
    Sub(v, v, o, V);
    Muls(v, v, beta, V);  // u
    kernel_util::WaitVectorForScalar();
    for (uint32_t r = 0; r < V; ++r) Axpy(st[r * pitch_], k, v.GetValue(r), K);  // S[v] += u[v] k
    RowDots(o, q, K, V);                                                         // o = S q
  }
  // The AscendC op's sequence at K = 128 (sgl-kernel-npu csrc/recurrent_gated_delta_rule
  // @878309c5, read for its instructions; vllm-ascend's copy does the same): products with a
  // vector as repeat-form Muls that reuse the vector's row (no broadcast tile), each row sum as
  // its right half folded onto its left and one 64-wide sum, the rank-1 update as a Brcb of u
  // (one 32 B block a row) and one MulAddDst per 64 columns reading that block for every block of
  // the row. Other K keep the generic form above (the op falls back to a ReduceSum pattern).
  bool FoldedRows(uint32_t V) const { return pitch_ == 2 * kFold && V <= 255; }
  void StepRowsVFolded(float beta) {
    const uint32_t V = static_cast<uint32_t>(t_.v_dim);
    LocalTensor<float> st = state_.Get<float>(), q = q_.Get<float>(), k = k_.Get<float>();
    LocalTensor<float> v = v_.Get<float>(), o = o_.Get<float>(), tmp = tmp_.Get<float>();
    FoldedDots(o, k, V);  // o = S k
    Sub(v, v, o, V);
    Muls(v, v, beta, V);                             // u
    Brcb(tmp, v, V);                                 // tmp[8 r .. 8 r + 8) = u[r]
    for (uint32_t c0 = 0; c0 < pitch_; c0 += kFold)  // S[r, :] += u[r] k
      MulAddDst(st[c0], tmp, k[c0], RowBlock{V, kFold, pitch_, 8, 0, true});
    FoldedDots(o, q, V);  // o = S q
  }
  // out[r] = S[r, :] . x over 128 columns. The folded halves go to the front of `tmp`, 64 a row
  // (row r lands on rows the fold has already read), so the sum is over consecutive groups.
  void FoldedDots(const LocalTensor<float>& out, const LocalTensor<float>& x, uint32_t V) {
    LocalTensor<float> st = state_.Get<float>(), tmp = tmp_.Get<float>();
    for (uint32_t c0 = 0; c0 < pitch_; c0 += kFold)
      Mul(tmp[c0], st[c0], x[c0], RowBlock{V, kFold, pitch_, pitch_, 0});
    Add(tmp, tmp, tmp[kFold], RowBlock{V, kFold, kFold, pitch_, pitch_});
    WholeReduceSum(out, tmp, kFold, V * kFold);
  }
  static constexpr uint32_t kFold = 64;  // fp32 lanes of one 256 B repeat

  // out[r] = S[r, :] . x for the V rows (x zero-padded, so whole padded rows can be summed).
  void RowDots(const LocalTensor<float>& out, const LocalTensor<float>& x, uint32_t K, uint32_t V) {
    LocalTensor<float> st = state_.Get<float>(), tmp = tmp_.Get<float>();
    Adds(tmp, x, 0.0f, pitch_);
    kernel_util::BroadcastRow(tmp, V, pitch_);
    Mul(tmp, tmp, st, tile_);
    WholeReduceSum(out, tmp, pitch_, tile_);
  }

  void StoreOutput(int64_t tok, int64_t h, int64_t vb, uint32_t vlen) {
    LocalTensor<bfloat16_t> oraw = oRaw_.Get<bfloat16_t>();
    Sync<HardEvent::MTE3_V>();  // the previous output has been written out
    Cast(oraw, o_.Get<float>(), CAST_RINT, vlen);
    Sync<HardEvent::V_MTE3>();
    kernel_util::CopyOut(oGm_[(tok * t_.heads_v + h) * t_.v_dim + vb * t_.block_v], oraw, vlen);
  }

  template <class D>
  void StoreState(const GlobalTensor<D>& dst, int64_t index, int64_t h, int64_t vb) {
    LocalTensor<D> raw = raw_.Get<D>();
    Sync<HardEvent::MTE3_V>();  // the previous store has read `raw`
    Cast(raw, state_.Get<float>(), CAST_RINT, tile_);
    Sync<HardEvent::V_MTE3>();
    CopyRowsOut(dst[TileOffset(index, h, vb)], raw, static_cast<uint32_t>(t_.rows), cols_,
                RowStride(), pitch_);
  }

  Tiling t_;
  uint32_t pitch_ = 0, tile_ = 0, kp_ = 0, op_ = 0, cols_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> state_, raw_, tmp_, qkRaw_, vRaw_, q_, k_, v_, o_, sq_, oRaw_, red_;
  GlobalTensor<bfloat16_t> qGm_, kGm_, vGm_, betaGm_, oGm_;
  int64_t q_stride_ = 0, k_stride_ = 0, v_stride_ = 0, k_off_ = 0, v_off_ = 0;
  GlobalTensor<S> interGm_;
  GlobalTensor<float> gGm_;
  GlobalTensor<S> stGm_;
  GlobalTensor<int32_t> slotGm_;
};

}  // namespace npusim::recurrent_gdr
