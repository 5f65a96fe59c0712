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

}  // namespace
}  // namespace npusim
