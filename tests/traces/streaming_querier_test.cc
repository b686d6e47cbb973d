// Tempo's streaming gRPC querier (tempopb.StreamingQuerier) in the real
// binary, called as Grafana's Tempo data source calls it with streaming on:
// a C++ gRPC client (generated stubs) over the gRPC port AND over the HTTP
// port (plaintext HTTP/2 handed from the HTTP server to the gRPC server),
// with x-scope-orgid. Every answer must equal the HTTP API's answer for the
// same query (the HTTP JSON is parsed into the same tempopb message); bad
// TraceQL gives INVALID_ARGUMENT with the HTTP API's message; HTTP/1.1 keeps
// working on the port, including a request whose first bytes arrive late
// and look like the start of the HTTP/2 preface. A second client, Node's
// @grpc/grpc-js with @grpc/proto-loader on our .proto, runs when installed.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "tempo/tempo.grpc.pb.h"

namespace sightline::traces {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;
namespace otlp = opentelemetry::proto::trace::v1;
using google::protobuf::util::MessageDifferencer;

constexpr char kTenant[] = "team-a";

uint64_t NowNanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void AddSpan(otlp::ResourceSpans* rs, const std::string& trace_id, const std::string& span_id,
             const std::string& parent, const std::string& name, otlp::Span::SpanKind kind,
             uint64_t start, uint64_t dur, bool error, int64_t status_code) {
  if (rs->scope_spans_size() == 0) rs->add_scope_spans()->mutable_scope()->set_name("test");
  auto* sp = rs->mutable_scope_spans(0)->add_spans();
  sp->set_trace_id(trace_id);
  sp->set_span_id(span_id);
  if (!parent.empty()) sp->set_parent_span_id(parent);
  sp->set_name(name);
  sp->set_kind(kind);
  sp->set_start_time_unix_nano(start);
  sp->set_end_time_unix_nano(start + dur);
  auto* a = sp->add_attributes();
  a->set_key("http.status_code");
  a->mutable_value()->set_int_value(status_code);
  if (error) sp->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
}

otlp::ResourceSpans* Resource(otlp::TracesData* td, const std::string& service) {
  auto* rs = td->add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(service);
  return rs;
}

std::string Id(char fill, size_t n, char last) {
  std::string s(n, fill);
  s.back() = last;
  return s;
}

// Three traces over two services; one has an error span.
std::string TestTraces(uint64_t now) {
  otlp::TracesData td;
  for (int i = 0; i < 3; ++i) {
    std::string tid = Id('\x11', 16, static_cast<char>('a' + i));
    uint64_t start = now - (30 - i * 5) * 1'000'000'000ull;
    auto* fe = Resource(&td, "frontend");
    AddSpan(fe, tid, Id('\x22', 8, static_cast<char>('a' + i)), "",
            i == 2 ? "POST /pay" : "GET /cart", otlp::Span::SPAN_KIND_SERVER, start,
            300'000'000 + i * 1'000'000, i == 2, i == 2 ? 500 : 200);
    auto* cart = Resource(&td, "cart");
    AddSpan(cart, tid, Id('\x33', 8, static_cast<char>('a' + i)),
            Id('\x22', 8, static_cast<char>('a' + i)), "SELECT", otlp::Span::SPAN_KIND_CLIENT,
            start + 10'000'000, 100'000'000, false, 0);
  }
  return td.SerializeAsString();
}

// The HTTP API's JSON answer parsed into the gRPC response type.
template <typename M>
M FromHttp(const std::string& url) {
  auto r = th::HttpGet(url, {std::string("X-Scope-OrgID: ") + kTenant});
  EXPECT_EQ(r.status, 200) << url << ": " << r.body;
  M m;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  auto s = google::protobuf::util::JsonStringToMessage(r.body, &m, o);
  EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << r.body;
  return m;
}

template <typename M>
void ExpectSame(const M& http, const M& grpc_answer, const std::string& what) {
  MessageDifferencer d;
  d.set_float_comparison(MessageDifferencer::APPROXIMATE);
  std::string diff;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(http, grpc_answer)) << what << ": HTTP and gRPC differ:\n"
                                            << diff << "\nHTTP: " << http.ShortDebugString()
                                            << "\ngRPC: " << grpc_answer.ShortDebugString();
}

tempopb::SearchResponse MergeStream(const std::vector<tempopb::SearchResponse>& msgs);

// An exemplar's identity: its labels (trace:id, span:id).
std::string ExemplarKey(const tempopb::Exemplar& e) {
  std::string k;
  for (const auto& l : e.labels()) k += l.key() + "=" + l.value().ShortDebugString() + ";";
  return k;
}

// query_range messages merged: series by promLabels, a sample replaces the
// one at the same timestamp, an exemplar replaces the one with the same
// labels (Tempo's diff resends an exemplar whose value changed: a NaN
// placeholder takes its step's sample, which later jobs raise), exemplars
// sorted by time as Tempo sorts them; metrics from the last.
tempopb::QueryRangeResponse MergeMetrics(const std::vector<tempopb::QueryRangeResponse>& msgs) {
  std::map<std::string, tempopb::TimeSeries> series;
  for (const auto& m : msgs) {
    for (const auto& s : m.series()) {
      auto [it, inserted] = series.try_emplace(s.prom_labels(), s);
      if (inserted) continue;
      std::map<int64_t, double> samples;
      for (const auto& p : it->second.samples()) samples[p.timestamp_ms()] = p.value();
      for (const auto& p : s.samples()) samples[p.timestamp_ms()] = p.value();
      it->second.clear_samples();
      for (const auto& [ts, v] : samples) {
        auto* p = it->second.add_samples();
        p->set_timestamp_ms(ts);
        p->set_value(v);
      }
      for (const auto& e : s.exemplars()) *it->second.add_exemplars() = e;
    }
  }
  tempopb::QueryRangeResponse merged;
  for (auto& [k, s] : series) {
    std::map<std::string, tempopb::Exemplar> latest;
    for (const auto& e : s.exemplars()) latest[ExemplarKey(e)] = e;
    std::vector<tempopb::Exemplar> ex;
    for (auto& [key, e] : latest) ex.push_back(e);
    std::stable_sort(ex.begin(), ex.end(), [](const auto& a, const auto& b) {
      if (a.timestamp_ms() != b.timestamp_ms()) return a.timestamp_ms() < b.timestamp_ms();
      return ExemplarKey(a) < ExemplarKey(b);
    });
    s.clear_exemplars();
    for (auto& e : ex) *s.add_exemplars() = e;
    *merged.add_series() = s;
  }
  if (!msgs.empty()) *merged.mutable_metrics() = msgs.back().metrics();
  return merged;
}

// Reads a whole server stream.
template <typename Resp, typename Call>
std::pair<grpc::Status, std::vector<Resp>> ReadAll(Call call, bool with_tenant = true) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  if (with_tenant) ctx.AddMetadata("x-scope-orgid", kTenant);
  auto reader = call(&ctx);
  std::vector<Resp> out;
  Resp m;
  while (reader->Read(&m)) out.push_back(m);
  return {reader->Finish(), std::move(out)};
}

class StreamingQuerierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cfg_dir_ = new th::TempDir();
    th::WriteFile(cfg_dir_->Join("sightline.yaml"), "multitenancy:\n  enabled: true\n");
    auto s = th::SightlineServer::Start({"--config.file=" + cfg_dir_->Join("sightline.yaml")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = s->release();
    now_ = NowNanos();
    auto r = th::HttpPost(
        server_->http_url() + "/v1/traces", TestTraces(now_),
        {"Content-Type: application/x-protobuf", std::string("X-Scope-OrgID: ") + kTenant});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete cfg_dir_;
    cfg_dir_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "server did not start";
  }

  std::string url() const { return server_->http_url(); }
  // host:port of the HTTP port, as Grafana derives it from the data source URL.
  std::string http_target() const { return url().substr(std::string("http://").size()); }

  // Both ways in: the gRPC port and the HTTP port.
  std::vector<std::pair<std::string, std::string>> Targets() const {
    return {{"grpc port", server_->grpc_addr()}, {"http port", http_target()}};
  }

  static std::unique_ptr<tempopb::StreamingQuerier::Stub> Stub(const std::string& target) {
    return tempopb::StreamingQuerier::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }

  static th::TempDir* cfg_dir_;
  static th::SightlineServer* server_;
  static uint64_t now_;
};

th::TempDir* StreamingQuerierTest::cfg_dir_ = nullptr;
th::SightlineServer* StreamingQuerierTest::server_ = nullptr;
uint64_t StreamingQuerierTest::now_ = 0;

TEST_F(StreamingQuerierTest, SearchEqualsHttpOnBothPorts) {
  const std::string q = "{ resource.service.name = \"frontend\" }";
  auto http = FromHttp<tempopb::SearchResponse>(url() + "/api/search?q=" + th::UrlEncode(q) +
                                                "&limit=20&spss=3");
  ASSERT_EQ(http.traces_size(), 3) << http.ShortDebugString();
  EXPECT_EQ(http.metrics().completed_jobs(), http.metrics().total_jobs());
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = Stub(target);
    tempopb::SearchRequest req;
    req.set_query(q);
    req.set_limit(20);
    req.set_spans_per_span_set(3);
    auto [status, msgs] = ReadAll<tempopb::SearchResponse>(
        [&](grpc::ClientContext* c) { return stub->Search(c, req); });
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    ASSERT_GE(msgs.size(), 1u);  // one job: everything is in the head
    const auto& last = msgs.back();
    EXPECT_GT(last.metrics().total_jobs(), 0u);
    EXPECT_EQ(last.metrics().completed_jobs(), last.metrics().total_jobs());
    ExpectSame(http, MergeStream(msgs), "search");
  }
}

TEST_F(StreamingQuerierTest, LegacyTagsSearchAndTimeRange) {
  const uint64_t start_s = now_ / 1'000'000'000ull - 3600;
  const uint64_t end_s = now_ / 1'000'000'000ull + 60;
  auto http = FromHttp<tempopb::SearchResponse>(
      url() + "/api/search?tags=" + th::UrlEncode("name=\"POST /pay\"") +
      "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s));
  ASSERT_EQ(http.traces_size(), 1) << http.ShortDebugString();
  auto stub = Stub(http_target());
  tempopb::SearchRequest req;
  (*req.mutable_tags())["name"] = "POST /pay";
  req.set_start(static_cast<uint32_t>(start_s));
  req.set_end(static_cast<uint32_t>(end_s));
  auto [status, msgs] = ReadAll<tempopb::SearchResponse>(
      [&](grpc::ClientContext* c) { return stub->Search(c, req); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(msgs.empty());
  ExpectSame(http, MergeStream(msgs), "tags search");
}

TEST_F(StreamingQuerierTest, MetricsQueryRangeEqualsHttp) {
  const std::string q = "{ } | count_over_time() by (resource.service.name)";
  const uint64_t start_s = (now_ / 1'000'000'000ull / 60) * 60 - 600;
  const uint64_t end_s = start_s + 900;
  auto http = FromHttp<tempopb::QueryRangeResponse>(
      url() + "/api/metrics/query_range?q=" + th::UrlEncode(q) +
      "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s) + "&step=60s");
  ASSERT_EQ(http.series_size(), 2) << http.ShortDebugString();
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = Stub(target);
    tempopb::QueryRangeRequest req;
    req.set_query(q);
    req.set_start(start_s * 1'000'000'000ull);
    req.set_end(end_s * 1'000'000'000ull);
    req.set_step(60'000'000'000ull);
    auto [status, msgs] = ReadAll<tempopb::QueryRangeResponse>(
        [&](grpc::ClientContext* c) { return stub->MetricsQueryRange(c, req); });
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_GE(msgs.size(), 1u);  // one job: the head
    const auto last = MergeMetrics(msgs);
    EXPECT_EQ(last.metrics().completed_jobs(), last.metrics().total_jobs());
    double total = 0;
    for (const auto& s : last.series()) {
      for (const auto& p : s.samples()) total += p.value();
    }
    EXPECT_EQ(total, 6) << last.ShortDebugString();  // 6 spans counted
    ExpectSame(http, last, "query_range");
  }
  // Instant query, same comparison.
  auto http_instant = FromHttp<tempopb::QueryInstantResponse>(
      url() + "/api/metrics/query?q=" + th::UrlEncode(q) + "&start=" + std::to_string(start_s) +
      "&end=" + std::to_string(end_s));
  auto stub = Stub(http_target());
  tempopb::QueryInstantRequest ireq;
  ireq.set_query(q);
  ireq.set_start(start_s * 1'000'000'000ull);
  ireq.set_end(end_s * 1'000'000'000ull);
  auto [status, msgs] = ReadAll<tempopb::QueryInstantResponse>(
      [&](grpc::ClientContext* c) { return stub->MetricsQueryInstant(c, ireq); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(http_instant.series_size(), 2) << http_instant.ShortDebugString();
  ExpectSame(http_instant, msgs.back(), "instant");
}

TEST_F(StreamingQuerierTest, TagsAndTagValuesEqualHttp) {
  auto http_tags = FromHttp<tempopb::SearchTagsV2Response>(url() + "/api/v2/search/tags");
  auto http_tags_v1 = FromHttp<tempopb::SearchTagsResponse>(url() + "/api/search/tags");
  auto http_values = FromHttp<tempopb::SearchTagValuesV2Response>(
      url() + "/api/v2/search/tag/resource.service.name/values");
  auto http_values_v1 =
      FromHttp<tempopb::SearchTagValuesResponse>(url() + "/api/search/tag/service.name/values");
  auto http_filtered = FromHttp<tempopb::SearchTagValuesV2Response>(
      url() + "/api/v2/search/tag/span.http.status_code/values?q=" +
      th::UrlEncode("{ resource.service.name = \"frontend\" }"));
  ASSERT_EQ(http_values.tag_values_size(), 2) << http_values.ShortDebugString();
  ASSERT_EQ(http_filtered.tag_values_size(), 2) << http_filtered.ShortDebugString();
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = Stub(target);
    tempopb::SearchTagsRequest treq;
    auto [s1, tags] = ReadAll<tempopb::SearchTagsV2Response>(
        [&](grpc::ClientContext* c) { return stub->SearchTagsV2(c, treq); });
    ASSERT_TRUE(s1.ok()) << s1.error_message();
    ASSERT_FALSE(tags.empty());
    auto got_tags = tags.back();
    EXPECT_EQ(got_tags.metrics().completed_jobs(), got_tags.metrics().total_jobs());
    got_tags.clear_metrics();
    ExpectSame(http_tags, got_tags, "tags v2");

    auto [s2, tags_v1] = ReadAll<tempopb::SearchTagsResponse>(
        [&](grpc::ClientContext* c) { return stub->SearchTags(c, treq); });
    ASSERT_TRUE(s2.ok()) << s2.error_message();
    ASSERT_FALSE(tags_v1.empty());
    auto got_v1 = tags_v1.back();
    got_v1.clear_metrics();
    ExpectSame(http_tags_v1, got_v1, "tags v1");

    tempopb::SearchTagValuesRequest vreq;
    vreq.set_tag_name("resource.service.name");
    auto [s3, values] = ReadAll<tempopb::SearchTagValuesV2Response>(
        [&](grpc::ClientContext* c) { return stub->SearchTagValuesV2(c, vreq); });
    ASSERT_TRUE(s3.ok()) << s3.error_message();
    ASSERT_FALSE(values.empty());
    auto got_values = values.back();
    got_values.clear_metrics();
    ExpectSame(http_values, got_values, "tag values v2");

    vreq.set_tag_name("service.name");
    auto [s4, values_v1] = ReadAll<tempopb::SearchTagValuesResponse>(
        [&](grpc::ClientContext* c) { return stub->SearchTagValues(c, vreq); });
    ASSERT_TRUE(s4.ok()) << s4.error_message();
    ASSERT_FALSE(values_v1.empty());
    auto got_values_v1 = values_v1.back();
    got_values_v1.clear_metrics();
    ExpectSame(http_values_v1, got_values_v1, "tag values v1");

    vreq.set_tag_name("span.http.status_code");
    vreq.set_query("{ resource.service.name = \"frontend\" }");
    auto [s5, filtered] = ReadAll<tempopb::SearchTagValuesV2Response>(
        [&](grpc::ClientContext* c) { return stub->SearchTagValuesV2(c, vreq); });
    ASSERT_TRUE(s5.ok()) << s5.error_message();
    ASSERT_FALSE(filtered.empty());
    auto got_filtered = filtered.back();
    got_filtered.clear_metrics();
    ExpectSame(http_filtered, got_filtered, "filtered tag values");
  }
}

TEST_F(StreamingQuerierTest, ErrorsAsGrpcCodes) {
  const std::string bad = "{ span.foo = }";
  auto http = th::HttpGet(url() + "/api/search?q=" + th::UrlEncode(bad),
                          {std::string("X-Scope-OrgID: ") + kTenant});
  ASSERT_EQ(http.status, 400);
  std::string http_msg = http.body;
  while (!http_msg.empty() && http_msg.back() == '\n') http_msg.pop_back();
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = Stub(target);
    tempopb::SearchRequest req;
    req.set_query(bad);
    auto [status, msgs] = ReadAll<tempopb::SearchResponse>(
        [&](grpc::ClientContext* c) { return stub->Search(c, req); });
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), http_msg);

    // A search query where a metrics query is expected.
    tempopb::QueryRangeRequest mreq;
    mreq.set_query("{ }");
    mreq.set_start((now_ / 1'000'000'000ull - 600) * 1'000'000'000ull);
    mreq.set_end(now_);
    mreq.set_step(60'000'000'000ull);
    auto [mstatus, mmsgs] = ReadAll<tempopb::QueryRangeResponse>(
        [&](grpc::ClientContext* c) { return stub->MetricsQueryRange(c, mreq); });
    EXPECT_EQ(mstatus.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << mstatus.error_message();

    // Not a TraceQL attribute: 400 on HTTP, INVALID_ARGUMENT here.
    const std::string bad_tag = "{";
    auto http_tag = th::HttpGet(url() + "/api/v2/search/tag/" + th::UrlEncode(bad_tag) + "/values",
                                {std::string("X-Scope-OrgID: ") + kTenant});
    EXPECT_EQ(http_tag.status, 400) << http_tag.body;
    tempopb::SearchTagValuesRequest vreq;
    vreq.set_tag_name(bad_tag);
    auto [vstatus, vmsgs] = ReadAll<tempopb::SearchTagValuesV2Response>(
        [&](grpc::ClientContext* c) { return stub->SearchTagValuesV2(c, vreq); });
    EXPECT_EQ(vstatus.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << vstatus.error_message();
    EXPECT_EQ(vstatus.error_message() + "\n", http_tag.body);

    // Multi-tenancy is on: no org id is refused as on HTTP (401).
    tempopb::SearchRequest ok;
    auto [nstatus, nmsgs] = ReadAll<tempopb::SearchResponse>(
        [&](grpc::ClientContext* c) { return stub->Search(c, ok); }, /*with_tenant=*/false);
    EXPECT_EQ(nstatus.error_code(), grpc::StatusCode::UNAUTHENTICATED) << nstatus.error_message();

    // Another tenant sees nothing.
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", "team-b");
    auto reader = stub->Search(&ctx, ok);
    tempopb::SearchResponse m, last;
    while (reader->Read(&m)) last = m;
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(last.traces_size(), 0);
  }
}

// Sends `parts` on a fresh TCP connection to the HTTP port, pausing between
// them, and returns what comes back until the server closes or 5 s pass.
std::string RawExchange(const std::string& hostport, const std::vector<std::string>& parts) {
  size_t colon = hostport.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1))));
  ::inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  if (parts.empty()) {
    ::close(fd);
    return "";
  }
  for (const auto& p : parts) {
    ::send(fd, p.data(), p.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(50ms);
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.find("\r\n\r\n") != std::string::npos) break;
  }
  ::close(fd);
  return out;
}

TEST_F(StreamingQuerierTest, Http11StillServedOnThePort) {
  // After gRPC connections came and went on the same port.
  auto stub = Stub(http_target());
  tempopb::SearchTagsRequest treq;
  auto [status, tags] = ReadAll<tempopb::SearchTagsV2Response>(
      [&](grpc::ClientContext* c) { return stub->SearchTagsV2(c, treq); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto r = th::HttpGet(url() + "/api/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo");
  r = th::HttpGet(url() + "/api/search/tags", {std::string("X-Scope-OrgID: ") + kTenant});
  EXPECT_EQ(r.status, 200);
  // "P" alone could be the start of "PRI * HTTP/2.0": the server waits for
  // more, then serves HTTP/1.1 once "POST" rules the preface out.
  std::string resp = RawExchange(
      http_target(), {"P", "OST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"});
  EXPECT_EQ(resp.substr(0, 12), "HTTP/1.1 405") << resp;
  resp = RawExchange(http_target(), {"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n"});
  EXPECT_EQ(resp.substr(0, 12), "HTTP/1.1 200") << resp;
  // A connection that closes before sending anything does no harm.
  resp = RawExchange(http_target(), {});
  EXPECT_EQ(th::HttpGet(url() + "/api/echo").status, 200);
}

// Node's @grpc/grpc-js + @grpc/proto-loader on our .proto: the same answers
// through an independent HTTP/2 and protobuf implementation.
TEST_F(StreamingQuerierTest, NodeGrpcJsClient) {
  const std::string tools = th::ToolsDir();
  std::error_code ec;
  for (const char* pkg : {"@grpc/grpc-js", "@grpc/proto-loader"}) {
    if (!std::filesystem::exists(tools + "/node_modules/" + pkg, ec)) {
      GTEST_SKIP() << pkg << " not installed in " << tools << " (run scripts/bootstrap)";
    }
  }
  auto http = FromHttp<tempopb::SearchResponse>(
      url() + "/api/search?q=" + th::UrlEncode("{ resource.service.name = \"frontend\" }"));
  std::vector<std::string> want_ids;
  for (const auto& t : http.traces()) want_ids.push_back(t.trace_id());
  std::sort(want_ids.begin(), want_ids.end());
  auto bad = th::HttpGet(url() + "/api/search?q=" + th::UrlEncode("{ span.foo = }"),
                         {std::string("X-Scope-OrgID: ") + kTenant});
  std::string bad_msg = bad.body;
  while (!bad_msg.empty() && bad_msg.back() == '\n') bad_msg.pop_back();

  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto proc = th::Process::Start(
        {"node", th::SourceDir() + "/tests/traces/tempo_stream_client.js", target, kTenant},
        {{"NODE_PATH", tools + "/node_modules"}});
    ASSERT_TRUE(proc.ok()) << proc.status().ToString();
    std::optional<int> st = (*proc)->Wait(90s);
    std::string out = (*proc)->Output();
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << out;
    size_t p = out.find("{\"search\"");
    ASSERT_NE(p, std::string::npos) << out;
    std::string line = out.substr(p, out.find('\n', p) - p);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    EXPECT_EQ(int64_t(doc["search"]["code"]), 0) << line;
    EXPECT_GE(int64_t(doc["search"]["messages"]), 1) << line;
    std::vector<std::string> ids;
    for (auto id : doc["search"]["traceIds"].get_array()) ids.emplace_back(std::string_view(id));
    EXPECT_EQ(ids, want_ids) << line;
    EXPECT_EQ(int64_t(doc["search"]["completedJobs"]), int64_t(doc["search"]["totalJobs"]));
    EXPECT_EQ(int64_t(doc["metrics"]["code"]), 0) << line;
    EXPECT_EQ(doc["metrics"]["series"].get_array().size(), 2u) << line;
    EXPECT_EQ(double(doc["metrics"]["total"]), 6.0) << line;
    EXPECT_EQ(int64_t(doc["tags"]["code"]), 0) << line;
    std::vector<std::string> values;
    for (auto v : doc["values"]["values"].get_array()) values.emplace_back(std::string_view(v));
    EXPECT_EQ(values, (std::vector<std::string>{"cart", "frontend"})) << line;
    EXPECT_EQ(int64_t(doc["bad"]["code"]), 3) << line;  // INVALID_ARGUMENT
    EXPECT_EQ(std::string_view(doc["bad"]["message"]), bad_msg) << line;
  }
}

// ------------------------------------------------------------------
// Progressive search: a store with many blocks, one block per job
// (traces.search.target_bytes_per_job: 1). Each streamed message carries
// the traces new since the previous one (Tempo >= 2.5 streams diffs) and
// the cumulative metrics; merged, they equal /api/search's answer.

constexpr int kBatches = 10;
constexpr int kTracesPerBatch = 3;
constexpr int kChildSpans = 12;
constexpr size_t kPayloadBytes = 4096;

std::string JobTraceId(int batch, int i) {
  std::string id(16, '\x44');
  id[14] = static_cast<char>(batch + 1);
  id[15] = static_cast<char>(i + 1);
  return id;
}

std::string SpanId(int batch, int i, int k) {
  std::string id(8, '\x55');
  id[5] = static_cast<char>(batch + 1);
  id[6] = static_cast<char>(i + 1);
  id[7] = static_cast<char>(k + 1);
  return id;
}

void AddPayload(otlp::ResourceSpans* rs) {
  auto* sp = rs->mutable_scope_spans(0)->mutable_spans(rs->scope_spans(0).spans_size() - 1);
  auto* a = sp->add_attributes();
  a->set_key("payload");
  a->mutable_value()->set_string_value(std::string(kPayloadBytes, 'p'));
}

// Batch b: kTracesPerBatch traces (a root and kChildSpans children), newer
// batches newer; batch 2 also holds the root of a trace whose child only
// arrives in batch 6 (so the trace is split over two blocks).
std::string JobBatch(uint64_t base, int b) {
  otlp::TracesData td;
  for (int i = 0; i < kTracesPerBatch; ++i) {
    const std::string tid = JobTraceId(b, i);
    const uint64_t start = base + (b * kTracesPerBatch + i) * 1'000'000'000ull;
    auto* fe = Resource(&td, "frontend");
    AddSpan(fe, tid, SpanId(b, i, 0), "", "GET /job", otlp::Span::SPAN_KIND_SERVER, start,
            500'000'000, false, 200);
    auto* be = Resource(&td, "backend");
    for (int k = 1; k <= kChildSpans; ++k) {
      AddSpan(be, tid, SpanId(b, i, k), SpanId(b, i, 0), "work", otlp::Span::SPAN_KIND_INTERNAL,
              start + k * 1'000'000, 1'000'000, false, 200);
      AddPayload(be);
    }
  }
  const std::string split = JobTraceId(99, 0);
  const uint64_t split_start = base + 2 * kTracesPerBatch * 1'000'000'000ull + 500'000'000;
  if (b == 2) {
    AddSpan(Resource(&td, "frontend"), split, SpanId(99, 0, 0), "", "split-root",
            otlp::Span::SPAN_KIND_SERVER, split_start, 900'000'000, false, 200);
  }
  if (b == 6) {
    AddSpan(Resource(&td, "db"), split, SpanId(99, 0, 1), SpanId(99, 0, 0), "split-child",
            otlp::Span::SPAN_KIND_CLIENT, split_start + 100'000'000, 200'000'000, false, 200);
  }
  return td.SerializeAsString();
}

// A counter from /metrics (sum over the lines that start with `series`).
double MetricValue(const std::string& url, const std::string& series) {
  auto r = th::HttpGet(url + "/metrics");
  double total = 0;
  size_t pos = 0;
  while ((pos = r.body.find(series, pos)) != std::string::npos) {
    if (pos == 0 || r.body[pos - 1] == '\n') {
      size_t sp = r.body.find(' ', pos + series.size());
      size_t nl = r.body.find('\n', pos);
      if (sp != std::string::npos && sp < nl)
        total += std::stod(r.body.substr(sp + 1, nl - sp - 1));
    }
    pos += series.size();
  }
  return total;
}

// All messages merged as Grafana merges them: traces appended (each must
// arrive once), metrics from the last message.
tempopb::SearchResponse MergeStream(const std::vector<tempopb::SearchResponse>& msgs) {
  tempopb::SearchResponse merged;
  std::set<std::string> seen;
  for (const auto& m : msgs) {
    for (const auto& t : m.traces()) {
      EXPECT_TRUE(seen.insert(t.trace_id()).second) << "trace sent twice: " << t.trace_id();
      *merged.add_traces() = t;
    }
  }
  std::stable_sort(merged.mutable_traces()->begin(), merged.mutable_traces()->end(),
                   [](const auto& a, const auto& b) {
                     return a.start_time_unix_nano() > b.start_time_unix_nano();
                   });
  if (!msgs.empty()) *merged.mutable_metrics() = msgs.back().metrics();
  return merged;
}

// A server whose every push is cut into a block of its own (every block a
// job), with `extra` appended under traces.search, fed the kBatches batches.
void StartJobsServer(th::TempDir* dir, const std::string& search_extra,
                     const std::string& traces_extra, th::SightlineServer** server,
                     uint64_t* base) {
  th::WriteFile(dir->Join("sightline.yaml"),
                "traces:\n  store:\n    max_block_bytes: 1\n  search:\n"
                "    target_bytes_per_job: 1\n" +
                    search_extra + traces_extra);
  auto s = th::SightlineServer::Start({"--config.file=" + dir->Join("sightline.yaml")});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  *server = s->release();
  *base = NowNanos() - 3600ull * 1'000'000'000ull;
  const std::string flushed = "tempo_ingester_blocks_flushed_total";
  for (int b = 0; b < kBatches; ++b) {
    auto r = th::HttpPost((*server)->http_url() + "/v1/traces", JobBatch(*base, b),
                          {"Content-Type: application/x-protobuf"});
    ASSERT_EQ(r.status, 200) << r.body;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (MetricValue((*server)->http_url(), flushed) < b + 1) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "block " << b << " not cut";
      std::this_thread::sleep_for(20ms);
    }
  }
}

class StreamingJobsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cfg_dir_ = new th::TempDir();
    // A message per job (streaming_interval 0) and a small series limit.
    StartJobsServer(cfg_dir_, "    streaming_interval: 0s\n",
                    "  metrics:\n    max_response_series: 100\n", &server_, &base_);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete cfg_dir_;
    cfg_dir_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "server did not start";
  }

  std::string url() const { return server_->http_url(); }
  std::vector<std::pair<std::string, std::string>> Targets() const {
    return {{"grpc port", server_->grpc_addr()},
            {"http port", url().substr(std::string("http://").size())}};
  }
  std::string SearchUrl(const std::string& q, int limit, int spss = 3) const {
    return url() + "/api/search?q=" + th::UrlEncode(q) + "&limit=" + std::to_string(limit) +
           "&spss=" + std::to_string(spss);
  }
  static std::vector<tempopb::SearchResponse> Stream(const std::string& target,
                                                     const tempopb::SearchRequest& req) {
    auto stub = tempopb::StreamingQuerier::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    auto reader = stub->Search(&ctx, req);
    std::vector<tempopb::SearchResponse> out;
    tempopb::SearchResponse m;
    while (reader->Read(&m)) out.push_back(m);
    grpc::Status st = reader->Finish();
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    return out;
  }

  static th::TempDir* cfg_dir_;
  static th::SightlineServer* server_;
  static uint64_t base_;
};

th::TempDir* StreamingJobsTest::cfg_dir_ = nullptr;
th::SightlineServer* StreamingJobsTest::server_ = nullptr;
uint64_t StreamingJobsTest::base_ = 0;

constexpr int kAllTraces = kBatches * kTracesPerBatch + 1;  // + the split trace

// Fails with a one-shot answer: traces must arrive over several messages
// while completedJobs climbs to totalJobs.
TEST_F(StreamingJobsTest, ProgressiveMessagesMergeToHttpAnswer) {
  const std::string q = "{ }";
  auto http = FromHttp<tempopb::SearchResponse>(SearchUrl(q, 1000));
  ASSERT_EQ(http.traces_size(), kAllTraces) << http.metrics().ShortDebugString();
  EXPECT_GE(http.metrics().total_jobs(), static_cast<uint32_t>(kBatches));
  EXPECT_EQ(http.metrics().total_blocks(), static_cast<uint32_t>(kBatches));
  EXPECT_EQ(http.metrics().completed_jobs(), http.metrics().total_jobs());
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    tempopb::SearchRequest req;
    req.set_query(q);
    req.set_limit(1000);
    req.set_spans_per_span_set(3);
    auto msgs = Stream(target, req);
    ASSERT_GE(msgs.size(), static_cast<size_t>(kBatches));
    uint32_t prev = 0;
    size_t with_traces = 0;
    for (const auto& m : msgs) {
      EXPECT_EQ(m.metrics().total_jobs(), http.metrics().total_jobs());
      EXPECT_GT(m.metrics().completed_jobs(), prev) << "each message completes a job";
      prev = m.metrics().completed_jobs();
      with_traces += m.traces_size() > 0;
    }
    EXPECT_EQ(prev, msgs.back().metrics().total_jobs());
    EXPECT_GE(with_traces, static_cast<size_t>(kBatches)) << "traces in one message only";
    // Newest block first: the first message holds the newest batch.
    ASSERT_GT(msgs.front().traces_size(), 0);
    EXPECT_EQ(msgs.front().traces(0).trace_id(), http.traces(0).trace_id());
    ExpectSame(http, MergeStream(msgs), "merged stream");
  }
}

// TraceQL metrics stream per job too: each message carries the series and
// samples new or changed since the previous one (Tempo's diff); merged, they
// equal /api/metrics/query_range.
TEST_F(StreamingJobsTest, MetricsQueryRangeStreamsDiffsPerJob) {
  const std::string q = "{ } | count_over_time() by (resource.service.name)";
  const uint64_t start_s = base_ / 1'000'000'000ull - 60;
  const uint64_t end_s = start_s + 180;
  auto http = FromHttp<tempopb::QueryRangeResponse>(
      url() + "/api/metrics/query_range?q=" + th::UrlEncode(q) +
      "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s) + "&step=5s");
  ASSERT_EQ(http.series_size(), 3) << http.ShortDebugString();  // frontend, backend, db
  EXPECT_EQ(http.metrics().completed_jobs(), http.metrics().total_jobs());
  EXPECT_GE(http.metrics().total_jobs(), static_cast<uint32_t>(kBatches));
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = tempopb::StreamingQuerier::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    tempopb::QueryRangeRequest req;
    req.set_query(q);
    req.set_start(start_s * 1'000'000'000ull);
    req.set_end(end_s * 1'000'000'000ull);
    req.set_step(5'000'000'000ull);
    auto [status, msgs] = ReadAll<tempopb::QueryRangeResponse>(
        [&](grpc::ClientContext* c) { return stub->MetricsQueryRange(c, req); },
        /*with_tenant=*/false);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_GE(msgs.size(), static_cast<size_t>(kBatches));
    uint32_t prev = 0;
    size_t with_samples = 0;
    for (const auto& m : msgs) {
      EXPECT_GT(m.metrics().completed_jobs(), prev);
      prev = m.metrics().completed_jobs();
      with_samples += m.series_size() > 0;
    }
    EXPECT_EQ(prev, msgs.back().metrics().total_jobs());
    EXPECT_GE(with_samples, static_cast<size_t>(kBatches)) << "series in one message only";
    // A diff, not the whole answer again: the last message alone is less.
    size_t last_samples = 0;
    for (const auto& s : msgs.back().series()) last_samples += s.samples_size();
    size_t all_samples = 0;
    for (const auto& s : http.series()) all_samples += s.samples_size();
    EXPECT_LT(last_samples, all_samples);
    ExpectSame(http, MergeMetrics(msgs), "merged query_range");
  }
}

// A trace split over two blocks is found whole (its root in one block, the
// child in another) by both paths.
TEST_F(StreamingJobsTest, TraceSplitOverBlocksIsWhole) {
  const std::string q = "{ name = \"split-root\" } > { resource.service.name = \"db\" }";
  auto root = FromHttp<tempopb::SearchResponse>(SearchUrl("{ name = \"split-root\" }", 20));
  ASSERT_EQ(root.traces_size(), 1) << root.ShortDebugString();
  EXPECT_EQ(root.traces(0).service_stats().size(), 2u) << root.ShortDebugString();
  auto http = FromHttp<tempopb::SearchResponse>(SearchUrl(q, 20));
  ASSERT_EQ(http.traces_size(), 1) << http.ShortDebugString();
  EXPECT_EQ(http.traces(0).span_sets(0).matched(), 1u);
  tempopb::SearchRequest req;
  req.set_query(q);
  req.set_limit(20);
  auto msgs = Stream(Targets()[0].second, req);
  ExpectSame(http, MergeStream(msgs), "split trace");
}

// limit reached in the first jobs: the search stops, later jobs count as
// done, and the answer is the HTTP API's.
TEST_F(StreamingJobsTest, LimitStopsEarly) {
  const std::string q = "{ resource.service.name = \"frontend\" }";
  auto http = FromHttp<tempopb::SearchResponse>(SearchUrl(q, 5));
  ASSERT_EQ(http.traces_size(), 5);
  EXPECT_LT(http.metrics().inspected_traces(), static_cast<uint32_t>(kAllTraces));
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    tempopb::SearchRequest req;
    req.set_query(q);
    req.set_limit(5);
    auto msgs = Stream(target, req);
    ASSERT_FALSE(msgs.empty());
    EXPECT_LT(msgs.size(), static_cast<size_t>(kBatches)) << "did not stop at the limit";
    EXPECT_EQ(msgs.back().metrics().completed_jobs(), msgs.back().metrics().total_jobs());
    ExpectSame(http, MergeStream(msgs), "limit 5");
  }
}

// with(most_recent=true): every job runs, the newest `limit` are kept, and a
// trace is streamed only once no later job can displace it.
TEST_F(StreamingJobsTest, MostRecentStreamsOnlyFinalTraces) {
  const std::string q = "{ } with(most_recent=true)";
  auto http = FromHttp<tempopb::SearchResponse>(SearchUrl(q, 4));
  ASSERT_EQ(http.traces_size(), 4);
  // The four newest: the last batch's three and one of the batch before.
  EXPECT_EQ(http.traces(0).trace_id(), [] {
    std::string hex;
    for (unsigned char c : JobTraceId(kBatches - 1, kTracesPerBatch - 1)) {
      static const char* d = "0123456789abcdef";
      hex += d[c >> 4];
      hex += d[c & 15];
    }
    return hex;
  }());
  tempopb::SearchRequest req;
  req.set_query(q);
  req.set_limit(4);
  auto msgs = Stream(Targets()[1].second, req);
  ASSERT_GE(msgs.size(), static_cast<size_t>(kBatches));
  EXPECT_GT(msgs.front().traces_size(), 0) << "the newest block's traces are final at once";
  ExpectSame(http, MergeStream(msgs), "most_recent");
}

// Node's @grpc/grpc-js sees the same progressive stream.
TEST_F(StreamingJobsTest, NodeGrpcJsClientSeesProgress) {
  const std::string tools = th::ToolsDir();
  std::error_code ec;
  for (const char* pkg : {"@grpc/grpc-js", "@grpc/proto-loader"}) {
    if (!std::filesystem::exists(tools + "/node_modules/" + pkg, ec)) {
      GTEST_SKIP() << pkg << " not installed in " << tools << " (run scripts/bootstrap)";
    }
  }
  auto http = FromHttp<tempopb::SearchResponse>(SearchUrl("{ }", 1000));
  std::vector<std::string> want_ids;
  for (const auto& t : http.traces()) want_ids.push_back(t.trace_id());
  std::sort(want_ids.begin(), want_ids.end());
  const uint64_t start_ns = (base_ / 1'000'000'000ull - 60) * 1'000'000'000ull;
  const uint64_t end_ns = start_ns + 180 * 1'000'000'000ull;
  auto proc = th::Process::Start({"node", th::SourceDir() + "/tests/traces/tempo_stream_client.js",
                                  Targets()[1].second, "anonymous", "jobs",
                                  std::to_string(start_ns), std::to_string(end_ns)},
                                 {{"NODE_PATH", tools + "/node_modules"}});
  ASSERT_TRUE(proc.ok()) << proc.status().ToString();
  std::optional<int> st = (*proc)->Wait(90s);
  std::string out = (*proc)->Output();
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << out;
  size_t p = out.find("{\"search\"");
  ASSERT_NE(p, std::string::npos) << out;
  std::string line = out.substr(p, out.find('\n', p) - p);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
  EXPECT_EQ(int64_t(doc["search"]["code"]), 0) << line;
  EXPECT_GE(int64_t(doc["search"]["messagesWithTraces"]), kBatches) << line;
  EXPECT_EQ(int64_t(doc["search"]["duplicates"]), 0) << line;
  EXPECT_EQ(int64_t(doc["search"]["completedJobs"]), int64_t(doc["search"]["totalJobs"])) << line;
  std::vector<std::string> ids;
  for (auto id : doc["search"]["traceIds"].get_array()) ids.emplace_back(std::string_view(id));
  EXPECT_EQ(ids, want_ids) << line;
  // The streamed instant query: progress per job, merged values as HTTP's.
  EXPECT_EQ(int64_t(doc["instant"]["code"]), 0) << line;
  EXPECT_GE(int64_t(doc["instant"]["messages"]), kBatches) << line;
  EXPECT_EQ(int64_t(doc["instant"]["completedJobs"]), int64_t(doc["instant"]["totalJobs"])) << line;
  EXPECT_EQ(double(doc["instant"]["values"]["{\"resource.service.name\"=\"backend\"}"]), 360) << line;
  EXPECT_EQ(double(doc["instant"]["values"]["{\"resource.service.name\"=\"frontend\"}"]), 31) << line;
  EXPECT_EQ(double(doc["instant"]["values"]["{\"resource.service.name\"=\"db\"}"]), 1) << line;
}

// The client cancels after the first message: the server stops scanning
// (the remaining jobs are not run) and counts the search as cancelled.
TEST_F(StreamingJobsTest, CancellationStopsTheScan) {
  const std::string jobs_metric = "sightline_traces_streaming_search_jobs_total";
  const std::string cancelled_metric =
      "sightline_traces_streaming_searches_total{outcome=\"cancelled\"}";
  const double jobs_before = MetricValue(url(), jobs_metric);
  const double cancelled_before = MetricValue(url(), cancelled_metric);
  // Big messages (every span's 4 KiB payload) and a client that stops
  // reading: HTTP/2 flow control holds the server until the cancel.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 65535);
  auto stub = tempopb::StreamingQuerier::NewStub(
      grpc::CreateCustomChannel(server_->grpc_addr(), grpc::InsecureChannelCredentials(), args));
  tempopb::SearchRequest req;
  req.set_query("{ span.payload != nil }");
  req.set_limit(1000);
  req.set_spans_per_span_set(100);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  auto reader = stub->Search(&ctx, req);
  tempopb::SearchResponse first;
  ASSERT_TRUE(reader->Read(&first));
  const uint32_t total_jobs = first.metrics().total_jobs();
  ASSERT_GE(total_jobs, static_cast<uint32_t>(kBatches));
  EXPECT_LT(first.metrics().completed_jobs(), total_jobs);
  std::this_thread::sleep_for(300ms);
  ctx.TryCancel();
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED) << st.error_message();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (MetricValue(url(), cancelled_metric) < cancelled_before + 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "server did not see the cancel";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(MetricValue(url(), jobs_metric) - jobs_before, total_jobs)
      << "the server scanned every job after the client cancelled";
}

// Instant messages merged: a series' latest value wins; metrics, status and
// message from the last message.
tempopb::QueryInstantResponse MergeInstant(const std::vector<tempopb::QueryInstantResponse>& msgs) {
  std::map<std::string, tempopb::InstantSeries> series;
  for (const auto& m : msgs) {
    for (const auto& s : m.series()) series[s.prom_labels()] = s;
  }
  tempopb::QueryInstantResponse merged;
  for (auto& [k, s] : series) *merged.add_series() = s;
  if (!msgs.empty()) {
    *merged.mutable_metrics() = msgs.back().metrics();
    merged.set_status(msgs.back().status());
    merged.set_message(msgs.back().message());
  }
  return merged;
}

// MetricsQueryInstant (gRPC) and /api/metrics/query run through the job
// planner: progress per job with cumulative metrics, the merged stream equal
// to the HTTP answer, and each value equal to the sum of the query_range
// samples over the same window (the unsplit counts).
TEST_F(StreamingJobsTest, InstantRunsAsJobsAndStreamsProgress) {
  const std::string q = "{ } | count_over_time() by (resource.service.name)";
  const uint64_t start_s = base_ / 1'000'000'000ull - 60;
  const uint64_t end_s = start_s + 180;
  const std::string range = "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s);
  auto http = FromHttp<tempopb::QueryInstantResponse>(url() + "/api/metrics/query?q=" +
                                                      th::UrlEncode(q) + range);
  ASSERT_EQ(http.series_size(), 3) << http.ShortDebugString();
  EXPECT_GE(http.metrics().total_jobs(), static_cast<uint32_t>(kBatches));
  EXPECT_EQ(http.metrics().completed_jobs(), http.metrics().total_jobs());
  std::map<std::string, double> want = {{"{\"resource.service.name\"=\"backend\"}", 360},
                                        {"{\"resource.service.name\"=\"db\"}", 1},
                                        {"{\"resource.service.name\"=\"frontend\"}", 31}};
  std::map<std::string, double> got;
  for (const auto& s : http.series()) got[s.prom_labels()] = s.value();
  EXPECT_EQ(got, want) << http.ShortDebugString();
  // The same as the query_range samples summed (step 5s over the window).
  auto qr = FromHttp<tempopb::QueryRangeResponse>(url() + "/api/metrics/query_range?q=" +
                                                  th::UrlEncode(q) + range + "&step=5s");
  std::map<std::string, double> summed;
  for (const auto& s : qr.series()) {
    for (const auto& p : s.samples()) summed[s.prom_labels()] += p.value();
  }
  EXPECT_EQ(summed, want);
  for (const auto& [name, target] : Targets()) {
    SCOPED_TRACE(name);
    auto stub = tempopb::StreamingQuerier::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    tempopb::QueryInstantRequest req;
    req.set_query(q);
    req.set_start(start_s * 1'000'000'000ull);
    req.set_end(end_s * 1'000'000'000ull);
    auto [status, msgs] = ReadAll<tempopb::QueryInstantResponse>(
        [&](grpc::ClientContext* c) { return stub->MetricsQueryInstant(c, req); },
        /*with_tenant=*/false);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_GE(msgs.size(), static_cast<size_t>(kBatches)) << "not streamed per job";
    uint32_t prev = 0;
    for (const auto& m : msgs) {
      EXPECT_GT(m.metrics().completed_jobs(), prev) << "each message completes a job";
      prev = m.metrics().completed_jobs();
      EXPECT_EQ(m.metrics().total_jobs(), http.metrics().total_jobs());
    }
    EXPECT_EQ(prev, http.metrics().total_jobs());
    ExpectSame(http, MergeInstant(msgs), "merged instant");
  }
}

// max_series (traces.metrics.max_response_series: 100 here): a query with
// one series per span (392) is cut to the limit, sorted by promLabels, with
// Tempo's status PARTIAL and message, over HTTP and gRPC; a request's
// max_series below the limit wins, above it is capped; small answers stay
// COMPLETE (no "status" in the JSON, as protobuf's zero value).
TEST_F(StreamingJobsTest, MaxSeriesPartialOverHttpAndGrpc) {
  const std::string q = "{ } | count_over_time() by (span:id)";
  const uint64_t start_s = base_ / 1'000'000'000ull - 60;
  const uint64_t end_s = start_s + 180;
  const std::string range = "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s);
  const std::string msg100 =
      "Response exceeds maximum series limit of 100, a partial response is returned. Warning: "
      "the accuracy of each individual value is not guaranteed.";
  auto http = FromHttp<tempopb::QueryRangeResponse>(url() + "/api/metrics/query_range?q=" +
                                                    th::UrlEncode(q) + range + "&step=5s");
  EXPECT_EQ(http.series_size(), 100);
  EXPECT_EQ(http.status(), tempopb::PARTIAL);
  EXPECT_EQ(http.message(), msg100);
  for (int i = 1; i < http.series_size(); ++i) {
    EXPECT_LT(http.series(i - 1).prom_labels(), http.series(i).prom_labels());
  }
  auto inst = FromHttp<tempopb::QueryInstantResponse>(url() + "/api/metrics/query?q=" +
                                                      th::UrlEncode(q) + range);
  EXPECT_EQ(inst.series_size(), 100);
  EXPECT_EQ(inst.status(), tempopb::PARTIAL);
  EXPECT_EQ(inst.message(), msg100);
  auto small = th::HttpGet(url() + "/api/metrics/query_range?q=" +
                           th::UrlEncode("{ } | count_over_time() by (resource.service.name)") +
                           range);
  ASSERT_EQ(small.status, 200) << small.body;
  EXPECT_EQ(small.body.find("\"status\""), std::string::npos) << small.body;
  EXPECT_EQ(small.body.find("\"message\""), std::string::npos) << small.body;

  auto stub = tempopb::StreamingQuerier::NewStub(
      grpc::CreateChannel(server_->grpc_addr(), grpc::InsecureChannelCredentials()));
  for (auto [requested, expected] : {std::pair{5u, 5}, {0u, 100}, {1000u, 100}}) {
    SCOPED_TRACE(requested);
    tempopb::QueryRangeRequest req;
    req.set_query(q);
    req.set_start(start_s * 1'000'000'000ull);
    req.set_end(end_s * 1'000'000'000ull);
    req.set_step(5'000'000'000ull);
    req.set_max_series(requested);
    auto [status, msgs] = ReadAll<tempopb::QueryRangeResponse>(
        [&](grpc::ClientContext* c) { return stub->MetricsQueryRange(c, req); },
        /*with_tenant=*/false);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_FALSE(msgs.empty());
    EXPECT_EQ(msgs.back().status(), tempopb::PARTIAL);
    EXPECT_NE(msgs.back().message().find("limit of " + std::to_string(expected) + ","),
              std::string::npos)
        << msgs.back().message();
    EXPECT_EQ(MergeMetrics(msgs).series_size(), expected);
    EXPECT_EQ(msgs.back().metrics().completed_jobs(), msgs.back().metrics().total_jobs());
  }
  tempopb::QueryInstantRequest ireq;
  ireq.set_query(q);
  ireq.set_start(start_s * 1'000'000'000ull);
  ireq.set_end(end_s * 1'000'000'000ull);
  auto [istatus, imsgs] = ReadAll<tempopb::QueryInstantResponse>(
      [&](grpc::ClientContext* c) { return stub->MetricsQueryInstant(c, ireq); },
      /*with_tenant=*/false);
  ASSERT_TRUE(istatus.ok()) << istatus.error_message();
  auto merged = MergeInstant(imsgs);
  EXPECT_EQ(merged.series_size(), 100);
  EXPECT_EQ(merged.status(), tempopb::PARTIAL);
}

// The HTTP API audit against Tempo's: since, default step, bad input as
// 400 text, Tempo's limit/minDuration/maxDuration checks.
TEST_F(StreamingJobsTest, MetricsParametersAsTempo) {
  const std::string q = th::UrlEncode("{ } | count_over_time()");
  // since=2h covers the data an hour old; the default (1h) only its end.
  auto with_since = FromHttp<tempopb::QueryRangeResponse>(
      url() + "/api/metrics/query_range?q=" + q + "&since=2h&step=60s");
  double total = 0;
  for (const auto& s : with_since.series()) {
    for (const auto& p : s.samples()) total += p.value();
  }
  EXPECT_EQ(total, 392) << with_since.ShortDebugString();
  auto inst = FromHttp<tempopb::QueryInstantResponse>(url() + "/api/metrics/query?q=" + q +
                                                      "&since=2h");
  ASSERT_EQ(inst.series_size(), 1);
  EXPECT_EQ(inst.series(0).value(), 392);
  // No step: Tempo's default, range/240 rounded down to 5s (2h -> 30s).
  const uint64_t end_s = base_ / 1'000'000'000ull + 3600;
  auto dflt = FromHttp<tempopb::QueryRangeResponse>(
      url() + "/api/metrics/query_range?q=" + q + "&start=" + std::to_string(end_s - 7200) +
      "&end=" + std::to_string(end_s));
  ASSERT_GE(dflt.series_size(), 1);
  ASSERT_GE(dflt.series(0).samples_size(), 1);
  for (const auto& p : dflt.series(0).samples()) EXPECT_EQ(p.timestamp_ms() % 30000, 0);
  for (const std::string& bad : std::vector<std::string>{
           "/api/metrics/query_range?q=" + th::UrlEncode("{ span.foo = }") + "&since=2h",
        "/api/metrics/query_range?q=" + q + "&start=10&end=5",
        "/api/metrics/query_range?q=" + q + "&start=abc",
        "/api/metrics/query_range?q=" + q + "&since=forever",
        "/api/metrics/query?q=" + th::UrlEncode("{ }"),
        "/api/search?q=" + th::UrlEncode("{ span.foo = }"), "/api/search?limit=0",
        "/api/search?minDuration=2s&maxDuration=1s", "/api/search?start=9&end=3"}) {
    auto r = th::HttpGet(url() + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_FALSE(r.body.empty()) << bad;
    EXPECT_NE(r.body[0], '{') << bad << ": plain text expected: " << r.body;
  }
}

// Tempo's query-frontend cadence (the default streaming_interval, 500ms):
// progress goes out on a timer, not per job, so a stream of many fast jobs
// sends at most about one message per interval, and the last message is
// complete.
class StreamingCadenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cfg_dir_ = new th::TempDir();
    StartJobsServer(cfg_dir_, "", "", &server_, &base_);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete cfg_dir_;
    cfg_dir_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "server did not start";
  }
  static th::TempDir* cfg_dir_;
  static th::SightlineServer* server_;
  static uint64_t base_;
};

th::TempDir* StreamingCadenceTest::cfg_dir_ = nullptr;
th::SightlineServer* StreamingCadenceTest::server_ = nullptr;
uint64_t StreamingCadenceTest::base_ = 0;

TEST_F(StreamingCadenceTest, MessagesFollowTheIntervalNotTheJobs) {
  const std::string url = server_->http_url();
  auto http = FromHttp<tempopb::SearchResponse>(url + "/api/search?q=" + th::UrlEncode("{ }") +
                                                "&limit=1000");
  ASSERT_EQ(http.traces_size(), kAllTraces);
  ASSERT_GE(http.metrics().total_jobs(), static_cast<uint32_t>(kBatches));
  auto stub = tempopb::StreamingQuerier::NewStub(
      grpc::CreateChannel(server_->grpc_addr(), grpc::InsecureChannelCredentials()));
  tempopb::SearchRequest req;
  req.set_query("{ }");
  req.set_limit(1000);
  req.set_spans_per_span_set(3);
  const auto t0 = std::chrono::steady_clock::now();
  auto [status, msgs] = ReadAll<tempopb::SearchResponse>(
      [&](grpc::ClientContext* c) { return stub->Search(c, req); }, /*with_tenant=*/false);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(msgs.empty());
  // One message per started 500ms, plus the final one.
  EXPECT_LE(msgs.size(), static_cast<size_t>(elapsed / 0.5) + 2)
      << msgs.size() << " messages in " << elapsed << "s for "
      << http.metrics().total_jobs() << " jobs";
  if (elapsed < 0.5 * kBatches) {
    EXPECT_LT(msgs.size(), static_cast<size_t>(http.metrics().total_jobs()))
        << "one message per job";
  }
  EXPECT_EQ(msgs.back().metrics().completed_jobs(), msgs.back().metrics().total_jobs());
  ExpectSame(http, MergeStream(msgs), "search on the cadence");
  // query_range: the same cadence, the merged diffs equal the HTTP answer.
  const std::string q = "{ } | count_over_time() by (resource.service.name)";
  const uint64_t start_s = base_ / 1'000'000'000ull - 60;
  const uint64_t end_s = start_s + 180;
  auto qr = FromHttp<tempopb::QueryRangeResponse>(
      url + "/api/metrics/query_range?q=" + th::UrlEncode(q) + "&start=" +
      std::to_string(start_s) + "&end=" + std::to_string(end_s) + "&step=5s");
  tempopb::QueryRangeRequest rreq;
  rreq.set_query(q);
  rreq.set_start(start_s * 1'000'000'000ull);
  rreq.set_end(end_s * 1'000'000'000ull);
  rreq.set_step(5'000'000'000ull);
  const auto t1 = std::chrono::steady_clock::now();
  auto [rstatus, rmsgs] = ReadAll<tempopb::QueryRangeResponse>(
      [&](grpc::ClientContext* c) { return stub->MetricsQueryRange(c, rreq); },
      /*with_tenant=*/false);
  const double relapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  ASSERT_TRUE(rstatus.ok()) << rstatus.error_message();
  EXPECT_LE(rmsgs.size(), static_cast<size_t>(relapsed / 0.5) + 2);
  ExpectSame(qr, MergeMetrics(rmsgs), "query_range on the cadence");
}

}  // namespace
}  // namespace sightline::traces
