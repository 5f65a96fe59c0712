// The scalar data cache on its own (no simulation): set mapping, LRU within a set, cold resets.
#include "devices/dcache.h"

#include <gtest/gtest.h>

namespace npusim {
namespace {

TEST(ScalarDataCache, LeastRecentlyUsedWayOfTheSetIsEvicted) {
  ScalarDataCache c;
  c.Configure(256, 64, 2);      // 4 lines: 2 sets x 2 ways; line n maps to set n % 2
  EXPECT_FALSE(c.Access(0));    // line 0, set 0
  EXPECT_TRUE(c.Access(63));    // same line
  EXPECT_FALSE(c.Access(128));  // line 2, set 0: the second way
  EXPECT_FALSE(c.Access(64));   // line 1, set 1: does not touch set 0
  EXPECT_TRUE(c.Access(0));     // line 0 is now the most recent of set 0
  EXPECT_FALSE(c.Access(256));  // line 4, set 0: evicts line 2, the least recent
  EXPECT_TRUE(c.Access(0));
  EXPECT_FALSE(c.Access(128));  // line 2 was evicted
  EXPECT_EQ(c.hits(), 3u);
  EXPECT_EQ(c.misses(), 5u);
  c.Reset();  // a launch starts cold
  EXPECT_FALSE(c.Access(0));
  EXPECT_EQ(c.misses(), 1u);
}

}  // namespace
}  // namespace npusim
