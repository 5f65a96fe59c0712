#include "reports/compare_report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/error.h"

namespace npusim {

using Json = nlohmann::ordered_json;

const std::vector<std::string>& BenchServingFields() {
  static const std::vector<std::string> k = {"backend",
                                             "dataset_name",
                                             "request_rate",
                                             "max_concurrency",
                                             "random_input_len",
                                             "random_output_len",
                                             "random_range_ratio",
                                             "duration",
                                             "completed",
                                             "total_input_tokens",
                                             "total_output_tokens",
                                             "request_throughput",
                                             "input_throughput",
                                             "output_throughput",
                                             "total_throughput",
                                             "mean_e2e_latency_ms",
                                             "median_e2e_latency_ms",
                                             "std_e2e_latency_ms",
                                             "p99_e2e_latency_ms",
                                             "mean_ttft_ms",
                                             "median_ttft_ms",
                                             "std_ttft_ms",
                                             "p99_ttft_ms",
                                             "mean_tpot_ms",
                                             "median_tpot_ms",
                                             "std_tpot_ms",
                                             "p99_tpot_ms",
                                             "mean_itl_ms",
                                             "median_itl_ms",
                                             "std_itl_ms",
                                             "p95_itl_ms",
                                             "p99_itl_ms",
                                             "concurrency",
                                             "accept_length",
                                             "max_output_tokens_per_s",
                                             "max_concurrent_requests"};
  return k;
}

std::string BenchServingLine(const Json& metrics) {
  Json line = Json::object();
  for (const std::string& f : BenchServingFields())
    if (metrics.contains(f)) line[f] = metrics[f];
  return line.dump();
}

namespace {

Json ParseObject(const std::string& text, const std::string& where) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(where + ": not JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw InputError(where + ": not a JSON object");
  return j;
}

std::string Cell(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();
}

}  // namespace

Json ReadResult(const std::string& spec) {
  namespace fs = std::filesystem;
  std::string path = spec;
  int64_t line_no = 0;  // 0 = the last line
  std::error_code ec;
  if (const auto colon = spec.rfind(':'); colon != std::string::npos && !fs::exists(spec, ec)) {
    const std::string n = spec.substr(colon + 1);
    if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos && n.size() < 10) {
      path = spec.substr(0, colon);
      line_no = std::stoll(n);
      if (line_no < 1) throw InputError(spec + ": lines count from 1");
    }
  }
  if (fs::is_directory(path, ec)) path += "/metrics.json";
  if (!fs::is_regular_file(path, ec))
    throw InputError(spec + ": no such run folder, metrics.json or JSONL file");
  std::ifstream in(path);
  if (path.size() >= 6 && path.substr(path.size() - 6) == ".jsonl") {
    std::string line, chosen;
    int64_t at = 0;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++at;
      if (line_no == 0 || at == line_no) chosen = line;
      if (at == line_no) break;
    }
    if (chosen.empty())
      throw InputError(spec + ": " +
                       (line_no ? "has no line " + std::to_string(line_no) + " (" +
                                      std::to_string(at) + " lines)"
                                : "is empty"));
    return ParseObject(chosen, path + (line_no ? ":" + std::to_string(line_no) : ""));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  return ParseObject(text, path);
}

std::string CompareResults(const Json& a, const Json& b, const std::string& name_a,
                           const std::string& name_b) {
  std::string out = "| field | A | B | B - A | (B - A) / A |\n|---|---|---|---|---|\n";
  int shown = 0;
  for (const std::string& f : BenchServingFields()) {
    const bool ha = a.contains(f), hb = b.contains(f);
    if (!ha && !hb) continue;
    ++shown;
    std::string delta = "", rel = "";
    if (ha && hb && a[f].is_number() && b[f].is_number()) {
      const double x = a[f].get<double>(), y = b[f].get<double>();
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.6g", y - x);
      delta = buf;
      if (x != 0 && std::isfinite(x)) {
        std::snprintf(buf, sizeof buf, "%+.1f %%", 100 * (y - x) / std::fabs(x));
        rel = buf;
      }
    }
    out += "| " + f + " | " + (ha ? Cell(a[f]) : "-") + " | " + (hb ? Cell(b[f]) : "-") + " | " +
           delta + " | " + rel + " |\n";
  }
  if (shown == 0)
    throw InputError(name_a + " and " + name_b +
                     ": neither has a bench_serving field (mean_ttft_ms, output_throughput, ...)");
  return "A: " + name_a + "\nB: " + name_b + "\n\n" + out;
}

}  // namespace npusim
