#include "model/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace npusim {

void WriteFileOrThrow(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw OutputError(path + ": cannot write (" + std::strerror(errno) + ")");
  const size_t wrote = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const int write_errno = errno;
  const bool flushed = std::fflush(f) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (wrote != bytes.size() || !flushed || !closed)
    throw OutputError(path + ": written incompletely (" +
                      std::strerror(wrote != bytes.size() ? write_errno
                                    : !flushed            ? flush_errno
                                                          : errno) +
                      "), " + std::to_string(bytes.size()) + " bytes to write");
}

std::optional<std::string> ReadFileIfOpens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  // Block copies: an istreambuf_iterator takes a character at a time (a run reads its configs and
  // the 90 KB corpus state each time, a capacity search once per probe).
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ReadFileText(const std::string& path) { return ReadFileIfOpens(path).value_or(""); }

}  // namespace npusim
