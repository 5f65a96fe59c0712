#include "ops/lm_head_argmax/lm_head_argmax_tiling.h"

#include <algorithm>

namespace npusim::lm_head {

Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t vocab, int64_t vocab_start,
                     int64_t elem_bytes, int64_t argmax_cols, const DeviceConfig& d) {
  Tiling t;
  t.logits = matmul::ComputeTiling(tokens, vocab, hidden, elem_bytes, 0, 0, 0, 2, true, d);
  ArgmaxTiling& a = t.argmax;
  a.tokens = tokens;
  a.vocab = vocab;
  a.vocab_start = vocab_start;
  a.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  a.cols = argmax_cols > 0 ? argmax_cols : std::min<int64_t>(vocab, (d.ub_bytes - 64) / 8 / 8 * 8);
  return t;
}

}  // namespace npusim::lm_head
