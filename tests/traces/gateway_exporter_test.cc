// The gateway's OTLP exporter (src/traces/gateway) against a downstream
// played by a real HTTP server whose answers the test scripts: requests are
// OTLP/HTTP protobuf, gzip, with X-Scope-OrgID and the extra headers; 2xx is
// delivered (partial_success counted), 503/429 retried (Retry-After
// honoured), 400 dropped after one attempt and counted; a downstream that
// is down gets the spans once it is back; the queue survives a restart
// (Stop + Open on the same directory) and its segments go once delivered;
// a full queue refuses pushes with Unavailable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/compression.h"
#include "harness/harness.h"
#include "net/http.h"
#include "net/http_server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/metrics.h"
#include "traces/gateway/otlp_exporter.h"
#include "traces/test_traces.h"

namespace sightline::traces::gateway {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;
namespace coltrace = opentelemetry::proto::collector::trace::v1;
using traces::testing::MakeTrace;

// A scripted OTLP/HTTP downstream.
class Downstream {
 public:
  struct Answer {
    int status = 200;
    std::string retry_after;
    int64_t rejected = 0;
  };
  struct Request {
    std::string tenant, encoding, content_type, auth;
    coltrace::ExportTraceServiceRequest body;
    size_t spans = 0;
  };

  explicit Downstream(int port = 0) {
    net::RouteOptions ro;
    ro.tenant = false;
    ro.decompress = false;
    router_.Handle(
        "POST", "/v1/traces",
        [this](net::HttpRequest& req, net::HttpResponse& resp) {
          Request r;
          r.tenant = std::string(req.Header("X-Scope-OrgID").value_or(""));
          r.encoding = std::string(req.Header("Content-Encoding").value_or(""));
          r.content_type = std::string(req.Header("Content-Type").value_or(""));
          r.auth = std::string(req.Header("Authorization").value_or(""));
          std::string body = req.body();
          if (r.encoding == "gzip") {
            auto d = Decompress(Codec::kGzip, body, 64 << 20);
            if (d.ok()) body = *d;
          }
          r.body.ParseFromString(body);
          for (const auto& rs : r.body.resource_spans()) {
            for (const auto& ss : rs.scope_spans()) r.spans += ss.spans_size();
          }
          Answer a;
          {
            std::lock_guard l(mu_);
            if (!script_.empty()) {
              a = script_.front();
              script_.pop_front();
            }
            requests_.push_back(r);
            if (a.status >= 200 && a.status < 300) delivered_spans_ += r.spans;
          }
          if (!a.retry_after.empty()) resp.SetHeader("Retry-After", a.retry_after);
          coltrace::ExportTraceServiceResponse out;
          if (a.rejected > 0) {
            out.mutable_partial_success()->set_rejected_spans(a.rejected);
            out.mutable_partial_success()->set_error_message("too old");
          }
          resp.SetHeader("Content-Type", "application/x-protobuf");
          resp.status = a.status;
          resp.body = a.status < 300 ? out.SerializeAsString() : "nope";
        },
        ro);
    net::HttpServerOptions ho;
    ho.listen = "127.0.0.1:" + std::to_string(port);
    ho.io_threads = 1;
    ho.worker_threads = 2;
    auto h = net::HttpServer::Start(ho, &router_, &registry_);
    if (!h.ok()) {
      ADD_FAILURE() << h.status().ToString();
      return;
    }
    http_ = std::move(h).value();
  }
  ~Downstream() {
    if (http_) http_->Stop(100ms);
  }
  std::string url() const { return "http://" + http_->bound_address(); }
  void Script(std::vector<Answer> answers) {
    std::lock_guard l(mu_);
    script_.assign(answers.begin(), answers.end());
  }
  std::vector<Request> requests() const {
    std::lock_guard l(mu_);
    return requests_;
  }
  size_t delivered_spans() const {
    std::lock_guard l(mu_);
    return delivered_spans_;
  }

 private:
  telemetry::Registry registry_;
  net::Router router_;
  std::unique_ptr<net::HttpServer> http_;
  mutable std::mutex mu_;
  std::deque<Answer> script_;
  std::vector<Request> requests_;
  size_t delivered_spans_ = 0;
};

ExporterOptions Options(const std::string& url, const std::string& dir,
                        telemetry::Registry* reg) {
  ExporterOptions o;
  o.endpoint = url;
  o.dir = dir;
  o.batch_timeout = 20ms;
  o.retry_initial_interval = 50ms;
  o.retry_max_interval = 200ms;
  o.retry_max_elapsed_time = 20s;
  o.registry = reg;
  o.wal_segment_bytes = 64 << 10;
  o.headers = {{"Authorization", "Bearer t0k"}};
  return o;
}

std::vector<Trace> Traces(uint64_t first, int n, int spans = 3) {
  std::vector<Trace> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeTrace(first + i, spans));
  return out;
}

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds timeout = 20s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

double Metric(telemetry::Registry& reg, const std::string& name) {
  std::string text = reg.Expose();
  std::string key = name + "{exporter=\"otlphttp\"} ";
  size_t p = text.find(key);
  if (p == std::string::npos) return -1;
  return std::stod(text.substr(p + key.size()));
}

TEST(GatewayExporter, DeliversBatchesWithTenantGzipAndHeaders) {
  Downstream down;
  th::TempDir dir;
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options(down.url(), dir.Join("q"), &reg));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  (*e)->Start();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("team-a", Traces(1, 10), &pr).ok());
  ASSERT_TRUE((*e)->Push("team-b", Traces(100, 2), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 36; }));
  auto reqs = down.requests();
  std::map<std::string, size_t> per_tenant;
  for (const auto& r : reqs) {
    EXPECT_EQ(r.encoding, "gzip");
    EXPECT_EQ(r.content_type, "application/x-protobuf");
    EXPECT_EQ(r.auth, "Bearer t0k");
    per_tenant[r.tenant] += r.spans;
  }
  EXPECT_EQ(per_tenant["team-a"], 30u);
  EXPECT_EQ(per_tenant["team-b"], 6u);
  // The spans arrive intact (service, ids).
  const auto& rs = reqs[0].body.resource_spans(0);
  EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "checkout");
  EXPECT_EQ(rs.scope_spans(0).spans(0).trace_id().size(), 16u);
  EXPECT_TRUE(WaitFor([&] { return Metric(reg, "otelcol_exporter_sent_spans") == 36; }));
  EXPECT_TRUE(WaitFor([&] { return Metric(reg, "otelcol_exporter_queue_size") == 0; }));
  (*e)->Stop();
}

TEST(GatewayExporter, BatchesUpToSendBatchSize) {
  Downstream down;
  th::TempDir dir;
  telemetry::Registry reg;
  auto o = Options(down.url(), dir.Join("q"), &reg);
  o.send_batch_size = 9;
  o.batch_timeout = 300ms;
  auto e = OtlpExporter::Open(o);
  ASSERT_TRUE(e.ok());
  ingest::PushResult pr;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE((*e)->Push("t", Traces(1 + i, 1), &pr).ok());
  (*e)->Start();
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 18; }));
  for (const auto& r : down.requests()) EXPECT_LE(r.spans, 9u);
  EXPECT_EQ(down.requests().size(), 2u);
}

TEST(GatewayExporter, RetriesRetryableAndHonoursRetryAfter) {
  Downstream down;
  down.Script({{503, "1", 0}, {429, "", 0}, {502, "", 0}, {200, "", 0}});
  th::TempDir dir;
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options(down.url(), dir.Join("q"), &reg));
  ASSERT_TRUE(e.ok());
  (*e)->Start();
  auto t0 = std::chrono::steady_clock::now();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 2), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 6; }));
  // Retry-After: 1 made the first wait a second (the backoff is 50ms).
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(down.requests().size(), 4u);
  EXPECT_EQ((*e)->stats().retries, 3u);
  EXPECT_EQ((*e)->stats().failed_spans, 0u);
}

TEST(GatewayExporter, BadRequestIsDroppedAndCountedNotRetried) {
  Downstream down;
  down.Script({{400, "", 0}});
  th::TempDir dir;
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options(down.url(), dir.Join("q"), &reg));
  ASSERT_TRUE(e.ok());
  (*e)->Start();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 2), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return (*e)->stats().failed_spans == 6; }));
  std::this_thread::sleep_for(300ms);  // several backoffs: no second attempt
  EXPECT_EQ(down.requests().size(), 1u);
  EXPECT_EQ(Metric(reg, "otelcol_exporter_send_failed_spans"), 6);
  EXPECT_EQ((*e)->stats().queued_spans, 0u);
  // The next batch goes through normally.
  ASSERT_TRUE((*e)->Push("t", Traces(10, 1), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 3; }));
}

TEST(GatewayExporter, PartialSuccessCounted) {
  Downstream down;
  Downstream::Answer a;
  a.rejected = 2;
  down.Script({a});
  th::TempDir dir;
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options(down.url(), dir.Join("q"), &reg));
  ASSERT_TRUE(e.ok());
  (*e)->Start();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 2), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return (*e)->stats().rejected_spans == 2; }));
  EXPECT_EQ((*e)->stats().sent_spans, 4u);
  EXPECT_EQ(down.requests().size(), 1u);
}

TEST(GatewayExporter, RetryGivesUpAfterMaxElapsedTime) {
  th::TempDir dir;
  telemetry::Registry reg;
  // Nothing listens on this port.
  auto o = Options("http://127.0.0.1:" + std::to_string(th::FreePort()), dir.Join("q"), &reg);
  o.retry_max_elapsed_time = 500ms;
  auto e = OtlpExporter::Open(o);
  ASSERT_TRUE(e.ok());
  (*e)->Start();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 1), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return (*e)->stats().failed_spans == 3; }, 10s));
  EXPECT_GE((*e)->stats().retries, 1u);
}

TEST(GatewayExporter, DownstreamDownThenBack) {
  th::TempDir dir;
  telemetry::Registry reg;
  int port = th::FreePort();
  auto e = OtlpExporter::Open(Options("http://127.0.0.1:" + std::to_string(port), dir.Join("q"),
                                      &reg));
  ASSERT_TRUE(e.ok());
  (*e)->Start();
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 4), &pr).ok());
  ASSERT_TRUE(WaitFor([&] { return (*e)->stats().retries >= 2; }));
  Downstream down(port);
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 12; }));
  EXPECT_EQ((*e)->stats().failed_spans, 0u);
}

TEST(GatewayExporter, QueueSurvivesRestartAndSegmentsGoOnceDelivered) {
  th::TempDir dir;
  int port = th::FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  {
    telemetry::Registry reg;
    auto e = OtlpExporter::Open(Options(url, dir.Join("q"), &reg));
    ASSERT_TRUE(e.ok());
    ingest::PushResult pr;
    // ~40 KiB records: several 64 KiB segments.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*e)->Push("t", Traces(1 + i * 10, 10, 20), &pr).ok());
    EXPECT_EQ((*e)->stats().queued_spans, 4000u);
    // Not started: nothing was sent. Stop keeps the queue on disk.
    (*e)->Stop();
  }
  size_t segments_before = 0;
  for (auto& f : std::filesystem::directory_iterator(dir.Join("q"))) {
    segments_before += f.path().filename().string().size() == 8;
  }
  EXPECT_GE(segments_before, 3u);
  Downstream down(port);
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options(url, dir.Join("q"), &reg));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->stats().replayed_batches, 20u);
  EXPECT_EQ((*e)->stats().queued_spans, 4000u);
  (*e)->Start();
  ASSERT_TRUE(WaitFor([&] { return down.delivered_spans() == 4000; }));
  ASSERT_TRUE(WaitFor([&] { return (*e)->stats().queued_batches == 0; }));
  // Delivered: every segment but the one being written is gone.
  ASSERT_TRUE(WaitFor([&] {
    size_t n = 0;
    for (auto& f : std::filesystem::directory_iterator(dir.Join("q"))) {
      n += f.path().filename().string().size() == 8;
    }
    return n <= 1;
  }));
  (*e)->Stop();
  // A third start has nothing to send again.
  telemetry::Registry reg3;
  auto e3 = OtlpExporter::Open(Options(url, dir.Join("q"), &reg3));
  ASSERT_TRUE(e3.ok());
  EXPECT_EQ((*e3)->stats().queued_batches, 0u);
}

TEST(GatewayExporter, FullQueueRefusesWithUnavailable) {
  th::TempDir dir;
  telemetry::Registry reg;
  auto o = Options("http://127.0.0.1:" + std::to_string(th::FreePort()), dir.Join("q"), &reg);
  o.queue_size = 10;
  auto e = OtlpExporter::Open(o);
  ASSERT_TRUE(e.ok());
  ingest::PushResult pr;
  ASSERT_TRUE((*e)->Push("t", Traces(1, 3), &pr).ok());  // 9 spans
  EXPECT_FALSE((*e)->Full());
  Status s = (*e)->Push("t", Traces(10, 1), &pr);  // 12 > 10
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("sending queue is full"), std::string::npos);
  EXPECT_EQ(Metric(reg, "otelcol_exporter_enqueue_failed_spans"), 3);
  EXPECT_EQ(Metric(reg, "otelcol_exporter_queue_capacity"), 10);
  EXPECT_EQ(Metric(reg, "otelcol_exporter_queue_size"), 9);
  EXPECT_EQ((*e)->stats().queued_spans, 9u);
}

TEST(GatewayExporter, RefusesABadEndpoint) {
  th::TempDir dir;
  telemetry::Registry reg;
  auto e = OtlpExporter::Open(Options("distributor:4318", dir.Join("q"), &reg));
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sightline::traces::gateway
