// Stats registry: components register each statistic once — name, unit, description — and the
// framework dumps them by name. Components never print their own stats.
#pragma once

#include <deque>
#include <map>
#include <string>

namespace npusim {

struct Stat {
  std::string name, unit, desc;
  double value = 0;
  Stat& operator+=(double v) {
    value += v;
    return *this;
  }
};

class StatsRegistry {
 public:
  // Returns a stable reference; registering a name twice is a programming error (throws).
  Stat& Register(const std::string& name, const std::string& unit, const std::string& desc);
  const Stat* Find(const std::string& name) const;
  double Value(const std::string& name) const;  // 0 when absent
  const std::deque<Stat>& all() const { return stats_; }
  void ResetValues();

 private:
  std::deque<Stat> stats_;
  std::map<std::string, Stat*> by_name_;
};

}  // namespace npusim
