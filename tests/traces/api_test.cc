// The Tempo HTTP API over a real TraceStore: trace by id in Tempo's JSON and
// protobuf shapes (v1 and v2, start/end), errors, echo and buildinfo, and
// search / tags / metrics going through the TraceQL engine.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "harness/harness.h"
#include "net/http.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "tempo/tempo.pb.h"
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
