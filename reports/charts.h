// The charts more than one report draws: per-kernel device-time share, pipe utilisation and
// roofline position, the HBM plan of a rank, latency distributions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "reports/html.h"
#include "workloads/serving.h"

namespace npusim::charts {

// Kernels by total device time, largest first, each with its launches added up.
std::vector<std::pair<std::string, ProfileTotal>> ByKernel(const std::vector<OpTotal>& ops);

// The `top` largest kernels; the rest summed as "other" where a chart shows shares.
html::Chart KernelShare(const std::vector<std::pair<std::string, ProfileTotal>>& k, double total_us,
                        size_t top = 12);
// Busy time of each pipe as % of the kernel's device time (rows: kernels, columns: pipes used).
html::Chart PipeUtilisation(const std::vector<std::pair<std::string, ProfileTotal>>& k,
                            size_t top = 12);
// Roofline time as % of the simulated time, labelled with the bound resource.
html::Chart RooflinePosition(const std::vector<std::pair<std::string, ProfileTotal>>& k,
                             size_t top = 12);
// Bars in GiB per part of MemoryPlan::Breakdown(), its "budget ..." entry as a limit line.
html::Chart MemoryBreakdown(const std::vector<std::pair<std::string, int64_t>>& parts);
// Fraction of values at or below x, per named set.
html::Chart Cdf(const std::vector<std::pair<std::string, std::vector<double>>>& sets,
                const std::string& xlabel);

// The run over time, step by step (every step, or an even sample of at most `max_points`): the
// requests in each step's batch and those still waiting for their first token; each step's time.
html::Chart RequestsOverTime(const ServingResult& r, size_t max_points = 1500);
html::Chart StepTimeOverTime(const ServingResult& r, size_t max_points = 1500);

std::string Gib(int64_t bytes);

}  // namespace npusim::charts
