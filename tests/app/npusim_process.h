// Runs the npusim binary as a user would: exit code and everything it printed.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace npusim {

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

// A shell command line: its exit code and what it printed on stdout.
inline Result Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline Result Npusim(const std::string& args) {
  return Shell(std::string(NPUSIM_BIN) + " " + args + " 2>&1");
}

inline std::filesystem::path TestRoot() {
  return std::filesystem::temp_directory_path() / ("npusim_cli_" + std::to_string(::getpid()));
}

// A test process's outputs go when its tests passed (NPUSIM_KEEP_TEST_OUTPUT keeps them): every
// run of the suite left ~6 GB in /tmp (a fit alone wrote 2 GB), and the disk filled up. A failed
// test's outputs stay for a look. Children that end with _exit do not run this.
inline void RemoveTestRootIfPassed() {
  if (std::getenv("NPUSIM_KEEP_TEST_OUTPUT") || !::testing::UnitTest::GetInstance()->Passed())
    return;
  std::error_code ec;
  std::filesystem::remove_all(TestRoot(), ec);
}

inline std::string Dir(const std::string& name) {
  static const bool registered = std::atexit(RemoveTestRootIfPassed) == 0;
  (void)registered;
  std::filesystem::path d = TestRoot() / name;
  std::filesystem::create_directories(d);
  return d.string();
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace npusim
