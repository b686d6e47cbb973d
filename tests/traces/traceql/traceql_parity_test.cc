// Tempo parity details of the engine (session 7): the metrics max_duration
// check, exemplar count/spread/values, promLabels quoting (Prometheus 3),
// and the order in which a spanset's spans are listed. Each case states the
// Tempo source it follows (docs/traceql.md has the references).
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "traces/traceql/engine.h"
#include "traces/traceql/traceql_fixture.h"

namespace sightline::traces::traceql {
namespace {

using testing::KV;
using testing::kMs;
using testing::kSec;
using testing::kT0;
using testing::MakeSpan;
using testing::MemorySource;
using testing::Res;
using testing::SpanIdOf;
using testing::TraceIdOf;

constexpr uint64_t kMin = 60 * kSec;
constexpr uint64_t kHour = 60 * kMin;

MetricsRequest Range(std::string q, uint64_t start, uint64_t end, uint64_t step) {
  MetricsRequest req;
  req.query = std::move(q);
  req.start_unix_nano = start;
  req.end_unix_nano = end;
  req.step_nano = step;
  return req;
}

// ------------------------------------------------------------ max_duration

// Tempo 2.7 (query-frontend metrics sharder): start aligned down and end up
// to the step, then `range specified by start and end (<d>) exceeds <max>.
// received start=<s> end=<e>`; instant queries measure end - start.
TEST(TraceQLParity, MetricsMaxDuration) {
  MemorySource src({testing::T1()});
  MetricsRequest req = Range("{ } | rate()", kT0, kT0 + 3 * kHour, kMin);
  req.max_duration_nano = 3 * kHour;
  EXPECT_TRUE(MetricsScanRange(req).ok());
  EXPECT_TRUE(MetricsQueryRange(src, req).ok());
  EXPECT_TRUE(MetricsInstantScanRange(req).ok());

  // One second more: the end is aligned up to the next minute.
  req.end_unix_nano = kT0 + 3 * kHour + kSec;
  const std::string want = "range specified by start and end (3h1m0s) exceeds 3h0m0s. received start=" +
                           std::to_string(kT0) + " end=" + std::to_string(kT0 + 3 * kHour + kMin);
  for (const Status& s : {MetricsScanRange(req).status(), MetricsQueryRange(src, req).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), want);
  }
  // Instant: end - start as given.
  auto inst = MetricsQueryInstant(src, req);
  EXPECT_EQ(inst.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(inst.status().message(),
            "range specified by start and end (3h0m1s) exceeds 3h0m0s. received start=" +
                std::to_string(kT0) + " end=" + std::to_string(kT0 + 3 * kHour + kSec));
  EXPECT_EQ(MetricsInstantScanRange(req).status().code(), StatusCode::kInvalidArgument);
  // 0: no limit.
  req.max_duration_nano = 0;
  req.end_unix_nano = kT0 + 48 * kHour;
  EXPECT_TRUE(MetricsScanRange(req).ok());
}

// --------------------------------------------------------------- exemplars

// 200 one-span traces, one every 30 s over 100 minutes, each 1 s long.
MemorySource EvenTraffic() {
  std::vector<Trace> traces;
  for (int i = 0; i < 200; ++i) {
    Trace t;
    t.trace_id = TraceIdOf(1);
    t.trace_id[1] = static_cast<char>(i);
    t.resources = {Res("api")};
    Span sp = MakeSpan(1, 0, "op", 2, kT0 + static_cast<uint64_t>(i) * 30 * kSec, kSec, 0);
    sp.span_id[1] = static_cast<char>(i);
    t.spans.push_back(sp);
    traces.push_back(std::move(t));
  }
  return MemorySource(std::move(traces));
}

// Tempo's bucket set (pkg/traceql/util.go): exemplars/2 equal time buckets
// of at most 2 each, so they cover the whole range, not its first minutes.
TEST(TraceQLParity, ExemplarsSpreadOverTheRange) {
  MemorySource src = EvenTraffic();
  MetricsRequest req = Range("{ } | rate()", kT0, kT0 + 100 * kMin, kMin);
  req.exemplars = 10;
  auto r = MetricsQueryRange(src, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->series.size(), 1u);
  const MetricsSeries& s = r->series[0];
  ASSERT_EQ(s.exemplars.size(), 10u);
  // 5 buckets of 20 minutes, 2 each.
  std::map<int64_t, int> per_bucket;
  int64_t prev = 0;
  for (const Exemplar& e : s.exemplars) {
    EXPECT_GE(e.timestamp_ms, prev);  // sorted by time
    prev = e.timestamp_ms;
    ++per_bucket[(e.timestamp_ms - static_cast<int64_t>(kT0 / kMs)) / (20 * 60'000)];
    // rate()'s placeholder takes the sample of its step (Tempo's
    // attachExemplars): 2 spans a minute = 2/60 per second.
    EXPECT_NEAR(e.value, 2.0 / 60, 1e-12);
  }
  EXPECT_EQ(per_bucket, (std::map<int64_t, int>{{0, 2}, {1, 2}, {2, 2}, {3, 2}, {4, 2}}));

  // More than Tempo's 100 are not given.
  req.exemplars = 1000;
  r = MetricsQueryRange(src, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->series[0].exemplars.size(), 100u);

  // max_over_time: the span's own value (seconds).
  req = Range("{ } | max_over_time(duration)", kT0, kT0 + 100 * kMin, kMin);
  req.exemplars = 4;
  r = MetricsQueryRange(src, req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series[0].exemplars.size(), 4u);
  for (const Exemplar& e : r->series[0].exemplars) EXPECT_DOUBLE_EQ(e.value, 1.0);

  // Instant queries carry none.
  auto inst = MetricsQueryInstant(src, req);
  ASSERT_TRUE(inst.ok());
}

// One exemplar per trace (Tempo's exemplar sampling keys on the trace id).
TEST(TraceQLParity, OneExemplarPerTrace) {
  Trace t;
  t.trace_id = TraceIdOf(7);
  t.resources = {Res("api")};
  for (int i = 1; i <= 20; ++i) {
    t.spans.push_back(MakeSpan(i, i == 1 ? 0 : 1, "s" + std::to_string(i), 2,
                               kT0 + static_cast<uint64_t>(i) * 10 * kSec, kMs, 0));
  }
  MemorySource src({t});
  MetricsRequest req = Range("{ } | count_over_time()", kT0, kT0 + 10 * kMin, kMin);
  req.exemplars = 100;
  auto r = MetricsQueryRange(src, req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 1u);
  ASSERT_EQ(r->series[0].exemplars.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r->series[0].exemplars[0].labels[1].value.v),
            testing::ToHex(SpanIdOf(1)));
}

// ------------------------------------------------------------- promLabels

// Prometheus 3's Labels.String() (newer Tempo): names outside
// [a-zA-Z_][a-zA-Z0-9_]* are quoted; values are Go-quoted.
TEST(TraceQLParity, PromLabelsQuoteNamesAndEscapeValues) {
  Trace t;
  t.trace_id = TraceIdOf(8);
  t.resources = {Res("a\tb\"c\\d\x01")};
  t.spans.push_back(MakeSpan(1, 0, "x\ny", 2, kT0 + kSec, kMs, 0, {KV("k", "\xC3\xA9t\xC3\xA9")}));
  MemorySource src({t});
  auto labels = [&](const std::string& q) {
    auto r = MetricsQueryRange(src, Range(q, kT0, kT0 + kMin, kMin));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->series.size() == 1 ? r->series[0].prom_labels : std::string("?");
  };
  EXPECT_EQ(labels("{ } | rate() by (resource.service.name)"),
            R"({"resource.service.name"="a\tb\"c\\d\x01"})");
  EXPECT_EQ(labels("{ } | rate() by (name)"), R"({name="x\ny"})");
  EXPECT_EQ(labels("{ } | rate() by (span.k, kind)"), "{kind=\"server\", \"span.k\"=\"\xC3\xA9t\xC3\xA9\"}");
  EXPECT_EQ(labels("{ } | rate()"), R"({__name__="rate"})");
}

// ------------------------------------------------------------ span order

std::vector<std::string> SpanNames(TraceSource& src, const std::string& q, uint32_t spss) {
  SearchRequest req;
  req.query = q;
  req.spans_per_span_set = spss;
  auto r = Search(src, req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> out;
  if (!r.ok() || r->traces.empty()) return out;
  for (const SpanResult& s : r->traces[0].span_sets[0].spans) out.push_back(s.name);
  return out;
}

// A trace sent in one request keeps the sender's order (OTel SDKs export
// spans as they end: children first); Tempo lists a spanset's spans in its
// stored order and cuts at spss.
TEST(TraceQLParity, SpansetOrderOneRequest) {
  Trace t;
  t.trace_id = TraceIdOf(9);
  t.resources = {Res("api")};
  t.spans.push_back(MakeSpan(3, 2, "grandchild", 2, kT0 + 30 * kMs, kMs, 0));
  t.spans.push_back(MakeSpan(2, 1, "child", 2, kT0 + 20 * kMs, 20 * kMs, 0));
  t.spans.push_back(MakeSpan(1, 0, "root", 2, kT0 + 10 * kMs, 50 * kMs, 0));
  MemorySource src({t});
  EXPECT_EQ(SpanNames(src, "{ }", 2), (std::vector<std::string>{"grandchild", "child"}));
  EXPECT_EQ(SpanNames(src, "{ }", 3), (std::vector<std::string>{"grandchild", "child", "root"}));
}

// A trace combined from several requests is sorted as Tempo's combiner
// sorts it (pkg/model/trace/sort.go): spans of a batch by start time, then
// batches by their first span.
TEST(TraceQLParity, SpansetOrderCombinedTrace) {
  Trace t;
  t.trace_id = TraceIdOf(10);
  t.resources = {Res("late"), Res("early")};  // two requests
  t.spans.push_back(MakeSpan(4, 1, "late-b", 2, kT0 + 50 * kMs, kMs, 0));
  t.spans.push_back(MakeSpan(3, 1, "late-a", 2, kT0 + 40 * kMs, kMs, 0));
  t.spans.push_back(MakeSpan(2, 1, "early-b", 2, kT0 + 30 * kMs, kMs, 1));
  t.spans.push_back(MakeSpan(1, 0, "early-a", 2, kT0 + 10 * kMs, 90 * kMs, 1));
  t.spans.push_back(MakeSpan(5, 1, "early-c", 2, kT0 + 60 * kMs, kMs, 1));
  MemorySource src({t});
  EXPECT_EQ(SpanNames(src, "{ }", 5),
            (std::vector<std::string>{"early-a", "early-b", "early-c", "late-a", "late-b"}));
  EXPECT_EQ(SpanNames(src, "{ }", 3), (std::vector<std::string>{"early-a", "early-b", "early-c"}));
}

}  // namespace
}  // namespace sightline::traces::traceql
