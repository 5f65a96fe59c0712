// The canonical AscendC vector sample: z = x + y with TQue double buffering.
// CopyIn (MTE2) -> Compute (V) -> CopyOut (MTE3), overlapped across tiles by the queues.
#pragma once

#include "devices/ascendc/kernel_operator.h"
#include "ops/add/add_tiling.h"

namespace npusim::add {

using namespace npusim::ascendc;

template <class T>
class KernelAdd {
 public:
  void Init(GmBuffer* x, GmBuffer* y, GmBuffer* z, const AddTiling& t) {
    t_ = t;
    const int64_t start = GetBlockIdx() * t.block_len;
    len_ = std::max<int64_t>(0, std::min(t.block_len, t.n - start));
    xGm_.SetGlobalBuffer(x);
    yGm_.SetGlobalBuffer(y);
    zGm_.SetGlobalBuffer(z);
    xGm_ = xGm_[start];
    yGm_ = yGm_[start];
    zGm_ = zGm_[start];
    const uint64_t tile_bytes = static_cast<uint64_t>(t.tile) * sizeof(T);
    pipe_.InitBuffer(inQueueX_, static_cast<int>(t.buffer_num), tile_bytes, "inQueueX");
    pipe_.InitBuffer(inQueueY_, static_cast<int>(t.buffer_num), tile_bytes, "inQueueY");
    pipe_.InitBuffer(outQueueZ_, static_cast<int>(t.buffer_num), tile_bytes, "outQueueZ");
  }

  void Process() {
    const int64_t tiles = (len_ + t_.tile - 1) / t_.tile;
    for (int64_t i = 0; i < tiles; ++i) {
      const uint32_t count = static_cast<uint32_t>(std::min(t_.tile, len_ - i * t_.tile));
      CopyIn(i, count);
      Compute(count);
      CopyOut(i, count);
    }
  }

 private:
  void CopyIn(int64_t i, uint32_t count) {
    LocalTensor<T> x = inQueueX_.template AllocTensor<T>();
    LocalTensor<T> y = inQueueY_.template AllocTensor<T>();
    Load(x, xGm_[i * t_.tile], count);
    Load(y, yGm_[i * t_.tile], count);
    inQueueX_.EnQue(x);
    inQueueY_.EnQue(y);
  }
  void Compute(uint32_t count) {
    LocalTensor<T> x = inQueueX_.template DeQue<T>();
    LocalTensor<T> y = inQueueY_.template DeQue<T>();
    LocalTensor<T> z = outQueueZ_.template AllocTensor<T>();
    Add(z, x, y, count);
    outQueueZ_.EnQue(z);
    inQueueX_.FreeTensor(x);
    inQueueY_.FreeTensor(y);
  }
  void CopyOut(int64_t i, uint32_t count) {
    LocalTensor<T> z = outQueueZ_.template DeQue<T>();
    if ((count * sizeof(T)) % 32 == 0) {
      DataCopy(zGm_[i * t_.tile], z, count);
    } else {  // the tail: any byte length, written exactly
      DataCopyPad(zGm_[i * t_.tile], z,
                  DataCopyExtParams{1, static_cast<uint32_t>(count * sizeof(T)), 0, 0, 0});
    }
    outQueueZ_.FreeTensor(z);
  }
  static void Load(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t count) {
    if ((count * sizeof(T)) % 32 == 0) {
      DataCopy(dst, src, count);
    } else {
      DataCopyPad(dst, src,
                  DataCopyExtParams{1, static_cast<uint32_t>(count * sizeof(T)), 0, 0, 0});
    }
  }

  AddTiling t_;
  int64_t len_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inQueueX_, inQueueY_;
  TQue<TPosition::VECOUT, 1> outQueueZ_;
  GlobalTensor<T> xGm_, yGm_, zGm_;
};

}  // namespace npusim::add
