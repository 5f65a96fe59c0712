// Child npusim runs: a process that has not touched SystemC forks children that call the
// registered runner in place (its exit code is the child's, its output goes to the log, a stop
// signal stops it whatever handler the parent had); a process that has built a SystemC module
// executes the binary instead (here the test binary itself, which ignores the runner).
#include "workloads/self_runs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <systemc>

namespace npusim {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every command starts with a filter that makes the test binary run no test, should it be
// executed instead of the runner being called.
const std::string kNoTests = "--gtest_filter=NoSuchSuite.None";

// After printing its arguments on stdout and stderr: "exit N" returns N; "throw" throws; "wait"
// waits for a signal and returns 0 if one arrives that does not end the process.
int FakeRunner(const std::vector<std::string>& args) {
  std::cout << "out:";
  for (const std::string& a : args) std::cout << " " << a;
  std::cout << "\n";
  std::cerr << "err: " << args.size() << " arguments\n";
  if (args.at(1) == "throw") throw std::runtime_error("a runner that throws");
  if (args.at(1) == "wait") {
    pause();
    return 0;
  }
  return std::stoi(args.at(2));
}

int WaitStatus(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::string LogPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("npusim_self_runs_") + name + "_" + std::to_string(getpid()) + ".txt"))
      .string();
}

TEST(SelfRuns, AChildForkedBeforeAnySimulationRunsTheRunnerInPlace) {
  SetSelfRunner(FakeRunner);
  const std::string log = LogPath("in_place");
  const int status = WaitStatus(SpawnSelf({kNoTests, "exit", "7"}, log));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_EQ(ReadAll(log), "out: " + kNoTests + " exit 7\nerr: 3 arguments\n");
  // An exception the runner lets through ends the child with 1, never in the parent's code.
  const int thrown = WaitStatus(SpawnSelf({kNoTests, "throw"}, log));
  ASSERT_TRUE(WIFEXITED(thrown));
  EXPECT_EQ(WEXITSTATUS(thrown), 1);
  std::filesystem::remove(log);
}

extern "C" void IgnoreSignal(int) {}

TEST(SelfRuns, AStopSignalStopsAChildRunInPlaceWhateverHandlerTheParentHad) {
  SetSelfRunner(FakeRunner);
  struct sigaction ignore {};
  ignore.sa_handler = IgnoreSignal;  // as RunChildren's handlers: record and go on
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGTERM, &ignore, nullptr);
  const std::string log = LogPath("stop");
  const pid_t pid = SpawnSelf({kNoTests, "wait"}, log);
  for (int ms = 0; ms < 10000 && ReadAll(log).find("err:") == std::string::npos; ++ms)
    usleep(1000);  // the runner has started: it is in pause() or about to be
  kill(pid, SIGTERM);
  const int status = WaitStatus(pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  std::filesystem::remove(log);
}

SC_MODULE(Idle){SC_CTOR(Idle){}};

TEST(SelfRuns, AProcessThatBuiltASimulationExecutesTheBinaryInstead) {
  SetSelfRunner(FakeRunner);
  Idle idle("idle");  // this process's SystemC state is no longer fresh
  const std::string log = LogPath("exec");
  // The binary is this test program: it runs no test and exits 0; the runner would return 9.
  const int status = WaitStatus(SpawnSelf({kNoTests, "exit", "9"}, log));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadAll(log).find("out:"), std::string::npos) << ReadAll(log);
  EXPECT_NE(ReadAll(log).find("0 tests"), std::string::npos) << ReadAll(log);
  std::filesystem::remove(log);
}

}  // namespace
}  // namespace npusim
