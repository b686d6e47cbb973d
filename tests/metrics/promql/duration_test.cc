#include "metrics/promql/duration.h"

#include <gtest/gtest.h>

namespace sightline::promql {
namespace {

TEST(ParseDurationTest, AcceptsPrometheusDurations) {
  struct Case {
    std::string_view in;
    int64_t ms;
  };
  const Case cases[] = {
      {"0", 0},
      {"0s", 0},
      {"1ms", 1},
      {"1s", 1000},
      {"90s", 90000},
      {"5m", 300000},
      {"1h", 3600000},
      {"1h30m", 5400000},
      {"1d", 86400000},
      {"1w", 604800000},
      {"1y", 31536000000},
      {"12h34m56s", 45296000},
      {"54s321ms", 54321},
      {"1y2w3d4h5m6s7ms",
       31536000000 + 2 * 604800000LL + 3 * 86400000LL + 4 * 3600000LL + 5 * 60000 + 6 * 1000 + 7},
  };
  for (const Case& c : cases) {
    Result<int64_t> got = ParseDuration(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.ms) << c.in;
  }
}

TEST(ParseDurationTest, RejectsWithPrometheusMessages) {
  struct Case {
    std::string_view in;
    std::string_view error;
  };
  const Case cases[] = {
      {"", "empty duration string"},
      {"5m1h", "not a valid duration string: \"5m1h\""},
      {"5m1m", "not a valid duration string: \"5m1m\""},
      {"5y1hs", "unknown unit \"hs\" in duration \"5y1hs\""},
      {"1.5m", "unknown unit \".\" in duration \"1.5m\""},
      {"-5m", "not a valid duration string: \"-5m\""},
      {"5", "not a valid duration string: \"5\""},
      {"m", "not a valid duration string: \"m\""},
      {"300y", "duration out of range"},
      {"106752d", "duration out of range"},
  };
  for (const Case& c : cases) {
    Result<int64_t> got = ParseDuration(c.in);
    ASSERT_FALSE(got.ok()) << c.in;
    EXPECT_EQ(got.status().message(), c.error) << c.in;
  }
}

TEST(FormatDurationTest, MatchesModelDurationString) {
  struct Case {
    int64_t ms;
    std::string_view out;
  };
  const Case cases[] = {
      {0, "0s"},
      {1, "1ms"},
      {1000, "1s"},
      {90000, "1m30s"},
      {300000, "5m"},
      {5400000, "1h30m"},
      {86400000, "1d"},
      {604800000, "1w"},
      {7776000000, "90d"},  // Weeks only when exact: not 12w6d.
      {1209600000, "2w"},
      {31536000000, "1y"},
      {31536000000 + 86400000, "366d"},
      {4018, "4s18ms"},
      {-300000, "-5m"},
  };
  for (const Case& c : cases) EXPECT_EQ(FormatDuration(c.ms), c.out) << c.ms;
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (int64_t ms : {1LL, 999LL, 61001LL, 3600000LL, 90061001LL, 31536000000LL * 3}) {
    Result<int64_t> back = ParseDuration(FormatDuration(ms));
    ASSERT_TRUE(back.ok()) << ms;
    EXPECT_EQ(*back, ms);
  }
}

}  // namespace
}  // namespace sightline::promql
