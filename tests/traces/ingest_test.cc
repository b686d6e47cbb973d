// OTLP traces and Zipkin receivers: conversion to the model and back, the
// HTTP answers (200 + partial_success, 400, 415, 429, 503), OTLP/JSON rules,
// attribute truncation. Handlers are driven through the Router.
#include <gtest/gtest.h>

#include <mutex>

#include "google/rpc/status.pb.h"
#include "net/http.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "traces/ingest/ids.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/ingest/receiver.h"
#include "traces/ingest/zipkin.h"
#include "traces/test_traces.h"

namespace sightline::traces::ingest {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace otlp = opentelemetry::proto::trace::v1;
using traces::testing::MakeTrace;

class RecordingSink : public TraceSink {
 public:
  Status Push(std::string_view tenant, std::vector<Trace> traces, PushResult* result) override {
    std::lock_guard<std::mutex> l(mu);
    if (!fail.ok()) return fail;
    for (auto& t : traces) {
      if (refuse_all) {
        result->refused_spans += t.spans.size();
        result->messages.push_back("TRACE_TOO_LARGE: test");
        continue;
      }
      pushed.emplace_back(std::string(tenant), std::move(t));
    }
    return Status::Ok();
  }
  std::mutex mu;
  Status fail;
  bool refuse_all = false;
  std::vector<std::pair<std::string, Trace>> pushed;
};

coltrace::ExportTraceServiceRequest RequestOf(const std::vector<Trace>& traces) {
  otlp::TracesData td;
  for (const auto& t : traces) TraceToOtlp(t, &td);
  coltrace::ExportTraceServiceRequest req;
  req.mutable_resource_spans()->Swap(td.mutable_resource_spans());
  return req;
}

net::HttpResponse Post(net::Router& router, const std::string& path, const std::string& body,
                       const std::string& content_type) {
  net::HttpHeaders h;
  h.Add("Content-Type", content_type);
  auto req = net::HttpRequest::Make("POST", path, h, body);
  EXPECT_TRUE(req.ok());
  req->set_tenant("team-a");
  net::HttpResponse resp;
  router.Serve(*req, resp);
  return resp;
}

TEST(OtlpConvertTest, RoundTripKeepsEverything) {
  Trace a = MakeTrace(1, 3);
  a.spans[1].links.push_back({traces::testing::TraceId(9), traces::testing::SpanId(9), "ts",
                              {traces::testing::Str("l", "x")}, 1, 1});
  a.spans[0].status_message = "boom";
  a.spans[0].status_code = 2;
  Trace b = MakeTrace(2, 1, "payments");
  auto req = RequestOf({a, b});
  ConvertResult c = TracesFromOtlp(req, {});
  ASSERT_EQ(c.traces.size(), 2u);
  EXPECT_EQ(c.spans, 4u);
  EXPECT_EQ(c.rejected_spans, 0u);
  const Trace& a2 = c.traces[0].trace_id == a.trace_id ? c.traces[0] : c.traces[1];
  ASSERT_EQ(a2.spans.size(), 3u);
  EXPECT_EQ(a2.spans[0].name, "GET /cart");
  EXPECT_EQ(a2.spans[0].status_code, 2);
  EXPECT_EQ(a2.spans[0].status_message, "boom");
  EXPECT_EQ(a2.spans[1].parent_span_id, a.spans[0].span_id);
  EXPECT_EQ(a2.spans[1].links.size(), 1u);
  EXPECT_EQ(a2.spans[1].links[0].trace_id, traces::testing::TraceId(9));
  EXPECT_EQ(a2.spans[2].events[0].name, "cache miss");
  EXPECT_EQ(a2.resources[a2.spans[0].resource_index].attributes[0].key, "service.name");
  EXPECT_EQ(a2.scopes[a2.spans[0].scope_index].name, "test-lib");
  EXPECT_EQ(std::get<int64_t>(a2.spans[0].attributes[1].value.v), 200);
}

TEST(OtlpConvertTest, RejectsBadIdsAndTruncatesValues) {
  Trace a = MakeTrace(1, 2);
  a.spans[0].attributes.push_back(traces::testing::Str("long", std::string(100, 'x') + "é"));
  auto req = RequestOf({a});
  req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_span_id("short");
  ConvertOptions o;
  o.max_attribute_value_bytes = 101;  // cuts inside "é": back to 100
  ConvertResult c = TracesFromOtlp(req, o);
  ASSERT_EQ(c.traces.size(), 1u);
  EXPECT_EQ(c.spans, 1u);
  EXPECT_EQ(c.rejected_spans, 1u);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_NE(c.messages[0].find("span id"), std::string::npos);
  EXPECT_EQ(std::get<std::string>(c.traces[0].spans[0].attributes.back().value.v).size(), 100u);
  EXPECT_GE(c.truncated_values, 1u);
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(ReceiverOptions{}); }
  void Make(ReceiverOptions o) {
    o.registry = &registry;
    router = std::make_unique<net::Router>();
    receiver = std::make_unique<TracesReceiver>(&sink, o);
    receiver->RegisterHttp(*router);
  }
  telemetry::Registry registry;
  RecordingSink sink;
  std::unique_ptr<net::Router> router;
  std::unique_ptr<TracesReceiver> receiver;
};

TEST_F(ReceiverTest, ProtobufExport) {
  auto resp = Post(*router, "/v1/traces", RequestOf({MakeTrace(1, 2)}).SerializeAsString(),
                   "application/x-protobuf");
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(*resp.headers.Get("Content-Type"), "application/x-protobuf");
  coltrace::ExportTraceServiceResponse out;
  ASSERT_TRUE(out.ParseFromString(resp.body));
  EXPECT_FALSE(out.has_partial_success());
  ASSERT_EQ(sink.pushed.size(), 1u);
  EXPECT_EQ(sink.pushed[0].first, "team-a");
  EXPECT_EQ(sink.pushed[0].second.spans.size(), 2u);
  EXPECT_NE(registry.Expose().find("tempo_distributor_spans_received_total{tenant=\"team-a\"} 2"),
            std::string::npos);
}

TEST_F(ReceiverTest, JsonFollowsOtlpJsonRules) {
  // Hex ids, integer enums, int64 as strings, unknown fields ignored.
  const std::string body = R"({"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"js"}}]},"futureField":1,
    "scopeSpans":[{"scope":{"name":"s"},"spans":[{
      "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
      "parentSpanId":"eee19b7ec3c1b173","name":"op","kind":2,
      "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
      "attributes":[{"key":"n","value":{"intValue":"42"}}],
      "status":{"code":2},"unknown":{"x":1}}]}]}]})";
  auto resp = Post(*router, "/v1/traces", body, "application/json");
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(*resp.headers.Get("Content-Type"), "application/json");
  ASSERT_EQ(sink.pushed.size(), 1u);
  const Trace& t = sink.pushed[0].second;
  EXPECT_EQ(IdToHex(t.trace_id), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(IdToHex(t.spans[0].span_id), "eee19b7ec3c1b174");
  EXPECT_EQ(IdToHex(t.spans[0].parent_span_id), "eee19b7ec3c1b173");
  EXPECT_EQ(t.spans[0].kind, 2);
  EXPECT_EQ(t.spans[0].status_code, 2);
  EXPECT_EQ(t.spans[0].end_unix_nano, 1544712661000000000ull);
  EXPECT_EQ(std::get<int64_t>(t.spans[0].attributes[0].value.v), 42);
}

TEST_F(ReceiverTest, BadRequestsAreNotRetryable) {
  auto resp = Post(*router, "/v1/traces", "\xff\xff garbage", "application/x-protobuf");
  EXPECT_EQ(resp.status, 400);
  EXPECT_FALSE(resp.headers.Has("Retry-After"));
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(resp.body));
  EXPECT_EQ(st.code(), 3);  // INVALID_ARGUMENT
  resp = Post(*router, "/v1/traces", "{", "application/json");
  EXPECT_EQ(resp.status, 400);
  resp = Post(*router, "/v1/traces", "x", "text/plain");
  EXPECT_EQ(resp.status, 415);
  EXPECT_TRUE(sink.pushed.empty());
}

TEST_F(ReceiverTest, PartialSuccessForRefusedSpans) {
  sink.refuse_all = true;
  auto resp = Post(*router, "/v1/traces", RequestOf({MakeTrace(1, 3)}).SerializeAsString(),
                   "application/x-protobuf");
  ASSERT_EQ(resp.status, 200);
  coltrace::ExportTraceServiceResponse out;
  ASSERT_TRUE(out.ParseFromString(resp.body));
  EXPECT_EQ(out.partial_success().rejected_spans(), 3);
  EXPECT_NE(out.partial_success().error_message().find("TRACE_TOO_LARGE"), std::string::npos);
  EXPECT_NE(registry.Expose().find(
                "tempo_discarded_spans_total{tenant=\"team-a\",reason=\"trace_too_large\"} 3"),
            std::string::npos);
}

TEST_F(ReceiverTest, StoreFailureIs503WithRetryAfter) {
  sink.fail = UnavailableError("disk on fire");
  auto resp = Post(*router, "/v1/traces", RequestOf({MakeTrace(1, 1)}).SerializeAsString(),
                   "application/x-protobuf");
  EXPECT_EQ(resp.status, 503);
  EXPECT_EQ(*resp.headers.Get("Retry-After"), "5");
}

TEST_F(ReceiverTest, RateLimitIs429WithRetryAfter) {
  ReceiverOptions o;
  o.rate_limit_bytes = 100;
  o.burst_bytes = 1000;
  int64_t now = 1'000'000;
  o.now_ms = [&now] { return now; };
  Make(o);
  std::string body = RequestOf({MakeTrace(1, 3)}).SerializeAsString();
  ASSERT_LT(body.size(), 1000u);
  int ok = 0, limited = 0;
  for (int i = 0; i < 10; ++i) {
    auto resp = Post(*router, "/v1/traces", body, "application/x-protobuf");
    if (resp.status == 200) ++ok;
    if (resp.status == 429) {
      ++limited;
      EXPECT_TRUE(resp.headers.Has("Retry-After"));
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(limited, 1);
  now += 100'000;  // 100 s later the bucket is full again
  EXPECT_EQ(Post(*router, "/v1/traces", body, "application/x-protobuf").status, 200);
}

TEST_F(ReceiverTest, ZipkinSpans) {
  const std::string body = R"([{
    "traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"352bff9a74ca9ad2",
    "name":"get /api","kind":"SERVER","timestamp":1556604172355737,"duration":1431,
    "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
    "remoteEndpoint":{"ipv4":"172.19.0.2","port":58648},
    "tags":{"http.method":"GET","error":"timeout"},
    "annotations":[{"timestamp":1556604172355800,"value":"ws"}]}])";
  auto resp = Post(*router, "/api/v2/spans", body, "application/json");
  ASSERT_EQ(resp.status, 202) << resp.body;
  ASSERT_EQ(sink.pushed.size(), 1u);
  const Trace& t = sink.pushed[0].second;
  EXPECT_EQ(IdToHex(t.trace_id), "00000000000000005af7183fb1d4cf5f");
  ASSERT_EQ(t.spans.size(), 1u);
  const Span& s = t.spans[0];
  EXPECT_EQ(s.kind, 2);
  EXPECT_EQ(s.status_code, 2);
  EXPECT_EQ(s.status_message, "timeout");
  EXPECT_EQ(s.start_unix_nano, 1556604172355737000ull);
  EXPECT_EQ(s.end_unix_nano - s.start_unix_nano, 1431000ull);
  EXPECT_EQ(std::get<std::string>(t.resources[s.resource_index].attributes[0].value.v), "backend");
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].name, "ws");
  EXPECT_EQ(Post(*router, "/api/v2/spans", "{\"not\":\"array\"}", "application/json").status, 400);
  EXPECT_EQ(Post(*router, "/api/v2/spans", "[{\"id\":\"zz\"}]", "application/json").status, 400);
}

}  // namespace
}  // namespace sightline::traces::ingest
