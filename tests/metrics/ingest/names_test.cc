#include "metrics/ingest/names.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sightline::metrics::ingest {
namespace {

using K = OtlpMetricKind;
using S = TranslationStrategy;

std::string Name(std::string_view name, std::string_view unit, K kind,
                 S s = S::kUnderscoreEscapingWithSuffixes) {
  Result<std::string> r = OtlpMetricName(name, unit, kind, s);
  return r.ok() ? *r : "ERROR: " + r.status().message();
}

// Cases from prometheus/otlptranslator's metric_namer_test.go.
TEST(OtlpMetricNameTest, UnderscoreEscapingWithSuffixes) {
  EXPECT_EQ(Name("requests", "", K::kMonotonicCounter), "requests_total");
  EXPECT_EQ(Name("cpu_usage", "1", K::kGauge), "cpu_usage_ratio");
  EXPECT_EQ(Name("items", "1", K::kMonotonicCounter), "items_total");
  EXPECT_EQ(Name("response_time", "ms", K::kGauge), "response_time_milliseconds");
  EXPECT_EQ(Name("memory_usage", "By", K::kGauge), "memory_usage_bytes");
  EXPECT_EQ(Name("requests", "1/s", K::kGauge), "requests_per_second");
  EXPECT_EQ(Name("throughput", "By/s", K::kGauge), "throughput_bytes_per_second");
  EXPECT_EQ(Name("custom_metric", "custom_unit", K::kGauge), "custom_metric_custom_unit");
  EXPECT_EQ(Name("custom_metric", "{custom}", K::kGauge), "custom_metric");
  EXPECT_EQ(Name("custom_metric", "By/{custom}", K::kGauge), "custom_metric_bytes");
  EXPECT_EQ(Name("requests_total", "", K::kMonotonicCounter), "requests_total");
  EXPECT_EQ(Name("cpu_usage_ratio", "1", K::kGauge), "cpu_usage_ratio");
  EXPECT_EQ(Name("response_time_seconds", "s", K::kGauge), "response_time_seconds");
  EXPECT_EQ(Name("metric__with__multiple__underscores", "unit__multiple__underscores", K::kGauge),
            "metric_with_multiple_underscores_unit_multiple_underscores");
  EXPECT_EQ(Name("custom_metric", "unit@with#special/chars", K::kGauge),
            "custom_metric_unit_with_special_per_chars");
  EXPECT_EQ(Name("request_duration", "s", K::kHistogram), "request_duration_seconds");
  EXPECT_EQ(Name("request_size", "By", K::kExponentialHistogram), "request_size_bytes");
  EXPECT_EQ(Name("response_time", "ms", K::kSummary), "response_time_milliseconds");
  EXPECT_EQ(Name("active_connections", "", K::kNonMonotonicCounter), "active_connections");
  EXPECT_EQ(Name("uptime", "d", K::kGauge), "uptime_days");
  EXPECT_EQ(Name("http.server.duration", "s", K::kHistogram), "http_server_duration_seconds");
  EXPECT_EQ(Name("system.cpu.time", "s", K::kMonotonicCounter), "system_cpu_time_seconds_total");
  EXPECT_EQ(Name("123_requests", "", K::kMonotonicCounter), "_123_requests_total");
  EXPECT_EQ(Name("temp", "Cel", K::kGauge), "temp_celsius");
  EXPECT_EQ(Name("@#$%", "", K::kGauge).rfind("ERROR", 0), 0u);
}

TEST(OtlpMetricNameTest, OtherStrategies) {
  EXPECT_EQ(Name("metric@with#special$chars", "", K::kGauge, S::kUnderscoreEscapingWithoutSuffixes),
            "metric_with_special_chars");
  EXPECT_EQ(Name("123metric", "", K::kGauge, S::kUnderscoreEscapingWithoutSuffixes), "_123metric");
  EXPECT_EQ(Name("metric@@##$$name", "", K::kGauge, S::kUnderscoreEscapingWithoutSuffixes),
            "metric_name");
  EXPECT_EQ(Name("http.server.duration", "s", K::kHistogram, S::kUnderscoreEscapingWithoutSuffixes),
            "http_server_duration");
  EXPECT_EQ(Name("@#$%", "", K::kGauge, S::kUnderscoreEscapingWithoutSuffixes).rfind("ERROR", 0),
            0u);

  EXPECT_EQ(Name("requêsts", "", K::kMonotonicCounter, S::kNoUTF8EscapingWithSuffixes),
            "requêsts_total");
  EXPECT_EQ(Name("cpu_usagé", "1", K::kGauge, S::kNoUTF8EscapingWithSuffixes), "cpu_usagé_ratio");
  EXPECT_EQ(Name("requêsts", "1/s", K::kGauge, S::kNoUTF8EscapingWithSuffixes),
            "requêsts_per_second");
  EXPECT_EQ(Name("@#$%", "", K::kMonotonicCounter, S::kNoUTF8EscapingWithSuffixes), "@#$%_total");
  EXPECT_EQ(Name("cpu_seconds_total", "s", K::kMonotonicCounter, S::kNoUTF8EscapingWithSuffixes),
            "cpu_seconds_total");
  EXPECT_EQ(Name("http.server.duration", "s", K::kHistogram, S::kNoUTF8EscapingWithSuffixes),
            "http.server.duration_seconds");

  EXPECT_EQ(Name("http.server.duration", "s", K::kHistogram, S::kNoTranslation),
            "http.server.duration");
}

TEST(OtlpLabelNameTest, Escaping) {
  auto L = [](std::string_view k, S s = S::kUnderscoreEscapingWithSuffixes) {
    Result<std::string> r = OtlpLabelName(k, s);
    return r.ok() ? *r : "ERROR";
  };
  EXPECT_EQ(L("http.method"), "http_method");
  EXPECT_EQ(L("123invalid"), "key_123invalid");
  EXPECT_EQ(L("_private"), "key_private");
  EXPECT_EQ(L("__reserved__"), "__reserved__");
  EXPECT_EQ(L("k8s.pod.name"), "k8s_pod_name");
  EXPECT_EQ(L("ñame"), "key_ame");  // one rune, one underscore
  EXPECT_EQ(L(""), "ERROR");
  EXPECT_EQ(L("..."), "ERROR");
  EXPECT_EQ(L("http.method", S::kNoUTF8EscapingWithSuffixes), "http.method");
}

TEST(OtlpUnitTest, Suffixes) {
  EXPECT_EQ(OtlpUnitSuffix("s"), "seconds");
  EXPECT_EQ(OtlpUnitSuffix("By/s"), "bytes_per_second");
  EXPECT_EQ(OtlpUnitSuffix("1"), "");
  EXPECT_EQ(OtlpUnitSuffix("{request}"), "");
  EXPECT_EQ(OtlpUnitSuffix("%"), "percent");
}

TEST(NameValidationTest, LegacyAndUtf8) {
  EXPECT_TRUE(IsValidLegacyMetricName("http_requests_total"));
  EXPECT_TRUE(IsValidLegacyMetricName("job:rate5m:sum"));
  EXPECT_FALSE(IsValidLegacyMetricName("1abc"));
  EXPECT_FALSE(IsValidLegacyMetricName("a.b"));
  EXPECT_FALSE(IsValidLegacyMetricName(""));
  EXPECT_TRUE(IsValidLegacyLabelName("__name__"));
  EXPECT_FALSE(IsValidLegacyLabelName("a:b"));
  EXPECT_TRUE(IsValidMetricName("a.b", /*utf8=*/true));
  EXPECT_FALSE(IsValidMetricName(std::string("a\xff", 2), /*utf8=*/true));
  EXPECT_FALSE(IsValidLabelName("", /*utf8=*/true));
  EXPECT_TRUE(IsValidUtf8("žluťoučký"));
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));  // overlong
}

TEST(FormatFloatTest, GoCompatible) {
  EXPECT_EQ(FormatFloatPlain(0.1), "0.1");
  EXPECT_EQ(FormatFloatPlain(1), "1");
  EXPECT_EQ(FormatFloatPlain(2.5e-7), "0.00000025");
  EXPECT_EQ(FormatFloatPlain(1e21), "1000000000000000000000");
  EXPECT_EQ(FormatFloatPlain(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatFloatPlain(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatFloatEs6(0.5), "0.5");
  EXPECT_EQ(FormatFloatEs6(1e-7), "1e-7");
  EXPECT_EQ(FormatFloatEs6(1e21), "1e+21");
  EXPECT_EQ(FormatFloatEs6(123456789), "123456789");
}

TEST(TranslationStrategyTest, Parse) {
  EXPECT_EQ(*ParseTranslationStrategy("NoTranslation"), TranslationStrategy::kNoTranslation);
  EXPECT_FALSE(ParseTranslationStrategy("nope").ok());
}

}  // namespace
}  // namespace sightline::metrics::ingest
