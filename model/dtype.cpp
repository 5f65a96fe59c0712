#include "model/dtype.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "model/error.h"
#include "model/text.h"

namespace npusim {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
};
constexpr DTypeInfo kInfos[] = {
    {DType::kFloat32, "float32"}, {DType::kFloat16, "float16"}, {DType::kBFloat16, "bfloat16"},
    {DType::kInt8, "int8"},       {DType::kUInt8, "uint8"},     {DType::kInt16, "int16"},
    {DType::kInt32, "int32"},     {DType::kInt64, "int64"},     {DType::kFloat64, "float64"},
};
const DTypeInfo& Info(DType t) { return kInfos[static_cast<int>(t)]; }
}  // namespace

std::string_view Name(DType t) { return Info(t).name; }
bool IsFloat(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 ||
         t == DType::kFloat64;
}

DType ParseDType(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& i : kInfos) {
    if (name == i.name) return i.type;
    names.push_back(i.name);
  }
  if (name == "half" || name == "fp16") return DType::kFloat16;
  if (name == "bf16") return DType::kBFloat16;
  if (name == "float" || name == "fp32") return DType::kFloat32;
  throw InputError("unknown dtype '" + std::string(name) + "'" + NearestHint(name, names));
}

double RoundToInteger(double x, RoundMode mode) {
  switch (mode) {
    case RoundMode::kRint:
      return std::nearbyint(x);  // default FE_TONEAREST: ties to even
    case RoundMode::kRound:
      return std::round(x);
    case RoundMode::kFloor:
      return std::floor(x);
    case RoundMode::kCeil:
      return std::ceil(x);
    case RoundMode::kTrunc:
      return std::trunc(x);
    case RoundMode::kOdd: {
      double f = std::floor(x);
      if (f == x) return x;
      return std::fmod(std::fabs(f), 2.0) == 1.0 ? f : f + 1.0;
    }
  }
  return x;
}

// fp16 has 65536 values: decoded once into a table (exact in float).
const float* HalfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = static_cast<float>(DecodeFloat(i, 5, 10));
    return t;
  }();
  return table.data();
}

uint32_t EncodeFloat(double x, int exp_bits, int man_bits, RoundMode mode) {
  uint32_t fast;
  if (mode == RoundMode::kRint && EncodeRintFast(x, exp_bits, man_bits, fast)) return fast;
  const uint32_t sign = std::signbit(x) ? 1u : 0u;
  const uint32_t sign_bit = sign << (exp_bits + man_bits);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const uint32_t exp_all_ones = (1u << exp_bits) - 1;
  if (std::isnan(x)) return sign_bit | (exp_all_ones << man_bits) | (1u << (man_bits - 1));
  const uint32_t inf_bits = sign_bit | (exp_all_ones << man_bits);
  const uint32_t max_finite = sign_bit | ((exp_all_ones - 1) << man_bits) | ((1u << man_bits) - 1);
  if (std::isinf(x)) return inf_bits;
  double a = std::fabs(x);
  if (a == 0.0) return sign_bit;

  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  int unbiased = e - 1;
  const int min_normal = 1 - bias;
  // Quantum (spacing of representable values) at this magnitude; subnormals share the
  // quantum of the smallest normal binade.
  int quantum_exp = (unbiased < min_normal ? min_normal : unbiased) - man_bits;
  // Rounding a magnitude: directed modes act on the signed value.
  double q = std::ldexp(a, -quantum_exp);
  double r;
  switch (mode) {
    case RoundMode::kFloor:
      r = sign ? std::ceil(q) : std::floor(q);
      break;
    case RoundMode::kCeil:
      r = sign ? std::floor(q) : std::ceil(q);
      break;
    default:
      r = RoundToInteger(q, mode);
      break;
  }
  double rounded = std::ldexp(r, quantum_exp);
  if (rounded == 0.0) return sign_bit;
  int re;
  std::frexp(rounded, &re);
  int r_unbiased = re - 1;
  if (r_unbiased > bias) {  // overflow
    bool toward_zero = mode == RoundMode::kTrunc || mode == RoundMode::kOdd ||
                       (mode == RoundMode::kFloor && !sign) || (mode == RoundMode::kCeil && sign);
    return toward_zero ? max_finite : inf_bits;
  }
  if (r_unbiased < min_normal) {  // subnormal: mantissa = rounded / 2^(min_normal - man_bits)
    return sign_bit | static_cast<uint32_t>(std::ldexp(rounded, -(min_normal - man_bits)));
  }
  uint32_t mantissa =
      static_cast<uint32_t>(std::ldexp(rounded, man_bits - r_unbiased)) - (1u << man_bits);
  return sign_bit | (static_cast<uint32_t>(r_unbiased + bias) << man_bits) | mantissa;
}

double DecodeFloat(uint32_t bits, int exp_bits, int man_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const uint32_t exp_all_ones = (1u << exp_bits) - 1;
  bool sign = (bits >> (exp_bits + man_bits)) & 1u;
  uint32_t exponent = (bits >> man_bits) & exp_all_ones;
  uint32_t mantissa = bits & ((1u << man_bits) - 1);
  double v;
  if (exponent == exp_all_ones) {
    v = mantissa ? std::numeric_limits<double>::quiet_NaN()
                 : std::numeric_limits<double>::infinity();
  } else if (exponent == 0) {
    v = std::ldexp(static_cast<double>(mantissa), 1 - bias - man_bits);
  } else {
    v = std::ldexp(static_cast<double>(mantissa | (1u << man_bits)),
                   static_cast<int>(exponent) - bias - man_bits);
  }
  return sign ? -v : v;
}

float ToFloat32(double x, RoundMode m) {
  if (m == RoundMode::kRint) return static_cast<float>(x);  // IEEE default rounding
  uint32_t bits = EncodeFloat(x, 8, 23, m);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

int64_t SaturateInt(double x, DType t, RoundMode m) {
  double lo, hi;
  switch (t) {
    case DType::kInt8:
      lo = -128, hi = 127;
      break;
    case DType::kUInt8:
      lo = 0, hi = 255;
      break;
    case DType::kInt16:
      lo = -32768, hi = 32767;
      break;
    case DType::kInt32:
      lo = -2147483648.0, hi = 2147483647.0;
      break;
    default:
      lo = -9.2233720368547758e18, hi = 9.2233720368547748e18;
      break;
  }
  if (std::isnan(x)) return 0;
  double r = RoundToInteger(x, m);
  if (r < lo) r = lo;
  if (r > hi) r = hi;
  return static_cast<int64_t>(r);
}

double LoadElementSlow(const void* p, DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      return LoadElement(p, t);  // inline there
    case DType::kInt8:
      return *static_cast<const int8_t*>(p);
    case DType::kUInt8:
      return *static_cast<const uint8_t*>(p);
    case DType::kInt16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<double>(v);
    }
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
  return 0;
}

void StoreElementSlow(void* p, DType t, double value, RoundMode mode) {
  switch (t) {
    case DType::kFloat32: {
      float v = ToFloat32(value, mode);
      std::memcpy(p, &v, 4);
      return;
    }
    case DType::kFloat16: {
      uint16_t v = ToHalf(value, mode);
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kBFloat16: {
      uint16_t v = ToBf16(value, mode);
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kInt8: {
      int8_t v = static_cast<int8_t>(SaturateInt(value, t, mode));
      std::memcpy(p, &v, 1);
      return;
    }
    case DType::kUInt8: {
      uint8_t v = static_cast<uint8_t>(SaturateInt(value, t, mode));
      std::memcpy(p, &v, 1);
      return;
    }
    case DType::kInt16: {
      int16_t v = static_cast<int16_t>(SaturateInt(value, t, mode));
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kInt32: {
      int32_t v = static_cast<int32_t>(SaturateInt(value, t, mode));
      std::memcpy(p, &v, 4);
      return;
    }
    case DType::kInt64: {
      int64_t v = SaturateInt(value, t, mode);
      std::memcpy(p, &v, 8);
      return;
    }
    case DType::kFloat64:
      std::memcpy(p, &value, 8);
      return;
  }
}

double RoundTo(double value, DType t, RoundMode mode) {
  alignas(8) unsigned char buf[8];
  StoreElement(buf, t, value, mode);
  return LoadElement(buf, t);
}

}  // namespace npusim
