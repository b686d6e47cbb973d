// The OpenTelemetry JS SDK (npm, .tools/) exporting a counter, a gauge and a
// histogram over OTLP/HTTP protobuf to our /v1/metrics (the real handler
// behind the real HTTP server, recording fake store); the translated series
// must be the Prometheus ones. Skipped with a reason when node or the npm
// packages are missing (scripts/bootstrap installs them).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>

#include "harness/harness.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/ingest/otlp_metrics.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

using metrics::testing::FakeAppendable;
using metrics::testing::RecordedSample;
using namespace std::chrono_literals;

double Last(const FakeAppendable& db, const std::string& series) {
  auto s = db.SamplesOf(series);
  if (s.empty()) {
    ADD_FAILURE() << "missing series " << series;
    return -1;
  }
  return s.back().v;
}

TEST(OtelJsTest, SdkMetricsArriveAsPrometheusSeries) {
  std::string tools = sightline::testing::ToolsDir();
  std::error_code ec;
  if (!std::filesystem::exists(tools + "/node_modules/@opentelemetry/exporter-metrics-otlp-proto",
                               ec) ||
      !std::filesystem::exists(tools + "/node_modules/@opentelemetry/sdk-metrics", ec)) {
    GTEST_SKIP() << "OpenTelemetry JS packages not installed in " << tools
                 << " (run scripts/bootstrap)";
  }

  telemetry::Registry registry;
  FakeAppendable db;
  IngestOptions options;
  options.registry = &registry;
  net::Router router;
  RegisterOtlpMetricsHttp(router, &db, options);
  net::HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 2;
  auto server = net::HttpServer::Start(so, &router, &registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  std::string script =
      sightline::testing::SourceDir() + "/tests/metrics/ingest/otel_metrics_export.js";
  auto proc = sightline::testing::Process::Start(
      {"node", script, "http://" + (*server)->bound_address() + "/v1/metrics"},
      {{"NODE_PATH", tools + "/node_modules"}});
  ASSERT_TRUE(proc.ok()) << proc.status().ToString();
  std::optional<int> st = (*proc)->Wait(60s);
  (*server)->Stop(100ms);
  ASSERT_TRUE(st.has_value()) << "node did not exit";
  ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*proc)->Output();

  const std::string base = R"(instance="js-1", job="demo/shop-js")";
  EXPECT_EQ(Last(db, R"({__name__="orders_placed_total", )" + base + R"(, region="eu"})"), 3);
  EXPECT_EQ(Last(db, R"({__name__="queue_depth", )" + base + R"(, queue="q1"})"), 7);
  const std::string h = R"(http_server_duration_milliseconds)";
  const std::string hl = base + R"(, route="/cart")";
  auto bucket = [&](const std::string& le) {
    return "{__name__=\"" + h + "_bucket\", " + base + ", le=\"" + le + "\", route=\"/cart\"}";
  };
  EXPECT_EQ(Last(db, "{__name__=\"" + h + "_count\", " + hl + "}"), 2);
  EXPECT_EQ(Last(db, "{__name__=\"" + h + "_sum\", " + hl + "}"), 262);
  // The SDK's default boundaries: 0, 5, 10, 25, 50, 75, 100, 250, ...
  EXPECT_EQ(Last(db, bucket("10")), 0);
  EXPECT_EQ(Last(db, bucket("25")), 1);
  EXPECT_EQ(Last(db, bucket("250")), 2);
  EXPECT_EQ(Last(db, bucket("+Inf")), 2);

  // target_info carries the other resource attributes.
  bool target_info = false;
  for (const RecordedSample& s : db.samples()) {
    if (s.labels.Get("__name__") != "target_info") continue;
    target_info = true;
    EXPECT_EQ(s.labels.Get("host_name"), "h1");
    EXPECT_EQ(s.labels.Get("job"), "demo/shop-js");
  }
  EXPECT_TRUE(target_info);
  auto md = db.metadata();
  EXPECT_EQ(md["orders_placed_total"].type, "counter");
  EXPECT_EQ(md["orders_placed_total"].help, "Orders placed");
  EXPECT_EQ(md[h].type, "histogram");
  EXPECT_EQ(md["queue_depth"].type, "gauge");
  EXPECT_EQ(registry.Expose().find("sightline_metrics_ingest_samples_rejected_total{"),
            std::string::npos);
}

}  // namespace
}  // namespace sightline::metrics::ingest
