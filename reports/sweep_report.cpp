#include "reports/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/error.h"
#include "reports/html.h"

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

// One chart per figure against the first swept key, one line per combination of the other keys
// (keys tied to the first, such as speculative_num_draft_tokens to speculative_num_steps, do not
// split lines). Non-numeric first keys get grouped bars.
// One chart per figure against the first swept key, one line per combination of the keys that
// are not a function of it (bars when that key is not a number).
void AddSweepCharts(html::Page& page, const SweepTable& t, const std::set<std::string>& figures) {
  if (t.rows.empty() || t.rows.front().params.empty()) return;
  const std::string xkey = t.rows.front().params.front().first;
  const auto value = [](const SweepRow& r, const std::string& k) {
    for (const auto& [key, v] : r.params)
      if (key == k) return v;
    return std::string();
  };
  bool numeric = true;
  for (const SweepRow& r : t.rows) {
    char* end = nullptr;
    const std::string v = value(r, xkey);
    std::strtod(v.c_str(), &end);
    numeric &= !v.empty() && *end == '\0';
  }
  std::vector<std::string> split;  // keys that are not a function of xkey
  for (const auto& [k, v0] : t.rows.front().params) {
    if (k == xkey) continue;
    std::map<std::string, std::string> seen;
    bool tied = true;
    for (const SweepRow& r : t.rows) {
      auto [it, fresh] = seen.emplace(value(r, xkey), value(r, k));
      tied &= fresh || it->second == value(r, k);
    }
    if (!tied) split.push_back(k);
  }
  const auto line_of = [&](const SweepRow& r) {
    std::string s;
    for (const auto& k : split) s += (s.empty() ? "" : " ") + k + "=" + value(r, k);
    return s.empty() ? std::string("all") : s;
  };
  std::vector<std::string> lines, xs;
  for (const SweepRow& r : t.rows) {
    if (std::find(lines.begin(), lines.end(), line_of(r)) == lines.end())
      lines.push_back(line_of(r));
    if (std::find(xs.begin(), xs.end(), value(r, xkey)) == xs.end()) xs.push_back(value(r, xkey));
  }
  for (const std::string& fig : figures) {
    html::Chart c;
    c.kind = numeric ? html::Chart::Kind::kXY : html::Chart::Kind::kBars;
    c.xlabel = xkey;
    c.ylabel = fig;
    c.height = 280;
    if (!numeric) c.categories = xs;
    if (numeric) {  // values spanning decades (1 .. 4096 tokens) read better on a log axis
      double lo = 1e300, hi = -1e300;
      for (const auto& x : xs) lo = std::min(lo, std::stod(x)), hi = std::max(hi, std::stod(x));
      c.logx = lo > 0 && hi / lo >= 100;
    }
    for (const std::string& l : lines) {
      html::Series se{l, {}, {}, "linespoints"};
      if (!numeric) se.y.assign(xs.size(), NAN);
      for (const SweepRow& r : t.rows) {
        if (line_of(r) != l) continue;
        auto it = r.figures.find(fig);
        const double y = it == r.figures.end() || r.status != "ok" ? NAN : it->second;
        if (numeric) {
          se.x.push_back(std::stod(value(r, xkey)));
          se.y.push_back(y);
        } else {
          se.y[static_cast<size_t>(std::find(xs.begin(), xs.end(), value(r, xkey)) - xs.begin())] =
              y;
        }
      }
      c.series.push_back(se);
    }
    page.AddChart(c, fig + " vs " + xkey + " (failed points left out)");
  }
}

html::Page SweepPage(const SweepTable& t, const std::set<std::string>& figures) {
  html::Page page(t.shard == "merged" ? "npusim sweep (merged): " +
                                            std::filesystem::path(t.config).filename().string()
                                      : "npusim sweep, shard " + t.shard + ": " +
                                            std::filesystem::path(t.config).filename().string());
  std::string missing;
  for (int64_t i : t.missing) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  page.Facts({{"config", t.config},
              {"points", std::to_string(t.rows.size()) + " of " + std::to_string(t.total)},
              {"missing", missing.empty() ? "none" : missing},
              {"duplicates", std::to_string(t.duplicates.size())}});
  AddSweepCharts(page, t, figures);
  std::vector<std::string> header = {"index", "point", "status"};
  header.insert(header.end(), figures.begin(), figures.end());
  std::vector<std::vector<std::string>> rows;
  for (const SweepRow& r : t.rows) {
    std::vector<std::string> row = {std::to_string(r.index), Label(r), r.status};
    for (const auto& n : figures) {
      auto it = r.figures.find(n);
      char buf[64] = "";
      if (it != r.figures.end()) std::snprintf(buf, sizeof buf, "%.6g", it->second);
      row.push_back(buf);
    }
    rows.push_back(row);
  }
  page.Heading("Points");
  page.Table(header, rows);
  return page;
}

}  // namespace

SweepRow ReadPointResult(int64_t index,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         int exit_code, const std::string& dir) {
  SweepRow r;
  r.index = index;
  r.params = params;
  r.exit_code = exit_code;
  r.status = exit_code == 124
                 ? "timeout"
                 : "exit " + std::to_string(exit_code);  // 124: killed at --point-timeout
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
  take("ttft_mean_ms", {"mean_ttft_ms"});
  take("ttft_p99_ms", {"p99_ttft_ms"});
  take("tpot_mean_ms", {"mean_tpot_ms"});
  take("tpot_p99_ms", {"p99_tpot_ms"});
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
  Json j{{"config", t.config}, {"grid", t.grid}, {"shard", t.shard}, {"total_points", t.total}};
  Json rows = Json::array();
  for (const SweepRow& r : t.rows) rows.push_back(RowJson(r));
  j["points"] = rows;
  j["missing"] = t.missing;
  j["duplicates"] = t.duplicates;
  WriteFileOrThrow(dir + "/sweep.json", j.dump(2) + "\n");
  std::set<std::string> names;
  for (const SweepRow& r : t.rows)
    for (const auto& [k, v] : r.figures) names.insert(k);
  std::ostringstream csv;
  csv << "index,point,status,exit_code";
  for (const auto& n : names) csv << "," << n;
  csv << "\n";
  std::string md = "# npusim sweep\n\n- config: `" + t.config + "`, shard " + t.shard + ", " +
                   std::to_string(t.rows.size()) + " of " + std::to_string(t.total) + " points\n";
  if (!t.missing.empty()) md += "- missing points: " + std::to_string(t.missing.size()) + "\n";
  if (!t.duplicates.empty())
    md += "- duplicate points: " + std::to_string(t.duplicates.size()) + "\n";
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
  WriteFileOrThrow(dir + "/summary.csv", csv.str());
  WriteFileOrThrow(dir + "/report.md", md);
  SweepPage(t, names).Write(dir + "/report.html");
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
    // A sweep.json edited or written by something else: every shape mistake is the file's fault,
    // and the point count must be one a sweep could have (it sizes the missing-point list).
    std::string config, grid;
    int64_t total = 0;
    try {
      config = j.at("config").get<std::string>();
      if (!j.contains("grid"))
        throw InputError(
            "has no grid id (written before npusim checked what shards are made of): rerun that "
            "shard");
      grid = j.at("grid").get<std::string>();
      total = j.at("total_points").get<int64_t>();
      if (total < 0 || total > 10000000)
        throw InputError("total_points " + std::to_string(total) +
                         " is not a sweep's point count (0 .. 1e7)");
      // The grid id, not the path: one config named two ways merges, an edited one does not.
      if (t.grid.empty()) t.config = config, t.total = total, t.grid = grid;
      if (grid != t.grid || total != t.total)
        throw InputError("comes from sweep " + config + " (grid " + grid + ", " +
                         std::to_string(total) + " points), the first shard from " + t.config +
                         " (grid " + t.grid + ", " + std::to_string(t.total) +
                         "): the sweep or its run config changed between shards; rerun them all");
      for (const auto& p : j.at("points")) {
        SweepRow r = RowFrom(p);
        if (r.index < 0 || r.index >= total)
          throw InputError("point index " + std::to_string(r.index) + " is outside the sweep's " +
                           std::to_string(total) + " points");
        if (by_index.count(r.index))
          t.duplicates.push_back(r.index);
        else
          by_index[r.index] = std::move(r);
      }
    } catch (const InputError& e) {
      throw InputError("merge: " + d + "/sweep.json: " + e.what());
    } catch (const Json::exception& e) {
      throw InputError("merge: " + d + "/sweep.json is not a sweep table: " + e.what());
    }
  }
  for (int64_t i = 0; i < t.total; ++i)
    if (!by_index.count(i)) t.missing.push_back(i);
  for (auto& [i, r] : by_index) t.rows.push_back(std::move(r));
  return t;
}

}  // namespace npusim
