// Running npusim itself as child processes, a few at a time: the sweep's points, the capacity
// search's probes and the calibration corpus's rows each run as `npusim <command> ... --quiet
// --out DIR` (one SystemC simulation per process), with a wall-time limit and a clean stop on
// SIGINT / SIGTERM.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace npusim {

// Runs npusim itself with `args`, stdout and stderr to `log`, in its own process group; returns
// the pid. With a runner set (SetSelfRunner) and no SystemC object built nor simulation started
// in this process, the child is a fork that calls the runner directly: a copy of a process that
// has not touched SystemC is as fresh as a new one, without loading and initialising the binary
// again (~15 ms of a ~60 ms warm capacity probe). Otherwise it executes /proc/self/exe.
pid_t SpawnSelf(const std::vector<std::string>& args, const std::string& log);

// What SpawnSelf's forked child calls with its arguments (the CLI's entry point; app/ sets it,
// since workloads/ may not include app/); its return value is the child's exit code.
using SelfRunner = int (*)(const std::vector<std::string>& args);
void SetSelfRunner(SelfRunner runner);
// The npusim binary this process can start again ("/proc/self/exe"), or "" in a program that is
// not npusim (no runner set: a test binary).
std::string SelfProgram();

// A child killed at its wall-time limit ends with this code (as timeout(1) does).
constexpr int kExitTimeout = 124;
constexpr double kDefaultPointTimeoutS = 7200;

// SIGINT or SIGTERM stopped a command that runs children; they were stopped first.
class Interrupted : public std::runtime_error {
 public:
  explicit Interrupted(int sig)
      : std::runtime_error("interrupted by signal " + std::to_string(sig)), sig_(sig) {}
  int signal() const { return sig_; }

 private:
  int sig_;
};

// Runs every command as a child npusim (`dir_of(i)` gets --out and log.txt), `jobs` at a time;
// `done(i, exit code)` after each. A child running longer than `timeout_s` (0 = no limit) is
// killed and reports kExitTimeout. SIGINT / SIGTERM stop every running child and throw
// Interrupted. Returns the exit codes in command order.
std::vector<int> RunChildren(const std::vector<std::vector<std::string>>& commands,
                             const std::function<std::string(size_t)>& dir_of, int64_t jobs,
                             const std::function<void(size_t, int)>& done,
                             double timeout_s = kDefaultPointTimeoutS);

}  // namespace npusim
