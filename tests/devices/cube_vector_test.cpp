// Functional checks of the cube path (GM -> L1 -> L0A/L0B -> Mmad -> Fixpipe) and of vector
// instructions, against fp64 references, through the same kernel API the ops use.
#include <cmath>

#include "devices/ascendc/kernel_operator.h"
#include "model/rng.h"
#include "tests/test_util.h"

namespace npusim {
namespace {

using namespace ascendc;
using testing::GmArray;
using testing::OneBlock;
using testing::TestDevice;

// C[m, n] = A[m, k] x B[k, n] on the cube, every stage handed over through TQues.
template <class T, class Acc, class Out>
void CubeMatmul(GmBuffer* a, GmBuffer* b, GmBuffer* c, uint16_t m, uint16_t k, uint16_t n,
                QuantMode_t quant) {
  TPipe pipe;
  TQue<TPosition::A1, 1> a1, b1;
  TQue<TPosition::A2, 1> a2;
  TQue<TPosition::B2, 1> b2;
  TQue<TPosition::CO1, 1> co1;
  const uint32_t a_bytes = m * k * sizeof(T), b_bytes = k * n * sizeof(T);
  pipe.InitBuffer(a1, 1, a_bytes);
  pipe.InitBuffer(b1, 1, b_bytes);
  pipe.InitBuffer(a2, 1, a_bytes);
  pipe.InitBuffer(b2, 1, b_bytes);
  pipe.InitBuffer(co1, 1, m * n * 4u);
  GlobalTensor<T> ga, gb;
  GlobalTensor<Out> gc;
  ga.SetGlobalBuffer(a);
  gb.SetGlobalBuffer(b);
  gc.SetGlobalBuffer(c);
  auto la = a1.AllocTensor<T>(), lb = b1.AllocTensor<T>();
  DataCopy(la, ga, m * k);
  DataCopy(lb, gb, k * n);
  a1.EnQue(la);
  b1.EnQue(lb);
  la = a1.DeQue<T>();
  lb = b1.DeQue<T>();
  auto l0a = a2.AllocTensor<T>(), l0b = b2.AllocTensor<T>();
  LoadData(l0a, la, LoadData2DParams{0, static_cast<uint8_t>(a_bytes / 512), 1});
  LoadData(l0b, lb, LoadData2DParams{0, static_cast<uint8_t>(b_bytes / 512), 1});
  a2.EnQue(l0a);
  b2.EnQue(l0b);
  a1.FreeTensor(la);
  b1.FreeTensor(lb);
  l0a = a2.DeQue<T>();
  l0b = b2.DeQue<T>();
  auto acc = co1.AllocTensor<Acc>();
  Mmad(acc, l0a, l0b, MmadParams{m, n, k, true});
  co1.EnQue(acc);
  a2.FreeTensor(l0a);
  b2.FreeTensor(l0b);
  acc = co1.DeQue<Acc>();
  FixpipeParams fp;
  fp.mSize = m;
  fp.nSize = n;
  fp.quantPre = quant;
  Fixpipe(gc, acc, fp);
  co1.FreeTensor(acc);
}

TEST(Cube, Fp16MatmulToBf16MatchesFp64) {
  Chip chip(TestDevice());
  const int m = 32, k = 48, n = 32;  // M != N != K so a transposed operand shows
  GmArray a("a", m * k * 2, 0x1000), b("b", k * n * 2, 0x10000), c("c", m * n * 2, 0x20000);
  Rng rng(1);
  std::vector<double> av(m * k), bv(k * n);
  for (int i = 0; i < m * k; ++i)
    av[i] = RoundTo(rng.Normal(), DType::kFloat16),
    StoreElement(a.bytes.data() + 2 * i, DType::kFloat16, av[i]);
  for (int i = 0; i < k * n; ++i)
    bv[i] = RoundTo(rng.Normal(), DType::kFloat16),
    StoreElement(b.bytes.data() + 2 * i, DType::kFloat16, bv[i]);
  LaunchResult r = chip.Launch(OneBlock(
      [&] {
        CubeMatmul<half, float, bfloat16_t>(&a.buffer, &b.buffer, &c.buffer, m, k, n,
                                            QuantMode_t::F322BF16);
      },
      CoreType::kAic));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int kk = 0; kk < k; ++kk) ref += av[i * k + kk] * bv[kk * n + j];
      double got = LoadElement(c.bytes.data() + 2 * (i * n + j), DType::kBFloat16);
      ASSERT_NEAR(got, ref, std::fabs(ref) * 0x1p-8 + 1e-5) << i << "," << j;  // one bf16 rounding
    }
  EXPECT_DOUBLE_EQ(r.cube_flops, 2.0 * m * k * n);
}

TEST(Cube, Int8MatmulAccumulatesExactlyInInt32) {
  Chip chip(TestDevice());
  const int m = 16, k = 64, n = 48;
  GmArray a("a", m * k, 0x1000), b("b", k * n, 0x10000), c("c", m * n * 4, 0x20000);
  Rng rng(2);
  for (auto& v : a.bytes) v = static_cast<uint8_t>(static_cast<int8_t>(rng.UniformInt(-128, 127)));
  for (auto& v : b.bytes) v = static_cast<uint8_t>(static_cast<int8_t>(rng.UniformInt(-128, 127)));
  chip.Launch(OneBlock(
      [&] {
        CubeMatmul<int8_t, int32_t, int32_t>(&a.buffer, &b.buffer, &c.buffer, m, k, n,
                                             QuantMode_t::NoQuant);
      },
      CoreType::kAic));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      int64_t ref = 0;
      for (int kk = 0; kk < k; ++kk)
        ref += int64_t{static_cast<int8_t>(a.bytes[i * k + kk])} *
               static_cast<int8_t>(b.bytes[kk * n + j]);
      ASSERT_EQ(c.as<int32_t>()[i * n + j], ref);
    }
}

TEST(Vector, CastExpReduceCompareSelect) {
  Chip chip(TestDevice());
  const int n = 64;
  GmArray x("x", n * 4, 0x1000), out("out", 6 * 256, 0x10000);
  for (int i = 0; i < n; ++i) x.as<float>()[i] = 0.1f * static_cast<float>(i) - 3.0f + 1e-3f;
  chip.Launch(OneBlock([&] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> in, bf, e, sum, mask, sel, work;
    for (TBufBase* b : std::initializer_list<TBufBase*>{&in, &bf, &e, &sum, &mask, &sel, &work})
      pipe.InitBuffer(*b, 256);
    GlobalTensor<float> gx;
    gx.SetGlobalBuffer(&x.buffer);
    GlobalTensor<uint8_t> go;
    go.SetGlobalBuffer(&out.buffer);
    DataCopy(in.Get<float>(), gx, n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Cast(bf.Get<bfloat16_t>(), in.Get<float>(), CAST_RINT, n);
    Exp(e.Get<float>(), in.Get<float>(), n);
    ReduceSum(sum.Get<float>(), in.Get<float>(), work.Get<float>(), n);
    Duplicate(work.Get<float>(), 0.0f, n);
    Compare(mask.Get<uint8_t>(), in.Get<float>(), work.Get<float>(), CMPMODE::GT, n);
    Select(sel.Get<float>(), mask.Get<uint8_t>(), in.Get<float>(), work.Get<float>(),
           SELMODE::VSEL_TENSOR_TENSOR_MODE, n);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    int i = 0;
    for (TBuf<TPosition::VECCALC>* b : {&bf, &e, &sum, &mask, &sel})
      DataCopy(go[256 * i++], b->Get<uint8_t>(), 256);
  }));
  double total = 0;
  for (int i = 0; i < n; ++i) {
    const double v = x.as<float>()[i];
    total += v;
    EXPECT_EQ(LoadElement(out.bytes.data() + 2 * i, DType::kBFloat16),
              RoundTo(v, DType::kBFloat16));
    EXPECT_NEAR(LoadElement(out.bytes.data() + 256 + 4 * i, DType::kFloat32), std::exp(v),
                std::exp(v) * 0x1p-23);
    EXPECT_EQ(((out.bytes[3 * 256 + i / 8] >> (i % 8)) & 1) != 0, v > 0);
    EXPECT_EQ(LoadElement(out.bytes.data() + 4 * 256 + 4 * i, DType::kFloat32),
              v > 0 ? static_cast<float>(v) : 0.0f);
  }
  EXPECT_NEAR(LoadElement(out.bytes.data() + 2 * 256, DType::kFloat32), total, 1e-4);
}

}  // namespace
}  // namespace npusim
