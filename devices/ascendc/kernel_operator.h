// The kernel programming API, with AscendC's names and semantics (NPU arch 2201 = A2/A3):
// GlobalTensor/LocalTensor, TPipe/TQue/TQueBind/TBuf, DataCopy/DataCopyPad, vector ops, cube
// (LoadData/Mmad/Fixpipe), SetFlag/WaitFlag/PipeBarrier, CrossCoreSetFlag/CrossCoreWaitFlag,
// GetBlockIdx/GetBlockNum. Calls dispatch instructions to the current core's pipes and return;
// the core model times them, checks them and (in functional mode) executes them.
//
// Deviations from AscendC, kept small on purpose: rounding modes are CAST_RINT etc. without the
// RoundMode:: prefix; InitBuffer takes an optional name used in overflow reports; only the
// count-based forms of vector ops exist, plus the repeat form (RowBlock: one masked repeat per
// row) of Add, Sub, Mul and Cast; L0 buffers hold row-major data,
// so a sub-block of an L1 tile reaches L0 with LoadDataBlock (PTO's TEXTRACT) rather than a
// LoadData of contiguous fractals.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "devices/core_runtime.h"
#include "model/dtype.h"

namespace npusim::ascendc {

// ---- element types ----
struct half {
  uint16_t bits = 0;
  half() = default;
  half(double v) : bits(ToHalf(v)) {}  // NOLINT: implicit like the device type
  operator float() const { return static_cast<float>(FromHalf(bits)); }
};
struct bfloat16_t {
  uint16_t bits = 0;
  bfloat16_t() = default;
  bfloat16_t(double v) : bits(ToBf16(v)) {}  // NOLINT
  operator float() const { return static_cast<float>(FromBf16(bits)); }
};
template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kFloat32;
};
template <>
struct DTypeOf<half> {
  static constexpr DType value = DType::kFloat16;
};
template <>
struct DTypeOf<bfloat16_t> {
  static constexpr DType value = DType::kBFloat16;
};
template <>
struct DTypeOf<int8_t> {
  static constexpr DType value = DType::kInt8;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::kUInt8;
};
template <>
struct DTypeOf<int16_t> {
  static constexpr DType value = DType::kInt16;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kInt32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kInt64;
};

constexpr RoundMode CAST_RINT = RoundMode::kRint, CAST_ROUND = RoundMode::kRound,
                    CAST_FLOOR = RoundMode::kFloor, CAST_CEIL = RoundMode::kCeil,
                    CAST_TRUNC = RoundMode::kTrunc, CAST_ODD = RoundMode::kOdd,
                    CAST_NONE = RoundMode::kRint;

enum class TPosition : uint8_t { GM, VECIN, VECOUT, VECCALC, A1, B1, A2, B2, CO1, CO2 };
using QuePosition = TPosition;

enum pipe_t : uint8_t {
  PIPE_S = 0,
  PIPE_V,
  PIPE_M,
  PIPE_MTE1,
  PIPE_MTE2,
  PIPE_MTE3,
  PIPE_FIX,
  PIPE_ALL
};

constexpr uint8_t EventCode(Pipe src, Pipe dst) {
  return static_cast<uint8_t>((static_cast<int>(src) << 4) | static_cast<int>(dst));
}
enum class HardEvent : uint8_t {
  MTE2_V = EventCode(Pipe::kMte2, Pipe::kV),
  V_MTE3 = EventCode(Pipe::kV, Pipe::kMte3),
  MTE3_MTE2 = EventCode(Pipe::kMte3, Pipe::kMte2),
  V_MTE2 = EventCode(Pipe::kV, Pipe::kMte2),
  MTE2_MTE3 = EventCode(Pipe::kMte2, Pipe::kMte3),
  MTE3_V = EventCode(Pipe::kMte3, Pipe::kV),
  S_V = EventCode(Pipe::kS, Pipe::kV),
  V_S = EventCode(Pipe::kV, Pipe::kS),
  S_MTE2 = EventCode(Pipe::kS, Pipe::kMte2),
  MTE2_S = EventCode(Pipe::kMte2, Pipe::kS),
  S_MTE3 = EventCode(Pipe::kS, Pipe::kMte3),
  MTE3_S = EventCode(Pipe::kMte3, Pipe::kS),
  MTE2_MTE1 = EventCode(Pipe::kMte2, Pipe::kMte1),
  MTE1_MTE2 = EventCode(Pipe::kMte1, Pipe::kMte2),
  MTE1_M = EventCode(Pipe::kMte1, Pipe::kM),
  M_MTE1 = EventCode(Pipe::kM, Pipe::kMte1),
  M_FIX = EventCode(Pipe::kM, Pipe::kFix),
  FIX_M = EventCode(Pipe::kFix, Pipe::kM),
  FIX_MTE1 = EventCode(Pipe::kFix, Pipe::kMte1),
  FIX_MTE2 = EventCode(Pipe::kFix, Pipe::kMte2),
  M_MTE2 = EventCode(Pipe::kM, Pipe::kMte2),
  MTE3_MTE1 = EventCode(Pipe::kMte3, Pipe::kMte1),
  FIX_S = EventCode(Pipe::kFix, Pipe::kS),
  S_FIX = EventCode(Pipe::kS, Pipe::kFix),
  MTE2_M = EventCode(Pipe::kMte2, Pipe::kM),
};

enum class CMPMODE : uint8_t { LT, GT, EQ, LE, GE, NE };
enum class SELMODE : uint8_t { VSEL_TENSOR_TENSOR_MODE };

// ---- tensors ----
struct LocalView {
  Mem mem = Mem::kUb;
  uint8_t* base = nullptr;  // the core's buffer (null in timing-only mode)
  uint64_t addr = 0;        // byte address in the buffer
  uint64_t bytes = 0;       // bytes from addr to the end of the allocation
  int region = -1;
  BufferRef Ref() const { return {mem, base ? base + addr : nullptr, addr, region}; }
};

template <class T>
class LocalTensor {
 public:
  LocalTensor() = default;
  explicit LocalTensor(const LocalView& v) : view_(v) {}
  LocalTensor operator[](uint64_t offset) const {
    LocalView v = view_;
    uint64_t b = offset * sizeof(T);
    v.addr += b;
    v.bytes = b > v.bytes ? 0 : v.bytes - b;
    return LocalTensor(v);
  }
  uint32_t GetSize() const { return static_cast<uint32_t>(view_.bytes / sizeof(T)); }
  T GetValue(uint64_t i) const;
  void SetValue(uint64_t i, T v) const;
  template <class U>
  LocalTensor<U> ReinterpretCast() const {
    return LocalTensor<U>(view_);
  }
  const LocalView& view() const { return view_; }

 private:
  LocalView view_;
};

template <class T>
class GlobalTensor {
 public:
  // `size` in elements; by default the whole buffer.
  void SetGlobalBuffer(GmBuffer* buffer, uint64_t size = UINT64_MAX) {
    buffer_ = buffer;
    offset_ = 0;
    size_ = size == UINT64_MAX ? buffer->bytes / sizeof(T) : size;
  }
  GlobalTensor operator[](uint64_t offset) const {
    GlobalTensor g = *this;
    g.offset_ += offset;
    g.size_ = offset > size_ ? 0 : size_ - offset;
    return g;
  }
  uint64_t GetSize() const { return size_; }
  T GetValue(uint64_t i) const;  // scalar read of GM (DCache)
  void SetValue(uint64_t i, T v) const;
  GmBuffer* buffer() const { return buffer_; }
  uint64_t byte_offset() const { return offset_ * sizeof(T); }

 private:
  GmBuffer* buffer_ = nullptr;
  uint64_t offset_ = 0, size_ = 0;
};

// The repeat form of a vector instruction (AscendC's repeatTimes / repStride with a lane mask):
// one instruction over `rows` rows of `cols` elements, one 256 B repeat per row (so cols x the
// element size is at most 256 B and each row start is 32 B aligned), each operand's rows `*_pitch`
// elements apart; a pitch of 0 reads the same row in every repeat (a broadcast operand). A row
// costs a whole repeat however few of its lanes the mask enables.
struct RowBlock {
  uint32_t rows = 0, cols = 0, dst_pitch = 0, src0_pitch = 0, src1_pitch = 0;
  // src0's row is a single 32 B block read again for every block of the row (a source block
  // stride of 0, as MulAddDst over a Brcb result uses it): src0 rows span 32 B, not `cols`.
  bool src0_block = false;
};

namespace detail {
// Untyped implementations (kernel_operator.cpp).
void CheckGmRange(const GmBuffer* b, uint64_t offset, uint64_t bytes, const char* what);
uint8_t* GmScalarPtr(const GmBuffer* b, uint64_t offset, uint64_t bytes, bool write);
uint8_t* LocalScalarPtr(const LocalView& v, uint64_t offset, uint64_t bytes, bool write);
void CopyGmToLocal(const LocalView& dst, const GmBuffer* src, uint64_t src_off, uint32_t blocks,
                   uint32_t block_bytes, uint64_t src_stride, uint64_t dst_stride,
                   uint32_t dst_block_bytes, bool pad, DType dt, double pad_value, const char* api);
void CopyLocalToGm(const GmBuffer* dst, uint64_t dst_off, const LocalView& src, uint32_t blocks,
                   uint32_t block_bytes, uint64_t src_stride, uint64_t dst_stride, const char* api);
void CopyGmToL1Nd2Nz(const LocalView& dst, const GmBuffer* src, uint64_t src_off, uint32_t rows,
                     uint32_t row_bytes, uint64_t src_stride, uint32_t slab_bytes,
                     uint64_t slab_stride, DType dt);
void CopyLocalToLocal(const LocalView& dst, const LocalView& src, uint64_t bytes);
void Vector(VecOp op, DType dt, const LocalView& dst, const LocalView* a, const LocalView* b,
            uint32_t count, double scalar = 0, DType dt_out = DType::kFloat32,
            RoundMode rm = RoundMode::kRint, CmpMode cmp = CmpMode::kLt,
            const LocalView* c = nullptr);
void VectorRows(VecOp op, DType dt, DType dt_out, RoundMode rm, const LocalView& dst,
                const LocalView& a, const LocalView* b, const RowBlock& rb);
void LoadData2D(const LocalView& dst, const LocalView& src, uint32_t repeat, uint32_t src_stride,
                uint32_t dst_gap, bool transpose);
void LoadData2DTranspose(const LocalView& dst, const LocalView& src, DType dt, uint32_t rows,
                         uint32_t cols);
void Mmad(const LocalView& c, const LocalView& a, const LocalView& b, DType in, DType out,
          uint32_t m, uint32_t k, uint32_t n, bool init);
void Fixpipe(const GmBuffer* dst, uint64_t dst_off, DType out, const LocalView& src, DType acc,
             uint32_t m, uint32_t n, uint32_t src_stride, uint32_t dst_stride, FixQuant quant,
             double scale);
void FixpipeToL1(const LocalView& dst, DType out, const LocalView& src, DType acc, uint32_t m,
                 uint32_t n, uint32_t src_stride, uint32_t dst_stride);
void LoadData2DRows(const LocalView& dst, const LocalView& src, uint32_t rows, uint32_t row_bytes,
                    uint32_t src_pitch, uint32_t dst_pitch);
void SetFlag(Pipe src, Pipe dst, int id);
void WaitFlag(Pipe src, Pipe dst, int id);
void Barrier(Pipe p);
void CrossCoreSet(int mode, Pipe p, int id);
}  // namespace detail

// ---- TPipe / TQue / TBuf ----
class TPipe;

class TQueBase {
 public:
  TQueBase(TPosition src, TPosition dst);
  TQueBase(const TQueBase&) = delete;
  TQueBase& operator=(const TQueBase&) = delete;

 protected:
  LocalView AllocRaw();
  void EnQueRaw(const LocalView& v);
  LocalView DeQueRaw();
  void FreeRaw(const LocalView& v);

 private:
  friend class TPipe;
  struct Slot {
    LocalView view;
    int event_id = 0;
    bool allocated = false, free_pending = false;
  };
  int SlotOf(const LocalView& v, const char* api) const;
  TPosition src_pos_, dst_pos_;
  Mem mem_;
  Pipe producer_, consumer_;
  std::vector<Slot> slots_;
  std::deque<int> queued_;
  size_t next_alloc_ = 0;
  std::string name_;
};

template <TPosition pos, int depth = 1>
class TQue : public TQueBase {
 public:
  TQue() : TQueBase(pos, pos) {}
  template <class T>
  LocalTensor<T> AllocTensor() {
    return LocalTensor<T>(AllocRaw());
  }
  template <class T>
  void EnQue(const LocalTensor<T>& t) {
    EnQueRaw(t.view());
  }
  template <class T>
  LocalTensor<T> DeQue() {
    return LocalTensor<T>(DeQueRaw());
  }
  template <class T>
  void FreeTensor(const LocalTensor<T>& t) {
    FreeRaw(t.view());
  }
};

template <TPosition src, TPosition dst, int depth = 1>
class TQueBind : public TQueBase {
 public:
  TQueBind() : TQueBase(src, dst) {}
  template <class T>
  LocalTensor<T> AllocTensor() {
    return LocalTensor<T>(AllocRaw());
  }
  template <class T>
  void EnQue(const LocalTensor<T>& t) {
    EnQueRaw(t.view());
  }
  template <class T>
  LocalTensor<T> DeQue() {
    return LocalTensor<T>(DeQueRaw());
  }
  template <class T>
  void FreeTensor(const LocalTensor<T>& t) {
    FreeRaw(t.view());
  }
};

class TBufBase {
 protected:
  friend class TPipe;
  LocalView view_;
  TPosition pos_ = TPosition::VECCALC;
};

template <TPosition pos = TPosition::VECCALC>
class TBuf : public TBufBase {
 public:
  TBuf() { pos_ = pos; }
  template <class T>
  LocalTensor<T> Get() const {
    return LocalTensor<T>(view_);
  }
  template <class T>
  LocalTensor<T> Get(uint32_t count) const {
    LocalView v = view_;
    v.bytes = std::min<uint64_t>(v.bytes, count * sizeof(T));
    return LocalTensor<T>(v);
  }
};

class TPipe {
 public:
  TPipe();
  ~TPipe();
  TPipe(const TPipe&) = delete;
  TPipe& operator=(const TPipe&) = delete;
  // `len` bytes per buffer, rounded up to the buffer's alignment; `num` buffers (2 = double
  // buffer).
  void InitBuffer(TQueBase& que, int num, uint64_t len, const std::string& name = "");
  void InitBuffer(TBufBase& buf, uint64_t len, const std::string& name = "");

 private:
  int NextEvent(Pipe src, Pipe dst);
  CoreRuntime* core_;
  std::vector<std::pair<Mem, uint64_t>> first_alloc_;
  int next_event_[kNumPipes][kNumPipes] = {};
  int queues_ = 0;
};

// ---- data movement ----
struct DataCopyParams {  // units of 32 B DataBlocks
  uint16_t blockCount = 1, blockLen = 0, srcStride = 0, dstStride = 0;
};
struct DataCopyExtParams {  // blockLen in bytes; GM-side stride in bytes, UB-side stride in 32 B
                            // blocks
  uint16_t blockCount = 1;
  uint32_t blockLen = 0, srcStride = 0, dstStride = 0, rsv = 0;
};
template <class T>
struct DataCopyPadExtParams {
  bool isPad = false;
  uint8_t leftPadding = 0, rightPadding = 0;
  T paddingValue{};
};

template <class T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t count) {
  uint32_t bytes = count * sizeof(T);
  detail::CopyGmToLocal(dst.view(), src.buffer(), src.byte_offset(), 1, bytes, bytes, bytes, bytes,
                        false, DTypeOf<T>::value, 0, "DataCopy");
}
template <class T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count) {
  uint32_t bytes = count * sizeof(T);
  detail::CopyLocalToGm(dst.buffer(), dst.byte_offset(), src.view(), 1, bytes, bytes, bytes,
                        "DataCopy");
}
template <class T>
void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count) {
  detail::CopyLocalToLocal(dst.view(), src.view(), static_cast<uint64_t>(count) * sizeof(T));
}
template <class T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyParams& p) {
  uint32_t len = p.blockLen * 32u;
  detail::CopyGmToLocal(dst.view(), src.buffer(), src.byte_offset(), p.blockCount, len,
                        len + p.srcStride * 32u, len + p.dstStride * 32u, len, false,
                        DTypeOf<T>::value, 0, "DataCopy");
}
template <class T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& p) {
  uint32_t len = p.blockLen * 32u;
  detail::CopyLocalToGm(dst.buffer(), dst.byte_offset(), src.view(), p.blockCount, len,
                        len + p.srcStride * 32u, len + p.dstStride * 32u, "DataCopy");
}
// GM -> L1 in one instruction, as the cube wants it: AscendC's Nd2Nz DataCopy cuts each row into
// C0 column blocks (32 B) and stores all rows of one block together, so any run of K columns is
// contiguous in L1. Stand-in in the model's row-major L1 (see the header note): c0 columns per
// block (a cube K step, not 32 B), each block row-major at c0 columns (a narrower last block
// padded), dstNzC0Stride elements between block starts. One matrix (no ndNum). Same MTE2 cost as
// a plain copy of the rows.
struct Nd2NzParams {
  uint16_t nValue = 0;         // rows
  uint32_t dValue = 0;         // columns, elements
  uint64_t srcDValue = 0;      // GM row stride, elements
  uint32_t c0 = 0;             // columns per block (stand-in)
  uint64_t dstNzC0Stride = 0;  // elements between block starts
};
template <class T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const Nd2NzParams& p) {
  detail::CopyGmToL1Nd2Nz(dst.view(), src.buffer(), src.byte_offset(), p.nValue,
                          static_cast<uint32_t>(p.dValue * sizeof(T)), p.srcDValue * sizeof(T),
                          static_cast<uint32_t>(p.c0 * sizeof(T)), p.dstNzC0Stride * sizeof(T),
                          DTypeOf<T>::value);
}
// GM -> UB with any byte length: each block lands 32 B aligned, padded when asked.
template <class T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                 const DataCopyPadExtParams<T>& pad = {}) {
  uint32_t padded = (p.blockLen + 31u) / 32u * 32u;
  detail::CopyGmToLocal(dst.view(), src.buffer(), src.byte_offset(), p.blockCount, p.blockLen,
                        p.blockLen + p.srcStride, padded + p.dstStride * 32u, padded, pad.isPad,
                        DTypeOf<T>::value,
                        static_cast<double>(static_cast<float>(pad.paddingValue)), "DataCopyPad");
}
// UB -> GM with any byte length.
template <class T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src,
                 const DataCopyExtParams& p) {
  uint32_t padded = (p.blockLen + 31u) / 32u * 32u;
  detail::CopyLocalToGm(dst.buffer(), dst.byte_offset(), src.view(), p.blockCount, p.blockLen,
                        padded + p.srcStride * 32u, p.blockLen + p.dstStride, "DataCopyPad");
}

// ---- vector ----
#define NPUSIM_BINARY(NAME, OP)                                                          \
  template <class T>                                                                     \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, \
            uint32_t count) {                                                            \
    detail::Vector(OP, DTypeOf<T>::value, dst.view(), &a.view(), &b.view(), count);      \
  }
NPUSIM_BINARY(Add, VecOp::kAdd)
NPUSIM_BINARY(Sub, VecOp::kSub)
NPUSIM_BINARY(Mul, VecOp::kMul)
NPUSIM_BINARY(Div, VecOp::kDiv)
NPUSIM_BINARY(Max, VecOp::kMax)
NPUSIM_BINARY(Min, VecOp::kMin)
NPUSIM_BINARY(MulAddDst, VecOp::kMulAddDst)  // dst += a * b
#undef NPUSIM_BINARY
#define NPUSIM_BINARY_ROWS(NAME, OP)                                                           \
  template <class T>                                                                           \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b,       \
            const RowBlock& rb) {                                                              \
    detail::VectorRows(OP, DTypeOf<T>::value, DTypeOf<T>::value, RoundMode::kRint, dst.view(), \
                       a.view(), &b.view(), rb);                                               \
  }
NPUSIM_BINARY_ROWS(Add, VecOp::kAdd)
NPUSIM_BINARY_ROWS(Sub, VecOp::kSub)
NPUSIM_BINARY_ROWS(Mul, VecOp::kMul)
NPUSIM_BINARY_ROWS(MulAddDst, VecOp::kMulAddDst)
#undef NPUSIM_BINARY_ROWS

#define NPUSIM_SCALAR(NAME, OP)                                                               \
  template <class T, class S>                                                                 \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, S scalar, uint32_t count) { \
    detail::Vector(OP, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count,            \
                   RoundTo(static_cast<double>(scalar), DTypeOf<T>::value));                  \
  }
NPUSIM_SCALAR(Adds, VecOp::kAdds)
NPUSIM_SCALAR(Muls, VecOp::kMuls)
NPUSIM_SCALAR(Maxs, VecOp::kMaxs)
NPUSIM_SCALAR(Mins, VecOp::kMins)
#undef NPUSIM_SCALAR

#define NPUSIM_UNARY(NAME, OP)                                                      \
  template <class T>                                                                \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count) { \
    detail::Vector(OP, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count); \
  }
NPUSIM_UNARY(Exp, VecOp::kExp)
NPUSIM_UNARY(Ln, VecOp::kLn)
NPUSIM_UNARY(Sqrt, VecOp::kSqrt)
NPUSIM_UNARY(Rsqrt, VecOp::kRsqrt)
NPUSIM_UNARY(Abs, VecOp::kAbs)
NPUSIM_UNARY(Reciprocal, VecOp::kReciprocal)
NPUSIM_UNARY(Relu, VecOp::kRelu)
#undef NPUSIM_UNARY

template <class T, class S>
void Duplicate(const LocalTensor<T>& dst, S scalar, uint32_t count) {
  detail::Vector(VecOp::kDuplicate, DTypeOf<T>::value, dst.view(), nullptr, nullptr, count,
                 RoundTo(static_cast<double>(scalar), DTypeOf<T>::value));
}
// Cast in the repeat form: rb.cols elements per row, src1_pitch unused; the 256 B repeat limit
// applies to the wider of the two element types.
template <class D, class S>
void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, RoundMode mode,
          const RowBlock& rb) {
  detail::VectorRows(VecOp::kCast, DTypeOf<S>::value, DTypeOf<D>::value, mode, dst.view(),
                     src.view(), nullptr, rb);
}
template <class D, class S>
void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, RoundMode mode, uint32_t count) {
  detail::Vector(VecOp::kCast, DTypeOf<S>::value, dst.view(), &src.view(), nullptr, count, 0,
                 DTypeOf<D>::value, mode);
}
// Packed int4 pairs (one byte each) to int8: `count` int8 values written (W4A8 weights).
inline void UnpackInt4(const LocalTensor<int8_t>& dst, const LocalTensor<uint8_t>& src,
                       uint32_t count) {
  detail::Vector(VecOp::kUnpackInt4, DType::kUInt8, dst.view(), &src.view(), nullptr, count, 0,
                 DType::kInt8);
}
// dst[0] = sum (or max) of src[0..count); `work` is the scratch AscendC requires.
template <class T>
void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work,
               uint32_t count) {
  detail::Vector(VecOp::kReduceSum, DTypeOf<T>::value, dst.view(), &src.view(), &work.view(),
                 count);
}
// With calIndex, dst[1] holds the index of the (first) maximum as an integer in T's bits
// (read it through ReinterpretCast<uint32_t>() for float).
template <class T>
void ReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work,
               uint32_t count, bool calIndex = false) {
  detail::Vector(VecOp::kReduceMax, DTypeOf<T>::value, dst.view(), &src.view(), &work.view(), count,
                 calIndex ? 1.0 : 0.0);
}
// dst += src * scalar.
template <class T, class S>
void Axpy(const LocalTensor<T>& dst, const LocalTensor<T>& src, S scalar, uint32_t count) {
  detail::Vector(VecOp::kAxpy, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count,
                 RoundTo(static_cast<double>(scalar), DTypeOf<T>::value));
}
// dst[g] = sum of the g-th group of `group` consecutive elements, for count/group groups
// (AscendC's WholeReduceSum with one repeat per group; here any group length).
template <class T>
void WholeReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t group,
                    uint32_t count) {
  detail::Vector(VecOp::kGroupSum, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count,
                 static_cast<double>(group));
}
// Each of `count` elements of src copied across its own 32 B block of dst (AscendC's Brcb: 8
// floats or 16 halves a block), the operand a repeat-form src0_block instruction reuses.
template <class T>
void Brcb(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count) {
  detail::Vector(VecOp::kBrcb, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count);
}
// dst[g] = max of the g-th group of `group` consecutive elements (AscendC's WholeReduceMax).
template <class T>
void WholeReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t group,
                    uint32_t count) {
  detail::Vector(VecOp::kGroupMax, DTypeOf<T>::value, dst.view(), &src.view(), nullptr, count,
                 static_cast<double>(group));
}
// One bit per element in `mask` (LSB first).
template <class T>
void Compare(const LocalTensor<uint8_t>& mask, const LocalTensor<T>& a, const LocalTensor<T>& b,
             CMPMODE mode, uint32_t count) {
  detail::Vector(VecOp::kCompare, DTypeOf<T>::value, mask.view(), &a.view(), &b.view(), count, 0,
                 DType::kUInt8, RoundMode::kRint, static_cast<CmpMode>(mode));
}
// dst[i] = mask bit i ? a[i] : b[i].
template <class T>
void Select(const LocalTensor<T>& dst, const LocalTensor<uint8_t>& mask, const LocalTensor<T>& a,
            const LocalTensor<T>& b, SELMODE, uint32_t count) {
  detail::Vector(VecOp::kSelect, DTypeOf<T>::value, dst.view(), &mask.view(), &a.view(), count, 0,
                 DTypeOf<T>::value, RoundMode::kRint, CmpMode::kLt, &b.view());
}

// ---- cube ----
struct LoadData2DParams {
  uint16_t startIndex = 0;
  uint8_t repeatTimes = 1;  // 512 B fractals moved
  uint16_t srcStride = 1;   // in fractals
  uint8_t sid = 0;
  uint16_t dstGap = 0;  // in fractals
  bool ifTranspose = false;
  uint8_t addrMode = 0;
};
template <class T>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2DParams& p) {
  detail::LoadData2D(dst.view(), src[p.startIndex * 512 / sizeof(T)].view(), p.repeatTimes,
                     p.srcStride, p.dstGap, p.ifTranspose);
}
// L1 -> L0A/L0B transposing a row-major [rows, cols] matrix into row-major [cols, rows] (the
// ND-layout stand-in for LoadDataWithTranspose / LoadData2D with ifTranspose over a whole
// operand: how a kernel feeds K^T or W^T to the cube). Same MTE1 cost as a plain load.
struct LoadData2dTransposeParams {
  uint16_t rows = 0, cols = 0;
};
template <class T>
void LoadDataWithTranspose(const LocalTensor<T>& dst, const LocalTensor<T>& src,
                           const LoadData2dTransposeParams& p) {
  detail::LoadData2DTranspose(dst.view(), src.view(), DTypeOf<T>::value, p.rows, p.cols);
}
struct MmadParams {
  uint16_t m = 0, n = 0, k = 0;
  bool cmatrixInitVal = true;  // true: C = A x B; false: C += A x B
};
template <class C, class T>
void Mmad(const LocalTensor<C>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b,
          const MmadParams& p) {
  detail::Mmad(dst.view(), a.view(), b.view(), DTypeOf<T>::value, DTypeOf<C>::value, p.m, p.k, p.n,
               p.cmatrixInitVal);
}
enum class QuantMode_t : uint8_t { NoQuant, F322F16, F322BF16, DEQF16, DEQBF16 };
struct FixpipeParams {
  uint32_t nSize = 0, mSize = 0;
  uint32_t srcStride = 0;  // L0C row stride, elements (0 = nSize)
  uint32_t dstStride = 0;  // GM row stride, elements (0 = nSize)
  QuantMode_t quantPre = QuantMode_t::NoQuant;
  float deqScalar = 1.0f;
};
template <class D, class C>
void Fixpipe(const GlobalTensor<D>& dst, const LocalTensor<C>& src, const FixpipeParams& p) {
  detail::Fixpipe(dst.buffer(), dst.byte_offset(), DTypeOf<D>::value, src.view(), DTypeOf<C>::value,
                  p.mSize, p.nSize, p.srcStride ? p.srcStride : p.nSize,
                  p.dstStride ? p.dstStride : p.nSize, static_cast<FixQuant>(p.quantPre),
                  p.deqScalar);
}
// FixPipe into an L1 tile (row-major, dstStride elements per row): the accumulator back as an
// operand.
template <class D, class C>
void Fixpipe(const LocalTensor<D>& dst, const LocalTensor<C>& src, const FixpipeParams& p) {
  detail::FixpipeToL1(dst.view(), DTypeOf<D>::value, src.view(), DTypeOf<C>::value, p.mSize,
                      p.nSize, p.srcStride ? p.srcStride : p.nSize,
                      p.dstStride ? p.dstStride : p.nSize);
}
// A rows x cols sub-matrix of a row-major L1 tile (`src_cols` per row) into the same place of a
// row-major L0A/L0B tile (`dst_cols` per row): the ND stand-in for PTO's TEXTRACT(l0, l1, r, c)
// of a block, one MTE1 instruction moving rows x cols elements.
template <class T>
void LoadDataBlock(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t row, uint32_t col,
                   uint32_t rows, uint32_t cols, uint32_t src_cols, uint32_t dst_cols) {
  detail::LoadData2DRows(dst[row * dst_cols + col].view(), src[row * src_cols + col].view(), rows,
                         static_cast<uint32_t>(cols * sizeof(T)),
                         static_cast<uint32_t>(src_cols * sizeof(T)),
                         static_cast<uint32_t>(dst_cols * sizeof(T)));
}

// ---- synchronisation ----
// Event ID a kernel uses for its own SetFlag/WaitFlag pairs; queues are given IDs 0..6 (in
// AscendC a kernel fetches one from the pipe; one fixed ID keeps kernels short).
constexpr int kKernelEventId = 7;
constexpr Pipe EventSrc(HardEvent e) { return static_cast<Pipe>(static_cast<uint8_t>(e) >> 4); }
constexpr Pipe EventDst(HardEvent e) { return static_cast<Pipe>(static_cast<uint8_t>(e) & 0xF); }
template <HardEvent e>
void SetFlag(int id) {
  detail::SetFlag(EventSrc(e), EventDst(e), id);
}
template <HardEvent e>
void WaitFlag(int id) {
  detail::WaitFlag(EventSrc(e), EventDst(e), id);
}
template <pipe_t p>
void PipeBarrier() {
  detail::Barrier(static_cast<Pipe>(p == PIPE_ALL ? 0xFF : p));
}
// mode 0: every core of the sender's type in the launch (SyncAll; every block resident at once);
// mode 1: the two AIVs of a group; mode 2: an AIC and its two AIVs. Issued on `pipe`.
template <int mode, pipe_t pipe>
void CrossCoreSetFlag(int id) {
  detail::CrossCoreSet(mode, static_cast<Pipe>(pipe), id);
}
inline void CrossCoreWaitFlag(int id) { CurrentCore().CrossCoreWait(id); }

inline int64_t GetBlockIdx() { return CurrentCore().block_idx(); }
inline int64_t GetBlockNum() { return CurrentCore().block_num(); }
inline int64_t GetSubBlockIdx() { return CurrentCore().sub_block_idx(); }
#define ASCEND_IS_AIV (::npusim::CurrentCore().type() == ::npusim::CoreType::kAiv)
#define ASCEND_IS_AIC (::npusim::CurrentCore().type() == ::npusim::CoreType::kAic)

// ---- scalar access ----
template <class T>
T LocalTensor<T>::GetValue(uint64_t i) const {
  T v;
  std::memcpy(&v, detail::LocalScalarPtr(view_, i * sizeof(T), sizeof(T), false), sizeof(T));
  return v;
}
template <class T>
void LocalTensor<T>::SetValue(uint64_t i, T v) const {
  std::memcpy(detail::LocalScalarPtr(view_, i * sizeof(T), sizeof(T), true), &v, sizeof(T));
}
template <class T>
T GlobalTensor<T>::GetValue(uint64_t i) const {
  T v;
  std::memcpy(&v, detail::GmScalarPtr(buffer_, byte_offset() + i * sizeof(T), sizeof(T), false),
              sizeof(T));
  return v;
}
template <class T>
void GlobalTensor<T>::SetValue(uint64_t i, T v) const {
  std::memcpy(detail::GmScalarPtr(buffer_, byte_offset() + i * sizeof(T), sizeof(T), true), &v,
              sizeof(T));
}

}  // namespace npusim::ascendc
