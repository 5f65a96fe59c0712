#include "workloads/calibration_import.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/text.h"
#include "workloads/run_config.h"

namespace npusim {

namespace fs = std::filesystem;

namespace {

// One CSV record's fields ("a,\"b,c\",d" -> a | b,c | d).
std::vector<std::string> CsvFields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (ch == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"')
        out.back() += '"', ++i;
      else
        quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      out.emplace_back();
    } else if (ch != '\r') {
      out.back() += ch;
    }
  }
  for (auto& f : out) {
    const size_t a = f.find_first_not_of(' '), b = f.find_last_not_of(' ');
    f = a == std::string::npos ? "" : f.substr(a, b - a + 1);
  }
  return out;
}

std::string Slug(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '-';
  return s;
}

}  // namespace

std::string AddCorpusRow(const std::string& dir, const CalibrationRow& r, const Corpus& existing) {
  if (existing.Find(r.id))
    throw InputError("row '" + r.id + "' already exists in " + dir +
                     " (use --id to name the new rows)");
  const std::string path = dir + "/" + Slug(r.id) + ".yaml";
  WriteFileOrThrow(path, RowYaml(r));
  ReadRowCheck(path);
  return path;
}

// `--add-bench-serving RESULT.jsonl --run RUN.yaml`: a row per figure (mean TTFT, mean TPOT,
// output throughput) of every result line, the run config's load replaced by the line's.
std::vector<CalibrationRow> BenchServingRows(const std::string& file, const std::string& run,
                                             const std::string& prefix) {
  if (run.empty())
    throw InputError(
        "--add-bench-serving needs --run RUN.yaml: the run config that describes the measured "
        "server");
  LoadRunConfig(run);  // a bad run config is reported now, not at calibration time
  std::ifstream in(file);
  if (!in) throw InputError("--add-bench-serving: cannot read " + file);
  const std::string run_abs = fs::absolute(run).lexically_normal().string();
  std::string line;
  int n = 0;
  std::vector<CalibrationRow> rows;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw InputError(file + ":" + std::to_string(n) + ": not a JSON object (" + e.what() + ")");
    }
    if (!j.is_object()) throw InputError(file + ":" + std::to_string(n) + ": not a JSON object");
    KeyValues sets;
    auto num = [&](const char* k) { return j.contains(k) && j[k].is_number(); };
    const std::string dataset = j.value("dataset_name", "random");
    if (num("random_input_len"))
      sets.push_back({"random_input_len", std::to_string(j["random_input_len"].get<int64_t>())});
    if (num("random_output_len"))
      sets.push_back({"random_output_len", std::to_string(j["random_output_len"].get<int64_t>())});
    if (num("random_range_ratio"))
      sets.push_back({"random_range_ratio", FormatNumber(j["random_range_ratio"].get<double>())});
    if (num("completed"))
      sets.push_back({"num_prompts", std::to_string(j["completed"].get<int64_t>())});
    if (num("max_concurrency"))
      sets.push_back({"max_concurrency", std::to_string(j["max_concurrency"].get<int64_t>())});
    if (num("request_rate"))
      sets.push_back({"request_rate", FormatNumber(j["request_rate"].get<double>())});
    else if (j.contains("request_rate") && j["request_rate"].is_string())
      sets.push_back({"request_rate", j["request_rate"].get<std::string>()});
    const std::string id = (prefix.empty() ? "bench-" + fs::path(file).stem().string() : prefix) +
                           "-" + std::to_string(n);
    for (const auto& [key, metric, what] :
         std::vector<std::tuple<const char*, const char*, const char*>>{
             {"mean_ttft_ms", "mean_ttft_ms", "ttft"},
             {"mean_tpot_ms", "mean_tpot_ms", "tpot"},
             {"output_throughput", "output_throughput", "tput"}}) {
      if (!num(key) || j[key].get<double>() <= 0) continue;
      CalibrationRow r;
      r.id = id + "-" + what;
      r.source = "bench_serving result " + fs::path(file).filename().string() + " line " +
                 std::to_string(n);
      r.note =
          "imported by npusim calibrate --add-bench-serving; the server is described by the run "
          "config";
      r.role = "check";
      r.tolerance = 0.2;
      if (dataset != "random") r.status = "needs the '" + dataset + "' load of bench_serving";
      r.kind = "run";
      r.run = run_abs;
      r.sets = sets;
      r.metric = metric;
      r.measured = j[key].get<double>();
      r.family = "imported";
      rows.push_back(r);
    }
  }
  if (rows.empty())
    throw InputError(file + ": no line has mean_ttft_ms, mean_tpot_ms or output_throughput");
  return rows;
}

namespace {

// An op summary's launches grouped by (OP Type, Input Shapes) where the op maps to a kernel; the
// unmapped ops with their launch count and the reason.
struct OpSummary {
  struct Launches {
    std::string kernel;
    KeyValues params;
    double sum_us = 0;
    int count = 0;
    int first_line = 0;
  };
  std::map<std::string, Launches> ops;  // "type|shapes" -> launches
  std::map<std::string, std::pair<int, std::string>> unmapped;
};

OpSummary ReadOpSummary(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw InputError("--add-msprof: cannot read " + file);
  std::string line;
  if (!std::getline(in, line)) throw InputError(file + ": empty");
  const std::vector<std::string> head = CsvFields(line);
  auto col = [&](const std::string& name) -> size_t {
    for (size_t i = 0; i < head.size(); ++i)
      if (head[i] == name) return i;
    throw InputError(file + ":1: no column '" + name + "'" + NearestHint(name, head));
  };
  const size_t c_type = col("OP Type"), c_shapes = col("Input Shapes"),
               c_dur = col("Task Duration(us)");
  const size_t c_dtypes =
      static_cast<size_t>(std::find(head.begin(), head.end(), "Input Data Types") - head.begin());
  OpSummary out;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    const std::vector<std::string> f = CsvFields(line);
    const std::string where = file + ":" + std::to_string(n);
    if (f.size() <= std::max({c_type, c_shapes, c_dur}))
      throw InputError(where + ": fewer columns than the header");
    char* end = nullptr;
    const double dur = std::strtod(f[c_dur].c_str(), &end);
    if (end == f[c_dur].c_str() || !(dur > 0))
      throw InputError(where + ": Task Duration(us) '" + f[c_dur] + "' is not a positive number");
    std::string kernel, why;
    KeyValues params;
    if (!MapMsprofOp(f[c_type], f[c_shapes], c_dtypes < f.size() ? f[c_dtypes] : "", kernel, params,
                     why)) {
      auto& u = out.unmapped[f[c_type]];
      if (u.first++ == 0) u.second = why;
      continue;
    }
    OpSummary::Launches& a = out.ops[f[c_type] + "|" + f[c_shapes]];
    if (a.count == 0) a.kernel = kernel, a.params = params, a.first_line = n;
    a.sum_us += dur;
    ++a.count;
  }
  return out;
}

}  // namespace

// `--add-msprof op_summary.csv --device SOC`: a kernel row per distinct mapped (OP Type, Input
// Shapes), measured = the mean Task Duration of its launches; unmapped ops are listed.
MsprofImport MsprofRows(const std::string& file, const std::string& device,
                        const std::string& prefix) {
  if (device.empty())
    throw InputError("--add-msprof needs --device SOC: the chip the op summary was taken on");
  LoadDevice(device);
  const OpSummary summary = ReadOpSummary(file);
  MsprofImport out;
  const std::string base = prefix.empty() ? "msprof-" + fs::path(file).stem().string() : prefix;
  for (const auto& [key, a] : summary.ops) {
    CalibrationRow r;
    r.id = base + "-line" + std::to_string(a.first_line) + "-" + a.kernel;
    r.source = "msprof op_summary " + fs::path(file).filename().string() + " (" +
               key.substr(0, key.find('|')) + ", first at line " + std::to_string(a.first_line) +
               ")";
    r.note = "imported by npusim calibrate --add-msprof: mean Task Duration of " +
             std::to_string(a.count) + " launches";
    r.role = "check";
    r.tolerance = 0.25;
    r.kind = "kernel";
    r.kernel = a.kernel;
    r.device = device;
    r.params = a.params;
    r.metric = "time_us";
    r.measured = a.sum_us / a.count;
    r.family = "imported";
    out.rows.push_back(r);
  }
  for (const auto& [type, u] : summary.unmapped)
    out.unmapped.push_back(type + " (" + std::to_string(u.first) + " launches): " + u.second);
  if (summary.ops.empty()) throw InputError(file + ": no op maps to a kernel of the set");
  return out;
}

}  // namespace npusim
