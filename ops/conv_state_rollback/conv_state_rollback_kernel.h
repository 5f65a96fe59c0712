// Device kernel: one block per request. For each layer and channel tile, load the rows that
// survive the shift into UB, then store them `shift` rows later. The load of a tile completes
// before its store (EnQue/DeQue), so the in-place overlap is safe.
#pragma once

#include "devices/ascendc/kernel_operator.h"
#include "ops/conv_state_rollback/conv_state_rollback_tiling.h"

namespace npusim::conv_state_rollback {

using namespace npusim::ascendc;

template <class T>
class KernelConvStateRollback {
 public:
  void Init(GmBuffer* conv, GmBuffer* cache_indices, GmBuffer* last_steps, const Tiling& t) {
    t_ = t;
    conv_.SetGlobalBuffer(conv);
    indices_.SetGlobalBuffer(cache_indices);
    steps_.SetGlobalBuffer(last_steps);
    const uint64_t row_bytes = (t.dim_tile * sizeof(T) + 31) / 32 * 32;
    pipe_.InitBuffer(rowsQueue_, static_cast<int>(t.buffer_num),
                     std::max<int64_t>(1, t.window - 1) * row_bytes, "window_rows");
  }

  void Process() {
    const int64_t b = GetBlockIdx();
    const int64_t slot = indices_.GetValue(b);
    const int64_t shift = (t_.draft_tokens - 1) - steps_.GetValue(b);
    if (shift <= 0) return;
    const int64_t rows = t_.window - shift;
    for (int64_t l = 0; l < t_.layers; ++l) {
      const int64_t base = (l * t_.pool + slot) * t_.window * t_.dim;
      for (int64_t c = 0; c < t_.dim; c += t_.dim_tile) {
        const uint32_t width = static_cast<uint32_t>(std::min(t_.dim_tile, t_.dim - c) * sizeof(T));
        const uint32_t gm_gap = static_cast<uint32_t>(t_.dim * sizeof(T)) - width;
        LocalTensor<T> tile = rowsQueue_.template AllocTensor<T>();
        DataCopyPad(tile, conv_[base + c],
                    DataCopyExtParams{static_cast<uint16_t>(rows), width, gm_gap, 0, 0});
        rowsQueue_.EnQue(tile);
        tile = rowsQueue_.template DeQue<T>();
        DataCopyPad(conv_[base + shift * t_.dim + c], tile,
                    DataCopyExtParams{static_cast<uint16_t>(rows), width, 0, gm_gap, 0});
        rowsQueue_.FreeTensor(tile);
      }
    }
  }

 private:
  Tiling t_;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 1> rowsQueue_;
  GlobalTensor<T> conv_;
  GlobalTensor<int32_t> indices_, steps_;
};

}  // namespace npusim::conv_state_rollback
