// TraceQL metrics (query_range / instant) with known counts, and the tag
// name / value listings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <map>
#include <string>
#include <vector>

#include "traceql_fixture.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::traceql {
namespace {

using testing::DefaultSource;
using testing::kSec;
using testing::kT0;

constexpr int64_t kT0Ms = static_cast<int64_t>(kT0 / 1'000'000);
constexpr int64_t kMin = 60'000;

std::string LabelValue(const AttributeValue& v) {
  if (auto* s = std::get_if<std::string>(&v.v)) return *s;
  if (auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v.v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *d);
    return buf;
  }
  return "?";
}

// prom_labels -> [(ts, value)]
using Series = std::map<std::string, std::vector<std::pair<int64_t, double>>>;

Result<Series> Range(const std::string& q, uint64_t step = 60 * kSec, uint64_t start = kT0,
                     uint64_t end = kT0 + 180 * kSec) {
  auto src = DefaultSource();
  MetricsRequest req;
  req.query = q;
  req.start_unix_nano = start;
  req.end_unix_nano = end;
  req.step_nano = step;
  SL_ASSIGN_OR_RETURN(MetricsResponse resp, MetricsQueryRange(src, req));
  Series out;
  for (const auto& s : resp.series) {
    auto& v = out[s.prom_labels];
    for (const auto& smp : s.samples) v.push_back({smp.timestamp_ms, smp.value});
  }
  return out;
}

void ExpectSeries(const Series& got, const Series& want, const std::string& q) {
  ASSERT_EQ(got.size(), want.size()) << q;
  for (const auto& [labels, samples] : want) {
    auto it = got.find(labels);
    ASSERT_NE(it, got.end()) << q << ": missing series " << labels;
    ASSERT_EQ(it->second.size(), samples.size()) << q << " " << labels;
    for (size_t k = 0; k < samples.size(); ++k) {
      EXPECT_EQ(it->second[k].first, samples[k].first) << q << " " << labels << " #" << k;
      EXPECT_NEAR(it->second[k].second, samples[k].second, 1e-9) << q << " " << labels << " #" << k;
    }
  }
}

TEST(TraceQLMetrics, KnownCounts) {
  const int64_t t0 = kT0Ms, t1 = kT0Ms + kMin, t2 = kT0Ms + 2 * kMin;
  struct Case {
    std::string q;
    Series want;
  };
  const Case cases[] = {
      {"{ } | count_over_time()",
       {{R"({__name__="count_over_time"})", {{t0, 5}, {t1, 2}, {t2, 1}}}}},
      {"{ } | rate() by (resource.service.name)",
       // Counters are 0 in the steps of a series without spans (as Tempo).
       {{R"({"resource.service.name"="api"})", {{t0, 3.0 / 60}, {t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="frontend"})", {{t0, 2.0 / 60}, {t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="payments"})", {{t0, 0}, {t1, 2.0 / 60}, {t2, 0}}},
        {R"({"resource.service.name"="worker"})", {{t0, 0}, {t1, 0}, {t2, 1.0 / 60}}}}},
      {"{ status = error } | count_over_time()",
       {{R"({__name__="count_over_time"})", {{t0, 1}, {t1, 0}, {t2, 0}}}}},
      {"{ } | sum_over_time(duration)",
       {{R"({__name__="sum_over_time"})", {{t0, 0.282}, {t1, 5.5}, {t2, 0.01}}}}},
      {"{ } | min_over_time(duration)",
       {{R"({__name__="min_over_time"})", {{t0, 0.002}, {t1, 2.5}, {t2, 0.01}}}}},
      {"{ } | max_over_time(duration)",
       {{R"({__name__="max_over_time"})", {{t0, 0.1}, {t1, 3}, {t2, 0.01}}}}},
      {"{ } | avg_over_time(span.http.status_code)",
       {{R"({__name__="avg_over_time"})", {{t0, 350}, {t1, 201}}}}},
      // Tempo's estimate from the log2 buckets (Log2Quantile): the bucket
      // holding the ceil(p*n)-th value, interpolated exponentially. t0 has
      // buckets 2^21 ns:1, 2^25:1, 2^27:3 → p50 is 1/3 into (2^25, 2^27];
      // t1 has 2^32:2 → p50 halfway into (2^31, 2^32].
      {"{ } | quantile_over_time(duration, 0.5, 0.9)",
       {{R"({p="0.5"})",
         {{t0, std::pow(2.0, 25 + 2.0 / 3) / 1e9},
          {t1, std::pow(2.0, 31.5) / 1e9},
          {t2, 0.016777216}}},
        {R"({p="0.9"})", {{t0, 0.134217728}, {t1, 4.294967296}, {t2, 0.016777216}}}}},
      {"{ } | histogram_over_time(duration)",
       // Powers of two in nanoseconds, labelled in seconds (as Tempo).
       {{R"({__bucket="0.002097152"})", {{t0, 1}, {t1, 0}, {t2, 0}}},
        {R"({__bucket="0.016777216"})", {{t0, 0}, {t1, 0}, {t2, 1}}},
        {R"({__bucket="0.033554432"})", {{t0, 1}, {t1, 0}, {t2, 0}}},
        {R"({__bucket="0.134217728"})", {{t0, 3}, {t1, 0}, {t2, 0}}},
        {R"({__bucket="4.294967296"})", {{t0, 0}, {t1, 2}, {t2, 0}}}}},
      {"{ } | histogram_over_time(span.http.status_code)",
       {{R"({__bucket="256.0"})", {{t0, 1}, {t1, 1}, {t2, 0}}},
        {R"({__bucket="512.0"})", {{t0, 1}, {t1, 0}, {t2, 0}}}}},
      {"{ } | count_over_time() by (resource.service.name) | topk(1)",
       {{R"({"resource.service.name"="api"})", {{t0, 3}}},
        {R"({"resource.service.name"="payments"})", {{t1, 2}}},
        {R"({"resource.service.name"="worker"})", {{t2, 1}}}}},
      // Zeros count: at each step the 3 lowest leave out the one busy series.
      {"{ } | count_over_time() by (resource.service.name) | bottomk(3)",
       {{R"({"resource.service.name"="api"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="frontend"})", {{t0, 2}, {t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="payments"})", {{t0, 0}, {t2, 0}}},
        {R"({"resource.service.name"="worker"})", {{t0, 0}, {t1, 0}}}}},
      {"{ kind = server } | count_over_time() by (span.http.status_code, kind)",
       {{R"x({kind="server", "span.http.status_code"="int(200)"})x", {{t0, 1}, {t1, 0}, {t2, 0}}},
        {R"x({kind="server", "span.http.status_code"="int(500)"})x", {{t0, 1}, {t1, 0}, {t2, 0}}},
        {R"x({kind="server", "span.http.status_code"="int(201)"})x", {{t0, 0}, {t1, 1}, {t2, 0}}}}},
      {R"({ resource.service.name = "api" } > { } | count_over_time())",
       {{R"({__name__="count_over_time"})", {{t0, 2}, {t1, 0}, {t2, 0}}}}},
      // Filters on the metrics' data points (documented from Tempo 3.0): the points
      // meeting the comparison stay; series left empty disappear.
      {"{ } | count_over_time() by (resource.service.name) > 2",
       {{R"({"resource.service.name"="api"})", {{t0, 3}}}}},
      {"{ } | count_over_time() by (resource.service.name) >= 2",
       {{R"({"resource.service.name"="api"})", {{t0, 3}}},
        {R"({"resource.service.name"="frontend"})", {{t0, 2}}},
        {R"({"resource.service.name"="payments"})", {{t1, 2}}}}},
      {"{ } | count_over_time() by (resource.service.name) = 2",
       {{R"({"resource.service.name"="frontend"})", {{t0, 2}}},
        {R"({"resource.service.name"="payments"})", {{t1, 2}}}}},
      {"{ } | count_over_time() by (resource.service.name) != 2",
       {{R"({"resource.service.name"="api"})", {{t0, 3}, {t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="frontend"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="payments"})", {{t0, 0}, {t2, 0}}},
        {R"({"resource.service.name"="worker"})", {{t0, 0}, {t1, 0}, {t2, 1}}}}},
      {"{ } | count_over_time() by (resource.service.name) < 2",
       {{R"({"resource.service.name"="api"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="frontend"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="payments"})", {{t0, 0}, {t2, 0}}},
        {R"({"resource.service.name"="worker"})", {{t0, 0}, {t1, 0}, {t2, 1}}}}},
      {"{ } | count_over_time() by (resource.service.name) <= 0",
       {{R"({"resource.service.name"="api"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="frontend"})", {{t1, 0}, {t2, 0}}},
        {R"({"resource.service.name"="payments"})", {{t0, 0}, {t2, 0}}},
        {R"({"resource.service.name"="worker"})", {{t0, 0}, {t1, 0}}}}},
      // A duration threshold is in seconds, as the values are.
      {"{ } | max_over_time(duration) > 2.5s", {{R"({__name__="max_over_time"})", {{t1, 3}}}}},
      {"{ } | max_over_time(duration) > -1",
       {{R"({__name__="max_over_time"})", {{t0, 0.1}, {t1, 3}, {t2, 0.01}}}}},
      // After topk, in the written order.
      {"{ } | count_over_time() by (resource.service.name) | topk(1) > 2",
       {{R"({"resource.service.name"="api"})", {{t0, 3}}}}},
      {"{ } | count_over_time() by (resource.service.name) < 3 | topk(1)",
       {{R"({"resource.service.name"="frontend"})", {{t0, 2}}},
        {R"({"resource.service.name"="payments"})", {{t1, 2}}},
        {R"({"resource.service.name"="worker"})", {{t2, 1}}}}},
  };
  for (const Case& c : cases) {
    auto got = Range(c.q);
    ASSERT_TRUE(got.ok()) << c.q << ": " << got.status().ToString();
    ExpectSeries(*got, c.want, c.q);
  }
}

TEST(TraceQLMetrics, StepAlignmentAndDefaults) {
  // Start inside the first minute: aligned down to the step.
  auto got = Range("{ } | count_over_time()", 60 * kSec, kT0 + 30 * kSec, kT0 + 180 * kSec);
  ASSERT_TRUE(got.ok());
  ExpectSeries(
      *got,
      {{R"({__name__="count_over_time"})", {{kT0Ms, 5}, {kT0Ms + kMin, 2}, {kT0Ms + 2 * kMin, 1}}}},
      "aligned");
  // A 3 minute step: kT0 is not a multiple of 180 s, so the first step
  // starts a minute earlier and kT3 (at +121 s) falls into the second.
  got = Range("{ } | count_over_time()", 180 * kSec);
  ASSERT_TRUE(got.ok());
  ExpectSeries(*got,
               {{R"({__name__="count_over_time"})", {{kT0Ms - kMin, 7}, {kT0Ms + 2 * kMin, 1}}}},
               "3m step");
  // Default step (0) is accepted.
  got = Range("{ } | count_over_time()", 0);
  ASSERT_TRUE(got.ok());
  double total = 0;
  for (const auto& [ts, v] : got->begin()->second) total += v;
  EXPECT_EQ(total, 8);
}

TEST(TraceQLMetrics, InstantLabelsExemplarsAndErrors) {
  auto src = DefaultSource();
  MetricsRequest req;
  req.query = "{ } | count_over_time() by (resource.service.name)";
  req.start_unix_nano = kT0;
  req.end_unix_nano = kT0 + 180 * kSec;
  auto inst = MetricsQueryInstant(src, req);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  std::map<std::string, double> values;
  for (const auto& s : inst->series) {
    ASSERT_EQ(s.labels.size(), 1u);
    EXPECT_EQ(s.labels[0].key, "resource.service.name");
    values[LabelValue(s.labels[0].value)] = s.value;
  }
  EXPECT_EQ(values, (std::map<std::string, double>{
                        {"api", 3}, {"frontend", 2}, {"payments", 2}, {"worker", 1}}));

  req.query = "{ } | rate()";
  inst = MetricsQueryInstant(src, req);
  ASSERT_TRUE(inst.ok());
  ASSERT_EQ(inst->series.size(), 1u);
  EXPECT_NEAR(inst->series[0].value, 8.0 / 180, 1e-12);
  EXPECT_EQ(inst->series[0].labels[0].key, "__name__");
  EXPECT_EQ(inst->metrics.inspected_traces, 3u);

  req.query = "{ } | quantile_over_time(duration, 0.5)";
  req.step_nano = 60 * kSec;
  req.exemplars = 2;
  auto range = MetricsQueryRange(src, req);
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->series.size(), 1u);
  ASSERT_EQ(range->series[0].labels.size(), 1u);
  EXPECT_EQ(range->series[0].labels[0].key, "p");
  EXPECT_EQ(std::get<double>(range->series[0].labels[0].value.v), 0.5);
  ASSERT_EQ(range->series[0].exemplars.size(), 2u);
  EXPECT_EQ(range->series[0].exemplars[0].labels[0].key, "trace:id");
  // Tempo's exemplars hint: off, or on without the request asking.
  req.query = "{ } | quantile_over_time(duration, 0.5) with(exemplars=false)";
  range = MetricsQueryRange(src, req);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->series[0].exemplars.empty());
  req.query = "{ } | quantile_over_time(duration, 0.5) with(exemplars=true)";
  req.exemplars = 0;
  range = MetricsQueryRange(src, req);
  ASSERT_TRUE(range.ok());
  // One per trace (Tempo samples one span of a trace), under the default 100.
  EXPECT_EQ(range->series[0].exemplars.size(), 3u);

  req.query = "{ } | count() > 1";
  EXPECT_EQ(MetricsQueryRange(src, req).status().code(), StatusCode::kInvalidArgument);
  req.query = "{ } | rate(";
  EXPECT_EQ(MetricsQueryRange(src, req).status().code(), StatusCode::kInvalidArgument);
  req.query = "{ } | rate()";
  req.end_unix_nano = req.start_unix_nano;
  EXPECT_EQ(MetricsQueryRange(src, req).status().code(), StatusCode::kInvalidArgument);
  req.end_unix_nano = req.start_unix_nano + 1000 * 3600 * kSec;
  req.step_nano = 1'000'000;
  EXPECT_EQ(MetricsQueryRange(src, req).status().code(), StatusCode::kInvalidArgument);
}

// compare(): Tempo's baseline/selection split by every attribute value,
// top N values per attribute, totals with a nil value, zeros kept.
TEST(TraceQLMetrics, CompareSplitsSelectionFromBaseline) {
  const int64_t t0 = kT0Ms, t1 = kT0Ms + kMin, t2 = kT0Ms + 2 * kMin;
  auto got = Range("{ } | compare({ status = error })");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto expect = [&](const std::string& labels, std::vector<std::pair<int64_t, double>> want) {
    auto it = got->find(labels);
    ASSERT_NE(it, got->end()) << labels;
    EXPECT_EQ(it->second, want) << labels;
  };
  expect(R"({__meta_type="selection", name="handle"})", {{t0, 1}, {t1, 0}, {t2, 0}});
  expect(R"({__meta_type="selection", status="error"})", {{t0, 1}, {t1, 0}, {t2, 0}});
  expect(R"x({__meta_type="selection", "span.http.status_code"="int(500)"})x",
         {{t0, 1}, {t1, 0}, {t2, 0}});
  expect(R"({__meta_type="selection_total", name="<nil>"})", {{t0, 1}, {t1, 0}, {t2, 0}});
  expect(R"({__meta_type="baseline_total", name="<nil>"})", {{t0, 4}, {t1, 2}, {t2, 1}});
  expect(R"({__meta_type="baseline", name="orphan"})", {{t0, 0}, {t1, 0}, {t2, 1}});
  EXPECT_EQ(got->count(R"({__meta_type="baseline", status="error"})"), 0u);
  EXPECT_EQ(got->count(R"({__meta_type="selection", name="GET /"})"), 0u);

  // Top 1 value per attribute: 7 span names in the baseline, one kept.
  auto top1 = Range("{ } | compare({ status = error }, 1)");
  ASSERT_TRUE(top1.ok());
  int names = 0;
  for (const auto& [labels, samples] : *top1) {
    names += labels.find(R"(__meta_type="baseline", name=")") != std::string::npos;
  }
  EXPECT_EQ(names, 1);

  // A selection window: only spans starting in [t1, t2) can be selected.
  auto windowed = Range("{ } | compare({ }, 10, " + std::to_string(kT0 + 60 * kSec) + ", " +
                        std::to_string(kT0 + 120 * kSec) + ")");
  ASSERT_TRUE(windowed.ok());
  auto sel = windowed->find(R"({__meta_type="selection_total", name="<nil>"})");
  ASSERT_NE(sel, windowed->end());
  EXPECT_EQ(sel->second, (std::vector<std::pair<int64_t, double>>{{t0, 0}, {t1, 2}, {t2, 0}}));

  for (const char* bad : {"{ } | compare({ }, 0)", "{ } | compare({ }, 5, 10)",
                          "{ } | compare({ }, 5, 20, 10)", "{ } | compare({ }) by (name)",
                          "{ } | compare(duration)"}) {
    EXPECT_FALSE(Range(bad).ok()) << bad;
  }
}

// ------------------------------------------------------------------ tags

std::vector<std::string> Values(const std::string& tag, const std::string& q = "",
                                std::vector<std::string>* types = nullptr) {
  auto src = DefaultSource();
  TagValuesRequest req;
  req.tag = tag;
  req.query = q;
  auto r = TagValues(src, req);
  EXPECT_TRUE(r.ok()) << tag << ": " << r.status().ToString();
  std::vector<std::string> out;
  if (!r.ok()) return out;
  for (const auto& v : *r) {
    out.push_back(v.value);
    if (types) types->push_back(v.type);
  }
  return out;
}

using V = std::vector<std::string>;

TEST(TraceQLTags, Names) {
  auto src = DefaultSource();
  TagNamesRequest req;
  auto r = TagNames(src, req);
  ASSERT_TRUE(r.ok());
  std::map<std::string, V> got;
  std::vector<std::string> order;
  for (const auto& s : *r) {
    got[s.name] = s.tags;
    order.push_back(s.name);
  }
  EXPECT_EQ(order, (V{"resource", "span", "event", "link", "instrumentation", "intrinsic"}));
  EXPECT_EQ(got["resource"], (V{"deployment.environment", "service.name"}));
  EXPECT_EQ(got["span"], (V{"amount", "db.system", "http.method", "http.status_code",
                            "peer.service", "queue", "retry", "tags", "user name"}));
  EXPECT_EQ(got["event"], (V{"exception.type"}));
  EXPECT_EQ(got["link"], (V{"link.kind"}));
  EXPECT_EQ(got["instrumentation"], (V{"lib.tag"}));
  EXPECT_THAT(got["intrinsic"],
              ::testing::IsSupersetOf({"duration", "name", "status", "kind", "span:id",
                                       "trace:rootService", "event:name", "link:traceID"}));

  req.scope = "span";
  req.query = R"({ resource.service.name = "payments" })";
  r = TagNames(src, req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].tags, (V{"amount", "http.method", "http.status_code", "retry", "user name"}));

  req = TagNamesRequest();
  req.scope = "intrinsic";
  r = TagNames(src, req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "intrinsic");

  req.scope = "resource";
  req.limit = 1;
  r = TagNames(src, req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].tags.size(), 1u);

  req.scope = "bogus";
  EXPECT_EQ(TagNames(src, req).status().code(), StatusCode::kInvalidArgument);
}

TEST(TraceQLTags, TypedValues) {
  std::vector<std::string> types;
  EXPECT_EQ(Values("resource.service.name", "", &types),
            (V{"api", "frontend", "payments", "worker"}));
  EXPECT_EQ(types, (V{"string", "string", "string", "string"}));
  types.clear();
  EXPECT_EQ(Values("span.http.status_code", "", &types), (V{"200", "201", "500"}));
  EXPECT_EQ(types, (V{"int", "int", "int"}));
  types.clear();
  EXPECT_EQ(Values("status", "", &types), (V{"error", "ok", "unset"}));
  EXPECT_EQ(types, (V{"keyword", "keyword", "keyword"}));
  EXPECT_EQ(Values("kind"), (V{"client", "consumer", "internal", "server"}));
  EXPECT_EQ(Values(".tags"), (V{"x", "y"}));
  types.clear();
  EXPECT_EQ(Values("span.amount", "", &types), (V{"12.5"}));
  EXPECT_EQ(types, (V{"float"}));
  types.clear();
  EXPECT_EQ(Values("span.retry", "", &types), (V{"true"}));
  EXPECT_EQ(types, (V{"bool"}));
  EXPECT_EQ(Values("name", R"({ resource.service.name = "api" })"),
            (V{"cache get", "db query", "handle"}));
  types.clear();
  EXPECT_EQ(Values("duration", R"({ name = "charge" })", &types), (V{"2.5s"}));
  EXPECT_EQ(types, (V{"duration"}));
  EXPECT_EQ(Values("event:name"), (V{"exception"}));
  EXPECT_EQ(Values(".service.name"), (V{"api", "frontend", "payments", "worker"}));
  EXPECT_EQ(Values("span.\"user name\""), (V{"bob"}));
  EXPECT_EQ(Values("resource.service.name", R"({ span.http.method = "POST" })"), (V{"payments"}));
  // A query still being typed is ignored rather than failing the listing.
  EXPECT_EQ(Values("resource.service.name", R"({ resource.service.name = "api" && })").size(), 4u);

  auto src = DefaultSource();
  TagValuesRequest req;
  req.tag = "foo";
  EXPECT_EQ(TagValues(src, req).status().code(), StatusCode::kInvalidArgument);
  req.tag = "resource.service.name";
  req.limit = 2;
  auto r = TagValues(src, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

}  // namespace
}  // namespace sightline::traces::traceql
