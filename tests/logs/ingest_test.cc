// Logs ingest without a network: Loki push decoding (JSON, protobuf),
// Loki's validation limits and messages, OTLP → streams translation, and the
// distributor's HTTP answers through Router::Serve.
#include <gtest/gtest.h>

#include <google/protobuf/timestamp.pb.h>

#include <mutex>

#include "base/compression.h"
#include "logs/ingest/distributor.h"
#include "logs/ingest/otlp_logs.h"
#include "logs/ingest/push.h"
#include "logs/ingest/validation.h"
#include "loki/push.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "telemetry/metrics.h"

namespace sightline::logs::ingest {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000'000;

class RecordingAppender : public LogAppender {
 public:
  Status Append(std::string_view tenant, std::vector<PushStream>& streams,
                AppendResult* result) override {
    std::lock_guard<std::mutex> l(mu_);
    if (fail) return UnavailableError("disk on fire");
    for (auto& s : streams) {
      result->accepted_entries += static_cast<int64_t>(s.entries.size());
      got.push_back({std::string(tenant), s});
    }
    return Status::Ok();
  }
  std::mutex mu_;
  bool fail = false;
  std::vector<std::pair<std::string, PushStream>> got;
  size_t entries() const {
    size_t n = 0;
    for (const auto& [t, s] : got) n += s.entries.size();
    return n;
  }
};

TEST(PushDecode, JsonWithStructuredMetadata) {
  auto r = DecodePushJson(R"({"streams":[{"stream":{"job":"api","level":"info"},
      "values":[["1700000000000000001","hello"],
                ["1700000000000000002","with md",{"trace_id":"abc","user":"u1"}]]}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const auto& s = (*r)[0];
  EXPECT_EQ(s.labels, Labels::FromStrings({"job", "api", "level", "info"}));
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].timestamp_ns, 1700000000000000001);
  EXPECT_EQ(s.entries[1].line, "with md");
  EXPECT_EQ(s.entries[1].structured_metadata, Labels::FromStrings({"trace_id", "abc", "user", "u1"}));
}

TEST(PushDecode, JsonErrors) {
  EXPECT_FALSE(DecodePushJson("{").ok());
  EXPECT_FALSE(DecodePushJson(R"({"streams":[{"stream":{},"values":[]}]})").ok());
  EXPECT_FALSE(DecodePushJson(R"({"streams":[{"stream":{"a":"b"},"values":[["x","y"]]}]})").ok());
  EXPECT_FALSE(DecodePushJson(R"({"streams":[{"stream":{"1a":"b"},"values":[]}]})").ok());
  auto r = DecodePushJson(R"({"streams":[{"stream":{},"values":[["1","x"]]}]})");
  EXPECT_EQ(r.status().message(), "error at least one label pair is required per stream");
}

TEST(PushDecode, LabelsText) {
  auto l = ParseLabelsText(R"({job="a\"b", env = "prod",})");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(*l, Labels::FromStrings({"job", "a\"b", "env", "prod"}));
  EXPECT_FALSE(ParseLabelsText(R"({job=~"a"})").ok());
  EXPECT_FALSE(ParseLabelsText(R"(job="a")").ok());
  EXPECT_FALSE(ParseLabelsText(R"({job="a", job="b"})").ok());
  EXPECT_EQ(LabelsText(*l), R"({env="prod", job="a\"b"})");
}

TEST(PushDecode, Protobuf) {
  logproto::PushRequest req;
  auto* st = req.add_streams();
  st->set_labels(R"({app="web"})");
  auto* e = st->add_entries();
  e->mutable_timestamp()->set_seconds(1700000000);
  e->mutable_timestamp()->set_nanos(5);
  e->set_line("GET /");
  auto* md = e->add_structuredmetadata();
  md->set_name("trace_id");
  md->set_value("0123456789abcdef0123456789abcdef");
  auto r = DecodePushProto(req.SerializeAsString());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].entries[0].timestamp_ns, 1700000000000000005);
  EXPECT_EQ((*r)[0].entries[0].structured_metadata.Get("trace_id"),
            "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(DecodePushProto("\xff\xff\xff").ok());
}

PushStream Stream(Labels l, std::vector<std::pair<int64_t, std::string>> entries) {
  PushStream s;
  s.labels = std::move(l);
  for (auto& [t, line] : entries) s.entries.push_back({t, line, {}});
  return s;
}

TEST(Validation, DropsBadEntriesKeepsGood) {
  Limits limits;
  limits.max_line_size = 10;
  Validator v(limits);
  std::vector<PushStream> streams;
  streams.push_back(Stream(Labels::FromStrings({"app", "a"}),
                           {{kNow, "ok"},
                            {kNow, std::string(11, 'x')},
                            {kNow - 8ll * 24 * 3600 * 1'000'000'000, "old"},
                            {kNow + 11ll * 60 * 1'000'000'000, "future"}}));
  auto rep = v.Validate("t", streams, kNow);
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].entries.size(), 1u);
  EXPECT_EQ(rep.dropped_entries(), 3);
  ASSERT_EQ(rep.rejections.size(), 3u);
  EXPECT_EQ(rep.rejections[0].reason, "line_too_long");
  EXPECT_EQ(rep.rejections[0].message,
            "Max entry size '10' bytes exceeded for stream '{app=\"a\"}' while adding an entry "
            "with length '11' bytes");
  EXPECT_EQ(rep.rejections[1].reason, "greater_than_max_sample_age");
  EXPECT_EQ(rep.rejections[2].reason, "too_far_in_future");
  EXPECT_FALSE(rep.rate_limited);
  std::string text = RejectionText("t", rep.rejections, rep.total_entries);
  EXPECT_NE(text.find("user 't', total ignored: 3 out of 4"), std::string::npos) << text;
}

TEST(Validation, LabelLimits) {
  Limits limits;
  Validator v(limits);
  std::vector<tsdb::Label> many;
  for (int i = 0; i < 16; ++i) many.push_back({"l" + std::to_string(i + 10), "v"});
  std::vector<PushStream> streams;
  streams.push_back(Stream(*Labels::FromUnsorted(many), {{kNow, "x"}}));
  streams.push_back(Stream(Labels::FromStrings({std::string(1025, 'n'), "v"}), {{kNow, "x"}}));
  streams.push_back(Stream(Labels::FromStrings({"a", std::string(2049, 'v')}), {{kNow, "x"}}));
  auto rep = v.Validate("t", streams, kNow);
  EXPECT_TRUE(streams.empty());
  ASSERT_EQ(rep.rejections.size(), 3u);
  EXPECT_EQ(rep.rejections[0].reason, "max_label_names_per_series");
  EXPECT_NE(rep.rejections[0].message.find("has 16 label names; limit 15"), std::string::npos);
  EXPECT_EQ(rep.rejections[1].reason, "label_name_too_long");
  EXPECT_EQ(rep.rejections[2].reason, "label_value_too_long");
}

TEST(Validation, StructuredMetadataLimits) {
  Limits limits;
  limits.max_structured_metadata_entries = 2;
  limits.max_structured_metadata_bytes = 20;
  Validator v(limits);
  std::vector<PushStream> streams;
  PushStream s = Stream(Labels::FromStrings({"a", "b"}), {});
  s.entries.push_back({kNow, "x", Labels::FromStrings({"a", "1", "b", "2", "c", "3"})});
  s.entries.push_back({kNow, "x", Labels::FromStrings({"a", std::string(30, 'z')})});
  s.entries.push_back({kNow, "x", Labels::FromStrings({"a", "1"})});
  streams.push_back(std::move(s));
  auto rep = v.Validate("t", streams, kNow);
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].entries.size(), 1u);
  ASSERT_EQ(rep.rejections.size(), 2u);
  EXPECT_EQ(rep.rejections[0].reason, "structured_metadata_too_many");
  EXPECT_EQ(rep.rejections[1].reason, "structured_metadata_too_large");
}

TEST(Validation, TenantAndStreamRateLimits) {
  Limits limits;
  limits.ingestion_rate_bytes = 100;
  limits.ingestion_burst_bytes = 150;
  limits.per_stream_rate_bytes = 60;
  limits.per_stream_burst_bytes = 80;
  Validator v(limits);
  auto push = [&](const std::string& app, size_t bytes, int64_t t) {
    std::vector<PushStream> s;
    s.push_back(Stream(Labels::FromStrings({"app", app}), {{kNow, std::string(bytes, 'x')}}));
    auto rep = v.Validate("t", s, t);
    return std::make_pair(rep, s.size());
  };
  auto [r1, n1] = push("a", 70, kNow);
  EXPECT_EQ(n1, 1u);
  EXPECT_FALSE(r1.rate_limited);
  auto [r2, n2] = push("a", 50, kNow);  // stream bucket: 10 left
  EXPECT_EQ(n2, 0u);
  ASSERT_TRUE(r2.rate_limited);
  EXPECT_EQ(r2.rejections[0].reason, "per_stream_rate_limit");
  auto [r3, n3] = push("b", 70, kNow);  // tenant: 150-70-50=30 left < 70
  EXPECT_EQ(n3, 0u);
  ASSERT_TRUE(r3.rate_limited);
  EXPECT_EQ(r3.rejections[0].reason, "rate_limited");
  EXPECT_NE(r3.rejections[0].message.find("Ingestion rate limit exceeded for user t (limit: 100 "
                                           "bytes/sec)"),
            std::string::npos);
  auto [r4, n4] = push("b", 70, kNow + 2'000'000'000);  // refilled
  EXPECT_EQ(n4, 1u);
}

TEST(OtlpLogs, ResourceAttributesBecomeLabels) {
  namespace cl = opentelemetry::proto::collector::logs::v1;
  cl::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto add_attr = [](auto* attrs, const std::string& k, const std::string& v) {
    auto* kv = attrs->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(v);
  };
  add_attr(rl->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  add_attr(rl->mutable_resource()->mutable_attributes(), "k8s.namespace.name", "shop");
  add_attr(rl->mutable_resource()->mutable_attributes(), "host.name", "node-1");
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("my.lib");
  auto* rec = sl->add_log_records();
  rec->set_time_unix_nano(kNow);
  rec->mutable_body()->set_string_value("payment failed");
  rec->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_ERROR);
  rec->set_severity_text("ERROR");
  rec->set_trace_id(std::string("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef", 16));
  rec->set_span_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  add_attr(rec->mutable_attributes(), "http.method", "POST");
  auto* kv = rec->mutable_attributes()->Add();
  kv->set_key("count");
  kv->mutable_value()->set_int_value(3);
  auto* rec2 = sl->add_log_records();
  rec2->set_observed_time_unix_nano(kNow + 1);
  auto* kvl = rec2->mutable_body()->mutable_kvlist_value()->add_values();
  kvl->set_key("msg");
  kvl->mutable_value()->set_string_value("hi");

  auto streams = TranslateOtlpLogs(req, kNow);
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].labels,
            Labels::FromStrings({"service_name", "checkout", "k8s_namespace_name", "shop"}));
  ASSERT_EQ(streams[0].entries.size(), 2u);
  const Entry& e = streams[0].entries[0];
  EXPECT_EQ(e.line, "payment failed");
  EXPECT_EQ(e.timestamp_ns, kNow);
  EXPECT_EQ(e.structured_metadata.Get("trace_id"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(e.structured_metadata.Get("span_id"), "0102030405060708");
  EXPECT_EQ(e.structured_metadata.Get("host_name"), "node-1");
  EXPECT_EQ(e.structured_metadata.Get("http_method"), "POST");
  EXPECT_EQ(e.structured_metadata.Get("count"), "3");
  EXPECT_EQ(e.structured_metadata.Get("scope_name"), "my.lib");
  EXPECT_EQ(e.structured_metadata.Get("severity_text"), "ERROR");
  EXPECT_EQ(e.structured_metadata.Get("detected_level"), "error");
  EXPECT_EQ(streams[0].entries[1].line, R"({"msg":"hi"})");
  EXPECT_EQ(streams[0].entries[1].timestamp_ns, kNow + 1);

  cl::ExportLogsServiceRequest bare;
  bare.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_string_value("x");
  auto s2 = TranslateOtlpLogs(bare, kNow);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0].labels, Labels::FromStrings({"service_name", "unknown_service"}));
  EXPECT_EQ(s2[0].entries[0].timestamp_ns, kNow);
}

class DistributorTest : public ::testing::Test {
 protected:
  DistributorTest() {
    DistributorOptions o;
    o.registry = &registry_;
    o.now_ns = [] { return kNow; };
    o.limits.max_line_size = 100;
    d_ = std::make_unique<Distributor>(&appender_, o);
    RegisterDistributorRoutes(router_, d_.get(), nullptr);
  }
  net::HttpResponse Post(const std::string& path, const std::string& ct, std::string body) {
    net::HttpHeaders h;
    h.Add("Content-Type", ct);
    auto req = net::HttpRequest::Make("POST", path, h, std::move(body));
    EXPECT_TRUE(req.ok());
    req->set_tenant("tenant-a");
    net::HttpResponse resp;
    router_.Serve(*req, resp);
    return resp;
  }
  telemetry::Registry registry_;
  RecordingAppender appender_;
  std::unique_ptr<Distributor> d_;
  net::Router router_;
};

TEST_F(DistributorTest, JsonPush204) {
  auto r = Post("/loki/api/v1/push", "application/json",
                R"({"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","x"]]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(appender_.got.size(), 1u);
  EXPECT_EQ(appender_.got[0].first, "tenant-a");
  EXPECT_NE(registry_.Expose().find("loki_distributor_lines_received_total{tenant=\"tenant-a\"} 1"),
            std::string::npos);
}

TEST_F(DistributorTest, PartialRejection400KeepsValid) {
  auto r = Post("/loki/api/v1/push", "application/json",
                R"({"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","ok"],)"
                R"(["1700000000000000000",")" + std::string(101, 'x') + R"("]]}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Max entry size '100' bytes exceeded"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("total ignored: 1 out of 2"), std::string::npos) << r.body;
  EXPECT_EQ(appender_.entries(), 1u);
  EXPECT_NE(registry_.Expose().find(
                "loki_discarded_samples_total{reason=\"line_too_long\",tenant=\"tenant-a\"} 1"),
            std::string::npos);
}

TEST_F(DistributorTest, SnappyProtobufPush) {
  logproto::PushRequest req;
  auto* st = req.add_streams();
  st->set_labels(R"({app="p"})");
  auto* e = st->add_entries();
  e->mutable_timestamp()->set_seconds(kNow / 1'000'000'000);
  e->set_line("proto line");
  auto body = Compress(Codec::kSnappy, req.SerializeAsString());
  ASSERT_TRUE(body.ok());
  auto r = Post("/loki/api/v1/push", "application/x-protobuf", *body);
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(appender_.entries(), 1u);
  EXPECT_EQ(appender_.got[0].second.entries[0].line, "proto line");
  EXPECT_EQ(Post("/loki/api/v1/push", "application/x-protobuf", "garbage").status, 400);
  EXPECT_EQ(Post("/loki/api/v1/push", "text/plain", "x").status, 415);
}

TEST_F(DistributorTest, StoreFailure503) {
  appender_.fail = true;
  auto r = Post("/loki/api/v1/push", "application/json",
                R"({"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","x"]]}]})");
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.headers.Has("Retry-After"));
}

TEST_F(DistributorTest, OtlpJson) {
  auto r = Post("/v1/logs", "application/json",
                R"({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":)"
                R"({"stringValue":"svc"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":")" +
                    std::to_string(kNow) +
                    R"(","body":{"stringValue":"hello"},"traceId":"5b8efff798038103d269b633813fc60c",)"
                    R"("spanId":"eee19b7ec3c1b174","severityText":"INFO"}]}]}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(appender_.entries(), 1u);
  const Entry& e = appender_.got[0].second.entries[0];
  EXPECT_EQ(e.structured_metadata.Get("trace_id"), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(e.structured_metadata.Get("span_id"), "eee19b7ec3c1b174");
  EXPECT_EQ(e.structured_metadata.Get("detected_level"), "info");
  EXPECT_EQ(appender_.got[0].second.labels, Labels::FromStrings({"service_name", "svc"}));
}

}  // namespace
}  // namespace sightline::logs::ingest
