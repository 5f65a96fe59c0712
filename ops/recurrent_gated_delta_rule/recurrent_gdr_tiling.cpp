#include "ops/recurrent_gated_delta_rule/recurrent_gdr_tiling.h"

#include <algorithm>
#include <cmath>

namespace npusim::recurrent_gdr {

Tiling ComputeTiling(int64_t batch, int64_t tokens, int64_t heads_k, int64_t heads_v, int64_t k_dim,
                     int64_t v_dim, Layout layout, int64_t block_v, bool verify, bool sigmoid_beta,
                     const DeviceConfig& d) {
  Tiling t;
  t.batch = batch;
  t.tokens = tokens;
  t.heads_k = heads_k;
  t.heads_v = heads_v;
  t.k_dim = k_dim;
  t.v_dim = v_dim;
  t.layout = layout;
  t.verify = verify;
  t.sigmoid_beta = sigmoid_beta;
  t.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(k_dim)));
  t.block_v = layout == Layout::kKV && block_v > 0 ? std::min(block_v, v_dim) : v_dim;
  t.v_blocks = (v_dim + t.block_v - 1) / t.block_v;
  t.rows = layout == Layout::kKV ? k_dim : t.block_v;
  t.cols = layout == Layout::kKV ? t.block_v : k_dim;
  t.col_pitch =
      kernel_util::PaddedCount(static_cast<uint64_t>(t.cols), 2);  // bf16 and fp32 rows aligned
  t.split = kernel_util::BlockSplit(batch * heads_v * t.v_blocks, d.aiv_count);
  return t;
}

}  // namespace npusim::recurrent_gdr
