#include "devices/race_checker.h"

#include <algorithm>

namespace npusim {

int RaceChecker::AddRegion(std::string name) {
  regions_.push_back({std::move(name), std::nullopt, {}, {}});
  return static_cast<int>(regions_.size()) - 1;
}

void RaceChecker::Reset() {
  clocks_ = {};
  scalar_reads_done_ = {};
  regions_.clear();
}

uint32_t RaceChecker::Start(Pipe p) {
  auto& c = clocks_[static_cast<int>(p)];
  return ++c[static_cast<int>(p)];
}

std::optional<std::string> RaceChecker::Read(Pipe p, int region, const char* what) {
  if (region < 0) return std::nullopt;
  Region& r = regions_[region];
  const int pi = static_cast<int>(p);
  if (r.last_write && r.last_write->pipe != p &&
      !Covered(p, r.last_write->pipe, r.last_write->seq)) {
    return std::string("read-after-write race on ") + r.name + ": pipe " + PipeName(p) + " (" +
           what + ") reads data written by pipe " + PipeName(r.last_write->pipe) + " (" +
           r.last_write->what + ") with no SetFlag/WaitFlag (or EnQue/DeQue) ordering them";
  }
  r.last_read[pi] = clocks_[pi][pi];
  r.read_what[pi] = what;
  return std::nullopt;
}

std::optional<std::string> RaceChecker::Write(Pipe p, int region, const char* what) {
  if (region < 0) return std::nullopt;
  Region& r = regions_[region];
  const int pi = static_cast<int>(p);
  if (r.last_write && r.last_write->pipe != p &&
      !Covered(p, r.last_write->pipe, r.last_write->seq)) {
    return std::string("write-after-write race on ") + r.name + ": pipe " + PipeName(p) + " (" +
           what + ") overwrites data written by pipe " + PipeName(r.last_write->pipe) + " (" +
           r.last_write->what + ") with no sync between them";
  }
  for (int q = 0; q < kNumPipes; ++q) {
    if (q == pi || r.last_read[q] == 0) continue;
    if (q == static_cast<int>(Pipe::kS) && r.last_read[q] <= scalar_reads_done_[pi]) continue;
    if (!Covered(p, static_cast<Pipe>(q), r.last_read[q])) {
      return std::string("write-after-read race on ") + r.name + ": pipe " + PipeName(p) + " (" +
             what + ") overwrites data pipe " + PipeName(static_cast<Pipe>(q)) + " (" +
             r.read_what[q] +
             ") may still be reading; free the buffer (FreeTensor) or sync before reuse";
    }
  }
  r.last_write = Access{p, clocks_[pi][pi], what};
  return std::nullopt;
}

void RaceChecker::IssuedAfterScalar(Pipe p, uint32_t scalar_seq) {
  auto& done = scalar_reads_done_[static_cast<int>(p)];
  done = std::max(done, scalar_seq);
}

void RaceChecker::Join(Pipe p, const Clock& c) {
  auto& mine = clocks_[static_cast<int>(p)];
  for (int i = 0; i < kNumPipes; ++i) mine[i] = std::max(mine[i], c[i]);
}

void RaceChecker::JoinAll() {
  Clock all{};
  for (const auto& c : clocks_)
    for (int i = 0; i < kNumPipes; ++i) all[i] = std::max(all[i], c[i]);
  for (auto& c : clocks_) c = all;
}

}  // namespace npusim
