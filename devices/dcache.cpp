#include "devices/dcache.h"

#include <algorithm>

namespace npusim {

void ScalarDataCache::Configure(int64_t bytes, int64_t line_bytes, int64_t ways) {
  line_bytes_ = std::max<int64_t>(1, line_bytes);
  const int64_t lines = std::max<int64_t>(1, bytes / line_bytes_);
  ways_ = std::clamp<int64_t>(ways, 1, lines);
  sets_ = std::max<int64_t>(1, lines / ways_);
  lines_.assign(static_cast<size_t>(sets_ * ways_), Way{});
  Reset();
}

void ScalarDataCache::Reset() {
  std::fill(lines_.begin(), lines_.end(), Way{});
  clock_ = hits_ = misses_ = 0;
}

bool ScalarDataCache::Access(uint64_t addr) {
  const uint64_t line = addr / static_cast<uint64_t>(line_bytes_);
  const auto set = static_cast<size_t>(line % static_cast<uint64_t>(sets_));
  Way* first = lines_.data() + set * static_cast<size_t>(ways_);
  Way* victim = first;
  ++clock_;
  for (Way* w = first; w != first + ways_; ++w) {
    if (w->used != 0 && w->tag == line) {
      w->used = clock_;
      ++hits_;
      return true;
    }
    if (w->used < victim->used) victim = w;  // an empty way (0) is taken first
  }
  victim->tag = line;
  victim->used = clock_;
  ++misses_;
  return false;
}

}  // namespace npusim
