// TraceQL semantics where Tempo's behaviour is subtle: event and link
// conditions bound to one event/link, `!=` on events, and the other
// audited differences (docs/traceql.md). Each table case failed on the
// behaviour before the change it covers.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <variant>

#include "traceql_fixture.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::traceql {
namespace {

using testing::kMs;
using testing::kSec;
using testing::kT0;
using testing::KV;
using testing::MakeSpan;
using testing::MemorySource;
using testing::Res;
using testing::SpanIdOf;
using testing::ToHex;
using testing::TraceIdOf;

// One trace, spans with several events and links:
//   "two events": events {name=a, k=1, msg=x} at +1ms and {name=b, k=2, msg=y} at +5ms
//   "one event":  event {name=a, k=2} at +2ms
//   "links":      links {trace 7/span 71, kind=parent} and {trace 8/span 81, kind=child}
//   "bare":       no events, no links
Trace EventTrace() {
  Trace t;
  t.trace_id = TraceIdOf(9);
  t.resources = {Res("svc")};
  const uint64_t s = kT0 + 5 * kSec;
  Span two = MakeSpan(91, 0, "two events", 2, s, 10 * kMs, 0, {KV("span.k", 1)});
  Event a;
  a.name = "a";
  a.time_unix_nano = s + 1 * kMs;
  a.attributes = {KV("k", 1), KV("msg", "x")};
  Event b;
  b.name = "b";
  b.time_unix_nano = s + 5 * kMs;
  b.attributes = {KV("k", 2), KV("msg", "y")};
  two.events = {a, b};
  t.spans.push_back(two);
  Span one = MakeSpan(92, 91, "one event", 3, s + 1 * kMs, 5 * kMs, 0);
  Event c;
  c.name = "a";
  c.time_unix_nano = s + 3 * kMs;
  c.attributes = {KV("k", 2)};
  one.events = {c};
  t.spans.push_back(one);
  Span links = MakeSpan(93, 91, "links", 3, s + 2 * kMs, 5 * kMs, 0);
  Link l1;
  l1.trace_id = TraceIdOf(7);
  l1.span_id = SpanIdOf(71);
  l1.attributes = {KV("kind", "parent")};
  Link l2;
  l2.trace_id = TraceIdOf(8);
  l2.span_id = SpanIdOf(81);
  l2.attributes = {KV("kind", "child")};
  links.links = {l1, l2};
  t.spans.push_back(links);
  t.spans.push_back(MakeSpan(94, 91, "bare", 1, s + 3 * kMs, 1 * kMs, 0));
  return t;
}

std::set<std::string> Names(const std::string& q) {
  MemorySource src({EventTrace()});
  src.prune = false;
  SearchRequest req;
  req.query = q;
  req.spans_per_span_set = 100;
  auto resp = Search(src, req);
  EXPECT_TRUE(resp.ok()) << q << ": " << resp.status().ToString();
  std::set<std::string> out;
  if (!resp.ok()) return out;
  for (const auto& tr : resp->traces) {
    for (const auto& ss : tr.span_sets) {
      for (const auto& sp : ss.spans) out.insert(sp.name);
    }
  }
  return out;
}

TEST(TraceQLSemantics, EventAndLinkConditionsBindToOneEventOrLink) {
  const std::string t7 = ToHex(TraceIdOf(7)), s81 = ToHex(SpanIdOf(81));
  struct Case {
    std::string query;
    std::set<std::string> want;
  };
  const std::vector<Case> cases = {
      // One event must carry both (before: any event each, so "two events"
      // matched through event a's name and event b's k).
      {R"({ event:name = "a" && event.k = 2 })", {"one event"}},
      {R"({ event:name = "a" && event.k = 1 })", {"two events"}},
      {R"({ event:name = "b" && event.msg = "x" })", {}},
      {R"({ event.k = 1 && event.msg = "y" })", {}},
      {R"({ event.k = 2 && event.msg = "y" })", {"two events"}},
      // event:timeSinceStart is per event too: a at +1ms, b at +5ms.
      {R"({ event:name = "a" && event:timeSinceStart > 3ms })", {}},
      {R"({ event:name = "b" && event:timeSinceStart > 3ms })", {"two events"}},
      {R"({ event:timeSinceStart > 1ms && event:timeSinceStart < 4ms })", {"one event"}},
      // Mixed span and event conditions: the span ones on the span.
      {R"({ span.span.k = 1 && event:name = "b" && event.k = 2 })", {"two events"}},
      {R"({ name = "one event" && event.k = 1 })", {}},
      // Negations hold when some event differs (Tempo fetches the events
      // that satisfy the condition), not when none equals.
      {R"({ event:name != "a" })", {"two events"}},
      {R"({ event.k != 2 })", {"two events"}},
      {R"({ event.msg !~ "x" })", {"two events"}},
      // `!` is evaluated per event; spans without events see nil fields.
      {R"({ !(event:name = "a") })", {"two events", "links", "bare"}},
      // With ||, each condition on any event.
      {R"({ event:name = "b" || event.k = 5 })", {"two events"}},
      {R"({ (event:name = "a" && event.k = 2) || name = "bare" })",
       {"one event", "two events", "bare"}},
      {R"({ event:name != "a" || name = "nothing" })", {"two events"}},
      // Links: one link carries both.
      {R"({ link.kind = "parent" && link:traceID = ")" + t7 + R"(" })", {"links"}},
      {R"({ link.kind = "parent" && link:spanID = ")" + s81 + R"(" })", {}},
      {R"({ link.kind = "child" && link:spanID = ")" + s81 + R"(" })", {"links"}},
      {R"({ link.kind != "parent" })", {"links"}},
      // Events and links together: each bound independently.
      {R"({ link.kind = "child" && event:name = "a" })", {}},
      // Spans without events: event fields are nil.
      {R"({ event:name = nil && kind = internal })", {"bare"}},
      {R"({ event:name != nil })", {"two events", "one event"}},
  };
  for (const Case& c : cases) EXPECT_EQ(Names(c.query), c.want) << c.query;
}

// --------------------------------------------------------------- metrics

std::map<std::string, MetricsSeries> RangeSeries(const std::string& q, uint32_t exemplars = 0) {
  auto src = testing::DefaultSource();
  MetricsRequest req;
  req.query = q;
  req.start_unix_nano = kT0;
  req.end_unix_nano = kT0 + 180 * kSec;
  req.step_nano = 60 * kSec;
  req.exemplars = exemplars;
  auto resp = MetricsQueryRange(src, req);
  EXPECT_TRUE(resp.ok()) << q << ": " << resp.status().ToString();
  std::map<std::string, MetricsSeries> out;
  if (!resp.ok()) return out;
  for (auto& s : resp->series) out[s.prom_labels] = s;
  return out;
}

std::set<std::string> Keys(const std::map<std::string, MetricsSeries>& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

// promLabels as Tempo's Labels.String(): ints as int(N), integral floats
// with ".0", nil as <nil>, "" as <empty>; by() on a missing attribute keeps
// one nil label instead of falling back to __name__.
TEST(TraceQLSemantics, MetricsLabelsAsTempo) {
  EXPECT_EQ(
      Keys(RangeSeries("{ name = \"GET /\" } | count_over_time() by (span.http.status_code)")),
      (std::set<std::string>{R"x({"span.http.status_code"="int(200)"})x"}));
  EXPECT_EQ(Keys(RangeSeries("{ name = \"charge\" } | rate() by (span.http.status_code)")),
            (std::set<std::string>{R"({"span.http.status_code"="<nil>"})"}));
  auto nil_only = RangeSeries("{ name = \"charge\" } | rate() by (span.missing)");
  ASSERT_EQ(nil_only.size(), 1u);
  const MetricsSeries& s = nil_only.begin()->second;
  ASSERT_EQ(s.labels.size(), 1u);
  EXPECT_EQ(s.labels[0].key, "span.missing");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(s.labels[0].value.v));
  // Nil values are dropped when another by() value is present.
  EXPECT_EQ(Keys(RangeSeries("{ name = \"charge\" } | rate() by (span.missing, name)")),
            (std::set<std::string>{R"({name="charge"})"}));
  EXPECT_EQ(Keys(RangeSeries(
                "{ name = \"POST /pay\" } | count_over_time() by (span.amount, statusMessage)")),
            (std::set<std::string>{R"({"span.amount"="12.5", statusMessage="<empty>"})"}));
  EXPECT_EQ(Keys(RangeSeries("{ name = \"GET /\" } | quantile_over_time(duration, 1, 0.5)")),
            (std::set<std::string>{R"({p="1.0"})", R"({p="0.5"})"}));
  EXPECT_EQ(Keys(RangeSeries("{ name = \"GET /\" } | histogram_over_time(span.http.status_code)")),
            (std::set<std::string>{R"({__bucket="256.0"})"}));
}

// compare(): Tempo's select-all attributes (statusMessage, span:parentID,
// trace:rootName/rootService, instrumentation:*) and exemplars on the
// `_total` series (every attribute of the span as a label, value NaN).
TEST(TraceQLSemantics, CompareAttributesAndExemplars) {
  auto got = RangeSeries("{ } | compare({ status = error })", 100);
  for (const char* want : {
           R"({__meta_type="selection", statusMessage="boom"})",
           R"({__meta_type="baseline", statusMessage="<empty>"})",
           R"({__meta_type="selection", rootName="GET /"})",
           R"({__meta_type="selection", rootServiceName="frontend"})",
           R"({__meta_type="baseline", "instrumentation:name"="io.http"})",
           R"({__meta_type="baseline", "instrumentation:version"="2.0"})",
           R"({__meta_type="baseline", "instrumentation.lib.tag"="w"})",
           R"({__meta_type="selection_total", "span:parentID"="<nil>"})",
           R"({__meta_type="baseline", "span:parentID"="0000000000000000"})",
       }) {
    EXPECT_EQ(got.count(want), 1u) << want;
  }
  // Never grouped: durations, ids, start times.
  for (const auto& [labels, s] : got) {
    EXPECT_EQ(labels.find("duration"), std::string::npos) << labels;
    EXPECT_EQ(labels.find("trace:id"), std::string::npos) << labels;
    EXPECT_EQ(labels.find("span:id"), std::string::npos) << labels;
  }
  // Exemplars: only on the `_total` series, each with the span's attributes
  // and ids as labels; Tempo's frontend keeps at most 2 per step over all
  // series (here in promLabels order) and gives the NaN placeholders the
  // value of their series' sample in their step.
  std::map<int64_t, int> per_step;
  size_t total = 0;
  for (const auto& [labels, s] : got) {
    if (s.exemplars.empty()) continue;
    EXPECT_NE(labels.find("_total"), std::string::npos) << labels;
    for (const Exemplar& ex : s.exemplars) {
      ++total;
      const int64_t step = ex.timestamp_ms / 60'000;
      ++per_step[step];
      bool has_trace = false, has_name = false;
      for (const KeyValue& kv : ex.labels) {
        has_trace = has_trace || kv.key == "trace:id";
        has_name = has_name || kv.key == "name";
      }
      EXPECT_TRUE(has_trace && has_name) << labels;
      EXPECT_FALSE(std::isnan(ex.value)) << labels;
      bool matched = false;
      for (const Sample& smp : s.samples) {
        matched = matched || (smp.timestamp_ms / 60'000 == step && smp.value == ex.value);
      }
      EXPECT_TRUE(matched) << labels;
    }
  }
  EXPECT_GT(total, 0u);
  for (const auto& [step, n] : per_step) EXPECT_LE(n, 2) << step;
  EXPECT_TRUE(got.at(R"({__meta_type="selection", name="handle"})").exemplars.empty());
  // No exemplars asked for: none.
  auto none = RangeSeries("{ } | compare({ status = error })", 0);
  EXPECT_TRUE(none.at(R"({__meta_type="baseline_total", name="<nil>"})").exemplars.empty());
}

// Trace ids as Tempo prints them (leading zeros dropped) in results and for
// trace:id / link:traceID comparisons; span ids keep 16 digits. Search
// results carry one value per event field, not a list.
TEST(TraceQLSemantics, TraceIdsAndEventResultsAsTempo) {
  Trace t = EventTrace();
  t.trace_id = std::string(16, '\0');
  t.trace_id[3] = 0x0a;
  t.trace_id[15] = 0x01;
  const std::string full = ToHex(t.trace_id);  // "000000 0a ... 01"
  ASSERT_EQ(full.substr(0, 7), "0000000");
  const std::string trimmed = full.substr(7);
  MemorySource src({t});
  src.prune = false;
  SearchRequest req;
  req.query = "{ trace:id = \"" + trimmed + "\" && name = \"two events\" }";
  auto resp = Search(src, req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 1u);
  EXPECT_EQ(resp->traces[0].trace_id, trimmed);
  EXPECT_EQ(resp->traces[0].span_sets[0].spans[0].span_id, ToHex(SpanIdOf(91)));
  req.query = "{ trace:id = \"" + full + "\" }";
  resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  EXPECT_TRUE(resp->traces.empty());  // Tempo compares the printed form

  req.query = R"({ event.msg = "y" })";
  resp = Search(src, req);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->traces.size(), 1u);
  const auto& attrs = resp->traces[0].span_sets[0].spans[0].attributes;
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(attrs[0].key, "msg");
  ASSERT_TRUE(std::holds_alternative<std::string>(attrs[0].value.v));
}

// Structural operators follow Tempo's nested set model: only spans under a
// root span are related, so a trace whose root has not arrived matches no
// structural query (its parent/child links are still known to parent.*).
TEST(TraceQLSemantics, StructureNeedsARootSpan) {
  Trace t;
  t.trace_id = TraceIdOf(10);
  t.resources = {Res("svc")};
  t.spans.push_back(MakeSpan(101, 100, "a", 2, kT0, 10 * kMs, 0));  // parent 100 missing
  t.spans.push_back(MakeSpan(102, 101, "b", 3, kT0 + kMs, 5 * kMs, 0));
  t.spans.push_back(MakeSpan(103, 102, "c", 3, kT0 + 2 * kMs, 1 * kMs, 0));
  auto names = [&](const std::string& q) {
    MemorySource src({t});
    src.prune = false;
    SearchRequest req;
    req.query = q;
    req.spans_per_span_set = 100;
    auto resp = Search(src, req);
    EXPECT_TRUE(resp.ok()) << q;
    std::set<std::string> out;
    if (resp.ok()) {
      for (const auto& tr : resp->traces) {
        for (const auto& ss : tr.span_sets) {
          for (const auto& sp : ss.spans) out.insert(sp.name);
        }
      }
    }
    return out;
  };
  EXPECT_EQ(names(R"({ name = "a" } > { name = "b" })"), std::set<std::string>{});
  EXPECT_EQ(names(R"({ } >> { name = "c" })"), std::set<std::string>{});
  EXPECT_EQ(names(R"({ name = "b" } ~ { })"), std::set<std::string>{});
  EXPECT_EQ(names(R"({ name = "a" } !> { name = "b" })"), std::set<std::string>{"b"});
  EXPECT_EQ(names("{ nestedSetLeft > 0 }"), std::set<std::string>{});
  // Once the root arrives, the relations hold.
  t.spans.insert(t.spans.begin(), MakeSpan(100, 0, "root", 2, kT0, 20 * kMs, 0));
  EXPECT_EQ(names(R"({ name = "a" } > { name = "b" })"), std::set<std::string>{"b"});
  EXPECT_EQ(names(R"({ } >> { name = "c" })"), std::set<std::string>{"c"});
  EXPECT_EQ(names("{ nestedSetLeft = 4 && nestedSetRight = 5 && nestedSetParent = 3 }"),
            std::set<std::string>{"c"});
}

}  // namespace
}  // namespace sightline::traces::traceql
