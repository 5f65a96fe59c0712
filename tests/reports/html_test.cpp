// Charts of report.html drawn by gnuplot: the shapes of data that once failed to draw.
#include "reports/html.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace npusim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Signed errors that are all negative (a calibration run of rows that are all too fast): the
// bar chart's y axis started at 0 and gnuplot refused the empty range; negative bars were clipped.
TEST(HtmlChart, BarsThatAreAllNegativeAreDrawn) {
  html::Chart bars;
  bars.kind = html::Chart::Kind::kBars;
  bars.title = "error per row";
  bars.categories = {"a", "b"};
  html::Series s;
  s.name = "error";
  s.y = {-0.5, -40};
  bars.series.push_back(s);
  const std::string svg = html::RenderChart(bars, "c0");
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, Not(HasSubstr("chart not drawn")));
}

html::Chart TwoBars(const std::string& title) {
  html::Chart c;
  c.kind = html::Chart::Kind::kBars;
  c.title = title;
  c.categories = {"a", "b"};
  html::Series s;
  s.name = "v";
  s.y = {1, 2};
  c.series.push_back(s);
  return c;
}

// A chart drawn once is not drawn again by any later run of this build: its SVG is kept in the
// kernel cache under its gnuplot script and the gnuplot's identity. A stand-in gnuplot on PATH
// counts its starts. (The gnuplot and the cache are found once per process: ctest runs each test
// in its own.)
TEST(HtmlChart, AChartDrawnOnceIsReadBackNotRedrawn) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("npusim-chart-memo-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "bin");
  const std::string starts = (dir / "starts").string();
  {
    std::ofstream fake(dir / "bin" / "gnuplot");
    fake << "#!/bin/sh\necho started >> '" << starts
         << "'\nprintf '<svg id=\"gnuplot_canvas\"><title>Gnuplot</title></svg>\\n'\n";
  }
  std::filesystem::permissions(dir / "bin" / "gnuplot", std::filesystem::perms::owner_all);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", ((dir / "bin").string() + ":" + path).c_str(), 1);
  ::setenv("NPUSIM_KERNEL_CACHE", (dir / "cache").c_str(), 1);
  auto count = [&] {
    std::ifstream in(starts);
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  const std::string first = html::RenderChart(TwoBars("memo"), "c1");
  EXPECT_THAT(first, HasSubstr("<svg"));
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(html::RenderChart(TwoBars("memo"), "c1"), first);
  EXPECT_EQ(count(), 1u);
  // Placed elsewhere on a page: the same drawing, its own ids.
  EXPECT_THAT(html::RenderChart(TwoBars("memo"), "c7"), HasSubstr("c7canvas"));
  EXPECT_EQ(count(), 1u);
  html::Chart other = TwoBars("memo");
  other.series[0].y = {1, 3};
  html::RenderChart(other, "c1");  // other data, another script: drawn
  EXPECT_EQ(count(), 2u);
  ::setenv("PATH", path.c_str(), 1);
  std::filesystem::remove_all(dir);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Charts are drawn at render time, several at once: each must still land in its own figure, in
// the order added, between the text around it, with its own ids.
TEST(HtmlPage, ChartsDrawnTogetherLandInTheirFigures) {
  html::Page page("t");
  const int n = 5;  // more than one wave of drawing threads on a 2-core machine
  for (int i = 1; i <= n; ++i) {
    page.Paragraph("before " + std::to_string(i));
    page.AddChart(TwoBars("chart " + std::to_string(i)), "caption " + std::to_string(i));
  }
  const std::string html = page.Render();
  EXPECT_EQ(Count(html, "<svg"), static_cast<size_t>(n));
  EXPECT_EQ(Count(html, "\x01"), 0u);  // no marker left
  size_t last = 0;
  for (int i = 1; i <= n; ++i) {
    const std::string k = std::to_string(i);
    const size_t text = html.find("<p>before " + k + "</p>");
    const size_t fig = html.find("<figure class=\"chart\" id=\"c" + k + "\">");
    const size_t svg = html.find("<title>chart " + k + "</title>");
    const size_t own_ids = html.find("id=\"c" + k + "canvas\"");
    ASSERT_NE(svg, std::string::npos) << k;
    EXPECT_LT(last, text) << k;
    EXPECT_LT(text, fig) << k;
    EXPECT_LT(fig, svg) << k;
    EXPECT_LT(svg, own_ids) << k;
    last = own_ids;
  }
}

TEST(HtmlPage, OmittedChartsSayWhyInTheirFigures) {
  html::Page page("t");
  page.AddChart(TwoBars("one"), "first");
  page.AddChart(TwoBars("two"), "second");
  page.OmitCharts("a probe");
  const std::string html = page.Render();
  EXPECT_EQ(Count(html, "<svg"), 0u);
  EXPECT_EQ(Count(html, "<p class=\"nochart\">chart not drawn: a probe</p>"), 2u);
  EXPECT_LT(html.find("first"), html.find("chart not drawn"));
}

}  // namespace
}  // namespace npusim
