// Element types and exact conversions between them, as the hardware rounds:
// bf16 and fp16 with every AscendC rounding mode (fp16 with subnormals), saturating integers.
// Values travel through `double`, which holds every fp32/fp16/bf16/int32 value exactly, so a
// computation done in double and stored once is correctly rounded for + - * / sqrt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace npusim {

enum class DType : uint8_t { kFloat32, kFloat16, kBFloat16, kInt8, kUInt8, kInt16, kInt32, kInt64, kFloat64 };

// AscendC's RoundMode for Cast: CAST_RINT (nearest even), CAST_ROUND (half away from zero),
// CAST_FLOOR, CAST_CEIL, CAST_TRUNC, CAST_ODD (round to odd).
enum class RoundMode : uint8_t { kRint, kRound, kFloor, kCeil, kTrunc, kOdd };

size_t SizeOf(DType t);
std::string_view Name(DType t);  // "float32", "float16", "bfloat16", "int8", ...
DType ParseDType(std::string_view name);  // throws InputError naming the nearest valid dtype
bool IsFloat(DType t);

// Rounds x to an integer with the given mode.
double RoundToInteger(double x, RoundMode mode);

// Encodes x in an IEEE-style binary format with `exp_bits`/`man_bits`, rounding with `mode`;
// subnormals are kept; overflow gives inf (or the largest finite value for modes rounding
// toward zero). fp16 = (5, 10), bf16 = (8, 7), fp32 = (8, 23).
uint32_t EncodeFloat(double x, int exp_bits, int man_bits, RoundMode mode);
double DecodeFloat(uint32_t bits, int exp_bits, int man_bits);

inline uint16_t ToHalf(double x, RoundMode m = RoundMode::kRint) {
  return static_cast<uint16_t>(EncodeFloat(x, 5, 10, m));
}
double FromHalf(uint16_t b);  // by table
inline uint16_t ToBf16(double x, RoundMode m = RoundMode::kRint) {
  return static_cast<uint16_t>(EncodeFloat(x, 8, 7, m));
}
double FromBf16(uint16_t b);  // by bit shift
float ToFloat32(double x, RoundMode m = RoundMode::kRint);

// Saturating conversion to a signed/unsigned integer of the given dtype.
int64_t SaturateInt(double x, DType t, RoundMode m = RoundMode::kRint);

// Element access on raw bytes: load converts exactly, store rounds with `mode`.
double LoadElement(const void* p, DType t);
void StoreElement(void* p, DType t, double value, RoundMode mode = RoundMode::kRint);

// Rounds a value to what `t` can hold (quantisation without storing).
double RoundTo(double value, DType t, RoundMode mode = RoundMode::kRint);

}  // namespace npusim
