#include "workloads/calibration.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "model/parse_memo.h"
#include "model/text.h"

namespace npusim {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kRowKeys = {
    "id",     "source",   "note",          "role",   "status", "tolerance", "kernel", "device",
    "params", "launch",   "host_launches", "host",   "run",    "set",       "metric", "ratio",
    "sum",    "measured", "measured_kind", "family", "slow",   "bytes"};

std::string Str(const YAML::Node& n, const std::string& file, const char* key,
                const std::string& def = "") {
  const YAML::Node v = n[key];
  if (!v) return def;
  if (!v.IsScalar()) throw InputError(Where(file, v) + ": '" + key + "' takes a single value");
  return v.Scalar();
}

double Num(const YAML::Node& n, const std::string& file, const char* key, double def, double lo,
           double hi) {
  const YAML::Node v = n[key];
  if (!v) return def;
  double x = 0;
  try {
    x = v.as<double>();
  } catch (const YAML::Exception&) {
    throw InputError(Where(file, v) + ": '" + key + "' takes a number, got '" +
                     (v.IsScalar() ? v.Scalar() : "a collection") + "'");
  }
  if (!(x >= lo && x <= hi))
    throw InputError(Where(file, v) + ": '" + key + "' = " + FormatNumber(x) + " is outside [" +
                     FormatNumber(lo) + ", " + FormatNumber(hi) + "]");
  return x;
}

// The text of a scalar node; a list or mapping where a scalar belongs is bad input, not a
// yaml-cpp conversion error.
std::string ScalarText(const YAML::Node& v, const std::string& file, const std::string& what) {
  if (!v.IsScalar())
    throw InputError(Where(file, v) + ": " + what + " takes a single value, got a " +
                     (v.IsSequence() ? "list"
                      : v.IsMap()    ? "mapping"
                                     : "null"));
  return v.Scalar();
}

KeyValues Map(const YAML::Node& n, const std::string& file, const char* key) {
  KeyValues out;
  const YAML::Node v = n[key];
  if (!v) return out;
  if (!v.IsMap()) throw InputError(Where(file, v) + ": '" + key + "' maps names to values");
  for (const auto& kv : v) {
    const std::string name = ScalarText(kv.first, file, std::string("a name in '") + key + "'");
    if (!kv.second.IsScalar() && !kv.second.IsSequence())
      throw InputError(Where(file, kv.second) + ": '" + key + "." + name +
                       "' takes a value or a list");
    std::string value;
    if (kv.second.IsScalar()) {
      value = kv.second.Scalar();
    } else {
      for (const auto& item : kv.second)
        value += (value.empty() ? "" : ",") +
                 ScalarText(item, file, "'" + std::string(key) + "." + name + "'");
    }
    out.emplace_back(name, value);
  }
  return out;
}

void OneOf(const YAML::Node& n, const std::string& file, const char* key, const std::string& value,
           const std::vector<std::string>& valid) {
  if (std::find(valid.begin(), valid.end(), value) == valid.end())
    throw InputError(Where(file, n[key]) + ": '" + key + "' cannot be '" + value + "'" +
                     NearestHint(value, valid));
}

// The kernel part of a row (kernel, device, params, launch): a kernel row's, or an inline term's.
void ReadKernel(const YAML::Node& n, const std::string& file, CalibrationRow& r) {
  r.kind = "kernel";
  r.kernel = Str(n, file, "kernel");
  r.device = Str(n, file, "device", "Ascend910B3");
  r.params = Map(n, file, "params");
  r.launch = Str(n, file, "launch");
}

// One entry of a sum: another row's id, or a kernel written inline (`{kernel: ..., device: ...,
// params: {...}, launch: ...}`), which becomes a term of the sum `r` at position `i`.
void ReadSumEntry(const YAML::Node& e, const std::string& file, size_t i, CalibrationRow& r) {
  if (!e.IsMap()) {
    r.of.push_back(ScalarText(e, file, "a 'sum' row id"));
    return;
  }
  RequireKnownKeys(e, file, {"kernel", "device", "params", "launch"});
  if (!e["kernel"])
    throw InputError(Where(file, e) +
                     ": an inline 'sum' term is a kernel: {kernel, device, params, launch}");
  CalibrationRow t;
  ReadKernel(e, file, t);
  t.id = r.id + "/" + std::to_string(i);
  t.status = r.status;  // a sum that needs a feature does not simulate its terms either
  t.file = file;
  t.source = r.source;
  t.family = r.family;
  t.metric = "time_us";
  r.terms.push_back(std::move(t));
}

CalibrationRow ReadRow(const std::string& file) {
  const YAML::Node n = LoadYamlFile(file);
  if (!n.IsMap())
    throw InputError(file + ": a calibration row is a mapping (id, source, role, measured, ...)");
  RequireKnownKeys(n, file, kRowKeys);
  CalibrationRow r;
  r.file = file;
  r.id = Str(n, file, "id");
  if (r.id.empty()) throw InputError(file + ": missing key 'id'");
  r.source = Str(n, file, "source");
  if (r.source.empty())
    throw InputError(file +
                     ": missing key 'source' (every measured point names where it comes from)");
  r.note = Str(n, file, "note");
  r.role = Str(n, file, "role", "check");
  OneOf(n, file, "role", r.role, {"fit", "check"});
  r.status = Str(n, file, "status", "ok");
  if (r.status != "ok" && r.status.rfind("needs ", 0) != 0)
    throw InputError(Where(file, n["status"]) + ": 'status' is ok or 'needs <feature>', got '" +
                     r.status + "'");
  r.tolerance = Num(n, file, "tolerance", 0.25, 0.001, 10);
  r.family = Str(n, file, "family");
  const std::string slow = Str(n, file, "slow", "false");
  OneOf(n, file, "slow", slow, {"true", "false"});
  r.slow = slow == "true";
  r.measured = Num(n, file, "measured", 0, 1e-12, 1e15);
  if (!n["measured"]) throw InputError(file + ": missing key 'measured'");
  r.measured_kind = Str(n, file, "measured_kind", "value");
  OneOf(n, file, "measured_kind", r.measured_kind, {"value", "cap"});
  const int kinds =
      (n["kernel"] ? 1 : 0) + (n["run"] ? 1 : 0) + (n["ratio"] ? 1 : 0) + (n["sum"] ? 1 : 0);
  if (kinds != 1)
    throw InputError(file + ": a row has exactly one of 'kernel', 'run', 'ratio' or 'sum'");
  if (n["kernel"]) {
    ReadKernel(n, file, r);
    r.host_launches = static_cast<int64_t>(Num(n, file, "host_launches", 0, 0, 1e6));
    r.host = Str(n, file, "host", r.host_launches ? "sglang-ascend" : "");
    r.metric = Str(n, file, "metric", "time_us");
    r.bytes = Num(n, file, "bytes", 0, 0, 1e15);
    if ((r.metric == "bandwidth_gbps") != (r.bytes > 0))
      throw InputError(Where(file, n["bytes"] ? n["bytes"] : n["metric"]) +
                       ": metric bandwidth_gbps and 'bytes' go together (the row's bandwidth is "
                       "bytes / time)");
  } else if (n["run"]) {
    r.kind = "run";
    const std::string run = Str(n, file, "run");
    r.run = fs::path(run).is_absolute()
                ? run
                : (fs::path(file).parent_path() / run).lexically_normal().string();
    r.sets = Map(n, file, "set");
    r.metric = Str(n, file, "metric");
    if (r.metric.empty())
      throw InputError(
          file + ": a run row needs 'metric' (a dotted path into metrics.json, e.g. mean_tpot_ms)");
  } else if (n["ratio"]) {
    r.kind = "ratio";
    const YAML::Node v = n["ratio"];
    if (!v.IsSequence() || v.size() != 2)
      throw InputError(Where(file, v) + ": 'ratio' lists two row ids: [numerator, denominator]");
    for (const auto& id : v) r.of.push_back(ScalarText(id, file, "a 'ratio' row id"));
  } else {
    r.kind = "sum";
    const YAML::Node v = n["sum"];
    if (!v.IsSequence() || v.size() < 2)
      throw InputError(Where(file, v) +
                       ": 'sum' lists two or more row ids or inline kernels: [a, b, ...]");
    for (size_t i = 0; i < v.size(); ++i) ReadSumEntry(v[i], file, i, r);
    r.metric = Str(n, file, "metric", "time_us");
    if (!r.terms.empty() && r.metric != "time_us")
      throw InputError(Where(file, n["metric"]) +
                       ": a sum with inline kernels adds their time_us: its metric is time_us");
  }
  for (const char* k : {"params", "launch", "host_launches", "host", "bytes"})
    if (n[k] && r.kind != "kernel")
      throw InputError(Where(file, n[k]) + ": '" + k + "' belongs to kernel rows");
  if (n["set"] && r.kind != "run")
    throw InputError(Where(file, n["set"]) + ": 'set' belongs to run rows");
  return r;
}

std::vector<FitGroup> ParseGroups(const std::string& text, const std::string& file) {
  std::vector<FitGroup> groups;
  const YAML::Node root = LoadYamlString(text, file);
  if (!root.IsMap() || !root["groups"] || !root["groups"].IsSequence())
    throw InputError(file + ": fit.yaml holds 'groups', a list of {name, why, constants, rows}");
  RequireKnownKeys(root, file, {"groups"});
  for (const auto& g : root["groups"]) {
    RequireKnownKeys(g, file, {"name", "why", "constants", "rows"});
    FitGroup fg;
    fg.name = Str(g, file, "name");
    fg.why = Str(g, file, "why");
    if (!g["constants"] || !g["constants"].IsSequence() || !g["rows"] || !g["rows"].IsSequence())
      throw InputError(Where(file, g) + ": a fit group lists 'constants' and 'rows'");
    for (const auto& c : g["constants"]) {
      RequireKnownKeys(c, file, {"target", "key", "bounds", "start", "why"});
      FitConstant fc;
      fc.target = Str(c, file, "target");
      fc.key = Str(c, file, "key");
      fc.why = Str(c, file, "why");
      const YAML::Node b = c["bounds"];
      if (!b || !b.IsSequence() || b.size() != 2)
        throw InputError(Where(file, c) + ": 'bounds' is [lo, hi]");
      try {
        fc.lo = b[0].as<double>();
        fc.hi = b[1].as<double>();
      } catch (const YAML::Exception&) {
        throw InputError(Where(file, b) + ": 'bounds' is [lo, hi], two numbers");
      }
      if (!(fc.lo < fc.hi)) throw InputError(Where(file, b) + ": bounds need lo < hi");
      fc.start = Num(c, file, "start", (fc.lo + fc.hi) / 2, fc.lo, fc.hi);
      if (fc.target.rfind("device:", 0) != 0 && fc.target.rfind("host:", 0) != 0)
        throw InputError(Where(file, c["target"]) +
                         ": 'target' is device:<SoC>[,<SoC>...] or host:<profile>");
      fg.constants.push_back(fc);
    }
    for (const auto& r : g["rows"]) fg.rows.push_back(ScalarText(r, file, "a fit group's row id"));
    groups.push_back(fg);
  }
  return groups;
}

std::vector<FitGroup> ReadGroups(const std::string& file) {
  if (!fs::exists(file)) return {};
  return ParsedOnce<std::vector<FitGroup>>(
      file, ReadConfigFile(file), [&](const std::string& text) { return ParseGroups(text, file); });
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + sep) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

}  // namespace

CalibrationRow ReadRowCheck(const std::string& file) { return ReadRow(file); }

std::vector<FitGroup> LoadFitGroups(const std::string& dir) {
  return ReadGroups(dir + "/fit.yaml");
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

const CalibrationRow* Corpus::Find(const std::string& id) const {
  for (const auto& r : rows)
    if (r.id == id) return &r;
  return nullptr;
}

Corpus LoadCorpus(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw InputError("calibration corpus '" + dir + "' is not a directory");
  Corpus c;
  c.dir = dir;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".yaml" && name != "fit.yaml" && name != "state.yaml")
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::set<std::string> ids;
  for (const auto& f : files) {
    CalibrationRow r = ReadRow(f);
    if (!ids.insert(r.id).second)
      throw InputError(f + ": row id '" + r.id + "' is used by another row");
    c.rows.push_back(std::move(r));
  }
  std::sort(c.rows.begin(), c.rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<std::string> all(ids.begin(), ids.end());
  for (const auto& r : c.rows)
    for (const auto& id : r.of) {
      if (!ids.count(id))
        throw InputError(r.file + ": '" + r.kind + "' names row '" + id +
                         "', which does not exist" + NearestHint(id, all));
      const CalibrationRow* part = c.Find(id);
      if (part->Derived())
        throw InputError(r.file + ": '" + r.kind + "' names row '" + id +
                         "', itself a ratio or sum: name the rows it is made of");
      if (r.kind == "sum" && part->metric != r.metric)
        throw InputError(r.file + ": 'sum' adds row '" + id + "', whose metric is " + part->metric +
                         ", to a " + r.metric + " sum");
    }
  c.groups = LoadFitGroups(dir);
  std::set<std::string> grouped;
  for (const auto& g : c.groups)
    for (const auto& id : g.rows) {
      const CalibrationRow* r = c.Find(id);
      if (!r)
        throw InputError(dir + "/fit.yaml: group '" + g.name + "' names row '" + id +
                         "', which does not exist" + NearestHint(id, all));
      if (r->role != "fit")
        throw InputError(dir + "/fit.yaml: group '" + g.name + "' fits on '" + id + "', a " +
                         r->role + " row");
      grouped.insert(id);
    }
  for (const auto& r : c.rows)
    if (r.role == "fit" && !grouped.count(r.id) && r.status == "ok")
      throw InputError(r.file + ": row '" + r.id +
                       "' has role fit but no group of fit.yaml fits on it");
  return c;
}

std::vector<std::string> TargetFiles(const FitConstant& c) {
  const auto colon = c.target.find(':');
  const std::string kind = c.target.substr(0, colon);
  std::vector<std::string> out;
  for (const auto& name : Split(c.target.substr(colon + 1), ','))
    out.push_back(ConfigDir() + (kind == "device" ? "/devices/" : "/hosts/") + name + ".yaml");
  return out;
}

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

// Index of the line holding the scalar at a dotted key (block-style YAML, as the configs are
// written: one key per line, nesting by indentation), or lines.size().
size_t KeyLine(const std::vector<std::string>& lines, const std::string& dotted_key) {
  const std::vector<std::string> want = Split(dotted_key, '.');
  std::vector<std::pair<size_t, std::string>>
      stack;  // (indentation, key) of the mappings we are in
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& l = lines[n];
    const size_t first = l.find_first_not_of(' ');
    const size_t colon = l.find(':');
    if (first == std::string::npos || l[first] == '#' || colon == std::string::npos ||
        colon <= first)
      continue;
    while (!stack.empty() && stack.back().first >= first) stack.pop_back();
    stack.emplace_back(first, l.substr(first, colon - first));
    bool match = stack.size() == want.size();
    for (size_t i = 0; match && i < want.size(); ++i) match = stack[i].second == want[i];
    if (match) return n;
  }
  return lines.size();
}

}  // namespace

std::string YamlLine(const std::string& text, const std::string& dotted_key) {
  const std::vector<std::string> lines = Lines(text);
  const size_t n = KeyLine(lines, dotted_key);
  return n < lines.size() ? lines[n] : "";
}

std::string YamlValue(const std::string& text, const std::string& dotted_key) {
  const std::string line = YamlLine(text, dotted_key);
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return "";
  const size_t hash = line.find(" #", colon);
  std::string v =
      line.substr(colon + 1, hash == std::string::npos ? std::string::npos : hash - colon - 1);
  v.erase(0, v.find_first_not_of(' '));
  v.erase(v.find_last_not_of(' ') + 1);
  return v;
}

std::string SetYamlScalar(const std::string& text, const std::string& dotted_key,
                          const std::string& value, const std::string& comment) {
  std::vector<std::string> lines = Lines(text);
  const size_t n = KeyLine(lines, dotted_key);
  if (n == lines.size()) throw InputError("no key '" + dotted_key + "' to set in the YAML");
  // The new value; the comment (old or new) stays at the column it had.
  const std::string& l = lines[n];
  const size_t colon = l.find(':'), hash = l.find(" #", colon);
  const std::string old = hash == std::string::npos ? "" : l.substr(l.find('#', hash));
  const std::string note = comment.empty() ? old : "# " + comment;
  std::string line = l.substr(0, colon + 1) + " " + value;
  if (!note.empty()) {
    const size_t column = hash == std::string::npos ? line.size() + 2 : hash + 1;
    line += std::string(column > line.size() ? column - line.size() : 1, ' ') + note;
  }
  lines[n] = line;
  std::string out;
  for (const auto& x : lines) out += x + "\n";
  return out;
}

double RelativeError(double simulated, double measured, const std::string& measured_kind) {
  const double e = simulated / measured - 1;
  if (measured_kind == "cap" && e < 0) return 0;
  return e;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Verdict Summarise(const Corpus& c, const std::vector<PointResult>& results) {
  Verdict v;
  std::vector<double> check, fit;
  for (const auto& p : results) {
    const CalibrationRow* r = c.Find(p.id);
    if (!r) continue;
    ++v.rows;
    if (p.status.rfind("needs", 0) == 0) {
      ++v.needs;
      continue;
    }
    if (p.status != "ok") {
      ++v.failed;
      continue;
    }
    ++v.simulated;
    const double a = std::fabs(p.error);
    if (r->role == "check") {
      ++v.check_rows;
      v.check_pass += p.pass;
      check.push_back(a);
      if (a >= v.check_worst_abs) {
        v.check_worst_abs = a;
        v.worst_check = p.id;
      }
    } else {
      ++v.fit_rows;
      v.fit_pass += p.pass;
      fit.push_back(a);
    }
  }
  v.check_median_abs = Median(check);
  v.fit_median_abs = Median(fit);
  return v;
}

std::string Verdict::Line() const {
  std::ostringstream s;
  s << "calibration: " << simulated << " of " << rows << " rows simulated (" << needs
    << " need a feature, " << failed << " failed); check rows " << check_pass << "/" << check_rows
    << " within tolerance, median |error| "
    << FormatNumber(std::round(check_median_abs * 1000) / 10) << " %, worst "
    << FormatNumber(std::round(check_worst_abs * 1000) / 10) << " % ("
    << (worst_check.empty() ? "-" : worst_check) << "); fit rows " << fit_pass << "/" << fit_rows
    << ", median |error| " << FormatNumber(std::round(fit_median_abs * 1000) / 10) << " %";
  return s.str();
}

FitResult NelderMead(const std::function<double(const std::vector<double>&)>& f,
                     const std::vector<double>& start, const std::vector<double>& lo,
                     const std::vector<double>& hi, int max_evals, double ftol) {
  const size_t n = start.size();
  auto clamp = [&](std::vector<double> x) {
    for (size_t i = 0; i < n; ++i) x[i] = std::min(hi[i], std::max(lo[i], x[i]));
    return x;
  };
  FitResult res;
  auto eval = [&](const std::vector<double>& x) {
    ++res.evals;
    return f(x);
  };
  // Initial simplex: the start and one step of a quarter of the box along each axis (towards the
  // farther bound, so the step stays inside).
  std::vector<std::vector<double>> pts = {clamp(start)};
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> x = pts[0];
    const double step = 0.25 * (hi[i] - lo[i]);
    x[i] = (hi[i] - x[i] >= x[i] - lo[i]) ? x[i] + step : x[i] - step;
    pts.push_back(clamp(x));
  }
  std::vector<double> val;
  for (const auto& p : pts) val.push_back(eval(p));
  while (res.evals < max_evals) {
    std::vector<size_t> order(n + 1);
    for (size_t i = 0; i <= n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val[a] < val[b]; });
    std::vector<std::vector<double>> p2;
    std::vector<double> v2;
    for (size_t i : order) p2.push_back(pts[i]), v2.push_back(val[i]);
    pts = p2, val = v2;
    if (std::fabs(val[n] - val[0]) <= ftol * (std::fabs(val[0]) + 1e-12)) break;
    double spread = 0;  // the simplex has shrunk to a point (within 1e-4 of each box width)
    for (size_t i = 1; i <= n; ++i)
      for (size_t k = 0; k < n; ++k)
        spread = std::max(spread, std::fabs(pts[i][k] - pts[0][k]) / (hi[k] - lo[k]));
    if (spread < 1e-4) break;
    std::vector<double> centroid(n, 0);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k < n; ++k) centroid[k] += pts[i][k] / static_cast<double>(n);
    auto along = [&](double t) {
      std::vector<double> x(n);
      for (size_t k = 0; k < n; ++k) x[k] = centroid[k] + t * (pts[n][k] - centroid[k]);
      return clamp(x);
    };
    const std::vector<double> xr = along(-1);
    const double fr = eval(xr);
    if (fr < val[0]) {
      const std::vector<double> xe = along(-2);
      const double fe = eval(xe);
      if (fe < fr)
        pts[n] = xe, val[n] = fe;
      else
        pts[n] = xr, val[n] = fr;
    } else if (fr < val[n - 1]) {
      pts[n] = xr, val[n] = fr;
    } else {
      const std::vector<double> xc = fr < val[n] ? along(-0.5) : along(0.5);
      const double fc = eval(xc);
      if (fc < std::min(fr, val[n])) {
        pts[n] = xc, val[n] = fc;
      } else {  // shrink towards the best point
        for (size_t i = 1; i <= n; ++i) {
          for (size_t k = 0; k < n; ++k) pts[i][k] = pts[0][k] + 0.5 * (pts[i][k] - pts[0][k]);
          val[i] = eval(pts[i]);
        }
      }
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < val.size(); ++i)
    if (val[i] < val[best]) best = i;
  res.x = pts[best];
  res.value = val[best];
  return res;
}

bool AtBound(double x, double lo, double hi) {
  const double eps = 0.01 * (hi - lo);
  return x - lo <= eps || hi - x <= eps;
}

std::string RowYaml(const CalibrationRow& r) {
  auto q = [](const std::string& v) {
    std::string o = "\"";
    for (char ch : v) o += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    return o + "\"";
  };
  auto map = [&](const KeyValues& kv) {
    std::string o = "{";
    for (size_t i = 0; i < kv.size(); ++i)
      o += (i ? ", " : "") + kv[i].first + ": " + q(kv[i].second);
    return o + "}";
  };
  std::string y = "id: " + q(r.id) + "\nsource: " + q(r.source) + "\n";
  if (!r.note.empty()) y += "note: " + q(r.note) + "\n";
  y += "role: " + r.role + "\n";
  if (r.status != "ok") y += "status: " + q(r.status) + "\n";
  y += "tolerance: " + FormatNumber(r.tolerance) + "\n";
  if (r.kind == "kernel") {
    y += "kernel: " + r.kernel + "\ndevice: " + r.device + "\nparams: " + map(r.params) + "\n";
    if (!r.launch.empty()) y += "launch: " + r.launch + "\n";
    if (r.host_launches)
      y += "host_launches: " + std::to_string(r.host_launches) + "\nhost: " + r.host + "\n";
  } else if (r.kind == "run") {
    y += "run: " + q(r.run) + "\n";
    if (!r.sets.empty()) y += "set: " + map(r.sets) + "\n";
  } else {
    y += r.kind + ": [";
    for (size_t i = 0; i < r.of.size(); ++i) y += (i ? ", " : "") + r.of[i];
    y += "]\n";
  }
  y += "metric: " + r.metric + "\nmeasured: " + FormatNumber(r.measured) + "\n";
  if (r.measured_kind != "value") y += "measured_kind: " + r.measured_kind + "\n";
  if (!r.family.empty()) y += "family: " + q(r.family) + "\n";
  if (r.slow) y += "slow: true\n";
  return y;
}

namespace {

// "4096,2048;2048,3072" -> {{4096, 2048}, {2048, 3072}}; empty on anything else.
std::vector<std::vector<int64_t>> Shapes(const std::string& s) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& t : Split(s, ';')) {
    std::vector<int64_t> dims;
    for (const auto& d : Split(t, ',')) {
      char* end = nullptr;
      const long long v = std::strtoll(d.c_str(), &end, 10);
      if (end == d.c_str() || *end || v <= 0) return {};
      dims.push_back(v);
    }
    out.push_back(dims);
  }
  return out;
}

int64_t Rows(const std::vector<int64_t>& d) {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < d.size(); ++i) r *= d[i];
  return r;
}

std::string Dtype(const std::string& dtypes) {
  const std::string first = Split(dtypes, ';').empty() ? "" : Split(dtypes, ';').front();
  if (first == "FLOAT16" || first == "DT_FLOAT16") return "float16";
  if (first == "FLOAT" || first == "DT_FLOAT") return "float32";
  return "bfloat16";
}

}  // namespace

bool MapMsprofOp(const std::string& op_type, const std::string& input_shapes,
                 const std::string& dtypes, std::string& kernel, KeyValues& params,
                 std::string& why) {
  std::string shapes_text = input_shapes;
  shapes_text.erase(std::remove(shapes_text.begin(), shapes_text.end(), '"'), shapes_text.end());
  const auto sh = Shapes(shapes_text);
  const std::string dt = Dtype(dtypes);
  auto S = [](int64_t v) { return std::to_string(v); };
  params.clear();
  if (sh.empty()) {
    why = "input shapes '" + input_shapes + "' are not a list of dimensions";
    return false;
  }
  if (op_type == "MatMul" || op_type == "MatMulV2" || op_type == "MatMulV3" ||
      op_type == "BatchMatMul" || op_type == "BatchMatMulV2") {
    if (sh.size() < 2 || sh[0].size() < 2 || sh[1].size() != 2) {
      why = "a matmul needs x [.., m, k] and a 2-D weight";
      return false;
    }
    const int64_t k = sh[0].back(), m = Rows(sh[0]);
    // The weight is [k, n], or [n, k] (a torch Linear) when only its second dimension matches k.
    const bool trans = sh[1][0] != k && sh[1][1] == k;
    if (sh[1][0] != k && !trans) {
      why = "weight " + S(sh[1][0]) + "x" + S(sh[1][1]) + " does not match k = " + S(k);
      return false;
    }
    kernel = "matmul";
    params = {{"m", S(m)},
              {"k", S(k)},
              {"n", S(trans ? sh[1][0] : sh[1][1])},
              {"dtype", dt},
              {"trans_b", trans ? "1" : "0"}};
    return true;
  }
  if (op_type == "RmsNorm" || op_type == "AddRmsNorm") {
    kernel = "rms_norm";
    params = {{"tokens", S(Rows(sh[0]))},
              {"hidden", S(sh[0].back())},
              {"dtype", dt},
              {"residual", op_type == "AddRmsNorm" ? "1" : "0"}};
    return true;
  }
  if (op_type == "DynamicQuant") {
    kernel = "dynamic_quant";
    params = {{"tokens", S(Rows(sh[0]))}, {"hidden", S(sh[0].back())}, {"dtype", dt}};
    return true;
  }
  if (op_type == "Swiglu" || op_type == "SwiGlu") {
    if (sh[0].back() % 2) {
      why = "an odd last dimension cannot be [gate | up]";
      return false;
    }
    kernel = "swiglu";
    params = {{"tokens", S(Rows(sh[0]))}, {"inter", S(sh[0].back() / 2)}, {"dtype", dt}};
    return true;
  }
  if (op_type == "Add") {
    int64_t n = 1;
    for (int64_t d : sh[0]) n *= d;
    kernel = "add";
    params = {{"n", S(n)}, {"dtype", dt}};
    return true;
  }
  why = "no kernel of the set maps OP Type '" + op_type + "' from its shapes alone";
  return false;
}

}  // namespace npusim
