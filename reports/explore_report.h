// Writers for `npusim explore`: metrics.json (every point, the fastest feasible, the Pareto
// front), points.csv (one row per point) and report.md, and the console summary.
#pragma once

#include <string>

#include "workloads/explore.h"

namespace npusim {

void WriteExploreOutputs(const ExploreResult& r, const std::string& dir);
std::string ExploreSummary(const ExploreResult& r);

}  // namespace npusim
