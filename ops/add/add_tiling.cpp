#include "ops/add/add_tiling.h"

#include <algorithm>

namespace npusim::add {

AddTiling ComputeAddTiling(int64_t n, int64_t elem_bytes, int64_t tile, int64_t buffer_num,
                           int64_t block_dim, const DeviceConfig& d) {
  AddTiling t;
  t.n = n;
  t.elem_bytes = elem_bytes;
  t.buffer_num = buffer_num;
  const int64_t align = 32 / elem_bytes;  // elements per 32 B DataBlock
  if (block_dim <= 0) {
    constexpr int64_t kMinBlockBytes = 4096;  // below this a block is all launch overhead
    block_dim =
        std::clamp<int64_t>((n * elem_bytes + kMinBlockBytes - 1) / kMinBlockBytes, 1, d.aiv_count);
  }
  t.block_len = ((n + block_dim - 1) / block_dim + align - 1) / align * align;
  t.block_dim = std::max<int64_t>(1, (n + t.block_len - 1) / t.block_len);
  if (tile <= 0) {
    int64_t budget = d.ub_bytes / (3 * buffer_num) / 32 * 32;
    budget = std::min<int64_t>(budget, 32 * 1024);
    tile = std::min(budget / elem_bytes, t.block_len);
  }
  t.tile = std::max<int64_t>(1, tile);
  return t;
}

}  // namespace npusim::add
