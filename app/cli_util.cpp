#include "app/cli_util.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <filesystem>
#include <map>
#include <set>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/error.h"
#include "model/text.h"

#include <spdlog/sinks/stdout_color_sinks.h>  // declares the stderr sinks too

namespace npusim {

bool Has(const Args& a, const std::string& flag) { return std::find(a.flags.begin(), a.flags.end(), flag) != a.flags.end(); }
std::string Option(const Args& a, const std::string& key, const std::string& def) {
  std::string v = def;
  for (const auto& [k, val] : a.options)
    if (k == key) v = val;
  return v;
}

uint64_t UnsignedOption(const Args& a, const std::string& key, uint64_t def, uint64_t max) {
  const std::string v = Option(a, key, std::to_string(def));
  const bool digits = !v.empty() && v.size() <= 20 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    errno = 0;
    const unsigned long long x = std::strtoull(v.c_str(), nullptr, 10);
    if (errno == 0 && x <= max) return x;
  }
  throw InputError(key + " takes an integer in [0, " + std::to_string(max) + "], got '" + v + "'");
}

void ConfigureLogging(const Args& a) {
  // Logs and progress on stderr, so stdout carries results only (`npusim run ... > out.md`).
  static const bool kStderr = [] {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("npusim", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
    return true;
  }();
  (void)kStderr;
  spdlog::set_pattern("%^%l%$: %v");
  spdlog::set_level(Has(a, "--quiet") ? spdlog::level::warn : spdlog::level::info);
  std::string level = Option(a, "--log-level", "");
  if (!level.empty()) {
    auto l = spdlog::level::from_str(level);
    if (l == spdlog::level::off && level != "off")
      throw InputError("unknown log level '" + level + "'" + NearestHint(level, {"trace", "debug", "info", "warn", "error", "off"}));
    spdlog::set_level(l);
  }
}

bool ShowResults(const Args& a) { return !Has(a, "--quiet"); }

namespace {

// What npusim writes into an output folder (any command): a folder holding anything else is
// not ours to clear.
bool IsNpusimOutput(const std::filesystem::path& p) {
  static const char* kNames[] = {"metrics.json", "config.resolved.yaml", "requests.csv", "kernel_calls.csv", "op_summary.csv", "trace.json",
                                 "report.md", "report.html", "tokens.csv", "points.csv", "summary.csv", "sweep.json", "log.txt",
                                 "points", "rate_points", "variants", "fit"};
  const std::string name = p.filename().string();
  for (const char* n : kNames)
    if (name == n) return true;
  return p.extension() == ".npy" || p.extension() == ".partial";
}

}  // namespace

OutputFolder::OutputFolder(std::string dir) : dir_(std::move(dir)) {
  namespace fs = std::filesystem;
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec)) throw InputError("--out " + dir_ + " is a file, not a folder");
  if (fs::is_directory(dir_, ec))
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (!IsNpusimOutput(e.path()))
        throw InputError("--out " + dir_ + " holds '" + e.path().filename().string() +
                         "', which npusim did not write: choose an empty or new folder (npusim clears only its own outputs)");
  partial_ = dir_ + ".partial";
  fs::remove_all(partial_, ec);
  fs::create_directories(partial_, ec);
  if (ec) throw OutputError("--out " + dir_ + ": cannot create " + partial_ + " (" + ec.message() + ")");
}

OutputFolder::~OutputFolder() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove_all(partial_, ec);
}

void OutputFolder::Commit() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw OutputError("--out " + dir_ + ": " + ec.message());
  std::set<std::string> fresh;
  for (const auto& e : fs::directory_iterator(partial_)) fresh.insert(e.path().filename().string());
  // An earlier run's outputs that this one does not rewrite go; log.txt belongs to the parent
  // process that runs this one as a child (sweep, capacity, calibrate) and stays.
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (IsNpusimOutput(e.path()) && name != "log.txt" && !fresh.count(name)) fs::remove_all(e.path(), ec);
  }
  for (const std::string& name : fresh) {
    const fs::path to = fs::path(dir_) / name;
    if (fs::exists(to, ec)) fs::remove_all(to, ec);
    fs::rename(fs::path(partial_) / name, to, ec);
    if (ec) throw OutputError("--out " + dir_ + ": cannot move " + name + " into place (" + ec.message() + ")");
  }
  fs::remove_all(partial_, ec);
  committed_ = true;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

pid_t SpawnSelf(const std::vector<std::string>& args, const std::string& log) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("sweep: fork() failed");
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int64_t JobsOption(const Args& a, int64_t def) {
  int64_t jobs = 0;
  try {
    jobs = std::stoll(Option(a, "--jobs", std::to_string(def)));
  } catch (const std::exception&) {
    jobs = 0;
  }
  if (jobs < 1) throw InputError("-j takes a positive number of local processes");
  return jobs;
}

std::vector<int> RunChildren(const std::vector<std::vector<std::string>>& commands, const std::function<std::string(size_t)>& dir_of,
                             int64_t jobs, const std::function<void(size_t, int)>& done) {
  std::vector<int> codes(commands.size(), 0);
  std::map<pid_t, size_t> running;
  size_t next = 0;
  while (next < commands.size() || !running.empty()) {
    while (next < commands.size() && static_cast<int64_t>(running.size()) < jobs) {
      const std::string dir = dir_of(next);
      std::filesystem::create_directories(dir);
      std::vector<std::string> args = commands[next];
      args.insert(args.end(), {"--quiet", "--out", dir});
      running[SpawnSelf(args, dir + "/log.txt")] = next;
      ++next;
    }
    int status = 0;
    const pid_t pid = wait(&status);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    codes[it->second] = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    const size_t i = it->second;
    running.erase(it);
    if (done) done(i, codes[i]);
  }
  return codes;
}

}  // namespace npusim
