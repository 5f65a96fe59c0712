// Embedding lookup for one vocab shard (vocab-parallel TP): row id - vocab_start of the table,
// or a zero row when the id belongs to another rank (the all-reduce after it sums the shards).
// Rows move GM -> UB -> GM through a VECIN->VECOUT queue, so loads and stores overlap.
#pragma once

#include "ops/common/kernel_util.h"
#include "ops/embedding/embedding_tiling.h"

namespace npusim::embedding {

using namespace npusim::ascendc;

template <class T>
class KernelEmbedding {
 public:
  void Init(GmBuffer* ids, GmBuffer* table, GmBuffer* out, const Tiling& t) {
    t_ = t;
    idsGm_.SetGlobalBuffer(ids);
    tableGm_.SetGlobalBuffer(table);
    outGm_.SetGlobalBuffer(out);
    pipe_.InitBuffer(que_, static_cast<int>(t.buffer_num),
                     static_cast<uint64_t>(t.col_tile) * sizeof(T), "rowQueue");
  }
  void Process() {
    const int64_t first = t_.split.Begin(GetBlockIdx()), count = t_.split.Count(GetBlockIdx());
    for (int64_t i = first; i < first + count; ++i) {
      const int64_t row = static_cast<int64_t>(idsGm_.GetValue(i)) - t_.vocab_start;
      const bool mine = row >= 0 && row < t_.vocab;
      for (int64_t c = 0; c < t_.hidden; c += t_.col_tile) {
        const uint32_t n = static_cast<uint32_t>(std::min(t_.col_tile, t_.hidden - c));
        LocalTensor<T> buf = que_.template AllocTensor<T>();
        if (mine)
          kernel_util::CopyIn(buf, tableGm_[row * t_.hidden + c], n);
        else
          ZeroRow(buf, n);
        que_.EnQue(buf);
        buf = que_.template DeQue<T>();
        kernel_util::CopyOut(outGm_[i * t_.hidden + c], buf, n);
        que_.FreeTensor(buf);
      }
    }
  }

 private:
  // Another rank's id: the queue orders MTE2 and MTE3 only, so the vector fill syncs by hand.
  void ZeroRow(const LocalTensor<T>& buf, uint32_t n) {
    kernel_util::Sync<HardEvent::MTE3_V>();
    Duplicate(buf, T(0.0), n);
    kernel_util::Sync<HardEvent::V_MTE3>();
  }

  Tiling t_;
  TPipe pipe_;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 1> que_;
  GlobalTensor<int32_t> idsGm_;
  GlobalTensor<T> tableGm_, outGm_;
};

}  // namespace npusim::embedding
