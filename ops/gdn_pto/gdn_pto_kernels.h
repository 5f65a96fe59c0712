// Device kernels of megagdn-pto's scaled_dot_kkt and wy_fast (see gdn_pto_tiling.h), written
// op for op after the PTO sources: every TLOAD/TSTORE is one MTE instruction, every tile
// operation one vector instruction over the AIV's 64 x 128 half-chunk, the PipeBarrierVec /
// pipe_barrier(PIPE_ALL) / set_flag pairs and the cross-core flags where the kernels put them.
// Two PTO operations have no single AscendC counterpart here and are spelled out: TROWEXPAND
// (a row's scalar across the row) as one Duplicate per row after a V->S sync, TCOLEXPAND (a
// row down the tile) as a row copy doubled log2(64) times. TFILLPAD of a partial chunk's L1
// rows copies zero rows from GM.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/common/kernel_util.h"
#include "ops/gdn_pto/gdn_pto_tiling.h"

namespace npusim::gdn_pto {

using namespace ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;
using kernel_util::Sync;

struct Gm {
  GmBuffer *k = nullptr, *v = nullptr, *beta = nullptr, *g = nullptr, *mask = nullptr, *a = nullptr;
  GmBuffer *ws1 = nullptr, *ws2 = nullptr,
           *zeros = nullptr;  // workspaces; zeros: [C, D] of 0 for TFILLPAD
  GmBuffer *w = nullptr, *u = nullptr;
};

// The AIC side both kernels share: C x D (or C x C) fp16 tiles in L1, one 128-deep product
// into L0C, FixPipe to GM as fp16.
template <class T>
class PtoCube {
 public:
  void Init(TPipe& pipe, int l1_tiles, int acc_tiles, uint32_t d) {
    d_ = d;
    for (int i = 0; i < l1_tiles; ++i)
      pipe.InitBuffer(l1_[i], kChunk * std::max<uint32_t>(d, kChunk) * sizeof(T), "l1_tile");
    pipe.InitBuffer(l0a_, kChunk * kChunk * sizeof(T), "l0a");
    pipe.InitBuffer(l0b_, kChunk * std::max<uint32_t>(d, kChunk) * sizeof(T), "l0b");
    for (int i = 0; i < acc_tiles; ++i)
      pipe.InitBuffer(acc_[i], kChunk * std::max<uint32_t>(d, kChunk) * 4, "l0c");
  }
  LocalTensor<T> L1(int i) const { return l1_[i].template Get<T>(); }
  // TLOAD of `rows` GM rows of `cols` (stride `ld`) into L1 tile i, TFILLPAD to 128 rows.
  void Load(int i, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols, uint64_t ld,
            const GlobalTensor<T>& zeros) {
    LocalTensor<T> t = L1(i);
    CopyRowsIn(t, src, rows, cols, ld);
    if (rows < kChunk)
      CopyRowsIn(t[rows * cols], zeros, static_cast<uint32_t>(kChunk) - rows, cols, cols);
  }
  // acc[j] = L1(a) [128 x k] x op(L1(b)): b_trans: L1(b) holds B^T as [n, k] rows.
  void Product(int j, int a, int b, bool b_trans, uint32_t n, uint32_t k) {
    Sync<HardEvent::MTE2_MTE1>();
    Sync<HardEvent::M_MTE1>();  // the previous product has read L0A / L0B
    LocalTensor<T> l0a = l0a_.template Get<T>(), l0b = l0b_.template Get<T>();
    LoadData2DParams p;
    p.repeatTimes = static_cast<uint8_t>(kChunk * k * sizeof(T) / 512);
    LoadData(l0a, L1(a), p);
    if (b_trans) {
      LoadDataWithTranspose(
          l0b, L1(b),
          LoadData2dTransposeParams{static_cast<uint16_t>(n), static_cast<uint16_t>(k)});
    } else {
      p.repeatTimes = static_cast<uint8_t>(k * n * sizeof(T) / 512);
      LoadData(l0b, L1(b), p);
    }
    Sync<HardEvent::MTE1_M>();
    Sync<HardEvent::FIX_M>();  // the previous FixPipe has left L0C
    MmadParams mp;
    mp.m = static_cast<uint16_t>(kChunk);
    mp.n = static_cast<uint16_t>(n);
    mp.k = static_cast<uint16_t>(k);
    Mmad(acc_[j].template Get<float>(), l0a, l0b, mp);
    Sync<HardEvent::MTE1_MTE2>();
    Sync<HardEvent::M_FIX>();
  }
  // TSTORE of acc[j]'s first `rows` rows of `n` to GM rows `ld` apart, fp32 -> fp16.
  void Store(int j, const GlobalTensor<T>& dst, uint32_t rows, uint32_t n, uint64_t ld) {
    FixpipeParams fp;
    fp.mSize = rows;
    fp.nSize = n;
    fp.srcStride = n;
    fp.dstStride = static_cast<uint32_t>(ld);
    fp.quantPre = QuantMode_t::F322F16;
    Fixpipe(dst, acc_[j].template Get<float>(), fp);
  }

 private:
  uint32_t d_ = 0;
  TBuf<TPosition::A1> l1_[3];
  TBuf<TPosition::A2> l0a_;
  TBuf<TPosition::B2> l0b_;
  TBuf<TPosition::CO1> acc_[2];
};

// Rows of `rows` x 128 fp32 each set to its own scalar of `col` (TROWEXPAND), issued as pto-isa's
// A2/A3 implementation issues it (include/pto/npu/a2a3/TRowExpand.hpp, cannmirror/pto-isa
// @e5139e3a): for every row the scalar unit waits for the vector pipe to drain (set/wait_flag
// V->S), reads the row's value from UB, hands over (S->V) and issues one vector_dup. Each row is
// therefore a round trip through the vector latency, not one issue slot.
inline void RowExpand(const LocalTensor<float>& dst, const LocalTensor<float>& col, uint32_t rows) {
  for (uint32_t r = 0; r < rows; ++r) {
    Sync<HardEvent::V_S>();
    const float v = col.GetValue(r);
    Sync<HardEvent::S_V>();
    Duplicate(dst[r * kChunk], v, static_cast<uint32_t>(kChunk));
  }
}
// Every row of `rows` x 128 fp32 a copy of `row` (TCOLEXPAND), as pto-isa's A2/A3 implementation
// issues it (include/pto/npu/a2a3/TColExpand.hpp, zouzias/pto-isa-mirror @cc913839): one UB->UB
// copy_ubuf_to_ubuf of the row per destination row.
inline void ColExpand(const LocalTensor<float>& dst, const LocalTensor<float>& row, uint32_t rows) {
  for (uint32_t r = 0; r < rows; ++r) DataCopy(dst[r * kChunk], row, static_cast<uint32_t>(kChunk));
}

// A partial row's padding (TFILLPAD of a vector tile): the whole row zeroed before the load
// lands on its first elements (a vector instruction must start on a 32 B block).
template <class U>
void ZeroFirst(const LocalTensor<U>& t, uint32_t count) {
  Duplicate(t, 0.0f, count);
  Sync<HardEvent::V_MTE2>();
}

// ---- scaled_dot_kkt ----
template <class T>
class KernelScaledDotKkt {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, 1, 1, static_cast<uint32_t>(d.D));
      return;
    }
    const uint64_t tile = kHalf * kChunk * 4;
    pipe_.InitBuffer(g_, kChunk * 4, "g");
    pipe_.InitBuffer(beta_half_, kHalf * sizeof(T), "beta_half");
    pipe_.InitBuffer(beta_, kHalf * 4, "beta");
    pipe_.InitBuffer(gv_, kHalf * 4, "g_v");
    pipe_.InitBuffer(a_, tile, "a");
    pipe_.InitBuffer(gr_, kHalf * 4, "g_r");
    pipe_.InitBuffer(gc_, kChunk * 4, "g_c");
    pipe_.InitBuffer(mask_, tile, "mask");
    pipe_.InitBuffer(gr2_, tile, "g_r_2d");  // also a_half once the coefficients are made
    pipe_.InitBuffer(hole_, 24576,
                     "unused_gap");  // the address plan leaves 24 KiB between g_r_2d and g_c_2d
    pipe_.InitBuffer(gc2_, tile, "g_c_2d");
    pipe_.InitBuffer(coeff_, tile, "coeff");
  }
  void Process() {
    if (ASCEND_IS_AIC)
      Cube();
    else
      Vector();
  }

 private:
  void Cube() {
    const Dims& d = *d_;
    GlobalTensor<T> k, ws, zeros;
    k.SetGlobalBuffer(gm_.k);
    ws.SetGlobalBuffer(gm_.ws1);
    zeros.SetGlobalBuffer(gm_.zeros);
    const auto D = static_cast<uint32_t>(d.D);
    const int64_t cid = kernel_util::GroupIdx();
    for (int64_t pid = cid; pid < d.B * d.H; pid += kernel_util::GroupNum()) {
      const int64_t b = pid / d.H, h = pid % d.H, hg = h / (d.H / d.Hg);
      for (int64_t ci = 0; ci < d.Chunks(b); ++ci) {
        const int slot = static_cast<int>(ci & 1);
        const int64_t start = d.bos[static_cast<size_t>(b)] + ci * kChunk;
        const auto rows =
            static_cast<uint32_t>(std::min(kChunk, d.lens[static_cast<size_t>(b)] - ci * kChunk));
        CrossCoreWaitFlag(2 + slot);  // both AIVs are done with this slot
        PipeBarrier<PIPE_ALL>();
        cube_.Load(0, k[static_cast<uint64_t>((start * d.Hg + hg) * d.D)], rows, D,
                   static_cast<uint64_t>(d.Hg * d.D), zeros);
        cube_.Product(0, 0, 0, true, static_cast<uint32_t>(kChunk), D);
        cube_.Store(0, ws[static_cast<uint64_t>((cid * 2 + slot) * kChunk * kChunk)],
                    static_cast<uint32_t>(kChunk), static_cast<uint32_t>(kChunk),
                    static_cast<uint64_t>(kChunk));
        CrossCoreSetFlag<2, PIPE_FIX>(slot);
      }
    }
  }

  void Vector() {
    const Dims& d = *d_;
    GlobalTensor<float> g, mask;
    GlobalTensor<T> beta, ws, a_out;
    g.SetGlobalBuffer(gm_.g);
    mask.SetGlobalBuffer(gm_.mask);
    beta.SetGlobalBuffer(gm_.beta);
    ws.SetGlobalBuffer(gm_.ws1);
    a_out.SetGlobalBuffer(gm_.a);
    const int64_t cid = kernel_util::GroupIdx(), vid = GetSubBlockIdx();
    const uint32_t n = static_cast<uint32_t>(kHalf * kChunk), C = static_cast<uint32_t>(kChunk),
                   half = static_cast<uint32_t>(kHalf);
    LocalTensor<float> gu = g_.Get<float>(), bu = beta_.Get<float>(), gv = gv_.Get<float>(),
                       a = a_.Get<float>();
    LocalTensor<float> gr = gr_.Get<float>(), gc = gc_.Get<float>(), msk = mask_.Get<float>();
    LocalTensor<float> gr2 = gr2_.Get<float>(), gc2 = gc2_.Get<float>(),
                       coeff = coeff_.Get<float>();
    LocalTensor<T> bh = beta_half_.Get<T>(), ah = gr2_.Get<T>();
    CopyRowsIn(msk, mask[static_cast<uint64_t>(vid * kHalf * kChunk)], half, C, C);
    Sync<HardEvent::MTE2_V>();
    CrossCoreSetFlag<2, PIPE_MTE3>(2);  // both workspace slots start free
    CrossCoreSetFlag<2, PIPE_MTE3>(3);
    for (int64_t pid = cid; pid < d.B * d.H; pid += kernel_util::GroupNum()) {
      const int64_t b = pid / d.H, h = pid % d.H;
      for (int64_t ci = 0; ci < d.Chunks(b); ++ci) {
        const int slot = static_cast<int>(ci & 1);
        const int64_t start = d.bos[static_cast<size_t>(b)] + ci * kChunk, row0 = vid * kHalf;
        const auto rows =
            static_cast<uint32_t>(std::min(kChunk, d.lens[static_cast<size_t>(b)] - ci * kChunk));
        const auto local = static_cast<uint32_t>(std::clamp<int64_t>(rows - row0, 0, kHalf));
        if (local > 0) {
          if (rows < C) ZeroFirst(gu, C);  // TFILLPAD
          if (local < half) ZeroFirst(bh, half);
          kernel_util::CopyIn(gu, g[static_cast<uint64_t>(h * d.T + start)], rows);
          kernel_util::CopyIn(bh, beta[static_cast<uint64_t>(h * d.T + start + row0)], local);
          Sync<HardEvent::MTE2_V>();
        }
        CrossCoreWaitFlag(slot);  // the AIC has stored this chunk's K K^T
        PipeBarrier<PIPE_ALL>();
        if (local > 0) {
          Cast(bu, bh, CAST_NONE, half);
          Adds(gv, gu[static_cast<uint32_t>(row0)], 0.0f, half);  // TMOV
          PipeBarrier<PIPE_V>();
          Ln(bu, bu, half);
          PipeBarrier<PIPE_V>();
          Add(gv, gv, bu, half);  // G_t + ln beta_t
          PipeBarrier<PIPE_V>();
          Adds(gr, gv, 0.0f, half);
          Adds(gc, gu, 0.0f, C);
          PipeBarrier<PIPE_V>();
          RowExpand(gr2, gr, half);
          ColExpand(gc2, gc, half);
          PipeBarrier<PIPE_V>();
          Sub(coeff, gr2, gc2, n);
          PipeBarrier<PIPE_V>();
          Mins(coeff, coeff, 0.0f, n);
          PipeBarrier<PIPE_V>();
          Exp(coeff, coeff, n);
          Sync<HardEvent::V_MTE2>();
          CopyRowsIn(ah,
                     ws[static_cast<uint64_t>((cid * 2 + slot) * kChunk * kChunk + row0 * kChunk)],
                     half, C, C);
          Sync<HardEvent::MTE2_V>();
          Cast(a, ah, CAST_NONE, n);
          Mul(a, a, coeff, n);
          Mul(a, a, msk, n);
          Cast(ah, a, CAST_RINT, n);
          Sync<HardEvent::V_MTE3>();
          CopyRowsOut(a_out[static_cast<uint64_t>(((start + row0) * d.H + h) * kChunk)], ah, local,
                      C, static_cast<uint64_t>(d.H * kChunk));
        }
        PipeBarrier<PIPE_ALL>();
        CrossCoreSetFlag<2, PIPE_MTE3>(2 + slot);
      }
    }
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  TPipe pipe_;
  PtoCube<T> cube_;
  TBuf<TPosition::VECCALC> g_, beta_half_, beta_, gv_, a_, gr_, gc_, mask_, gr2_, hole_, gc2_,
      coeff_;
};

// ---- wy_fast ----
template <class T>
class KernelWyFast {
 public:
  void Init(const Gm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    units_ = WyUnits(d);
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, 3, 2, static_cast<uint32_t>(d.D));
      return;
    }
    const uint64_t tile = kHalf * kChunk * 4, tile_half = kHalf * kChunk * sizeof(T);
    pipe_.InitBuffer(beta_half_, kChunk * sizeof(T), "beta_half");
    pipe_.InitBuffer(a1_half_, tile_half, "a1_half");
    pipe_.InitBuffer(beta_, kChunk * 4, "beta");
    pipe_.InitBuffer(beta_r_, kChunk * 4, "beta_r");
    pipe_.InitBuffer(beta2_, tile, "beta_2d");
    pipe_.InitBuffer(tmp_, 24576,
                     "tfillpad_tmp");  // the kernel's scratch for padding, kept for its UB budget
    pipe_.InitBuffer(a1_, tile, "a1");
    pipe_.InitBuffer(a2_, tile, "a2");
    pipe_.InitBuffer(a2_half_, tile_half, "a2_half");
    pipe_.InitBuffer(g_, kChunk * 4, "g");
    pipe_.InitBuffer(g_r_, kChunk * 4, "g_r");
    pipe_.InitBuffer(g2_, tile, "g_2d");
  }
  void Process() {
    if (ASCEND_IS_AIC)
      Cube();
    else
      Vector();
  }

 private:
  void Cube() {
    const Dims& d = *d_;
    GlobalTensor<T> k, v, ws1, ws2, w, u, zeros;
    k.SetGlobalBuffer(gm_.k);
    v.SetGlobalBuffer(gm_.v);
    ws1.SetGlobalBuffer(gm_.ws1);
    ws2.SetGlobalBuffer(gm_.ws2);
    w.SetGlobalBuffer(gm_.w);
    u.SetGlobalBuffer(gm_.u);
    zeros.SetGlobalBuffer(gm_.zeros);
    const auto D = static_cast<uint32_t>(d.D), C = static_cast<uint32_t>(kChunk);
    const int64_t cid = kernel_util::GroupIdx();
    const uint64_t ws_at = static_cast<uint64_t>(cid * kChunk * kChunk);
    enum { kK = 0, kV = 1, kA = 2 };
    for (size_t i = static_cast<size_t>(cid); i < units_.size();
         i += static_cast<size_t>(kernel_util::GroupNum())) {
      const Unit& un = units_[i];
      const auto rows = static_cast<uint32_t>(un.rows);
      const int64_t hg = un.head / (d.H / d.Hg);
      const uint64_t v_at = static_cast<uint64_t>((un.start * d.H + un.head) * d.D),
                     ld = static_cast<uint64_t>(d.H * d.D);
      cube_.Load(kK, k[static_cast<uint64_t>((un.start * d.Hg + hg) * d.D)], rows, D,
                 static_cast<uint64_t>(d.Hg * d.D), zeros);
      cube_.Load(kV, v[v_at], rows, D, ld, zeros);
      CrossCoreWaitFlag(2);  // A beta is in workspace 2
      cube_.Load(kA, ws2[ws_at], C, C, C, zeros);
      cube_.Product(0, kA, kV, false, D, C);
      cube_.Store(0, u[v_at], rows, D, ld);
      CrossCoreSetFlag<2, PIPE_FIX>(3);
      CrossCoreWaitFlag(1);  // A beta exp(G) is in workspace 1
      cube_.Load(kA, ws1[ws_at], C, C, C, zeros);
      cube_.Product(1, kA, kK, false, D, C);
      cube_.Store(1, w[v_at], rows, D, ld);
      CrossCoreSetFlag<2, PIPE_FIX>(4);
    }
  }

  void Vector() {
    const Dims& d = *d_;
    GlobalTensor<float> g;
    GlobalTensor<T> beta, a_in, ws1, ws2;
    g.SetGlobalBuffer(gm_.g);
    beta.SetGlobalBuffer(gm_.beta);
    a_in.SetGlobalBuffer(gm_.a);
    ws1.SetGlobalBuffer(gm_.ws1);
    ws2.SetGlobalBuffer(gm_.ws2);
    const int64_t cid = kernel_util::GroupIdx(), vid = GetSubBlockIdx();
    const uint32_t n = static_cast<uint32_t>(kHalf * kChunk), C = static_cast<uint32_t>(kChunk),
                   half = static_cast<uint32_t>(kHalf);
    const uint64_t ws_at = static_cast<uint64_t>(cid * kChunk * kChunk + vid * kHalf * kChunk);
    LocalTensor<float> bu = beta_.Get<float>(), br = beta_r_.Get<float>(), b2 = beta2_.Get<float>(),
                       a1 = a1_.Get<float>();
    LocalTensor<float> a2 = a2_.Get<float>(), gu = g_.Get<float>(), gr = g_r_.Get<float>(),
                       g2 = g2_.Get<float>();
    LocalTensor<T> bh = beta_half_.Get<T>(), a1h = a1_half_.Get<T>(), a2h = a2_half_.Get<T>();
    bool first = true;
    for (size_t i = static_cast<size_t>(cid); i < units_.size();
         i += static_cast<size_t>(kernel_util::GroupNum())) {
      const Unit& un = units_[i];
      const auto rows = static_cast<uint32_t>(un.rows);
      const auto local =
          static_cast<uint32_t>(std::clamp<int64_t>(un.rows - vid * kHalf, 0, kHalf));
      if (rows < C) ZeroFirst(bh, C);  // TFILLPAD
      kernel_util::CopyIn(bh, beta[static_cast<uint64_t>(un.head * d.T + un.start)], rows);
      if (local > 0)
        CopyRowsIn(a1h,
                   a_in[static_cast<uint64_t>(((un.start + vid * kHalf) * d.H + un.head) * kChunk)],
                   local, C, static_cast<uint64_t>(d.H * kChunk));
      Sync<HardEvent::MTE2_V>();
      if (local < half) Duplicate(a1h[local * C], 0.0f, (half - local) * C);
      Cast(bu, bh, CAST_NONE, C);
      PipeBarrier<PIPE_V>();
      Adds(br, bu, 0.0f, C);  // TMOV
      PipeBarrier<PIPE_V>();
      ColExpand(b2, br, half);
      Cast(a1, a1h, CAST_NONE, n);
      Mul(a2, a1, b2, n);  // A beta
      Cast(a2h, a2, CAST_RINT, n);
      if (!first) CrossCoreWaitFlag(3);  // the AIC has read the previous A beta
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(ws2[ws_at], a2h, half, C, C);
      PipeBarrier<PIPE_ALL>();
      CrossCoreSetFlag<2, PIPE_MTE3>(2);
      if (rows < C) ZeroFirst(gu, C);
      kernel_util::CopyIn(gu, g[static_cast<uint64_t>(un.head * d.T + un.start)], rows);
      Sync<HardEvent::MTE2_V>();
      Exp(gu, gu, C);
      PipeBarrier<PIPE_V>();
      Mul(gu, gu, bu, C);  // beta exp(G)
      PipeBarrier<PIPE_V>();
      Adds(gr, gu, 0.0f, C);
      PipeBarrier<PIPE_V>();
      ColExpand(g2, gr, half);
      Mul(a1, a1, g2, n);
      Cast(a1h, a1, CAST_RINT, n);
      if (!first) CrossCoreWaitFlag(4);
      Sync<HardEvent::V_MTE3>();
      CopyRowsOut(ws1[ws_at], a1h, half, C, C);
      PipeBarrier<PIPE_ALL>();
      CrossCoreSetFlag<2, PIPE_MTE3>(1);
      first = false;
    }
  }

  Gm gm_;
  const Dims* d_ = nullptr;
  std::vector<Unit> units_;
  TPipe pipe_;
  PtoCube<T> cube_;
  TBuf<TPosition::VECCALC> beta_half_, a1_half_, beta_, beta_r_, beta2_, tmp_, a1_, a2_, a2_half_,
      g_, g_r_, g2_;
};

}  // namespace npusim::gdn_pto
