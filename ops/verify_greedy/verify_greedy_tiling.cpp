#include "ops/verify_greedy/verify_greedy_tiling.h"

namespace npusim::verify_greedy {

Tiling ComputeTiling(int64_t batch, int64_t draft_tokens) {
  Tiling t;
  t.batch = batch;
  t.draft_tokens = draft_tokens;
  t.block_dim = batch;
  return t;
}

}  // namespace npusim::verify_greedy
