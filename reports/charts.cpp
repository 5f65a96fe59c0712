#include "reports/charts.h"

#include <algorithm>
#include <map>

#include "reports/format.h"

namespace npusim::charts {

using html::Chart;
using html::Series;

std::vector<std::pair<std::string, ProfileTotal>> ByKernel(const std::vector<OpTotal>& ops) {
  std::map<std::string, ProfileTotal> by;
  for (const OpTotal& o : ops) by[o.op].Add(o.profile);
  std::vector<std::pair<std::string, ProfileTotal>> v(by.begin(), by.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  return v;
}

Chart KernelShare(const std::vector<std::pair<std::string, ProfileTotal>>& k, double total_us, size_t top) {
  Chart c;
  c.ylabel = "% of device time";
  Series s{"share", {}, {}, ""};
  double other = 0;
  for (size_t i = 0; i < k.size(); ++i) {
    const double pct = total_us > 0 ? 100 * k[i].second.us / total_us : 0;
    if (i < top) {
      c.categories.push_back(k[i].first);
      s.y.push_back(pct);
    } else {
      other += pct;
    }
  }
  if (other > 0) {
    c.categories.push_back("other (" + std::to_string(k.size() - top) + " kernels)");
    s.y.push_back(other);
  }
  c.series.push_back(s);
  return c;
}

Chart PipeUtilisation(const std::vector<std::pair<std::string, ProfileTotal>>& k, size_t top) {
  Chart c;
  c.kind = Chart::Kind::kHeatmap;
  c.zlabel = "busy, % of kernel time";
  c.zmax = 100;
  const size_t n = std::min(top, k.size());
  std::vector<int> used;
  for (int p = 0; p < 2 * kNumPipes; ++p)
    for (size_t i = 0; i < n; ++i)
      if (k[i].second.busy_us[static_cast<size_t>(p)] > 0) {
        used.push_back(p);
        break;
      }
  for (int p : used) c.columns.push_back(ProfilePipeName(p));
  for (size_t i = 0; i < n; ++i) {
    c.categories.push_back(k[i].first);
    Series row{k[i].first, {}, {}, ""};
    for (int p : used) row.y.push_back(k[i].second.us > 0 ? 100 * k[i].second.busy_us[static_cast<size_t>(p)] / k[i].second.us : 0);
    c.series.push_back(row);
  }
  c.height = 120 + 22 * static_cast<int>(n);
  if (n == 1) {  // one kernel: a row of bars reads better than a one-row heatmap (which gnuplot cannot draw)
    Chart bars;
    bars.ylabel = c.zlabel;
    bars.categories = c.columns;
    bars.series = {c.series.front()};
    bars.hlines.push_back({"100 %", 100});
    return bars;
  }
  return c;
}

Chart RooflinePosition(const std::vector<std::pair<std::string, ProfileTotal>>& k, size_t top) {
  Chart c;
  c.ylabel = "% of roofline";
  Series s{"% of roofline", {}, {}, ""};
  for (size_t i = 0; i < k.size() && i < top; ++i) {
    const ProfileTotal& p = k[i].second;
    // A kernel's launches can be bound by different resources (shapes differ): name the one
    // holding most of its time.
    std::string bound;
    double most = -1;
    for (const auto& [b, t] : p.bound_us)
      if (t > most) most = t, bound = b;
    c.categories.push_back(k[i].first + " [" + bound + "]");
    s.y.push_back(p.us > 0 ? 100 * p.roofline_us / p.us : 0);
  }
  c.series.push_back(s);
  c.hlines.push_back({"roofline", 100});
  return c;
}

std::string Gib(int64_t bytes) { return report::Fixed(static_cast<double>(bytes) / (1 << 30), 2) + " GiB"; }

Chart MemoryBreakdown(const std::vector<std::pair<std::string, int64_t>>& parts) {
  Chart c;
  c.ylabel = "GiB per rank";
  Series s{"GiB", {}, {}, ""};
  for (const auto& [name, b] : parts) {
    const double gib = static_cast<double>(b) / (1 << 30);
    if (name.rfind("budget", 0) == 0) c.hlines.push_back({name, gib});  // the limit the parts share
    if (name.rfind("budget", 0) == 0 || name == "hbm" || b == 0) continue;
    c.categories.push_back(name);
    s.y.push_back(gib);
  }
  c.series.push_back(s);
  return c;
}

Chart Cdf(const std::vector<std::pair<std::string, std::vector<double>>>& sets, const std::string& xlabel) {
  Chart c;
  c.kind = Chart::Kind::kXY;
  c.xlabel = xlabel;
  c.ylabel = "fraction of requests";
  c.height = 260;
  for (auto [name, v] : sets) {
    std::sort(v.begin(), v.end());
    Series s{name, {}, {}, "steps"};
    for (size_t i = 0; i < v.size(); ++i) {
      s.x.push_back(v[i]);
      s.y.push_back(static_cast<double>(i + 1) / static_cast<double>(v.size()));
    }
    c.series.push_back(s);
  }
  return c;
}

}  // namespace npusim::charts
