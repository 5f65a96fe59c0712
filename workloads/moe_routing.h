// How unevenly a router without preference loads the EP ranks. Each token picks top_k distinct
// experts uniformly at random; rank r holds experts [r E/R, (r+1) E/R). Under DeepEP every rank
// waits for the slowest at each all-to-all, so the busiest rank's rows decide both its grouped
// GEMM and the dispatch / combine it takes part in. Plain C++, deterministic (a fixed seed).
#pragma once

#include <cstdint>

namespace npusim {

// The rows the busiest of `ranks` ranks receives when `tokens` tokens each route to `top_k`
// distinct experts of `experts`: the mean, over seeded draws, of the largest rank's count,
// rounded up. At least tokens * top_k / ranks (the balanced share); 0 without tokens.
int64_t BusiestRankRows(int64_t tokens, int64_t top_k, int64_t experts, int64_t ranks);

}  // namespace npusim
