// What one forward of the model costs on a rank: its kernel launches in issue order (layer by
// layer, as the framework issues them) with each launch's device time from the kernel
// simulator. Kernel simulations run the chip model with sc_start(), which must not happen while
// the serving simulation's own SystemC processes are pending: the serving engine therefore asks
// a KernelTimer, which runs the kernels either in this process (no serving simulation running)
// or in a child process forked before the serving simulation starts (ForkedKernelTimer).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

// A child process (forked at construction, before any SystemC activity in the parent) runs the
// kernels; requests and answers go over pipes. The child's failures come back as the same
// SimFailure / InputError.
class ForkedKernelTimer : public KernelTimer {
 public:
  explicit ForkedKernelTimer(const DeviceConfig& d);
  ~ForkedKernelTimer() override;
  std::vector<KernelProfile> Time(const std::vector<KernelCall>& calls) override;

 private:
  int pid_ = -1;
  FILE* to_child_ = nullptr;
  FILE* from_child_ = nullptr;
};

// Runs `work` in a forked child (a fresh SystemC kernel for its simulations) and returns what it
// returned; the child's SimFailure / InputError come back as the same exceptions. Call it before
// any SystemC activity in this process when the child builds chips of its own.
std::string RunInChildProcess(const std::function<std::string()>& work);
// Tabs and newlines inside one field of a tab-separated line.
std::string EscapeField(const std::string& s);
std::string UnescapeField(const std::string& s);

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
