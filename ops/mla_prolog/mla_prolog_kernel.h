// Device kernel of `mla_prolog` (see mla_prolog_tiling.h for the stages and their split). The
// cross-core protocol of CANN's design note: each AIC tells its two AIVs when its share of a
// matmul is in GM (mode 2), the AIVs meet at an all-AIV barrier (mode 0) before reading rows every
// AIC wrote, tell their AIC when the normed c_q is in GM, and the AICs meet at an all-AIC
// barrier before MatmulQn reads q columns other AICs wrote.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/common/cube_util.h"
#include "ops/common/kernel_util.h"
#include "ops/mla_prolog/mla_prolog_tiling.h"

namespace npusim::mla_prolog {

using namespace ascendc;

struct Gm {
  GmBuffer *x = nullptr, *w_dq = nullptr, *gamma_cq = nullptr, *w_uq_qr = nullptr, *w_uk = nullptr,
           *w_dkv_kr = nullptr;
  GmBuffer *gamma_ckv = nullptr, *cos_sin = nullptr, *cache_index = nullptr, *kv_cache = nullptr,
           *query = nullptr;
  GmBuffer *ws_cq = nullptr, *ws_cq_norm = nullptr, *ws_ckv_kr = nullptr,
           *ws_q = nullptr;  // bf16 (int32 / int8 quantised)
  // quantised only: per-token scales of x, per-column scales of the int8 weights, the bf16 q_nope
  GmBuffer *x_scale = nullptr, *w_dq_scale = nullptr, *w_dkv_kr_scale = nullptr,
           *w_uq_qr_scale = nullptr, *ws_q_nope = nullptr;
  GmBuffer* ws_cq_scale = nullptr;  // the per-token scale of norm(c_q)
};

// Cross-core flag ids.
enum Flag : int {
  kCqDone = 0,      // AIC -> its AIVs: its MatmulCq columns are in GM
  kCkvKrDone = 1,   // AIC -> its AIVs: its MatmulCkvKr blocks are in GM
  kCqNormed = 2,    // AIVs -> their AIC: every row of norm(c_q) is in GM
  kQDone = 3,       // AIC -> its AIVs: its MatmulQcQr columns are in GM
  kAllVector = 4,   // mode 0 among the AIVs
  kAllCube = 5,     // mode 0 among the AICs
  kQNopeReady = 6,  // quantised, AIVs -> their AIC: every q_nope row is dequantised into GM
};

template <class T>
class KernelMlaProlog {
 public:
  void Init(const Gm& gm, const Tiling& t) {
    gm_ = gm;
    t_ = &t;
    const Dims& d = t.d;
    if (ASCEND_IS_AIC) {
      // Quantised, an int8 and a bf16 tile share L0 and the 7 MTE2->MTE1 event IDs: the int8 one
      // (three of the four matmuls) double-buffered, the bf16 one (MatmulQn) single (L0A: 2 x 16
      // KiB + 32 KiB; L0C: 64 KiB each).
      const auto m = cube_util::AlignUp(static_cast<uint32_t>(t.step_tokens), 16);
      if (t.quant) {
        cube8_.Init(pipe_, m, static_cast<uint32_t>(t.base_n), static_cast<uint32_t>(t.base_k), 2,
                    static_cast<uint32_t>(t.l1_steps));
        cube_.Init(pipe_, m, static_cast<uint32_t>(t.qn_base_n), static_cast<uint32_t>(t.qn_base_k),
                   1);
      } else {
        cube_.Init(pipe_, m, static_cast<uint32_t>(t.base_n), static_cast<uint32_t>(t.base_k), 2,
                   static_cast<uint32_t>(t.l1_steps));
      }
      return;
    }
    const uint64_t wide = static_cast<uint64_t>(std::max(d.Hcq, d.Latent()));
    pipe_.InitBuffer(row_, kernel_util::PaddedCount(wide, sizeof(T)) * sizeof(T), "row");
    pipe_.InitBuffer(f_, wide * 4, "row_fp32");
    pipe_.InitBuffer(tmp_, wide * 4, "tmp");
    pipe_.InitBuffer(tmp2_, wide * 4, "reduce_work");
    pipe_.InitBuffer(red_, 32, "sum");
    pipe_.InitBuffer(gcq_, static_cast<uint64_t>(d.Hcq) * 4, "gamma_cq");
    pipe_.InitBuffer(gckv_, static_cast<uint64_t>(d.Hckv) * 4, "gamma_ckv");
    pipe_.InitBuffer(
        gin_,
        kernel_util::PaddedCount(static_cast<uint64_t>(std::max(d.Hcq, d.Hckv)), sizeof(T)) *
            sizeof(T),
        "gamma_in");
    pipe_.InitBuffer(cs_, kernel_util::PaddedCount(static_cast<uint64_t>(d.Dr), 4) * 4, "cos_sin");
    pipe_.InitBuffer(ropeh_, 2 * kernel_util::PaddedCount(static_cast<uint64_t>(d.Dr / 2), 4) * 4,
                     "rope_tmp");
    pipe_.InitBuffer(qr_,
                     static_cast<uint64_t>(d.N) *
                         kernel_util::PaddedCount(static_cast<uint64_t>(d.Dr), sizeof(T)) *
                         sizeof(T),
                     "q_rope");
    if (!t.quant)
      pipe_.InitBuffer(
          qrf_,
          static_cast<uint64_t>(d.N) * kernel_util::PaddedCount(static_cast<uint64_t>(d.Dr), 4) * 4,
          "q_rope_fp32");
    if (t.quant) {
      const auto hc = static_cast<uint64_t>(std::min(d.N, t.heads_per_chunk));
      pipe_.InitBuffer(swcq_, static_cast<uint64_t>(d.Hcq) * 4, "w_dq_scale");
      pipe_.InitBuffer(swkv_, static_cast<uint64_t>(d.Latent()) * 4, "w_dkv_kr_scale");
      pipe_.InitBuffer(qacc_, hc * static_cast<uint64_t>(d.Qk()) * 4, "q_int32");
      pipe_.InitBuffer(swq_, hc * static_cast<uint64_t>(d.Qk()) * 4, "w_uq_qr_scale");
      pipe_.InitBuffer(qn_, hc * static_cast<uint64_t>(d.D) * sizeof(T), "q_nope");
    }
  }

  void Process() {
    if (ASCEND_IS_AIC)
      Cube();
    else
      Vector();
  }

 private:
  // ---- AIC ----
  // C[m, cols] = A[m, k] (lda) x B[k, cols] (ldb) through `tile`, `bn` columns at a time, stored
  // to GM rows ldc apart (rounded to bf16, or the int32 accumulator as is).
  template <class A, class Acc, class C>
  static void Matmul(cube_util::CubeTile<A, Acc>& tile, uint32_t bn, const GlobalTensor<A>& a,
                     uint64_t lda, const GlobalTensor<A>& b, uint64_t ldb, const GlobalTensor<C>& c,
                     uint64_t ldc, uint32_t m, uint32_t cols, uint32_t k) {
    const QuantMode_t out = std::is_same_v<C, int32_t>              ? QuantMode_t::NoQuant
                            : DTypeOf<C>::value == DType::kBFloat16 ? QuantMode_t::F322BF16
                                                                    : QuantMode_t::F322F16;
    for (uint32_t n0 = 0; n0 < cols; n0 += bn) {
      const uint32_t n = std::min(bn, cols - n0);
      tile.Compute(cube_util::Operand<A>{a, lda, false}, cube_util::Operand<A>{b[n0], ldb, false},
                   m, n, k);
      tile.Store(c[n0], ldc, out);
    }
  }

  void Cube() {
    if (t_->quant) return CubeSteps<int8_t, int32_t>(cube8_);
    CubeSteps<T, T>(cube_);
  }

  // The AIC's stages; A, C: the first three matmuls' operand and output types (bf16, or int8 into
  // int32 when quantised).
  template <class A, class C, class Acc>
  void CubeSteps(cube_util::CubeTile<A, Acc>& tile) {
    const Tiling& t = *t_;
    const Dims& d = t.d;
    GlobalTensor<A> x, wdq, wuq, wdkv, cqn;
    GlobalTensor<C> cq, ckr, q;
    GlobalTensor<T> wuk, qn, query;
    x.SetGlobalBuffer(gm_.x);
    wdq.SetGlobalBuffer(gm_.w_dq);
    wuq.SetGlobalBuffer(gm_.w_uq_qr);
    wdkv.SetGlobalBuffer(gm_.w_dkv_kr);
    cqn.SetGlobalBuffer(gm_.ws_cq_norm);
    cq.SetGlobalBuffer(gm_.ws_cq);
    ckr.SetGlobalBuffer(gm_.ws_ckv_kr);
    q.SetGlobalBuffer(gm_.ws_q);
    wuk.SetGlobalBuffer(gm_.w_uk);
    // MatmulQn reads q_nope from q (bf16), or from the AIVs' dequantised copy
    qn.SetGlobalBuffer(t.quant ? gm_.ws_q_nope : gm_.ws_q);
    query.SetGlobalBuffer(gm_.query);
    const int64_t c = GetBlockIdx();
    const auto He = static_cast<uint32_t>(d.He), Hcq = static_cast<uint32_t>(d.Hcq),
               bn = static_cast<uint32_t>(t.base_n);
    const uint64_t lat = static_cast<uint64_t>(d.Latent()),
                   nq = static_cast<uint64_t>(d.N * d.Qk());
    const uint64_t qn_ld = t.quant ? static_cast<uint64_t>(d.N * d.D) : nq,
                   qn_head = static_cast<uint64_t>(t.quant ? d.D : d.Qk());
    for (int64_t t0 = 0; t0 < d.T; t0 += t.step_tokens) {
      const auto m = static_cast<uint32_t>(std::min(t.step_tokens, d.T - t0));
      const auto row = static_cast<uint64_t>(t0);
      if (const int64_t n = t.cq.Count(c); n > 0) {
        const auto c0 = static_cast<uint64_t>(t.cq.Begin(c));
        Matmul(tile, bn, x[row * He], He, wdq[c0], Hcq, cq[row * Hcq + c0], Hcq, m,
               static_cast<uint32_t>(n), He);
      }
      CrossCoreSetFlag<2, PIPE_FIX>(kCqDone);
      for (int64_t blk = c; blk < t.CkvKrBlocks(); blk += t.cores) {
        const uint64_t c0 = static_cast<uint64_t>(blk * t.ckvkr_block);
        const auto n = static_cast<uint32_t>(
            std::min<int64_t>(t.ckvkr_block, d.Latent() - blk * t.ckvkr_block));
        Matmul(tile, bn, x[row * He], He, wdkv[c0], lat, ckr[row * lat + c0], lat, m, n, He);
      }
      CrossCoreSetFlag<2, PIPE_FIX>(kCkvKrDone);
      CrossCoreWaitFlag(kCqNormed);
      if (const int64_t n = t.qcqr.Count(c); n > 0) {
        const auto c0 = static_cast<uint64_t>(t.qcqr.Begin(c));
        Matmul(tile, bn, cqn[row * Hcq], Hcq, wuq[c0], nq, q[row * nq + c0], nq, m,
               static_cast<uint32_t>(n), Hcq);
      }
      CrossCoreSetFlag<2, PIPE_FIX>(kQDone);
      if (t.quant) {
        CrossCoreWaitFlag(kQNopeReady);  // the AIVs have dequantised every AIC's q columns
      } else {
        CrossCoreSetFlag<0, PIPE_FIX>(kAllCube);  // MatmulQn reads q columns other AICs wrote
        CrossCoreWaitFlag(kAllCube);
      }
      const uint64_t qrow = static_cast<uint64_t>(d.N) * lat;
      const auto qbn = static_cast<uint32_t>(t.quant ? t.qn_base_n : t.base_n);
      for (int64_t h = c * t.heads_per_core; h < std::min(d.N, (c + 1) * t.heads_per_core); ++h) {
        const auto hh = static_cast<uint64_t>(h);
        Matmul(cube_, qbn, qn[row * qn_ld + hh * qn_head], qn_ld,
               wuk[hh * static_cast<uint64_t>(d.D * d.Hckv)], static_cast<uint64_t>(d.Hckv),
               query[row * qrow + hh * lat], qrow, m, static_cast<uint32_t>(d.Hckv),
               static_cast<uint32_t>(d.D));
      }
    }
  }

  // ---- AIV ----
  // Every AIV at the barrier before any goes on.
  static void AllVectors() {
    CrossCoreSetFlag<0, PIPE_MTE3>(kAllVector);
    CrossCoreWaitFlag(kAllVector);
  }

  // RMSNorm of `cols` fp32 values in f (plain weight g): f = f * rsqrt(mean(f^2) + eps) * g.
  void Norm(const LocalTensor<float>& f, const LocalTensor<float>& g, uint32_t cols) {
    LocalTensor<float> tmp = tmp_.Get<float>(), tmp2 = tmp2_.Get<float>(), red = red_.Get<float>();
    Mul(tmp, f, f, cols);
    ReduceSum(red, tmp, tmp2, cols);
    kernel_util::WaitVectorForScalar();
    const float inv = 1.0f / std::sqrt(red.GetValue(0) / static_cast<float>(cols) + t_->d.eps);
    kernel_util::WaitScalarForVector();
    Muls(f, f, inv, cols);
    Mul(f, f, g, cols);
  }

  // NeoX rotation of one rope part in place: the first half x1, the second x2;
  // x1 <- x1 cos - x2 sin, x2 <- x2 cos + x1 sin, with cs = [cos | sin] of the token.
  void Rope(const LocalTensor<float>& x, const LocalTensor<float>& cs) {
    const auto h = static_cast<uint32_t>(t_->d.Dr / 2);
    LocalTensor<float> a = ropeh_.Get<float>(), b = a[kernel_util::PaddedCount(h, 4)];
    LocalTensor<float> x1 = x, x2 = x[h], c = cs, s = cs[h];
    Mul(a, x2, s, h);
    Mul(b, x1, s, h);
    Mul(x1, x1, c, h);
    Sub(x1, x1, a, h);
    Mul(x2, x2, c, h);
    Add(x2, x2, b, h);
  }

  void LoadGamma(const LocalTensor<float>& dst, GmBuffer* src, uint32_t cols) {
    GlobalTensor<T> g;
    g.SetGlobalBuffer(src);
    LocalTensor<T> in = gin_.Get<T>();
    kernel_util::CopyIn(in, g, cols);
    kernel_util::Sync<HardEvent::MTE2_V>();
    Cast(dst, in, CAST_NONE, cols);
    kernel_util::Sync<HardEvent::V_MTE2>();  // the next load may reuse gamma_in
  }

  void LoadF32(const LocalTensor<float>& dst, GmBuffer* src, uint64_t at, uint32_t n) {
    GlobalTensor<float> g;
    g.SetGlobalBuffer(src);
    kernel_util::CopyIn(dst, g[at], n);
  }

  // Dynamic per-token int8 of `cols` fp32 values (f is scaled in place): q = rint(f / s) with
  // s = max |f| / 127, returned (0 for a zero row, which quantises to zeros).
  float QuantRow(const LocalTensor<int8_t>& q, const LocalTensor<float>& f, uint32_t cols) {
    LocalTensor<float> ab = tmp_.Get<float>(), red = red_.Get<float>();
    Abs(ab, f, cols);
    ReduceMax(red, ab, ab, cols);
    kernel_util::WaitVectorForScalar();
    const float s = red.GetValue(0) / 127.0f;
    kernel_util::WaitScalarForVector();
    Muls(f, f, s > 0 ? 1.0f / s : 0.0f, cols);
    Cast(q, f, CAST_RINT, cols);
    return s;
  }

  // Row `r` of a workspace `cols` wide into f as fp32: bf16 as it is; quantised, the int32 product
  // dequantised by the columns' scales (in UB) and the token's (x's, read by the scalar).
  void LoadRow(const LocalTensor<float>& f, GmBuffer* ws, int64_t r, uint32_t cols,
               const LocalTensor<float>& col_scale) {
    const uint64_t at = static_cast<uint64_t>(r) * cols;
    if (!t_->quant) {
      GlobalTensor<T> g;
      g.SetGlobalBuffer(ws);
      LocalTensor<T> row = row_.Get<T>();
      kernel_util::CopyIn(row, g[at], cols);
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(f, row, CAST_NONE, cols);
      return;
    }
    GlobalTensor<int32_t> g;
    GlobalTensor<float> xs;
    g.SetGlobalBuffer(ws);
    xs.SetGlobalBuffer(gm_.x_scale);
    LocalTensor<int32_t> acc = f.template ReinterpretCast<int32_t>();  // int32 -> fp32 in place
    kernel_util::CopyIn(acc, g[at], cols);
    kernel_util::Sync<HardEvent::MTE2_V>();
    Cast(f, acc, CAST_NONE, cols);
    Mul(f, f, col_scale, cols);
    Muls(f, f, xs.GetValue(static_cast<uint64_t>(r)), cols);
  }

  void Vector() {
    const Tiling& t = *t_;
    const Dims& d = t.d;
    GlobalTensor<T> cache, cqn;
    GlobalTensor<int8_t> cqn8;
    GlobalTensor<float> cos_sin, cq_scale;
    GlobalTensor<int32_t> slot;
    cache.SetGlobalBuffer(gm_.kv_cache);
    cqn.SetGlobalBuffer(gm_.ws_cq_norm);
    cqn8.SetGlobalBuffer(gm_.ws_cq_norm);
    cos_sin.SetGlobalBuffer(gm_.cos_sin);
    slot.SetGlobalBuffer(gm_.cache_index);
    if (t.quant) cq_scale.SetGlobalBuffer(gm_.ws_cq_scale);
    LocalTensor<T> row = row_.Get<T>();
    LocalTensor<float> f = f_.Get<float>(), gcq = gcq_.Get<float>(), gckv = gckv_.Get<float>(),
                       cs = cs_.Get<float>();
    LocalTensor<float> swcq, swkv;
    const auto Hcq = static_cast<uint32_t>(d.Hcq), Hckv = static_cast<uint32_t>(d.Hckv),
               Dr = static_cast<uint32_t>(d.Dr);
    const auto lat = static_cast<uint32_t>(d.Latent());
    LoadGamma(gcq, gm_.gamma_cq, Hcq);
    LoadGamma(gckv, gm_.gamma_ckv, Hckv);
    if (t.quant) {
      swcq = swcq_.Get<float>();
      swkv = swkv_.Get<float>();
      LoadF32(swcq, gm_.w_dq_scale, 0, Hcq);
      LoadF32(swkv, gm_.w_dkv_kr_scale, 0, lat);
      kernel_util::Sync<HardEvent::MTE2_V>();
    }
    const int64_t v = GetBlockIdx(), vn = GetBlockNum();
    for (int64_t t0 = 0; t0 < d.T; t0 += t.step_tokens) {
      const int64_t m = std::min(t.step_tokens, d.T - t0);
      // The rows of this step split over every AIV: [r0, r1).
      const int64_t per = (m + vn - 1) / vn, r0 = t0 + std::min(m, v * per),
                    r1 = t0 + std::min(m, (v + 1) * per);
      CrossCoreWaitFlag(kCqDone);
      AllVectors();
      for (int64_t r = r0; r < r1; ++r) {  // RmsNormCq (quantised: and norm(c_q) per token to int8)
        const auto at = static_cast<uint64_t>(r) * Hcq;
        LoadRow(f, gm_.ws_cq, r, Hcq, swcq);
        Norm(f, gcq, Hcq);
        if (t.quant) {
          LocalTensor<int8_t> q8 = row.template ReinterpretCast<int8_t>();
          cq_scale.SetValue(static_cast<uint64_t>(r), QuantRow(q8, f, Hcq));
          kernel_util::Sync<HardEvent::V_MTE3>();
          kernel_util::CopyOut(cqn8[at], q8, Hcq);
        } else {
          Cast(row, f, CAST_RINT, Hcq);
          kernel_util::Sync<HardEvent::V_MTE3>();
          kernel_util::CopyOut(cqn[at], row, Hcq);
        }
        kernel_util::Sync<HardEvent::MTE3_MTE2>();
      }
      AllVectors();
      CrossCoreSetFlag<2, PIPE_MTE3>(kCqNormed);
      CrossCoreWaitFlag(kCkvKrDone);
      AllVectors();
      for (int64_t r = r0; r < r1; ++r) {  // RmsNormRopeScatterCkvKr
        kernel_util::CopyIn(cs, cos_sin[static_cast<uint64_t>(r) * Dr], Dr);
        const int64_t s = slot.GetValue(static_cast<uint64_t>(r));
        LoadRow(f, gm_.ws_ckv_kr, r, lat, swkv);
        Norm(f, gckv, Hckv);
        Rope(f[Hckv], cs);
        Cast(row, f, CAST_RINT, lat);
        kernel_util::Sync<HardEvent::V_MTE3>();
        kernel_util::CopyOut(cache[static_cast<uint64_t>(s) * lat], row, lat);
        kernel_util::Sync<HardEvent::MTE3_MTE2>();
      }
      CrossCoreWaitFlag(kQDone);
      AllVectors();
      if (t.quant) {
        DequantQ(t0, m);
        AllVectors();
        CrossCoreSetFlag<2, PIPE_MTE3>(kQNopeReady);
      } else {
        RopeQ(r0, r1);
      }
    }
  }

  // bf16: every head's rope part of the tokens [r0, r1) roped into query.
  void RopeQ(int64_t r0, int64_t r1) {
    const Dims& d = t_->d;
    GlobalTensor<T> q, query;
    GlobalTensor<float> cos_sin;
    q.SetGlobalBuffer(gm_.ws_q);
    query.SetGlobalBuffer(gm_.query);
    cos_sin.SetGlobalBuffer(gm_.cos_sin);
    LocalTensor<T> qr = qr_.Get<T>();
    LocalTensor<float> cs = cs_.Get<float>(), qrf = qrf_.Get<float>();
    const auto Dr = static_cast<uint32_t>(d.Dr), lat = static_cast<uint32_t>(d.Latent());
    const auto qk = static_cast<uint64_t>(d.Qk());
    const uint64_t nq = static_cast<uint64_t>(d.N) * qk, qrow = static_cast<uint64_t>(d.N) * lat;
    const uint32_t drp = kernel_util::PaddedCount(Dr, sizeof(T)),
                   drf = kernel_util::PaddedCount(Dr, 4);
    for (int64_t r = r0; r < r1; ++r) {
      const auto tok = static_cast<uint64_t>(r);
      kernel_util::CopyRowsIn(qr, q[tok * nq + static_cast<uint64_t>(d.D)],
                              static_cast<uint32_t>(d.N), Dr, qk);
      kernel_util::CopyIn(cs, cos_sin[tok * Dr], Dr);
      kernel_util::Sync<HardEvent::MTE2_V>();
      for (int64_t h = 0; h < d.N; ++h) {
        const auto hh = static_cast<uint32_t>(h);
        Cast(qrf[hh * drf], qr[hh * drp], CAST_NONE, Dr);
        Rope(qrf[hh * drf], cs);
        Cast(qr[hh * drp], qrf[hh * drf], CAST_RINT, Dr);
      }
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyRowsOut(query[tok * qrow + static_cast<uint64_t>(d.Hckv)], qr,
                               static_cast<uint32_t>(d.N), Dr, lat);
      kernel_util::Sync<HardEvent::MTE3_MTE2>();
    }
  }

  // Quantised: q of the step's m tokens from t0 dequantised in (token, head chunk) items over
  // every AIV, q_nope to bf16 for MatmulQn, the rope part roped into query.
  void DequantQ(int64_t t0, int64_t m) {
    const Tiling& t = *t_;
    const Dims& d = t.d;
    GlobalTensor<int32_t> q;
    GlobalTensor<T> qn, query;
    GlobalTensor<float> cos_sin, cq_scale;
    q.SetGlobalBuffer(gm_.ws_q);
    qn.SetGlobalBuffer(gm_.ws_q_nope);
    query.SetGlobalBuffer(gm_.query);
    cos_sin.SetGlobalBuffer(gm_.cos_sin);
    cq_scale.SetGlobalBuffer(gm_.ws_cq_scale);
    LocalTensor<T> qr = qr_.Get<T>(), qnope = qn_.Get<T>();
    LocalTensor<float> cs = cs_.Get<float>(), swq = swq_.Get<float>(), qf = qacc_.Get<float>();
    LocalTensor<int32_t> qa = qf.template ReinterpretCast<int32_t>();  // int32 -> fp32 in place
    const auto Dr = static_cast<uint32_t>(d.Dr), D = static_cast<uint32_t>(d.D),
               lat = static_cast<uint32_t>(d.Latent());
    const auto qk = static_cast<uint32_t>(d.Qk()), Hckv = static_cast<uint32_t>(d.Hckv);
    const uint64_t nq = static_cast<uint64_t>(d.N) * qk, nn = static_cast<uint64_t>(d.N) * D,
                   qrow = static_cast<uint64_t>(d.N) * lat;
    const uint32_t drp = kernel_util::PaddedCount(Dr, sizeof(T));
    const int64_t hc = std::min(d.N, t.heads_per_chunk), chunks = (d.N + hc - 1) / hc;
    for (int64_t item = GetBlockIdx(); item < m * chunks; item += GetBlockNum()) {
      const auto tok = static_cast<uint64_t>(t0 + item / chunks);
      const auto head0 = static_cast<uint64_t>(item % chunks * hc);
      const auto hn = static_cast<uint32_t>(
                     std::min<int64_t>(hc, d.N - static_cast<int64_t>(head0))),
                 cols = hn * qk;
      kernel_util::CopyIn(cs, cos_sin[tok * Dr], Dr);
      kernel_util::CopyIn(qa, q[tok * nq + head0 * qk], cols);
      LoadF32(swq, gm_.w_uq_qr_scale, head0 * qk, cols);
      const float scq = cq_scale.GetValue(tok);
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(qf, qa, CAST_NONE, cols);
      Mul(qf, qf, swq, cols);
      Muls(qf, qf, scq, cols);
      for (uint32_t h = 0; h < hn; ++h) {
        Cast(qnope[h * D], qf[h * qk], CAST_RINT, D);
        Rope(qf[h * qk + D], cs);
        Cast(qr[h * drp], qf[h * qk + D], CAST_RINT, Dr);
      }
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyOut(qn[tok * nn + head0 * D], qnope, hn * D);
      kernel_util::CopyRowsOut(query[tok * qrow + head0 * lat + Hckv], qr, hn, Dr, lat);
      kernel_util::Sync<HardEvent::MTE3_MTE2>();
    }
  }

  Gm gm_;
  const Tiling* t_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  cube_util::CubeTile<int8_t, int32_t> cube8_;
  TBuf<TPosition::VECCALC> row_, f_, tmp_, tmp2_, red_, gcq_, gckv_, gin_, cs_, ropeh_, qr_, qrf_;
  TBuf<TPosition::VECCALC> swcq_, swkv_, qacc_, swq_, qn_;  // quantised
};

}  // namespace npusim::mla_prolog
