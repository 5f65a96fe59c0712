#include "reports/charts.h"

#include <algorithm>
#include <limits>
#include <map>

#include "reports/format.h"

namespace npusim::charts {

using html::Chart;
using html::Series;

std::vector<std::pair<std::string, ProfileTotal>> ByKernel(const std::vector<OpTotal>& ops) {
  std::map<std::string, ProfileTotal> by;
  for (const OpTotal& o : ops) by[o.op].Add(o.profile);
  std::vector<std::pair<std::string, ProfileTotal>> v(by.begin(), by.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  return v;
}

Chart KernelShare(const std::vector<std::pair<std::string, ProfileTotal>>& k, double total_us,
                  size_t top) {
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
    for (int p : used)
      row.y.push_back(k[i].second.us > 0
                          ? 100 * k[i].second.busy_us[static_cast<size_t>(p)] / k[i].second.us
                          : 0);
    c.series.push_back(row);
  }
  c.height = 120 + 22 * static_cast<int>(n);
  if (n == 1) {  // one kernel: a row of bars reads better than a one-row heatmap (which gnuplot
                 // cannot draw)
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

std::string Gib(int64_t bytes) {
  return report::Fixed(static_cast<double>(bytes) / (1 << 30), 2) + " GiB";
}

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

Chart Cdf(const std::vector<std::pair<std::string, std::vector<double>>>& sets,
          const std::string& xlabel) {
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

namespace {
// Every k-th step so that at most `max_points` remain (k = 1 when they fit): a long run's chart
// keeps its shape without tens of thousands of SVG points.
size_t Stride(size_t n, size_t max_points) {
  return max_points == 0 || n <= max_points ? 1 : (n + max_points - 1) / max_points;
}

Chart OverTime(const std::string& ylabel) {
  Chart c;
  c.kind = Chart::Kind::kXY;
  c.xlabel = "simulated time (s)";
  c.ylabel = ylabel;
  c.height = 260;
  return c;
}
}  // namespace

Chart RequestsOverTime(const ServingResult& r, size_t max_points) {
  Chart c = OverTime("requests");
  std::vector<double> sent, first;  // when each request was sent / got its first token
  for (const RequestRecord& q : r.requests) {
    sent.push_back(q.sent_us);
    first.push_back(q.first_token_us < 0 ? std::numeric_limits<double>::infinity()
                                         : q.first_token_us);
  }
  std::sort(sent.begin(), sent.end());
  std::sort(first.begin(), first.end());
  Series batch{"in the step's batch", {}, {}, "points"},
      waiting{"waiting for the first token", {}, {}, "steps"};
  const size_t k = Stride(r.steps.size(), max_points);
  size_t ns = 0, nf = 0;
  for (size_t i = 0; i < r.steps.size();
       i += k) {  // steps are in start order: the counts only grow
    const StepRecord& st = r.steps[i];
    while (ns < sent.size() && sent[ns] <= st.start_us) ++ns;
    while (nf < first.size() && first[nf] <= st.start_us) ++nf;
    batch.x.push_back(st.start_us / 1e6);
    batch.y.push_back(static_cast<double>(st.requests));
    waiting.x.push_back(st.start_us / 1e6);
    waiting.y.push_back(static_cast<double>(ns - std::min(ns, nf)));
  }
  c.series = {batch, waiting};
  return c;
}

Chart StepTimeOverTime(const ServingResult& r, size_t max_points) {
  Chart c = OverTime("step time (ms)");
  Series prefill{"prefill steps", {}, {}, "points"}, decode{"decode steps", {}, {}, "points"};
  const size_t k = Stride(r.steps.size(), max_points);
  for (size_t i = 0; i < r.steps.size(); i += k) {
    const StepRecord& st = r.steps[i];
    Series& s = st.prefill ? prefill : decode;
    s.x.push_back(st.start_us / 1e6);
    s.y.push_back((st.end_us - st.start_us) / 1e3);
  }
  for (Series* s : {&prefill, &decode})
    if (!s->x.empty()) c.series.push_back(*s);
  return c;
}

}  // namespace npusim::charts
