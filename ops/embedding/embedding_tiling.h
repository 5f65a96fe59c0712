// Host tiling of `embedding`: token rows over AIV blocks, each row moved in `col_tile`-element
// pieces through a queue of `buffer_num` buffers.
#pragma once

#include <cstdint>

#include "devices/device_config.h"
#include "ops/common/kernel_util.h"

namespace npusim::embedding {

struct Tiling {
  int64_t tokens = 0, hidden = 0, vocab = 0, vocab_start = 0;
  int64_t col_tile = 0, buffer_num = 2;
  kernel_util::BlockSplit split;
};

// `col_tile` of 0 means "the whole row, up to 16 KiB": a piece that size already reaches the
// MTE's peak bandwidth (ascend-hardware.md §1.5), and a longer one only costs UB.
Tiling ComputeTiling(int64_t tokens, int64_t hidden, int64_t vocab, int64_t vocab_start,
                     int64_t elem_bytes, int64_t col_tile, int64_t buffer_num,
                     const DeviceConfig& d);

}  // namespace npusim::embedding
