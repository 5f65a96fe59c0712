// bench_serving's figures from a serving run, defined as SGLang's bench_serving defines them:
// TTFT, TPOT, ITL, E2E latency (mean, median, population std, p90/p95/p99 by numpy's linear
// percentiles, max), request and token throughput, concurrency (summed E2E latency over the
// duration), peak output tokens per second and peak requests in flight, MTP accept length; plus
// what the simulator can see and a benchmark cannot: device busy share, host-bound share, the MTP
// state-commit cost per verify step (scenario S7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/serving.h"

namespace npusim {

struct Dist {
  double mean = 0, median = 0, std = 0, p90 = 0, p95 = 0, p99 = 0, min = 0, max = 0;
  int64_t n = 0;
};
Dist Distribution(std::vector<double> v);  // empty -> all zero

struct ServingMetrics {
  int64_t completed = 0, input_tokens = 0, output_tokens = 0, steps = 0, prefill_steps = 0,
          decode_steps = 0;
  double duration_s = 0, request_throughput = 0, input_throughput = 0, output_throughput = 0,
         total_throughput = 0;
  double concurrency = 0;               // mean requests in flight: summed E2E latency / duration
  double max_output_tokens_per_s = 0;   // most output tokens in one whole second of the run
  int64_t max_concurrent_requests = 0;  // most requests in flight at any instant
  Dist ttft_ms, tpot_ms, itl_ms, e2e_ms;
  double accept_length = 0;   // tokens per verify round (MTP), 0 without MTP
  int64_t cached_tokens = 0;  // prompt tokens the prefix cache served (not computed)
  double cache_hit_rate = 0;  // cached_tokens / input_tokens (SGLang's prefix cache hit rate)
  double device_busy_share = 0, host_busy_s = 0;
  double decode_step_ms = 0;      // mean wall time of a decode step (or MTP round)
  double decode_device_ms = 0;    // mean device busy time within one
  double commit_ms_per_step = 0;  // MTP commit kernels per verify step
  double commit_share = 0;        // of the decode step's wall time
  // PD disaggregation: each pool's busy share and steps; the KV hand-off of every request.
  struct Pool {
    std::string name;
    int64_t replicas = 0, steps = 0;
    double device_busy_share = 0;  // of its replicas' time over the run
  };
  std::vector<Pool> pools;
  Dist transfer_ms;       // KV on the link (and the fixed latency)
  Dist transfer_wait_ms;  // from the prefill pool's end to the transfer's start (decode KV room,
                          // queue slot)
};

ServingMetrics ComputeMetrics(const ServingResult& r);
// Replicated DP: each replica's figures over the run's duration (its requests and steps only).
std::vector<ServingMetrics> PerReplicaMetrics(const ServingResult& r);
// One finished request's figures as bench_serving defines them (TPOT 0 for a single token).
double TtftMs(const RequestRecord& q);
double TpotMs(const RequestRecord& q);

}  // namespace npusim
