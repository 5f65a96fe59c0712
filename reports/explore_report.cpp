#include "reports/explore_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/error.h"
#include "reports/format.h"
#include "reports/html.h"

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
  if (p.required_bits > 0)
    return p.status + ": requires " + std::to_string(p.required_bits) + " bits, " +
           std::to_string(p.available_bits) + " available";
  return p.status;
}

}  // namespace

std::string ExploreSummary(const ExploreResult& r) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  line("explore " + r.config.kernel + " from " + r.config.file + ": " +
       std::to_string(r.points.size()) + " points");
  line("");
  line("| device | point | status | time us | bound | % roofline | UB peak B |");
  line("|---|---|---|---|---|---|---|");
  for (const ExplorePoint& p : r.points)
    line("| " + p.device + " | " + Label(p) + " | " + Status(p) + " | " +
         (p.status == "ok" ? F(p.time_us) : "-") + " | " + (p.status == "ok" ? p.bound : "-") +
         " | " + (p.status == "ok" && p.time_us > 0 ? F(100 * p.roofline_us / p.time_us, 1) : "-") +
         " | " + (p.status == "ok" ? std::to_string(p.ub_peak) : "-") + " |");
  line("");
  if (r.fastest >= 0) {
    const ExplorePoint& f = r.points[static_cast<size_t>(r.fastest)];
    line("fastest that fits: " + f.device + " " + Label(f) + ", " + F(f.time_us) + " us, UB peak " +
         std::to_string(f.ub_peak) + " B");
  } else {
    line("no point fits");
  }
  std::string front;
  for (int i : r.pareto) {
    const ExplorePoint& p = r.points[static_cast<size_t>(i)];
    front += "\n  " + F(p.time_us) + " us, UB " + std::to_string(p.ub_peak) + " B: " + p.device +
             " " + Label(p);
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
    if (p.required_bits > 0)
      q["required_bits"] = p.required_bits, q["available_bits"] = p.available_bits;
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
  WriteFileOrThrow(dir + "/metrics.json", j.dump(2) + "\n");
  std::ostringstream csv;
  csv << "index,device,point,status,required_bits,available_bits,time_us,bound,roofline_us,ub_peak_"
         "bytes,l1_peak_bytes,ub_bytes\n";
  for (size_t i = 0; i < r.points.size(); ++i) {
    const ExplorePoint& p = r.points[i];
    csv << i << "," << p.device << ",\"" << Label(p) << "\"," << p.status << "," << p.required_bits
        << "," << p.available_bits << "," << F(p.time_us) << "," << p.bound << ","
        << F(p.roofline_us) << "," << p.ub_peak << "," << p.l1_peak << "," << p.ub_bytes << "\n";
  }
  WriteFileOrThrow(dir + "/points.csv", csv.str());
  WriteFileOrThrow(dir + "/report.md", "# npusim kernel exploration\n\n" + ExploreSummary(r));
  ExplorePage(r).Write(dir + "/report.html");
}

namespace {

// Bars are labelled by the swept values only ("196608 float32 2 2"), the keys in the axis title.
bool DevicesDiffer(const ExploreResult& r) {
  for (const ExplorePoint& q : r.points)
    if (q.device != r.points.front().device) return true;
  return false;
}

std::string AxisKeys(const ExploreResult& r) {
  std::string keys = DevicesDiffer(r) ? "device" : "";
  if (!r.points.empty()) {
    for (const auto& [k, v] : r.points.front().device_values)
      keys += (keys.empty() ? "" : " / ") + k;
    for (const auto& [k, v] : r.points.front().params) keys += (keys.empty() ? "" : " / ") + k;
  }
  return keys;
}

std::string PointName(const ExplorePoint& p, bool devices_differ) {
  std::string s = devices_differ ? p.device : "";
  for (const auto& [k, v] : p.device_values) s += (s.empty() ? "" : " ") + v;
  for (const auto& [k, v] : p.params) s += (s.empty() ? "" : " ") + v;
  return s;
}

// Time against UB use: every fitting point, the Pareto front joined up.
html::Chart ParetoChart(const ExploreResult& r) {
  html::Chart pareto;
  pareto.kind = html::Chart::Kind::kXY;
  pareto.xlabel = "UB peak (KiB)";
  pareto.ylabel = "time (us)";
  html::Series all{"fits", {}, {}, "points"}, front{"Pareto front", {}, {}, "linespoints"};
  for (const ExplorePoint& p : r.points)
    if (p.status == "ok")
      all.x.push_back(static_cast<double>(p.ub_peak) / 1024), all.y.push_back(p.time_us);
  std::vector<std::pair<double, double>> fp;
  for (int i : r.pareto)
    fp.push_back({static_cast<double>(r.points[static_cast<size_t>(i)].ub_peak) / 1024,
                  r.points[static_cast<size_t>(i)].time_us});
  std::sort(fp.begin(), fp.end());
  for (const auto& [x, y] : fp) front.x.push_back(x), front.y.push_back(y);
  pareto.series = {all, front};
  return pareto;
}

// What each point needs of the UB against what there is (an overflow's bits from its message),
// and each point's time.
void AddPointCharts(html::Page& page, const ExploreResult& r, int fits) {
  const std::string keys = AxisKeys(r);
  const bool devices_differ = DevicesDiffer(r);
  html::Chart need;
  need.ylabel = "UB (KiB)";
  need.xlabel = keys;
  need.height = 400;
  html::Series needed{"UB needed", {}, {}, ""}, have{"UB available", {}, {}, ""};
  html::Chart time;
  time.ylabel = "time (us)";
  time.xlabel = keys + " (no bar: does not fit)";
  time.height = 400;
  html::Series t{"time", {}, {}, ""};
  for (const ExplorePoint& p : r.points) {
    need.categories.push_back(PointName(p, devices_differ));
    time.categories.push_back(need.categories.back());
    const double avail = p.available_bits > 0 ? static_cast<double>(p.available_bits) / 8192
                                              : static_cast<double>(p.ub_bytes) / 1024;
    needed.y.push_back(p.status == "ok"      ? static_cast<double>(p.ub_peak) / 1024
                       : p.required_bits > 0 ? static_cast<double>(p.required_bits) / 8192
                                             : NAN);
    have.y.push_back(avail);
    t.y.push_back(p.status == "ok" ? p.time_us : NAN);
  }
  need.series = {needed, have};
  t.name = "time";
  time.series = {t};
  page.AddChart(need,
                "UB each point needs (peak if it fits, the overflow's requirement if not) vs the "
                "UB there is");
  if (fits > 0) page.AddChart(time, "Kernel time per point");
}

}  // namespace

html::Page ExplorePage(const ExploreResult& r) {
  html::Page page("npusim kernel exploration: " + r.config.kernel);
  int fits = 0;
  for (const ExplorePoint& p : r.points) fits += p.status == "ok";
  std::string fastest = "none fits";
  if (r.fastest >= 0) {
    const ExplorePoint& f = r.points[static_cast<size_t>(r.fastest)];
    fastest = f.device + " " + Label(f) + ": " + F(f.time_us) + " us, UB peak " +
              std::to_string(f.ub_peak) + " B";
  }
  page.Facts({{"kernel", r.config.kernel},
              {"config", r.config.file},
              {"points", std::to_string(r.points.size()) + " (" + std::to_string(fits) + " fit, " +
                             std::to_string(r.points.size() - fits) + " do not)"},
              {"fastest that fits", fastest}});
  if (fits > 0)
    page.AddChart(ParetoChart(r), "Time vs UB use of the points that fit; the Pareto front joined");
  AddPointCharts(page, r, fits);
  std::vector<std::vector<std::string>> rows;
  for (const ExplorePoint& p : r.points)
    rows.push_back({p.device, Label(p), Status(p), p.status == "ok" ? F(p.time_us) : "-",
                    p.status == "ok" ? p.bound : "-",
                    p.status == "ok" && p.time_us > 0 ? F(100 * p.roofline_us / p.time_us, 1) : "-",
                    p.status == "ok" ? std::to_string(p.ub_peak) : "-"});
  page.Heading("Points");
  page.Table({"device", "point", "status", "time us", "bound", "% roofline", "UB peak B"}, rows);
  return page;
}

}  // namespace npusim
