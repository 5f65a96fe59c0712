// Host tiling of `verify_greedy`: one block per request. The acceptance walk is a short serial
// chain of scalar compares, so a block per request is the only split worth having; a block
// count above the AIV cores runs in waves.
#pragma once

#include <cstdint>

namespace npusim::verify_greedy {

struct Tiling {
  int64_t batch = 0, draft_tokens = 0;  // d = S + 1 rows per request: [t0, d_1 .. d_S]
  int64_t block_dim = 0;
};

Tiling ComputeTiling(int64_t batch, int64_t draft_tokens);

}  // namespace npusim::verify_greedy
