// gtest entry for suites that touch SystemC: libsystemc owns main() and calls sc_main().
// ctest runs every TEST in its own process (gtest_discover_tests): one simulation per process.
#include <gtest/gtest.h>

#include <cstdlib>

static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);

extern "C" int sc_main(int argc, char* argv[]) {
  (void)kQuietBanner;
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return RUN_ALL_TESTS();
}
