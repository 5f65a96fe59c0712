// Values parsed from a file, remembered for the life of the process by (path, the file's bytes).
//
// A run reads its device and host files several times, and every run of a capacity search or a
// sweep is a fork of one parent that has already read them (and the model, fit.yaml and the
// corpus state): with the memo the children inherit those parses instead of repeating them. The
// key holds the file's whole text, so an edited file is parsed again and a result can never be
// stale; a parse that throws is not remembered (the next call throws the same error).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace npusim {

// `parse(text)` -> T for `path`'s `text`, or the value an earlier call returned for the same
// path and text. One memo per T.
template <class T, class Parse>
T ParsedOnce(const std::string& path, const std::string& text, Parse&& parse) {
  static std::mutex mu;  // callers may run on several threads
  static std::map<std::string, T> memo;
  std::string key = path;
  key += '\0';
  key += text;
  {
    const std::lock_guard<std::mutex> lock(mu);
    if (const auto it = memo.find(key); it != memo.end()) return it->second;
  }
  T value = std::forward<Parse>(parse)(text);
  const std::lock_guard<std::mutex> lock(mu);
  memo.emplace(std::move(key), value);
  return value;
}

}  // namespace npusim
