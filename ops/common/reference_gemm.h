// The fp64 product behind the matmul-family references (matmul, quant_matmul, grouped_matmul).
// Plain C++, no SystemC: y[m x n] += x[m x k] * w[k x n], row-major.
#pragma once

#include <cstdint>

namespace npusim::ref {

// Every y element sums its k products in increasing k, one rounding per add, exactly as the
// three-loop i-k-j version does: the blocking only changes which elements are worked on
// together, so results are bit-identical to it (and on every CPU: no fused multiply-adds).
// Blocked for the cache (a packed k x 512 panel of w) with 4 x 8 register tiles; uses AVX2 when
// the CPU has it, else the plain loop.
void GemmF64(const double* x, const double* w, double* y, int64_t m, int64_t k, int64_t n);

}  // namespace npusim::ref
