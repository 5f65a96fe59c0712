#include "workloads/metrics.h"

#include <algorithm>
#include <cmath>

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
  d.p90 = Percentile(v, 90);
  d.p99 = Percentile(v, 99);
  d.min = v.front();
  d.max = v.back();
  return d;
}

double TtftMs(const RequestRecord& q) { return (q.first_token_us - q.sent_us) / 1e3; }

double TpotMs(const RequestRecord& q) {
  return q.output_len > 1 ? (q.finish_us - q.first_token_us) / 1e3 / static_cast<double>(q.output_len - 1) : 0;
}

ServingMetrics ComputeMetrics(const ServingResult& r) {
  ServingMetrics m;
  std::vector<double> ttft, tpot, itl, e2e;
  int64_t rounds = 0, round_tokens = 0;
  for (const RequestRecord& q : r.requests) {
    if (q.finish_us < 0) continue;
    ++m.completed;
    m.input_tokens += q.input_len;
    m.output_tokens += q.output_len;
    ttft.push_back(TtftMs(q));
    e2e.push_back((q.finish_us - q.sent_us) / 1e3);
    if (q.output_len > 1) tpot.push_back(TpotMs(q));
    for (size_t i = 1; i < q.token_times_us.size(); ++i)
      if (q.token_times_us[i] > q.token_times_us[i - 1]) itl.push_back((q.token_times_us[i] - q.token_times_us[i - 1]) / 1e3);
    rounds += q.verify_rounds;
    round_tokens += q.round_tokens;
  }
  m.ttft_ms = Distribution(ttft);
  m.tpot_ms = Distribution(tpot);
  m.itl_ms = Distribution(itl);
  m.e2e_ms = Distribution(e2e);
  m.duration_s = r.duration_us / 1e6;
  if (m.duration_s > 0) {
    m.request_throughput = static_cast<double>(m.completed) / m.duration_s;
    m.input_throughput = static_cast<double>(m.input_tokens) / m.duration_s;
    m.output_throughput = static_cast<double>(m.output_tokens) / m.duration_s;
    m.device_busy_share = r.device_busy_us / r.duration_us;
  }
  m.host_busy_s = r.host_busy_us / 1e6;
  m.accept_length = rounds ? static_cast<double>(round_tokens) / static_cast<double>(rounds) : 0;
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
  return m;
}

}  // namespace npusim
