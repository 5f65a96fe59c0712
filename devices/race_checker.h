// Data-race detection between the pipes of one core, by vector clocks: each pipe counts the
// instructions it has started; SetFlag snapshots the setter's clock and WaitFlag joins it into
// the waiter's. Reading (or overwriting) a local-buffer region last written (or read) by another
// pipe whose instruction the reader's clock does not cover is a race. Plain C++.
// Granularity: one region per buffer slot (a TQue buffer or a TBuf), which is how AscendC code
// hands buffers between pipes. GM accesses are not checked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devices/instr.h"

namespace npusim {

class RaceChecker {
 public:
  using Clock = std::array<uint32_t, kNumPipes>;

  int AddRegion(std::string name);
  void Reset();  // new block: forget regions and clocks
  // Starts an instruction on `p`: returns its sequence number on that pipe.
  uint32_t Start(Pipe p);
  // Returns a description of the race, if any, and records the access. Inline: every pipe
  // instruction makes up to four of these checks, which almost always find no race.
  std::optional<std::string> Read(Pipe p, int region, const char* what) {
    if (region < 0) return std::nullopt;
    Region& r = regions_[static_cast<size_t>(region)];
    if (Unordered(p, r)) return ReadRace(p, r, what);
    const int pi = static_cast<int>(p);
    r.last_read[pi] = clocks_[pi][pi];
    r.read_what[pi] = what;
    return std::nullopt;
  }
  std::optional<std::string> Write(Pipe p, int region, const char* what) {
    if (region < 0) return std::nullopt;
    Region& r = regions_[static_cast<size_t>(region)];
    if (Unordered(p, r)) return WriteRace(p, r, what);
    const int pi = static_cast<int>(p);
    for (int q = 0; q < kNumPipes; ++q) {
      if (q == pi || r.last_read[q] == 0) continue;
      if (q == static_cast<int>(Pipe::kS) && r.last_read[q] <= scalar_reads_done_[pi]) continue;
      if (!Covered(p, static_cast<Pipe>(q), r.last_read[q])) return ReadersRace(p, q, r, what);
    }
    r.last_write = Access{p, clocks_[pi][pi], what};
    return std::nullopt;
  }
  Clock Snapshot(Pipe p) const { return clocks_[static_cast<int>(p)]; }
  uint32_t Count(Pipe p) const {
    return clocks_[static_cast<int>(p)][static_cast<int>(p)];
  }  // p's own started count
  void Join(Pipe p, const Clock& c);
  void JoinAll();  // PIPE_ALL barrier: every pipe has seen everything
  // `p` starts an instruction the scalar issued after its access number `scalar_seq`: the
  // scalar's reads up to there are complete (a scalar load blocks the issue), its writes are not
  // (they need SetFlag<S_x>, as in AscendC).
  void IssuedAfterScalar(Pipe p, uint32_t scalar_seq);

 private:
  struct Access {
    Pipe pipe = Pipe::kS;
    uint32_t seq = 0;
    const char* what = "";
  };
  struct Region {
    std::string name;
    std::optional<Access> last_write;
    std::array<uint32_t, kNumPipes> last_read{};
    std::array<const char*, kNumPipes> read_what{};
  };
  bool Covered(Pipe p, Pipe other, uint32_t seq) const {
    return clocks_[static_cast<int>(p)][static_cast<int>(other)] >= seq;
  }
  // The region's last write is another pipe's that `p` has not synchronised with.
  bool Unordered(Pipe p, const Region& r) const {
    return r.last_write && r.last_write->pipe != p &&
           !Covered(p, r.last_write->pipe, r.last_write->seq);
  }
  // The messages, out of line: built only when a kernel has a race.
  static std::string ReadRace(Pipe p, const Region& r, const char* what);
  static std::string WriteRace(Pipe p, const Region& r, const char* what);
  static std::string ReadersRace(Pipe p, int reader, const Region& r, const char* what);
  std::array<Clock, kNumPipes> clocks_{};
  std::array<uint32_t, kNumPipes> scalar_reads_done_{};
  std::vector<Region> regions_;
};

}  // namespace npusim
