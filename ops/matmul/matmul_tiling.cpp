#include "ops/matmul/matmul_tiling.h"

#include <algorithm>

#include "model/error.h"
#include "ops/common/op_util.h"

namespace npusim::matmul {

namespace {
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t Align16(int64_t v) { return CeilDiv(v, 16) * 16; }
}  // namespace

Tiling ComputeTiling(int64_t m, int64_t n, int64_t k, int64_t in_bytes, int64_t base_m,
                     int64_t base_n, int64_t base_k, int64_t buffer_num, bool trans_b,
                     const DeviceConfig& d) {
  if ((k * in_bytes) % 32 != 0)
    throw InputError("K = " + std::to_string(k) + " is not a whole number of 32 B rows (" +
                     std::to_string(32 / in_bytes) + " elements); pad K");
  Tiling t;
  t.m = m;
  t.n = n;
  t.k = k;
  t.trans_b = trans_b;
  t.buffer_num = buffer_num;
  t.base_m = base_m > 0 ? base_m : std::min<int64_t>(128, Align16(m));
  if (base_n > 0) {
    t.base_n = base_n;
  } else {
    // Largest of 256, 128, 64 that still gives every AIC a tile; 64 at least.
    t.base_n = std::min<int64_t>(256, Align16(n));
    while (t.base_n > 64 && CeilDiv(m, t.base_m) * CeilDiv(n, t.base_n) < d.aic_count)
      t.base_n /= 2;
  }
  if (base_k > 0) {
    t.base_k = base_k;
  } else {
    const int64_t step = 32 / in_bytes;
    t.base_k = std::min<int64_t>(512, CeilDiv(k, step) * step);
    auto fits = [&](int64_t bk) {
      return Align16(t.base_m) * bk * in_bytes * buffer_num <= d.l0a_bytes &&
             bk * Align16(t.base_n) * in_bytes * buffer_num <= d.l0b_bytes &&
             (Align16(t.base_m) + Align16(t.base_n)) * bk * in_bytes * buffer_num <= d.l1_bytes;
    };
    while (t.base_k > step && !fits(t.base_k))
      t.base_k = std::max(step, t.base_k / 2 / step * step);
  }
  if ((t.base_k * in_bytes) % 32 != 0)
    throw InputError("base_k must be a whole number of 32 B (" + std::to_string(32 / in_bytes) +
                     " elements)");
  t.tiles_m = CeilDiv(m, t.base_m);
  t.tiles_n = CeilDiv(n, t.base_n);
  t.blocks = std::min<int64_t>(t.tiles_m * t.tiles_n, d.aic_count);
  return t;
}

std::vector<std::pair<std::string, std::string>> Describe(const Tiling& t) {
  using op_util::Kv;
  return {Kv("block_dim", t.blocks),      Kv("base_m", t.base_m),
          Kv("base_n", t.base_n),         Kv("base_k", t.base_k),
          Kv("buffer_num", t.buffer_num), Kv("tiles", t.tiles_m * t.tiles_n)};
}

}  // namespace npusim::matmul
