#include "reports/html.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "model/error.h"
#include "workloads/kernel_cache.h"

namespace npusim::html {

namespace {

std::string Num(double v) {
  if (!std::isfinite(v)) return "?";  // `set datafile missing "?"`
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A gnuplot string literal (double quotes; noenhanced, so only quotes and backslashes matter).
std::string Quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

// Colours that stay apart in print and for common colour-vision deficiencies (Okabe-Ito).
const char* const kColours[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                "#CC79A7", "#56B4E9", "#F0E442", "#000000"};

std::string Preamble(const Chart& c) {
  std::ostringstream s;
  // Bars with many categories get labels rotated by 90 degrees (BarsScript): the picture grows by
  // the longest label so the plot keeps its height (S2's kernel share was ~100 px of bars under
  // ~230 px of labels).
  int height = c.height;
  if ((c.kind == Chart::Kind::kBars || c.kind == Chart::Kind::kStackedBars) &&
      c.categories.size() > 12) {
    size_t longest = 0;
    for (const auto& cat : c.categories) longest = std::max(longest, cat.size());
    height += static_cast<int>(longest) * 6;
  }
  s << "set terminal svg size 760," << height
    << " dynamic noenhanced font \"sans,11\" background \"white\"\n"
    << "set datafile missing \"?\"\n"
    << "set border 3 lc rgb \"#555555\"\nset tics nomirror\nset grid ytics lc rgb \"#dddddd\" lt "
       "1\n"
    << "set key outside right top vertical Left reverse noautotitle\n";
  for (int i = 0; i < 8; ++i)
    s << "set linetype " << i + 1 << " lc rgb \"" << kColours[i] << "\" lw 2 pt 7 ps 0.8\n";
  if (!c.xlabel.empty()) s << "set xlabel " << Quote(c.xlabel) << "\n";
  if (!c.ylabel.empty()) s << "set ylabel " << Quote(c.ylabel) << "\n";
  if (c.logx) s << "set logscale x " << c.logx_base << "\n";
  if (c.logy) s << "set logscale y\n";
  for (size_t i = 0; i < c.hlines.size(); ++i) {
    const auto& [label, y] = c.hlines[i];
    s << "set arrow from graph 0, first " << Num(y) << " to graph 1, first " << Num(y)
      << " nohead dt 2 lw 1.5 lc rgb \"#b00000\"\n"
      << "set label " << Quote(label) << " at graph 0.01, first " << Num(y)
      << " offset 0,0.7 tc rgb \"#b00000\"\n";
  }
  return s.str();
}

std::string BarsScript(const Chart& c) {
  std::ostringstream s;
  s << "$d << EOD\n";
  for (size_t r = 0; r < c.categories.size(); ++r) {
    s << Quote(c.categories[r]);
    for (const Series& se : c.series) s << " " << Num(r < se.y.size() ? se.y[r] : NAN);
    s << "\n";
  }
  s << "EOD\n";
  s << "set style data histograms\n"
    << (c.kind == Chart::Kind::kStackedBars ? "set style histogram rowstacked\n"
                                            : "set style histogram clustered gap 1\n")
    << "set style fill solid 0.85 noborder\nset boxwidth 0.8 relative\n";
  // The axis must reach the limit lines too (a budget above every bar), and below 0 when a bar
  // is negative (signed errors): a [0:*] range clipped those, or failed when every bar was <= 0.
  double top = 0, bottom = 0;
  for (const auto& [label, y] : c.hlines) top = std::max(top, y * 1.08);
  for (const Series& se : c.series)
    for (double y : se.y)
      if (std::isfinite(y)) bottom = std::min(bottom, y * 1.08);
  s << "set yrange [" << Num(bottom) << ":" << Num(top) << "<*]\n";
  if (c.categories.size() > 12) {
    s << "set xtics rotate by 90 right\n";
  } else if (c.categories.size() > 4) {
    // Labels at 30 degrees reach left of the first bar: leave room for the longest.
    size_t longest = 0;
    for (const auto& cat : c.categories) longest = std::max(longest, cat.size());
    s << "set xtics rotate by 30 right\nset lmargin " << std::clamp<size_t>(longest * 5 / 6, 10, 30)
      << "\n";
  }
  if (c.series.size() == 1) s << "unset key\n";
  s << "plot ";
  for (size_t i = 0; i < c.series.size(); ++i)
    s << (i ? ", " : "") << "$d using " << i + 2 << (i == 0 ? ":xtic(1)" : "") << " title "
      << Quote(c.series[i].name);
  s << "\n";
  return s.str();
}

std::string XYScript(const Chart& c) {
  std::ostringstream s;
  // The limit lines stay in view when the data are all above or all below them (an SLO the
  // curve never reaches was drawn outside the plot): the range reaches at least to each line.
  if (!c.hlines.empty()) {
    double lo = c.hlines.front().second, hi = lo;
    for (const auto& [label, y] : c.hlines) lo = std::min(lo, y), hi = std::max(hi, y);
    s << "set yrange [*<" << Num(c.logy ? lo / 1.08 : lo - 0.08 * std::fabs(lo)) << ":"
      << Num(hi * 1.08) << "<*]\n";
  }
  double right_end =
      -INFINITY;  // a marker on the last point gets its label on its left, inside the plot
  for (const Series& se : c.series)
    for (double x : se.x) right_end = std::max(right_end, x);
  for (const auto& [label, x] : c.vlines)
    s << "set arrow from first " << Num(x) << ", graph 0 to first " << Num(x)
      << ", graph 1 nohead dt 3 lw 1.5 lc rgb \"#1b7a1b\"\n"
      << "set label " << Quote(label) << " at first " << Num(x) << ", graph 0.96 "
      << (x >= right_end ? "right offset -0.5,0" : "offset 0.5,0") << " tc rgb \"#1b7a1b\"\n";
  for (size_t i = 0; i < c.series.size(); ++i) {
    s << "$s" << i << " << EOD\n";
    const Series& se = c.series[i];
    for (size_t k = 0; k < se.x.size() && k < se.y.size(); ++k)
      s << Num(se.x[k]) << " " << Num(se.y[k]) << "\n";
    s << "EOD\n";
  }
  if (c.series.size() == 1) s << "unset key\n";
  s << "plot ";
  for (size_t i = 0; i < c.series.size(); ++i)
    s << (i ? ", " : "") << "$s" << i << " using 1:2 with " << c.series[i].style << " lt "
      << (i % 8) + 1 << " title " << Quote(c.series[i].name);
  s << "\n";
  return s.str();
}

std::string HeatmapScript(const Chart& c) {
  std::ostringstream s;
  double top = c.zmax;
  s << "$h << EOD\n\"\"";
  for (const auto& col : c.columns) s << " " << Quote(col);
  s << "\n";
  for (size_t r = 0; r < c.categories.size(); ++r) {
    s << Quote(c.categories[r]);
    for (size_t k = 0; k < c.columns.size(); ++k) {
      const double v = r < c.series.size() && k < c.series[r].y.size() ? c.series[r].y[k] : 0;
      top = std::max(top, v);
      s << " " << Num(v);
    }
    s << "\n";
  }
  s << "EOD\n"
    << "unset key\nunset grid\nset palette defined (0 \"#f7fbff\", 0.5 \"#6baed6\", 1 "
       "\"#08306b\")\n"
    << "set cbrange [0:" << Num(top > 0 ? top : 1) << "]\n"
    << (c.zlabel.empty() ? "" : "set cblabel " + Quote(c.zlabel) + "\n")
    << "set yrange [] reverse\nset xtics rotate by 30 right\n"
    << "set tics scale 0\n"
    << "plot $h matrix rowheaders columnheaders using 1:2:3 with image, "
    << "$h matrix rowheaders columnheaders using 1:2:($3 > 0 ? sprintf(\"%.0f\", $3) : \"\"):($3 > "
    << Num(0.6 * top) << " ? 0xffffff : 0x222222) with labels tc rgb variable font \",9\"\n";
  return s.str();
}

// gnuplot's SVG, ready to inline: no XML prolog, ids prefixed so several charts share a page.
std::string Inline(std::string svg, const std::string& id, const std::string& title) {
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) return "";
  svg = svg.substr(start);
  const auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t p = svg.find(from); p != std::string::npos; p = svg.find(from, p + to.size()))
      svg.replace(p, from.size(), to);
  };
  replace_all("id='gp", "id='" + id + "gp");
  replace_all("href='#gp", "href='#" + id + "gp");
  replace_all("id=\"gnuplot_canvas\"", "id=\"" + id + "canvas\"");
  replace_all("<title>Gnuplot</title>", "<title>" + Escape(title) + "</title>");
  return svg;
}

// What a figure holds instead of its chart.
std::string NoChart(const std::string& why) {
  return "<p class=\"nochart\">chart not drawn: " + Escape(why) + "</p>";
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

namespace {

// The gnuplot a chart would run: its file's identity (path, size, modification time in ns), empty
// when PATH has none. Part of a drawn chart's cache key, so another gnuplot draws afresh.
std::string GnuplotIdentity() {
  static const std::string id = [] {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
      std::error_code ec;
      const auto exe = std::filesystem::canonical(std::filesystem::path(dir) / "gnuplot", ec);
      struct stat st {};
      if (ec || ::stat(exe.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
          ::access(exe.c_str(), X_OK))
        continue;
      return exe.string() + " " + std::to_string(st.st_size) + " " +
             std::to_string(st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec);
    }
    return std::string();
  }();
  return id;
}

}  // namespace

std::string RenderChart(const Chart& c, const std::string& id) {
  std::string script = Preamble(c);
  script += c.kind == Chart::Kind::kXY        ? XYScript(c)
            : c.kind == Chart::Kind::kHeatmap ? HeatmapScript(c)
                                              : BarsScript(c);
  // A chart's SVG depends on its script and the gnuplot alone (one process per chart): one drawn
  // before, by any run of this build, is reused (a repeated capacity search redraws the same
  // curves; gnuplot's start-up was ~30 % of its CPU).
  const std::string gnuplot = GnuplotIdentity(), key = gnuplot + "\n" + script;
  if (!gnuplot.empty())
    if (const std::optional<std::string> svg = CachedText("chart", key))
      return Inline(*svg, id, c.title);
  static std::atomic<int> counter{0};  // charts are drawn from several threads (Page::Render)
  const auto base = std::filesystem::temp_directory_path() /
                    ("npusim_plot_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  const std::string gp = base.string() + ".gp", svg = base.string() + ".svg",
                    err = base.string() + ".err";
  std::ofstream(gp) << script;
  const std::string cmd = "gnuplot '" + gp + "' > '" + svg + "' 2> '" + err + "'";
  const int rc = std::system(cmd.c_str());
  const std::string out = ReadAll(svg), errors = ReadAll(err);
  std::filesystem::remove(gp);
  std::filesystem::remove(svg);
  std::filesystem::remove(err);
  const bool ok = rc == 0 && out.find("<svg") != std::string::npos;
  if (!ok) {
    const bool missing = WIFEXITED(rc) && WEXITSTATUS(rc) == 127;
    // gnuplot starts its messages with an empty line: report the first line that says something.
    std::string first;
    for (size_t at = 0; at < errors.size() && first.empty();) {
      const size_t end = std::min(errors.find('\n', at), errors.size());
      first = errors.substr(at, end - at);
      first.erase(0, first.find_first_not_of(" \t"));
      at = end + 1;
    }
    const std::string why = missing ? "gnuplot not found (Debian: apt-get install gnuplot-nox)"
                                    : "gnuplot failed: " + first;
    spdlog::warn("report.html: chart '{}' not drawn: {}", c.title, why);
    return NoChart(why);
  }
  if (!gnuplot.empty()) StoreText("chart", key, out);
  return Inline(out, id, c.title);
}

Page::Page(std::string title) : title_(std::move(title)) {}

void Page::Heading(const std::string& text) { body_ += "<h2>" + Escape(text) + "</h2>\n"; }

void Page::Paragraph(const std::string& text) { body_ += "<p>" + Escape(text) + "</p>\n"; }

void Page::Facts(const std::vector<std::pair<std::string, std::string>>& rows) {
  body_ += "<table class=\"facts\">\n";
  for (const auto& [k, v] : rows)
    body_ += "<tr><th>" + Escape(k) + "</th><td>" + Escape(v) + "</td></tr>\n";
  body_ += "</table>\n";
}

void Page::Table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  body_ += "<table>\n<tr>";
  for (const auto& h : header) body_ += "<th>" + Escape(h) + "</th>";
  body_ += "</tr>\n";
  for (const auto& r : rows) {
    body_ += "<tr>";
    for (const auto& v : r) body_ += "<td>" + Escape(v) + "</td>";
    body_ += "</tr>\n";
  }
  body_ += "</table>\n";
}

namespace {
// Stands for chart `i` in Page::body_ until Render: \x01 never occurs in escaped text.
std::string Marker(size_t i) { return "\x01chart" + std::to_string(i) + "\x01"; }
}  // namespace

void Page::AddChart(const Chart& c, const std::string& caption) {
  const std::string id = "c" + std::to_string(charts_.size() + 1);
  Chart titled = c;
  if (titled.title.empty()) titled.title = caption;
  body_ += "<figure class=\"chart\" id=\"" + id + "\">\n<figcaption>" + Escape(caption) +
           "</figcaption>\n" + Marker(charts_.size()) + "\n</figure>\n";
  charts_.emplace_back(std::move(titled), id);
}

// Each chart is its own gnuplot process, as before, so its SVG does not depend on the charts
// drawn before it (one process for all leaves the SVG terminal's state from chart to chart); as
// many run at once as there are cores.
std::string Page::DrawnBody() const {
  std::vector<std::string> drawn(charts_.size(), omit_why_.empty() ? "" : NoChart(omit_why_));
  const size_t wave = std::max(2u, std::thread::hardware_concurrency());
  for (size_t first = 0; omit_why_.empty() && first < drawn.size(); first += wave) {
    std::vector<std::thread> threads;
    for (size_t i = first; i < std::min(first + wave, drawn.size()); ++i)
      threads.emplace_back([&, i] { drawn[i] = RenderChart(charts_[i].first, charts_[i].second); });
    for (auto& t : threads) t.join();
  }
  std::string body = body_;
  for (size_t i = 0; i < drawn.size(); ++i) {
    const std::string m = Marker(i);
    body.replace(body.find(m), m.size(), drawn[i]);
  }
  return body;
}

// The closing script checks the page itself: every chart drawn with a visible size, no script
// errors; the browser test reads the result from <body data-*> (and a person sees it at the foot).
std::string Page::Render() const {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         Escape(title_) +
         "</title>\n"
         "<script>window.npusimErrors = []; window.addEventListener('error', function (e) { "
         "window.npusimErrors.push(String(e.message)); });</script>\n"
         "<style>\n"
         "body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: "
         "#222; padding: 0 1em; }\n"
         "h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px "
         "solid #ddd; }\n"
         "table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }\n"
         "th, td { padding: 0.2em 0.7em; text-align: left; border-bottom: 1px solid #eee; }\n"
         "td { font-variant-numeric: tabular-nums; } tr:nth-child(even) td { background: #fafafa; "
         "}\n"
         "table.facts th { font-weight: normal; color: #555; }\n"
         "figure.chart { margin: 1em 0; } figure.chart svg { width: 100%; height: auto; } svg "
         "image { image-rendering: pixelated; }\n"
         "figcaption { font-weight: 600; margin-bottom: 0.3em; } .nochart { color: #b00000; }\n"
         "footer { color: #888; font-size: 0.8em; margin-top: 3em; }\n"
         "</style>\n</head>\n<body>\n<h1>" +
         Escape(title_) + "</h1>\n" + DrawnBody() +
         "<footer>npusim report; charts drawn by gnuplot. <span id=\"selfcheck\"></span></footer>\n"
         "<script>\n"
         "(function () {\n"
         "  var figs = document.querySelectorAll('figure.chart'), drawn = 0;\n"
         "  figs.forEach(function (f) {\n"
         "    var s = f.querySelector('svg');\n"
         "    if (!s) return;\n"
         "    var b = s.getBoundingClientRect();\n"
         "    if (b.width > 100 && b.height > 50 && s.querySelectorAll('path, rect, image').length "
         "> 2) drawn++;\n"
         "  });\n"
         "  document.body.setAttribute('data-charts', figs.length);\n"
         "  document.body.setAttribute('data-charts-drawn', drawn);\n"
         "  document.body.setAttribute('data-errors', window.npusimErrors.length);\n"
         "  document.getElementById('selfcheck').textContent = drawn + ' of ' + figs.length + ' "
         "charts drawn.';\n"
         "})();\n"
         "</script>\n</body>\n</html>\n";
}

void Page::Write(const std::string& path) const { WriteFileOrThrow(path, Render()); }

}  // namespace npusim::html
