// Chrome / Perfetto trace recorder ("Trace Event Format", JSON). Tracks are (pid, tid) pairs
// named once; events are complete slices with microsecond timestamps. Output is deterministic.
// A cap on the number of slices keeps huge kernels from writing gigabytes; the file says when
// slices were dropped and up to when the kept ones reach. Times are written on a 0.1 ns grid with
// a slice's end rounded like the next slice's start, so back-to-back slices stay adjacent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace npusim {

class TraceRecorder {
 public:
  explicit TraceRecorder(size_t max_slices = 500000) : max_slices_(max_slices) {}
  void NameProcess(int pid, const std::string& name, int sort_index);
  void NameThread(int pid, int tid, const std::string& name);
  void Slice(int pid, int tid, const std::string& name, double ts_us, double dur_us);
  size_t dropped() const { return dropped_; }
  size_t size() const { return slices_.size(); }
  double kept_until_us() const { return kept_until_; }  // the end of the last kept slice (what a cut trace covers)
  void Write(const std::string& path) const;

 private:
  struct Meta {
    int pid, tid, sort;
    std::string kind, name;
  };
  struct SliceEvent {
    int pid, tid;
    std::string name;
    double ts, dur;
  };
  size_t max_slices_;
  size_t dropped_ = 0;
  double kept_until_ = 0;
  std::vector<Meta> meta_;
  std::vector<SliceEvent> slices_;
};

std::string JsonEscape(const std::string& s);

}  // namespace npusim
