// Metrics from traces: span metrics (calls, latency histogram with a
// trace_id exemplar) and service-graph edges paired across pushes.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "metrics/storage/storage.h"
#include "traces/generator/metrics_generator.h"
#include "traces/ingest/ids.h"
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

}  // namespace
}  // namespace sightline::traces::generator
