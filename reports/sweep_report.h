// Sweep outputs: one row per point with the figures a sweep is for (read from each point's own
// metrics.json), written as sweep.json / summary.csv / report.md; and `merge`, which joins the
// sweep.json of shards into one table and finds missing and duplicate points. Both also write
// report.html: each figure charted against the first swept key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "workloads/sweep.h"

namespace npusim {

struct SweepRow {
  int64_t index = 0;
  std::vector<std::pair<std::string, std::string>> params;
  int exit_code = 0;
  std::string status;                     // the point's metrics.json status, or "exit N"
  std::map<std::string, double> figures;  // ttft_mean_ms, tpot_mean_ms, ... or time_us
};

SweepRow ReadPointResult(int64_t index,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         int exit_code, const std::string& dir);

struct SweepTable {
  std::string config, shard;  // shard "I/N", or "merged"
  std::string grid;           // SweepGridId: shards merge only when theirs agree
  int64_t total = 0;          // points in the whole grid
  std::vector<SweepRow> rows;
  std::vector<int64_t> missing, duplicates;
};
void WriteSweepOutputs(const SweepTable& t, const std::string& dir);
// Reads DIR/sweep.json of every shard; InputError if they come from different sweeps.
SweepTable MergeSweeps(const std::vector<std::string>& dirs);

}  // namespace npusim
