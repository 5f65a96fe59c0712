// A sweep: a grid over the keys of a run config (`run: RUN.yaml`) or of a kernel (`kernel: NAME`),
// expanded in a fixed order so `--shard I/N` takes a deterministic slice (point i belongs to
// shard i mod N + 1). Axes may tie keys together ("a,b": [[1, 2], [2, 3]]) for parameters that
// must move in step (speculative_num_steps and speculative_num_draft_tokens).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace npusim {

struct SweepAxis {
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> values;  // one value per key, per step of the axis
};

struct SweepConfig {
  std::string file;
  std::string run;                     // run config path (resolved against the sweep file), or
  std::string kernel;                  // a kernel name
  std::string device = "Ascend910B3";  // kernel sweeps
  std::vector<SweepAxis> axes;
};

SweepConfig LoadSweepConfig(const std::string& path);
SweepConfig ParseSweepConfig(const std::string& text, const std::string& file);

// Every point's key=value overrides, in grid order (first axis slowest).
std::vector<std::vector<std::pair<std::string, std::string>>> SweepPoints(const SweepConfig& c);

// Every point loads before any runs (the run config with the point's overrides: each key and
// value valid), or a kernel sweep's kernel exists: a sweep that validates does not fail point by
// point later. InputError naming the point and its overrides otherwise.
void ValidateSweepPoints(const SweepConfig& c);

// What a sweep's points are: 16 hex digits of a hash over the base (the run config's text, or
// the kernel and device) and every point's overrides. Shards merge only when theirs agree, so an
// edited grid or run config is caught whatever path named it.
std::string SweepGridId(const SweepConfig& c);

// "I/N" -> (I, N), 1 <= I <= N; InputError otherwise.
std::pair<int64_t, int64_t> ParseShard(const std::string& s);
inline bool InShard(int64_t index, std::pair<int64_t, int64_t> shard) {
  return index % shard.second == shard.first - 1;
}
// The indices of the `total` points that fall in `shard`, rising.
std::vector<int64_t> ShardPoints(int64_t total, std::pair<int64_t, int64_t> shard);
// The npusim command line (without the binary) that runs one point: `run` of the sweep's run
// config, or the kernel timing-only on its device, with the point's overrides as --set.
std::vector<std::string> SweepPointCommand(
    const SweepConfig& c, const std::vector<std::pair<std::string, std::string>>& point);
// Whether a point that exited with `code` is done for a later resume: a result, a refused input
// or a simulated failure is; a timeout or a signal runs again.
bool SweepPointFinished(int code);
// reports/out/sweep-<config stem>[-IofN]: where a shard writes without --out.
std::string SweepDefaultOut(const std::string& config_path, std::pair<int64_t, int64_t> shard);

// The points of `mine` an earlier run of the same grid finished, with their exit codes: in the
// command's partial folder (an interrupted sweep) or its final folder (a finished one, copied so
// it stays whole until the commit). A partial folder of another grid (or of none) is cleared and
// stamped with this one (its grid_id file).
std::map<int64_t, int> AdoptFinishedPoints(const std::string& partial, const std::string& final_dir,
                                           const std::string& grid,
                                           const std::vector<int64_t>& mine);

// One shard's execution: every point of the shard not in `codes` runs as its own npusim process
// (SweepPointCommand) in points_dir/<index>, `jobs` at a time, each stopped after
// `point_timeout_s` (0: no limit); a finished point's exit code goes into its exit_code file
// (what a resume adopts) and into `codes`.
struct SweepShardRun {
  std::pair<int64_t, int64_t> shard{1, 1};
  int64_t jobs = 1;
  double point_timeout_s = 0;
};
void RunSweepPoints(const SweepConfig& c, const SweepShardRun& run, const std::string& points_dir,
                    std::map<int64_t, int>& codes);

}  // namespace npusim
