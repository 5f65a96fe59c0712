#include "workloads/step_cost.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "devices/device_config.h"
#include "model/error.h"
#include "ops/runner.h"
#include "workloads/kernel_cache.h"

namespace npusim {

using Json = nlohmann::json;

std::vector<KernelProfile> InProcessKernelTimer::Time(const std::vector<KernelCall>& calls) {
  return TimeCalls(calls, device_).profiles;
}

// The wire format between the parent and its workers and children: one JSON object per line,
// each carrying "v": kWireVersion, so a worker of another build is refused, not misread.
//   request   {"v":1,"calls":[{"op":"rms_norm","params":[["tokens","8"],...]},...]}
//   answer    {"v":1,"profiles":[<ProfileJson>,...],"seconds":S}  one per call, in the calls'
//             order; S = the worker's wall time for them (the parent's cost estimate)
//   child     {"v":1,"result":"<text>"}                   RunInChildProcess
//   device    {"v":1,"device":{"soc":S,"source_file":F,"params":[[key,exact],...]},
//              "fingerprint":P}  first line to a spawned worker; P = DeviceFingerprint, which
//             the worker checks on the device it rebuilt
//   failure   {"v":1,"failure":{"kind":"sim","status":"ub_overflow","message":"..."}}
//             kind "input" (no status) for an InputError or an internal error
constexpr int kWireVersion = 1;

namespace {

bool ReadLine(FILE* f, std::string& line) {
  line.clear();
  int c;
  while ((c = std::fgetc(f)) != EOF && c != '\n') line += static_cast<char>(c);
  return c != EOF || !line.empty();
}

void WriteLine(FILE* f, const Json& j) {
  const std::string s = j.dump();
  std::fprintf(f, "%s\n", s.c_str());
  std::fflush(f);
}

Json CallJson(const KernelCall& c) {
  Json params = Json::array();
  for (const auto& [k, v] : c.params) params.push_back({k, v});
  return {{"op", c.op}, {"params", params}};
}

// The failure message of the exception being handled (call inside a catch block).
Json FailureJson(const std::string& internal_what) {
  try {
    throw;
  } catch (const SimFailure& e) {
    return {{"v", kWireVersion},
            {"failure", {{"kind", "sim"}, {"status", e.status()}, {"message", e.what()}}}};
  } catch (const InputError& e) {
    return {{"v", kWireVersion}, {"failure", {{"kind", "input"}, {"message", e.what()}}}};
  } catch (const std::exception& e) {
    return {{"v", kWireVersion},
            {"failure", {{"kind", "input"}, {"message", internal_what + e.what()}}}};
  }
}

// A failure message as the exception it reports.
[[noreturn]] void ThrowFailure(const Json& f, const char* who) {
  const std::string kind = f.value("kind", ""), message = f.value("message", "");
  if (kind == "sim") throw SimFailure(f.value("status", ""), message);
  if (kind == "input") throw InputError(message);
  throw std::runtime_error(std::string(who) + ": bad failure " + f.dump());
}

void ServeChild(const DeviceConfig& d, FILE* in, FILE* out) {
  InProcessKernelTimer timer(d);
  std::string line;
  while (ReadLine(in, line)) {
    try {
      const Json req = ParseWireMessage(line, "kernel timer worker");
      std::vector<KernelCall> calls;
      for (const Json& c : req.at("calls")) {
        KernelCall k;
        k.op = c.at("op").get<std::string>();
        for (const Json& kv : c.at("params"))
          k.params.push_back({kv.at(0).get<std::string>(), kv.at(1).get<std::string>()});
        calls.push_back(std::move(k));
      }
      const auto t0 = std::chrono::steady_clock::now();
      Json profiles = Json::array();
      for (const KernelProfile& p : timer.Time(calls)) profiles.push_back(ProfileJson(p));
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      WriteLine(out, {{"v", kWireVersion}, {"profiles", profiles}, {"seconds", seconds}});
    } catch (...) {
      WriteLine(out, FailureJson("internal error in the kernel timer: "));
    }
  }
}

}  // namespace

// A message from the other side, its version checked.
nlohmann::json ParseWireMessage(const std::string& line, const char* who) {
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Json::exception&) {
    throw std::runtime_error(std::string(who) + ": bad message '" + line + "'");
  }
  const int v =
      j.is_object() && j.contains("v") && j["v"].is_number_integer() ? j["v"].get<int>() : -1;
  if (v != kWireVersion)
    throw std::runtime_error(std::string(who) + ": protocol version " + std::to_string(v) +
                             ", this build speaks " + std::to_string(kWireVersion));
  return j;
}

int MachineCores() { return static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN))); }

int KernelWorkers() {
  if (const char* env = std::getenv("NPUSIM_KERNEL_WORKERS")) {
    const int n = std::atoi(env);
    if (n < 1 || n > 64)
      throw InputError("NPUSIM_KERNEL_WORKERS='" + std::string(env) +
                       "': a worker count from 1 to 64");
    return n;
  }
  return std::min(MachineCores(), 8);
}

WorkerKernelTimer::WorkerKernelTimer(const DeviceConfig& d, int workers, std::string program)
    : device_(d), wanted_(workers > 0 ? workers : KernelWorkers()), program_(std::move(program)) {
  // The binary's stamp is hashed here, once, rather than once in every worker.
  if (!KernelCacheDir().empty()) fingerprint_ = DeviceFingerprint(d);
  if (program_.empty())
    for (int w = 0; w < wanted_; ++w) Fork();
}

void WorkerKernelTimer::Fork() {
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) throw std::runtime_error("kernel timer: pipe() failed");
  std::fflush(nullptr);
  const int pid = fork();
  if (pid < 0) throw std::runtime_error("kernel timer: fork() failed");
  if (pid == 0) {
    // The earlier workers' pipe ends stay with the parent only: a copy here would keep their
    // input open after the parent closes it, and they would never see the end of it.
    for (const Worker& other : workers_) {
      close(fileno(other.to));
      close(fileno(other.from));
    }
    close(down[1]);
    close(up[0]);
    FILE* in = fdopen(down[0], "r");
    FILE* out = fdopen(up[1], "w");
    ServeChild(device_, in, out);
    std::fflush(out);
    _exit(0);
  }
  close(down[0]);
  close(up[1]);
  workers_.push_back({pid, fdopen(down[1], "w"), fdopen(up[0], "r")});
}

void WorkerKernelTimer::SpawnWorkers() {
  Json params = Json::array();
  for (const auto& [k, v] : DeviceParams(device_)) params.push_back({k, v});
  const Json device = {
      {"v", kWireVersion},
      {"device", {{"soc", device_.soc}, {"source_file", device_.source_file}, {"params", params}}},
      {"fingerprint", DeviceFingerprint(device_)}};
  for (int w = 0; w < wanted_; ++w) Spawn(device);
}

void WorkerKernelTimer::Spawn(const nlohmann::json& device) {
  // Close-on-exec everywhere: a worker gets its own two ends as stdin / stdout and nothing else.
  int down[2], up[2];
  if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0)
    throw std::runtime_error("kernel timer: pipe() failed");
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, down[0], 0);
  posix_spawn_file_actions_adddup2(&files, up[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;  // whatever this process blocks, the worker starts with no signal blocked
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  // The worker logs (on the stderr it shares with this process) from this process's level.
  std::string arg0 = "npusim", arg1 = "kernel-worker",
              arg2(spdlog::level::to_string_view(spdlog::get_level()).data());
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program_.c_str(), &files, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  close(down[0]);
  close(up[1]);
  if (rc != 0) {
    close(down[1]);
    close(up[0]);
    throw std::runtime_error("kernel timer: cannot start " + program_ + ": " + std::strerror(rc));
  }
  workers_.push_back({pid, fdopen(down[1], "w"), fdopen(up[0], "r")});
  WriteLine(workers_.back().to, device);
}

int ServeKernelWorker(FILE* in, FILE* out) {
  std::string line;
  if (!ReadLine(in, line)) return 0;
  DeviceConfig d;
  try {
    const Json m = ParseWireMessage(line, "kernel timer worker");
    const Json& dev = m.at("device");
    KeyValues params;
    for (const Json& kv : dev.at("params"))
      params.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
    d = DeviceFromParams(params);
    d.soc = dev.at("soc").get<std::string>();
    d.source_file = dev.at("source_file").get<std::string>();
    if (DeviceFingerprint(d) != m.at("fingerprint").get<std::string>())
      throw std::runtime_error("the device rebuilt from its parameters differs from the sent one");
  } catch (const std::exception& e) {  // every request gets the reason
    const Json failure = {
        {"v", kWireVersion},
        {"failure",
         {{"kind", "input"}, {"message", std::string("kernel timer worker: ") + e.what()}}}};
    while (ReadLine(in, line)) WriteLine(out, failure);
    return 1;
  }
  ServeChild(d, in, out);
  return 0;
}

WorkerKernelTimer::~WorkerKernelTimer() {
  for (Worker& w : workers_) {
    if (w.to) std::fclose(w.to);  // EOF: the child leaves its loop
    if (w.from) std::fclose(w.from);
  }
  for (Worker& w : workers_) {
    int status = 0;
    if (w.pid > 0) waitpid(w.pid, &status, 0);
  }
}

// Calls go to the workers one at a time, each to the first worker that is free, the slowest
// first (by the mean wall time of their op so far): a forward's one long kernel (a chunk GDN
// prefill) no longer keeps a worker busy while the others wait with nothing dealt to them. A
// call answered once (by any worker) is answered from the memo. Which worker simulates a call
// cannot change its profile, so the outputs stay the same at any worker count. After a failure
// only calls that come before it in `calls` are still sent: the failure reported is always the
// one of the earliest failing call, as in one process.
std::vector<KernelProfile> WorkerKernelTimer::Time(const std::vector<KernelCall>& calls) {
  std::vector<KernelProfile> out(calls.size());
  std::vector<Json> wire(calls.size());
  std::vector<std::string> keys(calls.size());         // the wire form as text: the memo key
  std::map<std::string, std::vector<size_t>> waiting;  // a new call's key -> its indices
  std::vector<size_t> todo;                            // the first index of each new call
  for (size_t i = 0; i < calls.size(); ++i) {
    wire[i] = CallJson(calls[i]);
    const std::string& key = keys[i] = wire[i].dump();
    if (auto m = memo_.find(key); m != memo_.end()) {
      out[i] = m->second;
      continue;
    }
    if (const std::optional<KernelProfile> p = CachedCallProfile(calls[i], fingerprint_)) {
      out[i] = memo_[key] = *p;
      continue;
    }
    std::vector<size_t>& w = waiting[key];
    if (w.empty()) todo.push_back(i);
    w.push_back(i);
  }
  auto estimate = [&](size_t i) {
    const auto e = op_seconds_.find(calls[i].op);
    return e == op_seconds_.end() ? 1e9 : e->second.first / e->second.second;
  };
  std::stable_sort(todo.begin(), todo.end(),
                   [&](size_t a, size_t b) { return estimate(a) > estimate(b); });

  if (!todo.empty() && workers_.empty()) SpawnWorkers();
  const size_t n = workers_.size();
  std::vector<size_t> busy(n, calls.size());  // the call a worker is timing, or calls.size()
  size_t next = 0, failed_at = calls.size();
  std::optional<Json> failure;
  auto send = [&](size_t w) {
    while (next < todo.size() && todo[next] > failed_at) ++next;
    if (next == todo.size()) return;
    busy[w] = todo[next++];
    WriteLine(workers_[w].to, {{"v", kWireVersion}, {"calls", Json::array({wire[busy[w]]})}});
  };
  for (size_t w = 0; w < n; ++w) send(w);
  while (true) {
    std::vector<pollfd> fds;
    std::vector<size_t> who;
    for (size_t w = 0; w < n; ++w)
      if (busy[w] < calls.size()) {
        fds.push_back({fileno(workers_[w].from), POLLIN, 0});
        who.push_back(w);
      }
    if (fds.empty()) break;
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("kernel timer: poll() failed: ") + std::strerror(errno));
    }
    for (size_t f = 0; f < fds.size(); ++f) {
      if (fds[f].revents == 0) continue;
      const size_t w = who[f], i = busy[w];
      busy[w] = calls.size();
      std::string line;
      if (!ReadLine(workers_[w].from, line))
        throw std::runtime_error("kernel timer: a worker process died");
      const Json a = ParseWireMessage(line, "kernel timer");
      if (a.contains("failure")) {
        if (i < failed_at) failure = a["failure"], failed_at = i;
      } else {
        const Json& profiles = a.at("profiles");
        const std::optional<KernelProfile> p =
            profiles.size() == 1 ? ProfileFromJson(profiles[0]) : std::nullopt;
        if (!p) throw std::runtime_error("kernel timer: bad answer " + line);
        memo_[keys[i]] = *p;
        for (size_t j : waiting[keys[i]]) out[j] = *p;
        auto& [sum, count] = op_seconds_[calls[i].op];
        sum += a.value("seconds", 0.0);
        ++count;
      }
      send(w);
    }
  }
  if (failure) ThrowFailure(*failure, "kernel timer");
  return out;
}

std::string RunInChildProcess(const std::function<std::string()>& work) {
  int up[2];
  if (pipe(up) != 0) throw std::runtime_error("child process: pipe() failed");
  std::fflush(nullptr);
  const int pid = fork();
  if (pid < 0) throw std::runtime_error("child process: fork() failed");
  if (pid == 0) {
    close(up[0]);
    FILE* out = fdopen(up[1], "w");
    try {
      WriteLine(out, {{"v", kWireVersion}, {"result", work()}});
    } catch (...) {
      WriteLine(out, FailureJson("internal error in a child process: "));
    }
    _exit(0);
  }
  close(up[1]);
  FILE* in = fdopen(up[0], "r");
  std::string line;
  const bool got = ReadLine(in, line);
  std::fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!got) throw std::runtime_error("child process died (status " + std::to_string(status) + ")");
  const Json a = ParseWireMessage(line, "child process");
  if (a.contains("failure")) ThrowFailure(a["failure"], "child process");
  return a.at("result").get<std::string>();
}

}  // namespace npusim
