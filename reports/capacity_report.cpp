#include "reports/capacity_report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "reports/format.h"

#include "model/error.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;
std::string F(double v, int digits = 2) { return report::Fixed(v, digits); }


}  // namespace

CapacityPoint ReadCapacityPoint(int64_t concurrency, int exit_code, const std::string& dir) {
  CapacityPoint p;
  p.concurrency = concurrency;
  p.exit_code = exit_code;
  p.status = "exit " + std::to_string(exit_code);
  std::ifstream in(dir + "/metrics.json");
  if (!in) return p;
  try {
    const Json m = Json::parse(in);
    p.status = m.value("status", p.status);
    if (p.status == "ok") {
      p.ttft_p99_ms = m["ttft_ms"]["p99"].get<double>();
      p.tpot_p99_ms = m["tpot_ms"]["p99"].get<double>();
      p.output_throughput = m["output_throughput"].get<double>();
      p.request_throughput = m["request_throughput"].get<double>();
    }
  } catch (const std::exception&) {
  }
  return p;
}

void Decide(const RunConfig& run, CapacityAnswer& a) {
  a.max_concurrency = 0;
  a.binding = "memory";
  for (const CapacityPoint& p : a.curve) {
    std::string broke;
    if (p.status != "ok") broke = "failure";
    else if (run.slo_ttft_p99_ms > 0 && p.ttft_p99_ms > run.slo_ttft_p99_ms) broke = "ttft";
    else if (run.slo_tpot_p99_ms > 0 && p.tpot_p99_ms > run.slo_tpot_p99_ms) broke = "tpot";
    if (!broke.empty()) {  // the curve is in rising concurrency: the first break binds
      a.binding = broke;
      return;
    }
    a.max_concurrency = p.concurrency;
  }
}

std::string CapacitySummary(const ServingSetup& s, const CapacityAnswer& a) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  std::string mem;
  for (const auto& [k, v] : s.memory.Breakdown()) mem += (mem.empty() ? "" : ", ") + k + " " + F(static_cast<double>(v) / (1 << 30)) + " GiB";
  line("- " + s.model.file + " on " + std::to_string(s.plan.tp) + " x " + s.device.soc + " (dp " + std::to_string(s.plan.dp) + ", ep " +
       std::to_string(s.plan.ep) + "); requests of " + std::to_string(s.run.random_input_len) + " in / " + std::to_string(s.run.random_output_len) +
       " out");
  line("- HBM per rank: " + mem);
  line("- memory allows " + std::to_string(a.max_by_memory) + " concurrent requests at these lengths; the longest context one request can hold: " +
       std::to_string(a.max_context_tokens) + " tokens");
  line("- SLOs: p99 TTFT " + (s.run.slo_ttft_p99_ms > 0 ? F(s.run.slo_ttft_p99_ms) + " ms" : std::string("none")) + ", p99 TPOT " +
       (s.run.slo_tpot_p99_ms > 0 ? F(s.run.slo_tpot_p99_ms) + " ms" : std::string("none")));
  line("");
  line("| concurrency | status | p99 TTFT ms | p99 TPOT ms | output tok/s | req/s |");
  line("|---|---|---|---|---|---|");
  for (const CapacityPoint& p : a.curve)
    line("| " + std::to_string(p.concurrency) + " | " + p.status + " | " + F(p.ttft_p99_ms) + " | " + F(p.tpot_p99_ms) + " | " + F(p.output_throughput, 1) +
         " | " + F(p.request_throughput, 3) + " |");
  line("");
  line("answer: " + std::to_string(a.max_concurrency) + " concurrent requests; binding constraint: " + a.binding);
  return o;
}

void WriteCapacityOutputs(const ServingSetup& s, const CapacityAnswer& a, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir + ": " + ec.message());
  Json j;
  j["config"] = s.run.file;
  Json mem;
  for (const auto& [k, v] : s.memory.Breakdown()) mem[k] = v;
  j["memory_per_rank_bytes"] = mem;
  j["kv_pool_tokens"] = s.memory.kv_tokens;
  j["max_requests_by_memory"] = a.max_by_memory;
  j["max_context_tokens"] = a.max_context_tokens;
  j["slo"] = {{"ttft_p99_ms", s.run.slo_ttft_p99_ms}, {"tpot_p99_ms", s.run.slo_tpot_p99_ms}};
  Json curve = Json::array();
  for (const CapacityPoint& p : a.curve)
    curve.push_back({{"concurrency", p.concurrency}, {"status", p.status}, {"ttft_p99_ms", p.ttft_p99_ms}, {"tpot_p99_ms", p.tpot_p99_ms},
                     {"output_throughput", p.output_throughput}, {"request_throughput", p.request_throughput}});
  j["curve"] = curve;
  j["answer"] = {{"max_concurrency", a.max_concurrency}, {"binding", a.binding}};
  std::ofstream(dir + "/metrics.json") << j.dump(2) << "\n";
  std::ofstream(dir + "/report.md") << "# npusim capacity\n\n" << CapacitySummary(s, a);
}

}  // namespace npusim
