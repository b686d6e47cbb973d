// Byte-level formatting rules of the Prometheus API (prometheus_format.h).
#include "metrics/api/prometheus_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sightline::metrics::api {
namespace {

std::string Ts(int64_t ms) {
  std::string s;
  AppendTimestamp(s, ms);
  return s;
}
std::string Val(double v) {
  std::string s;
  AppendSampleValue(s, v);
  return s;
}
std::string GoFloat(double v) {
  std::string s;
  AppendGoJsonFloat(s, v);
  return s;
}

TEST(PrometheusFormat, TimestampsAsJsonutil) {
  EXPECT_EQ(Ts(0), "0");
  EXPECT_EQ(Ts(4000), "4");
  EXPECT_EQ(Ts(1435781430781), "1435781430.781");
  EXPECT_EQ(Ts(1500), "1.500");  // jsonutil keeps the three digits
  EXPECT_EQ(Ts(1005), "1.005");
  EXPECT_EQ(Ts(1050), "1.050");
  EXPECT_EQ(Ts(-1), "-0.001");
  EXPECT_EQ(Ts(-1500), "-1.500");
}

TEST(PrometheusFormat, SampleValuesAsMarshalFloat) {
  EXPECT_EQ(Val(1), "\"1\"");
  EXPECT_EQ(Val(0.1), "\"0.1\"");
  EXPECT_EQ(Val(0), "\"0\"");
  EXPECT_EQ(Val(-2.5), "\"-2.5\"");
  EXPECT_EQ(Val(123456789012345680), "\"123456789012345680\"");
  EXPECT_EQ(Val(1e20), "\"100000000000000000000\"");
  EXPECT_EQ(Val(1e21), "\"1e+21\"");
  EXPECT_EQ(Val(1e-6), "\"0.000001\"");
  EXPECT_EQ(Val(1.5e-7), "\"1.5e-07\"");
  EXPECT_EQ(Val(std::nan("")), "\"NaN\"");
  EXPECT_EQ(Val(std::numeric_limits<double>::infinity()), "\"+Inf\"");
  EXPECT_EQ(Val(-std::numeric_limits<double>::infinity()), "\"-Inf\"");
}

TEST(PrometheusFormat, GoJsonFloat) {
  EXPECT_EQ(GoFloat(4), "4");
  EXPECT_EQ(GoFloat(1.5), "1.5");
  EXPECT_EQ(GoFloat(1435781430.781), "1435781430.781");
  EXPECT_EQ(GoFloat(1e21), "1e+21");
  EXPECT_EQ(GoFloat(1e-9), "1e-9");
}

TEST(PrometheusFormat, GoJsonStrings) {
  std::string s;
  AppendGoJsonString(s, "a<b>&\"\\\n\x01\xff\xe2\x80\xa8z");
  EXPECT_EQ(s, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\ufffd\\u2028z\"");
}

TEST(PrometheusFormat, ParseTime) {
  EXPECT_EQ(*ParseTimeParam("4"), 4000);
  EXPECT_EQ(*ParseTimeParam("1435781430.781"), 1435781430781);
  EXPECT_EQ(*ParseTimeParam("1.0006"), 1001);  // rounded to the ms
  EXPECT_EQ(*ParseTimeParam("-1.5"), -1500);
  EXPECT_EQ(*ParseTimeParam("2015-07-01T20:10:30.781Z"), 1435781430781);
  EXPECT_EQ(*ParseTimeParam("2015-07-01T22:10:30.781999+02:00"), 1435781430781);
  EXPECT_EQ(*ParseTimeParam("1700000000000"), 1700000000000000);  // ms sent as s
  auto bad = ParseTimeParam("yesterday");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "cannot parse \"yesterday\" to a valid timestamp");
  EXPECT_FALSE(ParseTimeParam("").ok());
  EXPECT_FALSE(ParseTimeParam("2015-13-01T00:00:00Z").ok());
}

TEST(PrometheusFormat, ParseDuration) {
  EXPECT_EQ(*ParseDurationParamNs("15"), 15'000'000'000);
  EXPECT_EQ(*ParseDurationParamNs("0.5"), 500'000'000);
  EXPECT_EQ(*ParseDurationParamNs("1m"), 60'000'000'000);
  EXPECT_EQ(*ParseDurationParamNs("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(ParseDurationParamNs("x").status().message(), "cannot parse \"x\" to a valid duration");
  EXPECT_EQ(ParseDurationParamNs("1e300").status().message(),
            "cannot parse \"1e300\" to a valid duration. It overflows int64");
}

TEST(PrometheusFormat, ParseLimit) {
  EXPECT_EQ(*ParseLimitParam(""), 0);
  EXPECT_EQ(*ParseLimitParam("10"), 10);
  EXPECT_EQ(ParseLimitParam("-1").status().message(), "limit must be non-negative");
  EXPECT_EQ(ParseLimitParam("x").status().message(), "strconv.Atoi: parsing \"x\": invalid syntax");
}

TEST(PrometheusFormat, GoDuration) {
  EXPECT_EQ(FormatGoDuration(0), "0s");
  EXPECT_EQ(FormatGoDuration(1'500'000'000), "1.5s");
  EXPECT_EQ(FormatGoDuration(500'000'000), "500ms");
  EXPECT_EQ(FormatGoDuration(3600'000'000'000), "1h0m0s");
  EXPECT_EQ(FormatGoDuration(int64_t{745} * 3600'000'000'000), "745h0m0s");
  EXPECT_EQ(FormatGoDuration(90'000'000'000), "1m30s");
}

}  // namespace
}  // namespace sightline::metrics::api
