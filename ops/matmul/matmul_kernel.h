// `matmul` device kernel: y[M, N] = x[M, K] x w (w as [K, N], or [N, K] with trans_b), bf16/fp16
// in, fp32 accumulation in L0C, rounded to the input type by FixPipe on the way out.
#pragma once

#include "ops/common/cube_util.h"
#include "ops/matmul/matmul_tiling.h"

namespace npusim::matmul {

using namespace ascendc;

template <class T>
class KernelMatmul {
 public:
  void Init(GmBuffer* x, GmBuffer* w, GmBuffer* y, const Tiling& t) {
    t_ = t;
    x_.SetGlobalBuffer(x);
    w_.SetGlobalBuffer(w);
    y_.SetGlobalBuffer(y);
    cube_.Init(pipe_, static_cast<uint32_t>(t.base_m), static_cast<uint32_t>(t.base_n),
               static_cast<uint32_t>(t.base_k), static_cast<int>(t.buffer_num));
  }
  void Process() {
    constexpr DType kT = DTypeOf<T>::value;
    const QuantMode_t out = kT == DType::kBFloat16  ? QuantMode_t::F322BF16
                            : kT == DType::kFloat16 ? QuantMode_t::F322F16
                                                    : QuantMode_t::NoQuant;
    for (int64_t tile = GetBlockIdx(); tile < t_.tiles_m * t_.tiles_n; tile += GetBlockNum()) {
      const int64_t m0 = tile / t_.tiles_n * t_.base_m, n0 = tile % t_.tiles_n * t_.base_n;
      const auto m = static_cast<uint32_t>(std::min(t_.base_m, t_.m - m0));
      const auto n = static_cast<uint32_t>(std::min(t_.base_n, t_.n - n0));
      cube_util::Operand<T> a{x_[m0 * t_.k], static_cast<uint64_t>(t_.k), false};
      cube_util::Operand<T> b =
          t_.trans_b ? cube_util::Operand<T>{w_[n0 * t_.k], static_cast<uint64_t>(t_.k), true}
                     : cube_util::Operand<T>{w_[n0], static_cast<uint64_t>(t_.n), false};
      cube_.Compute(a, b, m, n, static_cast<uint32_t>(t_.k));
      cube_.Store(y_[m0 * t_.n + n0], static_cast<uint64_t>(t_.n), out);
    }
  }

 private:
  Tiling t_;
  TPipe pipe_;
  cube_util::CubeTile<T, float> cube_;
  GlobalTensor<T> x_, w_, y_;
};

}  // namespace npusim::matmul
