// The real Prometheus (Debian 2.42) as a remote-write sender: it scrapes
// itself and writes to our receiver (the real handler behind the real HTTP
// server, with the recording fake store); its `up` and prometheus_* series
// and its metric metadata must arrive, with no request refused.
// Skipped with a reason when the prometheus binary is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness/harness.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/ingest/remote_write.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

using metrics::testing::FakeAppendable;
using namespace std::chrono_literals;

std::string FindPrometheus() {
  if (const char* p = std::getenv("SIGHTLINE_PROMETHEUS"); p != nullptr && *p != '\0') return p;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = dir + "/prometheus";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

TEST(PrometheusSenderTest, SelfScrapeArrivesThroughRemoteWrite) {
  std::string prometheus = FindPrometheus();
  if (prometheus.empty()) GTEST_SKIP() << "prometheus not installed (apt-get install prometheus)";

  telemetry::Registry registry;
  FakeAppendable db;
  IngestOptions options;
  options.registry = &registry;
  RemoteWriteHandler handler(&db, options);

  // The real handler, behind a route that also records what the sender put
  // in the headers.
  std::mutex mu;
  std::string content_type, version, user_agent;
  net::Router router;
  router.Handle("POST", "/api/v1/write", [&](net::HttpRequest& req, net::HttpResponse& resp) {
    {
      std::lock_guard<std::mutex> l(mu);
      content_type = std::string(req.Header("Content-Type").value_or(""));
      version = std::string(req.Header("X-Prometheus-Remote-Write-Version").value_or(""));
      user_agent = std::string(req.Header("User-Agent").value_or(""));
    }
    handler.Serve(req, resp);
  });
  net::HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 2;
  auto server = net::HttpServer::Start(so, &router, &registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  sightline::testing::TempDir dir;
  int port = sightline::testing::FreePort();
  std::string self = "127.0.0.1:" + std::to_string(port);
  sightline::testing::WriteFile(dir.Join("prom.yml"), R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [")" + self + R"("]
remote_write:
  - url: http://)" + (*server)->bound_address() + R"(/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 1s
)");
  auto proc = sightline::testing::Process::Start(
      {prometheus, "--config.file=" + dir.Join("prom.yml"),
       "--storage.tsdb.path=" + dir.Join("data"), "--web.listen-address=" + self},
      {}, dir.Join("prometheus.log"));
  ASSERT_TRUE(proc.ok()) << proc.status().ToString();

  const std::string up = R"({__name__="up", instance=")" + self + R"(", job="prometheus"})";
  bool arrived = false;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
    auto series = db.SeriesStrings();
    bool has_up = std::find(series.begin(), series.end(), up) != series.end();
    bool has_build_info = false;
    for (const std::string& s : series) {
      if (s.rfind(R"({__name__="prometheus_build_info")", 0) == 0) has_build_info = true;
    }
    if (has_up && has_build_info && db.metadata().count("prometheus_http_requests_total") > 0) {
      arrived = true;
      break;
    }
    if (!(*proc)->Running()) break;
  }
  (*proc)->Signal(SIGTERM);
  (*proc)->Wait(10s);
  (*server)->Stop(100ms);
  ASSERT_TRUE(arrived) << "series seen: " << db.SeriesStrings().size() << "\nprometheus log:\n"
                       << (*proc)->Output();

  auto samples = db.SamplesOf(up);
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.back().v, 1);
  EXPECT_EQ(samples.back().tenant, "anonymous");
  EXPECT_GT(db.SeriesStrings().size(), 100u);  // Prometheus exposes hundreds of series.
  EXPECT_EQ(db.metadata()["prometheus_http_requests_total"].type, "counter");
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(content_type, "application/x-protobuf");
    EXPECT_EQ(version, "0.1.0");
    EXPECT_EQ(user_agent.rfind("Prometheus/", 0), 0u) << user_agent;
  }
  // Nothing was refused.
  std::string metrics = registry.Expose();
  EXPECT_EQ(metrics.find("sightline_metrics_ingest_samples_rejected_total{"), std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find(R"(result="partial")"), std::string::npos);
}

}  // namespace
}  // namespace sightline::metrics::ingest
