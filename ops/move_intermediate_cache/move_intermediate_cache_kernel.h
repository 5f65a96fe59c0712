// Device kernel: for one request (block), copy the accepted step's ssm state of every layer
// from the intermediate cache [L, S, D, H, V, K] into its pool slot of ssm_states [L, P, H, V, K].
// Requests with last_step < 0 are skipped, as upstream does.
#pragma once

#include "devices/ascendc/kernel_operator.h"
#include "ops/move_intermediate_cache/move_intermediate_cache_tiling.h"

namespace npusim::move_intermediate_cache {

using namespace npusim::ascendc;

template <class T>
class KernelMoveIntermediateCache {
 public:
  void Init(GmBuffer* intermediate, GmBuffer* ssm, GmBuffer* cache_indices, GmBuffer* last_steps,
            const Tiling& t) {
    t_ = t;
    inter_.SetGlobalBuffer(intermediate);
    ssm_.SetGlobalBuffer(ssm);
    indices_.SetGlobalBuffer(cache_indices);
    steps_.SetGlobalBuffer(last_steps);
    pipe_.InitBuffer(tileQueue_, static_cast<int>(t.buffer_num),
                     static_cast<uint64_t>(t.tile_bytes), "state_tile");
  }

  void Process() {
    const int64_t b = GetBlockIdx();
    const int64_t slot = indices_.GetValue(b);
    const int64_t step = steps_.GetValue(b);
    if (step < 0) return;
    const int64_t head_elems = t_.v_dim * t_.k_dim;
    for (int64_t l = 0; l < t_.layers; ++l) {
      const int64_t src_base =
          (((l * t_.requests + b) * t_.draft_tokens + step) * t_.heads) * head_elems;
      const int64_t dst_base = ((l * t_.pool + slot) * t_.heads) * head_elems;
      for (int64_t h = 0; h < t_.heads; h += t_.h_block) {
        const int64_t hb = std::min(t_.h_block, t_.heads - h);
        CopyIn(src_base + h * head_elems, hb);
        CopyOut(dst_base + h * head_elems, hb);
      }
    }
  }

 private:
  // One DataCopyPad per head: V rows of K elements into rows of the padded [block_v, block_k] tile.
  DataCopyExtParams RowParams(bool to_gm) const {
    const uint32_t row = static_cast<uint32_t>(t_.k_dim * sizeof(T));
    const uint32_t ub_gap = static_cast<uint32_t>((t_.row_pitch_bytes - (row + 31) / 32 * 32) / 32);
    return DataCopyExtParams{static_cast<uint16_t>(t_.v_dim), row, to_gm ? ub_gap : 0,
                             to_gm ? 0 : ub_gap, 0};
  }
  int64_t HeadPitch() const {
    return t_.block_v * t_.row_pitch_bytes / static_cast<int64_t>(sizeof(T));
  }

  void CopyIn(int64_t src, int64_t hb) {
    LocalTensor<T> tile = tileQueue_.template AllocTensor<T>();
    for (int64_t i = 0; i < hb; ++i)
      DataCopyPad(tile[i * HeadPitch()], inter_[src + i * t_.v_dim * t_.k_dim], RowParams(false));
    tileQueue_.EnQue(tile);
  }
  void CopyOut(int64_t dst, int64_t hb) {
    LocalTensor<T> tile = tileQueue_.template DeQue<T>();
    for (int64_t i = 0; i < hb; ++i)
      DataCopyPad(ssm_[dst + i * t_.v_dim * t_.k_dim], tile[i * HeadPitch()], RowParams(true));
    tileQueue_.FreeTensor(tile);
  }

  Tiling t_;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 1> tileQueue_;
  GlobalTensor<T> inter_, ssm_;
  GlobalTensor<int32_t> indices_, steps_;
};

}  // namespace npusim::move_intermediate_cache
