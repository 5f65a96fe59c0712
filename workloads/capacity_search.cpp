#include "workloads/capacity_search.h"

#include <cmath>

#include "model/error.h"

namespace npusim {

RateSearch SearchHighestRate(double start, const std::function<bool(double)>& meets,
                             double tolerance, int max_probes) {
  if (!(start > 0) || !std::isfinite(start))
    throw InputError("rate search: the start rate must be positive and finite");
  RateSearch s;
  auto probe = [&](double r) {
    s.probed.push_back(r);
    const bool ok = meets(r);
    if (ok && r > s.best) s.best = r;
    if (!ok && (s.lowest_failing == 0 || r < s.lowest_failing)) s.lowest_failing = r;
    return ok;
  };
  const int budget = max_probes;
  double r = start;
  const bool first = probe(r);
  // Bracket: [best, lowest_failing].
  while (static_cast<int>(s.probed.size()) < budget &&
         (first ? s.lowest_failing == 0 : s.best == 0)) {
    r = first ? r * 2 : r / 2;
    probe(r);
  }
  while (static_cast<int>(s.probed.size()) < budget && s.best > 0 && s.lowest_failing > 0 &&
         s.lowest_failing / s.best > 1 + tolerance)
    probe(std::sqrt(s.best * s.lowest_failing));
  return s;
}

}  // namespace npusim
