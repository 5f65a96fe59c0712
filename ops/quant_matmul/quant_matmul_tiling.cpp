#include "ops/quant_matmul/quant_matmul_tiling.h"

#include <algorithm>

#include "model/error.h"

namespace npusim::quant_matmul {

int64_t AccWorkspaceElems(int64_t base_m, int64_t base_n) {
  return kSlots * kMaxBlocks * base_m * ((base_n + 15) / 16 * 16);
}

int64_t LargestAccWorkspaceElems(int64_t m, int64_t n, int64_t base_m, int64_t base_n) {
  auto a16 = [](int64_t v) { return (v + 15) / 16 * 16; };
  return AccWorkspaceElems(base_m ? base_m : std::min<int64_t>(128, a16(m)),
                           base_n ? base_n : std::min<int64_t>(256, a16(n)));
}

uint64_t WeightSlotElems(int64_t k, int64_t base_n) {
  return static_cast<uint64_t>(k) * static_cast<uint64_t>((base_n + 31) / 32 * 32);
}

int64_t WeightSlotsElems(int64_t k, int64_t base_n) {
  return kSlots * kMaxBlocks * static_cast<int64_t>(WeightSlotElems(k, base_n));
}

matmul::Tiling ComputeTiling(int64_t m, int64_t n, int64_t k, int64_t base_m, int64_t base_n,
                             int64_t base_k, int64_t buffer_num, bool trans_b,
                             const DeviceConfig& d) {
  matmul::Tiling t =
      matmul::ComputeTiling(m, n, k, 1, base_m, base_n, base_k, buffer_num, trans_b, d);
  if (t.blocks > kMaxBlocks)
    throw InputError("quant_matmul: the workspace is sized for at most 32 AIC blocks");
  return t;
}

void AddTiles(Plan& p, int64_t row0, int64_t m, uint64_t w_base, uint64_t sw_base) {
  const matmul::Tiling& t = p.t;
  for (int64_t m0 = 0; m0 < m; m0 += t.base_m)
    for (int64_t n0 = 0; n0 < t.n; n0 += t.base_n) {
      Tile tl;
      tl.row = row0 + m0;
      tl.n0 = n0;
      tl.m = static_cast<uint32_t>(std::min(t.base_m, m - m0));
      tl.n = static_cast<uint32_t>(std::min(t.base_n, t.n - n0));
      tl.w_off = w_base + static_cast<uint64_t>(t.trans_b ? n0 * t.k : n0);
      tl.sw_off = sw_base + static_cast<uint64_t>(n0);
      p.tiles.push_back(tl);
    }
}

}  // namespace npusim::quant_matmul
