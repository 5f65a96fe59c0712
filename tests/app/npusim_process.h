// Runs the npusim binary as a user would: exit code and everything it printed.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace npusim {

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

inline Result Npusim(const std::string& args) {
  std::string cmd = std::string(NPUSIM_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::string Dir(const std::string& name) {
  std::filesystem::path d = std::filesystem::temp_directory_path() / ("npusim_cli_" + std::to_string(::getpid())) / name;
  std::filesystem::create_directories(d);
  return d.string();
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace npusim
