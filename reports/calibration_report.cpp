#include "reports/calibration_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/config.h"
#include "model/error.h"
#include "reports/format.h"
#include "reports/html.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;
using report::Fixed;
using report::Tidy;

std::string Pct(double e) { return (e >= 0 ? "+" : "") + Fixed(100 * e, 1) + " %"; }

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Indices of the simulated results, largest |error| first (ties by id: stable and deterministic).
std::vector<size_t> ByError(const std::vector<PointResult>& rs) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < rs.size(); ++i) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const bool sa = rs[a].status == "ok", sb = rs[b].status == "ok";
    if (sa != sb) return sa;
    return std::fabs(rs[a].error) > std::fabs(rs[b].error);
  });
  return idx;
}

// " on <device>" after a sum's inline kernels (their first's), or nothing.
std::string TermsDevice(const CalibrationRow& r) {
  return r.terms.empty() ? "" : " on " + r.terms.front().device;
}

std::string What(const CalibrationRow& r) {
  if (r.Derived()) {
    std::string s;
    for (const auto& id : r.of) s += (s.empty() ? "" : r.kind == "ratio" ? " / " : " + ") + id;
    for (const auto& t : r.terms)  // inline kernels: by name, their parameters in the row file
      s += (s.empty() ? "" : " + ") + t.KernelLabel();
    return s + TermsDevice(r);
  }
  if (r.kind == "kernel") {
    std::string s = r.KernelLabel() + " on " + r.device;
    for (const auto& [k, v] : r.params) s += " " + k + "=" + v;
    if (r.host_launches)
      s += " vs " + std::to_string(r.host_launches) + " eager launch (the slower)";
    return s;
  }
  std::string s = std::filesystem::path(r.run).filename().string();
  for (const auto& [k, v] : r.sets) s += " " + k + "=" + v;
  return s + " → " + r.metric;
}

// The setup column: what the row simulates; a simulated sum lists its terms with their figures
// ("scaled_dot_kkt 812 + wy_fast 1954 ... on Ascend910B2"), so the stage that carries a fused
// launch's gap shows.
std::string Setup(const CalibrationRow& r, const PointResult& p) {
  if (p.terms.empty()) return What(r);
  std::string s;
  for (const auto& [what, v] : p.terms) s += (s.empty() ? "" : " + ") + what + " " + Num(v);
  return s + TermsDevice(r);
}

std::string Outcome(const FitOutcome& f) {
  if (!f.failed_rows.empty()) return "not written: fit rows failed: " + f.failed_rows;
  return f.at_bound ? "at bound: modelling gap, not written" : "written";
}

// Simulated vs measured, log-log, y = x and the +-25 % band; one series per role.
void AddScatter(html::Page& page, const Corpus& c, const CalibrationOutput& o) {
  html::Chart chart;
  chart.kind = html::Chart::Kind::kXY;
  chart.title = "simulated vs measured (each row in its own unit)";
  chart.xlabel = "measured";
  chart.ylabel = "simulated";
  chart.logx = chart.logy = true;
  chart.height = 420;
  double lo = 1e300, hi = 0;
  std::map<std::string, html::Series> by_role;
  for (const auto& p : o.results) {
    const CalibrationRow* r = c.Find(p.id);
    if (!r || p.status != "ok" || r->Derived()) continue;
    html::Series& s = by_role[r->role];
    s.name = r->role + " rows";
    s.style = "points";
    s.x.push_back(r->measured);
    s.y.push_back(p.simulated);
    lo = std::min({lo, r->measured, p.simulated});
    hi = std::max({hi, r->measured, p.simulated});
  }
  if (hi > 0) {
    for (auto& [role, s] : by_role) chart.series.push_back(s);
    for (const auto& [name, f] :
         {std::pair<const char*, double>{"y = x", 1.0}, {"+25 %", 1.25}, {"-25 %", 0.75}}) {
      html::Series line;
      line.name = name;
      line.style = "lines";
      line.x = {lo / 2, hi * 2};
      line.y = {lo / 2 * f, hi * 2 * f};
      chart.series.push_back(line);
    }
    page.AddChart(chart,
                  "Each simulated corpus row against its measurement; the band is the default 25 % "
                  "tolerance (rows may set their own).");
  }
}

// Per-row signed error as bars, sorted by error.
void AddErrorBars(html::Page& page, const CalibrationOutput& o) {
  html::Chart bars;
  bars.kind = html::Chart::Kind::kBars;
  bars.title = "error per row (simulated / measured - 1, %)";
  bars.ylabel = "%";
  html::Series err;
  err.name = "error";
  for (size_t i : ByError(o.results)) {
    const PointResult& p = o.results[i];
    if (p.status != "ok") continue;
    bars.categories.push_back(p.id);
    err.y.push_back(100 * p.error);
  }
  bars.series.push_back(err);
  bars.height = std::max(320, 14 * static_cast<int>(bars.categories.size()));
  if (!bars.categories.empty())
    page.AddChart(bars, "Signed error of every simulated row (ratio rows included).");
}

// The calibrate run's results as the fidelity lookups read recorded rows (workloads/fidelity.h).
std::vector<CorpusRow> ResultRows(const Corpus& c, const CalibrationOutput& o) {
  std::vector<CorpusRow> rows;
  for (const PointResult& p : o.results) {
    const CalibrationRow& r = *c.Find(p.id);
    const RowSubject s = Subject(r);
    CorpusRow row{p.id, r.role, r.kind, s.model, s.op, r.metric, s.device, s.setup, p.status};
    if (p.status == "ok") row.error = p.error;
    row.weights = s.weights;
    rows.push_back(row);
  }
  return rows;
}

// Where the check rows lean one way, by trait (CorpusBiases).
std::vector<std::vector<std::string>> BiasTable(const std::vector<CorpusBias>& biases) {
  std::vector<std::vector<std::string>> t;
  for (const CorpusBias& b : biases)
    t.push_back({b.trait, b.value, std::to_string(b.rows.size()), Pct(b.median_speed_error),
                 std::to_string(b.faster), std::to_string(b.slower)});
  return t;
}

// A markdown table after a blank line; nothing for no rows.
std::string MarkdownTable(const std::vector<std::string>& head,
                          const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::string s = "\n";
  for (const auto& h : head) s += "| " + h + " ";
  s += "|\n";
  for (size_t i = 0; i < head.size(); ++i) s += "|---";
  s += "|\n";
  for (const auto& row : rows) {
    for (const auto& x : row) s += "| " + x + " ";
    s += "|\n";
  }
  return s;
}

Json BiasJson(const std::vector<CorpusBias>& biases) {
  Json out = Json::array();
  for (const CorpusBias& b : biases)
    out.push_back({{"trait", b.trait},
                   {"value", b.value},
                   {"rows", b.rows},
                   {"median_speed_error", Tidy(b.median_speed_error)},
                   {"faster", b.faster},
                   {"slower", b.slower}});
  return out;
}

const std::vector<std::string> kBiasTableHead = {
    "trait", "value", "check rows", "median speed error (+: simulated faster)", "faster", "slower"};

// The check rows kernel by kernel.
std::vector<std::vector<std::string>> KernelTable(const std::vector<CorpusRow>& rows) {
  std::vector<std::vector<std::string>> t;
  for (const KernelCheck& k : CorpusKernelChecks(rows))
    if (!k.rows.empty())
      t.push_back({k.op, std::to_string(k.rows.size()), Fixed(100 * k.median_abs, 1) + " %",
                   Fixed(100 * k.worst_abs, 1) + " %", std::to_string(k.faster),
                   std::to_string(k.slower)});
  return t;
}

const std::vector<std::string> kKernelTableHead = {"kernel", "check rows",       "median abs error",
                                                   "worst",  "simulated faster", "slower"};

// The table sorted by |error|, the kernel and lean tables, the fits and the verdict line.
std::string SummaryText(const Corpus& c, const CalibrationOutput& o,
                        const std::vector<CorpusRow>& rows) {
  std::string s =
      "| id | role | simulated | measured | error | tolerance | within | setup "
      "|\n|---|---|---|---|---|---|---|---|\n";
  for (size_t i : ByError(o.results)) {
    const PointResult& p = o.results[i];
    const CalibrationRow& r = *c.Find(p.id);
    s += "| " + p.id + " | " + r.role + " | " + (p.status == "ok" ? Num(p.simulated) : "-") +
         " | " + Num(r.measured) + (r.measured_kind == "cap" ? " (cap)" : "") + " | " +
         (p.status == "ok" ? Pct(p.error) : "-") + " | " + Fixed(100 * r.tolerance, 0) + " % | " +
         (p.status == "ok" ? (p.pass ? "yes" : "**no**")
                           : p.status + (p.message.empty() ? "" : ": " + p.message)) +
         " | " + Setup(r, p) + " |\n";
  }
  s += MarkdownTable(kKernelTableHead, KernelTable(rows));
  s += MarkdownTable(kBiasTableHead, BiasTable(CorpusBiases(rows)));
  if (!o.fits.empty()) {
    s += "\n| fit group | constant | before | fitted | bounds | outcome | rms log error on its "
         "rows |\n|---|---|---|---|---|---|---|\n";
    for (const auto& f : o.fits)
      s += "| " + f.group + " | " + f.target + " " + f.key + " | " + Num(f.before) + " | " +
           Num(f.value) + " | [" + Num(f.lo) + ", " + Num(f.hi) + "] | " + Outcome(f) + " | " +
           Fixed(100 * f.rms_log_error, 1) + " % |\n";
  }
  s += "\n" + o.verdict.Line() + "\n";
  return s;
}

html::Page Page(const Corpus& c, const CalibrationOutput& o,
                const std::vector<CorpusRow>& subjects) {
  html::Page page("npusim calibrate: " + c.dir);
  page.Paragraph(o.verdict.Line());
  AddScatter(page, c, o);
  AddErrorBars(page, o);
  std::vector<std::vector<std::string>> rows;
  for (size_t i : ByError(o.results)) {
    const PointResult& p = o.results[i];
    const CalibrationRow* r = c.Find(p.id);
    rows.push_back({p.id, r->role, p.status == "ok" ? Num(p.simulated) : "-",
                    Num(r->measured) + (r->measured_kind == "cap" ? " (cap)" : ""),
                    p.status == "ok" ? Pct(p.error) : "-", Fixed(100 * r->tolerance, 0) + " %",
                    p.status == "ok" ? (p.pass ? "yes" : "no") : p.status, Setup(*r, p)});
  }
  page.Heading("Rows");
  page.Table({"id", "role", "simulated", "measured", "error", "tolerance", "within", "setup"},
             rows);
  page.Heading("Kernel by kernel (check rows)");
  page.Table(kKernelTableHead, KernelTable(subjects));
  page.Heading("Systematic bias by trait (check rows)");
  page.Paragraph(
      "Check rows grouped by their weights' quantization, model, device and metric; a group whose "
      "rows lean one way points at a cost the model misses for all of them.");
  page.Table(kBiasTableHead, BiasTable(CorpusBiases(subjects)));
  if (!o.fits.empty()) {
    page.Heading("Fitted constants");
    std::vector<std::vector<std::string>> f;
    for (const auto& x : o.fits) {
      const std::string rowlist = JoinIds(x.rows);
      f.push_back({x.group, x.target + " " + x.key, Num(x.before), Num(x.value),
                   "[" + Num(x.lo) + ", " + Num(x.hi) + "]", Outcome(x), rowlist,
                   Fixed(100 * x.rms_log_error, 1) + " %"});
    }
    page.Table(
        {"group", "constant", "before", "fitted", "bounds", "outcome", "fit rows", "rms log error"},
        f);
  }
  return page;
}

}  // namespace

void WriteCalibrationOutputs(const Corpus& c, const CalibrationOutput& o, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir + ": " + ec.message());
  const Verdict& v = o.verdict;
  Json j{{"corpus", o.corpus_dir},
         {"verdict",
          {{"line", v.Line()},
           {"rows", v.rows},
           {"simulated", v.simulated},
           {"needs_feature", v.needs},
           {"failed", v.failed},
           {"check_rows", v.check_rows},
           {"check_within_tolerance", v.check_pass},
           {"check_median_abs_error", Tidy(v.check_median_abs)},
           {"check_worst_abs_error", Tidy(v.check_worst_abs)},
           {"check_worst_row", v.worst_check},
           {"fit_rows", v.fit_rows},
           {"fit_within_tolerance", v.fit_pass},
           {"fit_median_abs_error", Tidy(v.fit_median_abs)}}}};
  Json rows = Json::array();
  std::ostringstream csv;
  csv << "id,role,kind,status,simulated,measured,measured_kind,error,tolerance,within,family,"
         "source\n";
  auto q = [](std::string s) {
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
  };
  for (const auto& p : o.results) {
    const CalibrationRow& r = *c.Find(p.id);
    Json row{{"id", p.id}, {"role", r.role}, {"kind", r.kind}, {"status", p.status}};
    if (p.status == "ok") {
      row["simulated"] = Tidy(p.simulated);
      row["error"] = Tidy(p.error);
      row["within_tolerance"] = p.pass;
    }
    if (!p.message.empty()) row["message"] = p.message;
    for (const auto& [what, v] : p.terms)
      row["terms"].push_back(Json{{"of", what}, {"simulated", Tidy(v)}});
    row["measured"] = r.measured;
    row["measured_kind"] = r.measured_kind;
    row["tolerance"] = r.tolerance;
    row["family"] = r.family;
    row["setup"] = What(r);
    row["source"] = r.source;
    rows.push_back(row);
    csv << p.id << "," << r.role << "," << r.kind << "," << q(p.status) << ","
        << (p.status == "ok" ? Num(p.simulated) : "") << "," << Num(r.measured) << ","
        << r.measured_kind << "," << (p.status == "ok" ? Num(p.error) : "") << "," << r.tolerance
        << "," << (p.status == "ok" ? (p.pass ? "yes" : "no") : "") << "," << q(r.family) << ","
        << q(r.source) << "\n";
  }
  j["rows"] = rows;
  WriteFileOrThrow(dir + "/points.csv", csv.str());
  Json fits = Json::array();
  for (const auto& f : o.fits)
    fits.push_back({{"group", f.group},
                    {"target", f.target},
                    {"key", f.key},
                    {"before", f.before},
                    {"value", Tidy(f.value)},
                    {"bounds", {f.lo, f.hi}},
                    {"at_bound", f.at_bound},
                    {"failed_rows", f.failed_rows},
                    {"rows", f.rows},
                    {"rms_log_error", Tidy(f.rms_log_error)},
                    {"evaluations", f.evals}});
  j["fits"] = fits;
  const std::vector<CorpusRow> subject_rows = ResultRows(c, o);  // every run config read once
  j["bias"] = BiasJson(CorpusBiases(subject_rows));
  WriteFileOrThrow(dir + "/metrics.json", j.dump(2) + "\n");
  WriteFileOrThrow(dir + "/report.md", "# npusim calibrate\n\n- corpus: `" + o.corpus_dir +
                                           "`\n\n" + SummaryText(c, o, subject_rows));
  Page(c, o, subject_rows).Write(dir + "/report.html");
}

Json FidelityJson(const Fidelity& f) {
  Json fitted = Json::array();
  for (const auto& v : f.fitted)
    fitted.push_back({{"file", v.file},
                      {"key", v.key},
                      {"value", v.value},
                      {"group", v.group},
                      {"rows", v.rows}});
  Json unfitted = Json::array();
  for (const auto& v : f.unfitted)
    unfitted.push_back({{"file", v.file},
                        {"key", v.key},
                        {"value", v.value},
                        {"group", v.group},
                        {"rows", v.rows}});
  Json j{{"summary", f.Summary()},
         {"fitted", fitted},
         {"not_fitted", unfitted},
         {"state", f.state_file}};
  if (!f.state_file.empty())
    j["corpus"] = {{"basis", f.basis},
                   {"check_rows", f.check_rows},
                   {"check_median_abs_error", Tidy(f.check_median_abs)},
                   {"check_worst_abs_error", Tidy(f.check_worst_abs)},
                   {"fit_rows", f.fit_rows},
                   {"fit_median_abs_error", Tidy(f.fit_median_abs)},
                   {"bias", BiasJson(f.bias)}};
  return j;
}

namespace {

// One state row: what the row is (from the corpus, so a row's subject follows its config) and
// its recorded outcome (`outcome`: status, and simulated / measured / error when ok).
Json StateRow(const CalibrationRow& r, const Json& outcome) {
  const RowSubject s = Subject(r);
  Json row{{"id", r.id}, {"role", r.role},     {"kind", r.kind},     {"model", s.model},
           {"op", s.op}, {"metric", r.metric}, {"device", s.device}, {"setup", s.setup}};
  if (!s.weights.empty()) row["weights"] = s.weights;
  for (const char* k : {"status", "simulated", "measured", "error"})
    if (outcome.contains(k)) row[k] = outcome.at(k);
  return row;
}

}  // namespace

void RecordCalibrationState(const Corpus& c, const std::vector<PointResult>& results,
                            const std::string& path) {
  std::map<std::string, Json> rows;
  {
    std::ifstream in(path);
    try {
      if (in) {
        const Json old = Json::parse(in);
        for (const auto& r : old.at("rows")) rows[r.at("id").get<std::string>()] = r;
      }
    } catch (const std::exception&) {
      rows.clear();  // an unreadable state is replaced
    }
  }
  for (const PointResult& p : results) {
    const CalibrationRow& r = *c.Find(p.id);
    Json outcome{{"status", p.status == "ok" ? "ok" : p.status}};
    if (p.status == "ok")
      outcome["simulated"] = Tidy(p.simulated), outcome["measured"] = r.measured,
      outcome["error"] = Tidy(p.error);
    rows[p.id] = outcome;
  }
  Json out{{"note", "written by npusim calibrate --record; read by every run's fidelity section"},
           {"rows", Json::array()}};
  for (auto& [id, outcome] : rows)  // rows that left the corpus are dropped
    if (const CalibrationRow* r = c.Find(id)) out["rows"].push_back(StateRow(*r, outcome));
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << out.dump(1) << "\n";
  std::filesystem::rename(tmp, path);
}

std::string CalibrationSummary(const Corpus& c, const CalibrationOutput& o) {
  return SummaryText(c, o, ResultRows(c, o));
}

}  // namespace npusim
