// Writers for `npusim explore`: metrics.json (every point, the fastest feasible, the Pareto
// front), points.csv (one row per point), report.md and report.html, and the console summary.
#pragma once

#include <string>

#include "reports/html.h"
#include "workloads/explore.h"

namespace npusim {

void WriteExploreOutputs(const ExploreResult& r, const std::string& dir);
std::string ExploreSummary(const ExploreResult& r);
html::Page ExplorePage(const ExploreResult& r);

}  // namespace npusim
