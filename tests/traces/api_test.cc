// The Tempo HTTP API over a real TraceStore: trace by id in Tempo's JSON and
// protobuf shapes (v1 and v2, start/end), errors, echo and buildinfo, and
// search / tags / metrics going through the TraceQL engine.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "config/config.h"
#include "config/overrides.h"
#include "harness/harness.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "tempo/tempo.grpc.pb.h"
#include "tempo/tempo.pb.h"
#include "traces/api/streaming_querier.h"
#include "traces/api/tempo_api.h"
#include "traces/ingest/ids.h"
#include "traces/store/store.h"
#include "traces/test_traces.h"

namespace sightline::traces::api {
namespace {

using traces::testing::MakeTrace;
using traces::testing::TraceId;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;  // ns

class TempoApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions o;
    o.data_dir = dir.path();
    o.run_maintenance = false;
    o.registry = &registry;
    auto s = store::TraceStore::Open(o);
    ASSERT_TRUE(s.ok());
    store = std::move(s).value();
    ApiOptions ao;
    ao.registry = &registry;
    RegisterTempoApi(router, store.get(), ao);
    std::vector<Trace> v;
    v.push_back(MakeTrace(1, 3, "checkout", kT0, 2));
    v.push_back(MakeTrace(2, 2, "payments", kT0 + 60'000'000'000ull));
    ingest::PushResult pr;
    ASSERT_TRUE(store->Push("anonymous", std::move(v), &pr).ok());
  }

  net::HttpResponse Get(const std::string& target, const std::string& accept = "") {
    net::HttpHeaders h;
    if (!accept.empty()) h.Add("Accept", accept);
    auto req = net::HttpRequest::Make("GET", target, h);
    EXPECT_TRUE(req.ok()) << target;
    req->set_tenant("anonymous");
    net::HttpResponse resp;
    router.Serve(*req, resp);
    return resp;
  }

  sightline::testing::TempDir dir;
  telemetry::Registry registry;
  std::unique_ptr<store::TraceStore> store;
  net::Router router;
};

TEST_F(TempoApiTest, TraceByIdJsonAndProtobuf) {
  const std::string hex = IdToHex(TraceId(1));
  auto r = Get("/api/traces/" + hex);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.rfind("{\"batches\":[", 0), 0u) << r.body.substr(0, 80);
  EXPECT_NE(r.body.find("\"scopeSpans\""), std::string::npos);
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos);

  r = Get("/api/v2/traces/" + hex);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("{\"trace\":{\"resourceSpans\":[", 0), 0u) << r.body.substr(0, 80);

  r = Get("/api/traces/" + hex, "application/protobuf");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(*r.headers.Get("Content-Type"), "application/protobuf");
  tempopb::Trace t;
  ASSERT_TRUE(t.ParseFromString(r.body));
  ASSERT_EQ(t.resource_spans_size(), 1);
  EXPECT_EQ(t.resource_spans(0).scope_spans(0).spans_size(), 3);
  EXPECT_EQ(t.resource_spans(0).scope_spans(0).spans(0).trace_id(), TraceId(1));

  r = Get("/api/v2/traces/" + hex, "application/protobuf");
  ASSERT_EQ(r.status, 200);
  tempopb::TraceByIDResponse v2;
  ASSERT_TRUE(v2.ParseFromString(r.body));
  EXPECT_EQ(v2.trace().resource_spans(0).scope_spans(0).spans_size(), 3);
  EXPECT_EQ(v2.status(), tempopb::COMPLETE);

  // Leading zeros may be dropped, as Tempo allows.
  std::string short_hex = hex;
  EXPECT_EQ(Get("/api/traces/" + short_hex).status, 200);
}

TEST_F(TempoApiTest, TraceByIdErrorsAndTimeRange) {
  EXPECT_EQ(Get("/api/traces/" + IdToHex(TraceId(99))).status, 404);
  EXPECT_EQ(Get("/api/traces/not-hex").status, 400);
  EXPECT_EQ(Get("/api/traces/" + std::string(33, 'a')).status, 400);
  const std::string hex = IdToHex(TraceId(1));
  EXPECT_EQ(Get("/api/traces/" + hex + "?start=10&end=5").status, 400);
  EXPECT_EQ(Get("/api/traces/" + hex + "?start=abc").status, 400);
  // After a cut, a range that misses the block prunes it.
  ASSERT_TRUE(store->CutAll(true).ok());
  EXPECT_EQ(Get("/api/traces/" + hex).status, 200);
  EXPECT_EQ(Get("/api/traces/" + hex + "?start=1000&end=2000").status, 404);
  uint64_t s = kT0 / 1'000'000'000ull;
  EXPECT_EQ(Get("/api/traces/" + hex + "?start=" + std::to_string(s - 10) +
                "&end=" + std::to_string(s + 10)).status,
            200);
}

TEST_F(TempoApiTest, EchoAndBuildinfo) {
  auto r = Get("/api/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo");
  r = Get("/api/status/buildinfo");
  ASSERT_EQ(r.status, 200);
  simdjson::dom::parser p;
  auto doc = p.parse(r.body);
  std::string_view v;
  ASSERT_EQ(doc["version"].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v.substr(0, 2), "2.");
  EXPECT_GE(v.substr(2, 1)[0], '7');
}

TEST_F(TempoApiTest, SearchTagsAndMetricsThroughTraceQL) {
  auto r = Get("/api/search?q=" + net::PercentEncode("{resource.service.name=\"checkout\"}") +
               "&limit=20&spss=3");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_EQ(p.parse(r.body).get(doc), simdjson::SUCCESS);
  simdjson::dom::array traces;
  ASSERT_EQ(doc["traces"].get_array().get(traces), simdjson::SUCCESS) << r.body;
  ASSERT_EQ(traces.size(), 1u) << r.body;
  std::string_view id, root, start;
  ASSERT_EQ(traces.at(0)["traceID"].get_string().get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, IdToHex(TraceId(1)));
  ASSERT_EQ(traces.at(0)["rootServiceName"].get_string().get(root), simdjson::SUCCESS);
  EXPECT_EQ(root, "checkout");
  ASSERT_EQ(traces.at(0)["startTimeUnixNano"].get_string().get(start), simdjson::SUCCESS);
  EXPECT_EQ(start, std::to_string(kT0));

  // Bad query: 400 with the engine's message.
  r = Get("/api/search?q=" + net::PercentEncode("{ nonsense"));
  EXPECT_EQ(r.status, 400);

  r = Get("/api/v2/search/tags");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"scopes\""), std::string::npos);
  EXPECT_NE(r.body.find("service.name"), std::string::npos);
  r = Get("/api/search/tags");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"tagNames\""), std::string::npos);

  r = Get("/api/v2/search/tag/resource.service.name/values");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("{\"type\":\"string\",\"value\":\"checkout\"}"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("payments"), std::string::npos);
  r = Get("/api/search/tag/service.name/values");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"tagValues\":["), std::string::npos);

  uint64_t s = kT0 / 1'000'000'000ull;
  r = Get("/api/metrics/query_range?q=" + net::PercentEncode("{} | count_over_time()") +
          "&start=" + std::to_string(s - 60) + "&end=" + std::to_string(s + 120) + "&step=60s");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"series\""), std::string::npos);
  EXPECT_NE(r.body.find("\"samples\""), std::string::npos) << r.body;
}

// Tempo's query-frontend limits (query_limits.h): metrics max_duration (3h,
// per-tenant override), max_exemplars (100: the default when the request
// asks none), search max_duration (168h) and max_spans_per_span_set (100),
// each refused with Tempo's status and message.
TEST_F(TempoApiTest, QueryFrontendLimitsAsTempo) {
  const uint64_t s = kT0 / 1'000'000'000ull;  // 1700000000: not on a minute
  const std::string q = net::PercentEncode("{} | count_over_time()");
  auto range = [&](uint64_t start, uint64_t end, const std::string& extra = "") {
    return "/api/metrics/query_range?q=" + q + "&start=" + std::to_string(start) +
           "&end=" + std::to_string(end) + "&step=60s" + extra;
  };
  // 3h exactly after alignment: allowed; one more second is a step more.
  const uint64_t a = s - s % 60;
  auto r = Get(range(a, a + 3 * 3600));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Get(range(a, a + 3 * 3600 + 1));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "range specified by start and end (3h1m0s) exceeds 3h0m0s. received start=" +
                        std::to_string(a * 1'000'000'000ull) +
                        " end=" + std::to_string((a + 3 * 3600 + 60) * 1'000'000'000ull) + "\n");
  r = Get("/api/metrics/query?q=" + q + "&start=" + std::to_string(s) +
          "&end=" + std::to_string(s + 4 * 3600));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("(4h0m0s) exceeds 3h0m0s"), std::string::npos) << r.body;

  // Exemplars: none asked for -> Tempo's max_exemplars; a count is honoured.
  auto exemplars = [&](const std::string& target) {
    auto resp = Get(target);
    EXPECT_EQ(resp.status, 200) << resp.body;
    size_t n = 0;
    for (size_t at = resp.body.find("\"trace:id\""); at != std::string::npos;
         at = resp.body.find("\"trace:id\"", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(exemplars(range(s - 60, s + 120)), 2u);  // two traces, one each
  EXPECT_EQ(exemplars(range(s - 60, s + 120, "&exemplars=1")), 1u);

  // Search: spss over 100 and ranges over 168h.
  r = Get("/api/search?q=%7B%7D&spss=101");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "spans per span set exceeds 100. received 101\n");
  EXPECT_EQ(Get("/api/search?q=%7B%7D&spss=100").status, 200);
  r = Get("/api/search?q=%7B%7D&start=" + std::to_string(s) +
          "&end=" + std::to_string(s + 168 * 3600 + 1));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "range specified by start and end exceeds 168h0m0s. received start=" +
                        std::to_string(s) + " end=" + std::to_string(s + 168 * 3600 + 1) + "\n");

  // Other limits, and a tenant override of the metrics range.
  net::Router other;
  ApiOptions ao;
  ao.limits.metrics_max_exemplars = 0;
  ao.limits.max_spans_per_span_set = 0;
  ao.limits.metrics_max_duration_for = [](std::string_view tenant) -> uint64_t {
    return tenant == "anonymous" ? 5ull * 3600 * 1'000'000'000 : 0;
  };
  RegisterTempoApi(other, store.get(), ao);
  auto get_other = [&](const std::string& target) {
    auto req = net::HttpRequest::Make("GET", target, net::HttpHeaders{});
    EXPECT_TRUE(req.ok());
    req->set_tenant("anonymous");
    net::HttpResponse resp;
    other.Serve(*req, resp);
    return resp;
  };
  r = get_other(range(a, a + 4 * 3600));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("exemplars"), std::string::npos) << r.body;
  r = get_other(range(a, a + 6 * 3600));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exceeds 5h0m0s"), std::string::npos) << r.body;
  EXPECT_EQ(get_other("/api/search?q=%7B%7D&spss=500").status, 200);
}

// The limits from the config: Tempo's defaults, the `traces.metrics` /
// `traces.search` keys, and the per-tenant traces.limits overrides.
TEST(QueryLimitsConfig, DefaultsKeysAndTenantOverrides) {
  config::Config c;
  QueryLimits d = QueryLimitsFromConfig(c.traces, nullptr);
  EXPECT_EQ(d.MetricsMaxDuration("x"), 3ull * 3600 * 1'000'000'000);
  EXPECT_EQ(d.SearchMaxDuration("x"), 168ull * 3600 * 1'000'000'000);
  EXPECT_EQ(d.Exemplars(0), 100u);
  EXPECT_EQ(d.Exemplars(7), 7u);
  EXPECT_EQ(d.Exemplars(500), 100u);
  EXPECT_EQ(d.CheckSpansPerSpanSet(100), "");
  ASSERT_TRUE(config::LoadYaml("traces:\n"
                               "  metrics: {max_duration: 1h, max_exemplars: 0}\n"
                               "  search: {max_duration: 24h, max_spans_per_span_set: 10}\n"
                               "overrides:\n"
                               "  team-a:\n"
                               "    traces: {limits: {max_metrics_duration: 6h, max_search_duration: 48h}}\n",
                               "t.yaml", &c)
                  .ok());
  auto ov = config::TenantOverrides::Parse(
      c,
      "overrides:\n  team-a:\n    traces: {limits: {max_metrics_duration: 6h, "
      "max_search_duration: 48h}}\n",
      "t.yaml");
  ASSERT_TRUE(ov.ok()) << ov.status().ToString();
  QueryLimits l = QueryLimitsFromConfig(c.traces, *ov);
  EXPECT_EQ(l.MetricsMaxDuration("team-b"), 3600ull * 1'000'000'000);
  EXPECT_EQ(l.MetricsMaxDuration("team-a"), 6ull * 3600 * 1'000'000'000);
  EXPECT_EQ(l.SearchMaxDuration("team-b"), 24ull * 3600 * 1'000'000'000);
  EXPECT_EQ(l.SearchMaxDuration("team-a"), 48ull * 3600 * 1'000'000'000);
  EXPECT_EQ(l.Exemplars(5), 0u);
  EXPECT_EQ(l.CheckSpansPerSpanSet(11), "spans per span set exceeds 10. received 11");
}

// The same limits on the streaming gRPC querier: Tempo's combiner answers
// its frontend's 400s as INVALID_ARGUMENT with the same message.
TEST_F(TempoApiTest, StreamingQuerierLimitsAsTempo) {
  net::GrpcServerOptions go;
  go.listen = "127.0.0.1:0";
  net::GrpcServer server(go);
  StreamingQuerierOptions so;
  so.stream_interval = std::chrono::milliseconds(0);
  so.multitenancy = true;
  so.limits.metrics_max_duration_for = [](std::string_view tenant) -> uint64_t {
    return tenant == "team-b" ? 5ull * 3600 * 1'000'000'000 : 0;
  };
  StreamingQuerier querier(store.get(), so);
  querier.Register(server);
  ASSERT_TRUE(server.Start().ok());
  auto channel = grpc::CreateChannel(server.bound_address(), grpc::InsecureChannelCredentials());
  auto stub = tempopb::StreamingQuerier::NewStub(channel);
  const uint64_t s = kT0 / 1'000'000'000ull;
  const uint64_t a = (s - s % 60) * 1'000'000'000ull;
  auto query_range = [&](uint64_t hours, const std::string& tenant) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", tenant);
    tempopb::QueryRangeRequest req;
    req.set_query("{} | rate()");
    req.set_start(a);
    req.set_end(a + hours * 3600 * 1'000'000'000ull);
    req.set_step(60'000'000'000ull);
    auto reader = stub->MetricsQueryRange(&ctx, req);
    tempopb::QueryRangeResponse resp;
    size_t exemplars = 0;
    while (reader->Read(&resp)) {
      for (const auto& ts : resp.series()) exemplars += ts.exemplars_size();
    }
    grpc::Status st = reader->Finish();
    return std::make_pair(st, exemplars);
  };
  auto [ok, exemplars] = query_range(3, "anonymous");
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(exemplars, 2u);  // none asked: Tempo's 100, one per trace
  auto [bad, unused] = query_range(4, "anonymous");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(),
            "range specified by start and end (4h0m0s) exceeds 3h0m0s. received start=" +
                std::to_string(a) + " end=" + std::to_string(a + 4 * 3600 * 1'000'000'000ull));
  EXPECT_TRUE(query_range(4, "team-b").first.ok());  // the tenant's override

  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", "anonymous");
    tempopb::QueryInstantRequest req;
    req.set_query("{} | rate()");
    req.set_start(a);
    req.set_end(a + 4 * 3600 * 1'000'000'000ull);
    auto reader = stub->MetricsQueryInstant(&ctx, req);
    tempopb::QueryInstantResponse resp;
    while (reader->Read(&resp)) {
    }
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("exceeds 3h0m0s"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-scope-orgid", "anonymous");
    tempopb::SearchRequest req;
    req.set_query("{}");
    req.set_spans_per_span_set(101);
    auto reader = stub->Search(&ctx, req);
    tempopb::SearchResponse resp;
    while (reader->Read(&resp)) {
    }
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(), "spans per span set exceeds 100. received 101");
  }
  server.Stop(std::chrono::milliseconds(100));
}

// The id-page cache's self-metrics: on /metrics while the store lives
// (misses then hits of find-by-id on a cut block), gone once it is closed
// and destroyed, although the registry outlives it (ASan checks the rest).
TEST(TraceStoreSelfMetrics, IdPageCacheMetricsNeverOutliveTheStore) {
  sightline::testing::TempDir d;
  telemetry::Registry reg;
  {
    store::StoreOptions o;
    o.data_dir = d.path();
    o.run_maintenance = false;
    o.registry = &reg;
    auto st = store::TraceStore::Open(o);
    ASSERT_TRUE(st.ok());
    std::vector<Trace> v;
    v.push_back(MakeTrace(5, 2, "checkout", kT0));
    ingest::PushResult pr;
    ASSERT_TRUE((*st)->Push("anonymous", std::move(v), &pr).ok());
    ASSERT_TRUE((*st)->CutAll(/*force=*/true).ok());
    for (int i = 0; i < 3; ++i) {
      auto t = (*st)->FindTraceById("anonymous", TraceId(5));
      ASSERT_TRUE(t.ok() && t->has_value());
    }
    const std::string text = reg.Expose();
    for (const char* family :
         {"# TYPE sightline_traces_id_page_cache_hits_total counter",
          "# TYPE sightline_traces_id_page_cache_misses_total counter",
          "# TYPE sightline_traces_id_page_cache_evictions_total counter",
          "# TYPE sightline_traces_id_page_cache_bytes gauge",
          "# TYPE sightline_traces_id_page_cache_pages gauge"}) {
      EXPECT_NE(text.find(family), std::string::npos) << family << "\n" << text;
    }
    EXPECT_NE(text.find("\nsightline_traces_id_page_cache_misses_total 1\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("\nsightline_traces_id_page_cache_hits_total 2\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("\nsightline_traces_id_page_cache_pages 1\n"), std::string::npos) << text;
  }
  EXPECT_EQ(reg.Expose().find("id_page_cache"), std::string::npos);
}

// The audit against Tempo's HTTP API docs: tag values filtered by q
// (intrinsics status/kind, resource.service.name), start/end on tag routes,
// scope, limit, maxStaleValues accepted, empty result shapes, and 400 text
// for bad parameters.
TEST_F(TempoApiTest, TagRoutesParametersAsTempo) {
  auto q = [](const std::string& s) { return net::PercentEncode(s); };
  auto r = Get("/api/v2/search/tag/status/values?q=" + q("{resource.service.name=\"checkout\"}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("{\"type\":\"keyword\",\"value\":\"error\"}"), std::string::npos) << r.body;
  r = Get("/api/v2/search/tag/status/values?q=" + q("{resource.service.name=\"payments\"}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("error"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"unset\""), std::string::npos) << r.body;
  r = Get("/api/v2/search/tag/kind/values");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("{\"type\":\"keyword\",\"value\":\"server\"}"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("{\"type\":\"keyword\",\"value\":\"client\"}"), std::string::npos) << r.body;
  r = Get("/api/v2/search/tag/resource.service.name/values?q=" + q("{status=error}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("checkout"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("payments"), std::string::npos) << r.body;
  r = Get("/api/v2/search/tag/name/values?q=" + q("{kind=server}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("db.query"), std::string::npos) << r.body;
  // start/end (Unix seconds): only trace 2 (kT0 + 60 s).
  const uint64_t s0 = kT0 / 1'000'000'000ull;
  const std::string later = "start=" + std::to_string(s0 + 30) + "&end=" + std::to_string(s0 + 120);
  r = Get("/api/v2/search/tag/resource.service.name/values?" + later);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("checkout"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("payments"), std::string::npos) << r.body;
  r = Get("/api/search/tag/service.name/values?" + later);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"tagValues\":[\"payments\"]}");
  // limit and maxStaleValues (accepted; values here are exact).
  r = Get("/api/v2/search/tag/resource.service.name/values?limit=1&maxStaleValues=5");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("payments") != std::string::npos, r.body.find("checkout") == std::string::npos)
      << r.body;
  // scope on /api/v2/search/tags.
  r = Get("/api/v2/search/tags?scope=resource");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"name\":\"resource\""), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\"name\":\"span\""), std::string::npos) << r.body;
  // Empty answers keep their shapes.
  r = Get("/api/search?q=" + q("{resource.service.name=\"nope\"}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.rfind("{\"traces\":[],\"metrics\":{", 0), 0u) << r.body;
  r = Get("/api/v2/search/tag/span.nope/values");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"tagValues\":[]}");
  // Bad parameters: 400 with a plain-text message.
  for (const std::string& bad : std::vector<std::string>{"/api/search?start=20&end=10", "/api/search?limit=0", "/api/search?limit=x",
        "/api/search?minDuration=5s&maxDuration=1s", "/api/search?minDuration=fast",
        "/api/v2/search/tags?start=abc", "/api/v2/search/tag/status/values?end=abc",
        "/api/metrics/query?q=" + q("{ }") + "&since=2h",
        "/api/metrics/query_range?q=" + q("{ } | rate()") + "&step=0"}) {
    r = Get(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_TRUE(!r.body.empty() && r.body[0] != '{') << bad << ": " << r.body;
  }
}

}  // namespace
}  // namespace sightline::traces::api
