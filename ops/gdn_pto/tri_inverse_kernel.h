// Device kernel of megagdn-pto's solve_tril stage, (I + A)^-1 for every 128 x 128 chunk of a
// strictly triangular A, written op for op after kernels/pto/tri_inverse_impl.cpp @3a59190c
// (cube only): every TMOV L1 -> L0 is one LoadData, every TEXTRACT of a 16 x 16 fractal one
// LoadData of that block, every TMOV L0C -> L1 one FixPipe to L1, every TMATMUL(_ACC) one
// Mmad of 128 x 128 x 128; the set_flag/wait_flag pairs where the kernel puts them (as Sync).
//
// The algorithm: with N_d the 16 x 16 diagonal fractals of A, X = I - N_d, Y = N_d^2, then
// three doublings X += X Y, Y = Y^2 give inv(I + N_d) fractal by fractal (N_d^16 = 0); then
// for block sizes 16, 32, 64: L = X's diagonal blocks of one parity, R the other, Y = L (-A) + I,
// X = Y R + L doubles the inverted diagonal blocks (the other parity for a lower A).
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/common/kernel_util.h"
#include "ops/gdn_pto/gdn_pto_tiling.h"

namespace npusim::gdn_pto {

using namespace ascendc;

struct TriGm {
  GmBuffer *a = nullptr, *minus_eye = nullptr, *zeros = nullptr, *out = nullptr;
};

template <class T>
class KernelTriInverse {
 public:
  static constexpr uint32_t C = static_cast<uint32_t>(kChunk), kFrac = 16;
  static constexpr int kTilesPerIter = kTriTilesPerIter;

  void Init(const TriGm& gm, const Dims& d) {
    gm_ = gm;
    d_ = &d;
    tiles_ = TriTiles(d);
    const uint64_t tile = C * C * sizeof(T);
    for (auto* b : {&i_, &ineg_, &zero_, &mneg_, &x_}) pipe_.InitBuffer(*b, tile, "l1_aux");
    for (auto& b : y_) pipe_.InitBuffer(b, tile, "l1_y");
    for (auto& b : a_) pipe_.InitBuffer(b, tile, "l0a");
    for (auto& b : b_) pipe_.InitBuffer(b, tile, "l0b");
    for (auto& b : c_) pipe_.InitBuffer(b, C * C * 4, "l0c");
  }

  void Process() {
    if (!ASCEND_IS_AIC) return;
    GlobalTensor<T> a, minus_eye, zeros;
    GlobalTensor<float> out;
    a.SetGlobalBuffer(gm_.a);
    minus_eye.SetGlobalBuffer(gm_.minus_eye);
    zeros.SetGlobalBuffer(gm_.zeros);
    out.SetGlobalBuffer(gm_.out);
    kernel_util::CopyRowsIn(L1(ineg_), minus_eye, C, C, C);
    kernel_util::Sync<HardEvent::MTE2_MTE1>();
    PrepareAuxiliary();
    const auto ld = static_cast<uint64_t>(d_->H * kChunk);
    const auto n = static_cast<int64_t>(tiles_.size()), blocks = GetBlockNum(), me = GetBlockIdx();
    for (int64_t first = me * kTilesPerIter; first < n; first += blocks * kTilesPerIter) {
      const int count = static_cast<int>(std::min<int64_t>(kTilesPerIter, n - first));
      kernel_util::Sync<HardEvent::FIX_MTE2>();  // the previous iteration's results have left the Y
                                                 // tiles
      for (int j = 0; j < count; ++j) {          // the iteration's tiles come in together
        const TriTile& t = tiles_[static_cast<size_t>(first + j)];
        const auto rows = static_cast<uint32_t>(t.rows);
        LocalTensor<T> y = L1(y_[j]);
        kernel_util::CopyRowsIn(y, a[static_cast<uint64_t>(t.offset)], rows, C, ld);
        if (rows < C) kernel_util::CopyRowsIn(y[rows * C], zeros, C - rows, C, C);  // TFILLPAD
      }
      kernel_util::Sync<HardEvent::MTE2_MTE1>();
      for (int j = 0; j < count; ++j) {
        const TriTile& t = tiles_[static_cast<size_t>(first + j)];
        Invert(L1(y_[j]));  // ends with FIX waiting for the last product
        const auto rows = static_cast<uint32_t>(t.rows);
        FixpipeParams fp;
        fp.mSize = rows;
        fp.nSize = rows;
        fp.srcStride = C;
        fp.dstStride = static_cast<uint32_t>(ld);
        Fixpipe(out[static_cast<uint64_t>(t.offset)], Acc(1), fp);
        kernel_util::Sync<HardEvent::FIX_M>();
      }
    }
  }

 private:
  template <class B>
  LocalTensor<T> L1(B& b) const {
    return b.template Get<T>();
  }
  LocalTensor<T> L0A(int i) const { return a_[i].template Get<T>(); }
  LocalTensor<T> L0B(int i) const { return b_[i].template Get<T>(); }
  LocalTensor<float> Acc(int i) const { return c_[i].template Get<float>(); }

  // TMOV of a whole tile, L1 -> L0A/L0B.
  static void Mov(const LocalTensor<T>& dst, const LocalTensor<T>& src) {
    LoadData2DParams p;
    p.repeatTimes = static_cast<uint8_t>(C * C * sizeof(T) / 512);
    LoadData(dst, src, p);
  }
  void Mm(int c, const LocalTensor<T>& a, const LocalTensor<T>& b, bool init) {
    MmadParams mp;
    mp.m = mp.n = mp.k = static_cast<uint16_t>(C);
    mp.cmatrixInitVal = init;
    Mmad(Acc(c), a, b, mp);
  }
  // TMOV L0C -> L1: the accumulator back as an fp16 operand.
  void ToL1(const LocalTensor<T>& dst, int c) {
    FixpipeParams fp;
    fp.mSize = fp.nSize = C;
    Fixpipe(dst, Acc(c), fp);
  }
  // CopyDiagonalFractalsL1ToL0: the 16 x 16 diagonal fractals, one TEXTRACT each.
  static void Diagonal(const LocalTensor<T>& dst, const LocalTensor<T>& src) {
    for (uint32_t f = 0; f < C / kFrac; ++f)
      LoadDataBlock(dst, src, f * kFrac, f * kFrac, kFrac, kFrac, C, C);
  }
  // CopyOddOrEvenBlocksL1ToL0: the diagonal blocks of size `bs` of one parity, fractal by fractal.
  static void Blocks(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t bs,
                     uint32_t first) {
    for (uint32_t i = 0; i < bs / kFrac; ++i)
      for (uint32_t j = 0; j < bs / kFrac; ++j)
        for (uint32_t b = first; b < C / bs; b += 2)
          LoadDataBlock(dst, src, b * bs + i * kFrac, b * bs + j * kFrac, kFrac, kFrac, C, C);
  }

  // PrepareAuxiliaryMatrices: I = (-I)(-I) and a zero tile = I + (-I) I, both through the cube.
  void PrepareAuxiliary() {
    Mov(L0A(0), L1(ineg_));
    Mov(L0B(0), L1(ineg_));
    kernel_util::Sync<HardEvent::MTE1_M>();
    Mm(0, L0A(0), L0B(0), true);
    kernel_util::Sync<HardEvent::M_FIX>();
    ToL1(L1(i_), 0);
    kernel_util::Sync<HardEvent::FIX_MTE1>();
    Mov(L0B(0), L1(i_));
    kernel_util::Sync<HardEvent::MTE1_M>();
    Mm(0, L0A(0), L0B(0), false);
    kernel_util::Sync<HardEvent::M_FIX>();
    ToL1(L1(zero_), 0);
    kernel_util::Sync<HardEvent::FIX_MTE1>();
  }

  // InvertSingleTile: the result stays in accumulator 1.
  void Invert(const LocalTensor<T>& y) {
    Start(y);
    InvertFractals(y);
    MergeBlocks(y);
  }

  // -A (kept in L1), N_d^2 (the diagonal fractals squared, into y) and X = I - N_d.
  void Start(const LocalTensor<T>& y) {
    using kernel_util::Sync;
    LocalTensor<T> x = L1(x_), ineg = L1(ineg_), zero = L1(zero_), mneg = L1(mneg_);
    Mov(L0B(0), y);
    Mov(L0A(0), ineg);
    Mov(L0A(1), zero);
    Mov(L0B(1), zero);
    Sync<HardEvent::MTE1_M>();
    Sync<HardEvent::M_MTE1>();
    Diagonal(L0A(1), y);
    Diagonal(L0B(1), y);
    Sync<HardEvent::MTE1_M>();
    Mm(0, L0A(0), L0B(0), true);  // -A
    Sync<HardEvent::M_FIX>();
    ToL1(mneg, 0);
    Mm(1, L0A(1), L0B(1), true);  // N_d^2
    Sync<HardEvent::M_FIX>();
    ToL1(y, 1);
    Sync<HardEvent::FIX_M>();
    Sync<HardEvent::M_MTE1>();
    Mov(L0B(0), ineg);
    Mov(L0A(0), ineg);
    Sync<HardEvent::MTE1_M>();
    Mm(0, L0A(1), L0B(0), true);  // -N_d
    Sync<HardEvent::M_FIX>();
    Sync<HardEvent::FIX_M>();
    Mm(0, L0A(0), L0B(0), false);  // I - N_d
    Sync<HardEvent::M_FIX>();
    ToL1(x, 0);
  }

  // Inverse of every fractal: X = X (I + Y), Y = Y^2, while block_size < 8.
  void InvertFractals(const LocalTensor<T>& y) {
    using kernel_util::Sync;
    LocalTensor<T> x = L1(x_), ident = L1(i_);
    for (uint32_t bs = 1; bs < kFrac / 2; bs *= 2) {
      Sync<HardEvent::FIX_MTE1>();
      Mov(L0B(0), ident);
      Mov(L0A(0), x);
      Mov(L0B(1), y);
      Sync<HardEvent::MTE1_M>();
      Mm(0, L0A(0), L0B(0), true);  // X
      Sync<HardEvent::M_FIX>();
      if (bs < kFrac / 4) {
        Sync<HardEvent::M_MTE1>();
        Mov(L0A(1), y);
        Sync<HardEvent::MTE1_M>();
        Mm(1, L0A(1), L0B(1), true);  // Y^2
        Sync<HardEvent::M_FIX>();
        ToL1(y, 1);
      }
      Mm(0, L0A(0), L0B(1), false);  // X + X Y
      Sync<HardEvent::M_FIX>();
      ToL1(x, 0);
    }
  }

  // The unrolled recursion: inverted diagonal blocks of 16 -> 32 -> 64 -> 128.
  void MergeBlocks(const LocalTensor<T>& y) {
    using kernel_util::Sync;
    LocalTensor<T> x = L1(x_), ident = L1(i_), zero = L1(zero_), mneg = L1(mneg_);
    // A is below the diagonal (as scaled_dot_kkt writes it: the kernel's swap_parity), so L0A
    // takes the odd blocks and L0B the even ones; an upper A would take them the other way round.
    constexpr uint32_t left = 1, right = 0;
    for (uint32_t bs = kFrac; bs < C; bs *= 2) {
      Sync<HardEvent::M_MTE1>();
      if (bs == kFrac) {
        Mov(L0B(1), mneg);
        Mov(L0A(0), ident);
      }
      Mov(L0A(1), zero);
      Mov(L0B(0), ident);
      Sync<HardEvent::FIX_MTE1>();
      Blocks(L0A(1), x, bs, left);
      Sync<HardEvent::MTE1_M>();
      Mm(0, L0A(0), L0B(0), true);   // I
      Mm(1, L0A(1), L0B(0), true);   // L
      Mm(0, L0A(1), L0B(1), false);  // L (-A) + I
      Sync<HardEvent::M_FIX>();
      ToL1(y, 0);
      Sync<HardEvent::M_MTE1>();
      Mov(L0B(0), zero);
      Blocks(L0B(0), x, bs, right);
      Sync<HardEvent::FIX_MTE1>();
      Mov(L0A(1), y);
      Sync<HardEvent::MTE1_M>();
      Mm(1, L0A(1), L0B(0), false);  // Y R + L
      Sync<HardEvent::M_FIX>();
      if (bs < C / 2) ToL1(x, 1);
    }
    Sync<HardEvent::M_MTE1>();
  }

  TriGm gm_;
  const Dims* d_ = nullptr;
  std::vector<TriTile> tiles_;
  TPipe pipe_;
  TBuf<TPosition::A1> i_, ineg_, zero_, mneg_, x_, y_[kTilesPerIter];
  TBuf<TPosition::A2> a_[2];
  TBuf<TPosition::B2> b_[2];
  TBuf<TPosition::CO1> c_[2];
};

}  // namespace npusim::gdn_pto
