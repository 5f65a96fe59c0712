// A scheduler batch's entries over all DP groups, in order (scheduler and prefix-cache tests).
#pragma once

#include <vector>

#include "workloads/scheduler.h"

namespace npusim {

inline std::vector<BatchEntry> Flat(const Batch& b) {
  std::vector<BatchEntry> out;
  for (const auto& g : b.groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

}  // namespace npusim
