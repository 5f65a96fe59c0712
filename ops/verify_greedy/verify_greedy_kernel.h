// Greedy MTP acceptance (kernels.md §4.3), one request per block, on the scalar unit: accept
// draft d_i (i = 1..S) while it equals the target's argmax at position i-1; emit the accepted
// drafts and the bonus token target[num_correct].
#pragma once

#include "devices/ascendc/kernel_operator.h"
#include "ops/verify_greedy/verify_greedy_tiling.h"

namespace npusim::verify_greedy {

using namespace npusim::ascendc;

class KernelVerifyGreedy {
 public:
  void Init(GmBuffer* candidates, GmBuffer* target_predict, GmBuffer* accept_len,
            GmBuffer* accept_index, GmBuffer* out_tokens, const Tiling& t) {
    t_ = t;
    candGm_.SetGlobalBuffer(candidates);
    predGm_.SetGlobalBuffer(target_predict);
    lenGm_.SetGlobalBuffer(accept_len);
    indexGm_.SetGlobalBuffer(accept_index);
    tokensGm_.SetGlobalBuffer(out_tokens);
  }
  void Process() {
    const int64_t b = GetBlockIdx(), d = t_.draft_tokens, row0 = b * d;
    int64_t correct = 0;
    while (correct + 1 < d &&
           candGm_.GetValue(row0 + correct + 1) == predGm_.GetValue(row0 + correct))
      ++correct;
    for (int64_t i = 0; i < d; ++i) {
      indexGm_.SetValue(row0 + i, i <= correct ? static_cast<int32_t>(row0 + i) : -1);
      tokensGm_.SetValue(row0 + i, i < correct    ? candGm_.GetValue(row0 + i + 1)
                                   : i == correct ? predGm_.GetValue(row0 + correct)
                                                  : -1);
    }
    lenGm_.SetValue(b, static_cast<int32_t>(correct + 1));
  }

 private:
  Tiling t_;
  GlobalTensor<int32_t> candGm_, predGm_, lenGm_, indexGm_, tokensGm_;
};

}  // namespace npusim::verify_greedy
