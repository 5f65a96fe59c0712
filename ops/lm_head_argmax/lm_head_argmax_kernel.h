// Greedy sampling's device half (kernels.md §4.3): per token, the largest fp32 logit of this
// rank's vocab shard and its global token id, on the AIV. Merging the shards' (max, id) pairs
// across TP ranks is the collectives' job.
#pragma once

#include <limits>

#include "ops/common/kernel_util.h"
#include "ops/lm_head_argmax/lm_head_argmax_tiling.h"

namespace npusim::lm_head {

using namespace npusim::ascendc;

// Per token row, chunk by chunk: ReduceMax(calIndex), then the scalar keeps the running best
// (first index on ties, as torch.argmax).
template <class T>
class KernelArgmax {
 public:
  void Init(GmBuffer* logits, GmBuffer* max_logit, GmBuffer* token, const ArgmaxTiling& t) {
    t_ = t;
    logits_.SetGlobalBuffer(logits);
    max_.SetGlobalBuffer(max_logit);
    tok_.SetGlobalBuffer(token);
    pipe_.InitBuffer(in_, static_cast<uint64_t>(t.cols) * 4, "logits_chunk");
    pipe_.InitBuffer(work_, static_cast<uint64_t>(t.cols) * 4, "reduce_work");
    pipe_.InitBuffer(red_, 32, "reduce_out");
  }
  void Process() {
    LocalTensor<float> in = in_.Get<float>(), work = work_.Get<float>(), red = red_.Get<float>();
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t row = begin; row < end; ++row) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t best_at = 0;
      for (int64_t c0 = 0; c0 < t_.vocab; c0 += t_.cols) {
        const auto n = static_cast<uint32_t>(std::min(t_.cols, t_.vocab - c0));
        kernel_util::Sync<HardEvent::V_MTE2>();
        kernel_util::CopyIn(in, logits_[row * t_.vocab + c0], n);
        kernel_util::Sync<HardEvent::MTE2_V>();
        ReduceMax(red, in, work, n, true);
        kernel_util::WaitVectorForScalar();
        const float v =
            red.GetValue(0);  // both reads unconditional: timing must not depend on the data
        const uint32_t at = red.ReinterpretCast<uint32_t>().GetValue(1);
        if (v > best || c0 == 0) best = v, best_at = c0 + at;
      }
      max_.SetValue(row, best);
      tok_.SetValue(row, static_cast<int32_t>(t_.vocab_start + best_at));
    }
  }

 private:
  ArgmaxTiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, work_, red_;
  GlobalTensor<float> logits_, max_;
  GlobalTensor<int32_t> tok_;
};

}  // namespace npusim::lm_head
