#include "workloads/capacity_search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/error.h"
#include "model/progress.h"
#include "workloads/scheduler.h"
#include "workloads/self_runs.h"

namespace npusim {

RateSearch SearchHighestRate(double start, const std::function<bool(double)>& meets,
                             double tolerance, int max_probes) {
  if (!(start > 0) || !std::isfinite(start))
    throw InputError("rate search: the start rate must be positive and finite");
  RateSearch s;
  auto probe = [&](double r) {
    s.probed.push_back(r);
    const bool ok = meets(r);
    if (ok && r > s.best) s.best = r;
    if (!ok && (s.lowest_failing == 0 || r < s.lowest_failing)) s.lowest_failing = r;
    return ok;
  };
  const int budget = max_probes;
  double r = start;
  const bool first = probe(r);
  // Bracket: [best, lowest_failing].
  while (static_cast<int>(s.probed.size()) < budget &&
         (first ? s.lowest_failing == 0 : s.best == 0)) {
    r = first ? r * 2 : r / 2;
    probe(r);
  }
  while (static_cast<int>(s.probed.size()) < budget && s.best > 0 && s.lowest_failing > 0 &&
         s.lowest_failing / s.best > 1 + tolerance)
    probe(std::sqrt(s.best * s.lowest_failing));
  return s;
}

std::string SloBreak(const RunConfig& run, const CapacityPoint& p) {
  if (p.status != "ok") return "failure";
  if (run.slo_ttft_p99_ms > 0 && p.ttft_p99_ms > run.slo_ttft_p99_ms) return "ttft";
  if (run.slo_tpot_p99_ms > 0 && p.tpot_p99_ms > run.slo_tpot_p99_ms) return "tpot";
  return "";
}

std::string SloVerdict(const RunConfig& run, const CapacityPoint& p) {
  const std::string broke = SloBreak(run, p);
  if (broke.empty()) return "meets the SLOs";
  if (broke == "failure") return p.status;
  return "breaks the " + std::string(broke == "ttft" ? "TTFT" : "TPOT") + " SLO";
}

void Decide(const RunConfig& run, CapacityAnswer& a) {
  a.max_concurrency = 0;
  a.binding = "memory";
  for (const CapacityPoint& p : a.curve) {
    const std::string broke = SloBreak(run, p);
    if (!broke.empty()) {  // the curve is in rising concurrency: the first break binds
      a.binding = broke;
      return;
    }
    a.max_concurrency = p.concurrency;
  }
}

void DecideRate(const RunConfig& run, CapacityAnswer& a) {
  std::stable_sort(a.rate_curve.begin(), a.rate_curve.end(),
                   [](const auto& x, const auto& y) { return x.request_rate < y.request_rate; });
  a.max_request_rate = 0;
  a.rate_binding = "not reached";
  for (const CapacityPoint& p : a.rate_curve) {
    const std::string broke = SloBreak(run, p);
    if (!broke.empty()) {
      a.rate_binding = broke;
      return;
    }
    a.max_request_rate = p.request_rate;
  }
}

MemoryLimits CapacityMemoryLimits(const ResolvedRun& s) {
  const RunConfig& rc = s.run;
  const int64_t per_request =
      ReservedKvTokens(rc.random_input_len, rc.random_output_len, rc.page_size);
  const int64_t dp = s.plan.dp;
  const int64_t group_cap = s.group_request_cap();
  const bool kv = s.model.count(LayerKind::kFullAttention) > 0;
  MemoryLimits m;
  m.max_by_memory = s.replicas * dp *
                    std::min<int64_t>(group_cap, kv ? s.memory.kv_tokens / per_request : group_cap);
  m.max_context_tokens =
      kv ? std::min<int64_t>(s.memory.kv_tokens, rc.context_length) : rc.context_length;
  if (m.max_by_memory == 0)
    m.oom = "out of memory: a request of " + std::to_string(rc.random_input_len) + " + " +
            std::to_string(rc.random_output_len) + " tokens reserves " +
            std::to_string(per_request) + " KV tokens, more than the KV pool of a DP group (" +
            std::to_string(s.memory.kv_tokens) + ")";
  return m;
}

namespace {

std::string Verdict(const RunConfig& run, const CapacityPoint& p) {
  if (p.status != "ok") return p.status + " (the run failed)";
  return SloVerdict(run, p) +
         fmt::format(", p99 TTFT {:.1f} ms, p99 TPOT {:.2f} ms", p.ttft_p99_ms, p.tpot_p99_ms);
}

void SearchConcurrency(const RunConfig& rc, CapacityAnswer& ans, const CapacityProbe& probe) {
  std::vector<int64_t> levels;
  for (int64_t c = 1; c < ans.max_by_memory; c *= 2) levels.push_back(c);
  if (ans.max_by_memory > 0) levels.push_back(ans.max_by_memory);
  const EtaProgress eta("concurrency levels at most", static_cast<int64_t>(levels.size()));
  for (int64_t c : levels) {
    const std::string n = std::to_string(c);
    CapacityPoint p =
        probe("points/" + n, {{"max_concurrency", n}, {"num_prompts", n}, {"request_rate", "inf"}});
    p.concurrency = c;
    ans.curve.push_back(p);
    eta.Done(static_cast<int64_t>(ans.curve.size()),
             fmt::format("concurrency {}: {}", c, Verdict(rc, p)));
    Decide(rc, ans);
    if (ans.binding != "memory") break;  // past the first break the curve only gets worse
  }
}

void SearchRate(const RunConfig& rc, CapacityAnswer& ans, const CapacityProbe& probe) {
  // A finite load (num_prompts requests) has a ceiling: sent all at once. If that meets the SLOs
  // no rate breaks them and there is nothing to search.
  const CapacityPoint all =
      probe("rate_points/all_at_once", {{"request_rate", "inf"}, {"max_concurrency", "0"}});
  if (SloBreak(rc, all).empty()) {
    ans.rate_binding = "not reached: all " + std::to_string(rc.num_prompts) +
                       " requests sent at once meet the SLOs (raise num_prompts)";
    return;
  }
  // Start where the concurrency search ended (its request throughput), else at 1 req/s.
  double start = 1.0;
  for (const CapacityPoint& p : ans.curve)
    if (p.concurrency == ans.max_concurrency && p.request_throughput > 0)
      start = p.request_throughput;
  constexpr int kMaxRateProbes = 12;
  SearchHighestRate(
      Tidy(start),
      [&](double rate) {
        const std::string r = fmt::format("{:.6g}", rate);
        CapacityPoint p = probe("rate_points/" + std::to_string(ans.rate_curve.size()),
                                {{"request_rate", r}, {"max_concurrency", "0"}});
        p.request_rate = std::stod(r);
        ans.rate_curve.push_back(p);
        spdlog::info("capacity: rate probe {} of at most {}: {} req/s {}", ans.rate_curve.size(),
                     kMaxRateProbes, r, Verdict(rc, p));
        return SloBreak(rc, p).empty();
      },
      0.1, kMaxRateProbes);
  DecideRate(rc, ans);
}

}  // namespace

void SearchCapacity(const RunConfig& rc, CapacityAnswer& ans, const CapacityProbe& probe) {
  if (rc.capacity_search != "request_rate") SearchConcurrency(rc, ans, probe);
  if (rc.capacity_search == "concurrency") return;
  if (rc.slo_ttft_p99_ms > 0 || rc.slo_tpot_p99_ms > 0) return SearchRate(rc, ans, probe);
  spdlog::warn(
      "capacity: request-rate search skipped: it needs slo_ttft_p99_ms or slo_tpot_p99_ms");
  ans.rate_binding = "no SLO given";
}

double CapacityVariant::OutputThroughputAtAnswer() const {
  for (const CapacityPoint& p : answer.curve)
    if (p.concurrency == answer.max_concurrency) return p.output_throughput;
  for (const CapacityPoint& p : answer.rate_curve)
    if (p.request_rate == answer.max_request_rate) return p.output_throughput;
  return 0.0;
}

size_t Recommend(const std::vector<CapacityVariant>& v) {
  // Per chip: a deployment grows by replicas, so a variant with twice the chips must serve more
  // than twice the load to be the better buy.
  const auto per_chip = [](const CapacityVariant& x, double load) {
    return x.chips > 0 ? load / static_cast<double>(x.chips) : 0.0;
  };
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    const CapacityVariant &x = v[i], &y = v[best];
    const double cx = per_chip(x, static_cast<double>(x.answer.max_concurrency)),
                 cy = per_chip(y, static_cast<double>(y.answer.max_concurrency));
    const double rx = per_chip(x, x.answer.max_request_rate),
                 ry = per_chip(y, y.answer.max_request_rate);
    if (cx != cy) {
      if (cx > cy) best = i;
    } else if (rx != ry) {
      if (rx > ry) best = i;
    } else if (x.PerChip() > y.PerChip()) {
      best = i;
    }
  }
  return best;
}

std::vector<CapacityVariant> PlanCapacity(const std::string& run_path, const KeyValues& sets,
                                          const KnobTries& tries, const VariantProbe& probe) {
  const std::vector<KeyValues> combos = Combinations(tries);
  const bool one = combos.size() == 1;
  std::vector<CapacityVariant> out;
  for (size_t vi = 0; vi < combos.size(); ++vi) {
    KeyValues vsets = sets;
    vsets.insert(vsets.end(), combos[vi].begin(), combos[vi].end());
    if (!one) {
      std::string knobs;
      for (const auto& [k, v] : combos[vi]) knobs += (knobs.empty() ? "" : ", ") + k + "=" + v;
      spdlog::info("capacity: variant {}/{} ({})", vi + 1, combos.size(), knobs);
    }
    CapacityVariant o;
    o.knobs = combos[vi];
    const RunConfig rc = LoadRunConfig(run_path, vsets);
    o.chips = rc.Chips();  // also for a variant that does not fit (it showed 0)
    try {
      o.setup = ResolveRun(rc);
    } catch (const SimFailure& e) {  // this variant does not fit at all
      if (one) throw;
      o.answer.binding = e.status();
      o.error = e.what();
      out.push_back(std::move(o));
      continue;
    }
    const MemoryLimits m = CapacityMemoryLimits(*o.setup);
    o.answer.max_by_memory = m.max_by_memory;
    o.answer.max_context_tokens = m.max_context_tokens;
    if (!m.oom.empty()) {  // not one request fits: no probe can succeed
      if (one) throw SimFailure("out_of_memory", "capacity: " + m.oom);
      o.answer.binding = "out_of_memory";
      o.error = m.oom;
      out.push_back(std::move(o));
      continue;
    }
    SearchCapacity(rc, o.answer, [&](const std::string& where, const KeyValues& load) {
      return probe(vi, vsets, where, load);
    });
    out.push_back(std::move(o));
  }
  return out;
}

CapacityPoint ReadCapacityPoint(int exit_code, const std::string& dir) {
  CapacityPoint p;
  p.exit_code = exit_code;
  p.status = "exit " + std::to_string(exit_code);
  std::ifstream in(dir + "/metrics.json");
  if (!in) return p;
  try {
    const nlohmann::json m = nlohmann::json::parse(in);
    p.status = m.value("status", p.status);
    if (p.status == "ok") {
      p.ttft_p99_ms = m["p99_ttft_ms"].get<double>();
      p.tpot_p99_ms = m["p99_tpot_ms"].get<double>();
      p.output_throughput = m["output_throughput"].get<double>();
      p.request_throughput = m["request_throughput"].get<double>();
    }
  } catch (const std::exception&) {
  }
  return p;
}

VariantProbe ChildRunProbe(const std::string& run_path,
                           const std::function<std::string(size_t)>& variant_dir,
                           double timeout_s) {
  return [=](size_t v, const KeyValues& sets, const std::string& where, const KeyValues& load) {
    // A probe's report.html is rarely opened: its charts are not worth gnuplot's time.
    std::vector<std::string> args = {"run", run_path, "--no-charts"};
    for (const auto& [k, x] : sets) args.insert(args.end(), {"--set", k + "=" + x});
    for (const auto& [k, x] : load) args.insert(args.end(), {"--set", k + "=" + x});
    const std::string dir = variant_dir(v) + "/" + where;
    const int code = RunChildren(
                         {args}, [&](size_t) { return dir; }, 1, nullptr, timeout_s)
                         .front();
    return ReadCapacityPoint(code, dir);
  };
}

}  // namespace npusim
