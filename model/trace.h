// Chrome / Perfetto trace recorder ("Trace Event Format", JSON). Tracks are (pid, tid) pairs
// named once; events are complete slices with microsecond timestamps. Output is deterministic.
// A cap on the number of slices keeps huge kernels from writing gigabytes; the file says when
// slices were dropped and up to when the kept ones reach. Times are written on a 0.1 ns grid with
// a slice's end rounded like the next slice's start, so back-to-back slices stay adjacent.
// Slices may carry args (what the instruction moved or computed); flows draw an arrow from one
// point of a track to another (a SetFlag to the WaitFlag it releases).
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
  // `args`: the inside of a JSON object ("\"bytes\":512"), empty for none.
  void Slice(int pid, int tid, const std::string& name, double ts_us, double dur_us,
             std::string args = {});
  // Starts an arrow at (pid, tid, ts); returns its id, 0 when the trace is full (FlowEnd ignores
  // 0).
  uint64_t FlowStart(int pid, int tid, double ts_us);
  void FlowEnd(uint64_t id, int pid, int tid, double ts_us);
  size_t dropped() const { return dropped_; }
  size_t size() const { return slices_.size(); }
  double kept_until_us() const {
    return kept_until_;
  }  // the end of the last kept slice (what a cut trace covers)
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
    std::string args;
  };
  struct FlowEvent {
    uint64_t id;
    bool start;
    int pid, tid;
    double ts;
  };
  size_t max_slices_;
  size_t dropped_ = 0;
  double kept_until_ = 0;
  std::vector<Meta> meta_;
  std::vector<SliceEvent> slices_;
  std::vector<FlowEvent> flows_;
  uint64_t next_flow_ = 1;
};

std::string JsonEscape(const std::string& s);

}  // namespace npusim
