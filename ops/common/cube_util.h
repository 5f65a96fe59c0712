// The cube path an AIC kernel uses for one output tile C[m, n] = op(A)[m, K] x op(B)[K, n]:
// K in steps of base_k, each step GM -> L1 (MTE2) -> L0A/L0B (MTE1) -> Mmad (M) accumulating in
// L0C, then Fixpipe L0C -> GM. L1 and L0 queues are `buffers`-deep, so the MTE2 of step k+1
// overlaps the Mmad of step k, as in the AscendC matmul samples.
//
// Operands are row-major in GM with a leading dimension; `trans` means GM holds the operand
// transposed (A^T as [K, m], B^T as [n, K]: K of attention, W of a torch Linear), which the
// L1 -> L0 move transposes (LoadDataWithTranspose). When GM rows run along K (A plain, B
// transposed) the K step must be a whole number of 32 B so no padding enters the reduction.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "devices/ascendc/kernel_operator.h"
#include "model/error.h"

namespace npusim::cube_util {

using namespace ascendc;

template <class T>
struct Operand {
  GlobalTensor<T> g;  // at the operand's first element
  uint64_t ld = 0;    // GM row stride, elements
  bool trans = false;
  // Rows in blocks (untransposed only): blocks of `block_rows` rows `ld` apart, the blocks
  // `block_ld` apart (FIA's GQA packing: the heads of one token, then the next token). 0: uniform.
  uint32_t block_rows = 0;
  uint64_t block_ld = 0;
};

// Elements of T per 32 B (the row pitch unit of L1 tiles).
template <class T> constexpr uint32_t kRowAlign = 32 / sizeof(T);
inline uint32_t AlignUp(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

template <class T, class Acc>
class CubeTile {
 public:
  // L0 tiles of base_m x base_k and base_k x base_n; L0C holds base_m x base_n of Acc. L1 tiles
  // are `l1_steps` K steps deep (AscendC's stepKa / stepKb): one GM copy feeds that many L0 steps,
  // so a narrow tile streams its operands in fewer, larger copies. A transposed B takes 1.
  void Init(TPipe& pipe, uint32_t base_m, uint32_t base_n, uint32_t base_k, int buffers, uint32_t l1_steps = 1) {
    base_k_ = base_k;
    l1_steps_ = std::max(1u, l1_steps);
    const uint64_t a_bytes = uint64_t{AlignUp(base_m, 16)} * AlignUp(base_k, 16) * sizeof(T);
    const uint64_t b_bytes = uint64_t{AlignUp(base_k, 16)} * AlignUp(base_n, 16) * sizeof(T);
    pipe.InitBuffer(a1_, buffers, a_bytes * l1_steps_, "a_l1");
    pipe.InitBuffer(b1_, buffers, b_bytes * l1_steps_, "b_l1");
    pipe.InitBuffer(a2_, buffers, a_bytes, "a_l0a");
    pipe.InitBuffer(b2_, buffers, b_bytes, "b_l0b");
    pipe.InitBuffer(co1_, 1, uint64_t{AlignUp(base_m, 16)} * AlignUp(base_n, 16) * sizeof(Acc), "c_l0c");
  }

  // Accumulates C[m, n] over k in L0C (m <= base_m, n <= base_n).
  void Compute(const Operand<T>& a, const Operand<T>& b, uint32_t m, uint32_t n, uint32_t k) {
    if (l1_steps_ > 1 && b.trans) throw SimFailure("misaligned", CurrentCore().name() + ": a K-deep L1 tile of a transposed B is not modelled");
    acc_ = co1_.template AllocTensor<Acc>();
    const uint32_t step1 = base_k_ * l1_steps_;
    for (uint32_t k1 = 0; k1 < k; k1 += step1) {
      const uint32_t kb1 = std::min(step1, k - k1);
      auto la = a1_.template AllocTensor<T>();
      auto lb = b1_.template AllocTensor<T>();
      // A plain: m rows of kb1 from A[:, k1]; A^T: kb1 rows of m from A^T[k1, :].
      const uint32_t a_rows = a.trans ? kb1 : m, a_cols = a.trans ? m : kb1;
      const uint32_t b_rows = b.trans ? n : kb1, b_cols = b.trans ? kb1 : n;
      if (!a.trans && a.block_rows > 0 && a_rows > a.block_rows) {
        for (uint32_t r = 0; r < a_rows; r += a.block_rows)
          LoadRows(la[r * AlignUp(a_cols, kRowAlign<T>)], a.g[(r / a.block_rows) * a.block_ld + k1], std::min(a.block_rows, a_rows - r), a_cols, a.ld);
      } else {
        LoadRows(la, a.g[a.trans ? k1 * a.ld : k1], a_rows, a_cols, a.ld);
      }
      LoadRows(lb, b.g[b.trans ? k1 : k1 * b.ld], b_rows, b_cols, b.ld);
      a1_.EnQue(la);
      b1_.EnQue(lb);
      la = a1_.template DeQue<T>();
      lb = b1_.template DeQue<T>();
      const uint32_t a_pitch1 = AlignUp(a_cols, kRowAlign<T>), b_pitch1 = AlignUp(b_cols, kRowAlign<T>);
      for (uint32_t k0 = k1; k0 < k1 + kb1; k0 += base_k_) {
        const uint32_t kb = std::min(base_k_, k1 + kb1 - k0), ks = k0 - k1;
        if ((!a.trans || b.trans) && (kb * sizeof(T)) % 32)  // rows along K would be padded into the reduction
          throw SimFailure("misaligned", CurrentCore().name() + ": cube K step of " + std::to_string(kb) +
                                             " elements is not a whole number of 32 B; pad K");
        auto l0a = a2_.template AllocTensor<T>();
        auto l0b = b2_.template AllocTensor<T>();
        // L0A holds [m_l0, kb], L0B [kb, n_l0]; padded rows/columns of C are never stored.
        const uint32_t a_pitch = a.trans ? a_pitch1 : AlignUp(kb, kRowAlign<T>), b_pitch = b.trans ? AlignUp(kb, kRowAlign<T>) : b_pitch1;
        m_l0_ = a.trans ? a_pitch : m;
        n_l0_ = b.trans ? n : b_pitch;
        if (kb == kb1) {  // the whole L1 tile
          MoveToL0(l0a, la, a.trans, a.trans ? kb : m, a_pitch);
          MoveToL0(l0b, lb, b.trans, b.trans ? n : kb, b_pitch);
        } else {  // K rows of A^T and B are contiguous in L1; K columns of A are a strided block
          if (a.trans) MoveToL0(l0a, la[ks * a_pitch1], true, kb, a_pitch);
          else detail::LoadData2DRows(l0a.view(), la[ks].view(), m, kb * sizeof(T), a_pitch1 * sizeof(T), a_pitch * sizeof(T));
          MoveToL0(l0b, lb[ks * b_pitch1], false, kb, b_pitch);
        }
        a2_.EnQue(l0a);
        b2_.EnQue(l0b);
        if (k0 + base_k_ >= k1 + kb1) {  // the L1 tile's last step: free it before the Mmad, for the next copy
          a1_.FreeTensor(la);
          b1_.FreeTensor(lb);
        }
        l0a = a2_.template DeQue<T>();
        l0b = b2_.template DeQue<T>();
        MmadParams mp;
        mp.m = static_cast<uint16_t>(m_l0_);
        mp.n = static_cast<uint16_t>(n_l0_);
        mp.k = static_cast<uint16_t>(kb);
        mp.cmatrixInitVal = k0 == 0;
        Mmad(acc_, l0a, l0b, mp);
        a2_.FreeTensor(l0a);
        b2_.FreeTensor(l0b);
      }
    }
    co1_.EnQue(acc_);
    m_ = m;
    n_ = n;
  }

  // L0C -> GM through FixPipe (converting or dequantising on the way), then frees L0C.
  template <class D>
  void Store(const GlobalTensor<D>& c, uint64_t ldc, QuantMode_t quant, float deq_scale = 1.0f) {
    acc_ = co1_.template DeQue<Acc>();
    FixpipeParams fp;
    fp.mSize = m_;
    fp.nSize = n_;
    fp.srcStride = n_l0_;
    fp.dstStride = static_cast<uint32_t>(ldc);
    fp.quantPre = quant;
    fp.deqScalar = deq_scale;
    Fixpipe(c, acc_, fp);
    co1_.FreeTensor(acc_);
  }

 private:
  // `rows` GM rows of `cols` elements into an L1 tile with 32 B-aligned row pitch.
  static void LoadRows(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols, uint64_t ld) {
    DataCopyExtParams p;
    p.blockCount = static_cast<uint16_t>(rows);
    p.blockLen = static_cast<uint32_t>(cols * sizeof(T));
    p.srcStride = static_cast<uint32_t>((ld - cols) * sizeof(T));
    DataCopyPad(dst, src, p);
  }
  static void MoveToL0(const LocalTensor<T>& dst, const LocalTensor<T>& src, bool trans, uint32_t rows, uint32_t pitch) {
    if (trans) {
      LoadDataWithTranspose(dst, src, LoadData2dTransposeParams{static_cast<uint16_t>(rows), static_cast<uint16_t>(pitch)});
      return;
    }
    LoadData2DParams p;
    p.repeatTimes = static_cast<uint8_t>((uint64_t{rows} * pitch * sizeof(T) + 511) / 512);
    LoadData(dst, src, p);
  }

  TQue<TPosition::A1, 2> a1_;
  TQue<TPosition::B1, 2> b1_;
  TQue<TPosition::A2, 2> a2_;
  TQue<TPosition::B2, 2> b2_;
  TQue<TPosition::CO1, 1> co1_;
  LocalTensor<Acc> acc_;
  uint32_t base_k_ = 0, l1_steps_ = 1, m_ = 0, n_ = 0, m_l0_ = 0, n_l0_ = 0;
};

}  // namespace npusim::cube_util
