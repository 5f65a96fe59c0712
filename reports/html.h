// report.html: one self-contained page per command (no scripts or styles fetched from anywhere),
// tables plus charts drawn by gnuplot as SVG and inlined. Why gnuplot: it is a Debian package,
// writes plain deterministic SVG (byte-identical reruns, small reviewable example pages), and
// needs no JavaScript runtime in the page; a JS plotting library inlined into every page would
// add ~1 MB per report. Writers describe charts as data (Chart); gnuplot scripts live only here.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace npusim::html {

// One line or point set of an XY chart, or one column of a bar chart (values per category).
struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string style = "linespoints";  // XY charts: lines, points, linespoints, steps
};

struct Chart {
  enum class Kind { kBars, kStackedBars, kXY, kHeatmap };
  Kind kind = Kind::kBars;
  std::string title, xlabel, ylabel;
  std::vector<std::string> categories;  // bars: one group per category; heatmap: rows
  std::vector<std::string> columns;     // heatmap: columns (values: series[row].y[column])
  std::vector<Series> series;
  bool logx = false, logy = false;
  int logx_base = 10;
  std::vector<std::pair<std::string, double>>
      hlines;  // labelled horizontal limits (SLOs, budgets), always in range
  std::vector<std::pair<std::string, double>>
      vlines;          // XY charts: labelled vertical markers (the chosen point), at x
  std::string zlabel;  // heatmap colour scale
  double zmax = 0;     // heatmap scale top (0: the data's maximum)
  int height = 320;
};

// The chart as an inline <svg> (ids made unique by `id`), or a note saying why it is missing.
std::string RenderChart(const Chart& c, const std::string& id);

class Page {
 public:
  explicit Page(std::string title);
  void Heading(const std::string& text);  // a section
  void Paragraph(const std::string& text);
  // Key-value facts as a compact table.
  void Facts(const std::vector<std::pair<std::string, std::string>>& rows);
  void Table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows);
  // Charts are drawn when the page is rendered, each by its own gnuplot process, as many at once
  // as there are cores.
  void AddChart(const Chart& c, const std::string& caption);
  // Render without drawing the charts: each figure says `why` instead (a page nobody reads
  // first, such as a capacity probe's, skips gnuplot's ~50 ms a chart).
  void OmitCharts(const std::string& why) { omit_why_ = why; }
  std::string Render() const;
  void Write(const std::string& path) const;

 private:
  std::string DrawnBody() const;  // body_ with each chart marker replaced by the chart
  std::string title_, body_;      // body_ holds a marker per chart until Render
  std::vector<std::pair<Chart, std::string>> charts_;  // (chart, its id)
  std::string omit_why_;
};

std::string Escape(const std::string& s);

}  // namespace npusim::html
