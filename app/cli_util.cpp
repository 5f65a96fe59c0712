#include "app/cli_util.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>  // declares the stderr sinks too
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "model/config.h"
#include "model/error.h"
#include "model/text.h"

namespace npusim {

bool Has(const Args& a, const std::string& flag) {
  return std::find(a.flags.begin(), a.flags.end(), flag) != a.flags.end();
}
std::string Option(const Args& a, const std::string& key, const std::string& def) {
  std::string v = def;
  for (const auto& [k, val] : a.options)
    if (k == key) v = val;
  return v;
}

uint64_t UnsignedOption(const Args& a, const std::string& key, uint64_t def, uint64_t max) {
  const std::string v = Option(a, key, std::to_string(def));
  const bool digits = !v.empty() && v.size() <= 20 &&
                      std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    errno = 0;
    const unsigned long long x = std::strtoull(v.c_str(), nullptr, 10);
    if (errno == 0 && x <= max) return x;
  }
  throw InputError(key + " takes an integer in [0, " + std::to_string(max) + "], got '" + v + "'");
}

double PointTimeoutOption(const Args& a) {
  const std::string v = Option(a, "--point-timeout", "");
  if (v.empty()) return kDefaultPointTimeoutS;
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size() || !(s >= 0) || !std::isfinite(s))
    throw InputError("--point-timeout takes a number of seconds >= 0 (0 = no limit), got '" + v +
                     "'");
  return s;
}

void ConfigureLogging(const Args& a) {
  // Logs and progress on stderr, so stdout carries results only (`npusim run ... > out.md`).
  static const bool kStderr = [] {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "npusim", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
    return true;
  }();
  (void)kStderr;
  spdlog::set_pattern("%^%l%$: %v");
  spdlog::set_level(Has(a, "--quiet") ? spdlog::level::warn : spdlog::level::info);
  std::string level = Option(a, "--log-level", "");
  if (!level.empty()) {
    auto l = spdlog::level::from_str(level);
    if (l == spdlog::level::off && level != "off")
      throw InputError("unknown log level '" + level + "'" +
                       NearestHint(level, {"trace", "debug", "info", "warn", "error", "off"}));
    spdlog::set_level(l);
  }
}

double FractionOption(const Args& a, const std::string& key, double def) {
  const std::string text = Option(a, key, "");
  if (text.empty()) return def;
  double v = 0;
  try {
    v = std::stod(text);
  } catch (const std::exception&) {
    throw InputError(key + " takes a number in (0, 1]");
  }
  if (!(v > 0 && v <= 1)) throw InputError(key + " takes a number in (0, 1]");
  return v;
}

std::pair<std::string, std::string> SplitKeyValue(const std::string& opt, const std::string& v) {
  const auto eq = v.find('=');
  if (eq == std::string::npos) throw InputError(opt + " expects key=value, got '" + v + "'");
  return {v.substr(0, eq), v.substr(eq + 1)};
}

std::vector<std::pair<std::string, std::string>> SetOptions(const Args& a) {
  std::vector<std::pair<std::string, std::string>> sets;
  for (const auto& [k, v] : a.options)
    if (k == "--set") sets.push_back(SplitKeyValue(k, v));
  return sets;
}

std::vector<std::string> SplitList(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep)
      out.emplace_back();
    else
      out.back() += ch;
  }
  return out;
}

void ConfigureProcess(const Args& a) {
  ConfigureLogging(a);
  const std::string dir = Option(a, "--cache", "");
  if (!dir.empty() && Has(a, "--no-cache")) throw InputError("--cache and --no-cache: choose one");
  if (Has(a, "--no-cache"))
    setenv("NPUSIM_KERNEL_CACHE", "off", 1);
  else if (!dir.empty())
    setenv("NPUSIM_KERNEL_CACHE", std::filesystem::absolute(dir).string().c_str(), 1);
}

bool ShowResults(const Args& a) { return !Has(a, "--quiet"); }

namespace {

// What npusim writes into an output folder (any command): a folder holding anything else is
// not ours to clear.
bool IsNpusimOutput(const std::filesystem::path& p) {
  static const char* kNames[] = {"metrics.json",
                                 "config.resolved.yaml",
                                 "requests.csv",
                                 "kernel_calls.csv",
                                 "op_summary.csv",
                                 "trace.json",
                                 "report.md",
                                 "report.html",
                                 "tokens.csv",
                                 "points.csv",
                                 "summary.csv",
                                 "sweep.json",
                                 "log.txt",
                                 "points",
                                 "rate_points",
                                 "variants",
                                 "fit",
                                 "grid_id",
                                 "exit_code"};
  const std::string name = p.filename().string();
  for (const char* n : kNames)
    if (name == n) return true;
  return p.extension() == ".npy" || p.extension() == ".partial";
}

}  // namespace

OutputFolder::OutputFolder(std::string dir, bool keep_partial)
    : dir_(std::move(dir)), keep_partial_(keep_partial) {
  namespace fs = std::filesystem;
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec))
    throw InputError("--out " + dir_ + " is a file, not a folder");
  if (fs::is_directory(dir_, ec))
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (!IsNpusimOutput(e.path()))
        throw InputError("--out " + dir_ + " holds '" + e.path().filename().string() +
                         "', which npusim did not write: choose an empty or new folder (npusim "
                         "clears only its own outputs)");
  partial_ = dir_ + ".partial";
  if (!keep_partial_) fs::remove_all(partial_, ec);
  fs::create_directories(partial_, ec);
  if (ec)
    throw OutputError("--out " + dir_ + ": cannot create " + partial_ + " (" + ec.message() + ")");
}

OutputFolder::~OutputFolder() {
  if (committed_ || keep_partial_) return;
  std::error_code ec;
  std::filesystem::remove_all(partial_, ec);
}

void OutputFolder::Commit() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw OutputError("--out " + dir_ + ": " + ec.message());
  // An earlier run's outputs all go (the constructor checked DIR holds nothing else); log.txt
  // belongs to the parent process that runs this one as a child (sweep, capacity, calibrate).
  for (const auto& e : fs::directory_iterator(dir_))
    if (IsNpusimOutput(e.path()) && e.path().filename() != "log.txt") fs::remove_all(e.path(), ec);
  for (const auto& e : fs::directory_iterator(partial_)) {
    fs::rename(e.path(), fs::path(dir_) / e.path().filename(), ec);
    if (ec)
      throw OutputError("--out " + dir_ + ": cannot move " + e.path().filename().string() +
                        " into place (" + ec.message() + ")");
  }
  fs::remove_all(partial_, ec);
  committed_ = true;
}

int64_t JobsOption(const Args& a, int64_t def) {
  const uint64_t jobs = UnsignedOption(a, "--jobs", static_cast<uint64_t>(def), 4096);
  if (jobs < 1) throw InputError("-j takes a positive number of local processes");
  return static_cast<int64_t>(jobs);
}

}  // namespace npusim
