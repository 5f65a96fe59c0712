#include "workloads/step_cost.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "model/error.h"
#include "ops/runner.h"
#include "workloads/kernel_cache.h"

namespace npusim {

std::vector<KernelProfile> InProcessKernelTimer::Time(const std::vector<KernelCall>& calls) {
  return TimeCalls(calls, device_).profiles;
}

// One line per message; fields separated by tabs; tabs and newlines inside a field escaped.
std::string EscapeField(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '\n')
      o += "\\n";
    else if (c == '\t')
      o += "\\t";
    else
      o += c;
  }
  return o;
}

std::string UnescapeField(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[++i];
      o += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      o += s[i];
    }
  }
  return o;
}

namespace {

bool ReadLine(FILE* f, std::string& line) {
  line.clear();
  int c;
  while ((c = std::fgetc(f)) != EOF && c != '\n') line += static_cast<char>(c);
  return c != EOF || !line.empty();
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == '\t')
      out.emplace_back();
    else
      out.back() += c;
  }
  for (auto& f : out) f = UnescapeField(f);
  return out;
}

// Request: "<n>" then n lines "op\tkey=value\t...". Answer per call: ProfileLine, or one line
// "sim\t<status>\t<message>" / "input\t<message>" for the whole request.
void ServeChild(const DeviceConfig& d, FILE* in, FILE* out) {
  InProcessKernelTimer timer(d);
  std::string line;
  while (ReadLine(in, line)) {
    const int n = std::atoi(line.c_str());
    std::vector<KernelCall> calls(static_cast<size_t>(n));
    for (auto& c : calls) {
      ReadLine(in, line);
      const auto f = Fields(line);
      c.op = f[0];
      for (size_t i = 1; i < f.size(); ++i) {
        const size_t eq = f[i].find('=');
        c.params.push_back({f[i].substr(0, eq), f[i].substr(eq + 1)});
      }
    }
    try {
      for (const KernelProfile& p : timer.Time(calls))
        std::fprintf(out, "%s\n", ProfileLine(p).c_str());
    } catch (const SimFailure& e) {
      std::fprintf(out, "sim\t%s\t%s\n", EscapeField(e.status()).c_str(),
                   EscapeField(e.what()).c_str());
    } catch (const InputError& e) {
      std::fprintf(out, "input\t%s\n", EscapeField(e.what()).c_str());
    } catch (const std::exception& e) {
      std::fprintf(out, "input\tinternal error in the kernel timer: %s\n",
                   EscapeField(e.what()).c_str());
    }
    std::fflush(out);
  }
}

// A child's failure line ("sim\tstatus\tmessage" or "input\tmessage") as the same exception.
[[noreturn]] void ThrowChildFailure(const std::vector<std::string>& f,
                                    const std::string& otherwise) {
  if (f[0] == "sim" && f.size() == 3) throw SimFailure(f[1], f[2]);
  if (f[0] == "input" && f.size() == 2) throw InputError(f[1]);
  throw std::runtime_error(otherwise);
}

}  // namespace

int MachineCores() { return static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN))); }

int KernelWorkers() {
  if (const char* env = std::getenv("NPUSIM_KERNEL_WORKERS")) {
    const int n = std::atoi(env);
    if (n < 1 || n > 64)
      throw InputError("NPUSIM_KERNEL_WORKERS='" + std::string(env) +
                       "': a worker count from 1 to 64");
    return n;
  }
  return std::min(MachineCores(), 8);
}

ForkedKernelTimer::ForkedKernelTimer(const DeviceConfig& d, int workers) {
  const int n = workers > 0 ? workers : KernelWorkers();
  for (int w = 0; w < n; ++w) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) throw std::runtime_error("kernel timer: pipe() failed");
    std::fflush(nullptr);
    const int pid = fork();
    if (pid < 0) throw std::runtime_error("kernel timer: fork() failed");
    if (pid == 0) {
      // The earlier workers' pipe ends stay with the parent only: a copy here would keep their
      // input open after the parent closes it, and they would never see the end of it.
      for (const Worker& other : workers_) {
        close(fileno(other.to));
        close(fileno(other.from));
      }
      close(down[1]);
      close(up[0]);
      FILE* in = fdopen(down[0], "r");
      FILE* out = fdopen(up[1], "w");
      ServeChild(d, in, out);
      std::fflush(out);
      _exit(0);
    }
    close(down[0]);
    close(up[1]);
    workers_.push_back({pid, fdopen(down[1], "w"), fdopen(up[0], "r")});
  }
}

ForkedKernelTimer::~ForkedKernelTimer() {
  for (Worker& w : workers_) {
    if (w.to) std::fclose(w.to);  // EOF: the child leaves its loop
    if (w.from) std::fclose(w.from);
  }
  for (Worker& w : workers_) {
    int status = 0;
    if (w.pid > 0) waitpid(w.pid, &status, 0);
  }
}

std::vector<KernelProfile> ForkedKernelTimer::Time(const std::vector<KernelCall>& calls) {
  const size_t n = workers_.size();
  std::vector<std::vector<size_t>> dealt(n);  // call indices per worker, in call order
  std::vector<std::string> lines(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string line = EscapeField(calls[i].op);
    for (const auto& [k, v] : calls[i].params) line += "\t" + EscapeField(k + "=" + v);
    uint64_t h = 1469598103934665603ull;  // FNV-1a of the call: the same worker every time
    for (const char c : line) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    dealt[h % n].push_back(i);
    lines[i] = std::move(line);
  }
  for (size_t w = 0; w < n; ++w) {
    if (dealt[w].empty()) continue;
    std::fprintf(workers_[w].to, "%zu\n", dealt[w].size());
    for (const size_t i : dealt[w]) std::fprintf(workers_[w].to, "%s\n", lines[i].c_str());
    std::fflush(workers_[w].to);
  }
  // Every worker's answer is read (a failure answers for its worker's whole request), so the
  // pipes hold nothing stale for the next call.
  std::vector<KernelProfile> out(calls.size());
  std::optional<std::vector<std::string>> failure;
  size_t failed_at = calls.size();
  for (size_t w = 0; w < n; ++w) {
    std::string line;
    for (size_t got = 0; got < dealt[w].size(); ++got) {
      if (!ReadLine(workers_[w].from, line))
        throw std::runtime_error("kernel timer: a worker process died");
      const auto f = Fields(line);
      const std::optional<KernelProfile> p = ParseProfile(f);
      if (!p) {
        if (f[0] != "sim" && f[0] != "input")
          throw std::runtime_error("kernel timer: bad answer '" + line + "'");
        if (dealt[w].front() < failed_at) failure = f, failed_at = dealt[w].front();
        break;
      }
      out[dealt[w][got]] = *p;
    }
  }
  if (failure) ThrowChildFailure(*failure, "kernel timer: bad failure answer");
  return out;
}

std::string RunInChildProcess(const std::function<std::string()>& work) {
  int up[2];
  if (pipe(up) != 0) throw std::runtime_error("child process: pipe() failed");
  std::fflush(nullptr);
  const int pid = fork();
  if (pid < 0) throw std::runtime_error("child process: fork() failed");
  if (pid == 0) {
    close(up[0]);
    FILE* out = fdopen(up[1], "w");
    try {
      const std::string r = work();
      std::fprintf(out, "ok\n%s", r.c_str());
    } catch (const SimFailure& e) {
      std::fprintf(out, "sim\t%s\t%s\n", EscapeField(e.status()).c_str(),
                   EscapeField(e.what()).c_str());
    } catch (const InputError& e) {
      std::fprintf(out, "input\t%s\n", EscapeField(e.what()).c_str());
    } catch (const std::exception& e) {
      std::fprintf(out, "input\tinternal error in a child process: %s\n",
                   EscapeField(e.what()).c_str());
    }
    std::fflush(out);
    _exit(0);
  }
  close(up[1]);
  FILE* in = fdopen(up[0], "r");
  std::string head, body, line;
  ReadLine(in, head);
  while (ReadLine(in, line)) body += line + "\n";
  std::fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto f = Fields(head);
  if (f[0] == "ok") return body;
  ThrowChildFailure(f, "child process died (status " + std::to_string(status) + ")");
}

}  // namespace npusim
