#include "ops/data_copy/data_copy_tiling.h"

#include <algorithm>

namespace npusim::data_copy {

DataCopyTiling ComputeDataCopyTiling(int64_t m, int64_t n, int64_t tile_m, int64_t tile_n,
                                     int64_t slices, int64_t repeat, int64_t buffer_num,
                                     int64_t block_dim, bool to_l1, const DeviceConfig& d) {
  DataCopyTiling t;
  t.m = m;
  t.n = n;
  t.tile_m = std::min(tile_m, m);
  t.tile_n = std::min(tile_n, n);
  t.slices = std::clamp<int64_t>(slices, 1, n);
  t.repeat = std::max<int64_t>(repeat, 1);
  t.buffer_num = buffer_num;
  const int64_t cores = to_l1 ? d.aic_count : d.aiv_count;
  block_dim = block_dim > 0 ? std::min(block_dim, cores) : cores;
  t.rows_per_core = (m + block_dim - 1) / block_dim;
  t.block_dim = std::max<int64_t>(1, (m + t.rows_per_core - 1) / t.rows_per_core);
  return t;
}

}  // namespace npusim::data_copy
