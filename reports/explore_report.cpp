#include "reports/explore_report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "reports/format.h"

#include "model/error.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;
std::string F(double v, int digits = 3) { return report::Fixed(v, digits); }


std::string Label(const ExplorePoint& p) {
  std::string s;
  for (const auto& [k, v] : p.device_values) s += (s.empty() ? "" : " ") + k + "=" + v;
  for (const auto& [k, v] : p.params) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s.empty() ? "(defaults)" : s;
}

// "fits" or "ub_overflow: 2097152 > 1572864 bits" etc.
std::string Status(const ExplorePoint& p) {
  if (p.status == "ok") return "fits";
  if (p.required_bits > 0) return p.status + ": requires " + std::to_string(p.required_bits) + " bits, " + std::to_string(p.available_bits) + " available";
  return p.status;
}

}  // namespace

std::string ExploreSummary(const ExploreResult& r) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  line("explore " + r.config.kernel + " from " + r.config.file + ": " + std::to_string(r.points.size()) + " points");
  line("");
  line("| device | point | status | time us | bound | % roofline | UB peak B |");
  line("|---|---|---|---|---|---|---|");
  for (const ExplorePoint& p : r.points)
    line("| " + p.device + " | " + Label(p) + " | " + Status(p) + " | " + (p.status == "ok" ? F(p.time_us) : "-") + " | " +
         (p.status == "ok" ? p.bound : "-") + " | " + (p.status == "ok" && p.time_us > 0 ? F(100 * p.roofline_us / p.time_us, 1) : "-") +
         " | " + (p.status == "ok" ? std::to_string(p.ub_peak) : "-") + " |");
  line("");
  if (r.fastest >= 0) {
    const ExplorePoint& f = r.points[static_cast<size_t>(r.fastest)];
    line("fastest that fits: " + f.device + " " + Label(f) + ", " + F(f.time_us) + " us, UB peak " + std::to_string(f.ub_peak) + " B");
  } else {
    line("no point fits");
  }
  std::string front;
  for (int i : r.pareto) {
    const ExplorePoint& p = r.points[static_cast<size_t>(i)];
    front += "\n  " + F(p.time_us) + " us, UB " + std::to_string(p.ub_peak) + " B: " + p.device + " " + Label(p);
  }
  if (!front.empty()) line("Pareto front (time vs UB peak):" + front);
  return o;
}

void WriteExploreOutputs(const ExploreResult& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir + ": " + ec.message());
  Json j;
  j["kernel"] = r.config.kernel;
  j["config"] = r.config.file;
  Json pts = Json::array();
  for (const ExplorePoint& p : r.points) {
    Json q;
    q["device"] = p.device;
    for (const auto& [k, v] : p.device_values) q["device_values"][k] = v;
    for (const auto& [k, v] : p.params) q["params"][k] = v;
    q["status"] = p.status;
    if (p.status != "ok") q["message"] = p.message;
    if (p.required_bits > 0) q["required_bits"] = p.required_bits, q["available_bits"] = p.available_bits;
    q["time_us"] = p.time_us;
    q["roofline_us"] = p.roofline_us;
    q["bound"] = p.bound;
    q["ub_peak_bytes"] = p.ub_peak;
    q["l1_peak_bytes"] = p.l1_peak;
    q["l0a_peak_bytes"] = p.l0a_peak;
    q["l0b_peak_bytes"] = p.l0b_peak;
    q["l0c_peak_bytes"] = p.l0c_peak;
    q["ub_bytes"] = p.ub_bytes;
    pts.push_back(q);
  }
  j["points"] = pts;
  j["fastest"] = r.fastest;
  j["pareto"] = r.pareto;
  std::ofstream(dir + "/metrics.json") << j.dump(2) << "\n";
  std::ofstream csv(dir + "/points.csv");
  csv << "index,device,point,status,required_bits,available_bits,time_us,bound,roofline_us,ub_peak_bytes,l1_peak_bytes,ub_bytes\n";
  for (size_t i = 0; i < r.points.size(); ++i) {
    const ExplorePoint& p = r.points[i];
    csv << i << "," << p.device << ",\"" << Label(p) << "\"," << p.status << "," << p.required_bits << "," << p.available_bits << "," << F(p.time_us)
        << "," << p.bound << "," << F(p.roofline_us) << "," << p.ub_peak << "," << p.l1_peak << "," << p.ub_bytes << "\n";
  }
  std::ofstream(dir + "/report.md") << "# npusim kernel exploration\n\n" << ExploreSummary(r);
}

}  // namespace npusim
