#include "ops/gdn_pto/gdn_pto_tiling.h"

#include <algorithm>

namespace npusim::gdn_pto {

int64_t Dims::TotalChunks() const {
  int64_t n = 0;
  for (int64_t b = 0; b < B; ++b) n += Chunks(b);
  return n;
}

Dims MakeDims(const std::vector<int64_t>& lens, int64_t heads, int64_t key_heads, int64_t dim) {
  Dims d;
  d.lens = lens;
  d.B = static_cast<int64_t>(lens.size());
  d.H = heads;
  d.Hg = key_heads;
  d.D = dim;
  for (int64_t len : lens) {
    d.bos.push_back(d.T);
    d.T += len;
  }
  return d;
}

std::vector<Unit> WyUnits(const Dims& d) {
  std::vector<Unit> units;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t c = 0; c < d.Chunks(b); ++c)
      for (int64_t h = 0; h < d.H; ++h) {
        const int64_t start = c * kChunk;
        units.push_back({b, d.bos[static_cast<size_t>(b)] + start,
                         std::min(kChunk, d.lens[static_cast<size_t>(b)] - start), h});
      }
  return units;
}

std::vector<TriTile> TriTiles(const Dims& d) {
  std::vector<TriTile> tiles;
  for (const Unit& u : WyUnits(d)) tiles.push_back({(u.start * d.H + u.head) * kChunk, u.rows});
  return tiles;
}

}  // namespace npusim::gdn_pto
