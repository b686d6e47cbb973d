// The ingest routes behind the real HTTP server (port 0) and the OTLP gRPC
// service behind the real gRPC server, with a generated-stub client.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "base/compression.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "harness/harness.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/ingest/otlp_metrics.h"
#include "metrics/ingest/remote_write.h"
#include "net/grpc_server.h"
#include "net/http_server.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "prometheus/remote.pb.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

namespace col = opentelemetry::proto::collector::metrics::v1;
namespace pm = opentelemetry::proto::metrics::v1;
using metrics::testing::FakeAppendable;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

col::ExportMetricsServiceRequest OneGauge(const std::string& name, int64_t t_ms) {
  col::ExportMetricsServiceRequest req;
  auto* rm = req.add_resource_metrics();
  auto* kv = rm->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("svc");
  auto* m = rm->add_scope_metrics()->add_metrics();
  m->set_name(name);
  auto* p = m->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(static_cast<uint64_t>(t_ms) * 1000000);
  p->set_as_double(7);
  return req;
}

class IngestServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.registry = &registry_;
    RegisterRemoteWrite(router_, &db_, options_);
    RegisterOtlpMetricsHttp(router_, &db_, options_);
    net::HttpServerOptions o;
    o.listen = "127.0.0.1:0";
    o.io_threads = 1;
    o.worker_threads = 2;
    auto s = net::HttpServer::Start(o, &router_, &registry_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    url_ = "http://" + server_->bound_address();
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(100));
  }

  telemetry::Registry registry_;
  IngestOptions options_;
  FakeAppendable db_;
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
  std::string url_;
};

TEST_F(IngestServerTest, RemoteWriteOverHttpWithSnappyContentEncoding) {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("up");
  auto* s = ts->add_samples();
  s->set_timestamp(NowMs());
  s->set_value(1);
  std::string body = *Compress(Codec::kSnappy, req.SerializeAsString());
  auto resp = sightline::testing::HttpPost(
      url_ + "/api/v1/push", body,
      {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
       "X-Prometheus-Remote-Write-Version: 0.1.0"});
  EXPECT_EQ(resp.status, 204) << resp.body;
  EXPECT_EQ(db_.SeriesStrings(), (std::vector<std::string>{R"({__name__="up"})"}));
  ASSERT_EQ(db_.samples().size(), 1u);
  EXPECT_EQ(db_.samples()[0].tenant, "anonymous");

  auto bad = sightline::testing::HttpPost(url_ + "/api/v1/write", "not protobuf",
                                          {"Content-Type: application/x-protobuf"});
  EXPECT_EQ(bad.status, 400);
  auto get = sightline::testing::HttpGet(url_ + "/api/v1/write");
  EXPECT_EQ(get.status, 405);
}

TEST_F(IngestServerTest, OtlpHttpProtobufAndJson) {
  std::string body = OneGauge("queue.depth", NowMs()).SerializeAsString();
  auto resp = sightline::testing::HttpPost(url_ + "/v1/metrics", body,
                                           {"Content-Type: application/x-protobuf"});
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.headers["content-type"], "application/x-protobuf");
  col::ExportMetricsServiceResponse out;
  ASSERT_TRUE(out.ParseFromString(resp.body));
  EXPECT_FALSE(out.has_partial_success());
  EXPECT_EQ(db_.SeriesStrings(),
            (std::vector<std::string>{R"({__name__="queue_depth", job="svc"})"}));

  // OTLP/JSON: lowerCamelCase, int64 as strings, enums as integers, hex
  // trace ids, unknown fields ignored; a delta sum is rejected.
  std::string t = std::to_string(NowMs() * 1000000);
  std::string json = R"({"resourceMetrics":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"web"}}]},
    "scopeMetrics":[{"scope":{"name":"s"},"metrics":[
      {"name":"requests","unit":"1","futureField":{"x":1},
       "sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
         {"timeUnixNano":")" +
                     t + R"(","asInt":"12",
          "exemplars":[{"timeUnixNano":")" +
                     t + R"(","asDouble":1,
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}},
      {"name":"delta","sum":{"aggregationTemporality":1,"isMonotonic":true,
       "dataPoints":[{"timeUnixNano":")" +
                     t + R"(","asInt":"1"}]}}]}]}]})";
  resp =
      sightline::testing::HttpPost(url_ + "/v1/metrics", json, {"Content-Type: application/json"});
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.headers["content-type"], "application/json");
  EXPECT_NE(resp.body.find(R"("rejectedDataPoints":"1")"), std::string::npos) << resp.body;
  EXPECT_NE(resp.body.find("invalid temporality"), std::string::npos) << resp.body;
  auto samples = db_.SamplesOf(R"({__name__="requests_total", job="web"})");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].v, 12);
  auto ex = db_.exemplars();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].exemplar.labels.Get("trace_id"), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(ex[0].exemplar.labels.Get("span_id"), "eee19b7ec3c1b174");

  // Gzip, as OTEL_EXPORTER_OTLP_COMPRESSION=gzip sends it.
  resp = sightline::testing::HttpPost(
      url_ + "/v1/metrics",
      *Compress(Codec::kGzip, OneGauge("zipped", NowMs()).SerializeAsString()),
      {"Content-Type: application/x-protobuf", "Content-Encoding: gzip"});
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(db_.SamplesOf(R"({__name__="zipped", job="svc"})").size(), 1u);
}

TEST_F(IngestServerTest, OtlpHttpErrors) {
  auto resp = sightline::testing::HttpPost(url_ + "/v1/metrics", "{not json",
                                           {"Content-Type: application/json"});
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("\"message\""), std::string::npos) << resp.body;  // a JSON Status

  resp = sightline::testing::HttpPost(url_ + "/v1/metrics", "\xff\xff\xff",
                                      {"Content-Type: application/x-protobuf"});
  EXPECT_EQ(resp.status, 400);
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(resp.body));
  EXPECT_EQ(st.code(), 3);

  resp = sightline::testing::HttpPost(url_ + "/v1/metrics", "x", {"Content-Type: text/plain"});
  EXPECT_EQ(resp.status, 415);

  db_.set_sample_hook([](const Labels&, int64_t, double) {
    return ResourceExhaustedError("ingestion rate limit exceeded");
  });
  resp =
      sightline::testing::HttpPost(url_ + "/v1/metrics", OneGauge("g", NowMs()).SerializeAsString(),
                                   {"Content-Type: application/x-protobuf"});
  EXPECT_EQ(resp.status, 429);
  EXPECT_EQ(resp.headers["retry-after"], "5");
  ASSERT_TRUE(st.ParseFromString(resp.body));
  ASSERT_EQ(st.details_size(), 1);
  google::rpc::RetryInfo ri;
  ASSERT_TRUE(st.details(0).UnpackTo(&ri));
  EXPECT_EQ(ri.retry_delay().seconds(), 5);

  db_.set_sample_hook(nullptr);
  db_.set_commit_error(UnavailableError("disk"));
  resp =
      sightline::testing::HttpPost(url_ + "/v1/metrics", OneGauge("g", NowMs()).SerializeAsString(),
                                   {"Content-Type: application/x-protobuf"});
  EXPECT_EQ(resp.status, 503);
  EXPECT_TRUE(resp.headers.count("retry-after"));
}

TEST(OtlpGrpcTest, ExportWithStubClient) {
  telemetry::Registry registry;
  FakeAppendable db;
  IngestOptions options;
  options.registry = &registry;
  net::GrpcServerOptions go;
  go.listen = "127.0.0.1:0";
  net::GrpcServer server(go);
  auto service = RegisterOtlpMetricsGrpc(server, &db, options);
  ASSERT_TRUE(server.Start().ok());
  auto channel = grpc::CreateChannel(server.bound_address(), grpc::InsecureChannelCredentials());
  auto stub = col::MetricsService::NewStub(channel);

  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", "tenant-1");
    col::ExportMetricsServiceResponse resp;
    grpc::Status s = stub->Export(&ctx, OneGauge("grpc.gauge", NowMs()), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_FALSE(resp.has_partial_success());
    ASSERT_EQ(db.samples().size(), 1u);
    EXPECT_EQ(db.samples()[0].labels.ToString(), R"({__name__="grpc_gauge", job="svc"})");
    // Without multi-tenancy the header is ignored, as Loki/Mimir do.
    EXPECT_EQ(db.samples()[0].tenant, "anonymous");
  }
  {
    db.set_sample_hook([](const Labels&, int64_t, double) {
      return ResourceExhaustedError("ingestion rate limit exceeded");
    });
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    grpc::Status s = stub->Export(&ctx, OneGauge("g2", NowMs()), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(s.error_details()));
    google::rpc::RetryInfo ri;
    ASSERT_EQ(details.details_size(), 1);
    EXPECT_TRUE(details.details(0).UnpackTo(&ri));
  }
  {
    db.set_sample_hook(nullptr);
    db.set_commit_error(UnavailableError("disk"));
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    EXPECT_EQ(stub->Export(&ctx, OneGauge("g3", NowMs()), &resp).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  server.Stop(std::chrono::milliseconds(100));
}

TEST(OtlpGrpcTest, MultitenancyNeedsTheOrgId) {
  telemetry::Registry registry;
  FakeAppendable db;
  IngestOptions options;
  options.registry = &registry;
  options.multitenancy = true;
  net::GrpcServerOptions go;
  go.listen = "127.0.0.1:0";
  net::GrpcServer server(go);
  auto service = RegisterOtlpMetricsGrpc(server, &db, options);
  ASSERT_TRUE(server.Start().ok());
  auto stub = col::MetricsService::NewStub(
      grpc::CreateChannel(server.bound_address(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    EXPECT_EQ(stub->Export(&ctx, OneGauge("g", NowMs()), &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", "team-b");
    col::ExportMetricsServiceResponse resp;
    ASSERT_TRUE(stub->Export(&ctx, OneGauge("g", NowMs()), &resp).ok());
    ASSERT_EQ(db.samples().size(), 1u);
    EXPECT_EQ(db.samples()[0].tenant, "team-b");
  }
  server.Stop(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace sightline::metrics::ingest
