// Progress of a long command on stderr: counted units, the time so far and an estimate of what is
// left. Plain C++ over spdlog; every layer above may report progress with it.
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace npusim {

// "12/40 points, 31 s elapsed, ETA 72 s" on stderr (spdlog info): the rate so far times what is
// left. Wall-clock figures go to the log only, never into output files.
class EtaProgress {
 public:
  EtaProgress(std::string what, int64_t total)
      : what_(std::move(what)), total_(total), start_(std::chrono::steady_clock::now()) {}
  void Done(int64_t done, const std::string& note = "") const {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta =
        done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - done) : 0;
    spdlog::info("{}/{} {}, {:.0f} s elapsed{}{}", done, total_, what_, elapsed,
                 done < total_ ? fmt::format(", ETA {:.0f} s", eta) : "",
                 note.empty() ? "" : " (" + note + ")");
  }

 private:
  std::string what_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace npusim
