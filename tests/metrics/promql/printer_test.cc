#include "metrics/promql/printer.h"

#include <gtest/gtest.h>

#include <string>

#include "metrics/promql/go_text.h"
#include "metrics/promql/parser.h"

namespace sightline::promql {
namespace {

std::string Format(std::string_view q) {
  Result<ExprPtr> e = ParseExpr(q);
  if (!e.ok()) return "ERROR: " + e.status().message();
  return ToString(**e);
}

TEST(PrinterTest, CanonicalForms) {
  struct Case {
    std::string_view in;
    std::string_view out;
  };
  const Case cases[] = {
      // Aggregations: grouping first, lower-case keywords.
      {R"(sum by(code) (task:errors:rate10s{job="s"}))",
       R"(sum by (code) (task:errors:rate10s{job="s"}))"},
      {R"(sum(task:errors:rate10s{job="s"}) by (code))",
       R"(sum by (code) (task:errors:rate10s{job="s"}))"},
      {R"(sum without() (task:errors:rate10s{job="s"}))",
       R"(sum without () (task:errors:rate10s{job="s"}))"},
      {R"(SUM WITHOUT(instance) (x))", "sum without (instance) (x)"},
      {"sum by () (x)", "sum(x)"},
      {"topk(5, x)", "topk(5, x)"},
      {R"(count_values('value', x))", R"(count_values("value", x))"},
      {R"(sum by ("foo bar", job) (x))", R"(sum by ("foo bar", job) (x))"},
      {"quantile without(point)(0.9, data)", "quantile without (point) (0.9, data)"},
      // Vector matching.
      {"a - on() c", "a - on () c"},
      {"a - on(b) c", "a - on (b) c"},
      {"a - on(b) group_left(x) c", "a - on (b) group_left (x) c"},
      {"a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"},
      {"a - on(b) group_left c", "a - on (b) group_left () c"},
      {"a - ignoring(b) group_right c", "a - ignoring (b) group_right () c"},
      {"a - ignoring(b) c", "a - ignoring (b) c"},
      {"a - ignoring() c", "a - c"},
      {"up > bool 0", "up > bool 0"},
      {"a and on(x) b", "a and on (x) b"},
      {"a atan2 b", "a atan2 b"},
      {"a + fill(0) b", "a + fill (0) b"},
      {"a + fill_left(1) fill_right(2) b", "a + fill_left (1) fill_right (2) b"},
      {"a + on(x) group_left fill(1e6) b", "a + on (x) group_left () fill (1e+06) b"},
      {"a + fill_right(-Inf) b", "a + fill_right (-Inf) b"},
      {"h </ 5", "h </ 5"},
      {"h >/ -Inf", "h >/ -Inf"},
      // Selectors.
      {R"(foo{b="2", a="1"})", R"(foo{a="1",b="2"})"},
      {R"({__name__="a"})", R"({__name__="a"})"},
      {R"({"x", "service.name"="api"})", R"({"service.name"="api",__name__="x"})"},
      {R"(x{a=~'b\\d+'})", R"(x{a=~"b\\d+"})"},
      {"x{a!~`c.*`}", R"(x{a!~"c.*"})"},
      {R"(x{a="\u00fc\x00"})", R"(x{a="ü\x00"})"},
      {"a offset 1m", "a offset 1m"},
      {"a offset -7m", "a offset -7m"},
      {"a offset 3600", "a offset 1h"},
      {R"(a{c="d"}[5m] offset 1m)", R"(a{c="d"}[5m] offset 1m)"},
      {"a[12h] offset -7m", "a[12h] offset -7m"},
      {"x[300]", "x[5m]"},
      {"x[90s]", "x[1m30s]"},
      {"x[14d]", "x[2w]"},
      {"x[4.018]", "x[4s18ms]"},
      {"a @ 10", "a @ 10.000"},
      {"a @ 1.2345", "a @ 1.235"},
      {"a @ -5m", "a @ -300.000"},
      {"a[1m] @ 10", "a[1m] @ 10.000"},
      {"a @ start()", "a @ start()"},
      {"a[1m] @ end()", "a[1m] @ end()"},
      {"a offset 1m @ 10", "a @ 10.000 offset 1m"},
      {"rate(x[5m] anchored)", "rate(x[5m] anchored)"},
      {"x smoothed offset 1m", "x smoothed offset 1m"},
      // Subqueries.
      {"a[1h:5m] offset 1m", "a[1h:5m] offset 1m"},
      {"(a + b)[5m:]", "(a + b)[5m:]"},
      {"foo[5m:1m] offset 1m @ 10", "foo[5m:1m] @ 10.000 offset 1m"},
      {"min_over_time(rate(x[1m])[5m:])[1h:10m]", "min_over_time(rate(x[1m])[5m:])[1h:10m]"},
      // Duration expressions.
      {"x[5m+1m]", "x[5m + 1m]"},
      {"x[2*(1m+1s)]", "x[2 * (1m + 1s)]"},
      {"x offset (1h*2)", "x offset (1h * 2)"},
      {"x[step()*2:range()]", "x[step() * 2:range()]"},
      {"x offset -min_of(step(), 1s)", "x offset -min_of(step(), 1s)"},
      // Literals.
      {"1e3", "1000"},
      {"0x1f", "31"},
      {"0755", "493"},
      {".5", "0.5"},
      {"1e-7", "0.0000001"},
      {"+Inf", "+Inf"},
      {"-Inf", "-Inf"},
      {"NaN", "NaN"},
      {"Inf + 1", "+Inf + 1"},
      {"Inf ^ 2", "Inf ^ 2"},  // Not "+Inf ^ 2", which means +(Inf ^ 2).
      {"1e21", "1000000000000000000000"},
      {"5m", "5m"},
      {"-90s", "-1m30s"},
      {"'abc'", R"("abc")"},
      {R"("a\"b")", R"("a\"b")"},
      {"`a\\b`", R"("a\\b")"},
      {R"("\u263a\n")", R"("☺\n")"},
      // Operators and calls.
      {"-a", "-a"},
      {"-(a + b)", "-(a + b)"},
      {"+a", "+a"},
      {"((a))", "((a))"},
      {"1 + 2 * 3", "1 + 2 * 3"},
      {"(1 + 2) * 3", "(1 + 2) * 3"},
      {R"(label_replace(a, "b", "c", "d", ".*"))", R"(label_replace(a, "b", "c", "d", ".*"))"},
      {"time()", "time()"},
      {"histogram_quantile(0.9, sum by (le) (rate(x[5m])))",
       "histogram_quantile(0.9, sum by (le) (rate(x[5m])))"},
      {"# comment\nsum(x)", "sum(x)"},
  };
  for (const Case& c : cases) EXPECT_EQ(Format(c.in), c.out) << "input: " << c.in;
}

TEST(PrinterTest, LongNumbersUseGoShortestForm) {
  EXPECT_EQ(Format("1e100"), "1" + std::string(100, '0'));
  EXPECT_EQ(FormatFloatGo(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatFloatGo(-1.5e-7), "-0.00000015");
  EXPECT_EQ(FormatFloatGo(123.456), "123.456");
  EXPECT_EQ(FormatFloatGo(-0.0), "-0");
  EXPECT_EQ(FormatFloatGo(1.7976931348623157e308).size(), 309u);
  EXPECT_EQ(FormatFloatV(123456.0), "123456");
  EXPECT_EQ(FormatFloatV(1234567.0), "1.234567e+06");
  EXPECT_EQ(FormatFloatV(0.0001), "0.0001");
  EXPECT_EQ(FormatFloatV(0.00001), "1e-05");
}

// Parse -> print -> parse must give the same tree, and printing is stable.
void ExpectRoundTrip(std::string_view q, const ParseOptions& o = {}) {
  Result<ExprPtr> first = ParseExpr(q, o);
  ASSERT_TRUE(first.ok()) << q << ": " << first.status().message();
  const std::string printed = ToString(**first);
  Result<ExprPtr> second = ParseExpr(printed, o);
  ASSERT_TRUE(second.ok()) << "reparse of " << printed << ": " << second.status().message();
  EXPECT_EQ(DebugString(**second), DebugString(**first)) << q << " printed as " << printed;
  EXPECT_EQ(ToString(**second), printed) << q;
  const std::string pretty = PrettyPrint(**first);
  Result<ExprPtr> third = ParseExpr(pretty, o);
  ASSERT_TRUE(third.ok()) << "reparse of pretty " << pretty << ": " << third.status().message();
  EXPECT_EQ(DebugString(**third), DebugString(**first)) << q << " pretty-printed as\n" << pretty;
}

TEST(PrinterTest, RoundTrips) {
  const char* queries[] = {
      "a + b * c - d / e % f ^ g ^ h",
      "-a ^ b",
      "(-a) ^ b",
      "-(a ^ b)",
      "2 ^ -1 * 3",
      "-1 ^ 2",
      "a or b and c unless d",
      "(a or b) and c",
      "a > bool b == bool c",
      "a + on(x, y) group_left(z) b * ignoring(w) group_right c",
      R"(sum without (instance) (rate(http_requests_total{job=~"api|web", code!="200"}[5m] offset 1h)))",
      R"(topk by (job) (3, sum by (job, instance) (irate(x[1m]))))",
      R"(count_values without (a) ("label", x))",
      "quantile(0.99, x) by (le)",
      "rate(x[5m] @ 1609746000 offset -1h)",
      "x @ start() offset 5m",
      "max_over_time(deriv(rate(x[1m])[5m:1m])[1h:])",
      "sum_over_time(x[29s+1s:((((8 - 2) / 3) * 7s) % 4) + 8000ms] offset (20 * 2s))",
      "x[-(10s-5s)+20s]",
      "x offset -(5)",
      "x offset +(5)",
      "x offset (5)",
      "x[(5s)]",
      "x[min_of(step(), range()) * 2]",
      R"({"http.requests", "service.name"=~"a.+"})",
      R"(sum by ("foo bar") ({"some.metric"}))",
      R"q(label_replace(up, "dst", "$1", "src", "(.*)"))q",
      R"(label_join(up, "dst", ",", "a", "b"))",
      "histogram_quantiles(h, \"q\", 0.5, 0.9)",
      "vector(1) + scalar(x) - time()",
      "a + fill(0) b",
      "a * on(x) group_left fill_left(1) fill_right(2) b",
      "a and on() b",
      "a atan2 b",
      "h </ 1.5 >/ -1",
      "increase(x[5m] anchored) + rate(y[5m] smoothed)",
      "-1 * -2",
      "1e100 + 1e-100",
      "NaN != bool NaN",
      "Inf ^ x",
      "x ^ Inf ^ 2",
      R"("a\nb\u00e9")",
      "limitk(2, x) or limit_ratio(-0.5, y)",
      "info(x, {k=~\".+\"})",
      "start() + end() + step() + range() + min_of(1, 2)",
  };
  for (const char* q : queries) {
    SCOPED_TRACE(q);
    ExpectRoundTrip(q);
  }
  ExpectRoundTrip("holt_winters(x[5m], 0.1, 0.9)", ParseOptions::Prometheus2());
}

TEST(PrinterTest, PrettyPrintSplitsLongExpressions) {
  Result<ExprPtr> short_expr = ParseExpr("sum by (job) (rate(x[5m]))");
  ASSERT_TRUE(short_expr.ok());
  EXPECT_EQ(PrettyPrint(**short_expr), "sum by (job) (rate(x[5m]))");

  Result<ExprPtr> e = ParseExpr(
      R"(sum by (job) (rate(http_requests_total{job="api-server", handler="/api/v1/query_range_with_a_longer_suffix"}[5m])) / sum by (job) (rate(http_requests_total{job="api-server"}[5m])))");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(PrettyPrint(**e),
            "  sum by (job) (\n"
            "    "
            "rate(http_requests_total{handler=\"/api/v1/"
            "query_range_with_a_longer_suffix\",job=\"api-server\"}[5m])\n"
            "  )\n"
            "/\n"
            "  sum by (job) (rate(http_requests_total{job=\"api-server\"}[5m]))");

  Result<ExprPtr> call = ParseExpr(
      R"(histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket{service="checkout"}[5m]))))");
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(PrettyPrint(**call),
            "histogram_quantile(\n"
            "  0.99,\n"
            "  sum by (le) (rate(request_duration_seconds_bucket{service=\"checkout\"}[5m]))\n"
            ")");
}

}  // namespace
}  // namespace sightline::promql
