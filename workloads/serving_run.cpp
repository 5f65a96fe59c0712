#include "workloads/serving_run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "workloads/self_runs.h"
#include "workloads/step_cost.h"

namespace npusim {

ProgressFn ServingProgressLog() {
  struct Clock {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    double last_print = 0;
  };
  auto c = std::make_shared<Clock>();
  return [c](int64_t done, int64_t total, double sim_us) {
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - c->start).count();
    if (done != total && wall - c->last_print < 2.0) return;
    c->last_print = wall;
    const std::string eta =
        done > 0 && done < total
            ? fmt::format(", ETA {:.0f} s",
                          wall / static_cast<double>(done) * static_cast<double>(total - done))
            : "";
    spdlog::info("{}/{} requests done, {:.3f} s simulated in {:.1f} s of wall time{}", done, total,
                 sim_us / 1e6, wall, eta);
  };
}

ServingOutcome SimulateServing(ResolvedRun& setup) {
  // Order matters: the kernel timer (if it forks its workers) does so before any SystemC
  // activity, the serving processes are elaborated before the functional runs simulate kernels
  // in this process.
  WorkerKernelTimer timer(setup.device, 0, SelfProgram());
  ServingSimulation simulation;
  ServingOutcome o;
  if (setup.run.mode == "functional") {
    spdlog::info("functional runs of {}: unchunked reference, chunked{}{}", setup.model.file,
                 setup.run.Mtp() ? ", MTP" : "",
                 setup.run.fault == "none" ? "" : ", fault " + setup.run.fault);
    o.study = RunFunctionalStudy(setup, [](const std::string& m) { spdlog::info("{}", m); });
    if (o.study->has_mtp)  // the timed run accepts drafts as the model's own draft did
      setup.run.speculative_accept_rates = o.study->accept_rates;
  }
  o.result = simulation.Run(setup, timer, ServingProgressLog());
  return o;
}

}  // namespace npusim
