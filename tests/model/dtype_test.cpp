#include "model/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace npusim {
namespace {

float BitsToFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

TEST(Bf16, RoundsToNearestEvenOnTies) {
  EXPECT_EQ(ToBf16(1.0), 0x3f80);
  EXPECT_EQ(ToBf16(BitsToFloat(0x3f808000)), 0x3f80);  // tie, keep even mantissa
  EXPECT_EQ(ToBf16(BitsToFloat(0x3f818000)), 0x3f82);  // tie, round up to even
  EXPECT_EQ(ToBf16(BitsToFloat(0x3f808001)), 0x3f81);  // above the tie
  EXPECT_EQ(ToBf16(-2.5), 0xc020);
  EXPECT_EQ(ToBf16(BitsToFloat(0x3f80ffff), RoundMode::kTrunc), 0x3f80);
  EXPECT_EQ(FromBf16(0x3f81), 1.0078125);
  EXPECT_EQ(ToBf16(1e39), 0x7f80);  // overflow -> inf
  EXPECT_TRUE(std::isnan(FromBf16(ToBf16(NAN))));
}

TEST(Fp16, SubnormalsOverflowAndModes) {
  EXPECT_EQ(ToHalf(std::ldexp(1.0, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(ToHalf(std::ldexp(1.0, -25)), 0x0000);     // tie to even -> 0
  EXPECT_EQ(ToHalf(std::ldexp(3.0, -26)), 0x0001);     // 0.75 ulp -> 1 ulp
  EXPECT_EQ(ToHalf(std::ldexp(1023.0, -24)), 0x03ff);  // largest subnormal
  EXPECT_EQ(ToHalf(std::ldexp(2047.0, -25)), 0x0400);  // rounds up into the normals
  EXPECT_EQ(ToHalf(65504.0), 0x7bff);
  EXPECT_EQ(ToHalf(65519.0), 0x7bff);                     // below the rounding boundary
  EXPECT_EQ(ToHalf(65520.0), 0x7c00);                     // -> inf
  EXPECT_EQ(ToHalf(70000.0, RoundMode::kTrunc), 0x7bff);  // toward zero saturates
  EXPECT_EQ(ToHalf(1.0 + std::ldexp(1.0, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(ToHalf(1.0 + std::ldexp(3.0, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(ToHalf(1.0001, RoundMode::kCeil), 0x3c01);
  EXPECT_EQ(ToHalf(-1.0001, RoundMode::kFloor), 0xbc01);
  EXPECT_EQ(ToHalf(-1.0001, RoundMode::kCeil), 0xbc00);
  EXPECT_EQ(FromHalf(0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(FromHalf(0xc000), -2.0);
}

// The nearest-even stores take a bit-level path for normal results and the decodes a table
// (fp16) or a shift (bf16): checked against the format's definition on every finite value and
// the midpoints to both neighbours, where a rounding bug would show. A midpoint goes to the even
// code; a hair above or below it goes to the nearer code.
void CheckEveryCode(int exp_bits, int man_bits, uint16_t (*to)(double, RoundMode),
                    double (*from)(uint16_t)) {
  const uint32_t inf = ((1u << exp_bits) - 1) << man_bits;
  for (uint32_t c = 0; c < inf; ++c) {  // the positive finite codes, in increasing value
    const double v = DecodeFloat(c, exp_bits, man_bits);
    ASSERT_EQ(from(static_cast<uint16_t>(c)), v) << c;
    ASSERT_EQ(to(v, RoundMode::kRint), c) << c;
    const uint32_t neg = c | (1u << (exp_bits + man_bits));
    ASSERT_EQ(to(-v, RoundMode::kRint), neg) << c;
    ASSERT_EQ(from(static_cast<uint16_t>(neg)), -v) << c;
    if (c + 1 == inf) break;
    const double next = DecodeFloat(c + 1, exp_bits, man_bits), mid = v + (next - v) / 2;
    const uint32_t even = (c & 1) ? c + 1 : c;
    ASSERT_EQ(to(mid, RoundMode::kRint), even) << c;
    ASSERT_EQ(to(std::nextafter(mid, 0.0), RoundMode::kRint), c) << c;
    ASSERT_EQ(to(std::nextafter(mid, 1e300), RoundMode::kRint), c + 1) << c;
  }
  EXPECT_TRUE(std::isnan(from(static_cast<uint16_t>(inf | 1))));
  EXPECT_EQ(from(static_cast<uint16_t>(inf)), INFINITY);
}

TEST(Fp16, EveryCodeDecodesAndEveryMidpointRoundsToEven) {
  CheckEveryCode(5, 10, ToHalf, FromHalf);
}
TEST(Bf16, EveryCodeDecodesAndEveryMidpointRoundsToEven) { CheckEveryCode(8, 7, ToBf16, FromBf16); }

TEST(Int8, Saturates) {
  EXPECT_EQ(SaturateInt(300.0, DType::kInt8), 127);
  EXPECT_EQ(SaturateInt(-300.0, DType::kInt8), -128);
  EXPECT_EQ(SaturateInt(2.5, DType::kInt8), 2);                     // RNE
  EXPECT_EQ(SaturateInt(2.5, DType::kInt8, RoundMode::kRound), 3);  // half away
  EXPECT_EQ(SaturateInt(-2.5, DType::kInt8, RoundMode::kRound), -3);
  EXPECT_EQ(SaturateInt(NAN, DType::kInt8), 0);
  EXPECT_EQ(RoundTo(3e9, DType::kInt32), 2147483647.0);
}

TEST(Fp32, DirectedRoundingMatchesBitPatterns) {
  const double x = 1.0 + std::ldexp(1.0, -30);
  EXPECT_EQ(ToFloat32(x), 1.0f);
  EXPECT_EQ(ToFloat32(x, RoundMode::kCeil), std::nextafter(1.0f, 2.0f));
  EXPECT_EQ(ToFloat32(x, RoundMode::kOdd), std::nextafter(1.0f, 2.0f));  // inexact -> odd mantissa
}

TEST(DType, ParseNamesTheNearestOnError) {
  EXPECT_EQ(ParseDType("bfloat16"), DType::kBFloat16);
  try {
    ParseDType("bfloat61");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nearest valid: 'bfloat16'"), std::string::npos);
  }
}

}  // namespace
}  // namespace npusim
