#include "workloads/self_runs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <systemc>

namespace npusim {

namespace {

SelfRunner g_self_runner = nullptr;

// No SystemC object or event built and no simulation started in this process: a fork of it
// starts its own simulation as a new process would.
bool SystemcUntouched() {
  return sc_core::sc_get_top_level_objects().empty() &&
         sc_core::sc_get_top_level_events().empty() && sc_core::sc_delta_count() == 0 &&
         !sc_core::sc_start_of_simulation_invoked() &&
         sc_core::sc_get_status() == sc_core::SC_ELABORATION;
}

// The forked child runs the command in place and never returns into the parent's stack.
[[noreturn]] void RunInForkedChild(const std::vector<std::string>& args) {
  // RunChildren's stop handlers only record a signal for its loop: this child is stopped by
  // SIGINT / SIGTERM as an executed one is.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  int code = 1;
  try {
    code = g_self_runner(args);
  } catch (...) {  // the runner maps every error to an exit code; nothing may unwind past here
    code = 1;
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  _exit(code);
}

}  // namespace

void SetSelfRunner(SelfRunner runner) { g_self_runner = runner; }

std::string SelfProgram() { return g_self_runner ? "/proc/self/exe" : ""; }

pid_t SpawnSelf(const std::vector<std::string>& args, const std::string& log) {
  const bool in_place = g_self_runner != nullptr && SystemcUntouched();
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("sweep: fork() failed");
  if (pid == 0) {
    sigset_t none;  // RunChildren blocks SIGCHLD to wait for it; the child starts with none blocked
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0,
            0);  // its own process group: stopping it stops the kernel-timer process it forks too
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      if (fd > 2) close(fd);
    }
    if (in_place) RunInForkedChild(args);
    std::vector<char*> argv;
    std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here: a stop right after the fork must find the group
  return pid;
}

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void OnStopSignal(int sig) { g_stop_signal = sig; }

// SIGINT / SIGTERM stop the children too (a Ctrl-C'd sweep left its running point to write into
// the output folder later); the handler only records the signal, RunChildren's loop acts on it.
// Installed for the loop, the previous handlers back on any way out.
struct StopHandlers {
  struct sigaction old_int {
  }, old_term{};
  StopHandlers() {
    struct sigaction stop {};
    stop.sa_handler = OnStopSignal;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);
  }
  ~StopHandlers() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

// Between polls RunChildren sleeps until a child exits (SIGCHLD, blocked while this lives so that
// it stays pending until sigtimedwait takes it) or 20 ms pass (the wall-time limit, a stop
// signal): a warm capacity probe takes ~50 ms, and a plain 20 ms sleep left each one ~10 ms idle.
struct ChildExits {
  sigset_t set{}, old{};
  ChildExits() {
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
  }
  ~ChildExits() { sigprocmask(SIG_SETMASK, &old, nullptr); }
  void Wait() const {
    const timespec poll = {0, 20000000};
    sigtimedwait(&set, nullptr, &poll);  // a stop signal's handler ends it too
  }
};

}  // namespace

std::vector<int> RunChildren(const std::vector<std::vector<std::string>>& commands,
                             const std::function<std::string(size_t)>& dir_of, int64_t jobs,
                             const std::function<void(size_t, int)>& done, double timeout_s) {
  const StopHandlers handlers;
  struct Child {
    size_t index;
    std::chrono::steady_clock::time_point start;
    bool killed = false;  // at the wall-time limit
  };
  std::vector<int> codes(commands.size(), 0);
  std::map<pid_t, Child> running;
  auto stop_all = [&](int sig) {
    for (const auto& [pid, c] : running) kill(-pid, sig);
    for (const auto& [pid, c] : running) waitpid(pid, nullptr, 0);
    running.clear();
  };
  const ChildExits child_exits;
  size_t next = 0;
  while (next < commands.size() || !running.empty()) {
    while (next < commands.size() && static_cast<int64_t>(running.size()) < jobs &&
           !g_stop_signal) {
      const std::string dir = dir_of(next);
      std::filesystem::create_directories(dir);
      std::vector<std::string> args = commands[next];
      args.insert(args.end(), {"--quiet", "--out", dir});
      running[SpawnSelf(args, dir + "/log.txt")] = {next, std::chrono::steady_clock::now(), false};
      ++next;
    }
    if (g_stop_signal) {
      const int sig = g_stop_signal;
      stop_all(SIGTERM);
      throw Interrupted(sig);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {  // nothing finished: enforce the wall-time limit, then poll again shortly
      const auto now = std::chrono::steady_clock::now();
      for (auto& [p, c] : running)
        if (timeout_s > 0 && !c.killed &&
            std::chrono::duration<double>(now - c.start).count() > timeout_s) {
          kill(-p, SIGKILL);
          c.killed = true;
        }
      if (pid < 0 && running.empty()) break;
      child_exits.Wait();
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second.index;
    codes[i] = it->second.killed ? kExitTimeout : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    running.erase(it);
    if (done) done(i, codes[i]);
  }
  return codes;
}

}  // namespace npusim
