// OTLP → Prometheus translation: golden series names, labels and values for
// every OTLP metric kind, through OtlpMetricsReceiver::Export and the
// recording fake store.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>

#include "metrics/ingest/fake_appendable.h"
#include "metrics/ingest/otlp_metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

namespace col = opentelemetry::proto::collector::metrics::v1;
namespace pm = opentelemetry::proto::metrics::v1;
namespace pc = opentelemetry::proto::common::v1;
using metrics::testing::FakeAppendable;
using metrics::testing::HeadLikeHook;

constexpr uint64_t kT = 1'700'000'000'123'456'789ull;  // ns
constexpr int64_t kTms = 1'700'000'000'123;

void Attr(google::protobuf::RepeatedPtrField<pc::KeyValue>* attrs, const std::string& k,
          const std::string& v) {
  pc::KeyValue* kv = attrs->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

class OtlpTranslatorTest : public ::testing::Test {
 protected:
  OtlpTranslatorTest() {
    options_.registry = &registry_;
    options_.now_ms = [] { return kTms; };
    pm::ResourceMetrics* rm = req_.add_resource_metrics();
    auto* ra = rm->mutable_resource()->mutable_attributes();
    Attr(ra, "service.name", "checkout");
    Attr(ra, "service.namespace", "shop");
    Attr(ra, "service.instance.id", "pod-1");
    Attr(ra, "host.name", "node-7");
    Attr(ra, "k8s.pod.name", "checkout-5d8f");
    pm::ScopeMetrics* sm = rm->add_scope_metrics();
    sm->mutable_scope()->set_name("io.opentelemetry.runtime");
    sm->mutable_scope()->set_version("1.2.3");
    scope_ = sm;
  }

  pm::Metric* AddMetric(const std::string& name, const std::string& unit) {
    pm::Metric* m = scope_->add_metrics();
    m->set_name(name);
    m->set_unit(unit);
    m->set_description("help for " + name);
    return m;
  }

  Status Export() {
    OtlpMetricsReceiver r(&db_, options_);
    resp_.Clear();
    return r.Export("anonymous", req_, &resp_);
  }

  // v of the one sample of `series`, or NaN when absent or repeated.
  double Value(const std::string& series) {
    auto s = db_.SamplesOf(series);
    if (s.size() != 1) {
      ADD_FAILURE() << "series " << series << " has " << s.size() << " samples";
      return std::nan("");
    }
    EXPECT_EQ(s[0].t, kTms);
    return s[0].v;
  }

  telemetry::Registry registry_;
  IngestOptions options_;
  FakeAppendable db_;
  col::ExportMetricsServiceRequest req_;
  col::ExportMetricsServiceResponse resp_;
  pm::ScopeMetrics* scope_;
};

constexpr char kBase[] = R"(instance="pod-1", job="shop/checkout")";

TEST_F(OtlpTranslatorTest, GaugeSumAndTargetInfo) {
  pm::NumberDataPoint* g =
      AddMetric("process.memory.usage", "By")->mutable_gauge()->add_data_points();
  g->set_time_unix_nano(kT);
  g->set_as_int(4096);
  Attr(g->mutable_attributes(), "state", "used");

  pm::Metric* c = AddMetric("http.server.requests", "{request}");
  c->mutable_sum()->set_is_monotonic(true);
  c->mutable_sum()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::NumberDataPoint* cp = c->mutable_sum()->add_data_points();
  cp->set_time_unix_nano(kT);
  cp->set_start_time_unix_nano(kT - 1000);
  cp->set_as_double(42);
  Attr(cp->mutable_attributes(), "http.route", "/cart");
  pm::Exemplar* ex = cp->add_exemplars();
  ex->set_as_double(1);
  ex->set_time_unix_nano(kT - 5'000'000);
  ex->set_trace_id(
      std::string("\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36", 16));
  ex->set_span_id(std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
  Attr(ex->mutable_filtered_attributes(), "user", "u1");

  pm::Metric* ud = AddMetric("queue.size", "{item}");
  ud->mutable_sum()->set_is_monotonic(false);
  ud->mutable_sum()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::NumberDataPoint* up = ud->mutable_sum()->add_data_points();
  up->set_time_unix_nano(kT);
  up->set_as_int(-3);

  pm::NumberDataPoint* r = AddMetric("cpu.utilization", "1")->mutable_gauge()->add_data_points();
  r->set_time_unix_nano(kT);
  r->set_as_double(0.25);

  ASSERT_TRUE(Export().ok());
  EXPECT_FALSE(resp_.has_partial_success()) << resp_.DebugString();

  EXPECT_EQ(
      db_.SeriesStrings(),
      (std::vector<std::string>{
          R"({__name__="cpu_utilization_ratio", instance="pod-1", job="shop/checkout"})",
          R"({__name__="http_server_requests_total", http_route="/cart", instance="pod-1", job="shop/checkout"})",
          R"({__name__="process_memory_usage_bytes", instance="pod-1", job="shop/checkout", state="used"})",
          R"({__name__="queue_size", instance="pod-1", job="shop/checkout"})",
          R"({__name__="target_info", host_name="node-7", instance="pod-1", job="shop/checkout", k8s_pod_name="checkout-5d8f"})",
      }));
  EXPECT_EQ(
      Value(
          R"({__name__="process_memory_usage_bytes", instance="pod-1", job="shop/checkout", state="used"})"),
      4096);
  EXPECT_EQ(Value(R"({__name__="queue_size", instance="pod-1", job="shop/checkout"})"), -3);
  EXPECT_EQ(
      Value(
          R"({__name__="target_info", host_name="node-7", instance="pod-1", job="shop/checkout", k8s_pod_name="checkout-5d8f"})"),
      1);

  auto exemplars = db_.exemplars();
  ASSERT_EQ(exemplars.size(), 1u);
  EXPECT_EQ(exemplars[0].series.Get("__name__"), "http_server_requests_total");
  EXPECT_EQ(
      exemplars[0].exemplar.labels.ToString(),
      R"({span_id="00f067aa0ba902b7", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", user="u1"})");
  EXPECT_EQ(exemplars[0].exemplar.timestamp_ms, kTms - 5);

  auto md = db_.metadata();
  EXPECT_EQ(md["http_server_requests_total"].type, "counter");
  EXPECT_EQ(md["http_server_requests_total"].help, "help for http.server.requests");
  EXPECT_EQ(md["http_server_requests_total"].unit, "{request}");
  EXPECT_EQ(md["queue_size"].type, "gauge");
  EXPECT_EQ(md["process_memory_usage_bytes"].type, "gauge");
}

TEST_F(OtlpTranslatorTest, HistogramBucketsAndExemplar) {
  pm::Metric* m = AddMetric("http.server.duration", "s");
  m->mutable_histogram()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::HistogramDataPoint* p = m->mutable_histogram()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_count(6);
  p->set_sum(4.5);
  for (double b : {0.1, 1.0}) p->add_explicit_bounds(b);
  for (uint64_t c : {1, 2, 3}) p->add_bucket_counts(c);
  pm::Exemplar* ex = p->add_exemplars();
  ex->set_as_double(0.5);
  ex->set_time_unix_nano(kT);
  ex->set_trace_id(std::string(15, '\x01') + "\x02");

  ASSERT_TRUE(Export().ok());
  const std::string base = kBase;
  EXPECT_EQ(
      Value(
          R"({__name__="http_server_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="0.1"})"),
      1);
  EXPECT_EQ(
      Value(
          R"({__name__="http_server_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="1"})"),
      3);
  EXPECT_EQ(
      Value(
          R"({__name__="http_server_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="+Inf"})"),
      6);
  EXPECT_EQ(Value("{__name__=\"http_server_duration_seconds_sum\", " + base + "}"), 4.5);
  EXPECT_EQ(Value("{__name__=\"http_server_duration_seconds_count\", " + base + "}"), 6);
  EXPECT_EQ(db_.metadata()["http_server_duration_seconds"].type, "histogram");

  auto exemplars = db_.exemplars();
  ASSERT_EQ(exemplars.size(), 1u);
  EXPECT_EQ(exemplars[0].series.Get("le"), "1");  // first bucket with bound >= 0.5
  EXPECT_EQ(exemplars[0].exemplar.labels.Get("trace_id"), "01010101010101010101010101010102");
}

TEST_F(OtlpTranslatorTest, HistogramWithoutSumOrBuckets) {
  pm::Metric* m = AddMetric("latency", "ms");
  m->mutable_histogram()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::HistogramDataPoint* p = m->mutable_histogram()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_count(2);
  ASSERT_TRUE(Export().ok());
  EXPECT_EQ(
      db_.SeriesStrings(),
      (std::vector<std::string>{
          "{__name__=\"latency_milliseconds_bucket\", " + std::string(kBase) + ", le=\"+Inf\"}",
          "{__name__=\"latency_milliseconds_count\", " + std::string(kBase) + "}",
          R"({__name__="target_info", host_name="node-7", instance="pod-1", job="shop/checkout", k8s_pod_name="checkout-5d8f"})",
      }));
}

TEST_F(OtlpTranslatorTest, SummaryQuantiles) {
  pm::SummaryDataPoint* p = AddMetric("rpc.latency", "ms")->mutable_summary()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_count(10);
  p->set_sum(123.5);
  for (auto [q, v] : {std::pair{0.5, 10.0}, std::pair{0.99, 40.0}}) {
    auto* qv = p->add_quantile_values();
    qv->set_quantile(q);
    qv->set_value(v);
  }
  ASSERT_TRUE(Export().ok());
  const std::string base = kBase;
  EXPECT_EQ(Value("{__name__=\"rpc_latency_milliseconds\", " + base + ", quantile=\"0.5\"}"), 10);
  EXPECT_EQ(Value("{__name__=\"rpc_latency_milliseconds\", " + base + ", quantile=\"0.99\"}"), 40);
  EXPECT_EQ(Value("{__name__=\"rpc_latency_milliseconds_sum\", " + base + "}"), 123.5);
  EXPECT_EQ(Value("{__name__=\"rpc_latency_milliseconds_count\", " + base + "}"), 10);
  EXPECT_EQ(db_.metadata()["rpc_latency_milliseconds"].type, "summary");
}

TEST_F(OtlpTranslatorTest, ExponentialHistogramBecomesClassicBuckets) {
  pm::Metric* m = AddMetric("request.size", "By");
  m->mutable_exponential_histogram()->set_aggregation_temporality(
      pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::ExponentialHistogramDataPoint* p = m->mutable_exponential_histogram()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_scale(1);  // base √2: bucket i is (2^(i/2), 2^((i+1)/2)]
  p->set_count(13);
  p->set_sum(30);
  p->set_zero_count(1);
  p->mutable_positive()->set_offset(0);
  for (uint64_t c : {1, 2, 3, 4}) p->mutable_positive()->add_bucket_counts(c);
  p->mutable_negative()->set_offset(1);
  p->mutable_negative()->add_bucket_counts(2);  // [-2, -√2) → at scale 0: index 0, [-2,-1)

  ASSERT_TRUE(Export().ok());
  auto bucket = [](const std::string& le) {
    return "{__name__=\"request_size_bytes_bucket\", " + std::string(kBase) + ", le=\"" + le +
           "\"}";
  };
  // Scale 1 → 0 (default max scale): positive indices 0,1 → 0 and 2,3 → 1.
  EXPECT_EQ(Value(bucket("-1")), 2);     // negative bucket [-2, -1)
  EXPECT_EQ(Value(bucket("0")), 3);      // + zero bucket
  EXPECT_EQ(Value(bucket("2")), 6);      // (1, 2]: 1 + 2
  EXPECT_EQ(Value(bucket("4")), 13);     // (2, 4]: 3 + 4
  EXPECT_EQ(Value(bucket("+Inf")), 13);  // count
  EXPECT_EQ(Value("{__name__=\"request_size_bytes_count\", " + std::string(kBase) + "}"), 13);
  EXPECT_EQ(Value("{__name__=\"request_size_bytes_sum\", " + std::string(kBase) + "}"), 30);
}

TEST_F(OtlpTranslatorTest, ExponentialHistogramKeepsFinerScaleWhenAllowed) {
  options_.otlp.exp_histogram_max_scale = 1;
  pm::Metric* m = AddMetric("x", "");
  m->mutable_exponential_histogram()->set_aggregation_temporality(
      pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pm::ExponentialHistogramDataPoint* p = m->mutable_exponential_histogram()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_scale(1);
  p->set_count(3);
  p->mutable_positive()->set_offset(1);
  for (uint64_t c : {1, 2}) p->mutable_positive()->add_bucket_counts(c);
  ASSERT_TRUE(Export().ok());
  EXPECT_EQ(Value("{__name__=\"x_bucket\", " + std::string(kBase) + ", le=\"2\"}"), 1);
  EXPECT_EQ(Value("{__name__=\"x_bucket\", " + std::string(kBase) + ", le=\"2.8284271247461903\"}"),
            3);
}

TEST_F(OtlpTranslatorTest, DeltaTemporalityIsRejectedAsPartialSuccess) {
  pm::Metric* m = AddMetric("requests", "");
  m->mutable_sum()->set_is_monotonic(true);
  m->mutable_sum()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_DELTA);
  for (int i = 0; i < 2; ++i) {
    pm::NumberDataPoint* p = m->mutable_sum()->add_data_points();
    p->set_time_unix_nano(kT);
    p->set_as_int(1);
    Attr(p->mutable_attributes(), "i", std::to_string(i));
  }
  pm::NumberDataPoint* g = AddMetric("ok", "")->mutable_gauge()->add_data_points();
  g->set_time_unix_nano(kT);
  g->set_as_int(1);

  ASSERT_TRUE(Export().ok());
  ASSERT_TRUE(resp_.has_partial_success());
  EXPECT_EQ(resp_.partial_success().rejected_data_points(), 2);
  EXPECT_NE(resp_.partial_success().error_message().find(
                "invalid temporality and type combination for metric \"requests\""),
            std::string::npos);
  EXPECT_EQ(db_.SamplesOf("{__name__=\"ok\", " + std::string(kBase) + "}").size(), 1u);
  EXPECT_TRUE(db_.SamplesOf("{__name__=\"requests_total\", " + std::string(kBase) + "}").empty());
}

TEST_F(OtlpTranslatorTest, StoreRejectionsCountDataPoints) {
  db_.set_sample_hook(HeadLikeHook());
  pm::Metric* m = AddMetric("temperature", "Cel");
  for (uint64_t t : {kT, kT - 1'000'000'000, kT + 1'000'000'000}) {
    pm::NumberDataPoint* p = m->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(t);
    p->set_as_double(20);
  }
  ASSERT_TRUE(Export().ok());
  ASSERT_TRUE(resp_.has_partial_success());
  EXPECT_EQ(resp_.partial_success().rejected_data_points(), 1);
  EXPECT_NE(resp_.partial_success().error_message().find("out of order sample for series"),
            std::string::npos);
}

TEST_F(OtlpTranslatorTest, NoRecordedValueIsAStalenessMarker) {
  pm::NumberDataPoint* p = AddMetric("g", "")->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_as_double(5);
  p->set_flags(pm::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK);
  ASSERT_TRUE(Export().ok());
  auto s = db_.SamplesOf("{__name__=\"g\", " + std::string(kBase) + "}");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(std::bit_cast<uint64_t>(s[0].v), kStaleNaNBits);
}

TEST_F(OtlpTranslatorTest, AttributeValuesAndNameCollisions) {
  pm::NumberDataPoint* p = AddMetric("g", "")->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_as_double(1);
  auto* attrs = p->mutable_attributes();
  Attr(attrs, "a_b", "second");
  Attr(attrs, "a.b", "first");  // sorts before a_b, same label name
  Attr(attrs, "1st", "digit");
  pc::KeyValue* kv = attrs->Add();
  kv->set_key("ratio");
  kv->mutable_value()->set_double_value(1e-7);
  kv = attrs->Add();
  kv->set_key("flag");
  kv->mutable_value()->set_bool_value(true);
  kv = attrs->Add();
  kv->set_key("list");
  auto* arr = kv->mutable_value()->mutable_array_value();
  arr->add_values()->set_int_value(1);
  arr->add_values()->set_string_value("<x>");
  kv = attrs->Add();
  kv->set_key("job");  // job from service.name wins
  kv->mutable_value()->set_string_value("ignored");

  ASSERT_TRUE(Export().ok());
  EXPECT_EQ(
      db_.SeriesStrings()[0],
      R"({__name__="g", a_b="first;second", flag="true", instance="pod-1", job="shop/checkout", key_1st="digit", list="[1,\"\\u003cx\\u003e\"]", ratio="1e-7"})");
}

TEST_F(OtlpTranslatorTest, PromotedResourceAttributesAndScope) {
  options_.otlp.promote_resource_attributes = {"k8s.pod.name"};
  options_.otlp.promote_scope_metadata = true;
  pm::NumberDataPoint* p = AddMetric("g", "")->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_as_double(1);
  ASSERT_TRUE(Export().ok());
  EXPECT_EQ(
      db_.SeriesStrings()[0],
      R"({__name__="g", instance="pod-1", job="shop/checkout", k8s_pod_name="checkout-5d8f", otel_scope_name="io.opentelemetry.runtime", otel_scope_version="1.2.3"})");
}

TEST_F(OtlpTranslatorTest, NoTranslationKeepsNames) {
  options_.otlp.translation_strategy = TranslationStrategy::kNoTranslation;
  options_.otlp.disable_target_info = true;
  pm::NumberDataPoint* p =
      AddMetric("http.server.active", "{request}")->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(kT);
  p->set_as_double(1);
  Attr(p->mutable_attributes(), "http.method", "GET");
  ASSERT_TRUE(Export().ok());
  EXPECT_EQ(
      db_.SeriesStrings(),
      (std::vector<std::string>{
          R"({__name__="http.server.active", http.method="GET", instance="pod-1", job="shop/checkout"})"}));
}

TEST_F(OtlpTranslatorTest, TargetInfoOnlyWithExtraAttributesAndCoversTheTimeSpan) {
  // Only identifying attributes: no target_info.
  req_.mutable_resource_metrics(0)->mutable_resource()->mutable_attributes()->DeleteSubrange(3, 2);
  pm::Metric* m = AddMetric("g", "");
  for (uint64_t t : {kT, kT + uint64_t{600'000'000'000}}) {
    pm::NumberDataPoint* p = m->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(t);
    p->set_as_double(1);
  }
  ASSERT_TRUE(Export().ok());
  for (const std::string& s : db_.SeriesStrings())
    EXPECT_EQ(s.find("target_info"), std::string::npos);

  Attr(req_.mutable_resource_metrics(0)->mutable_resource()->mutable_attributes(), "host.name",
       "h");
  FakeAppendable fresh;
  OtlpMetricsReceiver r(&fresh, options_);
  ASSERT_TRUE(r.Export("anonymous", req_, &resp_).ok());
  auto ti = fresh.SamplesOf(
      R"({__name__="target_info", host_name="h", instance="pod-1", job="shop/checkout"})");
  // Every lookback_delta/2 (2.5 min) over the 10 minutes, plus the end.
  ASSERT_EQ(ti.size(), 5u);
  EXPECT_EQ(ti[0].t, kTms);
  EXPECT_EQ(ti[1].t, kTms + 150'000);
  EXPECT_EQ(ti[4].t, kTms + 600'000);
}

TEST_F(OtlpTranslatorTest, StorageFailureIsAnError) {
  db_.set_commit_error(UnavailableError("disk"));
  pm::NumberDataPoint* p = AddMetric("g", "")->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(kT);
  EXPECT_EQ(Export().code(), StatusCode::kUnavailable);
  db_.set_commit_error(Status::Ok());
  db_.set_sample_hook([](const Labels&, int64_t, double) {
    return ResourceExhaustedError("ingestion rate limit exceeded");
  });
  EXPECT_EQ(Export().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace sightline::metrics::ingest
