#include "ops/embedding/embedding_tiling.h"

#include <algorithm>

namespace npusim::embedding {

Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t vocab, int64_t vocab_start,
                     int64_t elem_bytes, int64_t col_tile, int64_t buffer_num,
                     const DeviceConfig& d) {
  Tiling t;
  t.tokens = tokens;
  t.hidden = hidden;
  t.vocab = vocab;
  t.vocab_start = vocab_start;
  t.buffer_num = buffer_num;
  t.col_tile = col_tile > 0 ? col_tile : std::min<int64_t>(hidden, 16384 / elem_bytes);
  t.split = kernel_util::BlockSplit(tokens, d.aiv_count);
  return t;
}

}  // namespace npusim::embedding
