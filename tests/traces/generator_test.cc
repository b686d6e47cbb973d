// Metrics from traces: span metrics (calls, latency histogram with a
// trace_id exemplar) and service-graph edges paired across pushes.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "metrics/storage/storage.h"
#include "traces/generator/metrics_generator.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "traces/ingest/ids.h"
#include "traces/ingest/otlp_wire.h"
#include "traces/test_traces.h"

namespace sightline::traces::generator {
namespace {

using traces::testing::MakeTrace;

class Recording : public metrics::Appendable {
 public:
  class App : public metrics::Appender {
   public:
    explicit App(Recording* r) : r_(r) {}
    Result<uint64_t> Append(uint64_t, const metrics::Labels& l, int64_t, double v) override {
      batch_[l.ToString()] = v;
      return batch_.size();
    }
    Status AppendExemplar(uint64_t, const metrics::Labels& l, const metrics::Exemplar& e) override {
      ex_[l.ToString()] = std::string(e.labels.Get("trace_id"));
      return Status::Ok();
    }
    Status UpdateMetadata(const std::string&, const metrics::MetricMetadata&) override {
      return Status::Ok();
    }
    Status Commit() override {
      std::lock_guard<std::mutex> l(r_->mu);
      for (auto& [k, v] : batch_) r_->values[k] = v;
      for (auto& [k, v] : ex_) r_->exemplars[k] = v;
      return Status::Ok();
    }
    void Rollback() override {}

   private:
    Recording* r_;
    std::map<std::string, double> batch_;
    std::map<std::string, std::string> ex_;
  };
  std::unique_ptr<metrics::Appender> NewAppender(std::string_view) override {
    return std::make_unique<App>(this);
  }
  double Get(const std::string& k) {
    std::lock_guard<std::mutex> l(mu);
    auto it = values.find(k);
    if (it == values.end()) {
      ADD_FAILURE() << "missing " << k;
      return -1;
    }
    return it->second;
  }
  std::mutex mu;
  std::map<std::string, double> values;
  std::map<std::string, std::string> exemplars;
};

class NullSink : public ingest::TraceSink {
 public:
  Status Push(std::string_view, std::vector<Trace>, ingest::PushResult*) override {
    return Status::Ok();
  }
};

TEST(MetricsGeneratorTest, SpanMetricsAndServiceGraph) {
  NullSink sink;
  Recording rec;
  GeneratorOptions o;
  o.now_ms = [] { return int64_t{1'700'000'000'000}; };
  MetricsGenerator g(&sink, &rec, o);

  // Trace 1: frontend SERVER root, frontend CLIENT child (3 spans, kinds 2, 3, 3).
  Trace a = MakeTrace(1, 2, "frontend", 1'700'000'000'000'000'000ull, /*status=*/0, /*root_ms=*/5);
  // Trace 1, second push: the checkout SERVER span whose parent is a's client span.
  Trace b = MakeTrace(1, 1, "checkout");
  b.spans[0].span_id = traces::testing::SpanId(777);
  b.spans[0].parent_span_id = a.spans[1].span_id;
  b.spans[0].kind = 2;
  b.spans[0].status_code = 2;
  b.spans[0].end_unix_nano = b.spans[0].start_unix_nano + 300'000'000;  // 0.3 s
  ingest::PushResult pr;
  std::vector<Trace> v1{a}, v2{b};
  ASSERT_TRUE(g.Push("t", std::move(v1), &pr).ok());
  ASSERT_TRUE(g.Push("t", std::move(v2), &pr).ok());
  ASSERT_TRUE(g.Collect().ok());

  const std::string srv =
      "service=\"frontend\", span_kind=\"SPAN_KIND_SERVER\", span_name=\"GET /cart\", "
      "status_code=\"STATUS_CODE_UNSET\"";
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_calls_total\", " + srv + "}"), 1);
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_latency_count\", " + srv + "}"), 1);
  EXPECT_DOUBLE_EQ(rec.Get("{__name__=\"traces_spanmetrics_latency_sum\", " + srv + "}"), 0.005);
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_latency_bucket\", le=\"0.004\", " + srv + "}"), 0);
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_latency_bucket\", le=\"0.008\", " + srv + "}"), 1);
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_latency_bucket\", le=\"+Inf\", " + srv + "}"), 1);
  EXPECT_EQ(rec.exemplars["{__name__=\"traces_spanmetrics_latency_bucket\", le=\"0.008\", " + srv + "}"],
            IdToHex(a.trace_id));

  const std::string edge = "client=\"frontend\", server=\"checkout\"";
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_total\", " + edge + "}"), 1);
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_failed_total\", " + edge + "}"), 1);
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_server_seconds_bucket\", "
                    "client=\"frontend\", le=\"0.4\", server=\"checkout\"}"),
            1);
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_server_seconds_bucket\", "
                    "client=\"frontend\", le=\"0.2\", server=\"checkout\"}"),
            0);
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_client_seconds_count\", " + edge + "}"),
            1);
}

class FailingSink : public ingest::TraceSink {
 public:
  Status Push(std::string_view, std::vector<Trace>, ingest::PushResult*) override {
    return UnavailableError("wal down");
  }
};

// A push the next sink fails counts nothing (the client retries it), and
// leaves no zero series behind; a later successful push counts once.
TEST(MetricsGeneratorTest, FailedPushIsNotCounted) {
  Recording rec;
  GeneratorOptions o;
  o.now_ms = [] { return int64_t{1'700'000'000'000}; };
  FailingSink failing;
  MetricsGenerator bad(&failing, &rec, o);
  ingest::PushResult pr;
  std::vector<Trace> v{MakeTrace(1, 2, "frontend", 1'700'000'000'000'000'000ull)};
  EXPECT_FALSE(bad.Push("t", v, &pr).ok());
  ASSERT_TRUE(bad.Collect().ok());
  EXPECT_TRUE(rec.values.empty());

  NullSink sink;
  MetricsGenerator g(&sink, &rec, o);
  ASSERT_TRUE(g.Push("t", v, &pr).ok());
  ASSERT_TRUE(g.Push("t", v, &pr).ok());
  ASSERT_TRUE(g.Collect().ok());
  EXPECT_EQ(rec.Get("{__name__=\"traces_spanmetrics_calls_total\", service=\"frontend\", "
                    "span_kind=\"SPAN_KIND_SERVER\", span_name=\"GET /cart\", "
                    "status_code=\"STATUS_CODE_UNSET\"}"),
            2);
}

// The OTLP/protobuf path hands the generator encoded traces with span
// views (PushEncoded): it must count exactly what the model path counts,
// service-graph edges across pushes included.
TEST(MetricsGeneratorTest, EncodedPushCountsLikeModelPush) {
  namespace coltrace = opentelemetry::proto::collector::trace::v1;
  const uint64_t t0 = 1'700'000'000'000'000'000ull;
  std::vector<std::string> bodies;
  for (int r = 0; r < 3; ++r) {
    coltrace::ExportTraceServiceRequest req;
    for (int svc = 0; svc < 3; ++svc) {
      auto* rs = req.add_resource_spans();
      auto* kv = rs->mutable_resource()->add_attributes();
      kv->set_key("service.name");
      if (svc < 2) kv->mutable_value()->set_string_value("svc-" + std::to_string(svc));
      auto* ss = rs->add_scope_spans();
      for (int i = 0; i < 40; ++i) {
        auto* sp = ss->add_spans();
        // Trace i; svc-0's CLIENT spans are the parents of svc-1's SERVER
        // spans of the next request (paired across pushes).
        sp->set_trace_id(traces::testing::TraceId(i + 1));
        sp->set_span_id(traces::testing::SpanId(10000 * (r + 1) + 100 * svc + i + 1));
        if (svc == 1 && r > 0) sp->set_parent_span_id(traces::testing::SpanId(10000 * r + i + 1));
        sp->set_name(i % 2 ? "GET /a" : "db");
        sp->set_kind(static_cast<opentelemetry::proto::trace::v1::Span_SpanKind>(
            svc == 0 ? 3 : svc == 1 ? 2 : i % 6));
        sp->set_start_time_unix_nano(t0 + i * 1000);
        sp->set_end_time_unix_nano(t0 + i * 1000 + (i + 1) * 3'000'000);
        if (i % 7 == 0) sp->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
      }
    }
    bodies.push_back(req.SerializeAsString());
  }
  GeneratorOptions o;
  o.now_ms = [] { return int64_t{1'700'000'000'000}; };
  NullSink sink;
  Recording model_rec, enc_rec;
  MetricsGenerator model(&sink, &model_rec, o), enc(&sink, &enc_rec, o);
  for (const std::string& body : bodies) {
    coltrace::ExportTraceServiceRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(body));
    ingest::ConvertResult m = ingest::TracesFromOtlp(parsed, {});
    auto e = ingest::EncodeOtlpWire(body, {});
    ASSERT_TRUE(e.ok());
    ingest::PushResult pr;
    ASSERT_TRUE(model.Push("t", std::move(m.traces), &pr).ok());
    ASSERT_TRUE(enc.PushEncoded("t", e->traces, &pr).ok());
  }
  ASSERT_TRUE(model.Collect().ok());
  ASSERT_TRUE(enc.Collect().ok());
  EXPECT_FALSE(model_rec.values.empty());
  EXPECT_EQ(enc_rec.values, model_rec.values);
  EXPECT_EQ(enc_rec.exemplars, model_rec.exemplars);
  EXPECT_EQ(enc_rec.Get("{__name__=\"traces_service_graph_request_total\", client=\"svc-0\", "
                        "server=\"svc-1\"}"),
            80);
}

// Many unpaired halves at once (the pending-edge table grows, entries are
// removed from the middle of probe runs), paired in another order.
TEST(MetricsGeneratorTest, ManyPendingEdgesPairInAnyOrder) {
  NullSink sink;
  Recording rec;
  GeneratorOptions o;
  o.now_ms = [] { return int64_t{1'700'000'000'000}; };
  MetricsGenerator g(&sink, &rec, o);
  const int n = 5000;
  std::vector<Trace> clients, servers;
  for (int i = 0; i < n; ++i) {
    Trace c = MakeTrace(i + 1, 1, "front");
    c.spans[0].kind = 3;
    Trace s = MakeTrace(i + 1, 1, "back");
    s.spans[0].span_id = traces::testing::SpanId(900000 + i);
    s.spans[0].parent_span_id = c.spans[0].span_id;
    s.spans[0].kind = 2;
    clients.push_back(c);
    servers.push_back(s);
  }
  ingest::PushResult pr;
  // Half the servers first, then all clients, then the other servers
  // backwards: both tables hold thousands of halves at some point.
  std::vector<Trace> first(servers.begin(), servers.begin() + n / 2);
  ASSERT_TRUE(g.Push("t", first, &pr).ok());
  ASSERT_TRUE(g.Push("t", clients, &pr).ok());
  std::vector<Trace> rest(servers.rbegin(), servers.rbegin() + (n - n / 2));
  ASSERT_TRUE(g.Push("t", rest, &pr).ok());
  ASSERT_TRUE(g.Collect().ok());
  EXPECT_EQ(rec.Get("{__name__=\"traces_service_graph_request_total\", client=\"front\", "
                    "server=\"back\"}"),
            n);
}

}  // namespace
}  // namespace sightline::traces::generator
