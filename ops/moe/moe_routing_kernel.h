// `moe_init_routing` and `moe_finalize_routing` device kernels (kernels.md §7.1, the NPU path
// npu_moe_init_routing_v2 -> grouped matmul -> npu_moe_finalize_routing).
//
// init: rows r = t*k + i of the (token, choice) pairs are ordered by expert, stably by r; the
// kernel writes expanded_x (the token rows in that order), expanded_row_idx[r] (where row r
// went) and the per-expert counts. The permutation is a counting sort on each block's scalar
// unit, reading every id from GM through the DCache: at 4096 tokens x top-10 this dominates the
// kernel (766 us on 910B3, 15 % of its roofline). CANN's op copies the ids to UB and sorts them
// on the vector units; that sort is not modelled, so this kernel is too slow at large batches.
// finalize: y[t] = sum_i w[t,i] expanded_y[expanded_row_idx[t*k+i]] (+ gate_t shared[t]).
#pragma once

#include <cmath>
#include <vector>

#include "ops/common/kernel_util.h"
#include "ops/moe/moe_tiling.h"

namespace npusim::moe {

using namespace ascendc;

template <class T>
class KernelMoeInitRouting {
 public:
  void Init(GmBuffer* x, GmBuffer* ids, GmBuffer* ex, GmBuffer* row_idx, GmBuffer* counts,
            const RoutingTiling& t) {
    t_ = t;
    x_.SetGlobalBuffer(x);
    ids_.SetGlobalBuffer(ids);
    ex_.SetGlobalBuffer(ex);
    row_idx_.SetGlobalBuffer(row_idx);
    counts_.SetGlobalBuffer(counts);
    hp_ = kernel_util::PaddedCount(static_cast<uint64_t>(t.hidden), sizeof(T));
    pipe_.InitBuffer(rows_, static_cast<uint64_t>(t.rows_per_tile) * hp_ * sizeof(T),
                     "gathered_rows");
    pipe_.InitBuffer(idx_, kernel_util::PaddedCount(static_cast<uint64_t>(t.split.per), 4) * 4,
                     "row_idx");
    pipe_.InitBuffer(cnt_, kernel_util::PaddedCount(static_cast<uint64_t>(t.experts), 4) * 4,
                     "counts");
  }
  void Process() {
    const int64_t n = t_.tokens * t_.top_k, E = t_.experts;
    // Counting sort of rows by expert (scalar): position of every row, and the source row of
    // every position.
    std::vector<int64_t> start(static_cast<size_t>(E + 1), 0), pos(static_cast<size_t>(n)),
        src(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) ++start[static_cast<size_t>(ids_.GetValue(r) + 1)];
    for (int64_t e = 0; e < E; ++e)
      start[static_cast<size_t>(e + 1)] += start[static_cast<size_t>(e)];
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t p = next[static_cast<size_t>(ids_.GetValue(r))]++;
      pos[static_cast<size_t>(r)] = p;
      src[static_cast<size_t>(p)] = r;
    }
    const int64_t begin = t_.split.Begin(GetBlockIdx()), count = t_.split.Count(GetBlockIdx());
    LocalTensor<int32_t> idx = idx_.Get<int32_t>();
    for (int64_t r = 0; r < count; ++r)
      idx.SetValue(r, static_cast<int32_t>(pos[static_cast<size_t>(begin + r)]));
    LocalTensor<int32_t> cnt = cnt_.Get<int32_t>();
    if (GetBlockIdx() == 0)
      for (int64_t e = 0; e < E; ++e)
        cnt.SetValue(e, static_cast<int32_t>(start[static_cast<size_t>(e + 1)] -
                                             start[static_cast<size_t>(e)]));
    kernel_util::Sync<HardEvent::S_MTE3>();
    if (GetBlockIdx() == 0) kernel_util::CopyOut(counts_, cnt, static_cast<uint32_t>(E));
    if (count > 0) kernel_util::CopyOut(row_idx_[begin], idx, static_cast<uint32_t>(count));
    // Gather: expanded rows [begin, begin + count) from their tokens, a tile at a time.
    LocalTensor<T> rows = rows_.Get<T>();
    const auto H = static_cast<uint32_t>(t_.hidden);
    for (int64_t p0 = begin; p0 < begin + count; p0 += t_.rows_per_tile) {
      const auto R = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, begin + count - p0));
      for (uint32_t j = 0; j < R; ++j)
        kernel_util::CopyIn(rows[j * hp_],
                            x_[src[static_cast<size_t>(p0 + j)] / t_.top_k * t_.hidden], H);
      kernel_util::Sync<HardEvent::MTE2_MTE3>();
      kernel_util::CopyRowsOut(ex_[p0 * t_.hidden], rows, R, H, H, hp_);
      kernel_util::Sync<HardEvent::MTE3_MTE2>();
    }
  }

 private:
  RoutingTiling t_;
  uint32_t hp_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> rows_, idx_, cnt_;
  GlobalTensor<T> x_, ex_;
  GlobalTensor<int32_t> ids_, row_idx_, counts_;
};

template <class T>
class KernelMoeFinalizeRouting {
 public:
  void Init(GmBuffer* ey, GmBuffer* row_idx, GmBuffer* w, GmBuffer* shared, GmBuffer* gate,
            GmBuffer* y, const RoutingTiling& t) {
    t_ = t;
    ey_.SetGlobalBuffer(ey);
    row_idx_.SetGlobalBuffer(row_idx);
    w_.SetGlobalBuffer(w);
    if (t.shared) shared_.SetGlobalBuffer(shared);
    if (t.shared == 2) gate_.SetGlobalBuffer(gate);
    y_.SetGlobalBuffer(y);
    cols_ =
        static_cast<uint32_t>(t.cols_per_tile > 0 ? std::min(t.cols_per_tile, t.hidden) : t.hidden);
    hp_ = kernel_util::PaddedCount(cols_, sizeof(T));
    const uint64_t R = static_cast<uint64_t>(t.rows_per_tile), k = static_cast<uint64_t>(t.top_k);
    pipe_.InitBuffer(in_, (k + 1) * hp_ * sizeof(T), "expert_rows");
    pipe_.InitBuffer(inf_, (k + 1) * hp_ * 4, "expert_rows_fp32");
    pipe_.InitBuffer(acc_, R * hp_ * 4, "acc");
    pipe_.InitBuffer(out_, R * hp_ * sizeof(T), "y_rows");
  }
  void Process() {
    const auto H = static_cast<uint32_t>(t_.hidden), k = static_cast<uint32_t>(t_.top_k);
    LocalTensor<T> in = in_.Get<T>(), out = out_.Get<T>();
    LocalTensor<float> f = inf_.Get<float>(), acc = acc_.Get<float>();
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t t0 = begin; t0 < end; t0 += t_.rows_per_tile) {
      const auto R = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, end - t0));
      for (uint32_t c0 = 0; c0 < H;
           c0 += cols_) {  // hidden columns in passes when a whole row set does not fit
        const uint32_t W = std::min(cols_, H - c0), wp = kernel_util::PaddedCount(W, sizeof(T));
        Duplicate(acc, 0.0f, R * wp);
        for (uint32_t r = 0; r < R; ++r) {
          const int64_t tok = t0 + r;
          kernel_util::Sync<HardEvent::V_MTE2>();  // the previous token's rows are consumed
          for (uint32_t i = 0; i < k; ++i)
            kernel_util::CopyIn(in[i * wp], ey_[row_idx_.GetValue(tok * k + i) * t_.hidden + c0],
                                W);
          if (t_.shared) kernel_util::CopyIn(in[k * wp], shared_[tok * t_.hidden + c0], W);
          kernel_util::Sync<HardEvent::MTE2_V>();
          const uint32_t rows = k + (t_.shared ? 1 : 0);
          Cast(f, in, CAST_NONE, rows * wp);
          for (uint32_t i = 0; i < k; ++i)
            Axpy(acc[r * wp], f[i * wp], w_.GetValue(tok * k + i), W);
          if (t_.shared) {
            const float g = t_.shared == 2 ? 1.0f / (1.0f + std::exp(-gate_.GetValue(tok))) : 1.0f;
            Axpy(acc[r * wp], f[k * wp], g, W);
          }
        }
        kernel_util::Sync<HardEvent::MTE3_V>();  // the previous pass's output has left UB
        Cast(out, acc, CAST_RINT, R * wp);
        kernel_util::Sync<HardEvent::V_MTE3>();
        kernel_util::CopyRowsOut(y_[t0 * t_.hidden + c0], out, R, W, H, wp);
      }
    }
  }

 private:
  RoutingTiling t_;
  uint32_t hp_ = 0, cols_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, inf_, acc_, out_;
  GlobalTensor<T> ey_, shared_, y_;
  GlobalTensor<int32_t> row_idx_;
  GlobalTensor<float> w_, gate_;
};

}  // namespace npusim::moe
