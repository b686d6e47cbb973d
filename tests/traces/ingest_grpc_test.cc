// OTLP/gRPC TraceService/Export through a real gRPC server and the
// generated client stub: the service takes the request as raw bytes and
// decodes it with the wire converter (receiver.cc), so check what a client
// sees — OK, partial success, INVALID_ARGUMENT for a request protobuf
// rejects, RESOURCE_EXHAUSTED with the rate limit — and what was stored.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "net/grpc_server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/metrics.h"
#include "traces/ingest/receiver.h"

namespace sightline::traces::ingest {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;

class Recording : public TraceSink {
 public:
  Status Push(std::string_view tenant, std::vector<Trace> traces, PushResult*) override {
    std::lock_guard<std::mutex> l(mu);
    for (const Trace& t : traces) {
      for (const Span& s : t.spans) names.push_back(std::string(tenant) + "/" + s.name);
    }
    return Status::Ok();
  }
  std::mutex mu;
  std::vector<std::string> names;
};

coltrace::ExportTraceServiceRequest Request(int spans, const std::string& name = "op") {
  coltrace::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("svc");
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, 'a'));
    s->set_span_id(std::string(7, 'b') + static_cast<char>('0' + i));
    s->set_name(name);
    s->set_start_time_unix_nano(1'700'000'000'000'000'000ull);
    s->set_end_time_unix_nano(1'700'000'000'001'000'000ull);
  }
  return req;
}

struct Server {
  explicit Server(double rate_limit_bytes = 0, double burst = 0) {
    ReceiverOptions ro;
    ro.registry = &registry;
    ro.rate_limit_bytes = rate_limit_bytes;
    ro.burst_bytes = burst;
    receiver = std::make_unique<TracesReceiver>(&sink, ro);
    net::GrpcServerOptions go;
    go.listen = "127.0.0.1:0";
    grpc = std::make_unique<net::GrpcServer>(go);
    receiver->RegisterGrpc(*grpc);
    Status s = grpc->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    stub = coltrace::TraceService::NewStub(
        grpc::CreateChannel(grpc->bound_address(), grpc::InsecureChannelCredentials()));
  }
  ~Server() { grpc->Stop(std::chrono::milliseconds(100)); }

  grpc::Status Export(const coltrace::ExportTraceServiceRequest& req,
                      coltrace::ExportTraceServiceResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->Export(&ctx, req, resp);
  }

  telemetry::Registry registry;
  Recording sink;
  std::unique_ptr<TracesReceiver> receiver;
  std::unique_ptr<net::GrpcServer> grpc;
  std::unique_ptr<coltrace::TraceService::Stub> stub;
};

TEST(OtlpGrpcTest, ExportStoresSpansAndReportsPartialSuccess) {
  Server s;
  coltrace::ExportTraceServiceResponse resp;
  grpc::Status st = s.Export(Request(3), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.has_partial_success());
  {
    std::lock_guard<std::mutex> l(s.sink.mu);
    ASSERT_EQ(s.sink.names.size(), 3u);
    EXPECT_EQ(s.sink.names[0], "anonymous/op");
  }

  auto bad = Request(2);
  bad.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_span_id("short");
  coltrace::ExportTraceServiceResponse resp2;
  st = s.Export(bad, &resp2);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp2.partial_success().rejected_spans(), 1);
  EXPECT_NE(resp2.partial_success().error_message().find("invalid span id"), std::string::npos);
  std::lock_guard<std::mutex> l(s.sink.mu);
  EXPECT_EQ(s.sink.names.size(), 4u);
}

TEST(OtlpGrpcTest, UndecodableRequestIsInvalidArgument) {
  Server s;
  // Invalid UTF-8 in a proto3 string: the client serializes it (with a
  // logged error), protobuf refuses to parse it.
  coltrace::ExportTraceServiceResponse resp;
  grpc::Status st = s.Export(Request(1, std::string("\xc3\x28", 2)), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  std::lock_guard<std::mutex> l(s.sink.mu);
  EXPECT_TRUE(s.sink.names.empty());
}

TEST(OtlpGrpcTest, RateLimitIsResourceExhaustedWithRetryInfo) {
  Server s(/*rate_limit_bytes=*/1, /*burst=*/1);
  coltrace::ExportTraceServiceResponse resp;
  grpc::Status st = s.Export(Request(20), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_FALSE(st.error_details().empty());  // google.rpc.Status with RetryInfo
  std::lock_guard<std::mutex> l(s.sink.mu);
  EXPECT_TRUE(s.sink.names.empty());
}

}  // namespace
}  // namespace sightline::traces::ingest
