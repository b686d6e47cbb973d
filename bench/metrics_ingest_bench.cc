// Metrics ingest hot paths, into a no-op store (so the figure is the
// receiver's own cost, not the TSDB's):
//   RemoteWrite: snappy decode + protobuf decode + label validation + append
//     of a realistic remote-write request (1000 series x 10 samples, 8
//     labels each, as a Prometheus queue shard sends), per sample;
//   Otlp: protobuf decode + translation (names, labels, target_info) + append
//     of an OTLP request with counters and histograms, per Prometheus sample
//     produced.
// Figures: samples_per_second per core (CPU time; one line per benchmark).
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

#include "base/compression.h"
#include "metrics/ingest/otlp_metrics.h"
#include "metrics/ingest/remote_write.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "prometheus/remote.pb.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

// Accepts everything, counts samples.
class NoopAppendable : public Appendable {
 public:
  class NoopAppender : public Appender {
   public:
    explicit NoopAppender(NoopAppendable* db) : db_(db) {}
    Result<uint64_t> Append(uint64_t ref, const Labels& labels, int64_t, double) override {
      ++n_;
      return ref != 0 ? ref : labels.size() + 1;
    }
    Status AppendExemplar(uint64_t, const Labels&, const Exemplar&) override { return {}; }
    Status UpdateMetadata(const std::string&, const MetricMetadata&) override { return {}; }
    Status Commit() override {
      db_->samples.fetch_add(n_, std::memory_order_relaxed);
      return {};
    }
    void Rollback() override {}

   private:
    NoopAppendable* db_;
    int64_t n_ = 0;
  };
  std::unique_ptr<Appender> NewAppender(std::string_view) override {
    return std::make_unique<NoopAppender>(this);
  }
  std::atomic<int64_t> samples{0};
};

constexpr int64_t kNow = 1'700'000'000'000;

std::string RemoteWriteBody() {
  prometheus::WriteRequest req;
  for (int s = 0; s < 1000; ++s) {
    prometheus::TimeSeries* ts = req.add_timeseries();
    auto label = [&](const std::string& n, const std::string& v) {
      prometheus::Label* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    };
    label("__name__", "http_request_duration_seconds_bucket");
    label("cluster", "prod-eu-1");
    label("handler", "/api/v1/items/" + std::to_string(s % 50));
    label("instance", "10.1." + std::to_string(s % 7) + ".12:8080");
    label("job", "kubernetes-pods");
    label("le", std::to_string(s % 12));
    label("method", s % 2 ? "GET" : "POST");
    label("namespace", "shop");
    for (int i = 0; i < 10; ++i) {
      prometheus::Sample* smp = ts->add_samples();
      smp->set_timestamp(kNow - (10 - i) * 15000);
      smp->set_value(s * 10 + i);
    }
  }
  return *Compress(Codec::kSnappy, req.SerializeAsString());
}

void BM_RemoteWrite(benchmark::State& state) {
  NoopAppendable db;
  telemetry::Registry registry;
  IngestOptions options;
  options.registry = &registry;
  options.now_ms = [] { return kNow; };
  RemoteWriteHandler handler(&db, options);
  const std::string compressed = RemoteWriteBody();
  net::HttpHeaders h;
  h.Add("Content-Type", "application/x-protobuf");
  net::HttpRequest req = *net::HttpRequest::Make("POST", "/api/v1/write", h);
  req.set_tenant("anonymous");
  for (auto _ : state) {
    // What the HTTP server does for Content-Encoding: snappy.
    req.mutable_body() = *Decompress(Codec::kSnappy, compressed, 64 << 20);
    net::HttpResponse resp;
    handler.Serve(req, resp);
    if (resp.status != 204) state.SkipWithError(resp.body.c_str());
  }
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(db.samples.load()), benchmark::Counter::kIsRate);
  state.counters["request_bytes"] = static_cast<double>(compressed.size());
}
BENCHMARK(BM_RemoteWrite)->Unit(benchmark::kMillisecond);

std::string OtlpBody() {
  namespace pm = opentelemetry::proto::metrics::v1;
  namespace pc = opentelemetry::proto::common::v1;
  opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest req;
  auto attr = [](google::protobuf::RepeatedPtrField<pc::KeyValue>* a, const std::string& k,
                 const std::string& v) {
    pc::KeyValue* kv = a->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(v);
  };
  uint64_t t = uint64_t{kNow} * 1000000;
  for (int r = 0; r < 10; ++r) {
    pm::ResourceMetrics* rm = req.add_resource_metrics();
    auto* ra = rm->mutable_resource()->mutable_attributes();
    attr(ra, "service.name", "checkout");
    attr(ra, "service.namespace", "shop");
    attr(ra, "service.instance.id", "pod-" + std::to_string(r));
    attr(ra, "host.name", "node-" + std::to_string(r));
    attr(ra, "k8s.pod.name", "checkout-" + std::to_string(r));
    pm::ScopeMetrics* sm = rm->add_scope_metrics();
    sm->mutable_scope()->set_name("io.opentelemetry.http");
    for (int m = 0; m < 10; ++m) {
      pm::Metric* c = sm->add_metrics();
      c->set_name("http.server.requests." + std::to_string(m));
      c->set_unit("{request}");
      c->mutable_sum()->set_is_monotonic(true);
      c->mutable_sum()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
      for (int p = 0; p < 10; ++p) {
        pm::NumberDataPoint* dp = c->mutable_sum()->add_data_points();
        dp->set_time_unix_nano(t);
        dp->set_as_int(p * 100);
        attr(dp->mutable_attributes(), "http.route", "/api/items/" + std::to_string(p));
        attr(dp->mutable_attributes(), "http.request.method", "GET");
        attr(dp->mutable_attributes(), "http.response.status_code", "200");
      }
      pm::Metric* h = sm->add_metrics();
      h->set_name("http.server.request.duration." + std::to_string(m));
      h->set_unit("s");
      h->mutable_histogram()->set_aggregation_temporality(pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
      for (int p = 0; p < 2; ++p) {
        pm::HistogramDataPoint* dp = h->mutable_histogram()->add_data_points();
        dp->set_time_unix_nano(t);
        dp->set_count(100);
        dp->set_sum(12.5);
        for (double b : {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0}) {
          dp->add_explicit_bounds(b);
          dp->add_bucket_counts(9);
        }
        dp->add_bucket_counts(10);
        attr(dp->mutable_attributes(), "http.route", "/api/items/" + std::to_string(p));
      }
    }
  }
  return req.SerializeAsString();
}

void BM_Otlp(benchmark::State& state) {
  NoopAppendable db;
  telemetry::Registry registry;
  IngestOptions options;
  options.registry = &registry;
  options.now_ms = [] { return kNow; };
  OtlpMetricsReceiver receiver(&db, options);
  net::HttpHeaders h;
  h.Add("Content-Type", "application/x-protobuf");
  net::HttpRequest req = *net::HttpRequest::Make("POST", "/v1/metrics", h, OtlpBody());
  req.set_tenant("anonymous");
  for (auto _ : state) {
    net::HttpResponse resp;
    receiver.ServeHttp(req, resp);
    if (resp.status != 200) state.SkipWithError(resp.body.c_str());
  }
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(db.samples.load()), benchmark::Counter::kIsRate);
  state.counters["samples_per_request"] =
      static_cast<double>(db.samples.load()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Otlp)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::metrics::ingest
