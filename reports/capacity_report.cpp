#include "reports/capacity_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/error.h"
#include "reports/charts.h"
#include "reports/format.h"
#include "reports/html.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;
using report::Tidy;
std::string F(double v, int digits = 2) { return report::Fixed(v, digits); }

std::string Slo(double ms) { return ms > 0 ? F(ms) + " ms" : std::string("none"); }

std::string Knobs(const CapacityVariant& v) {
  std::string k;
  for (const auto& [key, value] : v.knobs) k += (k.empty() ? "" : " ") + key + "=" + value;
  return k.empty() ? "(as configured)" : k;
}

Json PointJson(const CapacityPoint& p) {
  Json j;
  if (p.request_rate > 0)
    j["request_rate"] = Tidy(p.request_rate);
  else
    j["concurrency"] = p.concurrency;
  j["status"] = p.status;
  j["ttft_p99_ms"] = Tidy(p.ttft_p99_ms);
  j["tpot_p99_ms"] = Tidy(p.tpot_p99_ms);
  j["output_throughput"] = Tidy(p.output_throughput);
  j["request_throughput"] = Tidy(p.request_throughput);
  return j;
}

// p99 TTFT, p99 TPOT and output throughput against the load, with the SLO lines.
// `chosen` (> 0): the answer's load, marked on every chart.
void CurveCharts(html::Page& page, const std::vector<CapacityPoint>& curve, bool rate,
                 const RunConfig& run, double chosen) {
  std::vector<double> x, ttft, tpot, tput;
  for (const CapacityPoint& p : curve) {
    if (p.status != "ok") continue;
    x.push_back(rate ? p.request_rate : static_cast<double>(p.concurrency));
    ttft.push_back(p.ttft_p99_ms);
    tpot.push_back(p.tpot_p99_ms);
    tput.push_back(p.output_throughput);
  }
  if (x.empty()) return;
  const std::string load = rate ? "request rate (req/s, Poisson)" : "concurrent requests";
  auto chart = [&](const std::string& name, const std::vector<double>& y, const std::string& ylabel,
                   double slo) {
    html::Chart c;
    c.kind = html::Chart::Kind::kXY;
    c.xlabel = load;
    c.ylabel = ylabel;
    c.logx = true;
    c.logx_base = 2;
    c.height = 260;
    c.series.push_back({name, x, y, "linespoints"});
    if (slo > 0) c.hlines.push_back({"SLO " + F(slo) + " ms", slo});
    if (chosen > 0)
      c.vlines.push_back({"answer " + (rate ? F(chosen, 3) + " req/s" : F(chosen, 0)), chosen});
    return c;
  };
  page.AddChart(chart("p99 TTFT", ttft, "p99 TTFT (ms)", run.slo_ttft_p99_ms),
                "p99 TTFT vs " + load);
  page.AddChart(chart("p99 TPOT", tpot, "p99 TPOT (ms)", run.slo_tpot_p99_ms),
                "p99 TPOT vs " + load);
  page.AddChart(chart("output tok/s", tput, "output tokens/s", 0), "Throughput vs " + load);
}

std::vector<std::vector<std::string>> CurveRows(const RunConfig& run,
                                                const std::vector<CapacityPoint>& curve,
                                                bool rate) {
  std::vector<std::vector<std::string>> rows;
  for (const CapacityPoint& p : curve) {
    rows.push_back({rate ? F(p.request_rate, 3) : std::to_string(p.concurrency), SloVerdict(run, p),
                    F(p.ttft_p99_ms), F(p.tpot_p99_ms), F(p.output_throughput, 1),
                    F(p.request_throughput, 3)});
  }
  return rows;
}

// The served request rate at the answer against the offered one: far below means num_prompts
// requests never reached a steady state at that rate (the run is over before the queue builds).
std::string AchievedNote(const CapacityAnswer& a) {
  for (const CapacityPoint& p : a.rate_curve)
    if (p.request_rate == a.max_request_rate && p.request_rate > 0)
      return "; served " + F(p.request_throughput, 3) + " req/s there" +
             (p.request_throughput < 0.5 * p.request_rate
                  ? " (under half the offered rate: raise num_prompts for a steady state)"
                  : "");
  return "";
}

}  // namespace

std::string CapacitySummary(const ResolvedRun& s, const CapacityAnswer& a) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  std::string mem;
  for (const auto& [k, v] : s.memory.Breakdown())
    mem += (mem.empty() ? "" : ", ") + k + " " + F(static_cast<double>(v) / (1 << 30)) + " GiB";
  line("- " + s.model.file + " on " + std::to_string(s.plan.tp) + " x " + s.device.soc + " (dp " +
       std::to_string(s.plan.dp) + ", ep " + std::to_string(s.plan.ep) + "); requests of " +
       std::to_string(s.run.random_input_len) + " in / " + std::to_string(s.run.random_output_len) +
       " out");
  line("- HBM per rank: " + mem);
  line("- memory allows " + std::to_string(a.max_by_memory) +
       " concurrent requests at these lengths; the longest context one request can hold: " +
       std::to_string(a.max_context_tokens) + " tokens");
  line("- SLOs: p99 TTFT " + Slo(s.run.slo_ttft_p99_ms) + ", p99 TPOT " +
       Slo(s.run.slo_tpot_p99_ms));
  const auto table = [&](const char* load, const std::vector<std::vector<std::string>>& rows) {
    line("");
    line(std::string("| ") + load +
         " | verdict | p99 TTFT ms | p99 TPOT ms | output tok/s | req/s |");
    line("|---|---|---|---|---|---|");
    for (const auto& r : rows)
      line("| " + r[0] + " | " + r[1] + " | " + r[2] + " | " + r[3] + " | " + r[4] + " | " + r[5] +
           " |");
    line("");
  };
  if (!a.binding.empty()) {
    table("concurrency", CurveRows(s.run, a.curve, false));
    line("answer: " + std::to_string(a.max_concurrency) +
         " concurrent requests; binding constraint: " + a.binding);
  }
  if (!a.rate_curve.empty()) {
    table("request rate (req/s)", CurveRows(s.run, a.rate_curve, true));
    line("answer: " + F(a.max_request_rate, 3) + " requests/s (Poisson, " +
         std::to_string(s.run.num_prompts) + " requests); binding constraint: " + a.rate_binding +
         AchievedNote(a));
  } else if (!a.rate_binding.empty()) {
    line("request-rate search: " + a.rate_binding);
  }
  return o;
}

void WriteCapacityOutputs(const ResolvedRun& s, const CapacityAnswer& a, const std::string& dir) {
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
  j["search"] = s.run.capacity_search;
  Json curve = Json::array(), rates = Json::array();
  for (const CapacityPoint& p : a.curve) curve.push_back(PointJson(p));
  for (const CapacityPoint& p : a.rate_curve) rates.push_back(PointJson(p));
  j["curve"] = curve;
  j["rate_curve"] = rates;
  Json answer;
  if (!a.binding.empty())
    answer["max_concurrency"] = a.max_concurrency, answer["binding"] = a.binding;
  if (!a.rate_binding.empty())
    answer["max_request_rate"] = Tidy(a.max_request_rate), answer["rate_binding"] = a.rate_binding;
  j["answer"] = answer;
  WriteFileOrThrow(dir + "/metrics.json", j.dump(2) + "\n");
  WriteFileOrThrow(dir + "/report.md", "# npusim capacity\n\n" + CapacitySummary(s, a));

  html::Page page("npusim capacity: " + std::filesystem::path(s.run.file).filename().string());
  std::vector<std::pair<std::string, std::string>> facts = {
      {"model", s.model.file},
      {"chips", std::to_string(s.plan.tp) + " x " + s.device.soc + " (tp " +
                    std::to_string(s.plan.tp) + ", dp " + std::to_string(s.plan.dp) + ", ep " +
                    std::to_string(s.plan.ep) + ")"},
      {"requests", std::to_string(s.run.random_input_len) + " tokens in / " +
                       std::to_string(s.run.random_output_len) + " out"},
      {"SLOs",
       "p99 TTFT " + Slo(s.run.slo_ttft_p99_ms) + ", p99 TPOT " + Slo(s.run.slo_tpot_p99_ms)},
      {"memory allows", std::to_string(a.max_by_memory) + " concurrent requests; longest context " +
                            std::to_string(a.max_context_tokens) + " tokens"}};
  if (!a.binding.empty())
    facts.push_back({"answer (concurrency)", std::to_string(a.max_concurrency) +
                                                 " concurrent requests, bound by " + a.binding});
  if (!a.rate_curve.empty())
    facts.push_back({"answer (request rate)", F(a.max_request_rate, 3) + " req/s, bound by " +
                                                  a.rate_binding + AchievedNote(a)});
  else if (!a.rate_binding.empty())
    facts.push_back({"request-rate search", a.rate_binding});
  page.Facts(facts);
  page.Heading("HBM per rank");
  page.AddChart(charts::MemoryBreakdown(s.memory.Breakdown()),
                "HBM plan per rank; KV pool " + std::to_string(s.memory.kv_tokens) + " tokens");
  const std::vector<std::string> header = {"load",        "verdict",      "p99 TTFT ms",
                                           "p99 TPOT ms", "output tok/s", "req/s"};
  if (!a.binding.empty()) {
    page.Heading("Concurrency search (requests sent at once, doubling up to the memory limit)");
    CurveCharts(page, a.curve, false, s.run, static_cast<double>(a.max_concurrency));
    page.Table(header, CurveRows(s.run, a.curve, false));
  }
  if (!a.rate_curve.empty()) {
    page.Heading("Request-rate search (" + std::to_string(s.run.num_prompts) +
                 " requests, Poisson arrivals, bracketed then bisected)");
    CurveCharts(page, a.rate_curve, true, s.run, a.max_request_rate);
    page.Table(header, CurveRows(s.run, a.rate_curve, true));
  }
  page.Write(dir + "/report.html");
}

std::string ComparisonSummary(const std::vector<CapacityVariant>& v) {
  std::string md =
      "| variant | knobs | chips | max concurrent requests | binding | max req/s | binding | "
      "output tok/s there | per chip |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < v.size(); ++i) {
    const CapacityVariant& o = v[i];
    md += "| " + std::to_string(i) + " | " + Knobs(o) + " | " + std::to_string(o.chips) + " | " +
          std::to_string(o.answer.max_concurrency) + " | " + o.answer.binding + " | " +
          F(o.answer.max_request_rate, 3) + " | " + o.answer.rate_binding + " | " +
          F(o.OutputThroughputAtAnswer(), 1) + " | " + F(o.PerChip(), 1) + " |\n";
  }
  const size_t best = Recommend(v);
  return md + "\nrecommended: variant " + std::to_string(best) + " (details in variants/" +
         std::to_string(best) + "/report.md)\n";
}

void WriteCapacityComparison(const std::string& config, const std::vector<CapacityVariant>& v,
                             const std::string& dir) {
  std::filesystem::create_directories(dir);
  const size_t best = Recommend(v);
  Json j;
  j["config"] = config;
  Json vs = Json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const CapacityVariant& o = v[i];
    Json kj = Json::object();
    for (const auto& [k, value] : o.knobs) kj[k] = value;
    vs.push_back({{"variant", i},
                  {"knobs", kj},
                  {"max_concurrency", o.answer.max_concurrency},
                  {"binding", o.answer.binding},
                  {"max_request_rate", Tidy(o.answer.max_request_rate)},
                  {"rate_binding", o.answer.rate_binding},
                  {"max_requests_by_memory", o.answer.max_by_memory},
                  {"chips", o.chips},
                  {"output_throughput", Tidy(o.OutputThroughputAtAnswer())},
                  {"output_throughput_per_chip", Tidy(o.PerChip())},
                  {"error", o.error}});
  }
  j["variants"] = vs;
  j["recommended_variant"] = best;
  WriteFileOrThrow(dir + "/metrics.json", j.dump(2) + "\n");
  WriteFileOrThrow(dir + "/report.md",
                   "# npusim capacity: knobs compared\n\n" + ComparisonSummary(v));

  html::Page page("npusim capacity: knobs compared (" +
                  std::filesystem::path(config).filename().string() + ")");
  page.Facts({{"recommended", "variant " + std::to_string(best) + ": " + Knobs(v[best])},
              {"rule",
               "per chip (deployments grow by replicas): most concurrent requests within the SLOs, "
               "then the highest request rate, then output throughput"}});
  html::Chart conc, per_chip;
  conc.ylabel = "max concurrent requests within SLOs";
  per_chip.ylabel = "output tok/s per chip at the answer";
  html::Series cs{"requests", {}, {}, ""}, ps{"tok/s per chip", {}, {}, ""};
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string name = std::to_string(i) + ": " + Knobs(v[i]) +
                             (v[i].error.empty() ? "" : " (" + v[i].answer.binding + ")");
    conc.categories.push_back(name);
    per_chip.categories.push_back(name);
    cs.y.push_back(static_cast<double>(v[i].answer.max_concurrency));
    ps.y.push_back(v[i].PerChip());
    rows.push_back({std::to_string(i), Knobs(v[i]), std::to_string(v[i].chips),
                    std::to_string(v[i].answer.max_concurrency), v[i].answer.binding,
                    F(v[i].answer.max_request_rate, 3), v[i].answer.rate_binding,
                    F(v[i].PerChip(), 1), v[i].error.substr(0, v[i].error.find('\n'))});
  }
  conc.series.push_back(cs);
  per_chip.series.push_back(ps);
  page.AddChart(conc, "Concurrent requests each variant serves within the SLOs");
  page.AddChart(per_chip, "Output throughput per chip at that load");
  page.Table({"variant", "knobs", "chips", "max concurrent", "binding", "max req/s", "binding",
              "tok/s per chip", "error"},
             rows);
  std::string pages;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i].error.empty())
      pages += (pages.empty() ? "" : ", ") + std::string("variants/") + std::to_string(i) +
               "/report.html";
  page.Paragraph("Each variant's curves and HBM plan: " +
                 (pages.empty() ? std::string("none (no variant fits)") : pages) + ".");
  page.Write(dir + "/report.html");
}

}  // namespace npusim
