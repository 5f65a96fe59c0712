// `npusim run` as library code: the kernel-timer workers, the functional study when the run
// config asks for one (its measured acceptance then drives the timed run), and the timed
// serving simulation, with progress on stderr. The caller writes the outputs.
#pragma once

#include <optional>

#include "workloads/functional_run.h"
#include "workloads/serving.h"

namespace npusim {

struct ServingOutcome {
  ServingResult result;
  std::optional<FunctionalStudy> study;  // mode: functional
};

// Throws what the simulation throws (SimFailure, InputError). `setup` may change: a functional
// study writes the acceptance its draft achieved into setup.run.speculative_accept_rates.
ServingOutcome SimulateServing(ResolvedRun& setup);

// A ProgressFn logging a line every 2 s of wall time and at the end: requests done, simulated
// time, its rate against the wall clock and an ETA from the requests' pace so far.
ProgressFn ServingProgressLog();

}  // namespace npusim
