// TraceQL parser: accepted syntax (printed back canonically) and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traces/traceql/engine.h"
#include "traces/traceql/parser.h"

namespace sightline::traces::traceql {
namespace {

std::string Canon(const std::string& q) {
  auto p = Parse(q);
  if (!p.ok()) return "ERROR: " + p.status().message();
  return ToString(**p);
}

TEST(TraceQLParser, PrintsCanonicalForm) {
  EXPECT_EQ(Canon("{}"), "{ }");
  EXPECT_EQ(Canon("   "), "{ }");
  EXPECT_EQ(Canon(R"({ span.http.method = "GET" })"), R"({ (span.http.method = "GET") })");
  EXPECT_EQ(Canon(R"({ .a.b-c = 1 })"), "{ (.a.b-c = 1) }");
  EXPECT_EQ(Canon(R"({ span."a b" = `x` })"), R"({ (span."a b" = "x") })");
  EXPECT_EQ(Canon(R"({ resource."k=v" != nil })"), R"({ (resource."k=v" != nil) })");
  EXPECT_EQ(Canon("{ duration > 1h2m3.5s }"), "{ (duration > 1h2m3.5s) }");
  EXPECT_EQ(Canon("{ duration > 1500us }"), "{ (duration > 1.5ms) }");
  EXPECT_EQ(Canon("{ duration > 100ns }"), "{ (duration > 100ns) }");
  EXPECT_EQ(Canon("{ span:duration > 2m }"), "{ (duration > 2m0s) }");
  EXPECT_EQ(Canon("{ .x = -1.5e3 }"), "{ (.x = -1500.0) }");
  // Floats print as Tempo's (Go 'g', ".0" when integral); `.5` is a number.
  EXPECT_EQ(Canon("{ .x = 1234567.5 }"), "{ (.x = 1.2345675e+06) }");
  EXPECT_EQ(Canon("{ .x > .5 }"), "{ (.x > 0.5) }");
  // ... so an unscoped name starting with a digit prints quoted (found by
  // traceql_parse_fuzz: `."6x"` printed as `.6x` read back as a number).
  EXPECT_EQ(Canon(R"({ ."6x" = 1 })"), R"({ (."6x" = 1) })");
  EXPECT_EQ(Canon(R"({ span.6x = 1 })"), R"({ (span.6x = 1) })");
  EXPECT_EQ(Canon("{ duration > .5s }"), "{ (duration > 500ms) }");
  EXPECT_EQ(Canon("{ traceDuration < 1d }"), "{ (traceDuration < 24h0m0s) }");
  EXPECT_EQ(Canon("{ traceDuration < 1w2d }"), "{ (traceDuration < 216h0m0s) }");
  EXPECT_EQ(Canon("{ } | quantile_over_time(duration, .5, .9)"),
            "{ } | quantile_over_time(duration, 0.5, 0.9)");
  EXPECT_EQ(Canon("{ .x = 1 + 2 * 3 ^ 2 ^ 1 }"), "{ (.x = (1 + (2 * (3 ^ (2 ^ 1))))) }");
  EXPECT_EQ(Canon("{ .a = 1 || .b = 2 && .c = 3 }"), "{ (((.a = 1) || (.b = 2)) && (.c = 3)) }");
  EXPECT_EQ(Canon("{ !.a = true }"), "{ (!.a = true) }");
  EXPECT_EQ(Canon("{ status = error && kind = server }"),
            "{ ((status = error) && (kind = server)) }");
  EXPECT_EQ(
      Canon("{ kind = unspecified || kind = producer || kind = consumer || kind = internal }"),
      "{ ((((kind = unspecified) || (kind = producer)) || (kind = consumer)) || (kind = internal)) "
      "}");
  EXPECT_EQ(Canon("{ status = unset || status = ok }"), "{ ((status = unset) || (status = ok)) }");
  EXPECT_EQ(Canon("{ trace:id = \"a\" && span:parentID = \"b\" }"),
            "{ ((trace:id = \"a\") && (span:parentID = \"b\")) }");
  EXPECT_EQ(Canon("{ parent.resource.x = 1 && parent.y = 2 }"),
            "{ ((parent.resource.x = 1) && (parent.y = 2)) }");
  EXPECT_EQ(Canon("{ a } > { b }").substr(0, 6), "ERROR:");
  EXPECT_EQ(Canon("{ .a } > { .b } >> { .c }"), "(({ .a } > { .b }) >> { .c })");
  EXPECT_EQ(Canon("{ .a } && { .b } > { .c }"), "({ .a } && ({ .b } > { .c }))");
  EXPECT_EQ(Canon("{ .a } !~ { .b }"), "({ .a } !~ { .b })");
  EXPECT_EQ(Canon("{ .a } &>> { .b } | count() > 2"), "(({ .a } &>> { .b }) | count() > 2)");
  EXPECT_EQ(
      Canon("{ } | by(resource.service.name) | avg(duration) >= 1s | coalesce() | select(.a, "
            "span:id)"),
      "({ } | by(resource.service.name) | avg(duration) >= 1s | coalesce() | select(.a, span:id))");
  EXPECT_EQ(Canon("({ .a } | count() > 1) || ({ .b } | sum(.c) < -2)"),
            "(({ .a } | count() > 1) || ({ .b } | sum(.c) < -2))");
  EXPECT_EQ(Canon("({ } | max(duration)) > 2s"), "({ } | max(duration)) > 2s");
  EXPECT_EQ(Canon("{ } | rate() by (resource.service.name, name)"),
            "{ } | rate() by (resource.service.name, name)");
  EXPECT_EQ(Canon("{ } | quantile_over_time(duration, 0.5, 0.99) | topk(3)"),
            "{ } | quantile_over_time(duration, 0.5, 0.99) | topk(3)");
  EXPECT_EQ(Canon("{ } | histogram_over_time(duration) by (span.x) | bottomk(2)"),
            "{ } | histogram_over_time(duration) by (span.x) | bottomk(2)");
  EXPECT_EQ(Canon("{ } with(most_recent=true)"), "{ } with(most_recent=true)");
  // Tempo's sampling hints parse (and are ignored: values are exact).
  EXPECT_EQ(Canon("{ } | rate() with(sample=true)"), "{ } | rate() with(sample=true)");
  EXPECT_EQ(Canon("{ } | rate() with(sample=0.1)"), "{ } | rate() with(sample=0.1)");
  EXPECT_EQ(Canon("{ } | rate() with(span_sample=0.5, exemplars=false)"),
            "{ } | rate() with(span_sample=0.5, exemplars=false)");
  EXPECT_EQ(Canon("{ } | rate() by (resource.service.name) > 10"),
            "{ } | rate() by (resource.service.name) > 10");
  EXPECT_EQ(Canon("{ } | max_over_time(duration)>=1.5s|topk(2) != -1"),
            "{ } | max_over_time(duration) >= 1.5s | topk(2) != -1");
  EXPECT_EQ(Canon("{ } | count_over_time() with(sample=0.5, most_recent=false)"),
            "{ } | count_over_time() with(sample=0.5, most_recent=false)");
  EXPECT_EQ(
      Canon("{ event:name = \"e\" && event.x = 1 && link.y = 2 && instrumentation.z = 3 }"),
      "{ ((((event:name = \"e\") && (event.x = 1)) && (link.y = 2)) && (instrumentation.z = 3)) }");
  EXPECT_EQ(Canon("{ .s = \"a\\\"b\\n\" }"), "{ (.s = \"a\\\"b\\n\") }");
  EXPECT_EQ(Canon("{\n  .a = 1\n}"), "{ (.a = 1) }");
}

// What Grafana's Traces Drilldown app and the Tempo data source send
// (primary signals, RED panels, comparison, sampling) must all parse.
TEST(TraceQLParser, GrafanaDrilldownQueriesParse) {
  for (const char* q : {
           "{nestedSetParent<0 && true} | rate()",
           "{nestedSetParent<0 && true} | rate() by(resource.service.name)",
           "{nestedSetParent<0 && true && status=error} | rate() by(resource.service.name)",
           "{nestedSetParent<0 && true} | quantile_over_time(duration, 0.9)",
           "{nestedSetParent<0} | histogram_over_time(duration)",
           "{nestedSetParent<0 && true} | compare({status = error}, 10)",
           "{true} | rate() by(resource.service.name) | topk(10)",
           "{ kind=server } | rate() with(sample=true)",
           "{ span.db.system.name!=\"\" } | count_over_time()",
           "{ kind=consumer } | select(span.messaging.system)",
           "{} | rate() by (span.http.route) > 0.5",
       }) {
    auto r = Parse(q);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
  }
}

TEST(TraceQLParser, MetricsAndHintsAreRecognised) {
  auto q = Parse("{ } | rate()");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(IsMetricsQuery(**q));
  q = Parse("{ } | count() > 1");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(IsMetricsQuery(**q));
  auto raw = ParseQuery("{ } with(most_recent=true)");
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE((*raw)->most_recent);
}

TEST(TraceQLParser, TagAttributes) {
  for (const char* ok :
       {"resource.service.name", ".foo", "span.\"a b\"", "name", "status", "event:name", "span:id",
        "link.x", "instrumentation:version", "trace:rootService"}) {
    EXPECT_TRUE(ParseTagAttribute(ok).ok()) << ok;
  }
  for (const char* bad : {"", "foo", "{", "1", ".a = 1", "span:nope"}) {
    EXPECT_FALSE(ParseTagAttribute(bad).ok()) << bad;
  }
}

struct ErrCase {
  const char* query;
  const char* want;  // substring of the message
};

TEST(TraceQLParser, ErrorsLikeTempo) {
  const ErrCase cases[] = {
      {"{ .a = }",
       "invalid TraceQL query: parse error at line 1, col 8: syntax error: unexpected }"},
      {"{ .a = \"x\" ",
       "parse error at line 1, col 12: syntax error: unexpected $end, expecting }"},
      {"{\n  .a = \n}", "parse error at line 3, col 1"},
      {"{ foo = 1 }", "syntax error: unexpected IDENTIFIER foo"},
      {"{ name = 1 }", "binary operations must operate on the same type: (name = 1)"},
      {"{ status = 200 }", "binary operations must operate on the same type"},
      {"{ 1 }", "filter field expressions must evaluate to boolean: 1"},
      {"{ name }", "filter field expressions must evaluate to boolean: name"},
      {"{ .a =~ \"(\" }", "error parsing regexp"},
      {"{ .a =~ .b }", "the right side of =~ must be a string"},
      {"{ } | rate() | topk(0)", "needs a positive integer"},
      {"{ } | topk(2)", "topk needs a metrics query before it"},
      {"{ } | rate() > \"x\"", "can only be compared with a number or a duration"},
      // Arithmetic between metrics queries is not TraceQL.
      {"({ status = error } | rate()) / ({ } | rate())", "parse error"},
      {"{ } | rate() >", "can only be compared with a number or a duration, got end of query"},
      {"{ .a = \"unterminated }", "unterminated string"},
      {"{ span:bogus = 1 }", "unknown intrinsic span:bogus"},
      {"{ .a = 1 } | foo()", "syntax error: unexpected foo"},
      {"{ .a = 1 } {", "syntax error: unexpected {"},
      {"{ .a = 1 } | rate() | rate()", "syntax error: unexpected rate"},
      {"{ } | quantile_over_time(duration)", "needs at least one quantile"},
      {"{ } | quantile_over_time(duration, 2)", "quantile must be between 0 and 1"},
      {"{ .a = 1s2 }", "invalid duration"},
      {"{ .a = 12abc }", "syntax error: unexpected 12a"},
      {"{ . = 1 }", "expecting attribute name"},
      {"{ .a = 1 } & { .b = 2 }", "syntax error: unexpected &"},
      {"{ .a = 1 } with(most_recent)", "expecting ="},
      {"({ .a = 1 }", "expecting )"},
      {"{ .a = 1 } | by()", "syntax error: unexpected )"},
      {"{ .a = # }", "unexpected character '#'"},
  };
  for (const ErrCase& c : cases) {
    auto q = Parse(c.query);
    ASSERT_FALSE(q.ok()) << c.query;
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument) << c.query;
    EXPECT_THAT(q.status().message(), ::testing::HasSubstr(c.want)) << c.query;
    EXPECT_THAT(q.status().message(), ::testing::StartsWith("invalid TraceQL query: ")) << c.query;
  }
}

TEST(TraceQLParser, SurvivesHostileInput) {
  std::string deep(2000, '(');
  EXPECT_FALSE(Parse(deep).ok());
  std::string braces;
  for (int i = 0; i < 300; ++i) braces += "{ .a = 1 } && ";
  braces += "{ }";
  EXPECT_TRUE(Parse(braces).ok());
  EXPECT_FALSE(Parse(std::string("{ .a = \"\xff\xfe\" ") + '\0' + "}").ok());
}

}  // namespace
}  // namespace sightline::traces::traceql
