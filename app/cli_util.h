// Helpers shared by the npusim commands: parsed arguments, logging set-up, and running npusim
// itself as a child process (sweep points, calibration points). Progress with an ETA is
// model/progress.h.
#pragma once

#include <spdlog/spdlog.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/progress.h"
#include "workloads/self_runs.h"

namespace npusim {

struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;  // --key value, in order
  std::vector<std::string> flags;
};

bool Has(const Args& a, const std::string& flag);
std::string Option(const Args& a, const std::string& key, const std::string& def);
// An option's value as an integer in [0, max] (InputError otherwise: "-1" is not wrapped around).
uint64_t UnsignedOption(const Args& a, const std::string& key, uint64_t def, uint64_t max);
// spdlog to stderr at info (warn with --quiet, or --log-level's level): logs never mix with
// results.
void ConfigureLogging(const Args& a);
// Option `key` as a number in (0, 1] ("--mem-fraction takes a number in (0, 1]" otherwise).
double FractionOption(const Args& a, const std::string& key, double def);
// `v` of option `opt` split at its first '=' ("--set expects key=value, got 'x'" otherwise).
std::pair<std::string, std::string> SplitKeyValue(const std::string& opt, const std::string& v);
// Every --set KEY=VALUE of the command line, in order.
std::vector<std::pair<std::string, std::string>> SetOptions(const Args& a);
// "a,b,,c" -> a | b | (empty) | c.
std::vector<std::string> SplitList(const std::string& s, char sep);
// What every command does first: ConfigureLogging, then the kernel cache of --cache DIR or
// --no-cache (written into NPUSIM_KERNEL_CACHE, which the processes it spawns inherit).
void ConfigureProcess(const Args& a);
// Results (summaries, tables) go to stdout unless --quiet; the log level does not hide them.
bool ShowResults(const Args& a);

// The output folder of one command, written completely or not at all: files go into DIR.partial
// and Commit() moves them into DIR, removing what an earlier run left there and this one did not
// rewrite (a reused --out never mixes two runs). DIR must be absent or hold only npusim outputs:
// a --out naming a file, or a folder with other files, is an InputError, never cleared.
class OutputFolder {
 public:
  // keep_partial: an earlier DIR.partial stays (a sweep resumes from it) and so does this one
  // when the command does not commit (interrupted or failed).
  explicit OutputFolder(std::string dir, bool keep_partial = false);
  ~OutputFolder();  // not committed: the partial folder goes (unless kept), DIR is left as it was
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;
  const std::string& path() const { return partial_; }  // where the command writes
  const std::string& dir() const { return dir_; }
  void Commit();

 private:
  std::string dir_, partial_;
  bool committed_ = false, keep_partial_ = false;
};

// The --jobs value (InputError unless a positive integer).
int64_t JobsOption(const Args& a, int64_t def);

// --point-timeout SECONDS (default kDefaultPointTimeoutS; 0 = none): InputError unless a number >=
// 0.
double PointTimeoutOption(const Args& a);

}  // namespace npusim
