#include "reports/sweep_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "model/error.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;

std::string Label(const SweepRow& r) {
  std::string s;
  for (const auto& [k, v] : r.params) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

Json RowJson(const SweepRow& r) {
  Json j{{"index", r.index}, {"exit_code", r.exit_code}, {"status", r.status}};
  Json p = Json::object();
  for (const auto& [k, v] : r.params) p[k] = v;
  j["params"] = p;
  Json f = Json::object();
  for (const auto& [k, v] : r.figures) f[k] = v;
  j["figures"] = f;
  return j;
}

SweepRow RowFrom(const Json& j) {
  SweepRow r;
  r.index = j.at("index").get<int64_t>();
  r.exit_code = j.at("exit_code").get<int>();
  r.status = j.at("status").get<std::string>();
  for (const auto& [k, v] : j.at("params").items()) r.params.push_back({k, v.get<std::string>()});
  for (const auto& [k, v] : j.at("figures").items()) r.figures[k] = v.get<double>();
  return r;
}

}  // namespace

SweepRow ReadPointResult(int64_t index, const std::vector<std::pair<std::string, std::string>>& params, int exit_code, const std::string& dir) {
  SweepRow r;
  r.index = index;
  r.params = params;
  r.exit_code = exit_code;
  r.status = "exit " + std::to_string(exit_code);
  std::ifstream in(dir + "/metrics.json");
  if (!in) return r;  // invalid input: the run wrote nothing
  Json m;
  try {
    m = Json::parse(in);
  } catch (const std::exception&) {
    return r;
  }
  if (m.contains("status")) r.status = m["status"].get<std::string>();
  auto take = [&](const char* name, std::initializer_list<const char*> path) {
    const Json* at = &m;
    for (const char* p : path) {
      if (!at->contains(p)) return;
      at = &(*at)[p];
    }
    if (at->is_number()) r.figures[name] = at->get<double>();
  };
  take("ttft_mean_ms", {"ttft_ms", "mean"});
  take("ttft_p99_ms", {"ttft_ms", "p99"});
  take("tpot_mean_ms", {"tpot_ms", "mean"});
  take("tpot_p99_ms", {"tpot_ms", "p99"});
  take("output_throughput", {"output_throughput"});
  take("accept_length", {"accept_length"});
  take("commit_ms_per_verify_step", {"mtp_commit", "ms_per_verify_step"});
  take("time_us", {"time_us"});
  take("roofline_us", {"roofline_us"});
  return r;
}

void WriteSweepOutputs(const SweepTable& t, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir + ": " + ec.message());
  Json j{{"config", t.config}, {"shard", t.shard}, {"total_points", t.total}};
  Json rows = Json::array();
  for (const SweepRow& r : t.rows) rows.push_back(RowJson(r));
  j["points"] = rows;
  j["missing"] = t.missing;
  j["duplicates"] = t.duplicates;
  std::ofstream(dir + "/sweep.json") << j.dump(2) << "\n";
  std::set<std::string> names;
  for (const SweepRow& r : t.rows)
    for (const auto& [k, v] : r.figures) names.insert(k);
  std::ofstream csv(dir + "/summary.csv");
  csv << "index,point,status,exit_code";
  for (const auto& n : names) csv << "," << n;
  csv << "\n";
  std::string md = "# npusim sweep\n\n- config: `" + t.config + "`, shard " + t.shard + ", " + std::to_string(t.rows.size()) + " of " +
                   std::to_string(t.total) + " points\n";
  if (!t.missing.empty()) md += "- missing points: " + std::to_string(t.missing.size()) + "\n";
  if (!t.duplicates.empty()) md += "- duplicate points: " + std::to_string(t.duplicates.size()) + "\n";
  md += "\n| index | point | status |";
  for (const auto& n : names) md += " " + n + " |";
  md += "\n|---|---|---|";
  for (size_t i = 0; i < names.size(); ++i) md += "---|";
  md += "\n";
  for (const SweepRow& r : t.rows) {
    csv << r.index << ",\"" << Label(r) << "\"," << r.status << "," << r.exit_code;
    md += "| " + std::to_string(r.index) + " | " + Label(r) + " | " + r.status + " |";
    for (const auto& n : names) {
      auto it = r.figures.find(n);
      char buf[64] = "";
      if (it != r.figures.end()) std::snprintf(buf, sizeof buf, "%.6g", it->second);
      csv << "," << buf;
      md += std::string(" ") + buf + " |";
    }
    csv << "\n";
    md += "\n";
  }
  std::ofstream(dir + "/report.md") << md;
}

SweepTable MergeSweeps(const std::vector<std::string>& dirs) {
  SweepTable t;
  t.shard = "merged";
  std::map<int64_t, SweepRow> by_index;
  for (const std::string& d : dirs) {
    std::ifstream in(d + "/sweep.json");
    if (!in) throw InputError("merge: " + d + " has no sweep.json (not a sweep output directory)");
    Json j;
    try {
      j = Json::parse(in);
    } catch (const std::exception& e) {
      throw InputError("merge: " + d + "/sweep.json: " + e.what());
    }
    const std::string config = j.at("config").get<std::string>();
    const int64_t total = j.at("total_points").get<int64_t>();
    if (t.config.empty()) t.config = config, t.total = total;
    if (config != t.config || total != t.total)
      throw InputError("merge: " + d + " comes from sweep " + config + " (" + std::to_string(total) + " points), the first from " + t.config +
                       " (" + std::to_string(t.total) + ")");
    for (const auto& p : j.at("points")) {
      SweepRow r = RowFrom(p);
      if (by_index.count(r.index)) t.duplicates.push_back(r.index);
      else by_index[r.index] = std::move(r);
    }
  }
  for (int64_t i = 0; i < t.total; ++i)
    if (!by_index.count(i)) t.missing.push_back(i);
  for (auto& [i, r] : by_index) t.rows.push_back(std::move(r));
  return t;
}

}  // namespace npusim
