// `npusim capacity`: one rank's HBM plan and what it allows (concurrent requests at the run's
// lengths, the longest context), then the serving simulator run at rising concurrency until the
// SLOs (p99 TTFT / TPOT) or memory stop it; the answer names the binding constraint and keeps
// the curve it came from. Written as metrics.json and report.md.
#pragma once

#include <string>
#include <vector>

#include "workloads/serving.h"

namespace npusim {

struct CapacityPoint {
  int64_t concurrency = 0;
  int exit_code = 0;
  std::string status;
  double ttft_p99_ms = 0, tpot_p99_ms = 0, output_throughput = 0, request_throughput = 0;
};

struct CapacityAnswer {
  int64_t max_by_memory = 0, max_context_tokens = 0;
  std::vector<CapacityPoint> curve;
  int64_t max_concurrency = 0;  // the largest point meeting the SLOs (0: none does)
  std::string binding;          // memory, ttft, tpot or failure
};

CapacityPoint ReadCapacityPoint(int64_t concurrency, int exit_code, const std::string& dir);
// Fills max_concurrency and binding from the curve, the SLOs and the memory limit.
void Decide(const RunConfig& run, CapacityAnswer& a);
void WriteCapacityOutputs(const ServingSetup& s, const CapacityAnswer& a, const std::string& dir);
std::string CapacitySummary(const ServingSetup& s, const CapacityAnswer& a);

}  // namespace npusim
