#include "ops/common/reference_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace npusim::ref {
namespace {

void PlainGemm(const double* x, const double* w, double* y, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk) {
      const double xv = x[i * k + kk];
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += xv * w[kk * n + j];
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
constexpr int64_t kPanelK = 256, kPanelN = 512, kTileM = 4, kTileN = 8;
typedef double V4 __attribute__((vector_size(32)));

// `rows` (<= 4) rows of x against a packed [kn][8] panel, into 8 columns of y. The 4 x 8
// accumulators stay in eight AVX registers; a product and an add per element, never fused.
__attribute__((target("avx2"))) void Tile(const double* x, int64_t ldx, const double* panel,
                                          double* y, int64_t ldy, int64_t kn, int64_t rows) {
  V4 acc[kTileM][2];
  const double* xr[kTileM];
  for (int64_t r = 0; r < kTileM; ++r) {
    xr[r] = x + std::min(r, rows - 1) * ldx;  // rows past the last repeat it; never stored
    for (int h = 0; h < 2; ++h)
      std::memcpy(&acc[r][h], y + std::min(r, rows - 1) * ldy + 4 * h, sizeof(V4));
  }
  for (int64_t kk = 0; kk < kn; ++kk) {
    V4 w0, w1;
    std::memcpy(&w0, panel + kk * kTileN, sizeof(V4));
    std::memcpy(&w1, panel + kk * kTileN + 4, sizeof(V4));
    for (int64_t r = 0; r < kTileM; ++r) {
      const double u = xr[r][kk];
      acc[r][0] += u * w0;
      acc[r][1] += u * w1;
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int h = 0; h < 2; ++h) std::memcpy(y + r * ldy + 4 * h, &acc[r][h], sizeof(V4));
}

__attribute__((target("avx2"))) void BlockedGemm(const double* x, const double* w, double* y,
                                                 int64_t m, int64_t k, int64_t n) {
  std::vector<double> panel(static_cast<size_t>(kPanelK * kPanelN));
  for (int64_t j0 = 0; j0 < n; j0 += kPanelN) {
    const int64_t j1 = std::min(n, j0 + kPanelN), tiled = j0 + (j1 - j0) / kTileN * kTileN;
    for (int64_t k0 = 0; k0 < k;
         k0 += kPanelK) {  // k blocks in increasing order: the sum order holds
      const int64_t k1 = std::min(k, k0 + kPanelK), kn = k1 - k0;
      for (int64_t j = j0; j < tiled; j += kTileN)
        for (int64_t kk = k0; kk < k1; ++kk)
          std::memcpy(&panel[static_cast<size_t>(((j - j0) / kTileN * kPanelK + kk - k0) * kTileN)],
                      w + kk * n + j, kTileN * sizeof(double));
      for (int64_t i = 0; i < m; i += kTileM) {
        const int64_t rows = std::min(kTileM, m - i);
        for (int64_t j = j0; j < tiled; j += kTileN)
          Tile(x + i * k + k0, k, &panel[static_cast<size_t>((j - j0) / kTileN * kPanelK * kTileN)],
               y + i * n + j, n, kn, rows);
        for (int64_t r = i; r < i + rows; ++r)
          for (int64_t j = tiled; j < j1; ++j) {
            double acc = y[r * n + j];
            for (int64_t kk = k0; kk < k1; ++kk) acc += x[r * k + kk] * w[kk * n + j];
            y[r * n + j] = acc;
          }
      }
    }
  }
}
#endif

}  // namespace

void GemmF64(const double* x, const double* w, double* y, int64_t m, int64_t k, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return BlockedGemm(x, w, y, m, k, n);
#endif
  PlainGemm(x, w, y, m, k, n);
}

}  // namespace npusim::ref
