#include "ops/chunk_gated_delta_rule/chunk_gdr_tiling.h"

#include <algorithm>

namespace npusim::chunk_gdr {

void BuildChunks(const std::vector<int64_t>& seq_lens, Dims& d) {
  d.chunks.clear();
  d.first_chunk.assign(seq_lens.size(), 0);
  d.chunk_count.assign(seq_lens.size(), 0);
  int64_t at = 0;
  for (size_t b = 0; b < seq_lens.size(); ++b) {
    d.first_chunk[b] = d.NC();
    for (int64_t s = 0; s < seq_lens[b]; s += d.C)
      d.chunks.push_back({static_cast<int64_t>(b), at + s, std::min(d.C, seq_lens[b] - s)});
    d.chunk_count[b] = d.NC() - d.first_chunk[b];
    at += seq_lens[b];
  }
  d.T = at;
  d.B = static_cast<int64_t>(seq_lens.size());
}

}  // namespace npusim::chunk_gdr
