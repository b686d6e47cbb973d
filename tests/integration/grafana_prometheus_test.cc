// Grafana's Prometheus data source against the real binary: the requests in
// ../shared/grafana-contract.md (Prometheus section), sent the way Grafana
// sends them (form POST by default, float-second times, the health probe at
// time=4, the exemplar probe with millisecond times), and the fields Grafana
// reads checked in the answers. Data goes in over OTLP/HTTP JSON so that the
// test needs no protobuf encoder; ingest paths have their own tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>

#include "harness/harness.h"

namespace sightline {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpPost;
using testing::SightlineServer;

const std::vector<std::string> kForm = {"Content-Type: application/x-www-form-urlencoded"};

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Parsed JSON answer; fails the test when the body is not JSON.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit Json(const std::string& body) {
    auto r = parser.parse(body);
    ok = !r.error();
    if (ok) root = r.value();
  }
};

std::string Str(simdjson::dom::element e, const char* path) {
  auto v = e.at_pointer(path).get_string();
  return v.error() ? "<missing " + std::string(path) + ">" : std::string(v.value());
}

// One counter with four points a minute apart ending at `end_s`, and an
// exemplar carrying a trace id on the last point.
std::string OtlpGauge(int64_t end_s) {
  std::string points;
  for (int i = 3; i >= 0; --i) {
    int64_t t = (end_s - 60 * i) * 1'000'000'000;
    points += std::string(points.empty() ? "" : ",") + "{\"timeUnixNano\":\"" + std::to_string(t) +
              "\",\"asDouble\":" + std::to_string(10 + (3 - i)) +
              ",\"attributes\":[{\"key\":\"path\",\"value\":{\"stringValue\":\"/checkout\"}}]";
    if (i == 0) {
      points += ",\"exemplars\":[{\"timeUnixNano\":\"" + std::to_string(t) +
                "\",\"asDouble\":13,\"traceId\":\"5b8efff798038103d269b633813fc60c\","
                "\"spanId\":\"eee19b7ec3c1b174\"}]";
    }
    points += "}";
  }
  return R"({"resourceMetrics":[{"resource":{"attributes":[)"
         R"({"key":"service.name","value":{"stringValue":"shop"}},)"
         R"({"key":"service.instance.id","value":{"stringValue":"shop-1"}}]},)"
         R"("scopeMetrics":[{"metrics":[{"name":"grafana_probe_requests","description":"Requests.",)"
         R"("unit":"{request}","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[)" +
         points + "]}}]}]}]}";
}

class GrafanaPrometheusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = SightlineServer::Start();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = s->release();
    end_s_ = NowSeconds() - 5;
    auto r = HttpPost(server_->http_url() + "/v1/metrics", OtlpGauge(end_s_),
                      {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string Url(const std::string& path) { return server_->http_url() + path; }

  static SightlineServer* server_;
  static int64_t end_s_;
};
SightlineServer* GrafanaPrometheusTest::server_ = nullptr;
int64_t GrafanaPrometheusTest::end_s_ = 0;

TEST_F(GrafanaPrometheusTest, HealthCheckAndBuildInfo) {
  auto r = HttpPost(Url("/api/v1/query"), "query=1%2B1&time=4", kForm);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_EQ(Str(j.root, "/status"), "success");
  EXPECT_EQ(Str(j.root, "/data/resultType"), "scalar");
  EXPECT_EQ(Str(j.root, "/data/result/1"), "2");

  auto b = HttpGet(Url("/api/v1/status/buildinfo"));
  ASSERT_EQ(b.status, 200);
  Json bj(b.body);
  ASSERT_TRUE(bj.ok);
  // Grafana enables match[] on label calls from 2.24 on.
  EXPECT_THAT(Str(bj.root, "/data/version"), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_GE(std::stoi(Str(bj.root, "/data/version")), 2);
}

TEST_F(GrafanaPrometheusTest, QueryRangeWithFloatSecondsFormPost) {
  std::string body = "query=grafana_probe_requests_total&start=" + std::to_string(end_s_ - 180) +
                     ".5&end=" + std::to_string(end_s_) + "&step=60";
  auto r = HttpPost(Url("/api/v1/query_range"), body, kForm);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok);
  EXPECT_EQ(Str(j.root, "/data/resultType"), "matrix");
  EXPECT_EQ(Str(j.root, "/data/result/0/metric/job"), "shop");
  EXPECT_EQ(Str(j.root, "/data/result/0/metric/instance"), "shop-1");
  EXPECT_EQ(Str(j.root, "/data/result/0/metric/path"), "/checkout");
  auto values = j.root.at_pointer("/data/result/0/values").get_array();
  ASSERT_FALSE(values.error());
  // Steps at end-179.5, end-119.5, end-59.5 (float-second start kept).
  ASSERT_EQ(values.value().size(), 3u) << r.body;
  EXPECT_EQ(Str(j.root, "/data/result/0/values/0/1"), "10");
  EXPECT_EQ(Str(j.root, "/data/result/0/values/2/1"), "12");
  auto ts = j.root.at_pointer("/data/result/0/values/0/0").get_double();
  ASSERT_FALSE(ts.error());
  EXPECT_DOUBLE_EQ(ts.value(), static_cast<double>(end_s_ - 180) + 0.5);

  // Grafana retries with GET after 405/400: GET must answer the same.
  auto g = HttpGet(Url("/api/v1/query_range?" + body));
  EXPECT_EQ(g.status, 200);
  EXPECT_EQ(g.body, r.body);
}

TEST_F(GrafanaPrometheusTest, InstantQueryAndErrors) {
  auto r = HttpPost(Url("/api/v1/query"),
                    "query=sum+by+(job)(grafana_probe_requests_total)&time=" + std::to_string(end_s_),
                    kForm);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok);
  EXPECT_EQ(Str(j.root, "/data/resultType"), "vector");
  EXPECT_EQ(Str(j.root, "/data/result/0/metric/job"), "shop");
  EXPECT_EQ(Str(j.root, "/data/result/0/value/1"), "13");

  auto bad = HttpPost(Url("/api/v1/query"), "query=sum(&time=4", kForm);
  EXPECT_EQ(bad.status, 400);
  Json bj(bad.body);
  ASSERT_TRUE(bj.ok);
  EXPECT_EQ(Str(bj.root, "/status"), "error");
  EXPECT_EQ(Str(bj.root, "/errorType"), "bad_data");
  EXPECT_THAT(Str(bj.root, "/error"), HasSubstr("parse error"));
}

TEST_F(GrafanaPrometheusTest, ExemplarsProbeAndQuery) {
  // Grafana's init probe sends milliseconds; it must still be a success.
  int64_t ms = end_s_ * 1000;
  auto probe = HttpPost(Url("/api/v1/query_exemplars"),
                        "query=test&start=" + std::to_string(ms - 3'600'000) +
                            "&end=" + std::to_string(ms),
                        kForm);
  ASSERT_EQ(probe.status, 200) << probe.body;
  EXPECT_EQ(Str(Json(probe.body).root, "/status"), "success");

  auto r = HttpPost(Url("/api/v1/query_exemplars"),
                    "query=grafana_probe_requests_total&start=" + std::to_string(end_s_ - 600) +
                        "&end=" + std::to_string(end_s_ + 1),
                    kForm);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok);
  EXPECT_EQ(Str(j.root, "/data/0/seriesLabels/__name__"), "grafana_probe_requests_total");
  EXPECT_EQ(Str(j.root, "/data/0/exemplars/0/labels/trace_id"),
            "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(Str(j.root, "/data/0/exemplars/0/value"), "13");
  auto ts = j.root.at_pointer("/data/0/exemplars/0/timestamp").get_double();
  ASSERT_FALSE(ts.error()) << r.body;
  EXPECT_DOUBLE_EQ(ts.value(), static_cast<double>(end_s_));
}

TEST_F(GrafanaPrometheusTest, LabelsSeriesMetadataRules) {
  std::string range = "start=" + std::to_string(end_s_ - 3600) + "&end=" + std::to_string(end_s_);
  auto names = HttpGet(Url("/api/v1/label/__name__/values?" + range +
                           "&match[]=%7Bjob%3D%22shop%22%7D&limit=100"));
  ASSERT_EQ(names.status, 200) << names.body;
  EXPECT_THAT(names.body, HasSubstr("\"grafana_probe_requests_total\""));

  auto labels = HttpPost(Url("/api/v1/labels"), range + "&match[]=grafana_probe_requests_total", kForm);
  ASSERT_EQ(labels.status, 200) << labels.body;
  Json lj(labels.body);
  ASSERT_TRUE(lj.ok);
  std::vector<std::string> got;
  for (auto v : lj.root.at_pointer("/data").get_array()) got.emplace_back(v.get_string().value());
  EXPECT_THAT(got, ::testing::IsSupersetOf({"__name__", "instance", "job", "path"}));

  auto series = HttpGet(Url("/api/v1/series?" + range + "&match[]=grafana_probe_requests_total"));
  ASSERT_EQ(series.status, 200) << series.body;
  EXPECT_EQ(Str(Json(series.body).root, "/data/0/path"), "/checkout");

  auto meta = HttpGet(Url("/api/v1/metadata?metric=grafana_probe_requests_total"));
  ASSERT_EQ(meta.status, 200) << meta.body;
  Json mj(meta.body);
  EXPECT_EQ(Str(mj.root, "/data/grafana_probe_requests_total/0/type"), "counter");
  EXPECT_EQ(Str(mj.root, "/data/grafana_probe_requests_total/0/help"), "Requests.");

  auto rules = HttpGet(Url("/api/v1/rules"));
  ASSERT_EQ(rules.status, 200);
  EXPECT_FALSE(Json(rules.body).root.at_pointer("/data/groups").get_array().error());
}

// --promql.compat=v2 gives Prometheus 2.42: its version, its function set.
TEST(PromqlCompatTest, V2FlagSwitchesDialect) {
  auto v3 = SightlineServer::Start();
  auto v2 = SightlineServer::Start({"--promql.compat=v2"});
  ASSERT_TRUE(v3.ok() && v2.ok());
  const std::string q = "query=holt_winters(vector(1)%5B5m%3A1m%5D%2C0.5%2C0.5)&time=600";
  auto r3 = HttpPost((*v3)->http_url() + "/api/v1/query", q, kForm);
  auto r2 = HttpPost((*v2)->http_url() + "/api/v1/query", q, kForm);
  EXPECT_EQ(r3.status, 400) << r3.body;  // renamed double_exponential_smoothing in 3.x
  EXPECT_THAT(r3.body, HasSubstr("holt_winters"));
  EXPECT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(Str(Json(r2.body).root, "/data/resultType"), "vector");
  auto b2 = HttpGet((*v2)->http_url() + "/api/v1/status/buildinfo");
  EXPECT_EQ(Str(Json(b2.body).root, "/data/version"), "2.42.0");
}

}  // namespace
}  // namespace sightline
