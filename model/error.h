// Typed errors. Every failure a user can see is one of three kinds, each with its exit code:
//   InputError   (exit 2) — the user's input is wrong: bad YAML, unknown key, bad value, bad CLI.
//   SimFailure   (exit 3) — the simulated system failed: overflow, deadlock, race, OOB, OOM.
//   OutputError  (exit 4) — an output could not be written completely (full disk, no permission);
//                           the command's output folder is then left as it was.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace npusim {

constexpr int kExitOk = 0;
constexpr int kExitInvalidInput = 2;
constexpr int kExitSimulatedFailure = 3;
constexpr int kExitOutputError = 4;

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

class OutputError : public std::runtime_error {
 public:
  explicit OutputError(const std::string& message) : std::runtime_error(message) {}
};

// Writes `bytes` to `path` completely or throws OutputError naming the path (a full disk shows
// at the flush or the close, not at the <<).
void WriteFileOrThrow(const std::string& path, const std::string& bytes);

// The whole text of `path`; nullopt when it cannot be opened.
std::optional<std::string> ReadFileIfOpens(const std::string& path);
// The same, empty when it cannot be read (callers that need the file to exist check that first,
// with the message their context calls for).
std::string ReadFileText(const std::string& path);

// `status` is the stable machine-readable cause written to metrics.json
// (ub_overflow, l1_overflow, deadlock, race, out_of_bounds, misaligned, sync_error, out_of_memory).
class SimFailure : public std::runtime_error {
 public:
  SimFailure(std::string status, const std::string& message)
      : std::runtime_error(message), status_(std::move(status)) {}
  const std::string& status() const { return status_; }

 private:
  std::string status_;
};

}  // namespace npusim
