#include "telemetry/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "harness/harness.h"
#include "telemetry/log.h"

namespace sightline::telemetry {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterGaugeHistogramExposition) {
  Registry r;
  r.AddCounter("test_requests_total", "Requests.", {"code"}).WithLabels({"200"}).Inc(3);
  r.AddCounter("test_requests_total", "Requests.", {"code"}).WithLabels({"500"}).Inc();
  r.AddGauge("test_temperature", "Temp with \"quotes\" and \\ slash.").Get().Set(-1.5);
  auto& h = r.AddHistogram("test_duration_seconds", "Durations.", {"route"}, {0.1, 1});
  h.WithLabels({"a\"b\nc"}).Observe(0.05);
  h.WithLabels({"a\"b\nc"}).Observe(0.5);
  h.WithLabels({"a\"b\nc"}).Observe(5);
  std::string out = r.Expose();
  EXPECT_THAT(out, HasSubstr("# TYPE test_requests_total counter\n"));
  EXPECT_THAT(out, HasSubstr("test_requests_total{code=\"200\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("test_requests_total{code=\"500\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("test_temperature -1.5\n"));
  EXPECT_THAT(out, HasSubstr("test_duration_seconds_bucket{route=\"a\\\"b\\nc\",le=\"0.1\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("test_duration_seconds_bucket{route=\"a\\\"b\\nc\",le=\"1\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("test_duration_seconds_bucket{route=\"a\\\"b\\nc\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("test_duration_seconds_sum{route=\"a\\\"b\\nc\"} 5.55\n"));
  EXPECT_THAT(out, HasSubstr("test_duration_seconds_count{route=\"a\\\"b\\nc\"} 3\n"));
}

TEST(MetricsTest, CountersNeverDecrease) {
  Registry r;
  auto& c = r.AddCounter("c_total", "c").Get();
  c.Inc(2);
  c.Inc(-5);
  EXPECT_EQ(c.Value(), 2);
}

TEST(MetricsTest, ReRegistrationReturnsSameFamily) {
  Registry r;
  auto& a = r.AddCounter("x_total", "x", {"l"});
  auto& b = r.AddCounter("x_total", "x", {"l"});
  EXPECT_EQ(&a, &b);
  EXPECT_DEATH(r.AddGauge("x_total", "x", {"l"}), "registered twice");
  EXPECT_DEATH(r.AddCounter("x_total", "x", {"other"}), "registered twice");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("conc_total", "c", {"t"});
  auto& h = r.AddHistogram("conc_seconds", "h", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.WithLabels({"x"}).Inc();
        h.Get().Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.WithLabels({"x"}).Value(), 40000);
  EXPECT_EQ(h.Get().Read().count, 40000u);
}

TEST(MetricsTest, FormatValueLikeGo) {
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

// promtool (Prometheus 2.42, Debian) is the reference for the text format.
TEST(MetricsTest, PromtoolAcceptsExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap installs the prometheus package)";
  }
  Registry r;
  r.AddCounter("promtool_requests_total", "Requests served.", {"code", "method"})
      .WithLabels({"200", "get"})
      .Inc();
  r.AddGauge("promtool_queue_length", "Items waiting.").Get().Set(3);
  r.AddHistogram("promtool_request_duration_seconds", "Request latency.", {"route"})
      .WithLabels({"api_v1_query"})
      .Observe(0.2);
  testing::TempDir dir;
  testing::WriteFile(dir.Join("m.txt"), r.Expose());
  std::string cmd = "promtool check metrics < " + dir.Join("m.txt") + " > " + dir.Join("out.txt") + " 2>&1";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << testing::ReadFile(dir.Join("out.txt"));
  EXPECT_EQ(testing::ReadFile(dir.Join("out.txt")), "");

  // And it must be able to fail: a counter without _total is a lint problem.
  Registry bad;
  bad.AddCounter("promtool_requests", "No suffix.").Get().Inc();
  testing::WriteFile(dir.Join("bad.txt"), bad.Expose());
  cmd = "promtool check metrics < " + dir.Join("bad.txt") + " > /dev/null 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
}

TEST(LogTest, LogfmtQuoting) {
  std::string sink;
  log::SetSinkForTesting(&sink);
  log::Info("listening", {{"http", "127.0.0.1:9090"}, {"note", "two words"}, {"q", "a\"b"}});
  log::Debug("hidden");
  log::SetSinkForTesting(nullptr);
  EXPECT_THAT(sink, HasSubstr(" level=info msg=\"listening\" http=127.0.0.1:9090 note=\"two words\" q=\"a\\\"b\"\n"));
  EXPECT_THAT(sink, ::testing::StartsWith("ts="));
  EXPECT_THAT(sink, ::testing::Not(HasSubstr("hidden")));
}

}  // namespace
}  // namespace sightline::telemetry
