// The kernel set. Adding a kernel: write ops/<name>/, declare its factory here.
#include "ops/op.h"

namespace npusim {

std::unique_ptr<Op> MakeAddOp();
std::unique_ptr<Op> MakeMoveIntermediateCacheOp();
std::unique_ptr<Op> MakeConvStateRollbackOp();

const std::vector<std::unique_ptr<Op>>& AllOps() {
  static const std::vector<std::unique_ptr<Op>> ops = [] {
    std::vector<std::unique_ptr<Op>> v;
    v.push_back(MakeAddOp());
    v.push_back(MakeConvStateRollbackOp());
    v.push_back(MakeMoveIntermediateCacheOp());
    return v;
  }();
  return ops;
}

}  // namespace npusim
