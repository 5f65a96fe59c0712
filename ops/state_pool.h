// Pool-slot conventions shared by the state kernels (kernels.md §2.2): slot 0 of every pool is
// a dummy, real requests use slots 1..pool-1 through `cache_indices`.
#pragma once

#include <utility>
#include <vector>

#include "model/rng.h"
#include "ops/op.h"

namespace npusim {

// Pool size from the `pool_size` parameter (0 = requests + 1).
inline int64_t PoolSizeOf(const ParamValues& p) {
  return p.Int("pool_size") > 0 ? p.Int("pool_size") : p.Int("requests") + 1;
}

// A seeded permutation of the real slots 1..pool-1, so a slot/batch-index mix-up shows.
inline std::vector<int64_t> ShuffledSlots(int64_t pool, Rng& rng) {
  std::vector<int64_t> slots;
  for (int64_t i = 1; i < pool; ++i) slots.push_back(i);
  for (size_t i = slots.size(); i > 1; --i) std::swap(slots[i - 1], slots[static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(i) - 1))]);
  return slots;
}

}  // namespace npusim
