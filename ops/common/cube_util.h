// The cube path an AIC kernel uses for one output tile C[m, n] = op(A)[m, K] x op(B)[K, n]:
// K in L1 chunks of l1_k, each chunk GM -> L1 in one MTE2 copy per operand, then in steps of
// base_k L1 -> L0A/L0B (MTE1) -> Mmad (M) accumulating in L0C; Fixpipe L0C -> GM. L1 and L0
// queues are `buffers`-deep, so the MTE2 of chunk k+1 overlaps the Mmads of chunk k, as in the
// AscendC matmul samples. l1_k = base_k is the plain matmul sample; a larger l1_k is what the
// attention kernels do (a whole KV page per copy), since each MTE2 copy pays a fixed latency.
// An operand marked `keep` stays in L1 while the same operand comes back (FIA's Q: loaded once
// per unit, not once per KV page).
//
// Operands are row-major in GM with a leading dimension; `trans` means GM holds the operand
// transposed (A^T as [K, m], B^T as [n, K]: K of attention, W of a torch Linear), which the
// L1 -> L0 move transposes (LoadDataWithTranspose). When GM rows run along K (A plain, B
// transposed) the chunk lands Nd2Nz (every base_k columns together) and each K step must be a
// whole number of 32 B so no padding enters the reduction.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "devices/ascendc/kernel_operator.h"
#include "model/error.h"
#include "ops/common/kernel_util.h"

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
  bool keep = false;  // A only: may stay in L1 across Compute calls (needs K <= l1_k and keep_a)
};

// Elements of T per 32 B (the row pitch unit of L1 tiles).
template <class T> constexpr uint32_t kRowAlign = 32 / sizeof(T);
inline uint32_t AlignUp(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

template <class T, class Acc>
class CubeTile {
 public:
  // L1 tiles of base_m x l1_k and l1_k x base_n (l1_k: a multiple of base_k, 0 = base_k), L0
  // tiles of base_m x base_k and base_k x base_n; L0C holds base_m x base_n of Acc. keep_a adds
  // one L1 tile for an A that stays.
  void Init(TPipe& pipe, uint32_t base_m, uint32_t base_n, uint32_t base_k, int buffers, uint32_t l1_k = 0, bool keep_a = false) {
    base_m_ = AlignUp(base_m, 16);
    base_n_ = AlignUp(base_n, 16);
    base_k_ = base_k;
    l1_k_ = l1_k ? AlignUp(l1_k, base_k) : base_k;
    const uint64_t a1_bytes = uint64_t{base_m_} * AlignUp(l1_k_, 16) * sizeof(T);
    const uint64_t b1_bytes = uint64_t{AlignUp(l1_k_, 16)} * base_n_ * sizeof(T);
    pipe.InitBuffer(a1_, buffers, a1_bytes, "a_l1");
    pipe.InitBuffer(b1_, buffers, b1_bytes, "b_l1");
    if (keep_a) pipe.InitBuffer(a_kept_, a1_bytes, "a_l1_kept");
    keep_a_ = keep_a;
    pipe.InitBuffer(a2_, buffers, uint64_t{base_m_} * AlignUp(base_k, 16) * sizeof(T), "a_l0a");
    pipe.InitBuffer(b2_, buffers, uint64_t{AlignUp(base_k, 16)} * base_n_ * sizeof(T), "b_l0b");
    pipe.InitBuffer(co1_, 1, uint64_t{base_m_} * base_n_ * sizeof(Acc), "c_l0c");
  }

  // Accumulates C[m, n] over k in L0C (m <= base_m, n <= base_n).
  void Compute(const Operand<T>& a, const Operand<T>& b, uint32_t m, uint32_t n, uint32_t k) {
    acc_ = co1_.template AllocTensor<Acc>();
    const bool kept = keep_a_ && a.keep && k <= l1_k_;
    for (uint32_t k0 = 0; k0 < k; k0 += l1_k_) {
      const uint32_t kl = std::min(l1_k_, k - k0);
      LocalTensor<T> la;
      if (kept) {
        la = a_kept_.template Get<T>();
        if (!SameAsKept(a, m, k)) {
          kernel_util::Sync<HardEvent::MTE1_MTE2>();  // the L0 moves of the previous A are done
          LoadA(la, a, m, k0, kl);
          kernel_util::Sync<HardEvent::MTE2_MTE1>();
          Remember(a, m, k);
        }
      } else {
        la = a1_.template AllocTensor<T>();
        LoadA(la, a, m, k0, kl);
        a1_.EnQue(la);
        la = a1_.template DeQue<T>();
      }
      auto lb = b1_.template AllocTensor<T>();
      LoadB(lb, b, n, k0, kl);
      b1_.EnQue(lb);
      lb = b1_.template DeQue<T>();
      for (uint32_t kk = 0; kk < kl; kk += base_k_) {
        const uint32_t kb = std::min(base_k_, kl - kk);
        if ((!a.trans || b.trans) && (kb * sizeof(T)) % 32)  // rows along K would be padded into the reduction
          throw SimFailure("misaligned", CurrentCore().name() + ": cube K step of " + std::to_string(kb) +
                                             " elements is not a whole number of 32 B; pad K");
        auto l0a = a2_.template AllocTensor<T>();
        auto l0b = b2_.template AllocTensor<T>();
        // L0A holds [m_l0, kb], L0B [kb, n_l0]; padded rows/columns of C are never stored. A
        // step's slice of an L1 chunk: a column block (rows along K, Nd2Nz) or kb rows (K^T).
        const uint32_t a_pitch = a.trans ? AlignUp(m, kRowAlign<T>) : AlignUp(kb, kRowAlign<T>);
        const uint32_t b_pitch = b.trans ? AlignUp(kb, kRowAlign<T>) : AlignUp(n, kRowAlign<T>);
        m_l0_ = a.trans ? a_pitch : m;
        n_l0_ = b.trans ? n : b_pitch;
        MoveToL0(l0a, la[a.trans ? kk * a_pitch : (kk / base_k_) * base_m_ * base_k_], a.trans, a.trans ? kb : m, a_pitch);
        MoveToL0(l0b, lb[b.trans ? (kk / base_k_) * base_n_ * base_k_ : kk * b_pitch], b.trans, b.trans ? n : kb, b_pitch);
        a2_.EnQue(l0a);
        b2_.EnQue(l0b);
        l0a = a2_.template DeQue<T>();
        l0b = b2_.template DeQue<T>();
        MmadParams mp;
        mp.m = static_cast<uint16_t>(m_l0_);
        mp.n = static_cast<uint16_t>(n_l0_);
        mp.k = static_cast<uint16_t>(kb);
        mp.cmatrixInitVal = k0 + kk == 0;
        Mmad(acc_, l0a, l0b, mp);
        a2_.FreeTensor(l0a);
        b2_.FreeTensor(l0b);
      }
      if (!kept) a1_.FreeTensor(la);
      b1_.FreeTensor(lb);
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
  // Columns [k0, k0 + kl) of A: A^T's kl rows of m in one copy; plain A's m rows Nd2Nz in one
  // copy, or, in row blocks (GQA packing), one copy per block and column block.
  void LoadA(const LocalTensor<T>& la, const Operand<T>& a, uint32_t m, uint32_t k0, uint32_t kl) {
    if (a.trans) return LoadRows(la, a.g[k0 * a.ld], kl, m, a.ld);
    if (a.block_rows == 0 || m <= a.block_rows) return LoadNz(la, a.g[k0], m, kl, a.ld, base_m_);
    for (uint32_t c = 0; c < kl; c += base_k_)
      for (uint32_t r = 0; r < m; r += a.block_rows)
        LoadRows(la[(c / base_k_) * base_m_ * base_k_ + r * AlignUp(std::min(base_k_, kl - c), kRowAlign<T>)],
                 a.g[(r / a.block_rows) * a.block_ld + k0 + c], std::min(a.block_rows, m - r), std::min(base_k_, kl - c), a.ld);
  }
  // Rows [k0, k0 + kl) of B: plain B's kl rows of n in one copy; B^T's n rows Nd2Nz in one copy.
  void LoadB(const LocalTensor<T>& lb, const Operand<T>& b, uint32_t n, uint32_t k0, uint32_t kl) {
    if (b.trans) return LoadNz(lb, b.g[k0], n, kl, b.ld, base_n_);
    LoadRows(lb, b.g[k0 * b.ld], kl, n, b.ld);
  }
  // `rows` GM rows of `cols` elements into an L1 tile with 32 B-aligned row pitch.
  static void LoadRows(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols, uint64_t ld) {
    DataCopyExtParams p;
    p.blockCount = static_cast<uint16_t>(rows);
    p.blockLen = static_cast<uint32_t>(cols * sizeof(T));
    p.srcStride = static_cast<uint32_t>((ld - cols) * sizeof(T));
    DataCopyPad(dst, src, p);
  }
  // `rows` GM rows of `cols` elements as column blocks of base_k, each block_rows x base_k apart.
  void LoadNz(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols, uint64_t ld, uint32_t block_rows) const {
    if (cols <= base_k_) return LoadRows(dst, src, rows, cols, ld);
    Nd2NzParams p;
    p.nValue = static_cast<uint16_t>(rows);
    p.dValue = cols;
    p.srcDValue = ld;
    p.c0 = base_k_;
    p.dstNzC0Stride = uint64_t{block_rows} * base_k_;
    DataCopy(dst, src, p);
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
  bool SameAsKept(const Operand<T>& a, uint32_t m, uint32_t k) const {
    return kept_valid_ && a.g.buffer() == kept_.g.buffer() && a.g.byte_offset() == kept_.g.byte_offset() && a.ld == kept_.ld &&
           a.trans == kept_.trans && a.block_rows == kept_.block_rows && a.block_ld == kept_.block_ld && m == kept_m_ && k == kept_k_;
  }
  void Remember(const Operand<T>& a, uint32_t m, uint32_t k) {
    kept_ = a;
    kept_m_ = m;
    kept_k_ = k;
    kept_valid_ = true;
  }

  TQue<TPosition::A1, 2> a1_;
  TQue<TPosition::B1, 2> b1_;
  TQue<TPosition::A2, 2> a2_;
  TQue<TPosition::B2, 2> b2_;
  TQue<TPosition::CO1, 1> co1_;
  TBuf<TPosition::A1> a_kept_;
  Operand<T> kept_;
  uint32_t kept_m_ = 0, kept_k_ = 0;
  bool keep_a_ = false, kept_valid_ = false;
  LocalTensor<Acc> acc_;
  uint32_t base_m_ = 0, base_n_ = 0, base_k_ = 0, l1_k_ = 0, m_ = 0, n_ = 0, m_l0_ = 0, n_l0_ = 0;
};

}  // namespace npusim::cube_util
