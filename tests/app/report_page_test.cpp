// report.html in a real browser: each kind of page (kernel, run, capacity, capacity with knobs
// compared, explore, merged sweep, calibrate) opened in headless Chromium; a page fails on any
// console message or script error, or when a chart is missing or drawn without size. The page's
// closing script measures its own charts and records the result on <body>; Chromium prints the DOM
// after load.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>

#include "tests/app/npusim_process.h"

namespace npusim {
namespace {

std::string Src(const std::string& rel) { return std::string(NPUSIM_SOURCE_DIR) + "/" + rel; }

struct Browser {
  int code = -1;
  std::string dom, log;
};

Browser Open(const std::string& page) {
  Browser b;
  const std::string log = page + ".chromium.log";
  const std::string cmd =
      "chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 --dump-dom "
      "'file://" +
      page + "' 2> '" + log + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return b;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) b.dom.append(buf, n);
  const int status = pclose(p);
  b.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  b.log = Slurp(log);
  return b;
}

// Opens DIR/report.html; expects at least `min_charts` charts, all drawn, and a quiet console.
void ExpectPageRenders(const std::string& dir, int min_charts) {
  const std::string page = dir + "/report.html";
  ASSERT_TRUE(std::filesystem::exists(page)) << page;
  const std::string html = Slurp(page);
  // No fetches: every URL in the page is an SVG/XML namespace name.
  const std::regex url(R"re(https?://[^"' <>]*)re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url); it != std::sregex_iterator();
       ++it)
    EXPECT_EQ(it->str().rfind("http://www.w3.org/", 0), 0u)
        << "external URL " << it->str() << " in " << page;
  const Browser b = Open(page);
  ASSERT_EQ(b.code, 0) << "chromium failed on " << page
                       << " (not installed? `make test` installs it)\n"
                       << b.log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      b.dom, m,
      std::regex(R"re(<body data-charts="(\d+)" data-charts-drawn="(\d+)" data-errors="(\d+)")re")))
      << "the page's self-check did not run: " << page;
  EXPECT_GE(std::stoi(m[1]), min_charts) << page;
  EXPECT_EQ(m[2], m[1]) << "charts missing or empty in " << page;
  EXPECT_EQ(m[3], "0") << "script errors in " << page;
  EXPECT_EQ(b.log.find(":CONSOLE"), std::string::npos) << "console output from " << page << ":\n"
                                                       << b.log;
  EXPECT_EQ(html.find("chart not drawn"), std::string::npos) << page;
}

TEST(ReportPage, RunPageRenders) {
  const std::string out = Dir("page_run");
  const Result r = Npusim("run " + Src("configs/runs/quickstart.yaml") +
                          " --set num_prompts=4 --set random_output_len=16 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(out, 6);
}

TEST(ReportPage, KernelPagesRenderAlsoForAFailure) {
  const std::string ok = Dir("page_kernel"), failed = Dir("page_kernel_s1");
  Result r = Npusim("kernel add --device Ascend910B3 --timing-only --quiet --out " + ok);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(ok, 3);
  r = Npusim(
      "kernel move_intermediate_cache --device Ascend910_9392 --set ssm_dtype=float32 --quiet "
      "--out " +
      failed);
  ASSERT_EQ(r.code, 3) << r.output;
  ExpectPageRenders(failed, 0);
  EXPECT_THAT(
      Slurp(failed + "/report.html"),
      ::testing::HasSubstr("ub overflow, requires 2097152 bits while 1572864 bits available!"));
}

TEST(ReportPage, CalibratePageRenders) {
  const std::string out = Dir("page_calibrate");
  const Result r = Npusim(
      "calibrate " + Src("configs/calibration") +
      " --only "
      "C2-fused-b4,C2-fused-b8,C3-pr601-e2e-b1,C7-ll-dispatch-ep16,C8-rmsnorm-dynquant-fused -j "
      "2 --quiet --out " +
      out);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(out, 2);  // simulated vs measured (log-log), error per row
}

TEST(ReportPage, CapacityPagesRender) {
  const std::string out = Dir("page_cap"), cmp = Dir("page_cap_try");
  // 8 requests at once break the TPOT objective (so the rate search has something to find).
  const std::string load =
      " --set random_output_len=16 --set max_running_requests=8 --set num_prompts=8 --set "
      "slo_tpot_p99_ms=10 --quiet";
  Result r = Npusim("capacity " + Src("configs/runs/quickstart.yaml") + load + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(out, 7);  // memory, 3 per search
  r = Npusim("capacity " + Src("configs/runs/quickstart.yaml") + load +
             " --set capacity_search=concurrency --try tp_size=2,4 --out " + cmp);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(cmp, 2);
  ExpectPageRenders(cmp + "/variants/1", 4);
}

TEST(ReportPage, ExploreAndMergedSweepPagesRender) {
  const std::string ex = Dir("page_explore");
  Result r = Npusim("explore " + Src("configs/explore/move_intermediate_cache.yaml") +
                    " --quiet --out " + ex);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(ex, 3);
  const std::string a = Dir("page_s1"), b = Dir("page_s2"), merged = Dir("page_merged");
  for (const auto& [shard, dir] : {std::pair{"1/2", a}, std::pair{"2/2", b}}) {
    r = Npusim("sweep " + Src("configs/sweeps/rms-norm-rows.yaml") + " --shard " + shard +
               " --quiet --out " + dir);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  r = Npusim("merge " + a + " " + b + " --quiet --out " + merged);
  ASSERT_EQ(r.code, 0) << r.output;
  ExpectPageRenders(merged, 2);
}

}  // namespace
}  // namespace npusim
