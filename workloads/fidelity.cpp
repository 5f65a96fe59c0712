#include "workloads/fidelity.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "model/parse_memo.h"
#include "workloads/calibration.h"
#include "workloads/run_config.h"

namespace npusim {

namespace {

namespace fs = std::filesystem;

std::string Canonical(const std::string& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

std::string Pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f %%", 100 * v);
  return buf;
}

std::string Str(const nlohmann::json& r, const char* k) {
  const auto v = r.find(k);
  return v != r.end() && v->is_string() ? v->get<std::string>() : std::string();
}

// state.json's rows; none when nothing was recorded or the file does not parse. Every run reads
// it for its fidelity section, so it is parsed as the JSON it is (yaml-cpp took 14 ms of a warm
// 80 ms run over its 309 rows).
std::vector<CorpusRow> StateRows(std::string* file) {
  const std::string state = ConfigDir() + "/calibration/state.json";
  const std::optional<std::string> text = ReadFileIfOpens(state);
  if (!text) return {};
  *file = state;
  return ParsedOnce<std::vector<CorpusRow>>(state, *text, [](const std::string& t) {
    try {
      const nlohmann::json j = nlohmann::json::parse(t);
      return j.is_object() && j.contains("rows") ? CorpusRowsFrom(j["rows"])
                                                 : std::vector<CorpusRow>{};
    } catch (const std::exception&) {
      return std::vector<CorpusRow>{};
    }
  });
}

}  // namespace

std::vector<CorpusRow> CorpusRowsFrom(const nlohmann::json& rows) {
  std::vector<CorpusRow> out;
  if (!rows.is_array()) return out;
  for (const auto& r : rows) {
    if (!r.is_object()) continue;
    CorpusRow c{Str(r, "id"),     Str(r, "role"),   Str(r, "kind"),  Str(r, "model"), Str(r, "op"),
                Str(r, "metric"), Str(r, "device"), Str(r, "setup"), Str(r, "status")};
    if (c.status == "ok") c.error = r.at("error").get<double>();
    c.weights = Str(r, "weights");
    out.push_back(c);
  }
  return out;
}

namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool IsTime(const std::string& metric) {
  return EndsWith(metric, "_us") || EndsWith(metric, "_ms");
}
bool IsRate(const std::string& metric) {
  return metric.find("throughput") != std::string::npos ||
         metric.find("bandwidth") != std::string::npos;
}

}  // namespace

bool CorpusRow::HasSpeed() const { return IsTime(metric) || IsRate(metric); }

double CorpusRow::SpeedError() const { return IsTime(metric) ? 1 / (1 + error) - 1 : error; }

std::string CorpusBias::Summary() const {
  const double e = median_speed_error;
  return trait + " " + value + " " + (e < 0 ? "-" : "+") + Pct(std::fabs(e)) + " on " +
         std::to_string(rows.size()) + " check rows (" + std::to_string(faster) + " faster, " +
         std::to_string(slower) + " slower)";
}

std::vector<CorpusBias> CorpusBiases(const std::vector<CorpusRow>& rows, size_t min_rows) {
  // (trait, value) -> the rows' speed errors; a map keeps the order deterministic.
  std::map<std::pair<std::string, std::string>, CorpusBias> groups;
  std::map<std::pair<std::string, std::string>, std::vector<double>> errors;
  for (const CorpusRow& r : rows) {
    if (r.status != "ok" || r.role != "check" || !r.HasSpeed()) continue;
    const bool run = r.kind == "run";
    for (const auto& [trait, value] :
         {std::pair<std::string, std::string>{"weights", run ? r.weights : ""},
          {"model", run ? r.model : ""},
          {"device", r.device},
          {"metric", r.metric}}) {
      if (value.empty()) continue;
      CorpusBias& b = groups[{trait, value}];
      b.trait = trait;
      b.value = value;
      b.rows.push_back(r.id);
      const double e = r.SpeedError();
      errors[{trait, value}].push_back(e);
      if (e != 0) (e > 0 ? b.faster : b.slower) += 1;  // an exact hit leans neither way
    }
  }
  std::vector<CorpusBias> out;
  for (auto& [key, b] : groups) {
    if (b.rows.size() < min_rows) continue;
    b.median_speed_error = Median(errors[key]);
    out.push_back(b);
  }
  std::stable_sort(out.begin(), out.end(), [](const CorpusBias& a, const CorpusBias& b) {
    return std::fabs(a.median_speed_error) > std::fabs(b.median_speed_error);
  });
  return out;
}

std::vector<CorpusBias> RunBiases(const std::vector<CorpusRow>& rows, const std::string& model_file,
                                  const std::string& op, const std::string& device_soc,
                                  const std::string& weights) {
  const std::string model = model_file.empty() ? "" : fs::path(model_file).filename().string();
  std::vector<CorpusBias> out;
  for (const CorpusBias& b : CorpusBiases(rows)) {
    const bool mine = (b.trait == "weights" && op.empty() && b.value == WeightsName(weights)) ||
                      (b.trait == "model" && op.empty() && b.value == model) ||
                      (b.trait == "device" && b.value == device_soc);
    if (mine) out.push_back(b);
  }
  return out;
}

std::string ParallelSetup(const RunConfig& rc) {
  std::string s = "tp" + std::to_string(rc.tp_size);
  if (rc.dp_size > 1) s += " dp" + std::to_string(rc.dp_size);
  if (rc.ep_size > 1) s += " ep" + std::to_string(rc.ep_size);
  if (rc.Mtp()) {
    std::string spec = rc.speculative_algorithm;
    for (char& ch : spec) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    s += " " + spec;
  }
  return s;
}

std::string KernelCheck::Summary() const {
  if (rows.empty()) return "no measured row";
  std::string s = rows.front();
  if (rows.size() > 1) s += " +" + std::to_string(rows.size() - 1) + " more";
  if (basis == "other devices") s += " (" + basis + ")";
  // No '|' in the text: it sits in a markdown table cell.
  s += ": error " + Pct(median_abs) + " median, " + Pct(worst_abs) + " worst (";
  if (faster > 0) s += std::to_string(faster) + " simulated faster";
  if (slower > 0) s += std::string(faster > 0 ? ", " : "") + std::to_string(slower) + " slower";
  return s + ")";
}

namespace {

// The simulated check rows of kernel `k.op` that `take` accepts, summarised into `k`.
template <class Take>
void Summarise(KernelCheck& k, const std::vector<CorpusRow>& rows, Take take) {
  std::vector<double> abs_err, time_err;
  for (const CorpusRow& r : rows) {
    if (r.kind != "kernel" || r.op != k.op || r.status != "ok" || r.role != "check" || !take(r))
      continue;
    k.rows.push_back(r.id);
    abs_err.push_back(std::fabs(r.error));
    time_err.push_back(r.TimeError());
  }
  k.median_abs = Median(abs_err);
  for (double e : abs_err) k.worst_abs = std::max(k.worst_abs, e);
  k.median_time_error = Median(time_err);
  for (double e : time_err) (e < 0 ? k.faster : k.slower) += 1;
}

}  // namespace

std::vector<KernelCheck> KernelChecks(const std::vector<std::pair<std::string, double>>& ops,
                                      const std::string& device_soc,
                                      const std::vector<CorpusRow>& rows) {
  std::vector<KernelCheck> out;
  for (const auto& [op, share] : ops) {
    KernelCheck k{op, share};
    for (const bool same_device : {true, false}) {
      Summarise(k, rows,
                [&](const CorpusRow& r) { return (r.device == device_soc) == same_device; });
      if (k.rows.empty()) continue;
      k.basis = same_device ? "same device" : "other devices";
      break;
    }
    out.push_back(k);
  }
  return out;
}

std::vector<KernelCheck> CorpusKernelChecks(const std::vector<CorpusRow>& rows) {
  std::vector<KernelCheck> out;
  for (const CorpusRow& r : rows) {
    if (r.kind != "kernel" || r.op.empty() ||
        std::any_of(out.begin(), out.end(), [&](const KernelCheck& k) { return k.op == r.op; }))
      continue;
    KernelCheck k{r.op};
    Summarise(k, rows, [](const CorpusRow&) { return true; });
    k.basis = k.rows.empty() ? "" : "all devices";
    out.push_back(k);
  }
  std::stable_sort(out.begin(), out.end(), [](const KernelCheck& a, const KernelCheck& b) {
    return a.median_abs > b.median_abs;
  });
  return out;
}

std::string Fidelity::Summary() const {
  std::string s;
  if (fitted.empty()) {
    s = "uncalibrated profiles (no fitted constant)";
  } else {
    std::string rows;
    for (const auto& f : fitted)
      if (rows.find(f.rows) == std::string::npos) rows += (rows.empty() ? "" : "; ") + f.rows;
    s = "calibrated: " + std::to_string(fitted.size()) + " fitted constants (rows " + rows + ")";
  }
  if (!unfitted.empty()) {
    std::string keys;
    for (const auto& f : unfitted) keys += (keys.empty() ? "" : ", ") + f.key;
    s += "; not fitted (modelling gap): " + keys;
  }
  if (state_file.empty()) return s + "; no recorded corpus run";
  if (check_rows.empty() && fit_rows.empty()) return s + "; no simulated corpus row near this run";
  s += "; corpus (" + basis + "): ";
  if (!check_rows.empty())
    s += "median |error| " + Pct(check_median_abs) + " on " + std::to_string(check_rows.size()) +
         " checked rows (worst " + Pct(check_worst_abs) + ")";
  else
    s += "no checked row";
  if (!fit_rows.empty())
    s += ", " + Pct(fit_median_abs) + " on " + std::to_string(fit_rows.size()) + " fit rows";
  // Only the leans worth a reader's attention: a tenth or more one way.
  std::string lean;
  for (const CorpusBias& b : bias)
    if (std::fabs(b.median_speed_error) >= 0.1) lean += (lean.empty() ? "" : ", ") + b.Summary();
  if (!lean.empty()) s += "; corpus lean (median speed error, +: simulated faster): " + lean;
  return s;
}

Fidelity FidelityFor(const std::string& model_file, const std::string& op,
                     const std::string& device_soc, const std::string& setup,
                     const std::string& device_file, const std::string& host_file,
                     const std::string& weights) {
  Fidelity f;
  const std::string dir = ConfigDir() + "/calibration";
  // Fitted constants: fit.yaml's constants whose targets are the files this run loaded.
  std::vector<FitGroup> groups;
  try {
    groups = LoadFitGroups(dir);
  } catch (const std::exception&) {
    // a broken fit.yaml is `npusim calibrate`'s to report, not every run's
  }
  const std::string dev = Canonical(device_file),
                    host = host_file.empty() ? "" : Canonical(host_file);
  for (const auto& g : groups)
    for (const auto& k : g.constants)
      for (const auto& file : TargetFiles(k)) {
        const std::string cf = Canonical(file);
        if (cf != dev && cf != host) continue;
        const std::string text = ReadFileText(file);
        const FittedValue v{file, k.key, YamlValue(text, k.key), JoinIds(g.rows), g.name};
        // Only a value `npusim calibrate --fit` wrote is fitted; the others keep their source.
        (YamlLine(text, k.key).find(kFittedMarker) != std::string::npos ? f.fitted : f.unfitted)
            .push_back(v);
      }
  f.recorded = StateRows(&f.state_file);
  NearestCorpusRows(f, f.recorded, model_file, op, device_soc, setup);
  f.bias = RunBiases(f.recorded, model_file, op, device_soc, weights);
  return f;
}

void NearestCorpusRows(Fidelity& f, const std::vector<CorpusRow>& rows,
                       const std::string& model_file, const std::string& op,
                       const std::string& device_soc, const std::string& setup) {
  const std::string model = model_file.empty() ? "" : fs::path(model_file).filename().string();
  // Nearest first: the same model on the same device in the same parallel setup, then the same
  // model (or kernel) on the same device, then the same model, then the same kind of row on the
  // same device, then every row of that kind.
  const std::string kind = op.empty() ? "run" : "kernel";
  auto same = [&](const CorpusRow& r) { return op.empty() ? r.model == model : r.op == op; };
  const std::vector<std::pair<std::string, std::function<bool(const CorpusRow&)>>> tiers = {
      {"same model, device and setup " + setup,
       [&](const CorpusRow& r) {
         return !setup.empty() && op.empty() && same(r) && r.device == device_soc &&
                r.setup == setup;
       }},
      {op.empty() ? "same model and device" : "same kernel and device",
       [&](const CorpusRow& r) { return same(r) && r.device == device_soc; }},
      {op.empty() ? "same model" : "same kernel", same},
      {(op.empty() ? "serving" : "kernel") + std::string(" rows on the same device"),
       [&](const CorpusRow& r) { return r.device == device_soc; }},
      {op.empty() ? "all serving rows" : "all kernel rows", [](const CorpusRow&) { return true; }}};
  for (const auto& [basis, match] : tiers) {
    std::vector<double> check, fit;
    std::vector<std::string> check_ids, fit_ids;
    for (const CorpusRow& r : rows) {
      if (r.kind != kind || r.status != "ok" || !match(r)) continue;
      if (r.role == "fit")
        fit.push_back(std::fabs(r.error)), fit_ids.push_back(r.id);
      else
        check.push_back(std::fabs(r.error)), check_ids.push_back(r.id);
    }
    if (check.empty() && fit.empty()) continue;
    f.basis = basis;
    f.check_rows = check_ids;
    f.fit_rows = fit_ids;
    f.check_median_abs = Median(check);
    for (double e : check) f.check_worst_abs = std::max(f.check_worst_abs, e);
    f.fit_median_abs = Median(fit);
    break;
  }
}

}  // namespace npusim
