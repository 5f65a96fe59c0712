// An AIC launch over a list of independent small matmuls (the per-chunk, per-head products of
// chunked GDN and attention): problem i goes to block i % block_dim, each is cut into
// base_m x base_n output tiles through cube_util::CubeTile, and stored fp32 (for the AIVs to
// post-process) or rounded to the operand type by FixPipe.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "devices/chip.h"
#include "ops/common/cube_util.h"

namespace npusim::batched_matmul {

using namespace ascendc;

// C[m, n] (row stride ldc) = op(A) op(B); offsets and strides in elements.
struct Problem {
  GmBuffer *a = nullptr, *b = nullptr, *c = nullptr;
  uint64_t a_off = 0, b_off = 0, c_off = 0;
  uint32_t lda = 0, ldb = 0, ldc = 0;
  bool trans_a = false, trans_b = false;
  uint32_t m = 0, n = 0, k = 0;
};

struct Batch {
  std::vector<Problem> problems;
  uint32_t base_m = 64, base_n = 128, base_k = 128;
  bool out_fp32 = true;  // false: C rounded to the operand type
};

template <class T>
class KernelBatchedMatmul {
 public:
  void Init(const Batch& batch) {
    batch_ = &batch;
    cube_.Init(pipe_, batch.base_m, batch.base_n, batch.base_k, 2);
  }
  void Process() {
    const Batch& bt = *batch_;
    for (size_t i = static_cast<size_t>(GetBlockIdx()); i < bt.problems.size();
         i += static_cast<size_t>(GetBlockNum())) {
      const Problem& p = bt.problems[i];
      GlobalTensor<T> a, b;
      a.SetGlobalBuffer(p.a);
      b.SetGlobalBuffer(p.b);
      for (uint32_t m0 = 0; m0 < p.m; m0 += bt.base_m) {
        for (uint32_t n0 = 0; n0 < p.n; n0 += bt.base_n) {
          const uint32_t m = std::min(bt.base_m, p.m - m0), n = std::min(bt.base_n, p.n - n0);
          cube_util::Operand<T> oa{a[p.a_off + (p.trans_a ? m0 : uint64_t{m0} * p.lda)], p.lda,
                                   p.trans_a};
          cube_util::Operand<T> ob{b[p.b_off + (p.trans_b ? uint64_t{n0} * p.ldb : n0)], p.ldb,
                                   p.trans_b};
          cube_.Compute(oa, ob, m, n, p.k);
          const uint64_t c_at = p.c_off + uint64_t{m0} * p.ldc + n0;
          if (bt.out_fp32) {
            GlobalTensor<float> c;
            c.SetGlobalBuffer(p.c);
            cube_.Store(c[c_at], p.ldc, QuantMode_t::NoQuant);
          } else {
            GlobalTensor<T> c;
            c.SetGlobalBuffer(p.c);
            cube_.Store(c[c_at], p.ldc,
                        DTypeOf<T>::value == DType::kBFloat16 ? QuantMode_t::F322BF16
                                                              : QuantMode_t::F322F16);
          }
        }
      }
    }
  }

 private:
  const Batch* batch_ = nullptr;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
};

// Adds `whole` cut into base_m x base_n output tiles, one problem each, so that a large product
// spreads over the AICs like the rest of the batch.
inline void AddTiled(Batch& b, const Problem& whole) {
  for (uint32_t m0 = 0; m0 < whole.m; m0 += b.base_m)
    for (uint32_t n0 = 0; n0 < whole.n; n0 += b.base_n) {
      Problem p = whole;
      p.a_off += whole.trans_a ? m0 : uint64_t{m0} * whole.lda;
      p.b_off += whole.trans_b ? uint64_t{n0} * whole.ldb : n0;
      p.c_off += uint64_t{m0} * whole.ldc + n0;
      p.m = std::min(b.base_m, whole.m - m0);
      p.n = std::min(b.base_n, whole.n - n0);
      b.problems.push_back(p);
    }
}

// The launch: `batch` is shared by every block (kept alive by the launch body).
template <class T>
KernelLaunch Launch(const std::string& name, Batch batch, int64_t aic_count) {
  KernelLaunch l;
  l.name = name;
  l.core_type = CoreType::kAic;
  l.block_dim = std::max<int64_t>(
      1, std::min<int64_t>(aic_count, static_cast<int64_t>(batch.problems.size())));
  auto shared = std::make_shared<const Batch>(std::move(batch));
  l.body = [shared] {
    KernelBatchedMatmul<T> k;
    k.Init(*shared);
    k.Process();
  };
  return l;
}

}  // namespace npusim::batched_matmul
