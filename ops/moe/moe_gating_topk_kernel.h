// `moe_gating_topk` device kernel (kernels.md §7.1, §7.2): per token row, scores = softmax
// (Qwen) or sigmoid (Step-3.5) of the router logits in fp32; the top-k experts by score (+ the
// correction bias when given) found with ReduceMax(calIndex) k times, the picked score masked
// to -inf on the scalar side between rounds; weights = the unbiased scores of the picked
// experts, renormalised when asked, times the routed scaling factor.
#pragma once

#include <limits>

#include "ops/common/kernel_util.h"
#include "ops/moe/moe_tiling.h"

namespace npusim::moe {

using namespace ascendc;

template <class T>
class KernelMoeGatingTopk {
 public:
  void Init(GmBuffer* logits, GmBuffer* bias, GmBuffer* weights, GmBuffer* ids,
            const GatingTiling& t) {
    t_ = t;
    logits_.SetGlobalBuffer(logits);
    if (t.has_bias) bias_.SetGlobalBuffer(bias);
    weights_.SetGlobalBuffer(weights);
    ids_.SetGlobalBuffer(ids);
    ep_ = kernel_util::PaddedCount(static_cast<uint64_t>(t.experts), 4);
    kp_ = kernel_util::PaddedCount(static_cast<uint64_t>(t.top_k), 4);
    const uint64_t R = static_cast<uint64_t>(t.rows_per_tile);
    pipe_.InitBuffer(
        in_,
        R * std::max<uint64_t>(
                ep_ * 4,
                kernel_util::PaddedCount(static_cast<uint64_t>(t.experts), sizeof(T)) * sizeof(T)),
        "logits");
    pipe_.InitBuffer(scores_, R * ep_ * 4, "scores");
    pipe_.InitBuffer(sel_, ep_ * 4, "selection");
    pipe_.InitBuffer(tmp_, ep_ * 4, "tmp");
    pipe_.InitBuffer(red_, 32, "reduce_out");
    pipe_.InitBuffer(bias_buf_, t.has_bias ? ep_ * 4 : 32, "bias");
    pipe_.InitBuffer(w_out_, R * kp_ * 4, "topk_weights");
    pipe_.InitBuffer(id_out_, R * kp_ * 4, "topk_ids");
  }

  void Process() {
    const auto E = static_cast<uint32_t>(t_.experts), k = static_cast<uint32_t>(t_.top_k);
    LocalTensor<float> sc = scores_.Get<float>(), sel = sel_.Get<float>(), tmp = tmp_.Get<float>(),
                       red = red_.Get<float>();
    LocalTensor<float> bias = bias_buf_.Get<float>(), w_out = w_out_.Get<float>();
    LocalTensor<int32_t> id_out = id_out_.Get<int32_t>();
    if (t_.has_bias) kernel_util::CopyIn(bias, bias_, E);
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t row0 = begin; row0 < end; row0 += t_.rows_per_tile) {
      const auto R = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, end - row0));
      LoadScores(row0, R);
      for (uint32_t r = 0; r < R; ++r) {
        LocalTensor<float> x = sc[r * ep_];
        if (t_.sigmoid) {
          kernel_util::Sigmoid(x, x, tmp, E);
        } else {  // softmax over all experts
          ReduceMax(red, x, tmp, E);
          kernel_util::WaitVectorForScalar();
          Adds(x, x, -red.GetValue(0), E);
          Exp(x, x, E);
          ReduceSum(red, x, tmp, E);
          kernel_util::WaitVectorForScalar();
          Muls(x, x, 1.0f / red.GetValue(0), E);
        }
        if (t_.has_bias)
          Add(sel, x, bias, E);
        else
          Adds(sel, x, 0.0f, E);
        float picked[64], sum = 0;
        for (uint32_t i = 0; i < k; ++i) {
          ReduceMax(red, sel, tmp, E, true);
          kernel_util::WaitVectorForScalar();
          const uint32_t idx = red.ReinterpretCast<uint32_t>().GetValue(1) % E;
          picked[i] = x.GetValue(idx);
          sum += picked[i];
          id_out.SetValue(r * kp_ + i, static_cast<int32_t>(idx));
          sel.SetValue(idx, -std::numeric_limits<float>::infinity());
          kernel_util::WaitScalarForVector();
        }
        const float norm = (t_.renormalize && sum > 0 ? 1.0f / sum : 1.0f) * t_.scaling;
        for (uint32_t i = 0; i < k; ++i) w_out.SetValue(r * kp_ + i, picked[i] * norm);
      }
      kernel_util::Sync<HardEvent::S_MTE3>();
      kernel_util::CopyRowsOut(weights_[row0 * k], w_out, R, k, k, kp_);
      kernel_util::CopyRowsOut(ids_[row0 * k], id_out, R, k, k, kp_);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  void LoadScores(int64_t row0, uint32_t R) {
    const auto E = static_cast<uint32_t>(t_.experts);
    LocalTensor<float> sc = scores_.Get<float>();
    if constexpr (std::is_same_v<T, float>) {
      kernel_util::CopyRowsIn(sc, logits_[row0 * t_.experts], R, E, E, ep_);
      kernel_util::Sync<HardEvent::MTE2_V>();
    } else {
      // 16-bit rows need their own 32 B-aligned pitch (ep_ is the fp32 one): one cast per row.
      LocalTensor<T> in = in_.Get<T>();
      const uint32_t pitch = kernel_util::PaddedCount(static_cast<uint64_t>(E), sizeof(T));
      kernel_util::CopyRowsIn(in, logits_[row0 * t_.experts], R, E, E, pitch);
      kernel_util::Sync<HardEvent::MTE2_V>();
      if (pitch == ep_) {
        Cast(sc, in, CAST_NONE, R * ep_);
      } else {
        for (uint32_t r = 0; r < R; ++r) Cast(sc[r * ep_], in[r * pitch], CAST_NONE, ep_);
      }
    }
  }

  GatingTiling t_;
  uint32_t ep_ = 0, kp_ = 0;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, scores_, sel_, tmp_, red_, bias_buf_, w_out_, id_out_;
  GlobalTensor<T> logits_;
  GlobalTensor<float> bias_, weights_;
  GlobalTensor<int32_t> ids_;
};

}  // namespace npusim::moe
