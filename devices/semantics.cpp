#include "devices/semantics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace npusim {

namespace {

double Unary(VecOp op, double x, double s) {
  switch (op) {
    case VecOp::kAdds:
      return x + s;
    case VecOp::kMuls:
      return x * s;
    case VecOp::kMaxs:
      return std::max(x, s);
    case VecOp::kMins:
      return std::min(x, s);
    case VecOp::kAbs:
      return std::fabs(x);
    case VecOp::kReciprocal:
      return 1.0 / x;
    case VecOp::kRelu:
      return x > 0 ? x : 0.0;
    case VecOp::kExp:
      return std::exp(x);
    case VecOp::kLn:
      return std::log(x);
    case VecOp::kSqrt:
      return std::sqrt(x);
    case VecOp::kRsqrt:
      return 1.0 / std::sqrt(x);
    default:
      return x;
  }
}

double Binary(VecOp op, double a, double b) {
  switch (op) {
    case VecOp::kAdd:
      return a + b;
    case VecOp::kSub:
      return a - b;
    case VecOp::kMul:
      return a * b;
    case VecOp::kDiv:
      return a / b;
    case VecOp::kMax:
      return std::max(a, b);
    case VecOp::kMin:
      return std::min(a, b);
    default:
      return 0;
  }
}

bool CompareOp(CmpMode m, double a, double b) {
  switch (m) {
    case CmpMode::kLt:
      return a < b;
    case CmpMode::kGt:
      return a > b;
    case CmpMode::kEq:
      return a == b;
    case CmpMode::kLe:
      return a <= b;
    case CmpMode::kGe:
      return a >= b;
    case CmpMode::kNe:
      return a != b;
  }
  return false;
}

// ReduceSum / ReduceMax over all `count` elements (ReduceMax may also write the index), and
// WholeReduceSum / WholeReduceMax over groups of `scalar` elements.
void ExecuteReduce(const Instr& in) {
  const size_t sz = SizeOf(in.dtype);
  uint8_t* d = in.dst.ptr;
  const uint8_t* a = in.src0.ptr;
  if (in.vec.op == VecOp::kReduceSum || in.vec.op == VecOp::kReduceMax) {
    double acc = in.vec.op == VecOp::kReduceSum ? 0.0 : -std::numeric_limits<double>::infinity();
    uint32_t at = 0;
    for (uint32_t i = 0; i < in.vec.count; ++i) {
      double x = LoadElement(a + i * sz, in.dtype);
      if (in.vec.op == VecOp::kReduceSum)
        acc += x;
      else if (x > acc || i == 0)
        acc = x, at = i;  // first index of the maximum
    }
    StoreElement(d, in.dtype, acc);
    if (in.vec.op == VecOp::kReduceMax && in.vec.scalar != 0)
      std::memcpy(d + sz, &at, std::min<size_t>(sz, 4));  // calIndex
    return;
  }
  const uint32_t group = static_cast<uint32_t>(in.vec.scalar);
  for (uint32_t g = 0; g < in.vec.count / group; ++g) {
    double acc = in.vec.op == VecOp::kGroupSum ? 0.0 : -std::numeric_limits<double>::infinity();
    for (uint32_t i = 0; i < group; ++i) {
      const double x = LoadElement(a + (g * group + i) * sz, in.dtype);
      acc = in.vec.op == VecOp::kGroupSum ? acc + x : std::max(acc, x);
    }
    StoreElement(d + g * sz, in.dtype, acc);
  }
}

// Compare (one bit per element, LSB first) and Select (dst = mask bit ? src1 : src2, mask in src0).
void ExecuteMask(const Instr& in) {
  const size_t sz = SizeOf(in.dtype);
  uint8_t* d = in.dst.ptr;
  const uint8_t* a = in.src0.ptr;
  const uint8_t* b = in.src1.ptr;
  if (in.vec.op == VecOp::kCompare) {
    std::memset(d, 0, (in.vec.count + 7) / 8);
    for (uint32_t i = 0; i < in.vec.count; ++i)
      if (CompareOp(in.vec.cmp, LoadElement(a + i * sz, in.dtype),
                    LoadElement(b + i * sz, in.dtype)))
        d[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    return;
  }
  const uint8_t* c = in.src2.ptr;
  for (uint32_t i = 0; i < in.vec.count; ++i) {
    bool bit = (a[i / 8] >> (i % 8)) & 1u;
    std::memcpy(d + i * sz, (bit ? b : c) + i * sz, sz);
  }
}

// fp32 elementwise instructions with the op fixed at compile time, so `Binary` / `Unary` fold
// to one expression instead of a switch per element: the same double arithmetic and
// round-to-nearest store as the generic loop below, so the same bits, at a fraction of its cost
// (the functional mode's most common instructions).
template <class F>
void MapF32(const Instr& in, const uint8_t* other, F f) {
  for (size_t i = 0; i < in.vec.count; ++i) {
    float x, y = 0;
    std::memcpy(&x, in.src0.ptr + 4 * i, 4);
    if (other) std::memcpy(&y, other + 4 * i, 4);
    const auto r = static_cast<float>(f(static_cast<double>(x), static_cast<double>(y)));
    std::memcpy(in.dst.ptr + 4 * i, &r, 4);
  }
}

template <VecOp kOp>
void BinaryF32(const Instr& in) {
  MapF32(in, in.src1.ptr, [](double x, double y) { return Binary(kOp, x, y); });
}

template <VecOp kOp>
void UnaryF32(const Instr& in) {
  const double s = in.vec.scalar;
  MapF32(in, nullptr, [s](double x, double) { return Unary(kOp, x, s); });
}

bool ExecuteVectorF32(const Instr& in) {
  switch (in.vec.op) {
    case VecOp::kAdd:
      return BinaryF32<VecOp::kAdd>(in), true;
    case VecOp::kSub:
      return BinaryF32<VecOp::kSub>(in), true;
    case VecOp::kMul:
      return BinaryF32<VecOp::kMul>(in), true;
    case VecOp::kDiv:
      return BinaryF32<VecOp::kDiv>(in), true;
    case VecOp::kMax:
      return BinaryF32<VecOp::kMax>(in), true;
    case VecOp::kMin:
      return BinaryF32<VecOp::kMin>(in), true;
    case VecOp::kAdds:
      return UnaryF32<VecOp::kAdds>(in), true;
    case VecOp::kMuls:
      return UnaryF32<VecOp::kMuls>(in), true;
    case VecOp::kExp:
      return UnaryF32<VecOp::kExp>(in), true;
    case VecOp::kAxpy: {  // dst += src * scalar, as the generic loop computes it
      const double s = in.vec.scalar;
      MapF32(in, in.dst.ptr, [s](double x, double d) { return d + x * s; });
      return true;
    }
    case VecOp::kMulAddDst:  // dst += src0 * src1
      for (size_t i = 0; i < in.vec.count; ++i) {
        float x, y, d;
        std::memcpy(&x, in.src0.ptr + 4 * i, 4);
        std::memcpy(&y, in.src1.ptr + 4 * i, 4);
        std::memcpy(&d, in.dst.ptr + 4 * i, 4);
        const auto r = static_cast<float>(static_cast<double>(d) +
                                          static_cast<double>(x) * static_cast<double>(y));
        std::memcpy(in.dst.ptr + 4 * i, &r, 4);
      }
      return true;
    default:
      return false;
  }
}

void ExecuteVector(const Instr& in);

// The repeat form: each row as its own instruction of count / rows elements.
void ExecuteVectorRows(const Instr& in) {
  const size_t sz = SizeOf(in.dtype), szo = SizeOf(in.dtype_out);
  Instr row = in;
  row.vec.rows = 0;
  row.vec.count = in.vec.count / in.vec.rows;
  std::vector<uint8_t> block_row;  // src0_block: the row's 32 B block repeated along the row
  if (in.vec.src0_block) block_row.resize(static_cast<size_t>(row.vec.count) * sz);
  for (uint32_t r = 0; r < in.vec.rows; ++r) {
    row.dst.ptr = in.dst.ptr + static_cast<size_t>(r) * in.vec.dst_pitch * szo;
    row.src0.ptr = in.src0.ptr + static_cast<size_t>(r) * in.vec.src0_pitch * sz;
    if (in.vec.src0_block) {
      for (size_t b = 0; b < block_row.size(); b += 32)
        std::memcpy(block_row.data() + b, row.src0.ptr, std::min<size_t>(32, block_row.size() - b));
      row.src0.ptr = block_row.data();
    }
    if (in.src1.ptr) row.src1.ptr = in.src1.ptr + static_cast<size_t>(r) * in.vec.src1_pitch * sz;
    ExecuteVector(row);
  }
}

void ExecuteVector(const Instr& in) {
  if (in.vec.rows > 0) {
    ExecuteVectorRows(in);
    return;
  }
  const size_t sz = SizeOf(in.dtype), szo = SizeOf(in.dtype_out);
  if (in.dtype == DType::kFloat32 && ExecuteVectorF32(in)) return;
  uint8_t* d = in.dst.ptr;
  const uint8_t* a = in.src0.ptr;
  const uint8_t* b = in.src1.ptr;
  switch (in.vec.op) {
    case VecOp::kAdd:
    case VecOp::kSub:
    case VecOp::kMul:
    case VecOp::kDiv:
    case VecOp::kMax:
    case VecOp::kMin:
      for (uint32_t i = 0; i < in.vec.count; ++i)
        StoreElement(d + i * sz, in.dtype,
                     Binary(in.vec.op, LoadElement(a + i * sz, in.dtype),
                            LoadElement(b + i * sz, in.dtype)));
      return;
    case VecOp::kDuplicate:
      for (uint32_t i = 0; i < in.vec.count; ++i) StoreElement(d + i * sz, in.dtype, in.vec.scalar);
      return;
    case VecOp::kUnpackInt4:
      for (uint32_t i = 0; i < in.vec.count; ++i) {
        const int nibble = (a[i / 2] >> (4 * (i % 2))) & 0xF;
        d[i] = static_cast<uint8_t>(static_cast<int8_t>(nibble >= 8 ? nibble - 16 : nibble));
      }
      return;
    case VecOp::kCast:
      for (uint32_t i = 0; i < in.vec.count; ++i)
        StoreElement(d + i * szo, in.dtype_out, LoadElement(a + i * sz, in.dtype), in.vec.round);
      return;
    case VecOp::kReduceSum:
    case VecOp::kReduceMax:
    case VecOp::kGroupSum:
    case VecOp::kGroupMax:
      ExecuteReduce(in);
      return;
    case VecOp::kAxpy:
      for (uint32_t i = 0; i < in.vec.count; ++i)
        StoreElement(
            d + i * sz, in.dtype,
            LoadElement(d + i * sz, in.dtype) + LoadElement(a + i * sz, in.dtype) * in.vec.scalar);
      return;
    case VecOp::kMulAddDst:
      for (uint32_t i = 0; i < in.vec.count; ++i)
        StoreElement(d + i * sz, in.dtype,
                     LoadElement(d + i * sz, in.dtype) +
                         LoadElement(a + i * sz, in.dtype) * LoadElement(b + i * sz, in.dtype));
      return;
    case VecOp::kBrcb:
      for (uint32_t i = 0; i < in.vec.count * (32 / sz); ++i)
        std::memcpy(d + i * sz, a + (i / (32 / sz)) * sz, sz);
      return;
    case VecOp::kCompare:
    case VecOp::kSelect:
      ExecuteMask(in);
      return;
    default:
      for (uint32_t i = 0; i < in.vec.count; ++i)
        StoreElement(d + i * sz, in.dtype,
                     Unary(in.vec.op, LoadElement(a + i * sz, in.dtype), in.vec.scalar));
      return;
  }
}

void ExecuteCopy(const Instr& in) {
  if (in.copy.slab_bytes > 0) {
    for (uint32_t c = 0, j = 0; c < in.copy.block_bytes; c += in.copy.slab_bytes, ++j) {
      const uint32_t w = std::min(in.copy.slab_bytes, in.copy.block_bytes - c);
      for (uint32_t r = 0; r < in.copy.blocks; ++r)
        std::memmove(in.dst.ptr + j * in.copy.slab_stride + r * uint64_t{in.copy.slab_bytes},
                     in.src0.ptr + r * in.copy.src_stride + c, w);
    }
    return;
  }
  for (uint32_t blk = 0; blk < in.copy.blocks; ++blk) {
    uint8_t* d = in.dst.ptr + blk * in.copy.dst_stride;
    std::memmove(d, in.src0.ptr + blk * in.copy.src_stride, in.copy.block_bytes);
    if (in.copy.pad) {
      size_t sz = SizeOf(in.dtype);
      for (uint32_t off = in.copy.block_bytes; off + sz <= in.copy.dst_block_bytes;
           off += static_cast<uint32_t>(sz))
        StoreElement(d + off, in.dtype, in.copy.pad_value);
    }
  }
}

// One 512 B fractal per block; `transpose` transposes a 16 x 16 tile of 2-byte elements.
void ExecuteLoad2D(const Instr& in) {
  if (in.copy.transpose_rows > 0) {  // LoadDataWithTranspose: ND [rows, cols] -> ND [cols, rows]
    const size_t sz = SizeOf(in.dtype), rows = in.copy.transpose_rows,
                 cols = in.copy.transpose_cols;
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        std::memcpy(in.dst.ptr + (c * rows + r) * sz, in.src0.ptr + (r * cols + c) * sz, sz);
    return;
  }
  for (uint32_t blk = 0; blk < in.copy.blocks; ++blk) {
    uint8_t* d = in.dst.ptr + blk * in.copy.dst_stride;
    const uint8_t* s = in.src0.ptr + blk * in.copy.src_stride;
    if (!in.copy.transpose) {
      std::memcpy(d, s, in.copy.block_bytes);
      continue;
    }
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) std::memcpy(d + (c * 16 + r) * 2, s + (r * 16 + c) * 2, 2);
  }
}

// C[m, n] (+)= A[m, k] B[k, n] in float, each C element summed in k order. 32 columns at a
// time stay in registers over the whole k loop (a store per column and tile, not per k step).
// Inlined into two builds below, for any x86-64 (SSE2) and for AVX2; both give the same bits:
// without FMA every product and add stays separate, and no element's sum order changes.
typedef float F8 __attribute__((vector_size(32)));
constexpr size_t kColsInRegisters = 32;

inline __attribute__((always_inline)) void AccumulateHalf(const float* af, const float* bf,
                                                          float* c, size_t m, size_t k, size_t n,
                                                          bool accumulate) {
  constexpr size_t kVecs = kColsInRegisters / 8;
  for (size_t i = 0; i < m; ++i, c += n) {
    const float* ai = af + i * k;
    size_t j0 = 0;
    for (; j0 + kColsInRegisters <= n; j0 += kColsInRegisters) {
      F8 acc[kVecs] = {};
      if (accumulate)
        for (size_t h = 0; h < kVecs; ++h) std::memcpy(&acc[h], c + j0 + 8 * h, sizeof(F8));
      for (size_t kk = 0; kk < k; ++kk) {
        const float av = ai[kk];
        const float* br = bf + kk * n + j0;
        for (size_t h = 0; h < kVecs; ++h) {
          F8 b;
          std::memcpy(&b, br + 8 * h, sizeof(F8));
          acc[h] += av * b;
        }
      }
      for (size_t h = 0; h < kVecs; ++h) std::memcpy(c + j0 + 8 * h, &acc[h], sizeof(F8));
    }
    for (size_t j = j0; j < n; ++j) {
      float acc = accumulate ? c[j] : 0.0f;
      for (size_t kk = 0; kk < k; ++kk) acc += ai[kk] * bf[kk * n + j];
      c[j] = acc;
    }
  }
}

void AccumulateHalfBaseline(const float* af, const float* bf, float* c, size_t m, size_t k,
                            size_t n, bool accumulate) {
  AccumulateHalf(af, bf, c, m, k, n, accumulate);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void AccumulateHalfAvx2(const float* af, const float* bf, float* c,
                                                        size_t m, size_t k, size_t n,
                                                        bool accumulate) {
  AccumulateHalf(af, bf, c, m, k, n, accumulate);
}
#endif

// fp16 / bf16 operands into an fp32 accumulator, all in float, which vectorises twice as wide
// as double and gives the same bits: a product of two fp16 (11-bit significands) or bf16 (8-bit)
// values is exact in float, and float addition rounds the exact sum once, as rounding the
// double sum to float does (that sum is exact in double unless the operands' exponents are more
// than 29 apart, and then the smaller is under half a float ulp either way). The one exception:
// a bf16 product below float's normal range (operands under 2^-63) is rounded before the add.
// The decoded operands live in buffers kept across calls: fresh ones of this size were mapped
// and zero-filled by the kernel on every Mmad.
void MmadHalf(const Instr& in) {
  const size_t sz = SizeOf(in.dtype), m = in.cube.m, k = in.cube.k, n = in.cube.n;
  thread_local std::vector<float> af, bf;
  af.resize(std::max(af.size(), m * k));
  bf.resize(std::max(bf.size(), k * n));
  for (size_t i = 0; i < m * k; ++i)
    af[i] = static_cast<float>(LoadElement(in.src0.ptr + i * sz, in.dtype));
  for (size_t i = 0; i < k * n; ++i)
    bf[i] = static_cast<float>(LoadElement(in.src1.ptr + i * sz, in.dtype));
  float* c = reinterpret_cast<float*>(in.dst.ptr);
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return AccumulateHalfAvx2(af.data(), bf.data(), c, m, k, n, in.cube.accumulate);
#endif
  AccumulateHalfBaseline(af.data(), bf.data(), c, m, k, n, in.cube.accumulate);
}

// Decodes each operand once, then accumulates every C element in k order with the fp32 (or
// wrapping int32) accumulator, as the cube does.
void ExecuteMmad(const Instr& in) {
  if (in.dtype == DType::kFloat16 || in.dtype == DType::kBFloat16) return MmadHalf(in);
  const size_t sz = SizeOf(in.dtype);
  const bool integer = in.dtype == DType::kInt8 || in.dtype == DType::kUInt8;
  const size_t m = in.cube.m, k = in.cube.k, n = in.cube.n;
  std::vector<double> a(m * k), b(k * n);
  for (size_t i = 0; i < m * k; ++i) a[i] = LoadElement(in.src0.ptr + i * sz, in.dtype);
  for (size_t i = 0; i < k * n; ++i) b[i] = LoadElement(in.src1.ptr + i * sz, in.dtype);
  if (integer) {
    std::vector<int64_t> row(n);
    for (size_t i = 0; i < m; ++i) {
      int32_t* c = reinterpret_cast<int32_t*>(in.dst.ptr) + i * n;
      for (size_t j = 0; j < n; ++j) row[j] = in.cube.accumulate ? c[j] : 0;
      for (size_t kk = 0; kk < k; ++kk) {
        const int64_t av = static_cast<int64_t>(a[i * k + kk]);
        const double* br = &b[kk * n];
        for (size_t j = 0; j < n; ++j) row[j] += av * static_cast<int64_t>(br[j]);
      }
      for (size_t j = 0; j < n; ++j)
        c[j] = static_cast<int32_t>(static_cast<uint32_t>(row[j]));  // wraps like int32
    }
    return;
  }
  std::vector<float> row(n);
  for (size_t i = 0; i < m; ++i) {
    float* c = reinterpret_cast<float*>(in.dst.ptr) + i * n;
    for (size_t j = 0; j < n; ++j) row[j] = in.cube.accumulate ? c[j] : 0.0f;
    for (size_t kk = 0; kk < k; ++kk) {
      const double av = a[i * k + kk];
      const double* br = &b[kk * n];
      for (size_t j = 0; j < n; ++j)
        row[j] = static_cast<float>(static_cast<double>(row[j]) + av * br[j]);
    }
    std::memcpy(c, row.data(), n * 4);
  }
}

void ExecuteFixpipe(const Instr& in) {
  const size_t so = SizeOf(in.dtype_out);
  for (uint32_t i = 0; i < in.cube.m; ++i) {
    for (uint32_t j = 0; j < in.cube.n; ++j) {
      double v = LoadElement(in.src0.ptr + (i * in.cube.src_stride + j) * 4, in.dtype);
      if (in.cube.quant == FixQuant::kDeqF16 || in.cube.quant == FixQuant::kDeqBf16)
        v *= in.cube.deq_scale;
      StoreElement(in.dst.ptr + (i * in.cube.dst_stride + j) * so, in.dtype_out, v);
    }
  }
}

}  // namespace

void Execute(const Instr& in) {
  switch (in.op) {
    case Opcode::kVector:
      ExecuteVector(in);
      return;
    case Opcode::kCopy:
      ExecuteCopy(in);
      return;
    case Opcode::kLoad2D:
      ExecuteLoad2D(in);
      return;
    case Opcode::kMmad:
      ExecuteMmad(in);
      return;
    case Opcode::kFixpipe:
      ExecuteFixpipe(in);
      return;
    default:
      return;
  }
}

}  // namespace npusim
