// Pool-slot conventions shared by the state kernels (kernels.md §2.2): slot 0 of every pool is
// a dummy, real requests use slots 1..pool-1 through `cache_indices`.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "model/error.h"
#include "model/rng.h"
#include "ops/op.h"

namespace npusim {

// Pool size from the `pool_size` parameter (0 = requests + 1).
inline int64_t PoolSizeOf(const ParamValues& p) {
  return p.Int("pool_size") > 0 ? p.Int("pool_size") : p.Int("requests") + 1;
}

// The parameters every state kernel of an MTP verify batch shares.
inline std::vector<OpParam> StateBatchParams(const std::string& pool_what) {
  using K = OpParam::Kind;
  return {{"layers", K::kInt, "30", "GDN layers", 1, 1e6},
          {"requests", K::kInt, "8", "requests in the verify batch", 1, 65535},
          {"draft_tokens", K::kInt, "4", "speculative_num_draft_tokens d", 1, 64},
          {"pool_size", K::kInt, "0",
           pool_what + " pool slots incl. dummy slot 0 (0 = requests + 1)", 0, 1e9}};
}

// Throws InputError unless the pool holds every request besides the dummy slot.
inline void RequirePoolFits(const ParamValues& p) {
  if (PoolSizeOf(p) < p.Int("requests") + 1)
    throw InputError(
        "parameter 'pool_size' must be at least requests + 1 (slot 0 is the dummy slot)");
}

// A seeded permutation of the real slots 1..pool-1, so a slot/batch-index mix-up shows.
inline std::vector<int64_t> ShuffledSlots(int64_t pool, Rng& rng) {
  std::vector<int64_t> slots;
  for (int64_t i = 1; i < pool; ++i) slots.push_back(i);
  for (size_t i = slots.size(); i > 1; --i)
    std::swap(slots[i - 1],
              slots[static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(i) - 1))]);
  return slots;
}

// Varlen batches: request lengths from `seq_lens` ("5,1,130"), else `requests` x `seq_len`.
inline std::vector<int64_t> SeqLens(const ParamValues& p) {
  std::vector<int64_t> lens;
  const std::string& s = p.Str("seq_lens");
  if (s.empty())
    return std::vector<int64_t>(static_cast<size_t>(p.Int("requests")), p.Int("seq_len"));
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      lens.push_back(v);
    } catch (const std::exception&) {
      throw InputError("parameter 'seq_lens': '" + item +
                       "' is not a non-negative integer (expected e.g. seq_lens=5,1,130)");
    }
  }
  if (lens.empty()) throw InputError("parameter 'seq_lens' lists no request");
  return lens;
}

// Whether request b continues from a pool state, by the `initial` parameter (all, none, mixed =
// even b).
inline bool HasInitial(const ParamValues& p, int64_t b) {
  const std::string& m = p.Str("initial");
  return m == "all" || (m == "mixed" && b % 2 == 0);
}

}  // namespace npusim
