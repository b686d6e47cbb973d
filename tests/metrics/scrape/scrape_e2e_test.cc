// The scraper in the real binary, against real targets:
//  - the real Prometheus 2.42 serving its own /metrics (static_configs):
//    every metric it exposes is queryable through /api/v1/series, `up` is 1,
//    /api/v1/targets shows it up; killed: `up` goes to 0, its series go
//    stale (instant queries stop returning them), the target shows down;
//  - a tiny HTTP target from this test (file_sd_configs, gzip, relabeling,
//    metric_relabel_configs): appears, is relabeled, and goes stale when
//    the file drops it;
//  - the self-scrape into tenant `self`.
// Skips the Prometheus part with a reason when prometheus is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "harness/harness.h"
#include "metrics/scrape/textparse.h"
#include "net/http.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::scrape {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

std::string FindPrometheus() {
  if (const char* p = std::getenv("SIGHTLINE_PROMETHEUS"); p != nullptr && *p != '\0') return p;
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    std::string c = std::string(dir) + "/prometheus";
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

std::string Query(const std::string& base, const std::string& tenant, const std::string& q) {
  auto r = th::HttpGet(base + "/api/v1/query?query=" + net::PercentEncode(q),
                       {"X-Scope-OrgID: " + tenant});
  return r.body;
}

// The sample value of a one-element instant vector, or "" when empty.
std::string ScalarValue(const std::string& body) {
  size_t at = body.find("\"value\":[");
  if (at == std::string::npos) return "";
  size_t q1 = body.find('"', body.find(',', at) + 1);
  size_t q2 = body.find('"', q1 + 1);
  return body.substr(q1 + 1, q2 - q1 - 1);
}

bool Eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout) {
  for (auto end = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < end; std::this_thread::sleep_for(200ms)) {
    if (f()) return true;
  }
  return f();
}

// Metric names in an exposition.
std::set<std::string> ExposedNames(const std::string& body) {
  std::set<std::string> out;
  TextParser p(body, Format::kPrometheusText);
  while (true) {
    auto more = p.Next();
    if (!more.ok() || !*more) break;
    if (p.entry() == TextParser::Entry::kSeries) out.insert(std::string(p.metric_name()));
  }
  return out;
}

TEST(ScrapeE2eTest, RealPrometheusTargetFileSdAndSelfScrape) {
  th::TempDir dir;

  // The tiny target: one gauge, one series to drop, a clash with `job`.
  telemetry::Registry reg;
  std::atomic<int> hits{0};
  net::Router router;
  router.Handle("GET", "/custom/path", [&](net::HttpRequest& req, net::HttpResponse& resp) {
    ++hits;
    resp.status = 200;
    resp.SetHeader("Content-Type", "text/plain; version=0.0.4");
    resp.body =
        "# TYPE tiny_gauge gauge\ntiny_gauge{job=\"inner\"} 42\ntiny_drop_me 1\n"
        "tiny_param 1\n";
    if (std::string(req.Param("x").value_or("")) == "y") resp.body += "tiny_param_seen 1\n";
  });
  net::HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  auto tiny = net::HttpServer::Start(so, &router, &reg);
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  const std::string tiny_addr = (*tiny)->bound_address();
  th::WriteFile(
      dir.Join("targets/tiny.json"),
      R"([{"targets": [")" + tiny_addr + R"("], "labels": {"team": "blue", "__meta_x": "1"}}])");

  std::string prometheus = FindPrometheus();
  int prom_port = th::FreePort();
  const std::string prom_addr = "127.0.0.1:" + std::to_string(prom_port);
  std::unique_ptr<th::Process> prom;
  if (!prometheus.empty()) {
    th::WriteFile(dir.Join("prom.yml"), "global:\n  scrape_interval: 1h\n");
    auto p = th::Process::Start(
        {prometheus, "--config.file=" + dir.Join("prom.yml"),
         "--storage.tsdb.path=" + dir.Join("promdata"), "--web.listen-address=" + prom_addr},
        {}, dir.Join("prometheus.log"));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    prom = std::move(*p);
    ASSERT_TRUE(th::WaitForHttp("http://" + prom_addr + "/-/ready", 30s)) << prom->Output();
  }

  th::WriteFile(dir.Join("sightline.yaml"), R"(
metrics:
  self_scrape:
    interval: 1s
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [")" + prom_addr + R"("]
  - job_name: tiny
    metrics_path: /custom/path
    params: {x: ["z"]}
    file_sd_configs:
      - files: [targets/*.json]
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__meta_x]
        target_label: from_meta
      - target_label: __param_x
        replacement: "y"
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: tiny_drop_.*
        action: drop
)");
  auto server = th::SightlineServer::Start(
      {"--config.file=" + dir.Join("sightline.yaml"), "--multitenancy.enabled=true"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string base = (*server)->http_url();

  // The tiny target: relabeled, metric-relabeled, clashing label exported.
  ASSERT_TRUE(
      Eventually([&] { return ScalarValue(Query(base, "anonymous", "tiny_gauge")) == "42"; }, 20s))
      << Query(base, "anonymous", "tiny_gauge") << (*server)->process().Output();
  std::string tg = Query(base, "anonymous", "tiny_gauge");
  EXPECT_NE(tg.find(R"("exported_job":"inner")"), std::string::npos) << tg;
  EXPECT_NE(tg.find(R"("job":"tiny")"), std::string::npos) << tg;
  EXPECT_NE(tg.find(R"("team":"blue")"), std::string::npos) << tg;
  EXPECT_NE(tg.find(R"("from_meta":"1")"), std::string::npos) << tg;
  EXPECT_NE(tg.find(R"("instance":")" + tiny_addr + "\""), std::string::npos) << tg;
  EXPECT_EQ(tg.find("__meta_x"), std::string::npos) << tg;
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", "count(tiny_drop_me)")), "");
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", "tiny_param_seen")), "1");  // __param_x=y
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", R"(up{job="tiny"})")), "1");
  EXPECT_EQ(
      ScalarValue(Query(base, "anonymous", R"(scrape_samples_post_metric_relabeling{job="tiny"})")),
      "3");

  // The self-scrape, in its own tenant only.
  ASSERT_TRUE(Eventually(
      [&] { return ScalarValue(Query(base, "self", R"(up{job="sightline"})")) == "1"; }, 20s));
  EXPECT_NE(ScalarValue(Query(base, "self", R"(count({job="sightline"}))")), "");
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", R"(up{job="sightline"})")), "");

  // The file drops the target: its series go stale.
  th::WriteFile(dir.Join("targets/tiny.json"), "[]");
  ASSERT_TRUE(
      Eventually([&] { return ScalarValue(Query(base, "anonymous", "tiny_gauge")).empty(); }, 20s))
      << Query(base, "anonymous", "tiny_gauge");
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", R"(up{job="tiny"})")), "");

  if (!prom) {
    (*tiny)->Stop(100ms);
    GTEST_SKIP() << "prometheus not installed (apt-get install prometheus): real-target part "
                    "skipped";
  }

  // Every metric the real Prometheus exposes is stored.
  ASSERT_TRUE(Eventually(
      [&] { return ScalarValue(Query(base, "anonymous", R"(up{job="prometheus"})")) == "1"; }, 20s))
      << (*server)->process().Output();
  std::this_thread::sleep_for(2500ms);  // a couple more scrapes
  std::string exposition = th::HttpGet("http://" + prom_addr + "/metrics").body;
  std::set<std::string> exposed = ExposedNames(exposition);
  ASSERT_GT(exposed.size(), 100u);
  auto values = th::HttpGet(
      base + "/api/v1/label/__name__/values?match[]=" + net::PercentEncode(R"({job="prometheus"})"),
      {"X-Scope-OrgID: anonymous"});
  std::vector<std::string> missing;
  for (const std::string& name : exposed) {
    if (values.body.find("\"" + name + "\"") == std::string::npos) missing.push_back(name);
  }
  // A metric that first appeared in the very last exposition may not be
  // scraped yet; allow none-to-few such, but every long-lived one is there.
  EXPECT_LE(missing.size(), 2u) << "missing: " << missing.size() << " e.g. "
                                << (missing.empty() ? "" : missing[0]);
  std::string targets = th::HttpGet(base + "/api/v1/targets", {"X-Scope-OrgID: anonymous"}).body;
  EXPECT_NE(targets.find(R"("scrapeUrl":"http://)" + prom_addr + R"(/metrics")"), std::string::npos)
      << targets;
  EXPECT_NE(targets.find(R"("health":"up")"), std::string::npos) << targets;

  // Kill the target: up 0, its series stale.
  prom->Signal(SIGKILL);
  prom->Wait(10s);
  ASSERT_TRUE(Eventually(
      [&] { return ScalarValue(Query(base, "anonymous", R"(up{job="prometheus"})")) == "0"; },
      20s));
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", R"(prometheus_build_info{job="prometheus"})")),
            "");
  EXPECT_NE(ScalarValue(Query(base, "anonymous",
                              R"(max_over_time(prometheus_build_info{job="prometheus"}[1m]))")),
            "");
  targets = th::HttpGet(base + "/api/v1/targets?state=active", {"X-Scope-OrgID: anonymous"}).body;
  EXPECT_NE(targets.find(R"("health":"down")"), std::string::npos) << targets;
  EXPECT_NE(targets.find("connect"), std::string::npos) << targets;  // lastError
  (*tiny)->Stop(100ms);
}

}  // namespace
}  // namespace sightline::metrics::scrape
