#include "model/stats.h"

#include <stdexcept>

namespace npusim {

Stat& StatsRegistry::Register(const std::string& name, const std::string& unit,
                              const std::string& desc) {
  if (by_name_.count(name)) throw std::logic_error("stat registered twice: " + name);
  stats_.push_back({name, unit, desc, 0});
  by_name_[name] = &stats_.back();
  return stats_.back();
}

const Stat* StatsRegistry::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

double StatsRegistry::Value(const std::string& name) const {
  const Stat* s = Find(name);
  return s ? s->value : 0;
}

void StatsRegistry::ResetValues() {
  for (auto& s : stats_) s.value = 0;
}

}  // namespace npusim
