#include "model/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "model/error.h"

namespace npusim {

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void TraceRecorder::NameProcess(int pid, const std::string& name, int sort_index) {
  meta_.push_back({pid, 0, sort_index, "process_name", name});
}
void TraceRecorder::NameThread(int pid, int tid, const std::string& name) {
  meta_.push_back({pid, tid, tid, "thread_name", name});
}

void TraceRecorder::Slice(int pid, int tid, const std::string& name, double ts_us, double dur_us,
                          std::string args) {
  if (slices_.size() >= max_slices_) {
    ++dropped_;
    return;
  }
  slices_.push_back({pid, tid, name, ts_us, dur_us, std::move(args)});
  kept_until_ = std::max(kept_until_, ts_us + dur_us);
}

uint64_t TraceRecorder::FlowStart(int pid, int tid, double ts_us) {
  if (slices_.size() >= max_slices_) return 0;
  flows_.push_back({next_flow_, true, pid, tid, ts_us});
  return next_flow_++;
}

void TraceRecorder::FlowEnd(uint64_t id, int pid, int tid, double ts_us) {
  if (id == 0 || slices_.size() >= max_slices_) return;
  flows_.push_back({id, false, pid, tid, ts_us});
}

namespace {
// A time on the 0.1 ns grid as "seconds.fraction" microseconds.
std::string GridUs(long long t) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%04lld", t / 10000, t % 10000);
  return buf;
}
long long ToGrid(double us) {
  return std::max(0LL, static_cast<long long>(std::llround(us * 1e4)));
}
}  // namespace

void TraceRecorder::Write(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw OutputError(path + ": cannot write trace");
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4f", kept_until_);
  out << "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"dropped_slices\":" << dropped_
      << ",\"kept_slices\":" << slices_.size() << ",\"kept_until_us\":" << buf
      << "},\"traceEvents\":[\n";
  bool first = true;
  for (const auto& m : meta_) {
    out << (first ? "" : ",\n");
    first = false;
    out << "{\"ph\":\"M\",\"pid\":" << m.pid << ",\"tid\":" << m.tid << ",\"name\":\"" << m.kind
        << "\",\"args\":{\"name\":\"" << JsonEscape(m.name) << "\"}}";
    const char* sort_kind = m.kind == "process_name" ? "process_sort_index" : "thread_sort_index";
    out << ",\n{\"ph\":\"M\",\"pid\":" << m.pid << ",\"tid\":" << m.tid << ",\"name\":\""
        << sort_kind << "\",\"args\":{\"sort_index\":" << m.sort << "}}";
  }
  for (const auto& s : slices_) {
    out << (first ? "" : ",\n");
    first = false;
    // Start and end on the same 0.1 ns grid, the duration their difference: rounding ts and dur
    // apart made a slice overlap the next by up to 0.1 ns.
    const long long start = ToGrid(s.ts), end = std::max(start, ToGrid(s.ts + s.dur));
    out << "{\"ph\":\"X\",\"pid\":" << s.pid << ",\"tid\":" << s.tid << ",\"name\":\""
        << JsonEscape(s.name) << "\",\"ts\":" << GridUs(start)
        << ",\"dur\":" << GridUs(end - start);
    if (!s.args.empty()) out << ",\"args\":{" << s.args << "}";
    out << "}";
  }
  // Flow arrows (Trace Event Format v1): bound to the slices at their ends, the WaitFlag's by
  // its start ("bp":"e" binds the enclosing slice).
  for (const auto& f : flows_) {
    out << (first ? "" : ",\n");
    first = false;
    out << "{\"ph\":\"" << (f.start ? "s" : "f")
        << "\",\"cat\":\"flag\",\"name\":\"flag\",\"id\":" << f.id << ",\"pid\":" << f.pid
        << ",\"tid\":" << f.tid << ",\"ts\":" << GridUs(ToGrid(f.ts))
        << (f.start ? "" : ",\"bp\":\"e\"") << "}";
  }
  out << "\n]}\n";
  out.flush();
  if (!out) throw OutputError(path + ": written incompletely (full disk?)");
}

}  // namespace npusim
