#include "ops/collectives/collective_tiling.h"

#include <algorithm>

namespace npusim::collective {

Tiling ComputeTiling(Kind kind, int64_t ranks, int64_t in_elems, int64_t elem_bytes, int64_t tile,
                     const DeviceConfig& d) {
  Tiling t;
  t.kind = kind;
  t.ranks = ranks;
  t.n = in_elems;
  t.seg = kind == Kind::kAllGather ? in_elems : in_elems / ranks;
  const int64_t per_elem = 2 * elem_bytes + (kind == Kind::kReduceScatter ? 8 : 0);
  t.tile = tile > 0 ? tile : std::max<int64_t>(8, (d.ub_bytes / per_elem) / 16 * 16);
  t.split = kernel_util::BlockSplit(t.seg, d.aiv_count);
  return t;
}

}  // namespace npusim::collective
