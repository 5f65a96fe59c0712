// `fused_infer_attention_score` device kernel: flash attention over a paged KV cache, a mixed
// AIC + 2 AIV kernel. Per unit (fia_tiling.h) and per KV page the AIC computes S = Q K^T into
// a GM workspace; the AIVs (each half of the rows) scale, mask, update the running max and sum
// (online softmax in fp32) and write P in bf16; the AIC computes P V; the AIVs rescale and
// accumulate O. Pages no row attends are skipped. Flags (mode 2): kSReady, kPvReady AIC -> AIV;
// kPReady AIV -> AIC.
#pragma once

#include <cmath>
#include <deque>
#include <limits>
#include <vector>

#include "ops/common/cube_util.h"
#include "ops/common/kernel_util.h"
#include "ops/fused_infer_attention_score/fia_tiling.h"

namespace npusim::fia {

using namespace ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;
using kernel_util::Sync;

constexpr int kSReady = 0, kPReady = 1, kPvReady = 2;
constexpr uint32_t kPvCols =
    256;  // the cube tile's widest N: wider outputs (MLA's 512) take column blocks
constexpr float kMaskPenalty = -1e30f;
constexpr uint32_t kLanes = 64;  // fp32 lanes of one 256 B vector repeat
constexpr uint32_t kNzBlock =
    64;  // the cube's K step, and the column block of L1-held operands (MLA)

struct Gm {
  GmBuffer *q, *k_cache, *v_cache, *block_table, *mask, *out, *ws_s, *ws_p, *ws_o;
  GmBuffer *ws_part = nullptr,
           *ws_ml = nullptr;  // split-KV partial outputs and their row max / sum
};

// Rows [r0, r0 + rows) of a unit or merge from UB (Dv each) to their places in `out`: one copy
// per run of rows contiguous in GM (a packed token's heads), or one strided copy.
template <class T>
void StoreRows(const GlobalTensor<T>& out, const Dims& d, int64_t req, int64_t q_row0,
               int64_t head0, bool packed, int64_t r0, uint32_t rows, const LocalTensor<T>& src) {
  const auto D = static_cast<uint32_t>(d.Dv);
  const int64_t G = d.G();
  for (uint32_t r = 0; r < rows;) {
    const int64_t row = r0 + r;
    const uint32_t n =
        packed ? static_cast<uint32_t>(std::min<int64_t>(rows - r, G - row % G)) : rows - r;
    CopyRowsOut(out[static_cast<uint64_t>(RowElement(d, req, q_row0, head0, packed, row, d.Dv))],
                src[r * D], n, D, static_cast<uint64_t>(packed ? d.Dv : d.Nq * d.Dv), D);
    r += n;
  }
}

template <class T>
class KernelFia {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    q_.SetGlobalBuffer(gm.q);
    k_.SetGlobalBuffer(gm.k_cache);
    if (!d.latent)
      v_.SetGlobalBuffer(gm.v_cache);  // MLA has no V cache: P V reads the latent page in L1
    out_.SetGlobalBuffer(gm.out);
    bt_.SetGlobalBuffer(gm.block_table);
    ws_s_.SetGlobalBuffer(gm.ws_s);
    ws_p_.SetGlobalBuffer(gm.ws_p);
    ws_o_.SetGlobalBuffer(gm.ws_o);
    if (d.explicit_mask) mask_.SetGlobalBuffer(gm.mask);
    if (d.parts > 0) {
      part_.SetGlobalBuffer(gm.ws_part);
      ml_.SetGlobalBuffer(gm.ws_ml);
    }
    if (ASCEND_IS_AIC) {
      if (d.latent) {
        // CANN's MLA template (incre_flash_attention_preload_mla.h) keeps a unit's Q in L1 and
        // copies each latent block to L1 once for both products: Q K^T reads the whole row, P V
        // its first Dv columns. Q (rows x D), two latent pages (128 x D, the next page loads
        // while this one's P V waits for P) and P (rows x 128): 398 KiB of the 512 KiB L1 at
        // D = 576 and 80 rows (Dv 512), 464 KiB at 128 rows (Dv <= 256). D padded to 64.
        cube_.Init(pipe_, kMaxRows, kPvCols, kNzBlock, 2, 0);
        const auto rows = static_cast<uint64_t>((d.rows + 15) / 16 * 16),
                   D = static_cast<uint64_t>((d.D + kNzBlock - 1) / kNzBlock * kNzBlock);
        pipe_.InitBuffer(q_l1_, 1, rows * D * sizeof(T), "q_l1");
        pipe_.InitBuffer(kv_l1_, 2, static_cast<uint64_t>(kPage) * D * sizeof(T), "latent_l1");
        pipe_.InitBuffer(p_l1_, 1, rows * static_cast<uint64_t>(kPage) * sizeof(T), "p_l1");
        return;
      }
      // CANN's incre_flash_attention copies Q to L1 once per unit and a KV page in one copy
      // (CopyInMm1AToL1, CopyInMm1BToL1ForPA). Tried in commit 0cb13f9 and taken out: alone it
      // made every serving row faster and the corpus worse (serving check rows' median |error|
      // 12.6 -> 18.1 %, README "Calibration"); the per-page costs the real kernel pays are
      // elsewhere and not modelled, so the matmul-sample copies stay until they are.
      cube_.Init(pipe_, kMaxRows, kPvCols, kNzBlock, 2);
      return;
    }
    const AivBuffers b = AivBuffersFor(d.rows, d.Dv, sizeof(T));
    pipe_.InitBuffer(s_, b.scores, "scores");
    pipe_.InitBuffer(pb_, b.p, "p_bf16");
    pipe_.InitBuffer(pen_, b.penalty, "mask_penalty");
    pipe_.InitBuffer(idx_, b.index, "column_index");
    pipe_.InitBuffer(mrow_, b.mask_row, "mask_row");
    pipe_.InitBuffer(rmax_, b.row_max, "row_max");
    pipe_.InitBuffer(o_, b.o_acc, "o_acc");
    pipe_.InitBuffer(pv_, b.pv, "pv");
    LocalTensor<float> idx = idx_.Get<float>();
    for (int64_t c = 0; c < kPage; ++c) idx.SetValue(c, static_cast<float>(c));
    kernel_util::WaitScalarForVector();
  }

  void Process() {
    for (size_t u = static_cast<size_t>(kernel_util::GroupIdx()); u < d_->units.size();
         u += static_cast<size_t>(kernel_util::GroupNum())) {
      if (ASCEND_IS_AIC)
        CubeUnit(d_->units[u]);
      else
        VectorUnit(d_->units[u]);
    }
  }

 private:
  // Row geometry of a unit: query index and head of row `r`, and the row stride in q / out.
  int64_t QIndex(const Unit& u, int64_t r) const {
    return RowQuery(*d_, u.q_row0, u.heads_packed, r);
  }
  uint64_t RowStride(const Unit& u) const {
    return static_cast<uint64_t>(u.heads_packed ? d_->D : d_->Nq * d_->D);
  }
  uint64_t RowOffset(const Unit& u) const {
    return static_cast<uint64_t>(
        RowElement(*d_, u.req, u.q_row0, u.head0, u.heads_packed, 0, d_->D));
  }
  uint64_t KvOffset(const Unit& u, int64_t p, int64_t dim)
      const {  // row 0 of page p for this unit's KV head, rows `dim` wide
    const int64_t page = bt_.GetValue(u.req * d_->max_blocks + p);
    return static_cast<uint64_t>((page * kPage * d_->Nkv + u.kv_head) * dim);
  }
  uint64_t VOffset(const Unit& u, int64_t p) const { return KvOffset(u, p, d_->Dv); }

  std::vector<int64_t> NeededPages(const Unit& u) const { return UnitPages(*d_, u); }

  // MLA: Q loaded once per unit; each latent page loaded once, read transposed as K by Q K^T
  // and plain (its first Dv columns) as V by P V; the page stays until its P V is done.
  void CubeUnitLatent(const Unit& u) {
    const auto D = static_cast<uint32_t>(d_->D), Dv = static_cast<uint32_t>(d_->Dv),
               m = static_cast<uint32_t>(u.rows);
    const auto mr = (m + 15) / 16 * 16;  // Q's and P's block rows (16-row fractals)
    const std::vector<int64_t> pages = NeededPages(u);
    if (pages.empty()) return;
    LocalTensor<T> q = q_l1_.template AllocTensor<T>();
    // Rows RowStride apart in one copy: a packed unit's G heads of each token, else all its rows.
    const uint32_t per = u.heads_packed ? static_cast<uint32_t>(d_->G()) : m;
    for (uint32_t r = 0; r < m; r += per)
      cube_.LoadNz(q, q_[RowOffset(u) + (r / per) * static_cast<uint64_t>(d_->Nq * d_->D)],
                   std::min(per, m - r), D, RowStride(u), mr, r);
    q_l1_.EnQue(q);
    q = q_l1_.template DeQue<T>();
    std::deque<LocalTensor<T>> held;  // latent pages loaded and not yet through P V
    auto scores = [&](size_t k) {
      LocalTensor<T> kv = kv_l1_.template AllocTensor<T>();
      cube_.LoadNz(kv, k_[KvOffset(u, pages[k], d_->D)], static_cast<uint32_t>(kPage), D,
                   static_cast<uint64_t>(d_->Nkv * d_->D), kPage);
      kv_l1_.EnQue(kv);
      held.push_back(kv_l1_.template DeQue<T>());
      cube_.ComputeL1({q, mr, 0, false}, {held.back(), static_cast<uint32_t>(kPage), 0, true}, m,
                      kPage, D);
      cube_.Store(ws_s_[Slot(k) * kPage], kPage, QuantMode_t::NoQuant);
      CrossCoreSetFlag<2, PIPE_FIX>(kSReady);
    };
    scores(0);
    for (size_t k = 0; k < pages.size(); ++k) {
      if (k + 1 < pages.size()) scores(k + 1);
      CrossCoreWaitFlag(kPReady);
      LocalTensor<T> p = p_l1_.template AllocTensor<T>();
      cube_.LoadNz(p, ws_p_[Slot(k) * kPage], m, static_cast<uint32_t>(kPage),
                   static_cast<uint64_t>(kPage), mr);
      p_l1_.EnQue(p);
      p = p_l1_.template DeQue<T>();
      for (uint32_t n0 = 0; n0 < Dv; n0 += kPvCols) {
        const uint32_t n = std::min(kPvCols, Dv - n0);
        cube_.ComputeL1({p, mr, 0, false}, {held.front(), static_cast<uint32_t>(kPage), n0, false},
                        m, n, kPage);
        cube_.Store(ws_o_[Slot(k) * Dv + n0], Dv, QuantMode_t::NoQuant);
      }
      p_l1_.FreeTensor(p);
      kv_l1_.FreeTensor(held.front());
      held.pop_front();
      CrossCoreSetFlag<2, PIPE_FIX>(kPvReady);
    }
    q_l1_.FreeTensor(q);
  }

  // Two workspace slots: S of page k+1 is computed while the AIVs turn S of page k into P.
  void CubeUnit(const Unit& u) {
    if (d_->latent) {
      CubeUnitLatent(u);
      return;
    }
    const auto D = static_cast<uint32_t>(d_->D), Dv = static_cast<uint32_t>(d_->Dv),
               ld_kv = static_cast<uint32_t>(d_->Nkv * d_->D);
    const auto ld_v = static_cast<uint32_t>(d_->Nkv * d_->Dv);
    const auto m = static_cast<uint32_t>(u.rows);
    const std::vector<int64_t> pages = NeededPages(u);
    auto scores = [&](size_t k) {  // S = Q K^T of page k
      const uint64_t ws = Slot(k);
      cube_util::Operand<T> q{q_[RowOffset(u)], RowStride(u), false};
      if (u.heads_packed)
        q.block_rows = static_cast<uint32_t>(d_->G()),
        q.block_ld = static_cast<uint64_t>(d_->Nq * d_->D);
      cube_.Compute(q, {k_[KvOffset(u, pages[k], d_->D)], ld_kv, true}, m, kPage, D);
      cube_.Store(ws_s_[ws * kPage], kPage, QuantMode_t::NoQuant);
      CrossCoreSetFlag<2, PIPE_FIX>(kSReady);
    };
    if (!pages.empty()) scores(0);
    for (size_t k = 0; k < pages.size(); ++k) {
      if (k + 1 < pages.size()) scores(k + 1);
      CrossCoreWaitFlag(kPReady);
      const uint64_t ws = Slot(k);
      for (uint32_t n0 = 0; n0 < Dv; n0 += kPvCols) {  // P V, in column blocks the L0C tile holds
        const uint32_t n = std::min(kPvCols, Dv - n0);
        cube_.Compute({ws_p_[ws * kPage], kPage, false},
                      {v_[VOffset(u, pages[k]) + n0], ld_v, false}, m, n, kPage);
        cube_.Store(ws_o_[ws * Dv + n0], Dv, QuantMode_t::NoQuant);
      }
      CrossCoreSetFlag<2, PIPE_FIX>(kPvReady);
    }
  }
  // First workspace row of this group's slot for page number k of a unit.
  uint64_t Slot(size_t k) const {
    return (static_cast<uint64_t>(kernel_util::GroupIdx()) * 2 + k % 2) * kMaxRows;
  }

  // Page k's softmax runs before page k-1's P V is accumulated, so the AIVs and the AIC overlap;
  // O after page k-1 = alpha_{k-1} O + P_{k-1} V, whatever page k did to the running max.
  void VectorUnit(const Unit& u) {
    const Request& req = d_->reqs[static_cast<size_t>(u.req)];
    const int64_t half = (u.rows + 1) / 2, r0 = GetSubBlockIdx() == 0 ? 0 : half;
    const auto rows = static_cast<uint32_t>(GetSubBlockIdx() == 0 ? half : u.rows - half);
    const auto D = static_cast<uint32_t>(d_->Dv),
               C = static_cast<uint32_t>(kPage);  // D: the output width here
    LocalTensor<float> s = s_.Get<float>(), pen = pen_.Get<float>(), idx = idx_.Get<float>(),
                       rmax = rmax_.Get<float>();
    LocalTensor<float> o = o_.Get<float>(), pv = pv_.Get<float>();
    LocalTensor<T> pb = pb_.Get<T>();
    float m_run[kMaxRows / 2], l_run[kMaxRows / 2], alpha[2][kMaxRows / 2];
    for (uint32_t r = 0; r < rows; ++r)
      m_run[r] = -std::numeric_limits<float>::infinity(), l_run[r] = 0.0f;
    Sync<HardEvent::MTE3_V>();  // the previous unit's output copy has left UB
    if (rows) Duplicate(o, 0.0f, rows * D);
    const std::vector<int64_t> pages = NeededPages(u);
    auto accumulate = [&](size_t k) {  // O = alpha_k O + (P V)_k
      CrossCoreWaitFlag(kPvReady);
      if (!rows) return;
      Sync<HardEvent::V_MTE2>();
      Sync<HardEvent::MTE3_MTE2>();  // the previous unit's output (held in pv) has left UB
      CopyRowsIn(pv, ws_o_[(Slot(k) + r0) * D], rows, D, D, D);
      Sync<HardEvent::MTE2_V>();
      // rmax and s are free once the vector unit is done: P was cast, the sums read.
      kernel_util::WaitVectorForScalar();
      for (uint32_t r = 0; r < rows; ++r) rmax.SetValue(r, alpha[k % 2][r]);
      RowBroadcast(o, s, rmax, rows, D, [](const auto&... a) { Mul(a...); });
      Add(o, o, pv, rows * D);
    };
    for (size_t k = 0; k < pages.size(); ++k) {
      CrossCoreWaitFlag(kSReady);
      if (rows) {
        Sync<HardEvent::V_MTE2>();
        CopyRowsIn(s, ws_s_[(Slot(k) + r0) * C], rows, C, C, C);
        Sync<HardEvent::MTE2_V>();
        Muls(s, s, d_->scale, rows * C);
        for (uint32_t r = 0; r < rows; ++r)
          ApplyMask(u, req, QIndex(u, r0 + r), pages[k], s[r * C], pen, idx);
        WholeReduceMax(rmax, s, C, rows * C);
        kernel_util::WaitVectorForScalar();
        for (uint32_t r = 0; r < rows; ++r) {
          float blk = rmax.GetValue(r);
          if (blk < 0.5f * kMaskPenalty)
            blk = -std::numeric_limits<float>::infinity();  // nothing attended in this page
          const float m_new = std::max(m_run[r], blk);
          alpha[k % 2][r] = std::isinf(m_run[r]) ? 0.0f : std::exp(m_run[r] - m_new);
          m_run[r] = m_new;
          rmax.SetValue(r, std::isinf(m_new) ? 0.0f : -m_new);
        }
        // pv is free until this page's P V is copied in
        RowBroadcast(s, pv, rmax, rows, C, [](const auto&... a) { Add(a...); });
        Exp(s, s, rows * C);
        WholeReduceSum(rmax, s, C, rows * C);
        Sync<HardEvent::MTE3_V>();  // the previous page's P has left UB
        Cast(pb, s, CAST_RINT, rows * C);
        kernel_util::WaitVectorForScalar();
        for (uint32_t r = 0; r < rows; ++r)
          l_run[r] = l_run[r] * alpha[k % 2][r] + rmax.GetValue(r);
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(ws_p_[(Slot(k) + r0) * C], pb, rows, C, C, C);
      }
      CrossCoreSetFlag<2, PIPE_MTE3>(kPReady);
      if (k > 0) accumulate(k - 1);
    }
    if (!pages.empty()) accumulate(pages.size() - 1);
    if (!rows) return;
    if (u.splits > 1) {
      WritePartial(u, r0, rows, m_run, l_run);
      return;
    }
    for (uint32_t r = 0; r < rows; ++r)
      Muls(o[r * D], o[r * D], l_run[r] > 0 ? 1.0f / l_run[r] : 0.0f, D);
    LocalTensor<T> ob = pv_.Get<T>();  // the last P V is consumed: its buffer takes the bf16 output
    Cast(ob, o, CAST_RINT, rows * D);
    Sync<HardEvent::V_MTE3>();
    StoreRows(out_, *d_, u.req, u.q_row0, u.head0, u.heads_packed, r0, rows, ob);
  }

  // x[r, :] = f[r] (op) x[r, :] for `rows` rows of `width` floats, as AscendC's SoftmaxFlashV2
  // does it on A2/A3: f's values (written by the scalar unit) broadcast to one 32 B block a row
  // (Brcb into `scratch`), then one repeat-form binary instruction per 64 columns whose repeats
  // are the rows and whose `scratch` operand reads that block along the row.
  template <class Op>
  static void RowBroadcast(const LocalTensor<float>& x, const LocalTensor<float>& scratch,
                           const LocalTensor<float>& f, uint32_t rows, uint32_t width, Op op) {
    if (!rows) return;
    kernel_util::WaitScalarForVector();
    Brcb(scratch, f, rows);
    for (uint32_t c0 = 0; c0 < width; c0 += kLanes)
      op(x[c0], scratch, x[c0],
         RowBlock{rows, std::min(kLanes, width - c0), width, 8, width, true});
  }

  // Split-KV: the unnormalised accumulator of this AIV's rows and their running max and sum go to
  // the unit's partial slot; each AIV half has its own m / l block (no shared 32 B block in GM).
  void WritePartial(const Unit& u, int64_t r0, uint32_t rows, const float* m_run,
                    const float* l_run) {
    const auto D = static_cast<uint32_t>(d_->Dv);
    const int64_t slot = u.part + u.split;
    LocalTensor<float> o = o_.Get<float>(), ml = pen_.Get<float>();
    kernel_util::WaitVectorForScalar();  // the vector unit is done with pen (the mask rows)
    Sync<HardEvent::MTE3_S>();           // an earlier unit's m / l copy has read it
    for (uint32_t r = 0; r < rows; ++r) {
      ml.SetValue(r,
                  std::isinf(m_run[r]) ? kMaskPenalty : m_run[r]);  // a row that attended nothing
      ml.SetValue(kMlFloats + r, l_run[r]);
    }
    Sync<HardEvent::S_MTE3>();
    Sync<HardEvent::V_MTE3>();
    CopyRowsOut(part_[static_cast<uint64_t>((slot * kMaxRows + r0) * d_->Dv)], o, rows, D, D, D);
    const uint64_t ml_at = static_cast<uint64_t>((slot * 2 + GetSubBlockIdx()) * 2 * kMlFloats);
    kernel_util::CopyOut(ml_[ml_at], ml, rows);
    kernel_util::CopyOut(ml_[ml_at + kMlFloats], ml[kMlFloats], rows);
  }

  // Adds the mask penalty to one score row of page `p`: keys outside the row's range, beyond
  // the KV length, or masked by an explicit atten_mask.
  void ApplyMask(const Unit& u, const Request& req, int64_t i, int64_t p,
                 const LocalTensor<float>& row, const LocalTensor<float>& pen,
                 const LocalTensor<float>& idx) {
    int64_t lo, hi;
    KeyRange(*d_, req, i, lo, hi);
    const int64_t c0 = p * kPage, last = std::min(hi, req.kv_len - 1);
    const auto C = static_cast<uint32_t>(kPage);
    if (lo > c0 ||
        last < c0 + kPage - 1) {  // penalty = 1e30 * (min(idx - lo', 0) + min(hi' - idx, 0))
      LocalTensor<float> b = pen[kPage];
      Adds(pen, idx, static_cast<float>(c0 - lo), C);
      Mins(pen, pen, 0.0f, C);
      Muls(b, idx, -1.0f, C);
      Adds(b, b, static_cast<float>(last - c0), C);
      Mins(b, b, 0.0f, C);
      Add(pen, pen, b, C);
      Muls(pen, pen, -kMaskPenalty, C);
      Add(row, row, pen, C);
    }
    if (d_->explicit_mask) {  // atten_mask[b][i][c0 ..]: 1 = masked
      LocalTensor<uint8_t> mrow = mrow_.Get<uint8_t>();
      const int64_t n = std::min<int64_t>(kPage, d_->mask_cols - c0);
      if (n <= 0) return;
      Sync<HardEvent::V_MTE2>();
      kernel_util::CopyIn(mrow, mask_[(u.req * d_->q_len_max + i) * d_->mask_cols + c0],
                          static_cast<uint32_t>(n));
      Sync<HardEvent::MTE2_V>();
      LocalTensor<half> mh = pen[kPage].template ReinterpretCast<half>();
      Cast(mh, mrow, CAST_NONE, static_cast<uint32_t>(n));
      Cast(pen, mh, CAST_NONE, static_cast<uint32_t>(n));
      Muls(pen, pen, kMaskPenalty, static_cast<uint32_t>(n));
      Add(row, row, pen, static_cast<uint32_t>(n));
    }
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  TQue<TPosition::A1, 1> q_l1_, p_l1_;  // MLA only
  TQue<TPosition::B1, 2> kv_l1_;
  TBuf<TPosition::VECCALC> s_, pb_, pen_, idx_, mrow_, rmax_, o_, pv_;
  GlobalTensor<T> q_, k_, v_, out_, ws_p_;
  GlobalTensor<float> ws_s_, ws_o_, part_, ml_;
  GlobalTensor<int32_t> bt_;
  GlobalTensor<uint8_t> mask_;
};

// Split-KV merge (AIV): per merge and row, M = max_s m_s, w_s = exp(m_s - M), then
// out = sum_s w_s O_s / sum_s w_s l_s in fp32, cast to the output dtype. Rows go 16 at a time.
template <class T>
class KernelFiaMerge {
 public:
  static constexpr uint32_t kRows = 16;
  void Init(const Gm& gm, const Dims& d) {
    d_ = &d;
    out_.SetGlobalBuffer(gm.out);
    part_.SetGlobalBuffer(gm.ws_part);
    ml_.SetGlobalBuffer(gm.ws_ml);
    const uint64_t D = static_cast<uint64_t>(d.Dv);
    pipe_.InitBuffer(acc_, kRows * D * 4, "merge_acc");
    pipe_.InitBuffer(in_, kRows * D * 4, "partial_in");
    pipe_.InitBuffer(mlb_, 4 * kMlFloats * 4, "m_l_in");
    pipe_.InitBuffer(ob_, kRows * D * sizeof(T), "out_cast");
  }

  void Process() {
    for (size_t i = static_cast<size_t>(GetBlockIdx()); i < d_->merges.size();
         i += static_cast<size_t>(GetBlockNum()))
      for (int64_t r = 0; r < d_->merges[i].rows; r += kRows)
        MergeRows(d_->merges[i], r, std::min<int64_t>(kRows, d_->merges[i].rows - r));
  }

 private:
  void MergeRows(const Merge& g, int64_t first, int64_t n) {
    const auto D = static_cast<uint32_t>(d_->Dv), rows = static_cast<uint32_t>(n);
    const int64_t half = (g.rows + 1) / 2;
    std::vector<float> m(static_cast<size_t>(g.splits * n)), l(m.size()),
        mx(static_cast<size_t>(n), kMaskPenalty);
    LocalTensor<float> mlb = mlb_.Get<float>(), acc = acc_.Get<float>(), in = in_.Get<float>();
    for (int64_t s = 0; s < g.splits; ++s) {  // the row max and sum of every split
      Sync<HardEvent::S_MTE2>();              // the previous split's values were read
      kernel_util::CopyIn(mlb, ml_[static_cast<uint64_t>((g.part + s) * 4 * kMlFloats)],
                          static_cast<uint32_t>(4 * kMlFloats));
      Sync<HardEvent::MTE2_S>();
      for (int64_t r = 0; r < n; ++r) {
        const int64_t row = first + r, sub = row < half ? 0 : 1,
                      at = sub * 2 * kMlFloats + (row - sub * half);
        m[static_cast<size_t>(s * n + r)] = mlb.GetValue(static_cast<uint64_t>(at));
        l[static_cast<size_t>(s * n + r)] = mlb.GetValue(static_cast<uint64_t>(at + kMlFloats));
        mx[static_cast<size_t>(r)] =
            std::max(mx[static_cast<size_t>(r)], m[static_cast<size_t>(s * n + r)]);
      }
    }
    Sync<HardEvent::MTE3_V>();  // the previous rows' output has left UB
    Duplicate(acc, 0.0f, rows * D);
    std::vector<float> sum(static_cast<size_t>(n), 0.0f);
    for (int64_t s = 0; s < g.splits; ++s) {
      Sync<HardEvent::V_MTE2>();  // the previous split's rows were added
      CopyRowsIn(in, part_[static_cast<uint64_t>(((g.part + s) * kMaxRows + first) * d_->Dv)], rows,
                 D, D, D);
      Sync<HardEvent::MTE2_V>();
      for (int64_t r = 0; r < n; ++r) {
        const size_t k = static_cast<size_t>(s * n + r);
        const float w =
            m[k] <= 0.5f * kMaskPenalty ? 0.0f : std::exp(m[k] - mx[static_cast<size_t>(r)]);
        sum[static_cast<size_t>(r)] += w * l[k];
        Axpy(acc[static_cast<uint32_t>(r) * D], in[static_cast<uint32_t>(r) * D], w, D);
      }
    }
    for (int64_t r = 0; r < n; ++r) {
      const float L = sum[static_cast<size_t>(r)];
      Muls(acc[static_cast<uint32_t>(r) * D], acc[static_cast<uint32_t>(r) * D],
           L > 0 ? 1.0f / L : 0.0f, D);
    }
    LocalTensor<T> ob = ob_.Get<T>();
    Cast(ob, acc, CAST_RINT, rows * D);
    Sync<HardEvent::V_MTE3>();
    StoreRows(out_, *d_, g.req, g.q_row0, g.head0, g.heads_packed, first, rows, ob);
  }

  const Dims* d_ = nullptr;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> acc_, in_, mlb_, ob_;
  GlobalTensor<T> out_;
  GlobalTensor<float> part_, ml_;
};

}  // namespace npusim::fia
