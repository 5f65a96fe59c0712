// Element types and exact conversions between them, as the hardware rounds:
// bf16 and fp16 with every AscendC rounding mode (fp16 with subnormals), saturating integers.
// Values travel through `double`, which holds every fp32/fp16/bf16/int32 value exactly, so a
// computation done in double and stored once is correctly rounded for + - * / sqrt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace npusim {

enum class DType : uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kInt8,
  kUInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat64
};

// AscendC's RoundMode for Cast: CAST_RINT (nearest even), CAST_ROUND (half away from zero),
// CAST_FLOOR, CAST_CEIL, CAST_TRUNC, CAST_ODD (round to odd).
enum class RoundMode : uint8_t { kRint, kRound, kFloor, kCeil, kTrunc, kOdd };

inline size_t SizeOf(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kUInt8:
      return 1;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16:
      return 2;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  return 0;
}
std::string_view Name(DType t);           // "float32", "float16", "bfloat16", "int8", ...
DType ParseDType(std::string_view name);  // throws InputError naming the nearest valid dtype
bool IsFloat(DType t);

// Rounds x to an integer with the given mode.
double RoundToInteger(double x, RoundMode mode);

// Encodes x in an IEEE-style binary format with `exp_bits`/`man_bits`, rounding with `mode`;
// subnormals are kept; overflow gives inf (or the largest finite value for modes rounding
// toward zero). fp16 = (5, 10), bf16 = (8, 7), fp32 = (8, 23).
uint32_t EncodeFloat(double x, int exp_bits, int man_bits, RoundMode mode);

// EncodeFloat's nearest-even on the bits, for zeros and results that are normal numbers of the
// target format (the common case of every store): false, leaving `out` alone, for subnormal or
// overflowing results, inf and NaN, which EncodeFloat's general path handles. The same code as
// the general path: both round the exact value once, ties to even.
inline bool EncodeRintFast(double x, int exp_bits, int man_bits, uint32_t& out) {
  uint64_t b;
  std::memcpy(&b, &x, 8);
  const uint32_t sign = static_cast<uint32_t>(b >> 63) << (exp_bits + man_bits);
  if ((b << 1) == 0) {  // +-0 keeps its sign
    out = sign;
    return true;
  }
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int unbiased = static_cast<int>((b >> 52) & 0x7FF) - 1023;
  if (unbiased < 1 - bias || unbiased > bias) return false;  // also subnormal, inf and NaN doubles
  const int shift = 52 - man_bits;
  const uint64_t frac = b & ((1ull << 52) - 1), low = frac & ((1ull << shift) - 1),
                 half = 1ull << (shift - 1);
  uint64_t mant = frac >> shift;
  int e = unbiased + bias;
  if (low > half || (low == half && (mant & 1))) {
    if (++mant == (1ull << man_bits)) mant = 0, ++e;  // carried into the next binade
  }
  if (e >= (1 << exp_bits) - 1) return false;  // rounded up past the largest finite value
  out = sign | (static_cast<uint32_t>(e) << man_bits) | static_cast<uint32_t>(mant);
  return true;
}
double DecodeFloat(uint32_t bits, int exp_bits, int man_bits);

inline uint16_t ToHalf(double x, RoundMode m = RoundMode::kRint) {
  return static_cast<uint16_t>(EncodeFloat(x, 5, 10, m));
}
const float* HalfTable();  // every fp16 code's value, exact in float
inline double FromHalf(uint16_t b) { return HalfTable()[b]; }
inline uint16_t ToBf16(double x, RoundMode m = RoundMode::kRint) {
  return static_cast<uint16_t>(EncodeFloat(x, 8, 7, m));
}
inline double FromBf16(uint16_t b) {  // bf16 is the upper half of an fp32 (NaNs stay NaN)
  const uint32_t w = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
float ToFloat32(double x, RoundMode m = RoundMode::kRint);

// Saturating conversion to a signed/unsigned integer of the given dtype.
int64_t SaturateInt(double x, DType t, RoundMode m = RoundMode::kRint);

// Element access on raw bytes: load converts exactly, store rounds with `mode`.
// Inline for the float types every kernel moves (the functional mode's inner loops); the
// integer and fp64 loads and the other stores out of line.
double LoadElementSlow(const void* p, DType t);
void StoreElementSlow(void* p, DType t, double value, RoundMode mode);
inline double LoadElement(const void* p, DType t) {
  uint16_t h;
  switch (t) {
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kFloat16:
      std::memcpy(&h, p, 2);
      return FromHalf(h);
    case DType::kBFloat16:
      std::memcpy(&h, p, 2);
      return FromBf16(h);
    default:
      return LoadElementSlow(p, t);
  }
}
inline void StoreElement(void* p, DType t, double value, RoundMode mode = RoundMode::kRint) {
  if (mode == RoundMode::kRint) {
    if (t == DType::kFloat32) {
      const float v = static_cast<float>(value);  // IEEE nearest-even
      std::memcpy(p, &v, 4);
      return;
    }
    uint32_t bits;
    const bool bf16 = t == DType::kBFloat16;
    if ((bf16 || t == DType::kFloat16) &&
        EncodeRintFast(value, bf16 ? 8 : 5, bf16 ? 7 : 10, bits)) {
      const auto v = static_cast<uint16_t>(bits);
      std::memcpy(p, &v, 2);
      return;
    }
  }
  StoreElementSlow(p, t, value, mode);
}

// Rounds a value to what `t` can hold (quantisation without storing).
double RoundTo(double value, DType t, RoundMode mode = RoundMode::kRint);

}  // namespace npusim
