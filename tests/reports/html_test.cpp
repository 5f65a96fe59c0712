// Charts of report.html drawn by gnuplot: the shapes of data that once failed to draw.
#include "reports/html.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
