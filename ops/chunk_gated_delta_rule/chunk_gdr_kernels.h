// `chunk_gated_delta_rule` device kernels: the AIV stages (cumsum, prepare, mask, output) and
// the mixed chunk_h recurrence. The AIC products of stages 2, 4, 6 and 8 are batched matmuls
// (ops/common/batched_matmul.h). Each AIV stage handles one (chunk, head) unit at a time and
// drains its pipes between units (no overlap across units).
#pragma once

#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "ops/chunk_gated_delta_rule/chunk_gdr_tiling.h"
#include "ops/common/cube_util.h"
#include "ops/common/kernel_util.h"

namespace npusim::chunk_gdr {

using namespace ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;
using kernel_util::Sync;

// GM buffers of every stage (inputs, workspaces, outputs).
struct Gm {
  GmBuffer *q, *k, *v, *g, *beta, *state, *o;
  GmBuffer *G, *kkt, *tm, *kb, *vb, *w, *u, *h, *vnew, *ws_f, *vs, *kv, *qk, *qh, *p, *pv;
  GmBuffer* kb_f32 = nullptr;  // wy_fast=triton: K beta exp(G) in fp32 for the AIC
};

// G (and beta) of one chunk's rows for value head h, for the scalar unit: one strided copy
// brings the column into UB (a 32 B block per row) and the scalar unit reads it there. Reading
// them from GM one by one would stall the scalar unit on a data cache line fill per row, the
// rows being HV elements apart.
template <class T>
class ChunkGates {
 public:
  void Init(TPipe& pipe, const Dims& d, bool with_beta) {
    pipe.InitBuffer(g_, d.C * kGPitch * 4, "g_column");
    if (with_beta) pipe.InitBuffer(b_, d.C * kBPitch * sizeof(T), "beta_column");
  }
  void Load(const Dims& d, const Gm& gm, const Chunk& ch, int64_t h, float* gs, float* bs) {
    const auto L = static_cast<uint32_t>(ch.len);
    const auto HV = static_cast<uint64_t>(d.HV);
    GlobalTensor<float> G;
    G.SetGlobalBuffer(gm.G);
    LocalTensor<float> g = g_.Get<float>();
    CopyRowsIn(g, G[ch.start * d.HV + h], L, 1, HV, kGPitch);
    LocalTensor<T> b;
    if (bs) {
      GlobalTensor<T> beta;
      beta.SetGlobalBuffer(gm.beta);
      b = b_.Get<T>();
      CopyRowsIn(b, beta[ch.start * d.HV + h], L, 1, HV, kBPitch);
    }
    Sync<HardEvent::MTE2_S>();
    for (uint32_t t = 0; t < L; ++t) {
      gs[t] = g.GetValue(t * kGPitch);
      if (bs) bs[t] = static_cast<float>(b.GetValue(t * kBPitch));
    }
  }

 private:
  static constexpr uint32_t kGPitch = 32 / 4, kBPitch = 32 / sizeof(T);  // one 32 B block per row
  TBuf<TPosition::VECCALC> g_, b_;
};

// The programs of a launch dealt round-robin over its groups (an AI core's AIC and AIVs take
// the same ones); a Triton launch's programs each start with Triton-Ascend's scalar prologue.
template <class Body>
void ForEachProgram(int64_t programs, int64_t prologue_cycles, Body body) {
  for (int64_t p = kernel_util::GroupIdx(); p < programs; p += kernel_util::GroupNum()) {
    if (prologue_cycles > 0) CurrentCore().ScalarCycles(static_cast<uint64_t>(prologue_cycles));
    body(p);
  }
}

// The rows of an L-row chunk (of C) that this AIV takes when a Triton kernel's vector code is split
// over the group's two AIVs by dim 0 (TileAndBindSubBlock): from r0, n of them (0 past the end).
struct AivRows {
  uint32_t r0 = 0, n = 0;
};
inline AivRows RowsOfThisAiv(uint32_t L, uint32_t C) {
  const uint32_t half = C / 2;
  const auto r0 = static_cast<uint32_t>(GetSubBlockIdx()) * half;
  return {r0, L > r0 ? std::min(half, L - r0) : 0};
}

// Stage 1: G = cumsum of g within each chunk, all value heads of a row at once.
template <class T>
class KernelCumsum {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    pitch_ = kernel_util::PaddedCount(static_cast<uint64_t>(d.HV), 4);
    pipe_.InitBuffer(buf_, d.C * pitch_ * 4, "g_rows");
  }
  void Process() {
    GlobalTensor<float> g, G;
    g.SetGlobalBuffer(gm_.g);
    G.SetGlobalBuffer(gm_.G);
    LocalTensor<float> t = buf_.Get<float>();
    const uint32_t hv = static_cast<uint32_t>(d_->HV);
    for (int64_t c = GetBlockIdx(); c < d_->NC(); c += GetBlockNum()) {
      const Chunk& ch = d_->chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      CopyRowsIn(t, g[ch.start * d_->HV], L, hv, hv, pitch_);
      Sync<HardEvent::MTE2_V>();
      for (uint32_t r = 1; r < L; ++r) Add(t[r * pitch_], t[r * pitch_], t[(r - 1) * pitch_], hv);
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(G[ch.start * d_->HV], t, L, hv, hv, pitch_);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  Gm gm_;
  const Dims* d_ = nullptr;
  uint32_t pitch_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> buf_;
};

// Stage 1 as megagdn-pto's chunk_cumsum runs it (`cumsum=pto`; kernels/pto/chunk_cumsum.cpp
// @3a59190c, read for its structure): tiles of 128 rows of one request, every value head of a row
// in a 64-column row (the kernel's compile-time head ceiling, zero-padded), one AIV per AI core
// (its sibling returns at once), tiles dealt round-robin. Load, the row chain and store run one
// after another (no double buffering); each row adds into a one-row accumulator, then waits for
// the vector pipe before the scalar unit issues the copy out (the V->S sync the kernel needs to
// keep its accumulator free of a read-after-write race), then a vector barrier. The sum restarts
// at each chunk of this pipeline (64 rows unless chunk=128), where the PTO kernel's own chunk is
// 128 rows: same instruction count per row, the chunk-local sums the later stages read.
template <class T>
class KernelCumsumPto {
 public:
  static constexpr int64_t kTileRows = kMaxChunk;  // the PTO kernel's own chunk
  static constexpr uint32_t kCols = 64;  // GDN_MAX_HEADS: the UB row is sized for it whatever HV is
  // 128-row tiles of each request, in order (the PTO kernel's chunk list).
  static std::vector<Chunk> Tiles(const Dims& d) {
    std::vector<Chunk> out;
    for (int64_t b = 0; b < d.B; ++b) {
      if (d.chunk_count[static_cast<size_t>(b)] == 0) continue;
      const Chunk& first = d.chunks[static_cast<size_t>(d.first_chunk[static_cast<size_t>(b)])];
      int64_t len = 0;
      for (int64_t c = 0; c < d.chunk_count[static_cast<size_t>(b)]; ++c)
        len += d.chunks[static_cast<size_t>(d.first_chunk[static_cast<size_t>(b)] + c)].len;
      for (int64_t at = 0; at < len; at += kTileRows)
        out.push_back({b, first.start + at, std::min(kTileRows, len - at)});
    }
    return out;
  }
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    tiles_ = Tiles(d);
    if (d.HV > kCols)
      throw InputError(
          "cumsum=pto: the PTO kernel's rows hold at most 64 value heads (GDN_MAX_HEADS), got " +
          std::to_string(d.HV));
    pipe_.InitBuffer(g_, kTileRows * kCols * 4, "g_tile");
    pipe_.InitBuffer(s_, kTileRows * kCols * 4, "g_sum_tile");
    pipe_.InitBuffer(acc_, kCols * 4, "row_acc");
  }
  void Process() {
    GlobalTensor<float> g, G;
    g.SetGlobalBuffer(gm_.g);
    G.SetGlobalBuffer(gm_.G);
    LocalTensor<float> in = g_.Get<float>(), out = s_.Get<float>(), acc = acc_.Get<float>();
    const auto hv = static_cast<uint32_t>(d_->HV);
    for (size_t t = static_cast<size_t>(GetBlockIdx()); t < tiles_.size();
         t += static_cast<size_t>(GetBlockNum())) {
      const Chunk& tile = tiles_[t];
      const auto rows = static_cast<uint32_t>(tile.len);
      CopyRowsIn(in, g[tile.start * d_->HV], rows, hv, hv, kCols);
      Sync<HardEvent::MTE2_V>();
      // TFILLPAD zeroes a partial tile's missing rows; the padding columns are never stored.
      if (rows < kTileRows) Duplicate(in[rows * kCols], 0.0f, (kTileRows - rows) * kCols);
      for (uint32_t r = 0; r < rows; ++r) {
        if (r % d_->C == 0)
          Adds(acc, in[r * kCols], 0.0f, kCols);  // a chunk's first row starts the sum
        else
          Add(acc, acc, in[r * kCols], kCols);
        Sync<HardEvent::V_S>();
        Adds(out[r * kCols], acc, 0.0f, kCols);
        PipeBarrier<PIPE_V>();
      }
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(G[tile.start * d_->HV], out, rows, hv, hv, kCols);
      Sync<HardEvent::MTE3_V>();
      Sync<HardEvent::V_MTE2>();  // the next tile's load lands where this one's rows were read
    }
  }

 private:
  Gm gm_;
  const Dims* d_ = nullptr;
  std::vector<Chunk> tiles_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> g_, s_, acc_;
};

// Stage 3, per (chunk, value head): A from K^K^T, T = (I + A)^-1, and the WY operands Kb, Vb.
template <class T>
class KernelPrepare {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    // Only the buffers of the work this launch does: the decay when kkt did not gate A, the row
    // tiles when wy_fast does not scale K and V itself (at chunk 128 all of them overflow UB).
    const auto C = static_cast<uint64_t>(d.C);
    const uint64_t tile = C * C * 4, cols = static_cast<uint64_t>(std::max(d.K, d.V));
    pipe_.InitBuffer(a_, tile, "kkt_decay");
    if (!d.triton_kkt) pipe_.InitBuffer(dec_, tile, "decay");
    pipe_.InitBuffer(t_, tile, "t_fp32");
    pipe_.InitBuffer(tb_, C * C * sizeof(T), "t_bf16");
    pipe_.InitBuffer(negg_, C * 4, "neg_g");
    if (!d.triton_wy) {
      pipe_.InitBuffer(rin_, C * cols * sizeof(T), "rows_in");
      pipe_.InitBuffer(rf_, C * cols * 4, "rows_fp32");
      pipe_.InitBuffer(rout_, C * cols * sizeof(T), "rows_out");
    }
    gates_.Init(pipe_, d, true);
  }
  void Process() {
    GlobalTensor<float> kkt;
    GlobalTensor<T> k, v, tm, kb, vb;
    kkt.SetGlobalBuffer(gm_.kkt);
    k.SetGlobalBuffer(gm_.k);
    v.SetGlobalBuffer(gm_.v);
    tm.SetGlobalBuffer(gm_.tm);
    kb.SetGlobalBuffer(gm_.kb);
    vb.SetGlobalBuffer(gm_.vb);
    const Dims& d = *d_;
    LocalTensor<float> a = a_.Get<float>(), t = t_.Get<float>(), negg = negg_.Get<float>();
    const auto C = static_cast<uint32_t>(d.C);
    float gs[kMaxChunk], bs[kMaxChunk];
    for (int64_t unit = GetBlockIdx(); unit < d.NC() * d.HV; unit += GetBlockNum()) {
      const int64_t c = unit / d.HV, h = unit % d.HV, j = h / (d.HV / d.H);
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      gates_.Load(d, gm_, ch, h, gs, bs);
      CopyRowsIn(a, kkt[(c * d.HV + h) * C * C], L, L, C, C);
      for (uint32_t s = 0; s < L; ++s) negg.SetValue(s, -gs[s]);
      kernel_util::WaitScalarForVector();
      Sync<HardEvent::MTE2_V>();
      // A[t][s] = (k_t . k_s) exp(G_t - G_s) for s < t; beta_t is applied on the scalar side.
      // kkt=triton: the kkt launch has gated A, beta_t included.
      if (!d.triton_kkt) {
        LocalTensor<float> dec = dec_.Get<float>();
        for (uint32_t r = 1; r < L; ++r) Adds(dec[r * C], negg, gs[r], r);
        Exp(dec, dec, L * C);
        Mul(a, a, dec, L * C);
      }
      // T = (I + A)^-1 by forward substitution: row t = e_t - sum_{s<t} beta_t A[t][s] row s.
      Duplicate(t, 0.0f, L * C);
      kernel_util::WaitVectorForScalar();
      for (uint32_t r = 0; r < L; ++r) t.SetValue(r * C + r, 1.0f);
      kernel_util::WaitScalarForVector();
      for (uint32_t r = 1; r < L; ++r)
        for (uint32_t s = 0; s < r; ++s)
          Axpy(t[r * C], t[s * C], -(d.triton_kkt ? 1.0f : bs[r]) * a.GetValue(r * C + s), s + 1);
      Cast(tb_.Get<T>(), t, CAST_RINT, L * C);
      // Kb = k beta exp(G), Vb = v beta, rounded to bf16 as the WY products' operands
      // (wy_fast=triton: the wy_fast launch scales them itself).
      if (!d.triton_wy) {
        float kscale[kMaxChunk];
        for (uint32_t r = 0; r < L; ++r) kscale[r] = bs[r] * std::exp(gs[r]);
        ScaleRows(k[ch.start * d.H * d.K + j * d.K], static_cast<uint32_t>(d.K),
                  static_cast<uint64_t>(d.H * d.K), L, kscale, kb[unit * C * d.K]);
        Sync<HardEvent::V_MTE2>();
        Sync<HardEvent::MTE3_V>();
        ScaleRows(v[ch.start * d.HV * d.V + h * d.V], static_cast<uint32_t>(d.V),
                  static_cast<uint64_t>(d.HV * d.V), L, bs, vb[unit * C * d.V]);
      } else {
        Sync<HardEvent::V_MTE3>();
      }
      CopyRowsOut(tm[unit * C * C], tb_.Get<T>(), L, C, C);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  // dst rows (pitch `cols`) = bf16(src rows x scale[r]).
  void ScaleRows(const GlobalTensor<T>& src, uint32_t cols, uint64_t stride, uint32_t L,
                 const float* scale, const GlobalTensor<T>& dst) {
    LocalTensor<T> rin = rin_.Get<T>(), rout = rout_.Get<T>();
    LocalTensor<float> rf = rf_.Get<float>();
    CopyRowsIn(rin, src, L, cols, stride, cols);
    Sync<HardEvent::MTE2_V>();
    Cast(rf, rin, CAST_NONE, L * cols);
    for (uint32_t r = 0; r < L; ++r) Muls(rf[r * cols], rf[r * cols], scale[r], cols);
    Cast(rout, rf, CAST_RINT, L * cols);
    Sync<HardEvent::V_MTE3>();
    CopyRowsOut(dst, rout, L, cols, cols, cols);
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> a_, dec_, t_, tb_, negg_, rin_, rf_, rout_;
  ChunkGates<T> gates_;
};

// Stage 7, per (chunk, value head): P = (Q^K^T) exp(G_t - G_s) on t >= s, zero elsewhere.
template <class T>
class KernelMask {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    const auto C = static_cast<uint64_t>(d.C);
    pipe_.InitBuffer(qk_, C * C * 4, "qk");
    pipe_.InitBuffer(dec_, C * C * 4, "decay");
    pipe_.InitBuffer(pb_, C * C * sizeof(T), "p_bf16");
    pipe_.InitBuffer(negg_, C * 4, "neg_g");
    gates_.Init(pipe_, d, false);
  }
  void Process() {
    GlobalTensor<float> qk;
    GlobalTensor<T> p;
    qk.SetGlobalBuffer(gm_.qk);
    p.SetGlobalBuffer(gm_.p);
    const Dims& d = *d_;
    LocalTensor<float> a = qk_.Get<float>(), dec = dec_.Get<float>(), negg = negg_.Get<float>();
    const auto C = static_cast<uint32_t>(d.C);
    float gs[kMaxChunk];
    for (int64_t unit = GetBlockIdx(); unit < d.NC() * d.HV; unit += GetBlockNum()) {
      const int64_t c = unit / d.HV, h = unit % d.HV, j = h / (d.HV / d.H);
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      gates_.Load(d, gm_, ch, h, gs, nullptr);
      CopyRowsIn(a, qk[(c * d.H + j) * C * C], L, L, C, C);
      for (uint32_t s = 0; s < L; ++s) negg.SetValue(s, -gs[s]);
      kernel_util::WaitScalarForVector();
      Duplicate(dec, 0.0f, L * C);  // masked (s > t) and padding columns stay 0
      for (uint32_t r = 0; r < L; ++r) {
        Adds(dec[r * C], negg, gs[r], r + 1);
        Exp(dec[r * C], dec[r * C], r + 1);
      }
      Sync<HardEvent::MTE2_V>();
      Mul(a, a, dec, L * C);
      Cast(pb_.Get<T>(), a, CAST_RINT, L * C);
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(p[unit * C * C], pb_.Get<T>(), L, C, C);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> qk_, dec_, pb_, negg_;
  ChunkGates<T> gates_;
};

// Stage 9, per (chunk, value head): O = scale (exp(G_t) (Q^h_n)[t] + (P V_new)[t]).
template <class T>
class KernelOutput {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    pipe_.InitBuffer(qh_, d.C * d.V * 4, "qh");
    pipe_.InitBuffer(pv_, d.C * d.V * 4, "pv");
    pipe_.InitBuffer(ob_, d.C * d.V * sizeof(T), "o_bf16");
    gates_.Init(pipe_, d, false);
  }
  void Process() {
    GlobalTensor<float> qh, pv;
    GlobalTensor<T> o;
    qh.SetGlobalBuffer(gm_.qh);
    pv.SetGlobalBuffer(gm_.pv);
    o.SetGlobalBuffer(gm_.o);
    const Dims& d = *d_;
    const auto V = static_cast<uint32_t>(d.V);
    LocalTensor<float> a = qh_.Get<float>(), b = pv_.Get<float>();
    float gs[kMaxChunk];
    for (int64_t unit = GetBlockIdx(); unit < d.NC() * d.HV; unit += GetBlockNum()) {
      const int64_t c = unit / d.HV, h = unit % d.HV;
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      gates_.Load(d, gm_, ch, h, gs, nullptr);
      CopyRowsIn(a, qh[unit * d.C * d.V], L, V, V, V);
      CopyRowsIn(b, pv[unit * d.C * d.V], L, V, V, V);
      Sync<HardEvent::MTE2_V>();
      for (uint32_t r = 0; r < L; ++r) Muls(a[r * V], a[r * V], std::exp(gs[r]), V);
      Add(a, a, b, L * V);
      Muls(a, a, d.scale, L * V);
      Cast(ob_.Get<T>(), a, CAST_RINT, L * V);
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(o[ch.start * d.HV * d.V + h * d.V], ob_.Get<T>(), L, V,
                  static_cast<uint64_t>(d.HV * d.V), V);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> qh_, pv_, ob_;
  ChunkGates<T> gates_;
};

// Stage 5, mixed: per (request, value head) unit, chunk by chunk. Each AIV holds half of the
// state's V columns in fp32 ([K, V/2], or [V/2, K] rows when the kernel works in vk
// orientation); the AIC computes W h_n and K^T Vs. Hand-offs per chunk (mode 2 flags):
//   AIV -> AIC: kHReady (h_n stored), kVsReady (Vs stored); AIC -> AIV: kWsReady, kKvReady.
//
// `chunk_h=triton`: the Triton kernel of sgl-kernel-npu (fla/chunk_delta_h.py @f425bdf1, read
// for its structure): one program per (request, value head), its state as two halves of V
// (b_h1_bv1, b_h1_bv2) updated one after the other in each chunk iteration, each half its own
// round of the four hand-offs (on A2/A3 every cube <-> vector hand-off goes through GM), and
// each program's scalar prologue (triton.program_cycles). The vector code of a round is split
// over the group's two AIVs, as Triton-Ascend's TileAndBindSubBlock does by default on A2/A3
// (ascend-hardware.md §3.1): here each AIV takes a quarter of V (the compiler splits dim 0;
// the bytes and instructions per AIV are the same).
constexpr int kHReady = 0, kVsReady = 1, kWsReady = 2, kKvReady = 3;

template <class T>
class KernelChunkH {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    vh_ = static_cast<uint32_t>(d.V / 2);
    rows_ = d.vk ? vh_ : static_cast<uint32_t>(d.K);
    cols_ = d.vk ? static_cast<uint32_t>(d.K) : vh_;
    passes_ = d.triton_h ? 2 : 1;
    if (d.triton_h) {
      vh_ = static_cast<uint32_t>(d.V / 4);
      (d.vk ? rows_ : cols_) = vh_;
    }
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, 128, 128, 128, 2);
      return;
    }
    const uint64_t state = uint64_t{rows_} * cols_;
    pipe_.InitBuffer(s_, passes_ * state * 4, "state_fp32");
    pipe_.InitBuffer(kv_, state * 4, "kv_or_initial");
    pipe_.InitBuffer(hb_, state * sizeof(T), "h_bf16");
    const auto C = static_cast<uint64_t>(d.C);
    pipe_.InitBuffer(wsf_, C * vh_ * 4, "w_h");
    pipe_.InitBuffer(ub_, C * vh_ * sizeof(T), "u");
    pipe_.InitBuffer(uf_, C * vh_ * 4, "v_new_fp32");
    pipe_.InitBuffer(vnb_, C * vh_ * sizeof(T), "v_new_bf16");
    pipe_.InitBuffer(vsb_, C * vh_ * sizeof(T), "vs_bf16");
    gates_.Init(pipe_, d, false);
  }
  void Process() {
    ForEachProgram(d_->B * d_->HV, d_->triton_h ? d_->program_cycles : 0, [&](int64_t unit) {
      if (d_->chunk_count[static_cast<size_t>(unit / d_->HV)] == 0)
        return;  // no tokens: the pool slot is left alone
      if (ASCEND_IS_AIC)
        CubeUnit(unit);
      else
        VectorUnit(unit);
    });
  }

 private:
  // This AIV's slice of V in a pass: its half (AscendC form), or its quarter of pass p's half.
  int64_t Slice(int pass) const { return pass * 2 * (passes_ - 1) + GetSubBlockIdx(); }
  // The state's offset in a [K, V] (or [V, K]) matrix of the V columns from `col` on.
  uint64_t ColOffset(uint64_t col) const { return d_->vk ? col * d_->K : col; }
  uint64_t HalfOffset(int64_t slice) const { return ColOffset(static_cast<uint64_t>(slice) * vh_); }
  uint64_t StateStride() const { return static_cast<uint64_t>(d_->vk ? d_->K : d_->V); }

  void CubeUnit(int64_t unit) {
    const Dims& d = *d_;
    const int64_t b = unit / d.HV, h = unit % d.HV, j = h / (d.HV / d.H);
    GlobalTensor<T> w, hg, k, vs;
    GlobalTensor<float> wsf, kv;
    w.SetGlobalBuffer(gm_.w);
    hg.SetGlobalBuffer(gm_.h);
    k.SetGlobalBuffer(gm_.k);
    vs.SetGlobalBuffer(gm_.vs);
    wsf.SetGlobalBuffer(gm_.ws_f);
    kv.SetGlobalBuffer(gm_.kv);
    const auto K = static_cast<uint32_t>(d.K), V = static_cast<uint32_t>(d.V);
    const uint32_t n = V / static_cast<uint32_t>(passes_);  // V columns per product
    for (int64_t c = d.first_chunk[b]; c < d.first_chunk[b] + d.chunk_count[b]; ++c) {
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      const int64_t cu = c * d.HV + h;
      for (int pass = 0; pass < passes_; ++pass) {
        const uint64_t col = static_cast<uint64_t>(pass) * n, at = ColOffset(col);
        CrossCoreWaitFlag(kHReady);
        // W h_n: [L, n]; h_n is [K, V] (or stored [V, K] in vk orientation).
        cube_util::Operand<T> hop = d.vk ? cube_util::Operand<T>{hg[cu * d.K * d.V + at], K, true}
                                         : cube_util::Operand<T>{hg[cu * d.K * d.V + at], V, false};
        cube_.Compute({w[cu * d.C * d.K], K, false}, hop, L, n, K);
        cube_.Store(wsf[unit * d.C * d.V + col], V, QuantMode_t::NoQuant);
        CrossCoreSetFlag<2, PIPE_FIX>(kWsReady);
        CrossCoreWaitFlag(kVsReady);
        const uint64_t k_at = static_cast<uint64_t>(ch.start * d.H * d.K + j * d.K),
                       k_ld = static_cast<uint64_t>(d.H * d.K);
        if (d.vk) {  // (K^T Vs)^T = Vs^T K^: [n, K]
          cube_.Compute({vs[unit * d.C * d.V + col], V, true}, {k[k_at], k_ld, false}, n, K, L);
          cube_.Store(kv[unit * d.K * d.V + at], K, QuantMode_t::NoQuant);
        } else {  // K^T Vs: [K, n]
          cube_.Compute({k[k_at], k_ld, true}, {vs[unit * d.C * d.V + col], V, false}, K, n, L);
          cube_.Store(kv[unit * d.K * d.V + at], V, QuantMode_t::NoQuant);
        }
        CrossCoreSetFlag<2, PIPE_FIX>(kKvReady);
      }
    }
  }

  void VectorUnit(int64_t unit) {
    const Dims& d = *d_;
    const int64_t b = unit / d.HV, h = unit % d.HV;
    GlobalTensor<T> hg, u, vnew, vs;
    GlobalTensor<float> wsf, kv;
    hg.SetGlobalBuffer(gm_.h);
    u.SetGlobalBuffer(gm_.u);
    vnew.SetGlobalBuffer(gm_.vnew);
    vs.SetGlobalBuffer(gm_.vs);
    wsf.SetGlobalBuffer(gm_.ws_f);
    kv.SetGlobalBuffer(gm_.kv);
    LocalTensor<float> kvt = kv_.Get<float>(), wt = wsf_.Get<float>(), uf = uf_.Get<float>();
    LocalTensor<T> hb = hb_.Get<T>(), ut = ub_.Get<T>(), vnb = vnb_.Get<T>(), vsb = vsb_.Get<T>();
    const uint32_t n = rows_ * cols_, V = static_cast<uint32_t>(d.V);
    const uint64_t stride = StateStride(),
                   pool0 = static_cast<uint64_t>((d.slots[static_cast<size_t>(b)] * d.HV + h) *
                                                 d.K * d.V);
    for (int pass = 0; pass < passes_; ++pass)
      LoadInitialState(pass, pool0 + HalfOffset(Slice(pass)), stride,
                       d.has_initial[static_cast<size_t>(b)]);
    float gs[kMaxChunk];
    for (int64_t c = d.first_chunk[b]; c < d.first_chunk[b] + d.chunk_count[b]; ++c) {
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      const int64_t cu = c * d.HV + h;
      gates_.Load(d, gm_, ch, h, gs, nullptr);
      const float g_last = gs[L - 1];
      for (int pass = 0; pass < passes_; ++pass) {
        const uint64_t half = HalfOffset(Slice(pass)),
                       vcol = static_cast<uint64_t>(Slice(pass)) * vh_;
        LocalTensor<float> s = s_.Get<float>()[static_cast<uint32_t>(pass) * n];
        Sync<HardEvent::MTE3_V>();  // the previous round's stores have left hb, vnb, vsb
        Cast(hb, s, CAST_RINT, n);
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(hg[static_cast<uint64_t>(cu * d.K * d.V) + half], hb, rows_, cols_, stride,
                    cols_);
        CrossCoreSetFlag<2, PIPE_MTE3>(kHReady);
        CrossCoreWaitFlag(kWsReady);
        Sync<HardEvent::V_MTE2>();  // the previous round's vector work is done with wt, ut, kvt
        CopyRowsIn(wt, wsf[unit * d.C * d.V + vcol], L, vh_, V, vh_);
        CopyRowsIn(ut, u[cu * d.C * d.V + vcol], L, vh_, V, vh_);
        Sync<HardEvent::MTE2_V>();
        Cast(uf, ut, CAST_NONE, L * vh_);
        Sub(uf, uf, wt, L * vh_);  // V_new = U - W h_n
        Cast(vnb, uf, CAST_RINT, L * vh_);
        for (uint32_t r = 0; r < L; ++r)
          Muls(uf[r * vh_], uf[r * vh_], std::exp(g_last - gs[r]), vh_);
        Cast(vsb, uf, CAST_RINT, L * vh_);  // Vs = exp(G_last - G) V_new, the K^T Vs operand
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(vnew[cu * d.C * d.V + vcol], vnb, L, vh_, V, vh_);
        CopyRowsOut(vs[unit * d.C * d.V + vcol], vsb, L, vh_, V, vh_);
        CrossCoreSetFlag<2, PIPE_MTE3>(kVsReady);
        CrossCoreWaitFlag(kKvReady);
        CopyRowsIn(kvt, kv[static_cast<uint64_t>(unit * d.K * d.V) + half], rows_, cols_, stride,
                   cols_);
        Sync<HardEvent::MTE2_V>();
        Muls(s, s, std::exp(g_last), n);  // S = exp(G_last) S + K^T Vs
        Add(s, s, kvt, n);
      }
    }
    for (int pass = 0; pass < passes_; ++pass)
      StoreFinalState(pass, pool0 + HalfOffset(Slice(pass)), stride);
    PipeBarrier<PIPE_ALL>();
  }

  void LoadInitialState(int pass, uint64_t pool_at, uint64_t stride, bool has_initial) {
    const uint32_t n = rows_ * cols_;
    LocalTensor<float> s = s_.Get<float>()[static_cast<uint32_t>(pass) * n];
    Sync<HardEvent::V_MTE2>();  // the previous unit is done with the buffers
    if (!has_initial) {
      Duplicate(s, 0.0f, n);
      return;
    }
    if (d_->ssm == DType::kFloat32) {
      GlobalTensor<float> pool;
      pool.SetGlobalBuffer(gm_.state);
      CopyRowsIn(s, pool[pool_at], rows_, cols_, stride, cols_);
      Sync<HardEvent::MTE2_V>();
      return;
    }
    GlobalTensor<T> pool;
    pool.SetGlobalBuffer(gm_.state);
    LocalTensor<T> in = kv_.Get<T>();
    CopyRowsIn(in, pool[pool_at], rows_, cols_, stride, cols_);
    Sync<HardEvent::MTE2_V>();
    Cast(s, in, CAST_NONE, n);
  }

  void StoreFinalState(int pass, uint64_t pool_at, uint64_t stride) {
    const uint32_t n = rows_ * cols_;
    LocalTensor<float> s = s_.Get<float>()[static_cast<uint32_t>(pass) * n];
    if (d_->ssm == DType::kFloat32) {
      GlobalTensor<float> pool;
      pool.SetGlobalBuffer(gm_.state);
      if (pass == 0) Sync<HardEvent::V_MTE3>();  // the state is final: one wait covers the halves
      CopyRowsOut(pool[pool_at], s, rows_, cols_, stride, cols_);
      return;
    }
    GlobalTensor<T> pool;
    pool.SetGlobalBuffer(gm_.state);
    Sync<HardEvent::MTE3_V>();
    Cast(hb_.Get<T>(), s, CAST_RINT, n);
    Sync<HardEvent::V_MTE3>();
    CopyRowsOut(pool[pool_at], hb_.Get<T>(), rows_, cols_, stride, cols_);
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  uint32_t vh_ = 0, rows_ = 0, cols_ = 0;
  int passes_ = 1;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  TBuf<TPosition::VECCALC> s_, kv_, hb_, wsf_, ub_, uf_, vnb_, vsb_;
  ChunkGates<T> gates_;
};

// Stages 6-9 in one mixed launch, `chunk_o=triton`: the Triton kernel of sgl-kernel-npu
// (fla/chunk_o.py @f425bdf1, read for its structure; BK = BV = 128, so one V block for V <= 128):
// one program per (request, value head) walks its chunks in order. Per chunk the AIC computes
// Q^K^T and Q^h_n (-> GM), the AIVs gate and mask A and scale Q^h_n by exp(G) (A -> GM, bf16),
// the AIC computes A V_new (-> GM) and the AIVs sum and store O: three cube <-> vector
// hand-offs through GM per chunk. The vector code is split over the two AIVs by rows (dim 0 of
// the chunk, Triton-Ascend's TileAndBindSubBlock, ascend-hardware.md §3.1); each program pays
// Triton's prologue (triton.program_cycles). The workspaces are per (chunk, value head), so the
// AIC may start a chunk's products while the AIVs finish the chunk before (the compiler's
// default multi-buffering).
constexpr int kQReady = 4, kPReady = 5, kPvReady = 6;

template <class T>
class KernelChunkOTriton {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, 128, 128, 128, 2);
      return;
    }
    const auto V = static_cast<uint64_t>(d.V), C = static_cast<uint64_t>(d.C),
               rows = C / 2;  // rows of a chunk per AIV
    pipe_.InitBuffer(a_, rows * C * 4, "qk");
    pipe_.InitBuffer(dec_, rows * C * 4, "decay");
    pipe_.InitBuffer(pb_, rows * C * sizeof(T), "a_bf16");
    pipe_.InitBuffer(negg_, C * 4, "neg_g");
    pipe_.InitBuffer(qh_, rows * V * 4, "qh");
    pipe_.InitBuffer(pv_, rows * V * 4, "pv");
    pipe_.InitBuffer(ob_, rows * V * sizeof(T), "o_bf16");
    gates_.Init(pipe_, d, false);
  }
  void Process() {
    ForEachProgram(d_->B * d_->HV, d_->program_cycles, [&](int64_t unit) {
      if (d_->chunk_count[static_cast<size_t>(unit / d_->HV)] == 0) return;
      if (ASCEND_IS_AIC)
        CubeUnit(unit);
      else
        VectorUnit(unit);
    });
  }

 private:
  void CubeUnit(int64_t unit) {
    const Dims& d = *d_;
    const int64_t b = unit / d.HV, h = unit % d.HV, j = h / (d.HV / d.H);
    GlobalTensor<T> q, k, hg, p, vnew;
    GlobalTensor<float> qk, qh, pv;
    q.SetGlobalBuffer(gm_.q);
    k.SetGlobalBuffer(gm_.k);
    hg.SetGlobalBuffer(gm_.h);
    p.SetGlobalBuffer(gm_.p);
    vnew.SetGlobalBuffer(gm_.vnew);
    qk.SetGlobalBuffer(gm_.kkt);  // K K^T is consumed by then: its tiles hold Q K^T here
    qh.SetGlobalBuffer(gm_.qh);
    pv.SetGlobalBuffer(gm_.pv);
    const auto K = static_cast<uint32_t>(d.K), V = static_cast<uint32_t>(d.V);
    const uint64_t ld = static_cast<uint64_t>(d.H * d.K), C = static_cast<uint64_t>(d.C);
    for (int64_t c = d.first_chunk[b]; c < d.first_chunk[b] + d.chunk_count[b]; ++c) {
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      const int64_t cu = c * d.HV + h;
      const uint64_t q_at = static_cast<uint64_t>(ch.start * d.H * d.K + j * d.K);
      cube_.Compute({q[q_at], ld, false}, {k[q_at], ld, true}, L, L, K);
      cube_.Store(qk[cu * C * C], C, QuantMode_t::NoQuant);
      cube_util::Operand<T> hop = d.vk ? cube_util::Operand<T>{hg[cu * d.K * d.V], K, true}
                                       : cube_util::Operand<T>{hg[cu * d.K * d.V], V, false};
      cube_.Compute({q[q_at], ld, false}, hop, L, V, K);
      cube_.Store(qh[cu * C * d.V], V, QuantMode_t::NoQuant);
      CrossCoreSetFlag<2, PIPE_FIX>(kQReady);
      CrossCoreWaitFlag(kPReady);
      // Over the whole chunk, as the kernel's BT x BT block: A's columns past L are zero.
      cube_.Compute({p[cu * C * C], C, false}, {vnew[cu * C * d.V], V, false}, L, V,
                    static_cast<uint32_t>(C));
      cube_.Store(pv[cu * C * d.V], V, QuantMode_t::NoQuant);
      CrossCoreSetFlag<2, PIPE_FIX>(kPvReady);
    }
  }

  void VectorUnit(int64_t unit) {
    const Dims& d = *d_;
    const int64_t h = unit % d.HV, b = unit / d.HV;
    GlobalTensor<float> qk, qh, pv;
    GlobalTensor<T> p, o;
    qk.SetGlobalBuffer(gm_.kkt);
    qh.SetGlobalBuffer(gm_.qh);
    pv.SetGlobalBuffer(gm_.pv);
    p.SetGlobalBuffer(gm_.p);
    o.SetGlobalBuffer(gm_.o);
    LocalTensor<float> a = a_.Get<float>(), dec = dec_.Get<float>(), negg = negg_.Get<float>(),
                       qt = qh_.Get<float>(), pt = pv_.Get<float>();
    LocalTensor<T> pb = pb_.Get<T>(), ob = ob_.Get<T>();
    const auto V = static_cast<uint32_t>(d.V), C = static_cast<uint32_t>(d.C);
    float gs[kMaxChunk];
    for (int64_t c = d.first_chunk[b]; c < d.first_chunk[b] + d.chunk_count[b]; ++c) {
      const Chunk& ch = d.chunks[static_cast<size_t>(c)];
      const auto L = static_cast<uint32_t>(ch.len);
      const auto [r0, n] = RowsOfThisAiv(L, C);
      const uint64_t cu = static_cast<uint64_t>(c * d.HV + h);
      if (n > 0) {
        gates_.Load(d, gm_, ch, h, gs, nullptr);
        for (uint32_t s = 0; s < L; ++s) negg.SetValue(s, -gs[s]);
        kernel_util::WaitScalarForVector();
        Duplicate(dec, 0.0f, n * C);  // masked (s > t) and padding columns stay 0
        for (uint32_t i = 0; i < n; ++i) {
          Adds(dec[i * C], negg, gs[r0 + i], r0 + i + 1);
          Exp(dec[i * C], dec[i * C], r0 + i + 1);
        }
      }
      CrossCoreWaitFlag(kQReady);
      if (n > 0) {
        CopyRowsIn(a, qk[cu * C * C + r0 * C], n, L, C, C);
        CopyRowsIn(qt, qh[cu * C * V + r0 * V], n, V, V, V);
        Sync<HardEvent::MTE2_V>();
        Mul(a, a, dec, n * C);  // A = (Q K^T) exp(G_t - G_s) on t >= s
        Cast(pb, a, CAST_RINT, n * C);
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(p[cu * C * C + r0 * C], pb, n, C, C);
        for (uint32_t i = 0; i < n; ++i) Muls(qt[i * V], qt[i * V], std::exp(gs[r0 + i]), V);
      }
      CrossCoreSetFlag<2, PIPE_MTE3>(kPReady);
      CrossCoreWaitFlag(kPvReady);
      if (n > 0) {
        CopyRowsIn(pt, pv[cu * C * V + r0 * V], n, V, V, V);
        Sync<HardEvent::MTE2_V>();
        Add(qt, qt, pt, n * V);  // O = scale (exp(G) Q h_n + A V_new)
        Muls(qt, qt, d.scale, n * V);
        Cast(ob, qt, CAST_RINT, n * V);
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(o[static_cast<uint64_t>((ch.start + r0) * d.HV * d.V + h * d.V)], ob, n, V,
                    static_cast<uint64_t>(d.HV * d.V), V);
      }
      PipeBarrier<PIPE_ALL>();  // the next chunk's loads land where this one's rows were
    }
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  TBuf<TPosition::VECCALC> a_, dec_, pb_, negg_, qh_, pv_, ob_;
  ChunkGates<T> gates_;
};

// Stage 2 with the gating of stage 3, `kkt=triton`: the Triton kernel of sgl-kernel-npu
// (fla/chunk_scaled_dot_kkt.py @f425bdf1, read for its structure): one program per chunk loops
// over the value heads; per head the AIC computes K^K^T (-> GM, fp32) and the AIVs (rows split
// between them) gate it into A[t][s] = beta_t (k_t . k_s) exp(G_t - G_s) for s < t, stored back
// as fp32 in place. The launcher asks for multibuffer: two heads' tiles in flight
// (kARaw / kAFree), so the AIC computes the next head while the AIVs gate this one.
constexpr int kARaw = 7, kAFree = 8;

template <class T>
class KernelKktTriton {
 public:
  static constexpr int64_t kSlots = 2;
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, 128, 128, 128, 2);
      return;
    }
    const auto C = static_cast<uint64_t>(d.C), rows = C / 2;  // rows of a chunk per AIV
    pipe_.InitBuffer(a_, rows * C * 4, "kkt");
    pipe_.InitBuffer(dec_, rows * C * 4, "gate");
    pipe_.InitBuffer(negg_, C * 4, "neg_g");
    gates_.Init(pipe_, d, true);
  }
  void Process() {
    ForEachProgram(d_->NC(), d_->program_cycles, [&](int64_t c) {
      if (ASCEND_IS_AIC)
        CubeChunk(c);
      else
        VectorChunk(c);
    });
  }

 private:
  void CubeChunk(int64_t c) {
    const Dims& d = *d_;
    GlobalTensor<T> k;
    GlobalTensor<float> kkt;
    k.SetGlobalBuffer(gm_.k);
    kkt.SetGlobalBuffer(gm_.kkt);
    const Chunk& ch = d.chunks[static_cast<size_t>(c)];
    const auto L = static_cast<uint32_t>(ch.len), K = static_cast<uint32_t>(d.K);
    const uint64_t ld = static_cast<uint64_t>(d.H * d.K), C = static_cast<uint64_t>(d.C);
    for (int64_t h = 0; h < d.HV; ++h) {
      if (h >= kSlots) CrossCoreWaitFlag(kAFree);
      const uint64_t at = static_cast<uint64_t>(ch.start * d.H * d.K + h / (d.HV / d.H) * d.K);
      cube_.Compute({k[at], ld, false}, {k[at], ld, true}, L, L, K);
      cube_.Store(kkt[(c * d.HV + h) * C * C], C, QuantMode_t::NoQuant);
      CrossCoreSetFlag<2, PIPE_FIX>(kARaw);
    }
    for (int64_t h = 0; h < std::min(d.HV, kSlots); ++h) CrossCoreWaitFlag(kAFree);
  }

  void VectorChunk(int64_t c) {
    const Dims& d = *d_;
    GlobalTensor<float> kkt;
    kkt.SetGlobalBuffer(gm_.kkt);
    LocalTensor<float> a = a_.Get<float>(), dec = dec_.Get<float>(), negg = negg_.Get<float>();
    const Chunk& ch = d.chunks[static_cast<size_t>(c)];
    const auto L = static_cast<uint32_t>(ch.len), C = static_cast<uint32_t>(d.C);
    const auto [r0, n] = RowsOfThisAiv(L, C);
    float gs[kMaxChunk], bs[kMaxChunk];
    for (int64_t h = 0; h < d.HV; ++h) {
      const uint64_t tile = static_cast<uint64_t>(c * d.HV + h) * C * C + r0 * C;
      if (n > 0) {
        gates_.Load(d, gm_, ch, h, gs, bs);
        for (uint32_t s = 0; s < L; ++s) negg.SetValue(s, -gs[s]);
        kernel_util::WaitScalarForVector();
        Duplicate(dec, 0.0f, n * C);  // s >= t and padding columns stay 0
        for (uint32_t i = 0; i < n; ++i) {
          const uint32_t t = r0 + i;
          if (t == 0) continue;
          Adds(dec[i * C], negg, gs[t], t);
          Exp(dec[i * C], dec[i * C], t);
          Muls(dec[i * C], dec[i * C], bs[t], t);
        }
      }
      CrossCoreWaitFlag(kARaw);
      if (n > 0) {
        CopyRowsIn(a, kkt[tile], n, L, C, C);
        Sync<HardEvent::MTE2_V>();
        Mul(a, a, dec, n * C);
        Sync<HardEvent::V_MTE3>();
        CopyRowsOut(kkt[tile], a, n, L, C, C);
      }
      PipeBarrier<PIPE_ALL>();  // the next head's scalar and loads reuse negg, dec and a
      CrossCoreSetFlag<2, PIPE_MTE3>(kAFree);
    }
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  TBuf<TPosition::VECCALC> a_, dec_, negg_;
  ChunkGates<T> gates_;
};

// Stage 4 with the WY operands of stage 3, `wy_fast=triton`: the Triton kernel of
// sgl-kernel-npu (fla/wy_fast.py @f425bdf1, read for its structure; BK = BV = 128): one program
// per chunk loops over the value heads. Per head the AIVs (rows split between them) load T =
// (I + A)^-1 and cast it to fp32 (`.to(tl.float32)`), scale V by beta and K by beta exp(G) in
// fp32, and hand all three to the AIC through GM; the AIC multiplies in fp32 (`allow_tf32=False`
// on U; the cube's fp32 rate, cube.fp32_slowdown) and stores U and W in bf16. Two heads in flight
// (kWyReady / kWyFree), the compiler's default multi-buffering. The fp32 T and Vb tiles reuse
// the kkt and qh workspaces (consumed before, written after this stage).
constexpr int kWyReady = 9, kWyFree = 10;

template <class T>
class KernelWyFastTriton {
 public:
  static constexpr int64_t kSlots = 2;
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    const auto C = static_cast<uint32_t>(d.C);
    if (ASCEND_IS_AIC) {
      // fp32 operands: a whole 128 x 128 T per K step would not fit L0A twice, so at chunk 128
      // the K steps are 64 deep (two per product).
      cube_.Init(pipe_, C, 128, std::min<uint32_t>(C, 64), 2);
      return;
    }
    const uint64_t rows = C / 2,  // rows of a chunk per AIV
        cols = static_cast<uint64_t>(std::max<int64_t>({d.K, d.V, d.C}));
    pipe_.InitBuffer(rin_, rows * cols * sizeof(T), "rows_in");
    pipe_.InitBuffer(rf_, rows * cols * 4, "rows_fp32");
    gates_.Init(pipe_, d, true);
  }
  void Process() {
    ForEachProgram(d_->NC(), d_->program_cycles, [&](int64_t c) {
      if (ASCEND_IS_AIC)
        CubeChunk(c);
      else
        VectorChunk(c);
    });
  }

 private:
  void CubeChunk(int64_t c) {
    const Dims& d = *d_;
    GlobalTensor<float> tf, vbf, kbf;
    GlobalTensor<T> w, u;
    tf.SetGlobalBuffer(gm_.kkt);
    vbf.SetGlobalBuffer(gm_.qh);
    kbf.SetGlobalBuffer(gm_.kb_f32);
    w.SetGlobalBuffer(gm_.w);
    u.SetGlobalBuffer(gm_.u);
    const Chunk& ch = d.chunks[static_cast<size_t>(c)];
    const auto L = static_cast<uint32_t>(ch.len), K = static_cast<uint32_t>(d.K),
               V = static_cast<uint32_t>(d.V), C = static_cast<uint32_t>(d.C);
    const QuantMode_t out =
        DTypeOf<T>::value == DType::kBFloat16 ? QuantMode_t::F322BF16 : QuantMode_t::F322F16;
    for (int64_t h = 0; h < d.HV; ++h) {
      const uint64_t cu = static_cast<uint64_t>(c * d.HV + h);
      CrossCoreWaitFlag(kWyReady);  // this head's T, Vb and Kb are in GM
      // Over the whole chunk, as the kernel's BT x BT block: T's columns past L are zero.
      cube_.Compute({tf[cu * C * C], C, false}, {vbf[cu * C * V], V, false}, L, V, C);
      cube_.Store(u[cu * C * V], V, out);
      cube_.Compute({tf[cu * C * C], C, false}, {kbf[cu * C * K], K, false}, L, K, C);
      cube_.Store(w[cu * C * K], K, out);
      CrossCoreSetFlag<2, PIPE_FIX>(kWyFree);
    }
  }

  void VectorChunk(int64_t c) {
    const Dims& d = *d_;
    GlobalTensor<T> k, v, tm;
    GlobalTensor<float> tf, vbf, kbf;
    k.SetGlobalBuffer(gm_.k);
    v.SetGlobalBuffer(gm_.v);
    tm.SetGlobalBuffer(gm_.tm);
    tf.SetGlobalBuffer(gm_.kkt);
    vbf.SetGlobalBuffer(gm_.qh);
    kbf.SetGlobalBuffer(gm_.kb_f32);
    const Chunk& ch = d.chunks[static_cast<size_t>(c)];
    const auto L = static_cast<uint32_t>(ch.len), K = static_cast<uint32_t>(d.K),
               V = static_cast<uint32_t>(d.V), C = static_cast<uint32_t>(d.C);
    const auto [r0, n] = RowsOfThisAiv(L, C);
    float gs[kMaxChunk], bs[kMaxChunk], ks[kMaxChunk], ones[kMaxChunk];
    std::fill(ones, ones + kMaxChunk, 1.0f);
    for (int64_t h = 0; h < d.HV; ++h) {
      const uint64_t cu = static_cast<uint64_t>(c * d.HV + h);
      if (h >= kSlots) CrossCoreWaitFlag(kWyFree);  // the AIC has read head h - 2's operands
      if (n > 0) {
        gates_.Load(d, gm_, ch, h, gs, bs);
        for (uint32_t i = 0; i < n; ++i) ks[i] = bs[r0 + i] * std::exp(gs[r0 + i]);
        const uint64_t row = static_cast<uint64_t>(ch.start + r0);
        ScaleRows(tm[cu * C * C + r0 * C], C, C, n, ones, tf[cu * C * C + r0 * C]);
        ScaleRows(v[row * d.HV * d.V + h * d.V], V, static_cast<uint64_t>(d.HV * d.V), n, bs + r0,
                  vbf[cu * C * V + r0 * V]);
        ScaleRows(k[row * d.H * d.K + h / (d.HV / d.H) * d.K], K, static_cast<uint64_t>(d.H * d.K),
                  n, ks, kbf[cu * C * K + r0 * K]);
      }
      PipeBarrier<PIPE_ALL>();
      CrossCoreSetFlag<2, PIPE_MTE3>(kWyReady);
    }
    for (int64_t h = 0; h < std::min(d.HV, kSlots); ++h) CrossCoreWaitFlag(kWyFree);
  }

  // dst rows (pitch `cols`, fp32) = src rows (bf16) x scale[r], n rows.
  void ScaleRows(const GlobalTensor<T>& src, uint32_t cols, uint64_t stride, uint32_t n,
                 const float* scale, const GlobalTensor<float>& dst) {
    LocalTensor<T> rin = rin_.Get<T>();
    LocalTensor<float> rf = rf_.Get<float>();
    Sync<HardEvent::V_MTE2>();  // the previous rows' vector work is done with rin
    CopyRowsIn(rin, src, n, cols, stride, cols);
    Sync<HardEvent::MTE2_V>();
    Sync<HardEvent::MTE3_V>();  // the previous store has left rf
    Cast(rf, rin, CAST_NONE, n * cols);
    for (uint32_t r = 0; r < n; ++r)
      if (scale[r] != 1.0f) Muls(rf[r * cols], rf[r * cols], scale[r], cols);
    Sync<HardEvent::V_MTE3>();
    CopyRowsOut(dst, rf, n, cols, cols, cols);
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<float, float> cube_;
  TBuf<TPosition::VECCALC> rin_, rf_;
  ChunkGates<T> gates_;
};

}  // namespace npusim::chunk_gdr
