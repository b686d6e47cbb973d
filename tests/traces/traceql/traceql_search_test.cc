// TraceQL search: one table case per construct over the fixture traces, with
// the exact spans expected per trace, plus result-shape tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "traceql_fixture.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::traceql {
namespace {

using testing::DefaultSource;
using testing::kMs;
using testing::kSec;
using testing::kT0;
using testing::SpanIdOf;
using testing::ToHex;
using testing::TraceIdOf;

using Matches = std::map<std::string, std::set<std::string>>;

std::string Label(const std::string& hex) {
  for (int n = 1; n <= 3; ++n) {
    if (hex == ToHex(TraceIdOf(n))) return "T" + std::to_string(n);
  }
  return hex;
}

// trace label -> names of the spans in all its span sets.
Result<Matches> RunQuery(const std::string& q, bool prune) {
  auto src = DefaultSource();
  src.prune = prune;
  SearchRequest req;
  req.query = q;
  req.spans_per_span_set = 1000;
  req.limit = 100;
  SL_ASSIGN_OR_RETURN(SearchResponse resp, Search(src, req));
  Matches m;
  for (const auto& t : resp.traces) {
    auto& names = m[Label(t.trace_id)];
    for (const auto& ss : t.span_sets) {
      for (const auto& sp : ss.spans) names.insert(sp.name);
    }
  }
  return m;
}

struct Case {
  std::string query;
  Matches want;
};

const Matches kAll = {{"T1", {"GET /", "call api", "handle", "db query", "cache get"}},
                      {"T2", {"POST /pay", "charge"}},
                      {"T3", {"orphan"}}};

std::vector<Case> Cases() {
  const std::string h13 = ToHex(SpanIdOf(13)), h11 = ToHex(SpanIdOf(11)), h21 = ToHex(SpanIdOf(21));
  const std::string t2 = ToHex(TraceIdOf(2));
  return {
      // Empty and match-all.
      {"{}", kAll},
      {"", kAll},
      {"{ true }", kAll},
      {"{ false }", {}},
      // Scoped, unscoped and quoted attributes.
      {R"({ span.http.method = "GET" })", {{"T1", {"GET /"}}}},
      {R"({ .http.method = "POST" })", {{"T2", {"POST /pay"}}}},
      {R"({ resource.service.name = "api" })", {{"T1", {"handle", "db query", "cache get"}}}},
      {R"({ .service.name = "api" })", {{"T1", {"handle", "db query", "cache get"}}}},
      {R"({ span.service.name = "api" })", {}},
      {R"({ resource.deployment.environment = "prod" })", {{"T1", {"GET /", "call api"}}}},
      {R"({ span."user name" = "bob" })", {{"T2", {"charge"}}}},
      {R"({ ."user name" = "bob" })", {{"T2", {"charge"}}}},
      {R"({ span.http.status_code >= 500 })", {{"T1", {"handle"}}}},
      {R"({ span.http.status_code > 200 && span.http.status_code < 300 })",
       {{"T2", {"POST /pay"}}}},
      {R"({ span.http.status_code <= 201 })", {{"T1", {"GET /"}}, {"T2", {"POST /pay"}}}},
      {R"({ span.http.status_code != 200 })", {{"T1", {"handle"}}, {"T2", {"POST /pay"}}}},
      {R"({ span.http.status_code = "200" })", {}},  // types differ: no match
      // nil: absence and presence.
      {R"({ span.http.status_code = nil })",
       {{"T1", {"call api", "db query", "cache get"}}, {"T2", {"charge"}}, {"T3", {"orphan"}}}},
      {R"({ span.http.status_code != nil })", {{"T1", {"GET /", "handle"}}, {"T2", {"POST /pay"}}}},
      // Regexes are fully anchored.
      {R"({ name =~ "GET.*" })", {{"T1", {"GET /"}}}},
      {R"({ name =~ "GET" })", {}},
      {R"({ name !~ ".*a.*" })", {{"T1", {"GET /", "db query"}}}},
      {R"({ resource.service.name =~ "front.*|pay.*" })",
       {{"T1", {"GET /", "call api"}}, {"T2", {"POST /pay", "charge"}}}},
      // Strings compare lexically.
      {R"({ name > "d" && name < "i" })", {{"T1", {"db query", "handle"}}}},
      // Floats and booleans.
      {R"({ span.amount > 12 })", {{"T2", {"POST /pay"}}}},
      {R"({ span.amount = 12.5 })", {{"T2", {"POST /pay"}}}},
      {R"({ span.retry = true })", {{"T2", {"POST /pay"}}}},
      {R"({ span.retry })", {{"T2", {"POST /pay"}}}},
      {R"({ span.retry != false })", {{"T2", {"POST /pay"}}}},
      // Arrays: any element.
      {R"({ span.tags = "x" })", {{"T1", {"handle"}}}},
      {R"({ span.tags =~ "y" })", {{"T1", {"handle"}}}},
      {R"({ span.tags != "x" })", {}},
      {R"({ span.tags != "z" })", {{"T1", {"handle"}}}},
      // Intrinsics, scoped and legacy.
      {"{ status = error }", {{"T1", {"handle"}}}},
      {"{ span:status = ok }", {{"T2", {"POST /pay"}}}},
      {"{ status != unset }", {{"T1", {"handle"}}, {"T2", {"POST /pay"}}}},
      {R"({ statusMessage = "boom" })", {{"T1", {"handle"}}}},
      {R"({ span:statusMessage = "boom" })", {{"T1", {"handle"}}}},
      {"{ duration > 1s }", {{"T2", {"POST /pay", "charge"}}}},
      {"{ span:duration < 5ms }", {{"T1", {"cache get"}}}},
      {"{ duration >= 2.5s && duration <= 2500ms }", {{"T2", {"charge"}}}},
      {"{ duration = 1m30s }", {}},
      {"{ kind = server }", {{"T1", {"GET /", "handle"}}, {"T2", {"POST /pay"}}}},
      {"{ span:kind = consumer }", {{"T3", {"orphan"}}}},
      {"{ kind = internal }", {{"T2", {"charge"}}}},
      {R"({ name = "charge" })", {{"T2", {"charge"}}}},
      {R"({ span:name = "charge" })", {{"T2", {"charge"}}}},
      {"{ span:id = \"" + h13 + "\" }", {{"T1", {"handle"}}}},
      {"{ span:parentID = \"" + h11 + "\" }", {{"T1", {"call api"}}}},
      {"{ childCount = 2 }", {{"T1", {"handle"}}}},
      {"{ span:childCount = 0 }",
       {{"T1", {"db query", "cache get"}}, {"T2", {"charge"}}, {"T3", {"orphan"}}}},
      {"{ parent = nil }", {{"T1", {"GET /"}}, {"T2", {"POST /pay"}}}},
      {"{ trace:duration > 2s }", {{"T2", {"POST /pay", "charge"}}}},
      {"{ traceDuration < 50ms }", {{"T3", {"orphan"}}}},
      {R"({ trace:rootName = "GET /" && kind = client })",
       {{"T1", {"call api", "db query", "cache get"}}}},
      {R"({ rootName = "POST /pay" })", {{"T2", {"POST /pay", "charge"}}}},
      {R"({ rootServiceName = "payments" })", {{"T2", {"POST /pay", "charge"}}}},
      {R"({ trace:rootService = "worker" })", {}},  // kT3 has no root span
      {"{ trace:id = \"" + t2 + "\" }", {{"T2", {"POST /pay", "charge"}}}},
      {R"({ event:name = "exception" })", {{"T1", {"handle"}}}},
      {R"({ event.exception.type = "IOError" })", {{"T1", {"handle"}}}},
      {"{ event:timeSinceStart > 1ms }", {{"T1", {"handle"}}}},
      {"{ event:timeSinceStart > 1s }", {}},
      {"{ link:traceID = \"" + t2 + "\" }", {{"T1", {"db query"}}}},
      {"{ link:spanID = \"" + h21 + "\" }", {{"T1", {"db query"}}}},
      {R"({ link.link.kind = "follows" })", {{"T1", {"db query"}}}},
      {R"({ instrumentation:name = "io.worker" })", {{"T3", {"orphan"}}}},
      {R"({ instrumentation:version = "2.0" })", {{"T2", {"POST /pay", "charge"}}}},
      {R"({ instrumentation.lib.tag = "w" })", {{"T3", {"orphan"}}}},
      {R"({ parent.span.http.method = "GET" })", {{"T1", {"call api"}}}},
      {R"({ parent.resource.service.name = "frontend" && resource.service.name = "api" })",
       {{"T1", {"handle"}}}},
      {"{ nestedSetParent = -1 && nestedSetLeft = 1 }", {{"T1", {"GET /"}}, {"T2", {"POST /pay"}}}},
      // As Tempo: spans not under a root span are not numbered.
      {"{ nestedSetLeft = 0 && nestedSetRight = 0 && nestedSetParent = 0 }", {{"T3", {"orphan"}}}},
      {"{ nestedSetLeft = 4 && nestedSetRight = 5 && nestedSetParent = 3 }",
       {{"T1", {"db query"}}}},
      // Arithmetic.
      {"{ span.http.status_code / 100 = 5 }", {{"T1", {"handle"}}}},
      {"{ span.http.status_code - 1 = 199 }", {{"T1", {"GET /"}}}},
      {"{ span.http.status_code % 2 = 1 }", {{"T2", {"POST /pay"}}}},
      {"{ duration * 2 > 150ms }",
       {{"T1", {"GET /", "call api"}}, {"T2", {"POST /pay", "charge"}}}},
      {"{ 2 ^ 3 = 8 && name = \"orphan\" }", {{"T3", {"orphan"}}}},
      {"{ -span.http.status_code < -300 }", {{"T1", {"handle"}}}},
      {"{ span.amount + 0.5 = 13 }", {{"T2", {"POST /pay"}}}},
      // Logic and precedence (&& and || are equal and left-associative).
      {R"({ resource.service.name = "api" && span.db.system = "redis" })", {{"T1", {"cache get"}}}},
      {R"({ span.db.system = "redis" || name = "charge" })",
       {{"T1", {"cache get"}}, {"T2", {"charge"}}}},
      {R"({ name = "charge" || name = "db query" && kind = client })", {{"T1", {"db query"}}}},
      {R"({ name = "charge" || (name = "db query" && kind = client) })",
       {{"T1", {"db query"}}, {"T2", {"charge"}}}},
      {R"({ !(span.db.system = "redis") && resource.service.name = "api" })",
       {{"T1", {"handle", "db query"}}}},
      // Spanset operators.
      {R"({ name = "GET /" } && { name = "db query" })", {{"T1", {"GET /", "db query"}}}},
      {R"({ name = "GET /" } && { name = "charge" })", {}},
      {R"({ name = "GET /" } || { name = "charge" })", {{"T1", {"GET /"}}, {"T2", {"charge"}}}},
      // Structural operators.
      {R"({ name = "handle" } > { kind = client })", {{"T1", {"db query", "cache get"}}}},
      {R"({ name = "handle" } < { })", {{"T1", {"call api"}}}},
      {R"({ name = "GET /" } >> { resource.service.name = "api" })",
       {{"T1", {"handle", "db query", "cache get"}}}},
      {R"({ name = "cache get" } << { kind = server })", {{"T1", {"handle", "GET /"}}}},
      {R"({ name = "db query" } ~ { })", {{"T1", {"cache get"}}}},
      {R"({ name = "POST /pay" } > { })", {{"T2", {"charge"}}}},
      {R"({ name = "handle" } !> { kind = client })", {{"T1", {"call api"}}}},
      {R"({ kind = client } !< { kind = server })", {{"T2", {"POST /pay"}}}},
      {R"({ name = "GET /" } !>> { kind = client })", {}},
      {R"({ name = "call api" } !>> { kind = client })", {{"T1", {"call api"}}}},
      {R"({ name = "db query" } !<< { kind = server })", {{"T2", {"POST /pay"}}}},
      {R"({ name = "db query" } !~ { kind = client })", {{"T1", {"call api", "db query"}}}},
      {R"({ name = "handle" } &> { kind = client })",
       {{"T1", {"handle", "db query", "cache get"}}}},
      {R"({ name = "handle" } &< { })", {{"T1", {"handle", "call api"}}}},
      {R"({ name = "GET /" } &>> { name = "db query" })", {{"T1", {"GET /", "db query"}}}},
      {R"({ name = "db query" } &<< { kind = server })", {{"T1", {"db query", "handle", "GET /"}}}},
      {R"({ name = "db query" } &~ { name = "cache get" })", {{"T1", {"db query", "cache get"}}}},
      {R"({ kind = server } > { kind = client } > { kind = server })", {{"T1", {"handle"}}}},
      {R"({ name = "GET /" } >> ({ kind = client } > { }))", {{"T1", {"handle"}}}},
      // Pipelines and aggregates.
      {R"({ resource.service.name = "api" } | count() > 2)",
       {{"T1", {"handle", "db query", "cache get"}}}},
      {R"({ resource.service.name = "api" } | count() > 3)", {}},
      {"{ } | avg(duration) > 1s", {{"T2", {"POST /pay", "charge"}}}},
      {"{ } | max(duration) < 20ms", {{"T3", {"orphan"}}}},
      {"{ } | min(duration) <= 2ms", {{"T1", kAll.at("T1")}}},
      {"{ } | sum(duration) = 5.5s", {{"T2", {"POST /pay", "charge"}}}},
      {"{ } | count() = 1", {{"T3", {"orphan"}}}},
      {"{ } | count() * 2 > 8", {{"T1", kAll.at("T1")}}},
      {"{ } | sum(span.http.status_code) = 700",
       {{"T1", {"GET /", "call api", "handle", "db query", "cache get"}}}},
      {"{ } | by(resource.service.name) | count() > 2",
       {{"T1", {"handle", "db query", "cache get"}}}},
      {"{ } | by(resource.service.name) | count() = 2 | coalesce()",
       {{"T1", {"GET /", "call api"}}, {"T2", {"POST /pay", "charge"}}}},
      {R"({ kind = client } | { resource.service.name = "api" })",
       {{"T1", {"db query", "cache get"}}}},
      {R"(({ kind = client } | count() > 1) && { name = "GET /" })",
       {{"T1", {"GET /", "call api", "db query", "cache get"}}}},
      {R"(({ name = "handle" } | count() = 1) && { name = "charge" })", {}},
      {R"({ } | select(span.http.method))", kAll},
      {"({ } | count()) > 4", {{"T1", kAll.at("T1")}}},
      {R"({ } with(most_recent=true))", kAll},
  };
}

TEST(TraceQLSearchTable, EveryConstruct) {
  for (const Case& c : Cases()) {
    // Without and with hint pruning in the source: the same answer.
    for (bool prune : {false, true}) {
      auto got = RunQuery(c.query, prune);
      ASSERT_TRUE(got.ok()) << c.query << ": " << got.status().ToString();
      EXPECT_EQ(*got, c.want) << "query: " << c.query << (prune ? " (hints pruning)" : "");
    }
  }
}

TEST(TraceQLSearch, ResultShape) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query = R"({ span.http.status_code >= 200 })";
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 2u);
  // Newest first.
  const auto& t2 = resp->traces[0];
  const auto& t1 = resp->traces[1];
  EXPECT_EQ(t2.trace_id, ToHex(TraceIdOf(2)));
  EXPECT_EQ(t2.root_service_name, "payments");
  EXPECT_EQ(t2.root_trace_name, "POST /pay");
  EXPECT_EQ(t2.start_unix_nano, kT0 + 61 * kSec);
  EXPECT_EQ(t2.duration_ms, 3000u);
  ASSERT_EQ(t1.service_stats.size(), 2u);
  EXPECT_EQ(t1.service_stats[0].service, "api");
  EXPECT_EQ(t1.service_stats[0].span_count, 3u);
  EXPECT_EQ(t1.service_stats[0].error_count, 1u);
  EXPECT_EQ(t1.service_stats[1].service, "frontend");
  EXPECT_EQ(t1.service_stats[1].span_count, 2u);
  EXPECT_EQ(t1.service_stats[1].error_count, 0u);
  EXPECT_EQ(t1.root_service_name, "frontend");
  EXPECT_EQ(t1.duration_ms, 100u);
  ASSERT_EQ(t1.span_sets.size(), 1u);
  EXPECT_EQ(t1.span_sets[0].matched, 2u);
  ASSERT_EQ(t1.span_sets[0].spans.size(), 2u);
  const auto& sp = t1.span_sets[0].spans[0];
  EXPECT_EQ(sp.span_id, ToHex(SpanIdOf(11)));
  EXPECT_EQ(sp.name, "GET /");
  EXPECT_EQ(sp.start_unix_nano, kT0 + kSec);
  EXPECT_EQ(sp.duration_nanos, 100 * kMs);
  // The attribute the query touched comes back.
  ASSERT_EQ(sp.attributes.size(), 1u);
  EXPECT_EQ(sp.attributes[0].key, "http.status_code");
  EXPECT_EQ(std::get<int64_t>(sp.attributes[0].value.v), 200);
  EXPECT_EQ(resp->metrics.inspected_traces, 3u);
  EXPECT_EQ(resp->metrics.inspected_spans, 8u);
  EXPECT_GT(resp->metrics.inspected_bytes, 0u);
}

TEST(TraceQLSearch, MissingRootAndSpss) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query = "{}";
  req.spans_per_span_set = 2;
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 3u);
  EXPECT_EQ(resp->traces[0].root_service_name, "<root span not yet received>");
  EXPECT_EQ(resp->traces[0].root_trace_name, "");
  const auto& t1 = resp->traces[2];
  EXPECT_EQ(t1.span_sets[0].matched, 5u);
  ASSERT_EQ(t1.span_sets[0].spans.size(), 2u);  // spss
  EXPECT_EQ(t1.span_sets[0].spans[0].name, "GET /");
  EXPECT_EQ(t1.span_sets[0].spans[1].name, "call api");
}

TEST(TraceQLSearch, LimitDurationsAndTimeRange) {
  auto src = DefaultSource();
  SearchRequest req;
  req.limit = 1;
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->traces.size(), 1u);

  req = SearchRequest();
  req.min_duration_nano = 50 * kMs;
  resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 2u);
  req.max_duration_nano = 1 * kSec;
  resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 1u);
  EXPECT_EQ(resp->traces[0].trace_id, ToHex(TraceIdOf(1)));

  req = SearchRequest();
  req.start_unix_nano = kT0 + 60 * kSec;
  req.end_unix_nano = kT0 + 120 * kSec;
  resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 1u);
  EXPECT_EQ(resp->traces[0].trace_id, ToHex(TraceIdOf(2)));
}

TEST(TraceQLSearch, MostRecentKeepsNewest) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query = "{ } with(most_recent=true)";
  req.limit = 2;
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 2u);
  EXPECT_EQ(resp->traces[0].trace_id, ToHex(TraceIdOf(3)));
  EXPECT_EQ(resp->traces[1].trace_id, ToHex(TraceIdOf(2)));
}

TEST(TraceQLSearch, SpanSetAttributesFromByAndAggregates) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query = R"({ trace:rootName = "GET /" } | by(resource.service.name) | count() > 1)";
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 1u);
  const auto& sets = resp->traces[0].span_sets;
  ASSERT_EQ(sets.size(), 2u);
  std::map<std::string, int64_t> counts;
  for (const auto& ss : sets) {
    ASSERT_EQ(ss.attributes.size(), 2u);
    EXPECT_EQ(ss.attributes[0].key, "by(resource.service.name)");
    EXPECT_EQ(ss.attributes[1].key, "count()");
    counts[std::get<std::string>(ss.attributes[0].value.v)] =
        std::get<int64_t>(ss.attributes[1].value.v);
  }
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"api", 3}, {"frontend", 2}}));
}

TEST(TraceQLSearch, SelectAddsAttributes) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query =
      R"({ name = "POST /pay" } | select(span.amount, resource.service.name, status, kind))";
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 1u);
  const auto& attrs = resp->traces[0].span_sets[0].spans[0].attributes;
  std::map<std::string, std::string> got;
  for (const auto& kv : attrs) {
    if (auto* s = std::get_if<std::string>(&kv.value.v)) got[kv.key] = *s;
    if (auto* d = std::get_if<double>(&kv.value.v)) got[kv.key] = std::to_string(*d);
  }
  EXPECT_EQ(got["amount"], "12.500000");
  EXPECT_EQ(got["service.name"], "payments");
  EXPECT_EQ(got["status"], "ok");
  EXPECT_EQ(got["kind"], "server");
}

TEST(TraceQLSearch, RejectsMetricsQueries) {
  auto src = DefaultSource();
  SearchRequest req;
  req.query = "{ } | rate()";
  auto resp = Search(src, req);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), StatusCode::kInvalidArgument);
}

TEST(TraceQLHints, DerivedFromConjunctions) {
  auto q = Parse(R"({ resource.service.name = "api" && name = "x" && duration > 1s && .a = "b" })");
  ASSERT_TRUE(q.ok());
  ScanHints h = DeriveScanHints(**q);
  ASSERT_EQ(h.equalities.size(), 2u);
  EXPECT_EQ(h.equalities[0].scope, "resource");
  EXPECT_EQ(h.equalities[0].key, "service.name");
  EXPECT_EQ(h.equalities[0].value, "api");
  EXPECT_EQ(h.equalities[1].scope, "");
  EXPECT_EQ(h.equalities[1].key, "a");
  EXPECT_EQ(h.span_name, "x");
  EXPECT_EQ(h.min_span_duration_nano, 1 * kSec);

  q = Parse(R"({ .a = "x" || .b = "y" })");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(DeriveScanHints(**q).equalities.empty());
  q = Parse(R"({ .a = "x" } || { .b = "y" })");
  EXPECT_TRUE(DeriveScanHints(**q).equalities.empty());
  q = Parse(R"({ span.a = "x" } >> { span.b = "y" } | count() > 1)");
  EXPECT_EQ(DeriveScanHints(**q).equalities.size(), 2u);
  q = Parse(R"({ span.a = "x" } !> { span.b = "y" })");
  ASSERT_EQ(DeriveScanHints(**q).equalities.size(), 1u);
  EXPECT_EQ(DeriveScanHints(**q).equalities[0].key, "b");
  q = Parse(R"({ !(span.a = "x") })");
  EXPECT_TRUE(DeriveScanHints(**q).equalities.empty());

  // The engine passes them to the store.
  auto src = DefaultSource();
  SearchRequest req;
  req.query = R"({ resource.service.name = "api" })";
  ASSERT_TRUE(Search(src, req).ok());
  ASSERT_EQ(src.last_hints.equalities.size(), 1u);
  EXPECT_EQ(src.last_hints.equalities[0].value, "api");
}

TEST(TraceQLTags, LegacyTagsToTraceQL) {
  auto q = TagsToTraceQL(R"(service.name=api http.status_code=500 name="GET /")");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(
      *q,
      R"({ .service.name = "api" && (.http.status_code = 500 || .http.status_code = "500") && name = "GET /" })");
  auto src = DefaultSource();
  SearchRequest req;
  req.query = *TagsToTraceQL("service.name=api http.status_code=500");
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok()) << req.query << ": " << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 1u);
  EXPECT_EQ(resp->traces[0].span_sets[0].spans[0].name, "handle");
  EXPECT_EQ(*TagsToTraceQL(""), "{}");
  EXPECT_FALSE(TagsToTraceQL(R"(a="unterminated)").ok());
}

}  // namespace
}  // namespace sightline::traces::traceql

namespace sightline::traces::traceql {
namespace {

// cidr(): Tempo's IP-prefix filter over string attributes, IPv4 and IPv6
// (IPv4-mapped IPv6 addresses count as IPv4), several prefixes per call.
TEST(TraceQLSearch, CidrMatchesAddressesInPrefixes) {
  using testing::KV;
  using testing::MakeSpan;
  using testing::Res;
  Trace t;
  t.trace_id = testing::TraceIdOf(7);
  t.resources = {Res("edge")};
  const char* ips[] = {"10.1.2.3", "192.168.0.5", "2001:db8::1", "::ffff:10.9.9.9", "not-an-ip",
                       "11.0.0.1"};
  for (int i = 0; i < 6; ++i) {
    t.spans.push_back(MakeSpan(70 + i, i ? 70 : 0, std::string("s") + ips[i], 2,
                               kT0 + i * kMs, kMs, 0, {KV("net.peer.ip", ips[i])}));
  }
  t.spans.push_back(MakeSpan(80, 70, "int-ip", 2, kT0, kMs, 0, {KV("net.peer.ip", 10)}));
  auto run = [&](const std::string& q) -> Result<std::set<std::string>> {
    testing::MemorySource src({t});
    SearchRequest req;
    req.query = q;
    req.spans_per_span_set = 1000;
    SL_ASSIGN_OR_RETURN(SearchResponse resp, Search(src, req));
    std::set<std::string> names;
    for (const auto& tr : resp.traces) {
      for (const auto& ss : tr.span_sets) {
        for (const auto& sp : ss.spans) names.insert(sp.name);
      }
    }
    return names;
  };
  auto got = run(R"({ cidr(span.net.peer.ip, "10.0.0.0/8") })");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, (std::set<std::string>{"s10.1.2.3", "s::ffff:10.9.9.9"}));
  got = run(R"({ cidr(.net.peer.ip, "2001:db8::/32", "192.168.0.0/16") })");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, (std::set<std::string>{"s2001:db8::1", "s192.168.0.5"}));
  // Host bits of the prefix are masked off (10.200.0.0/8 is 10.0.0.0/8).
  got = run(R"({ cidr(span.net.peer.ip, "10.200.0.0/8") && name != "s10.1.2.3" })");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, (std::set<std::string>{"s::ffff:10.9.9.9"}));
  got = run(R"({ !cidr(span.net.peer.ip, "0.0.0.0/0", "::/0") })");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, (std::set<std::string>{"snot-an-ip", "int-ip"}));
  for (const char* bad : {R"({ cidr(span.net.peer.ip, "10.0.0.0/33") })",
                          R"({ cidr(span.net.peer.ip, "10.0.0.0") })",
                          R"({ cidr(span.net.peer.ip) })", R"({ cidr(duration, "10.0.0.0/8") })"}) {
    EXPECT_EQ(run(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace sightline::traces::traceql
