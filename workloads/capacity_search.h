// The request-rate half of capacity planning, as plain search logic: the highest Poisson
// request rate at which a serving run still meets its objectives. The caller runs the serving
// simulation for each probed rate (`meets`); the search only decides where to probe next.
#pragma once

#include <functional>
#include <vector>

namespace npusim {

struct RateSearch {
  double best = 0;             // highest rate that met the objectives (0: none did)
  double lowest_failing = 0;   // lowest rate that did not (0: none failed)
  std::vector<double> probed;  // in probing order
};

// From `start`: doubles while runs pass (or halves while they fail) to bracket the limit, then
// bisects geometrically until the bracket is within a factor 1 + `tolerance`. At most
// `max_probes` runs; serving latency rises with the rate, so one bracket is enough.
RateSearch SearchHighestRate(double start, const std::function<bool(double rate)>& meets,
                             double tolerance = 0.1, int max_probes = 12);

}  // namespace npusim
