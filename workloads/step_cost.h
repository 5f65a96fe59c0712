// What one forward of the model costs on a rank: its kernel launches in issue order (layer by
// layer, as the framework issues them) with each launch's device time from the kernel
// simulator. Kernel simulations run the chip model with sc_start(), which must not happen while
// the serving simulation's own SystemC processes are pending: the serving engine therefore asks
// a KernelTimer, which runs the kernels either in this process (no serving simulation running)
// or in worker processes (WorkerKernelTimer).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "workloads/step_graph.h"

namespace npusim {

class KernelTimer {
 public:
  virtual ~KernelTimer() = default;
  // One launch of each call: its device time and profile. SimFailure / InputError of a kernel
  // propagate.
  virtual std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) = 0;
};

class InProcessKernelTimer : public KernelTimer {
 public:
  explicit InProcessKernelTimer(DeviceConfig d) : device_(std::move(d)) {}
  std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) override;

 private:
  DeviceConfig device_;
};

// Worker processes run the kernels; requests and answers go over pipes. Given `program` (the
// npusim binary), the workers are started as `program kernel-worker` on the first call that
// neither the memo nor the on-disk kernel cache answers, and get the device over the pipe: a
// warm run (a repeated capacity probe) starts none, and this process is never forked, so the
// serving loop pays no copy-on-write faults for workers it does not need. Without a program (a
// test binary cannot serve as one) the workers are forked at construction, before any SystemC
// activity here. The new calls of one Time() go one at a time to whichever worker is free, the
// slowest first, and every answer is memoised here; each kernel's result does not depend on the
// process that simulates it (every launch starts from a cold, idle chip), so any number of
// workers gives the same profiles. A worker's failure comes back as the same SimFailure /
// InputError (with several, the one of the earliest failing call).
class WorkerKernelTimer : public KernelTimer {
 public:
  // `workers` processes (0 = KernelWorkers()).
  explicit WorkerKernelTimer(const DeviceConfig& d, int workers = 0, std::string program = "");
  ~WorkerKernelTimer() override;
  std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) override;
  int workers() const { return static_cast<int>(workers_.size()); }  // started so far

 private:
  struct Worker {
    int pid = -1;
    FILE* to = nullptr;
    FILE* from = nullptr;
  };
  void Fork();
  void SpawnWorkers();                       // on the first call nothing else answers
  void Spawn(const nlohmann::json& device);  // `device`: the first line it reads
  DeviceConfig device_;
  int wanted_;
  std::string program_;
  std::string fingerprint_;  // the device's, for the disk-cache lookups made here (empty: no cache)
  std::vector<Worker> workers_;
  std::map<std::string, KernelProfile> memo_;                 // call (wire form) -> profile
  std::map<std::string, std::pair<double, int>> op_seconds_;  // op -> wall seconds, calls
};

// A `npusim kernel-worker` process: the device on the first line of `in`, then requests,
// answered on `out` (the wire format in step_cost.cpp). Returns the exit code.
int ServeKernelWorker(FILE* in, FILE* out);

// Kernel-timer workers of a serving run: NPUSIM_KERNEL_WORKERS when set (1-64), else the
// machine's cores (at most 8).
int KernelWorkers();
int MachineCores();  // online cores, at least 1

// Runs `work` in a forked child (a fresh SystemC kernel for its simulations) and returns what it
// returned; the child's SimFailure / InputError come back as the same exceptions. Call it before
// any SystemC activity in this process when the child builds chips of its own.
std::string RunInChildProcess(const std::function<std::string()>& work);
// One line of the wire format (step_cost.cpp lists the messages) parsed, its "v" checked against
// this build's: std::runtime_error naming `who` for a line that is not JSON or of another version.
nlohmann::json ParseWireMessage(const std::string& line, const char* who);

// One forward: its calls, each launch in issue order, and the device time if run back to back.
struct Forward {
  std::vector<KernelCall> calls;
  std::vector<double> call_us;          // per launch of calls[i]
  std::vector<KernelProfile> profiles;  // per launch of calls[i]
  std::vector<int> order;               // launches in issue order, as indices into calls
  int64_t layers = 0;           // decoder layers the forward runs (glue launches scale with them)
  int64_t device_launches = 0;  // device launches in issue order (an op may launch several)
  double device_us = 0;
};

}  // namespace npusim
