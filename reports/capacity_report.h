// `npusim capacity`: one rank's HBM plan and what it allows (concurrent requests at the run's
// lengths, the longest context), then serving runs searching the load that still meets the SLOs
// (p99 TTFT / TPOT): rising concurrency (requests sent at once) and/or the Poisson request rate
// (bisected); the answer names the binding constraint and keeps the curves it came from.
// Written as metrics.json, report.md and report.html; with several knob variants, a comparison.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workloads/serving.h"

namespace npusim {

struct CapacityPoint {
  int64_t concurrency = 0;  // the concurrency search's load (0 on rate points)
  double request_rate = 0;  // the rate search's load, req/s (0 on concurrency points)
  int exit_code = 0;
  std::string status;
  double ttft_p99_ms = 0, tpot_p99_ms = 0, output_throughput = 0, request_throughput = 0;
};

struct CapacityAnswer {
  int64_t max_by_memory = 0, max_context_tokens = 0;
  std::vector<CapacityPoint> curve;       // concurrency search, rising
  int64_t max_concurrency = 0;            // the largest point meeting the SLOs (0: none does)
  std::string binding;                    // memory, ttft, tpot or failure ("" when not searched)
  std::vector<CapacityPoint> rate_curve;  // rate search, by rising rate
  double max_request_rate = 0;            // highest rate meeting the SLOs (0: none did)
  std::string rate_binding;  // ttft, tpot, failure, or "not reached" ("" when not searched)
};

CapacityPoint ReadCapacityPoint(int exit_code, const std::string& dir);
// What a point breaks: "" (meets the SLOs), "failure", "ttft" or "tpot".
std::string SloBreak(const RunConfig& run, const CapacityPoint& p);
// The same as words, for the probe log and the curve tables: "meets the SLOs", "breaks the TTFT
// SLO", "breaks the TPOT SLO", or the failure's status.
std::string SloVerdict(const RunConfig& run, const CapacityPoint& p);
// Fills max_concurrency / binding from the concurrency curve, the SLOs and the memory limit.
void Decide(const RunConfig& run, CapacityAnswer& a);
// Fills max_request_rate / rate_binding from the rate curve (sorted here by rate).
void DecideRate(const RunConfig& run, CapacityAnswer& a);
void WriteCapacityOutputs(const ServingSetup& s, const CapacityAnswer& a, const std::string& dir);
std::string CapacitySummary(const ServingSetup& s, const CapacityAnswer& a);

// One combination of `--try` knobs and its answer (or why it could not be served at all).
struct CapacityVariant {
  std::vector<std::pair<std::string, std::string>> knobs;
  CapacityAnswer answer;
  std::string error;
  int64_t chips = 0;
  double OutputThroughputAtAnswer() const;
  double PerChip() const {
    return chips > 0 ? OutputThroughputAtAnswer() / static_cast<double>(chips) : 0.0;
  }
};
// Per chip (a deployment grows by replicas, so more chips must earn their keep): most concurrent
// requests within the SLOs, then the highest request rate, then output throughput.
size_t Recommend(const std::vector<CapacityVariant>& v);
void WriteCapacityComparison(const std::string& config, const std::vector<CapacityVariant>& v,
                             const std::string& dir);
std::string ComparisonSummary(const std::vector<CapacityVariant>& v);

}  // namespace npusim
