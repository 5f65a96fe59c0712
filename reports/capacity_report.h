// `npusim capacity`'s outputs: the answer of workloads/capacity_search (the HBM plan's limits, the
// concurrency and rate curves, the binding constraint) as metrics.json, report.md and
// report.html; with several knob variants, a comparison and the recommended one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workloads/capacity_search.h"
#include "workloads/serving.h"

namespace npusim {

void WriteCapacityOutputs(const ResolvedRun& s, const CapacityAnswer& a, const std::string& dir);
std::string CapacitySummary(const ResolvedRun& s, const CapacityAnswer& a);

void WriteCapacityComparison(const std::string& config, const std::vector<CapacityVariant>& v,
                             const std::string& dir);
std::string ComparisonSummary(const std::vector<CapacityVariant>& v);

}  // namespace npusim
