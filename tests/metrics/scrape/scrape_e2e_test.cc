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
#include <vector>

#include "harness/harness.h"
#include "metrics/scrape/textparse.h"
#include "net/http.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::scrape {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

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

  // The real Prometheus as a target (its own /metrics); no self-scrape.
  std::unique_ptr<th::PrometheusServer> prom;
  std::string prom_addr = "127.0.0.1:" + std::to_string(th::FreePort());
  if (!th::PrometheusBinary().empty()) {
    auto p = th::PrometheusServer::Start("global:\n  scrape_interval: 1h\n");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    prom = std::move(*p);
    prom_addr = prom->address();
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
  prom->process().Signal(SIGKILL);
  prom->process().Wait(10s);
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

// A small HTTPS target (python3's http.server behind ssl) that wants basic
// auth, with a certificate for "scrape.test" from a CA made here by openssl.
constexpr const char* kTlsTarget = R"(import base64, http.server, ssl, sys
port_file, cert, key, user, pw = sys.argv[1:]
want = "Basic " + base64.b64encode((user + ":" + pw).encode()).decode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Basic")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"# TYPE tls_gauge gauge\ntls_gauge 7\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
)";

bool Shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

TEST(ScrapeE2eTest, HttpsWithBasicAuthTlsConfigAndReload) {
  if (!Shell("command -v openssl") || ::access("/usr/bin/python3", X_OK) != 0) {
    GTEST_SKIP() << "openssl or /usr/bin/python3 missing: the HTTPS target cannot be made";
  }
  th::TempDir dir;
  const std::string d = dir.path();
  th::WriteFile(dir.Join("ext.cnf"), "subjectAltName=DNS:scrape.test\n");
  ASSERT_TRUE(Shell("cd " + d +
                  " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                  "-keyout ca.key -out ca.pem -days 2 -subj /CN=sightline-test-ca"));
  ASSERT_TRUE(Shell("cd " + d +
                  " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                  "-keyout server.key -out server.csr -subj /CN=scrape.test"));
  ASSERT_TRUE(Shell("cd " + d +
                  " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                  "-out server.pem -days 2 -extfile ext.cnf"));
  th::WriteFile(dir.Join("target.py"), kTlsTarget);
  th::WriteFile(dir.Join("pw"), "s3cret\n");
  auto py = th::Process::Start({"/usr/bin/python3", dir.Join("target.py"), dir.Join("port"),
                                dir.Join("server.pem"), dir.Join("server.key"), "scraper",
                                "s3cret"},
                               {}, dir.Join("target.log"));
  ASSERT_TRUE(py.ok()) << py.status().ToString();
  ASSERT_TRUE(Eventually([&] { return !th::ReadFile(dir.Join("port")).empty(); }, 20s))
      << (*py)->Output();
  const std::string addr = "127.0.0.1:" + th::ReadFile(dir.Join("port"));

  auto job = [&](const std::string& name, const std::string& extra) {
    return "  - job_name: " + name + "\n    scheme: https\n    static_configs: [{targets: [\"" +
           addr + "\"]}]\n" + extra;
  };
  const std::string head = "metrics:\n  self_scrape:\n    enabled: false\nglobal:\n"
                           "  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                           "  external_labels: {cluster: e2e}\nscrape_configs:\n";
  const std::string ok_job =
      job("tls_ok",
          "    basic_auth: {username: scraper, password_file: pw}\n"
          "    tls_config: {ca_file: ca.pem, server_name: scrape.test}\n");
  const std::string cfg1 =
      head + ok_job +
      job("tls_insecure",
          "    basic_auth: {username: scraper, password: s3cret}\n"
          "    tls_config: {insecure_skip_verify: true}\n") +
      job("tls_bad_password",
          "    basic_auth: {username: scraper, password: wrong}\n"
          "    tls_config: {ca_file: ca.pem, server_name: scrape.test}\n") +
      job("tls_unknown_ca", "    basic_auth: {username: scraper, password: s3cret}\n") +
      // TLS versions reach the handshake: at most 1.2 works with this
      // server; at least 1.3 and at most 1.2 cannot.
      job("tls_max12",
          "    basic_auth: {username: scraper, password: s3cret}\n"
          "    tls_config: {ca_file: ca.pem, server_name: scrape.test, max_version: TLS12}\n") +
      job("tls_no_version",
          "    basic_auth: {username: scraper, password: s3cret}\n"
          "    tls_config: {ca_file: ca.pem, server_name: scrape.test, min_version: TLS13, "
          "max_version: TLS12}\n");
  th::WriteFile(dir.Join("sightline.yaml"), cfg1);
  auto server = th::SightlineServer::Start({"--config.file=" + dir.Join("sightline.yaml")});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string base = (*server)->http_url();
  auto up = [&](const std::string& j) {
    return ScalarValue(Query(base, "anonymous", "up{job=\"" + j + "\"}"));
  };

  ASSERT_TRUE(Eventually([&] { return up("tls_ok") == "1"; }, 20s))
      << th::HttpGet(base + "/api/v1/targets").body;
  EXPECT_EQ(ScalarValue(Query(base, "anonymous", R"(tls_gauge{job="tls_ok"})")), "7");
  EXPECT_TRUE(Eventually([&] { return up("tls_insecure") == "1"; }, 10s));
  EXPECT_TRUE(Eventually([&] { return up("tls_bad_password") == "0"; }, 10s));
  EXPECT_TRUE(Eventually([&] { return up("tls_unknown_ca") == "0"; }, 10s));
  EXPECT_TRUE(Eventually([&] { return up("tls_max12") == "1"; }, 10s));
  EXPECT_TRUE(Eventually([&] { return up("tls_no_version") == "0"; }, 10s));
  std::string targets = th::HttpGet(base + "/api/v1/targets").body;
  EXPECT_NE(targets.find("server returned HTTP status 401 Unauthorized"), std::string::npos)
      << targets;
  // global.external_labels became metrics.external_labels: not stored with
  // the samples, but attached by the querier (as Thanos does) and in block meta.
  EXPECT_NE(Query(base, "anonymous", R"(tls_gauge{job="tls_ok"})").find(R"("cluster":"e2e")"),
            std::string::npos);

  // /config shows the jobs, never the secrets.
  std::string config_page = th::HttpGet(base + "/config").body;
  EXPECT_NE(config_page.find("tls_bad_password"), std::string::npos) << config_page;
  EXPECT_EQ(config_page.find("s3cret"), std::string::npos) << config_page;
  EXPECT_EQ(config_page.find("wrong"), std::string::npos) << config_page;
  EXPECT_NE(config_page.find("<secret>"), std::string::npos) << config_page;
  EXPECT_NE(config_page.find("cluster=e2e"), std::string::npos) << config_page;

  // POST /-/reload: the insecure job is gone (its series go stale), the
  // others keep running.
  th::WriteFile(dir.Join("sightline.yaml"), head + ok_job);
  auto reload = th::HttpPost(base + "/-/reload", "");
  EXPECT_EQ(reload.status, 200) << reload.body;
  EXPECT_TRUE(Eventually([&] { return up("tls_insecure").empty(); }, 10s));
  EXPECT_TRUE(Eventually([&] { return up("tls_bad_password").empty(); }, 10s));
  EXPECT_EQ(up("tls_ok"), "1");

  // SIGHUP: a job comes back; a broken file is refused and changes nothing.
  th::WriteFile(dir.Join("sightline.yaml"),
                head + ok_job +
                    job("tls_again", "    basic_auth: {username: scraper, password: s3cret}\n"
                                     "    tls_config: {ca_file: ca.pem, server_name: scrape.test}\n"));
  (*server)->process().Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return up("tls_again") == "1"; }, 20s))
      << (*server)->process().Output();
  th::WriteFile(dir.Join("sightline.yaml"), head + "  - job_name: [broken\n");
  auto bad = th::HttpPost(base + "/-/reload", "");
  EXPECT_EQ(bad.status, 500);
  EXPECT_NE(bad.body.find("failed to reload config"), std::string::npos) << bad.body;
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(up("tls_again"), "1");
  EXPECT_TRUE((*server)->process().Running());
}

// SIGHUP with a job whose settings changed (scrape_timeout, sample_limit),
// scraping every second, as Prometheus reloads: the series continue with no
// staleness marker and no missing interval (query_range at 1 ms steps finds
// no hole), while a target removed by the same reload goes stale.
TEST(ScrapeE2eTest, ReloadOfAChangedJobKeepsSeriesContinuous) {
  th::TempDir dir;
  telemetry::Registry reg;
  net::Router router;
  router.Handle("GET", "/metrics", [&](net::HttpRequest&, net::HttpResponse& resp) {
    resp.status = 200;
    resp.SetHeader("Content-Type", "text/plain; version=0.0.4");
    resp.body = "reload_gauge 5\n";
  });
  net::HttpServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  auto t1 = net::HttpServer::Start(so, &router, &reg);
  auto t2 = net::HttpServer::Start(so, &router, &reg);
  ASSERT_TRUE(t1.ok() && t2.ok());
  const std::string a1 = (*t1)->bound_address(), a2 = (*t2)->bound_address();
  auto config = [&](const std::string& targets, const std::string& extra) {
    return "metrics:\n  self_scrape: {enabled: false}\nglobal:\n  scrape_interval: 1s\n"
           "scrape_configs:\n  - job_name: r\n    static_configs: [{targets: [" +
           targets + "]}]\n" + extra;
  };
  th::WriteFile(dir.Join("sightline.yaml"),
                config("\"" + a1 + "\", \"" + a2 + "\"", "    scrape_timeout: 900ms\n"));
  auto server = th::SightlineServer::Start({"--config.file=" + dir.Join("sightline.yaml")});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string base = (*server)->http_url();
  const std::string q1 = "reload_gauge{instance=\"" + a1 + "\"}";
  const std::string q2 = "reload_gauge{instance=\"" + a2 + "\"}";
  ASSERT_TRUE(Eventually([&] { return ScalarValue(Query(base, "anonymous", q2)) == "5"; }, 20s));
  std::this_thread::sleep_for(2500ms);
  const auto start = std::chrono::system_clock::now();

  th::WriteFile(dir.Join("sightline.yaml"),
                config("\"" + a1 + "\"", "    scrape_timeout: 800ms\n    sample_limit: 10\n"));
  (*server)->process().Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return ScalarValue(Query(base, "anonymous", q2)).empty(); }, 10s))
      << "the removed target's series is not stale";
  std::this_thread::sleep_for(3500ms);
  const auto end = std::chrono::system_clock::now();

  auto ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  const int64_t from = ms(start) - 1500, to = ms(end);
  // 1 ms steps: a staleness marker anywhere in between leaves a hole.
  auto r = th::HttpGet(base + "/api/v1/query_range?query=" + net::PercentEncode(q1) +
                           "&start=" + std::to_string(from / 1000.0) +
                           "&end=" + std::to_string(to / 1000.0) + "&step=0.001",
                       {"X-Scope-OrgID: anonymous"});
  ASSERT_EQ(r.status, 200) << r.body;
  size_t points = 0;
  for (size_t p = r.body.find(",\"5\"]"); p != std::string::npos;
       p = r.body.find(",\"5\"]", p + 1)) {
    ++points;
  }
  // Every step from the first to the last has the value: no hole.
  EXPECT_EQ(points, static_cast<size_t>(to - from + 1)) << r.body.substr(0, 300);
  // And no missing scrape: samples about one second apart.
  auto raw = Query(base, "anonymous", q1 + "[" + std::to_string((to - from) / 1000 + 2) + "s]");
  std::vector<double> ts;
  for (size_t p = raw.find("[1"); p != std::string::npos; p = raw.find("[1", p + 1)) {
    ts.push_back(std::atof(raw.c_str() + p + 1));
  }
  ASSERT_GE(ts.size(), 6u) << raw;
  for (size_t i = 1; i < ts.size(); ++i) {
    EXPECT_LE(ts[i] - ts[i - 1], 1.5) << raw;
    EXPECT_GE(ts[i] - ts[i - 1], 0.5) << raw;
  }
  (*t1)->Stop(100ms);
  (*t2)->Stop(100ms);
}

}  // namespace
}  // namespace sightline::metrics::scrape
