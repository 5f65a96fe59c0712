// Depthwise causal conv1d + SiLU over varlen requests, with the conv state in the NPU pool
// layout [pool, W, dim] (kernels.md §2). Per (channel tile, request): the window holds the kw-1
// history rows (the slot's state, or zeros) followed by a tile of new rows, so that output row i
// is sum_j w_j * window[i + j]: kw whole-tile multiply-adds with weights pre-broadcast over the
// tile's rows. The same kernel serves prefill (causal_conv1d_fn) and decode/verify
// (causal_conv1d_update: every request has d tokens and the whole W-row window advances).
#pragma once

#include <algorithm>

#include "ops/causal_conv1d/causal_conv1d_tiling.h"

namespace npusim::causal_conv1d {

using namespace npusim::ascendc;
using kernel_util::CopyRowsIn;
using kernel_util::CopyRowsOut;

struct Gm {
  GmBuffer *x, *weight, *states, *y, *query_start_loc, *cache_indices, *has_initial_state;
};

template <class T>
class KernelCausalConv1d {
 public:
  void Init(const Gm& gm, const Tiling& t) {
    t_ = t;
    xGm_.SetGlobalBuffer(gm.x);
    wGm_.SetGlobalBuffer(gm.weight);
    stGm_.SetGlobalBuffer(gm.states);
    yGm_.SetGlobalBuffer(gm.y);
    slotGm_.SetGlobalBuffer(gm.cache_indices);
    if (t.uniform_len == 0) {
      qslGm_.SetGlobalBuffer(gm.query_start_loc);
      initGm_.SetGlobalBuffer(gm.has_initial_state);
    }
    pitch_ = static_cast<uint32_t>(t.conv_pitch);
    const uint64_t tile = static_cast<uint64_t>(t.rows_per_tile) * pitch_;
    const uint64_t win_rows = static_cast<uint64_t>(t.kw - 1 + t.rows_per_tile);
    const int bn = static_cast<int>(t.buffer_num);
    pipe_.InitBuffer(inX_, bn, tile * sizeof(T), "inQueueX");
    pipe_.InitBuffer(outY_, bn, tile * sizeof(T), "outQueueY");
    pipe_.InitBuffer(weights_, static_cast<uint64_t>(t.kw) * tile * 4, "weightTiles");
    pipe_.InitBuffer(window_, win_rows * pitch_ * 4, "windowFp32");
    pipe_.InitBuffer(acc_, tile * 4, "accFp32");
    // The window shift moves kw-1 rows through it: a tile of fewer rows still needs that many.
    pipe_.InitBuffer(tmp_, std::max<uint64_t>(tile, static_cast<uint64_t>(t.kw - 1) * pitch_) * 4,
                     "tmpFp32");
    pipe_.InitBuffer(stateRows_, win_rows * pitch_ * sizeof(T), "stateRows");
    // Mixed batch: some requests continue from a state, others start fresh (the S6 trigger).
    bool any = false, all = true;
    for (int64_t b = 0; b < t.requests && t.uniform_len == 0; ++b) {
      const bool init = initGm_.GetValue(b) != 0;
      any = any || init;
      all = all && init;
    }
    mixed_ = any && !all;
  }

  void Process() {
    const int64_t first = t_.split.Begin(GetBlockIdx()), count = t_.split.Count(GetBlockIdx());
    int64_t loaded_tile = -1;
    for (int64_t item = first; item < first + count; ++item) {
      const int64_t ctile = item / t_.requests, req = item % t_.requests;
      const int64_t c0 = ctile * t_.conv_tile;
      const uint32_t cols = static_cast<uint32_t>(std::min(t_.conv_tile, t_.dim - c0));
      if (ctile != loaded_tile) {
        LoadWeights(c0, cols);
        loaded_tile = ctile;
      }
      Request(req, c0, cols);
    }
  }

 private:
  // w[j, c0:c0+cols] -> fp32, repeated over rows_per_tile rows: kw tiles.
  void LoadWeights(int64_t c0, uint32_t cols) {
    const uint32_t kw = static_cast<uint32_t>(t_.kw),
                   rows = static_cast<uint32_t>(t_.rows_per_tile);
    LocalTensor<T> raw = stateRows_.Get<T>();
    LocalTensor<float> w = weights_.Get<float>();
    AfterStateWriteOut();  // the last state write-out has read `raw`'s buffer
    CopyRowsIn(raw, wGm_[c0], kw, cols, t_.dim, pitch_);
    kernel_util::Sync<HardEvent::MTE2_V>();
    for (uint32_t j = 0; j < kw; ++j) {
      LocalTensor<float> wj = w[j * rows * pitch_];
      Cast(wj, raw[j * pitch_], CAST_NONE, pitch_);
      kernel_util::BroadcastRow(wj, rows, pitch_);
    }
    kernel_util::Sync<HardEvent::V_MTE2>();  // `raw` is read before the history load refills it
  }

  void Request(int64_t req, int64_t c0, uint32_t cols) {
    const bool uniform = t_.uniform_len > 0;
    const int64_t start = uniform ? req * t_.uniform_len : qslGm_.GetValue(req);
    const int64_t len = uniform ? t_.uniform_len : qslGm_.GetValue(req + 1) - start;
    const int64_t slot = slotGm_.GetValue(req);
    const bool has_init = uniform || initGm_.GetValue(req) != 0;
    const uint32_t hist = static_cast<uint32_t>(t_.kw - 1);
    const int64_t slot_row = slot * t_.window;  // first row of the slot in [pool, W, dim]
    LocalTensor<float> win = window_.Get<float>();
    LocalTensor<T> st = stateRows_.Get<T>();

    // History: the last kw-1 rows of the slot's window, or zeros.
    // The previous request's state write-out (MTE3) has read the state rows we refill.
    AfterStateWriteOut();
    if (has_init) {
      CopyRowsIn(st, stGm_[(slot_row + t_.window - hist) * t_.dim + c0], hist, cols, t_.dim,
                 pitch_);
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(win, st, CAST_NONE, hist * pitch_);
    } else {
      Duplicate(win, 0.0f, hist * pitch_);
    }

    for (int64_t t0 = 0; t0 < len; t0 += t_.rows_per_tile) {
      const uint32_t rows = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, len - t0));
      LocalTensor<T> x = inX_.template AllocTensor<T>();
      CopyRowsIn(x, xGm_[(start + t0) * t_.dim + c0], rows, cols, t_.dim, pitch_);
      inX_.EnQue(x);
      x = inX_.template DeQue<T>();
      Cast(win[hist * pitch_], x, CAST_NONE, rows * pitch_);
      inX_.FreeTensor(x);
      Convolve(rows);
      LocalTensor<T> y = outY_.template DeQue<T>();
      CopyRowsOut(yGm_[(start + t0) * t_.dim + c0], y, rows, cols, t_.dim, pitch_);
      outY_.FreeTensor(y);
      if (t0 + rows < len)
        ShiftWindow(rows);
      else
        WriteState(start, len, slot_row, has_init, c0, cols, rows);
    }
    if (len == 0) WriteState(start, len, slot_row, has_init, c0, cols, 0);
  }

  // acc = sum_j w_j * win[j .. j+rows), silu, cast; enqueued for MTE3.
  void Convolve(uint32_t rows) {
    const uint32_t n = rows * pitch_, tile = static_cast<uint32_t>(t_.rows_per_tile) * pitch_;
    LocalTensor<float> win = window_.Get<float>(), w = weights_.Get<float>(),
                       acc = acc_.Get<float>(), tmp = tmp_.Get<float>();
    Mul(acc, w, win, n);
    for (uint32_t j = 1; j < static_cast<uint32_t>(t_.kw); ++j) {
      Mul(tmp, w[j * tile], win[j * pitch_], n);
      Add(acc, acc, tmp, n);
    }
    kernel_util::Silu(acc, acc, tmp, n);
    LocalTensor<T> y = outY_.template AllocTensor<T>();
    Cast(y, acc, CAST_RINT, n);
    outY_.EnQue(y);
  }

  // The last kw-1 rows of the window become the history of the next tile.
  void ShiftWindow(uint32_t rows) {
    const uint32_t n = static_cast<uint32_t>(t_.kw - 1) * pitch_;
    LocalTensor<float> win = window_.Get<float>(), tmp = tmp_.Get<float>();
    Adds(tmp, win[rows * pitch_], 0.0f, n);  // through tmp: source and destination may overlap
    Adds(win, tmp, 0.0f, n);
  }

  // New state = the last write_rows rows of the context (history ++ new rows), into the slot's
  // last write_rows window rows. The window holds them (fp32 copies of T values: exact).
  void WriteState(int64_t start, int64_t len, int64_t slot_row, bool has_init, int64_t c0,
                  uint32_t cols, uint32_t rows) {
    const uint32_t wr = static_cast<uint32_t>(t_.write_rows),
                   hist = static_cast<uint32_t>(t_.kw - 1);
    LocalTensor<T> st = stateRows_.Get<T>();
    const GlobalTensor<T> dst = stGm_[(slot_row + t_.window - wr) * t_.dim + c0];
    if (t_.fault_state_shift && mixed_ && !has_init) {
      FaultyState(start, len, dst, c0, cols);
      return;
    }
    Cast(st, window_.Get<float>()[(hist + rows - wr) * pitch_], CAST_RINT, wr * pitch_);
    kernel_util::Sync<HardEvent::V_MTE3>();
    CopyRowsOut(dst, st, wr, cols, t_.dim, pitch_);
    state_out_pending_ = true;
  }

  // MTE2 and the vector pipe wait for the state rows' write-out, once per write-out: a second
  // MTE3->MTE2 SetFlag with no MTE3 work in between could overtake the first's WaitFlag.
  void AfterStateWriteOut() {
    if (!state_out_pending_) return;
    kernel_util::Sync<HardEvent::MTE3_MTE2>();
    kernel_util::Sync<HardEvent::MTE3_V>();
    state_out_pending_ = false;
  }

  // Scenario S6 (kernels.md §2.3): the upstream fallback gathers the final state of a request
  // without initial state at offset L - (kw-1) of its zero-prefixed buffer instead of L, i.e.
  // rows ctx[L-(kw-1) .. L) = [0.., x_0, ..] instead of the last kw-1 inputs.
  void FaultyState(int64_t start, int64_t len, const GlobalTensor<T>& dst, int64_t c0,
                   uint32_t cols) {
    const int64_t hist = t_.kw - 1;
    LocalTensor<T> st = stateRows_.Get<T>();
    Duplicate(st, T(0.0), static_cast<uint32_t>(hist) * pitch_);
    kernel_util::Sync<HardEvent::V_MTE2>();
    // ctx index m = len - hist + k holds x[m - hist] when m >= hist, zero before.
    const int64_t k0 = std::max<int64_t>(0, 2 * hist - len);
    if (k0 < hist)
      CopyRowsIn(st[k0 * pitch_], xGm_[(start + len - 2 * hist + k0) * t_.dim + c0],
                 static_cast<uint32_t>(hist - k0), cols, t_.dim, pitch_);
    kernel_util::Sync<HardEvent::MTE2_MTE3>();
    CopyRowsOut(dst, st, static_cast<uint32_t>(hist), cols, t_.dim, pitch_);
    state_out_pending_ = true;
  }

  Tiling t_;
  uint32_t pitch_ = 0;
  bool mixed_ = false;
  bool state_out_pending_ = false;
  TPipe pipe_;
  TQue<TPosition::VECIN, 1> inX_;
  TQue<TPosition::VECOUT, 1> outY_;
  TBuf<TPosition::VECCALC> weights_, window_, acc_, tmp_, stateRows_;
  GlobalTensor<T> xGm_, wGm_, stGm_, yGm_;
  GlobalTensor<int32_t> qslGm_, slotGm_, initGm_;
};

}  // namespace npusim::causal_conv1d
