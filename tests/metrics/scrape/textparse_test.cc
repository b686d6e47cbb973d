// The text-format and OpenMetrics parsers: entries, values, escaping,
// timestamps, exemplars, # EOF, _created, and Prometheus's error messages.
#include "metrics/scrape/textparse.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

namespace sightline::metrics::scrape {
namespace {

struct Got {
  TextParser::Entry entry;
  std::string labels_or_name;  // series: Labels::ToString; meta: name
  std::string text;            // meta text
  double value = 0;
  bool has_ts = false;
  int64_t ts = 0;
  std::string exemplar;  // "labels value ts" or ""
};

Result<std::vector<Got>> ParseAll(std::string_view body, Format f) {
  TextParser p(body, f);
  std::vector<Got> out;
  while (true) {
    SL_ASSIGN_OR_RETURN(bool more, p.Next());
    if (!more) break;
    Got g;
    g.entry = p.entry();
    if (p.entry() == TextParser::Entry::kSeries) {
      SL_ASSIGN_OR_RETURN(Labels ls, p.SeriesLabels());
      g.labels_or_name = ls.ToString();
      g.value = p.value();
      g.has_ts = p.has_timestamp();
      g.ts = p.timestamp_ms();
      if (p.has_exemplar()) {
        g.exemplar =
            p.exemplar().labels.ToString() + " " + std::to_string(p.exemplar().value) +
            (p.exemplar().has_timestamp ? " " + std::to_string(p.exemplar().timestamp_ms) : "");
      }
    } else if (p.entry() == TextParser::Entry::kComment) {
      g.text = std::string(p.comment());
    } else {
      g.labels_or_name = std::string(p.meta_name());
      g.text = std::string(p.meta_text());
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::string ErrorOf(std::string_view body, Format f) {
  auto r = ParseAll(body, f);
  if (r.ok()) return "<no error>";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(TextParseTest, PrometheusTextFormat) {
  std::string body = R"(# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# 	TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25",} 7.424100000000001e-05
go_gc_duration_seconds{ quantile = "0.5" , a="b" } 8.3835e-05
go_gc_duration_seconds_count 99

# Hrandom comment starting with prefix of HELP
#
wind_speed{A="2",c="3"} 12345
# comment with escaped \n newline
some:aggregate:rate5m{a_b="c"}	1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  	123123
_metric_starting_with_underscore 1
testmetric{label="\"bar\""} 1
testmetric{le="10"} 1
null_byte_metric{a="abc"} 1
escaped{a="x\\y\nz \t"} +Inf
nan NaN
neg -Inf -5
)";
  auto r = ParseAll(body, Format::kPrometheusText);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& g = *r;
  ASSERT_EQ(g.size(), 21u);
  EXPECT_EQ(g[0].entry, TextParser::Entry::kHelp);
  EXPECT_EQ(g[0].labels_or_name, "go_gc_duration_seconds");
  EXPECT_EQ(g[0].text, "A summary of the GC invocation durations.");
  EXPECT_EQ(g[1].entry, TextParser::Entry::kType);
  EXPECT_EQ(g[1].text, "summary");
  EXPECT_EQ(g[2].labels_or_name, R"({__name__="go_gc_duration_seconds", quantile="0"})");
  EXPECT_EQ(g[2].value, 4.9351e-05);
  EXPECT_FALSE(g[2].has_ts);
  EXPECT_EQ(g[3].labels_or_name, R"({__name__="go_gc_duration_seconds", quantile="0.25"})");
  EXPECT_EQ(g[4].labels_or_name, R"({__name__="go_gc_duration_seconds", a="b", quantile="0.5"})");
  EXPECT_EQ(g[5].value, 99);
  EXPECT_EQ(g[6].entry, TextParser::Entry::kComment);
  EXPECT_EQ(g[7].entry, TextParser::Entry::kComment);
  EXPECT_EQ(g[8].labels_or_name, R"({A="2", __name__="wind_speed", c="3"})");
  EXPECT_EQ(g[10].labels_or_name, R"({__name__="some:aggregate:rate5m", a_b="c"})");
  EXPECT_EQ(g[12].text, "gauge");
  EXPECT_EQ(g[13].value, 33);
  EXPECT_TRUE(g[13].has_ts);
  EXPECT_EQ(g[13].ts, 123123);
  EXPECT_EQ(g[15].labels_or_name, R"({__name__="testmetric", label="\"bar\""})");
  EXPECT_EQ(g[18].labels_or_name, R"({__name__="escaped", a="x\\y\nz \\t"})");
  EXPECT_TRUE(std::isinf(g[18].value));
  EXPECT_TRUE(std::isnan(g[19].value));
  // Normal NaN, never the staleness marker.
  EXPECT_EQ(std::bit_cast<uint64_t>(g[19].value), 0x7ff8000000000001ull);
  EXPECT_EQ(g[20].value, -INFINITY);
  EXPECT_EQ(g[20].ts, -5);
}

TEST(TextParseTest, HelpEscapingAndUntyped) {
  auto r =
      ParseAll("# HELP m a \\\\ b \\n c \\\" d\n# TYPE m untyped\nm 1\n", Format::kPrometheusText);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].text, "a \\ b \n c \\\" d");
  EXPECT_EQ((*r)[1].text, "unknown");
}

TEST(TextParseTest, OpenMetrics) {
  std::string body = R"(# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
go_gc_duration_seconds_count 99
# HELP help2 escape \ \n \\ \" \x chars
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hhh histogram
hhh_bucket{le="+Inf"} 1 # {id="histogram-bucket-test"} 4
hhh_count 1 # {id="histogram-count-test"} 4
hhh_created 1520430000.123
# TYPE ggh gaugehistogram
ggh_bucket{le="+Inf"} 1 # {id="gaugehistogram-bucket-test",xx="yy"} 4 123.123
# TYPE ii info
ii{foo="bar"} 1
# TYPE ss stateset
ss{ss="foo"} 1
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id="counter-test"} 5
foo_created 1520430000
# TYPE bar gauge
bar_created 3
# EOF
)";
  auto r = ParseAll(body, Format::kOpenMetrics);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& g = *r;
  ASSERT_EQ(g.size(), 22u);
  EXPECT_EQ(g[2].entry, TextParser::Entry::kUnit);
  EXPECT_EQ(g[2].text, "seconds");
  EXPECT_EQ(g[6].text, "escape \\ \n \\ \" \\x chars");
  EXPECT_EQ(g[8].ts, 123123);
  EXPECT_EQ(g[10].exemplar, R"({id="histogram-bucket-test"} 4.000000)");
  EXPECT_EQ(g[11].exemplar, R"({id="histogram-count-test"} 4.000000)");
  // hhh_created skipped.
  EXPECT_EQ(g[12].labels_or_name, "ggh");
  EXPECT_EQ(g[13].exemplar, R"({id="gaugehistogram-bucket-test", xx="yy"} 4.000000 123123)");
  EXPECT_EQ(g[17].labels_or_name, R"({__name__="ss", ss="foo"})");
  EXPECT_EQ(g[18].labels_or_name, "foo");
  EXPECT_EQ(g[19].labels_or_name, R"({__name__="foo_total"})");
  EXPECT_EQ(g[19].value, 17);
  EXPECT_EQ(g[19].ts, 1520879607789);
  EXPECT_EQ(g[19].exemplar, R"({id="counter-test"} 5.000000)");
  // foo_created skipped; a gauge's _created is a sample.
  EXPECT_EQ(g[20].labels_or_name, "bar");
  EXPECT_EQ(g[21].labels_or_name, R"({__name__="bar_created"})");
}

TEST(TextParseTest, OpenMetricsEof) {
  EXPECT_EQ(ErrorOf("a 1\n", Format::kOpenMetrics), "data does not end with # EOF");
  EXPECT_EQ(ErrorOf("", Format::kOpenMetrics), "data does not end with # EOF");
  EXPECT_EQ(ErrorOf("a 1\n# EOF\nb 2\n", Format::kOpenMetrics), "unexpected data after # EOF");
  EXPECT_EQ(ErrorOf("a 1\n# EOF\n", Format::kOpenMetrics), "<no error>");
  EXPECT_EQ(ErrorOf("a 1\n# EOF", Format::kOpenMetrics), "<no error>");
  EXPECT_EQ(ErrorOf("\n# EOF\n", Format::kOpenMetrics),
            R"(expected a valid start token, got "\n" ("LINEBREAK") while parsing: "\n")");
  EXPECT_EQ(ErrorOf("# comment\n# EOF\n", Format::kOpenMetrics).substr(0, 29),
            "expected a valid start token,");
}

TEST(TextParseTest, PrometheusErrors) {
  EXPECT_EQ(ErrorOf("a{b=\"c\"\n", Format::kPrometheusText),
            R"(expected label name, got "\n" ("LINEBREAK") while parsing: "a{b=\"c\"\n")");
  EXPECT_EQ(ErrorOf("a{1=\"c\"} 1\n", Format::kPrometheusText),
            R"(expected label name, got "1" ("INVALID") while parsing: "a{1")");
  EXPECT_EQ(ErrorOf("a{b\"c\"} 1\n", Format::kPrometheusText).substr(0, 14), "expected equal");
  EXPECT_EQ(ErrorOf("a{b=c} 1\n", Format::kPrometheusText).substr(0, 20), "expected label value");
  EXPECT_EQ(ErrorOf("a\n", Format::kPrometheusText),
            R"(expected value after metric, got "\n" ("LINEBREAK") while parsing: "a\n")");
  EXPECT_EQ(ErrorOf("a 1_000\n", Format::kPrometheusText),
            R"(unsupported character in float while parsing: "a 1_000")");
  EXPECT_EQ(ErrorOf("a abc\n", Format::kPrometheusText),
            R"(strconv.ParseFloat: parsing "abc": invalid syntax while parsing: "a abc")");
  EXPECT_EQ(ErrorOf("a 1 2 3\n", Format::kPrometheusText).substr(0, 35),
            "expected next entry after timestamp");
  EXPECT_EQ(ErrorOf("a 1 1.5\n", Format::kPrometheusText),
            R"(strconv.ParseInt: parsing "1.5": invalid syntax while parsing: "a 1 1.5")");
  EXPECT_EQ(ErrorOf("# TYPE a foo\n", Format::kPrometheusText), R"(invalid metric type "foo")");
  EXPECT_EQ(ErrorOf("# TYPE a gaugehistogram\n", Format::kPrometheusText),
            R"(invalid metric type "gaugehistogram")");
  EXPECT_EQ(ErrorOf("# HELP\n", Format::kPrometheusText).substr(0, 31),
            "expected metric name after HELP");
  EXPECT_EQ(ErrorOf("{a=\"b\"} 1\n", Format::kPrometheusText).substr(0, 28),
            "expected a valid start token");
  EXPECT_EQ(ErrorOf("a{b=\"\xff\"} 1\n", Format::kPrometheusText),
            R"(invalid UTF-8 label value: "\"\xff\"")");
  EXPECT_EQ(ErrorOf("a{b=\"1\",b=\"2\"} 1\n", Format::kPrometheusText),
            R"(label name "b" is not unique: invalid sample)");
}

TEST(TextParseTest, OpenMetricsErrors) {
  EXPECT_EQ(ErrorOf("# UNIT a_seconds bytes\n# EOF\n", Format::kOpenMetrics),
            R"(unit "bytes" not a suffix of metric "a_seconds")");
  EXPECT_EQ(ErrorOf("# TYPE a untyped\n# EOF\n", Format::kOpenMetrics),
            R"(invalid metric type "untyped")");
  EXPECT_EQ(ErrorOf("a{b=\"c\" d=\"e\"} 1\n# EOF\n", Format::kOpenMetrics).substr(0, 29),
            "expected comma or brace close");
  EXPECT_EQ(ErrorOf("a 1 NaN\n# EOF\n", Format::kOpenMetrics), "invalid timestamp nan");
  EXPECT_EQ(ErrorOf("a 1 # {b=\"c\"}\n# EOF\n", Format::kOpenMetrics).substr(0, 32),
            "expected value after exemplar la");
}

TEST(TextParseTest, FormatFromContentType) {
  EXPECT_EQ(FormatFromContentType("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::kOpenMetrics);
  EXPECT_EQ(FormatFromContentType("text/plain; version=0.0.4"), Format::kPrometheusText);
  EXPECT_EQ(FormatFromContentType(""), Format::kPrometheusText);
}

TEST(TextParseTest, GoFloat) {
  EXPECT_EQ(*ParseGoFloat("1e3"), 1000);
  EXPECT_EQ(*ParseGoFloat("+1.5"), 1.5);
  EXPECT_EQ(*ParseGoFloat(".5"), 0.5);
  EXPECT_EQ(*ParseGoFloat("-inf"), -INFINITY);
  EXPECT_EQ(*ParseGoFloat("+Infinity"), INFINITY);
  EXPECT_FALSE(ParseGoFloat("0x10").ok());
  EXPECT_FALSE(ParseGoFloat("1e400").ok());
  EXPECT_EQ(*ParseGoFloat("1e-400"), 0);
  EXPECT_FALSE(ParseGoFloat("").ok());
  EXPECT_FALSE(ParseGoFloat("--1").ok());
}

}  // namespace
}  // namespace sightline::metrics::scrape
