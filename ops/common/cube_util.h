// The cube path an AIC kernel uses for one output tile C[m, n] = op(A)[m, K] x op(B)[K, n]:
// K in steps of base_k, each step GM -> L1 (MTE2) -> L0A/L0B (MTE1) -> Mmad (M) accumulating in
// L0C, then Fixpipe L0C -> GM. L1 and L0 queues are `buffers`-deep, so the MTE2 of step k+1
// overlaps the Mmad of step k, as in the AscendC matmul samples.
//
// Operands are row-major in GM with a leading dimension; `trans` means GM holds the operand
// transposed (A^T as [K, m], B^T as [n, K]: K of attention, W of a torch Linear), which the
// L1 -> L0 move transposes (LoadDataWithTranspose). When GM rows run along K (A plain, B
// transposed) the K step must be a whole number of 32 B so no padding enters the reduction.
//
// Operands a kernel keeps in L1 itself (ComputeL1: FIA's MLA template holds Q for a whole unit
// and one latent page for both of its products) are loaded with LoadNz: one Nd2Nz copy that
// stores every base_k columns of the rows together, so each K step or column block is a
// contiguous [rows, base_k] block of L1 whichever way the cube reads it.
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

// An operand a kernel loaded into L1 with LoadNz: block j (columns j*base_k ..) of its `rows`
// rows at t[j * rows * base_k]. `col0`: the operand's first column there (a multiple of base_k).
// Plain A is [m, K]; plain B is [K, n] (rows along K: FIA's V, the latent page's first columns);
// `trans` B holds B^T as [n, K] (FIA's K^T).
template <class T>
struct L1Operand {
  LocalTensor<T> t;
  uint32_t rows = 0, col0 = 0;
  bool trans = false;
};

// Elements of T per 32 B (the row pitch unit of L1 tiles).
template <class T>
constexpr uint32_t kRowAlign = 32 / sizeof(T);
inline uint32_t AlignUp(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

template <class T, class Acc>
class CubeTile {
 public:
  // L0 tiles of base_m x base_k and base_k x base_n; L0C holds base_m x base_n of Acc. L1 tiles
  // are `l1_steps` K steps deep (AscendC's stepKa / stepKb): one GM copy feeds that many L0 steps,
  // so a narrow tile streams its operands in fewer, larger copies. A transposed B takes 1.
  // l1_steps 0: no L1 tiles (a kernel that only calls ComputeL1 keeps its operands itself).
  void Init(TPipe& pipe, uint32_t base_m, uint32_t base_n, uint32_t base_k, int buffers,
            uint32_t l1_steps = 1) {
    base_k_ = base_k;
    l1_steps_ = std::max(1u, l1_steps);
    const uint64_t a_bytes = uint64_t{AlignUp(base_m, 16)} * AlignUp(base_k, 16) * sizeof(T);
    const uint64_t b_bytes = uint64_t{AlignUp(base_k, 16)} * AlignUp(base_n, 16) * sizeof(T);
    if (l1_steps > 0) {
      pipe.InitBuffer(a1_, buffers, a_bytes * l1_steps_, "a_l1");
      pipe.InitBuffer(b1_, buffers, b_bytes * l1_steps_, "b_l1");
    }
    pipe.InitBuffer(a2_, buffers, a_bytes, "a_l0a");
    pipe.InitBuffer(b2_, buffers, b_bytes, "b_l0b");
    pipe.InitBuffer(co1_, 1, uint64_t{AlignUp(base_m, 16)} * AlignUp(base_n, 16) * sizeof(Acc),
                    "c_l0c");
  }

  // Accumulates C[m, n] over k in L0C (m <= base_m, n <= base_n).
  void Compute(const Operand<T>& a, const Operand<T>& b, uint32_t m, uint32_t n, uint32_t k) {
    if (l1_steps_ > 1 && b.trans)
      throw SimFailure("misaligned", CurrentCore().name() +
                                         ": a K-deep L1 tile of a transposed B is not modelled");
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
          LoadRows(la[r * AlignUp(a_cols, kRowAlign<T>)], a.g[(r / a.block_rows) * a.block_ld + k1],
                   std::min(a.block_rows, a_rows - r), a_cols, a.ld);
      } else {
        LoadRows(la, a.g[a.trans ? k1 * a.ld : k1], a_rows, a_cols, a.ld);
      }
      LoadRows(lb, b.g[b.trans ? k1 : k1 * b.ld], b_rows, b_cols, b.ld);
      a1_.EnQue(la);
      b1_.EnQue(lb);
      la = a1_.template DeQue<T>();
      lb = b1_.template DeQue<T>();
      const uint32_t a_pitch1 = AlignUp(a_cols, kRowAlign<T>),
                     b_pitch1 = AlignUp(b_cols, kRowAlign<T>);
      for (uint32_t k0 = k1; k0 < k1 + kb1; k0 += base_k_) {
        const uint32_t kb = std::min(base_k_, k1 + kb1 - k0), ks = k0 - k1;
        if ((!a.trans || b.trans) &&
            (kb * sizeof(T)) % 32)  // rows along K would be padded into the reduction
          throw SimFailure("misaligned", CurrentCore().name() + ": cube K step of " +
                                             std::to_string(kb) +
                                             " elements is not a whole number of 32 B; pad K");
        auto l0a = a2_.template AllocTensor<T>();
        auto l0b = b2_.template AllocTensor<T>();
        // L0A holds [m_l0, kb], L0B [kb, n_l0]; padded rows/columns of C are never stored.
        const uint32_t a_pitch = a.trans ? a_pitch1 : AlignUp(kb, kRowAlign<T>),
                       b_pitch = b.trans ? AlignUp(kb, kRowAlign<T>) : b_pitch1;
        m_l0_ = a.trans ? a_pitch : m;
        n_l0_ = b.trans ? n : b_pitch;
        if (kb == kb1) {  // the whole L1 tile
          MoveToL0(l0a, la, a.trans, a.trans ? kb : m, a_pitch);
          MoveToL0(l0b, lb, b.trans, b.trans ? n : kb, b_pitch);
        } else {  // K rows of A^T and B are contiguous in L1; K columns of A are a strided block
          if (a.trans)
            MoveToL0(l0a, la[ks * a_pitch1], true, kb, a_pitch);
          else
            detail::LoadData2DRows(l0a.view(), la[ks].view(), m, kb * sizeof(T),
                                   a_pitch1 * sizeof(T), a_pitch * sizeof(T));
          MoveToL0(l0b, lb[ks * b_pitch1], false, kb, b_pitch);
        }
        a2_.EnQue(l0a);
        b2_.EnQue(l0b);
        if (k0 + base_k_ >=
            k1 + kb1) {  // the L1 tile's last step: free it before the Mmad, for the next copy
          a1_.FreeTensor(la);
          b1_.FreeTensor(lb);
        }
        Multiply(kb, k0 == 0);
      }
    }
    Finish(m, n);
  }

  // `rows` GM rows of `cols` elements (`ld` apart) into rows row0.. of an L1Operand layout of
  // `layout_rows` rows at `dst`: one MTE2 instruction. Block j holds columns j*base_k.. of every
  // row, base_k wide (the last block padded), so a K step is one contiguous [rows, base_k] block.
  void LoadNz(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows, uint32_t cols,
              uint64_t ld, uint32_t layout_rows, uint32_t row0 = 0) const {
    Nd2NzParams p;
    p.nValue = static_cast<uint16_t>(rows);
    p.dValue = cols;
    p.srcDValue = ld;
    p.c0 = base_k_;
    p.dstNzC0Stride = uint64_t{layout_rows} * base_k_;
    DataCopy(dst[uint64_t{row0} * base_k_], src, p);
  }

  // Accumulates C[m, n] over k in L0C from two operands the kernel holds in L1 (col0 on a block
  // start; every K step and a plain B's column tile a whole number of 32 B). The L1 -> L0 moves
  // and Mmads are those of Compute; no GM copy.
  void ComputeL1(const L1Operand<T>& a, const L1Operand<T>& b, uint32_t m, uint32_t n, uint32_t k) {
    if ((k * sizeof(T)) % 32 || (!b.trans && (n * sizeof(T)) % 32) || a.trans || a.col0 % base_k_ ||
        b.col0 % base_k_)
      throw SimFailure("misaligned",
                       CurrentCore().name() +
                           ": an L1-held operand is read in whole 32 B steps from a " +
                           std::to_string(base_k_) + "-column block start (K " + std::to_string(k) +
                           ", N " + std::to_string(n) + ")");
    acc_ = co1_.template AllocTensor<Acc>();
    auto block = [&](const L1Operand<T>& o, uint32_t col) {
      return o.t[((o.col0 + col) / base_k_) * o.rows * base_k_];
    };
    const uint32_t np = AlignUp(n, kRowAlign<T>);
    for (uint32_t k0 = 0; k0 < k; k0 += base_k_) {
      const uint32_t kb = std::min(base_k_, k - k0);
      auto l0a = a2_.template AllocTensor<T>();
      auto l0b = b2_.template AllocTensor<T>();
      // L0A [m, kb] from the block's first kb columns.
      if (kb == base_k_)
        MoveToL0(l0a, block(a, k0), false, m, kb);
      else
        detail::LoadData2DRows(l0a.view(), block(a, k0).view(), m, kb * sizeof(T),
                               base_k_ * sizeof(T), kb * sizeof(T));
      if (b.trans) {  // B^T's block [n, base_k] transposed into [base_k, n]; the Mmad reads its
                      // first kb rows
        MoveToL0(l0b, block(b, k0), true, n, base_k_);
      } else {  // rows k0.. of each column block, side by side: [kb, n]
        for (uint32_t c = 0; c < n; c += base_k_) {
          const uint32_t w = std::min(base_k_, n - c);
          detail::LoadData2DRows(l0b[c].view(), block(b, c)[k0 * base_k_].view(), kb, w * sizeof(T),
                                 base_k_ * sizeof(T), np * sizeof(T));
        }
      }
      m_l0_ = m;
      n_l0_ = b.trans ? n : np;
      a2_.EnQue(l0a);
      b2_.EnQue(l0b);
      Multiply(kb, k0 == 0);
    }
    Finish(m, n);
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
  static void LoadRows(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t rows,
                       uint32_t cols, uint64_t ld) {
    DataCopyExtParams p;
    p.blockCount = static_cast<uint16_t>(rows);
    p.blockLen = static_cast<uint32_t>(cols * sizeof(T));
    p.srcStride = static_cast<uint32_t>((ld - cols) * sizeof(T));
    DataCopyPad(dst, src, p);
  }
  // One K step: the L0 operands just enqueued, multiplied into L0C (m_l0_ x kb x n_l0_).
  void Multiply(uint32_t kb, bool init) {
    LocalTensor<T> l0a = a2_.template DeQue<T>(), l0b = b2_.template DeQue<T>();
    MmadParams mp;
    mp.m = static_cast<uint16_t>(m_l0_);
    mp.n = static_cast<uint16_t>(n_l0_);
    mp.k = static_cast<uint16_t>(kb);
    mp.cmatrixInitVal = init;
    Mmad(acc_, l0a, l0b, mp);
    a2_.FreeTensor(l0a);
    b2_.FreeTensor(l0b);
  }
  void Finish(uint32_t m, uint32_t n) {
    co1_.EnQue(acc_);
    m_ = m;
    n_ = n;
  }

  static void MoveToL0(const LocalTensor<T>& dst, const LocalTensor<T>& src, bool trans,
                       uint32_t rows, uint32_t pitch) {
    if (trans) {
      LoadDataWithTranspose(
          dst, src,
          LoadData2dTransposeParams{static_cast<uint16_t>(rows), static_cast<uint16_t>(pitch)});
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
