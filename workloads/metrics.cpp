#include "workloads/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

namespace npusim {

namespace {

double Percentile(const std::vector<double>& sorted, double q) {  // numpy 'linear'
  if (sorted.empty()) return 0;
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

Dist Distribution(std::vector<double> v) {
  Dist d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  d.n = static_cast<int64_t>(v.size());
  d.mean = sum / static_cast<double>(v.size());
  d.median = Percentile(v, 50);
  double sq = 0;
  for (double x : v) sq += (x - d.mean) * (x - d.mean);
  d.std = std::sqrt(sq / static_cast<double>(v.size()));  // numpy's default (population)
  d.p90 = Percentile(v, 90);
  d.p95 = Percentile(v, 95);
  d.p99 = Percentile(v, 99);
  d.min = v.front();
  d.max = v.back();
  return d;
}

double TtftMs(const RequestRecord& q) { return (q.first_token_us - q.sent_us) / 1e3; }

double TpotMs(const RequestRecord& q) {
  return q.output_len > 1
             ? (q.finish_us - q.first_token_us) / 1e3 / static_cast<double>(q.output_len - 1)
             : 0;
}

namespace {

// Per request: counts, latency distributions, the busiest second and the most requests in flight.
void RequestMetrics(const ServingResult& r, ServingMetrics& m) {
  std::vector<double> ttft, tpot, itl, e2e;
  int64_t rounds = 0, round_tokens = 0;
  std::map<int64_t, int64_t> tokens_per_second;         // output tokens by whole second of the run
  std::vector<std::pair<double, int>> in_flight_edges;  // (time, +1 sent / -1 finished)
  for (const RequestRecord& q : r.requests) {
    if (q.finish_us < 0) continue;
    ++m.completed;
    m.input_tokens += q.input_len;
    m.cached_tokens += q.cached_tokens;
    m.output_tokens += q.output_len;
    ttft.push_back(TtftMs(q));
    e2e.push_back((q.finish_us - q.sent_us) / 1e3);
    if (q.output_len > 1) tpot.push_back(TpotMs(q));
    for (size_t i = 1; i < q.token_times_us.size(); ++i)
      if (q.token_times_us[i] > q.token_times_us[i - 1])
        itl.push_back((q.token_times_us[i] - q.token_times_us[i - 1]) / 1e3);
    rounds += q.verify_rounds;
    round_tokens += q.round_tokens;
    for (double t : q.token_times_us)
      ++tokens_per_second[static_cast<int64_t>(std::floor(t / 1e6))];
    in_flight_edges.push_back({q.sent_us, +1});
    in_flight_edges.push_back({q.finish_us, -1});
  }
  for (const auto& [second, n] : tokens_per_second)
    m.max_output_tokens_per_s = std::max(m.max_output_tokens_per_s, static_cast<double>(n));
  std::sort(in_flight_edges.begin(),
            in_flight_edges.end());  // at equal times a finish (-1) comes first
  int64_t flying = 0;
  for (const auto& [t, d] : in_flight_edges)
    m.max_concurrent_requests = std::max(m.max_concurrent_requests, flying += d);
  m.ttft_ms = Distribution(ttft);
  m.tpot_ms = Distribution(tpot);
  m.itl_ms = Distribution(itl);
  m.e2e_ms = Distribution(e2e);
  m.duration_s = r.duration_us / 1e6;
  m.host_busy_s = r.host_busy_us / 1e6;
  m.accept_length = rounds ? static_cast<double>(round_tokens) / static_cast<double>(rounds) : 0;
  m.cache_hit_rate =
      m.input_tokens ? static_cast<double>(m.cached_tokens) / static_cast<double>(m.input_tokens)
                     : 0;
}

// Rates over the run's duration and the devices' busy shares.
void ThroughputMetrics(const ServingResult& r, ServingMetrics& m) {
  if (m.duration_s <= 0) return;
  m.request_throughput = static_cast<double>(m.completed) / m.duration_s;
  m.input_throughput = static_cast<double>(m.input_tokens) / m.duration_s;
  m.output_throughput = static_cast<double>(m.output_tokens) / m.duration_s;
  m.total_throughput = m.input_throughput + m.output_throughput;
  m.concurrency = m.e2e_ms.mean * static_cast<double>(m.e2e_ms.n) / 1e3 / m.duration_s;
  int64_t engines = r.replicas;
  if (!r.pools.empty()) engines = r.pools[0].replicas + r.pools[1].replicas;
  m.device_busy_share =
      r.device_busy_us / (r.duration_us * static_cast<double>(std::max<int64_t>(1, engines)));
  for (const auto& p : r.pools)
    m.pools.push_back({p.name, p.replicas, p.steps,
                       p.device_busy_us / (r.duration_us *
                                           static_cast<double>(std::max<int64_t>(1, p.replicas)))});
}

// PD: the KV transfers' durations and waits.
void TransferMetrics(const ServingResult& r, ServingMetrics& m) {
  if (r.pools.empty()) return;
  std::vector<double> moving, waiting;
  for (const RequestRecord& q : r.requests)
    if (q.transfer_end_us >= 0) {
      moving.push_back((q.transfer_end_us - q.transfer_start_us) / 1e3);
      waiting.push_back((q.transfer_start_us - q.prefill_end_us) / 1e3);
    }
  m.transfer_ms = Distribution(moving);
  m.transfer_wait_ms = Distribution(waiting);
}

// Per step: prefill / decode counts, the decode step's wall and device time, MTP's commit share.
void StepMetrics(const ServingResult& r, ServingMetrics& m) {
  double decode_wall = 0, decode_dev = 0, commit = 0;
  int64_t verify = 0;
  for (const StepRecord& s : r.steps) {
    ++m.steps;
    if (s.prefill) {
      ++m.prefill_steps;
      continue;
    }
    ++m.decode_steps;
    decode_wall += s.end_us - s.start_us;
    for (const ForwardRecord& f : s.forwards) {
      decode_dev += f.device_busy_us;
      if (f.kind == ForwardKind::kVerify) {
        ++verify;
        commit += f.commit_us;
      }
    }
  }
  if (m.decode_steps) {
    m.decode_step_ms = decode_wall / 1e3 / static_cast<double>(m.decode_steps);
    m.decode_device_ms = decode_dev / 1e3 / static_cast<double>(m.decode_steps);
  }
  if (verify) {
    m.commit_ms_per_step = commit / 1e3 / static_cast<double>(verify);
    m.commit_share = decode_wall > 0 ? commit / decode_wall : 0;
  }
}

}  // namespace

ServingMetrics ComputeMetrics(const ServingResult& r) {
  ServingMetrics m;
  RequestMetrics(r, m);
  ThroughputMetrics(r, m);
  TransferMetrics(r, m);
  StepMetrics(r, m);
  return m;
}

std::vector<ServingMetrics> PerReplicaMetrics(const ServingResult& r) {
  std::vector<ServingMetrics> out;
  for (int64_t k = 0; k < r.replicas; ++k) {
    ServingResult part;
    part.duration_us = r.duration_us;
    for (const RequestRecord& q : r.requests)
      if (q.replica == k) part.requests.push_back(q);
    for (const StepRecord& st : r.steps)
      if (st.replica == k && st.pool != 1) {  // PD: the decode replica's own steps
        part.steps.push_back(st);
        for (const ForwardRecord& f : st.forwards) part.device_busy_us += f.device_busy_us;
      }
    out.push_back(ComputeMetrics(part));
  }
  return out;
}

}  // namespace npusim
