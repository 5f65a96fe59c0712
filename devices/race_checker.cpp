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

std::string RaceChecker::ReadRace(Pipe p, const Region& r, const char* what) {
  return std::string("read-after-write race on ") + r.name + ": pipe " + PipeName(p) + " (" + what +
         ") reads data written by pipe " + PipeName(r.last_write->pipe) + " (" +
         r.last_write->what + ") with no SetFlag/WaitFlag (or EnQue/DeQue) ordering them";
}

std::string RaceChecker::WriteRace(Pipe p, const Region& r, const char* what) {
  return std::string("write-after-write race on ") + r.name + ": pipe " + PipeName(p) + " (" +
         what + ") overwrites data written by pipe " + PipeName(r.last_write->pipe) + " (" +
         r.last_write->what + ") with no sync between them";
}

std::string RaceChecker::ReadersRace(Pipe p, int reader, const Region& r, const char* what) {
  return std::string("write-after-read race on ") + r.name + ": pipe " + PipeName(p) + " (" + what +
         ") overwrites data pipe " + PipeName(static_cast<Pipe>(reader)) + " (" +
         r.read_what[reader] +
         ") may still be reading; free the buffer (FreeTensor) or sync before reuse";
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
