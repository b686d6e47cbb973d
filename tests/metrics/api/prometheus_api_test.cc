// Prometheus HTTP API handlers through Router::Serve over a MemoryStorage:
// exact response bodies, status codes and errors, GET and form POST, the
// calls Grafana's Prometheus data source makes, and tenant isolation.
#include "metrics/api/prometheus_api.h"

#include <gtest/gtest.h>

#include <cmath>

#include "metrics/storage/memory_storage.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::api {
namespace {

struct Reply {
  int status = 0;
  std::string body;
};

// A store whose queriers cannot be opened: for error-type mapping.
class FailingQueryable final : public Queryable {
 public:
  explicit FailingQueryable(Status s) : status_(std::move(s)) {}
  Result<std::unique_ptr<Querier>> NewQuerier(std::string_view, int64_t, int64_t) override {
    return status_;
  }

 private:
  Status status_;
};

class FakeMetadata final : public MetadataSource {
 public:
  Result<std::vector<ExemplarSeries>> QueryExemplars(
      std::string_view tenant, int64_t, int64_t,
      const std::vector<std::vector<promql::Matcher>>& selectors) override {
    last_tenant = std::string(tenant);
    if (selectors.empty()) return std::vector<ExemplarSeries>{};
    ExemplarSeries s;
    s.series_labels = Labels::FromStrings({"__name__", "req", "job", "api"});
    Exemplar e;
    e.labels = Labels::FromStrings({"trace_id", "abc"});
    e.value = 6;
    e.timestamp_ms = 1600096945479;
    e.has_timestamp = true;
    s.exemplars.push_back(e);
    return std::vector<ExemplarSeries>{s};
  }
  Result<std::map<std::string, std::vector<MetricMetadata>>> Metadata(std::string_view tenant,
                                                                      const std::string&, int,
                                                                      int) override {
    last_tenant = std::string(tenant);
    std::map<std::string, std::vector<MetricMetadata>> m;
    m["a_total"] = {{"counter", "A <help>", ""}, {"gauge", "other", "s"}};
    m["b"] = {{"gauge", "B", "bytes"}};
    return m;
  }
  std::string last_tenant;
};

class PrometheusApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add("t1", Labels::FromStrings({"__name__", "up", "instance", "a", "job", "node"}), 1);
    Add("t1", Labels::FromStrings({"__name__", "up", "instance", "b", "job", "node"}), 0);
    Add("t1", Labels::FromStrings({"__name__", "http_requests_total", "job", "api"}), 5);
    Add("t2", Labels::FromStrings({"__name__", "other", "job", "x"}), 7);
    Register(&store_, nullptr, ApiOptions{});
  }

  void Register(Queryable* q, MetadataSource* md, ApiOptions o) {
    router_ = std::make_unique<net::Router>();
    o.now_ms = [] { return int64_t{30000}; };
    o.registry = &registry_;
    RegisterPrometheusApi(*router_, q, md, &engine_, o);
  }

  // Samples every 15s from 0 to 60s.
  void Add(std::string_view tenant, const Labels& l, double v) {
    auto app = store_.NewAppender(tenant);
    for (int64_t t = 0; t <= 60000; t += 15000) ASSERT_TRUE(app->Append(0, l, t, v).ok());
    ASSERT_TRUE(app->Commit().ok());
  }

  Reply Get(std::string_view target, std::string tenant = "t1") {
    auto req = net::HttpRequest::Make("GET", target);
    EXPECT_TRUE(req.ok()) << target;
    req->set_tenant(std::move(tenant));
    net::HttpResponse resp;
    router_->Serve(*req, resp);
    return {resp.status, resp.body};
  }

  Reply Post(std::string_view path, std::string form, std::string tenant = "t1") {
    net::HttpHeaders h;
    h.Add("Content-Type", "application/x-www-form-urlencoded");
    auto req = net::HttpRequest::Make("POST", path, h, std::move(form));
    EXPECT_TRUE(req.ok()) << path;
    req->set_tenant(std::move(tenant));
    net::HttpResponse resp;
    router_->Serve(*req, resp);
    return {resp.status, resp.body};
  }

  static std::string Err(std::string_view type, std::string_view msg) {
    return "{\"status\":\"error\",\"errorType\":\"" + std::string(type) + "\",\"error\":\"" +
           std::string(msg) + "\"}";
  }

  MemoryStorage store_;
  promql::Engine engine_;
  telemetry::Registry registry_;
  std::unique_ptr<net::Router> router_;
};

TEST_F(PrometheusApiTest, GrafanaHealthProbeScalar) {
  const Reply r = Post("/api/v1/query", "query=1%2B1&time=4");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[4,\"2\"]}}");
  // And the GET retry Grafana falls back to.
  EXPECT_EQ(Get("/api/v1/query?query=1%2B1&time=4").body, r.body);
}

TEST_F(PrometheusApiTest, InstantVector) {
  const Reply r = Get("/api/v1/query?query=up%7Binstance%3D%22a%22%7D&time=30");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
            "\"__name__\":\"up\",\"instance\":\"a\",\"job\":\"node\"},\"value\":[30,\"1\"]}]}}");
  // Form POST gives the same answer.
  EXPECT_EQ(Post("/api/v1/query", "query=up%7Binstance%3D%22a%22%7D&time=30").body, r.body);
  // Default time is now (30s here).
  EXPECT_EQ(Get("/api/v1/query?query=up%7Binstance%3D%22a%22%7D").body, r.body);
}

TEST_F(PrometheusApiTest, TimestampAndValueFormatting) {
  EXPECT_EQ(Get("/api/v1/query?query=vector(0.1)&time=1435781430.781").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
            "},\"value\":[1435781430.781,\"0.1\"]}]}}");
  EXPECT_EQ(Get("/api/v1/query?query=vector(1e21)&time=1.5").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
            "},\"value\":[1.500,\"1e+21\"]}]}}");
  // Scalars go through promql.Scalar.MarshalJSON: 'f' -1 and a plain float time.
  EXPECT_EQ(Get("/api/v1/query?query=1e21&time=1.5").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1.5,"
            "\"1000000000000000000000\"]}}");
  EXPECT_EQ(Get("/api/v1/query?query=NaN&time=4").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[4,\"NaN\"]}}");
  EXPECT_EQ(Get("/api/v1/query?query=vector(%2BInf)&time=4").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
            "},\"value\":[4,\"+Inf\"]}]}}");
  EXPECT_EQ(
      Get("/api/v1/query?query=-Inf&time=4").body,
      "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[4,\"-Inf\"]}}");
  EXPECT_EQ(Get("/api/v1/query?query=%22a%3Cb%22&time=4").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[4,"
            "\"a\\u003cb\"]}}");
  // RFC 3339 time.
  EXPECT_EQ(Get("/api/v1/query?query=time()&time=2015-07-01T20:10:30.781Z").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":["
            "1435781430.781,\"1435781430.781\"]}}");
}

TEST_F(PrometheusApiTest, RangeMatrix) {
  const std::string want =
      "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{"
      "\"__name__\":\"up\",\"instance\":\"a\",\"job\":\"node\"},\"values\":[[0,\"1\"],[15,\"1\"],"
      "[30,\"1\"]]}]}}";
  EXPECT_EQ(Get("/api/v1/query_range?query=up%7Binstance%3D%22a%22%7D&start=0&end=30&step=15").body,
            want);
  EXPECT_EQ(
      Post("/api/v1/query_range", "query=up%7Binstance%3D%22a%22%7D&start=0&end=30&step=15s").body,
      want);
  const Reply s =
      Get("/api/v1/query_range?query=up%7Binstance%3D%22a%22%7D&start=0&end=30&step=15&stats=all");
  EXPECT_NE(s.body.find(",\"stats\":{\"timings\":{"), std::string::npos) << s.body;
}

TEST_F(PrometheusApiTest, RangeErrors) {
  Reply r = Get("/api/v1/query_range?query=up&end=30&step=15");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"start\\\": cannot parse \\\"\\\" to a valid "
                        "timestamp"));
  r = Get("/api/v1/query_range?query=up&start=x&end=30&step=15");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"start\\\": cannot parse \\\"x\\\" to a valid "
                        "timestamp"));
  r = Get("/api/v1/query_range?query=up&start=30&end=0&step=15");
  EXPECT_EQ(r.status, 400);
  // Both wrapped as invalid parameters, as Prometheus 2.42 answers them.
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"end\\\": end timestamp must not be before start "
                        "time"));
  r = Get("/api/v1/query_range?query=up&start=0&end=30&step=0");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"step\\\": zero or negative query resolution step "
                        "widths are not accepted. Try a positive integer"));
  r = Get("/api/v1/query_range?query=up&start=0&end=30&step=x");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"step\\\": cannot parse \\\"x\\\" to a valid "
                        "duration"));
  r = Get("/api/v1/query_range?query=up&start=0&end=11001&step=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data",
                        "exceeded maximum resolution of 11,000 points per timeseries. Try "
                        "decreasing the query resolution (?step=XX)"));
  EXPECT_EQ(Get("/api/v1/query_range?query=up&start=0&end=11000&step=1").status, 200);
  r = Get("/api/v1/query_range?query=up%5B5m%5D&start=0&end=30&step=15");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"query\\\": invalid expression type \\\"range "
                        "vector\\\" for range query, must be Scalar or instant Vector"));
}

TEST_F(PrometheusApiTest, QueryErrors) {
  Reply r = Get("/api/v1/query?query=sum(&time=4");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
                         "\"invalid parameter \\\"query\\\": 1:",
                         0),
            0u)
      << r.body;
  r = Get("/api/v1/query?query=up&time=abc");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"time\\\": invalid time value for 'time': cannot "
                        "parse \\\"abc\\\" to a valid timestamp"));
  r = Get("/api/v1/query?query=up&limit=-1");
  EXPECT_EQ(r.body, Err("bad_data", "invalid parameter \\\"limit\\\": limit must be non-negative"));
  r = Get("/api/v1/query?query=up&timeout=x");
  EXPECT_EQ(r.status, 400);
  r = Get("/api/v1/query?query=up&lookback_delta=x");
  EXPECT_EQ(r.body, Err("bad_data",
                        "error parsing lookback delta duration: cannot parse \\\"x\\\" to a "
                        "valid duration"));
  // Evaluation error: 422 execution.
  r = Get("/api/v1/query?query=label_replace(up,%22instance%22,%22%22,%22%22,%22%22)&time=30");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("\"errorType\":\"execution\""), std::string::npos) << r.body;
}

TEST_F(PrometheusApiTest, StorageErrorTypes) {
  FailingQueryable timeout(DeadlineExceededError("query timed out in expression evaluation"));
  Register(&timeout, nullptr, ApiOptions{});
  Reply r = Get("/api/v1/query?query=up&time=4");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, Err("timeout", "query timed out in expression evaluation"));
  FailingQueryable canceled(CancelledError("query was canceled in expression evaluation"));
  Register(&canceled, nullptr, ApiOptions{});
  r = Get("/api/v1/query?query=up&time=4");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"errorType\":\"canceled\""), std::string::npos);
  FailingQueryable internal(InternalError("disk on fire"));
  Register(&internal, nullptr, ApiOptions{});
  r = Get("/api/v1/series?match[]=up");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, Err("internal", "disk on fire"));
}

TEST_F(PrometheusApiTest, QueryLimitTruncates) {
  const Reply r = Get("/api/v1/query?query=sort(up)&time=30&limit=1");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{"
            "\"__name__\":\"up\",\"instance\":\"b\",\"job\":\"node\"},\"value\":[30,\"0\"]}]},"
            "\"warnings\":[\"results "
            "truncated due to limit\"]}");
}

TEST_F(PrometheusApiTest, MaxQueryRange) {
  ApiOptions o;
  o.max_query_range = std::chrono::hours(1);
  Register(&store_, nullptr, o);
  const Reply r = Get("/api/v1/query_range?query=up&start=0&end=7200&step=60");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data",
                        "the query time range exceeds the limit (query length: 2h0m0s, limit: "
                        "1h0m0s)"));
  EXPECT_EQ(Get("/api/v1/query_range?query=up&start=0&end=3600&step=60").status, 200);
}

TEST_F(PrometheusApiTest, Series) {
  Reply r = Get("/api/v1/series?match[]=up&start=0&end=60");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a\",\"job\":"
            "\"node\"},{\"__name__\":\"up\",\"instance\":\"b\",\"job\":\"node\"}]}");
  EXPECT_EQ(Post("/api/v1/series", "match%5B%5D=up&start=0&end=60").body, r.body);
  // Two selectors, merged and de-duplicated.
  r =
      Get("/api/v1/series?match[]=up%7Binstance%3D%22a%22%7D&match[]=up&match[]="
          "http_requests_total");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":[{\"__name__\":\"http_requests_total\",\"job\":"
            "\"api\"},{\"__name__\":\"up\",\"instance\":\"a\",\"job\":\"node\"},{\"__name__\":"
            "\"up\",\"instance\":\"b\",\"job\":\"node\"}]}");
  // Outside the time range.
  EXPECT_EQ(Get("/api/v1/series?match[]=up&start=100&end=200").body,
            "{\"status\":\"success\",\"data\":[]}");
  r = Get("/api/v1/series?match[]=up&limit=1");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a\",\"job\":"
            "\"node\"}],\"warnings\":[\"results truncated due to limit\"]}");
  r = Get("/api/v1/series");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data", "no match[] parameter provided"));
  r = Get("/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D");
  EXPECT_EQ(r.body, Err("bad_data",
                        "invalid parameter \\\"match[]\\\": match[] must contain at least one "
                        "non-empty matcher"));
  EXPECT_EQ(Get("/api/v1/series?match[]=up%7B").status, 400);
}

TEST_F(PrometheusApiTest, MaxSeriesOption) {
  ApiOptions o;
  o.max_series = 1;
  Register(&store_, nullptr, o);
  EXPECT_EQ(Get("/api/v1/series?match[]=up").body,
            "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a\",\"job\":"
            "\"node\"}],\"warnings\":[\"results truncated due to limit\"]}");
}

TEST_F(PrometheusApiTest, LabelsAndValues) {
  EXPECT_EQ(Get("/api/v1/labels").body,
            "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
  EXPECT_EQ(Post("/api/v1/labels", "match%5B%5D=http_requests_total&start=0&end=60").body,
            "{\"status\":\"success\",\"data\":[\"__name__\",\"job\"]}");
  EXPECT_EQ(Get("/api/v1/label/__name__/values").body,
            "{\"status\":\"success\",\"data\":[\"http_requests_total\",\"up\"]}");
  EXPECT_EQ(Get("/api/v1/label/job/values?match[]=up").body,
            "{\"status\":\"success\",\"data\":[\"node\"]}");
  EXPECT_EQ(Get("/api/v1/label/job/values?match[]=up&match[]=http_requests_total").body,
            "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
  EXPECT_EQ(Get("/api/v1/label/__name__/values?limit=1").body,
            "{\"status\":\"success\",\"data\":[\"http_requests_total\"],\"warnings\":[\"results "
            "truncated due to limit\"]}");
  EXPECT_EQ(Get("/api/v1/label/nope/values").body, "{\"status\":\"success\",\"data\":[]}");
  EXPECT_EQ(Get("/api/v1/label/job/values?start=100&end=200").body,
            "{\"status\":\"success\",\"data\":[]}");
  const Reply r = Get("/api/v1/label/%FF/values");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data", "invalid label name: \\\"\\\\xff\\\"")) << r.body;
}

TEST_F(PrometheusApiTest, LegacyLabelNames) {
  ApiOptions o;
  o.utf8_label_names = false;
  Register(&store_, nullptr, o);
  const Reply r = Get("/api/v1/label/a-b/values");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, Err("bad_data", "invalid label name: \\\"a-b\\\""));
}

TEST_F(PrometheusApiTest, TenantIsolation) {
  EXPECT_EQ(Get("/api/v1/query?query=up&time=30", "t2").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}");
  EXPECT_EQ(Get("/api/v1/labels", "t2").body,
            "{\"status\":\"success\",\"data\":[\"__name__\",\"job\"]}");
  EXPECT_EQ(Get("/api/v1/label/__name__/values", "t2").body,
            "{\"status\":\"success\",\"data\":[\"other\"]}");
  EXPECT_EQ(Get("/api/v1/series?match[]=up", "t2").body, "{\"status\":\"success\",\"data\":[]}");
  EXPECT_EQ(Get("/api/v1/query_range?query=other&start=0&end=0&step=15", "t1").body,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}");
  FakeMetadata md;
  Register(&store_, &md, ApiOptions{});
  Get("/api/v1/metadata", "t2");
  EXPECT_EQ(md.last_tenant, "t2");
}

TEST_F(PrometheusApiTest, ExemplarsAndGrafanaProbe) {
  // Without a source; Grafana's init probe sends milliseconds.
  Reply r = Post("/api/v1/query_exemplars", "query=test&start=1700000000000&end=1700000001000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"status\":\"success\",\"data\":[]}");
  r = Get("/api/v1/query_exemplars?query=up&start=10&end=5");
  EXPECT_EQ(r.body, Err("bad_data", "end timestamp must not be before start timestamp"));
  EXPECT_EQ(Get("/api/v1/query_exemplars?query=sum(").status, 400);
  // No selectors: success without data, as Prometheus.
  EXPECT_EQ(Get("/api/v1/query_exemplars?query=1").body, "{\"status\":\"success\"}");
  FakeMetadata md;
  Register(&store_, &md, ApiOptions{});
  r = Post("/api/v1/query_exemplars", "query=req&start=1600096945&end=1600096946");
  EXPECT_EQ(r.body,
            "{\"status\":\"success\",\"data\":[{\"seriesLabels\":{\"__name__\":\"req\",\"job\":"
            "\"api\"},\"exemplars\":[{\"labels\":{\"trace_id\":\"abc\"},\"value\":\"6\","
            "\"timestamp\":1600096945.479}]}]}");
  EXPECT_EQ(md.last_tenant, "t1");
}

TEST_F(PrometheusApiTest, Metadata) {
  EXPECT_EQ(Get("/api/v1/metadata").body, "{\"status\":\"success\",\"data\":{}}");
  FakeMetadata md;
  Register(&store_, &md, ApiOptions{});
  EXPECT_EQ(Get("/api/v1/metadata").body,
            "{\"status\":\"success\",\"data\":{\"a_total\":[{\"type\":\"counter\",\"help\":\"A "
            "\\u003chelp\\u003e\",\"unit\":\"\"},{\"type\":\"gauge\",\"help\":\"other\",\"unit\":"
            "\"s\"}],\"b\":[{\"type\":\"gauge\",\"help\":\"B\",\"unit\":\"bytes\"}]}}");
  EXPECT_EQ(Get("/api/v1/metadata?limit=1&limit_per_metric=1").body,
            "{\"status\":\"success\",\"data\":{\"a_total\":[{\"type\":\"counter\",\"help\":\"A "
            "\\u003chelp\\u003e\",\"unit\":\"\"}]}}");
  EXPECT_EQ(Get("/api/v1/metadata?metric=b").body,
            "{\"status\":\"success\",\"data\":{\"b\":[{\"type\":\"gauge\",\"help\":\"B\",\"unit\":"
            "\"bytes\"}]}}");
  EXPECT_EQ(Get("/api/v1/metadata?limit=x").body, Err("bad_data", "limit must be a number"));
}

TEST_F(PrometheusApiTest, BuildInfoAndStubs) {
  const Reply r = Get("/api/v1/status/buildinfo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(
      r.body.rfind("{\"status\":\"success\",\"data\":{\"version\":\"2.53.0\",\"revision\":", 0), 0u)
      << r.body;
  for (const char* f : {"\"branch\":", "\"buildUser\":", "\"buildDate\":", "\"goVersion\":"}) {
    EXPECT_NE(r.body.find(f), std::string::npos) << f;
  }
  EXPECT_EQ(r.body.find("features"), std::string::npos);
  EXPECT_EQ(Post("/api/v1/status/buildinfo", "").status, 200);
  EXPECT_EQ(Get("/api/v1/targets").body,
            "{\"status\":\"success\",\"data\":{\"activeTargets\":[],\"droppedTargets\":[]}}");
  EXPECT_EQ(Get("/api/v1/rules").body, "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
  EXPECT_EQ(Get("/api/v1/rules?type=record").status, 200);
  EXPECT_EQ(Get("/api/v1/rules?type=xyz").body,
            Err("bad_data", "invalid parameter \\\"type\\\": not supported value \\\"xyz\\\""));
  EXPECT_EQ(Get("/api/v1/alerts").body, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
  EXPECT_EQ(Get("/api/v1/status/config").body, "{\"status\":\"success\",\"data\":{\"yaml\":\"\"}}");
}

TEST_F(PrometheusApiTest, FormatQuery) {
  EXPECT_EQ(Get("/api/v1/format_query?query=sum(rate(x%5B5m%5D))%20by%20(job)").body,
            "{\"status\":\"success\",\"data\":\"sum by (job) (rate(x[5m]))\"}");
  EXPECT_EQ(Post("/api/v1/format_query", "query=foo%7Bbar%3D%22baz%22%7D").body,
            "{\"status\":\"success\",\"data\":\"foo{bar=\\\"baz\\\"}\"}");
  EXPECT_EQ(Get("/api/v1/format_query?query=sum(").status, 400);
}

TEST_F(PrometheusApiTest, MethodsAndMetrics) {
  auto req = net::HttpRequest::Make("DELETE", "/api/v1/query");
  ASSERT_TRUE(req.ok());
  net::HttpResponse resp;
  router_->Serve(*req, resp);
  EXPECT_EQ(resp.status, 405);
  Get("/api/v1/query?query=1&time=4");
  Get("/api/v1/query?query=sum(");
  const std::string exposed = registry_.Expose();
  EXPECT_NE(
      exposed.find("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 1"),
      std::string::npos)
      << exposed;
  EXPECT_NE(
      exposed.find("prometheus_http_requests_total{code=\"400\",handler=\"/api/v1/query\"} 1"),
      std::string::npos);
  EXPECT_NE(exposed.find("# TYPE prometheus_http_request_duration_seconds histogram"),
            std::string::npos);
  bool has_route = false;
  for (const auto* route : router_->routes()) {
    if (route->pattern == "/api/v1/query_range") {
      has_route = true;
      EXPECT_NE(route->options.duration_histogram, nullptr);
      EXPECT_EQ(route->options.duration_labels, net::DurationLabels::kHandler);
    }
  }
  EXPECT_TRUE(has_route);
}

}  // namespace
}  // namespace sightline::metrics::api
