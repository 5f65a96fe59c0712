// The kernel set. Adding a kernel: write ops/<name>/, declare its factory here and list it below.
#include <algorithm>

#include "ops/op.h"

namespace npusim {

std::unique_ptr<Op> MakeAddOp();
std::unique_ptr<Op> MakeDataCopyOp();
std::unique_ptr<Op> MakeMoveIntermediateCacheOp();
std::unique_ptr<Op> MakeConvStateRollbackOp();
std::unique_ptr<Op> MakeRmsNormOp();
std::unique_ptr<Op> MakeRmsNormGatedOp();
std::unique_ptr<Op> MakeL2NormOp();
std::unique_ptr<Op> MakeFusedGdnGatingOp();
std::unique_ptr<Op> MakeSwigluOp();
std::unique_ptr<Op> MakeSwigluStepOp();
std::unique_ptr<Op> MakeDynamicQuantOp();
std::unique_ptr<Op> MakeCausalConv1dFnOp();
std::unique_ptr<Op> MakeCausalConv1dUpdateOp();
std::unique_ptr<Op> MakeRecurrentGatedDeltaRuleOp();
std::unique_ptr<Op> MakeEmbeddingOp();
std::unique_ptr<Op> MakeVerifyGreedyOp();
std::unique_ptr<Op> MakeMatmulOp();
std::unique_ptr<Op> MakeQuantMatmulOp();
std::unique_ptr<Op> MakeChunkGatedDeltaRuleOp();
std::unique_ptr<Op> MakeScaledDotKktOp();
std::unique_ptr<Op> MakeWyFastOp();
std::unique_ptr<Op> MakeTriInverseOp();
std::unique_ptr<Op> MakeMoeGatingTopkOp();
std::unique_ptr<Op> MakeMoeInitRoutingOp();
std::unique_ptr<Op> MakeMoeFinalizeRoutingOp();
std::unique_ptr<Op> MakeGroupedMatmulOp();
std::unique_ptr<Op> MakeLmHeadArgmaxOp();
std::unique_ptr<Op> MakeAllGatherOp();
std::unique_ptr<Op> MakeReduceScatterOp();
std::unique_ptr<Op> MakeAllToAllOp();
std::unique_ptr<Op> MakeAllReduceOp();
std::unique_ptr<Op> MakeMoeDispatchNormalOp();
std::unique_ptr<Op> MakeMoeCombineNormalOp();
std::unique_ptr<Op> MakeFiaOp();
std::unique_ptr<Op> MakeMlaPrologOp();
std::unique_ptr<Op> MakeRotaryEmbeddingOp();
std::unique_ptr<Op> MakeAttentionGateOp();
std::unique_ptr<Op> MakeSwaMaskOp();
std::unique_ptr<Op> MakeSplitQkvRmsNormRopeOp();

const std::vector<std::unique_ptr<Op>>& AllOps() {
  static const std::vector<std::unique_ptr<Op>> ops = [] {
    std::vector<std::unique_ptr<Op>> v;
    for (auto make : {MakeAddOp,
                      MakeDataCopyOp,
                      MakeMoveIntermediateCacheOp,
                      MakeConvStateRollbackOp,
                      MakeRmsNormOp,
                      MakeRmsNormGatedOp,
                      MakeL2NormOp,
                      MakeFusedGdnGatingOp,
                      MakeSwigluOp,
                      MakeSwigluStepOp,
                      MakeDynamicQuantOp,
                      MakeCausalConv1dFnOp,
                      MakeCausalConv1dUpdateOp,
                      MakeRecurrentGatedDeltaRuleOp,
                      MakeEmbeddingOp,
                      MakeVerifyGreedyOp,
                      MakeMatmulOp,
                      MakeQuantMatmulOp,
                      MakeChunkGatedDeltaRuleOp,
                      MakeScaledDotKktOp,
                      MakeWyFastOp,
                      MakeTriInverseOp,
                      MakeMoeGatingTopkOp,
                      MakeMoeInitRoutingOp,
                      MakeMoeFinalizeRoutingOp,
                      MakeGroupedMatmulOp,
                      MakeLmHeadArgmaxOp,
                      MakeAllGatherOp,
                      MakeReduceScatterOp,
                      MakeAllToAllOp,
                      MakeAllReduceOp,
                      MakeMoeDispatchNormalOp,
                      MakeMoeCombineNormalOp,
                      MakeFiaOp,
                      MakeMlaPrologOp,
                      MakeRotaryEmbeddingOp,
                      MakeAttentionGateOp,
                      MakeSwaMaskOp,
                      MakeSplitQkvRmsNormRopeOp})
      v.push_back(make());
    std::sort(v.begin(), v.end(),
              [](const auto& a, const auto& b) { return a->name() < b->name(); });
    return v;
  }();
  return ops;
}

}  // namespace npusim
