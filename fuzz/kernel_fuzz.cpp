// libFuzzer target for the kernel set: the input bytes pick a kernel, draw each parameter from
// its declared range (every integer, kept within 16 above its minimum, so that every run is small
// and functional; now and then a value past a bound, NaN or inf), and may overwrite the kernel's
// integer control tensors (indices, offsets) with values from anywhere in int32, negative ones
// included. The kernel then runs functionally on Ascend910B3. An InputError (exit 2) or a
// simulated failure status (exit 3) is a correct answer; any other exception, a crash, a hang or
// a sanitizer report is a finding.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "devices/device_config.h"
#include "model/error.h"
#include "ops/op.h"
#include "ops/runner.h"

namespace {

// Bytes of the input, read front to back; zeros once it runs out.
class Bytes {
 public:
  Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint8_t U8() { return at_ < n_ ? d_[at_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | U8();
    return v;
  }

 private:
  const uint8_t* d_;
  size_t n_, at_ = 0;
};

std::string Draw(const npusim::OpParam& p, Bytes& b) {
  using K = npusim::OpParam::Kind;
  const uint8_t how = b.U8();
  if (p.kind == K::kString) {
    if (!p.choices.empty()) return p.choices[how % p.choices.size()];
    // Free text (seq_lens and the like): a short comma list of small numbers, or the default.
    if (how % 4) return p.default_value;
    std::string s;
    for (int i = 0, n = 1 + b.U8() % 4; i < n; ++i)
      s += (i ? "," : "") + std::to_string(b.U8() % 40);
    return s;
  }
  if (how % 64 == 0) {  // past a bound or not a number
    const char* odd[] = {"nan", "inf", "-inf", "-1", "1e30"};
    return odd[b.U8() % 5];
  }
  if (p.kind == K::kFloat) {
    const double lo = std::isfinite(p.min) ? p.min : -1e3, hi = std::isfinite(p.max) ? p.max : 1e3;
    return std::to_string(lo + (hi - lo) * (b.U32() / 4294967295.0));
  }
  const double lo = std::max(p.min, -1e6), span = std::min(p.max - lo, 16.0);
  return std::to_string(static_cast<int64_t>(lo) +
                        static_cast<int64_t>(b.U8() % (static_cast<int64_t>(span) + 1)));
}

const npusim::DeviceConfig& Device() {
  static const npusim::DeviceConfig d = npusim::LoadDevice("Ascend910B3");
  return d;
}

// One input in this process: an InputError or a simulated failure status is an answer.
int RunOne(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Bytes b(data, size);
  const auto& ops = npusim::AllOps();
  const npusim::Op& op = *ops[b.U8() % ops.size()];
  try {
    npusim::ParamValues p(op.params());
    // Every integer (the defaults are production sizes, far too big for a functional run per
    // input); the other parameters half of the time.
    for (const npusim::OpParam& spec : op.params())
      if (spec.kind == npusim::OpParam::Kind::kInt || b.U8() % 2) p.Set(spec.name, Draw(spec, b));
    npusim::RunOptions o;
    // Functional, unless the kernel's own multiply-accumulate count says the run would take
    // minutes under ASan (tri_inverse: 24 products of 128^3 per matrix at any sequence length):
    // such inputs still exercise the tiling and the timing path.
    o.mode = op.FunctionalMacs(p) > 2e8 ? npusim::ModeChoice::kTimingOnly
                                        : npusim::ModeChoice::kFunctional;
    o.use_cache = false;
    o.seed = b.U8();
    // Control tensors from the bytes: every value anywhere in int32 (the checks must catch what
    // the kernel cannot index with), or left to the kernel's own fill.
    npusim::TensorMap inputs;
    if (b.U8() % 2) {
      for (const npusim::TensorSpec& s : op.tensors(p)) {
        if (!s.control || !npusim::IsRead(s.role) || npusim::NumElements(s.shape) > 4096) continue;
        npusim::Tensor t(s.name, s.shape, s.dtype, true);
        for (int64_t i = 0; i < t.numel(); ++i)
          t.Set(i, static_cast<double>(static_cast<int32_t>(b.U32())));
        inputs[s.name] = t;
      }
      o.inputs = &inputs;
    }
    if (std::getenv("KERNEL_FUZZ_VERBOSE"))  // reproducing a finding: what ran
      std::fprintf(stderr, "kernel_fuzz: %s %s%s\n", op.name().c_str(), p.Canonical().c_str(),
                   o.inputs ? " with control tensors" : "");
    const npusim::KernelRun r = npusim::RunKernel(op, p, Device(), o);
    if (std::getenv("KERNEL_FUZZ_VERBOSE"))
      std::fprintf(stderr, "kernel_fuzz: -> %s\n", r.status.c_str());
  } catch (const npusim::InputError&) {
    // the expected answer to bad parameters or inputs
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_fuzz: %s let a non-InputError escape: %s\n", op.name().c_str(),
                 e.what());
    std::abort();
  }
  return 0;
}

}  // namespace

// libsystemc.so refers to sc_main; libFuzzer's main drives the inputs instead.
extern "C" int sc_main(int, char**) { return 0; }

// Each input runs in a child process, as each `npusim kernel` does: SystemC's coroutine stacks
// and the exceptions that unwind a failed launch leave AddressSanitizer's stack bookkeeping of
// a long-lived process unreliable (stack-use-after-scope reports inside ASan's own
// __asan_handle_no_return after thousands of launches, none of which reproduces alone). The
// price: libFuzzer sees no coverage from the child, so this is a structured random fuzzer that
// mutates what it was given, not a coverage-guided one.
namespace {

// CPU time (user + system, clock ticks) a process has used so far; -1 once it is gone.
long CpuTicks(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return -1;
  char buf[1024] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (!p || n == 0) return -1;
  long utime = 0, stime = 0;
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) !=
      2)
    return -1;
  return utime + stime;
}

// Runs the input in a child and waits for it. A child that uses no CPU for 3 s is stuck on a lock
// it inherited held: forking a multithreaded process under AddressSanitizer (clang 14) can copy
// the allocator's lock in the middle of another thread's refill, and the child's first
// allocation then waits forever (seen replaying fuzz/kernel_regressions/ in about a third of the
// runs, stack in __sanitizer::SizeClassAllocator64::GetFromAllocator). Such a child is killed and
// the input run again, up to 5 times; a kernel that really runs long keeps using CPU and is left
// to libFuzzer's -timeout.
int RunInChild(const uint8_t* data, size_t size, int& status) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const pid_t pid = fork();
    if (pid == 0) _exit(RunOne(data, size));
    if (pid < 0) return -1;
    long last = 0;
    int idle_ms = 0;
    for (;;) {
      const pid_t got = waitpid(pid, &status, WNOHANG);
      if (got == pid) return pid;
      if (got < 0 && errno != EINTR) return -1;
      usleep(50 * 1000);
      const long now = CpuTicks(pid);
      idle_ms = now == last ? idle_ms + 50 : 0;
      last = now;
      if (idle_ms < 3000) continue;
      std::fprintf(stderr,
                   "kernel_fuzz: the child used no CPU for 3 s (a lock inherited across "
                   "fork); running the input again\n");
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
  }
  return -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int status = 0;
  if (RunInChild(data, size, status) < 0) {
    std::perror("kernel_fuzz: fork");
    std::abort();
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr,
                 "kernel_fuzz: the kernel's process ended with %s %d (its report is above)\n",
                 WIFEXITED(status) ? "exit code" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    std::abort();  // libFuzzer writes the input out
  }
  return 0;
}
