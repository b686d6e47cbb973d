// Prometheus's scrape_config features beyond the basics: label_limit,
// label_name_length_limit, label_value_length_limit (the scrape fails, up=0,
// Prometheus's messages), target_limit (per scrape config), basic_auth,
// authorization and tls_config parsing with Prometheus's checks, secrets
// redacted for /config, and the HTTP fetcher sending the credentials.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "harness/harness.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/scrape/http_fetcher.h"
#include "metrics/scrape/scrape_config.h"
#include "metrics/scrape/scrape_loop.h"
#include "metrics/scrape/scrape_manager.h"
#include "net/http.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::scrape {
namespace {

using namespace std::chrono_literals;
using metrics::testing::FakeAppendable;
namespace th = sightline::testing;

Fetcher Always(std::string body) {
  return [body](std::chrono::milliseconds) -> Result<FetchResult> {
    return FetchResult{body, "text/plain; version=0.0.4"};
  };
}

LoopOptions Opts() {
  LoopOptions o;
  o.tenant = "t1";
  o.target_labels = Labels::FromStrings({"job", "node", "instance", "h:9100"});
  return o;
}

std::vector<double> Values(const FakeAppendable& db, const std::string& series) {
  std::vector<double> out;
  for (const auto& s : db.SamplesOf(series)) out.push_back(s.v);
  return out;
}

constexpr const char* kUp = R"({__name__="up", instance="h:9100", job="node"})";

TEST(ScrapeLabelLimitsTest, LabelLimitFailsTheScrape) {
  FakeAppendable db;
  LoopOptions o = Opts();
  o.label_limit = 4;  // __name__, instance, job + one
  ScrapeLoop loop(&db, Always("ok{a=\"1\"} 1\nbad{a=\"1\",b=\"2\"} 2\n"), o);
  Status s = loop.ScrapeOnce(1000);
  EXPECT_EQ(s.message(), "label_limit exceeded (metric: bad, number of labels: 5, limit: 4)");
  EXPECT_EQ(Values(db, kUp), std::vector<double>{0});
  // Nothing of the failed scrape is stored, not even the series within limits.
  EXPECT_TRUE(db.SamplesOf(R"({__name__="ok", a="1", instance="h:9100", job="node"})").empty());
  EXPECT_EQ(loop.State().health, "down");
  EXPECT_EQ(loop.State().last_error, s.message());
}

TEST(ScrapeLabelLimitsTest, WithinLimitsScrapes) {
  FakeAppendable db;
  LoopOptions o = Opts();
  o.label_limit = 5;
  o.label_name_length_limit = 8;
  o.label_value_length_limit = 6;
  ScrapeLoop loop(&db, Always("m{a=\"1\",b=\"2\"} 2\n"), o);
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  EXPECT_EQ(Values(db, kUp), std::vector<double>{1});
}

TEST(ScrapeLabelLimitsTest, NameAndValueLengthMessages) {
  {
    FakeAppendable db;
    LoopOptions o = Opts();
    o.label_name_length_limit = 8;  // __name__ is a label name too
    ScrapeLoop loop(&db, Always("m{toolonger=\"1\"} 1\n"), o);
    EXPECT_EQ(loop.ScrapeOnce(1000).message(),
              "label_name_length_limit exceeded (metric: m, label name: toolonger, length: 9, "
              "limit: 8)");
    EXPECT_EQ(Values(db, kUp), std::vector<double>{0});
  }
  {
    FakeAppendable db;
    LoopOptions o = Opts();
    o.label_value_length_limit = 6;  // instance="h:9100" fits
    ScrapeLoop loop(&db, Always("m{path=\"/a\\\"b/cd\"} 1\n"), o);
    EXPECT_EQ(loop.ScrapeOnce(1000).message(),
              "label_value_length_limit exceeded (metric: m, label name: path, value: "
              "\"/a\\\"b/cd\", length: 7, limit: 6)");
  }
  {
    // Target labels count too (instance is 6 bytes); long values are cut
    // at 50 characters in the message, as Go's %.50q.
    FakeAppendable db;
    LoopOptions o = Opts();
    o.label_value_length_limit = 60;
    std::string v(70, 'x');
    ScrapeLoop loop(&db, Always("m{v=\"" + v + "\"} 1\n"), o);
    EXPECT_EQ(loop.ScrapeOnce(1000).message(),
              "label_value_length_limit exceeded (metric: m, label name: v, value: \"" +
                  std::string(50, 'x') + "\", length: 70, limit: 60)");
  }
}

TEST(ScrapeLabelLimitsTest, CheckedAfterMetricRelabeling) {
  FakeAppendable db;
  LoopOptions o = Opts();
  o.label_limit = 3;
  relabel::Config drop;
  drop.action = relabel::Action::kLabelDrop;
  drop.regex = "extra";
  o.metric_relabel = std::make_shared<const std::vector<relabel::Rule>>(
      *relabel::CompileAll({drop}));
  ScrapeLoop loop(&db, Always("m{extra=\"1\"} 1\n"), o);
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  EXPECT_EQ(Values(db, R"({__name__="m", instance="h:9100", job="node"})"),
            std::vector<double>{1});
}

TEST(ScrapeLabelLimitsTest, SeriesOfAFailedScrapeGoStale) {
  FakeAppendable db;
  LoopOptions o = Opts();
  o.label_limit = 4;
  int calls = 0;
  ScrapeLoop loop(
      &db,
      [&](std::chrono::milliseconds) -> Result<FetchResult> {
        ++calls;
        std::string body = calls == 1 ? "m 1\n" : "m 1\nbad{a=\"1\",b=\"2\"} 1\n";
        return FetchResult{body, "text/plain"};
      },
      o);
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  EXPECT_FALSE(loop.ScrapeOnce(2000).ok());
  auto m = db.SamplesOf(R"({__name__="m", instance="h:9100", job="node"})");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(IsStaleNaN(m[1].v));
  EXPECT_EQ(Values(db, kUp), (std::vector<double>{1, 0}));
}

TEST(ScrapeLabelLimitsTest, ForcedErrorSkipsTheFetch) {
  FakeAppendable db;
  LoopOptions o = Opts();
  auto forced = std::make_shared<ForcedError>();
  o.forced_error = forced;
  int fetches = 0;
  ScrapeLoop loop(
      &db,
      [&](std::chrono::milliseconds) -> Result<FetchResult> {
        ++fetches;
        return FetchResult{"m 1\n", "text/plain"};
      },
      o);
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  forced->Set("target_limit exceeded (number of targets: 3, limit: 2)");
  EXPECT_EQ(loop.ScrapeOnce(2000).message(),
            "target_limit exceeded (number of targets: 3, limit: 2)");
  EXPECT_EQ(fetches, 1);
  forced->Set("");
  EXPECT_TRUE(loop.ScrapeOnce(3000).ok());
  EXPECT_EQ(Values(db, kUp), (std::vector<double>{1, 0, 1}));
}

TEST(ScrapeConfigAuthTest, ParsesLimitsAuthAndTls) {
  auto c = ParseScrapeConfig(R"(
scrape_configs:
  - job_name: a
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    target_limit: 5
    basic_auth: {username: u, password_file: secrets/pw}
    tls_config:
      ca_file: /etc/ca.pem
      cert_file: c.pem
      key_file: k.pem
      server_name: scrape.test
      insecure_skip_verify: true
    scheme: https
  - job_name: b
    authorization: {credentials: tok}
  - job_name: c
    authorization: {type: Token, credentials_file: /run/tok}
  - job_name: d
    bearer_token: old
)",
                             "/etc/sl/sightline.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const ScrapeConfig& a = c->scrape_configs[0];
  EXPECT_EQ(a.label_limit, 30u);
  EXPECT_EQ(a.label_name_length_limit, 100u);
  EXPECT_EQ(a.label_value_length_limit, 200u);
  EXPECT_EQ(a.target_limit, 5u);
  EXPECT_TRUE(a.http_client.has_basic_auth);
  EXPECT_EQ(a.http_client.basic_auth.username, "u");
  EXPECT_EQ(a.http_client.basic_auth.password_file, "/etc/sl/secrets/pw");
  EXPECT_EQ(a.http_client.tls_config.ca_file, "/etc/ca.pem");
  EXPECT_EQ(a.http_client.tls_config.cert_file, "/etc/sl/c.pem");
  EXPECT_EQ(a.http_client.tls_config.key_file, "/etc/sl/k.pem");
  EXPECT_EQ(a.http_client.tls_config.server_name, "scrape.test");
  EXPECT_TRUE(a.http_client.tls_config.insecure_skip_verify);
  const ScrapeConfig& b = c->scrape_configs[1];
  EXPECT_TRUE(b.http_client.has_authorization);
  EXPECT_EQ(b.http_client.authorization.type, "Bearer");
  EXPECT_EQ(b.http_client.authorization.credentials, "tok");
  EXPECT_EQ(c->scrape_configs[2].http_client.authorization.type, "Token");
  EXPECT_EQ(c->scrape_configs[2].http_client.authorization.credentials_file, "/run/tok");
  EXPECT_EQ(c->scrape_configs[3].http_client.authorization.credentials, "old");
}

TEST(ScrapeConfigAuthTest, PrometheusValidationMessages) {
  auto err = [](const std::string& job) {
    auto c = ParseScrapeConfig("scrape_configs:\n  - job_name: x\n" + job, "f.yaml");
    return c.ok() ? std::string("ok") : c.status().message();
  };
  EXPECT_EQ(err("    basic_auth: {username: u, password: p, password_file: f}\n"),
            "f.yaml:3: at most one of basic_auth password & password_file must be configured");
  EXPECT_EQ(err("    basic_auth: {username: u}\n    authorization: {credentials: t}\n"),
            "f.yaml:4: at most one of basic_auth, oauth2 & authorization must be configured");
  EXPECT_EQ(err("    authorization: {type: Basic, credentials: t}\n"),
            "f.yaml:3: authorization type cannot be set to \"basic\", use \"basic_auth\" "
            "instead");
  EXPECT_EQ(err("    authorization: {credentials: t, credentials_file: f}\n"),
            "f.yaml:3: at most one of authorization credentials & credentials_file must be "
            "configured");
  EXPECT_EQ(err("    tls_config: {cert_file: /c.pem}\n"),
            "f.yaml:3: client cert file \"/c.pem\" specified without client key file \"\"");
  EXPECT_EQ(err("    tls_config: {cipher: x}\n"),
            "f.yaml:3: field cipher not found in type config.plain");
  EXPECT_EQ(err("    label_limit: many\n"), "f.yaml:3: label_limit: \"many\" is not a number");
}

TEST(ScrapeConfigAuthTest, SecretsRedactedForConfigPage) {
  std::string y = RedactedScrapeConfigsYaml(R"(
server: {http: {listen: ":1"}}
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password: hunter2}
  - job_name: b
    authorization: {credentials: tok123}
  - job_name: c
    bearer_token: old456
    basic_auth: {username: v, password_file: /pw}
)");
  EXPECT_EQ(y.find("hunter2"), std::string::npos) << y;
  EXPECT_EQ(y.find("tok123"), std::string::npos) << y;
  EXPECT_EQ(y.find("old456"), std::string::npos) << y;
  EXPECT_NE(y.find("<secret>"), std::string::npos) << y;
  EXPECT_NE(y.find("password_file: /pw"), std::string::npos) << y;
  EXPECT_NE(y.find("username: u"), std::string::npos) << y;
  EXPECT_EQ(y.find("server"), std::string::npos) << y;
  EXPECT_EQ(RedactedScrapeConfigsYaml("server: {}\n"), "");
}

TEST(ScrapeConfigAuthTest, GlobalExternalLabelsStandInForMetricsExternalLabels) {
  const std::string yaml = "global:\n  external_labels: {cluster: eu-1, replica: a}\n";
  config::Config cfg;
  ASSERT_TRUE(config::LoadYaml(yaml, "f.yaml", &cfg).ok());
  cfg.file_text = yaml;
  ASSERT_TRUE(config::Finalize(&cfg).ok());
  EXPECT_EQ(cfg.metrics.external_labels,
            (std::vector<std::string>{"cluster=eu-1", "replica=a"}));

  // metrics.external_labels win when set.
  const std::string both = yaml + "metrics:\n  external_labels: [cluster=us-2]\n";
  config::Config cfg2;
  ASSERT_TRUE(config::LoadYaml(both, "f.yaml", &cfg2).ok());
  cfg2.file_text = both;
  ASSERT_TRUE(config::Finalize(&cfg2).ok());
  EXPECT_EQ(cfg2.metrics.external_labels, std::vector<std::string>{"cluster=us-2"});
}

// A target that wants credentials: records the Authorization header.
class AuthTarget {
 public:
  AuthTarget() {
    router_.Handle("GET", "/metrics", [this](net::HttpRequest& req, net::HttpResponse& resp) {
      std::string got(req.Header("Authorization").value_or(""));
      {
        std::lock_guard<std::mutex> l(mu_);
        last_ = got;
      }
      if (got != want_) {
        resp.Text(401, "unauthorized\n");
        return;
      }
      resp.status = 200;
      resp.SetHeader("Content-Type", "text/plain; version=0.0.4");
      resp.body = "secret_metric 7\n";
    });
    net::HttpServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.worker_threads = 1;
    server_ = std::move(*net::HttpServer::Start(so, &router_, &reg_));
  }
  ~AuthTarget() { server_->Stop(100ms); }
  std::string url() const { return "http://" + server_->bound_address() + "/metrics"; }
  std::string address() const { return server_->bound_address(); }
  void want(std::string v) { want_ = std::move(v); }
  std::string last() {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }

 private:
  telemetry::Registry reg_;
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
  std::string want_;
  std::mutex mu_;
  std::string last_;
};

TEST(HttpFetcherAuthTest, BasicAuthPasswordAndFile) {
  AuthTarget target;
  target.want("Basic dTpwdw==");  // u:pw
  HttpClientConfig c;
  c.has_basic_auth = true;
  c.basic_auth.username = "u";
  c.basic_auth.password = "pw";
  HttpFetcher f(target.url(), 0, c);
  auto r = f.Fetch(5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "secret_metric 7\n");

  th::TempDir dir;
  th::WriteFile(dir.Join("pw"), "pw\n");  // trailing newline trimmed
  c.basic_auth.password.clear();
  c.basic_auth.password_file = dir.Join("pw");
  HttpFetcher ff(target.url(), 0, c);
  ASSERT_TRUE(ff.Fetch(5s).ok()) << target.last();
  // Read at every scrape: a rotated password takes effect.
  th::WriteFile(dir.Join("pw"), "other");
  auto denied = ff.Fetch(5s);
  EXPECT_EQ(denied.status().message(), "server returned HTTP status 401 Unauthorized");
  EXPECT_EQ(target.last(), "Basic dTpvdGhlcg==");  // u:other
  c.basic_auth.password_file = dir.Join("missing");
  HttpFetcher fm(target.url(), 0, c);
  EXPECT_NE(fm.Fetch(5s).status().message().find("unable to read basic auth password file"),
            std::string::npos);
}

TEST(HttpFetcherAuthTest, AuthorizationCredentialsAndFile) {
  AuthTarget target;
  target.want("Bearer tok");
  HttpClientConfig c;
  c.has_authorization = true;
  c.authorization.credentials = "tok";
  HttpFetcher f(target.url(), 0, c);
  ASSERT_TRUE(f.Fetch(5s).ok()) << target.last();

  th::TempDir dir;
  th::WriteFile(dir.Join("tok"), "  filetok\n");
  c.authorization.credentials.clear();
  c.authorization.credentials_file = dir.Join("tok");
  c.authorization.type = "Token";
  target.want("Token filetok");
  HttpFetcher ff(target.url(), 0, c);
  ASSERT_TRUE(ff.Fetch(5s).ok()) << target.last();
}

TEST(ScrapeManagerLimitsTest, TargetLimitFailsEveryTargetOfTheJob) {
  AuthTarget t1, t2, t3;
  auto cfg = ParseScrapeConfig(R"(
global: {scrape_interval: 100ms, scrape_timeout: 100ms}
scrape_configs:
  - job_name: limited
    target_limit: 2
    static_configs: [{targets: [")" + t1.address() + R"(", ")" + t2.address() +
                                   R"(", ")" + t3.address() + R"("]}]
  - job_name: free
    target_limit: 3
    static_configs: [{targets: [")" + t1.address() + R"("]}]
)",
                               "f.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  FakeAppendable db;
  auto mgr = ScrapeManager::Start(&db, *cfg);
  ASSERT_TRUE(mgr.ok()) << mgr.status().ToString();
  std::string targets;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(100ms);
    targets = (*mgr)->TargetsJson();
    if (targets.find("\"health\":\"unknown\"") == std::string::npos) break;
  }
  (*mgr)->Stop();
  EXPECT_NE(targets.find(R"x("lastError":"target_limit exceeded (number of targets: 3, limit: 2)")x"),
            std::string::npos)
      << targets;
  // The other job is within its limit and scrapes.
  EXPECT_NE(targets.find(R"("health":"up")"), std::string::npos) << targets;
  bool limited_up = false, free_up = false;
  for (const auto& s : db.samples()) {
    if (s.labels.Get("__name__") != "up" || std::isnan(s.v)) continue;
    if (s.labels.Get("job") == "limited" && s.v == 1) limited_up = true;
    if (s.labels.Get("job") == "free" && s.v == 1) free_up = true;
  }
  EXPECT_FALSE(limited_up);
  EXPECT_TRUE(free_up);
}

// The last `up` sample of a job+instance: "none", "stale" or the value.
std::string LastUp(const FakeAppendable& db, const std::string& job, const std::string& inst) {
  std::string out = "none";
  for (const auto& s : db.samples()) {
    if (s.labels.Get("__name__") != "up" || s.labels.Get("job") != job ||
        s.labels.Get("instance") != inst) {
      continue;
    }
    out = IsStaleNaN(s.v) ? "stale" : std::to_string(static_cast<int>(s.v));
  }
  return out;
}

bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 100 && !f(); ++i) std::this_thread::sleep_for(100ms);
  return f();
}

TEST(ScrapeManagerReloadTest, TargetsAddedRemovedJobsRestarted) {
  AuthTarget t1, t2, t3;
  auto yaml = [&](const std::string& a_targets, const std::string& extra) {
    return "global: {scrape_interval: 100ms, scrape_timeout: 100ms}\nscrape_configs:\n"
           "  - job_name: a\n    static_configs: [{targets: [" +
           a_targets + "]}]\n" + extra;
  };
  auto cfg = ParseScrapeConfig(yaml("\"" + t1.address() + "\"", ""), "f.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  FakeAppendable db;
  auto mgr = ScrapeManager::Start(&db, *cfg);
  ASSERT_TRUE(mgr.ok());
  ASSERT_TRUE(Eventually([&] { return LastUp(db, "a", t1.address()) == "1"; }));

  // t1 replaced by t2 in job a; job b added.
  auto next = ParseScrapeConfig(
      yaml("\"" + t2.address() + "\"",
           "  - job_name: b\n    static_configs: [{targets: [\"" + t3.address() + "\"]}]\n"),
      "f.yaml");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_TRUE((*mgr)->ApplyConfig(*next).ok());
  EXPECT_EQ(LastUp(db, "a", t1.address()), "stale");
  EXPECT_TRUE(Eventually([&] {
    return LastUp(db, "a", t2.address()) == "1" && LastUp(db, "b", t3.address()) == "1";
  }));
  EXPECT_EQ((*mgr)->ActiveTargets(), 2u);

  // Job b removed, job a's settings changed: b stale, a restarted.
  auto third = ParseScrapeConfig(
      yaml("\"" + t2.address() + "\"", "") + "    sample_limit: 1000\n", "f.yaml");
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  ASSERT_TRUE((*mgr)->ApplyConfig(*third).ok());
  EXPECT_EQ(LastUp(db, "b", t3.address()), "stale");
  EXPECT_TRUE(Eventually([&] { return LastUp(db, "a", t2.address()) == "1"; }));
  EXPECT_EQ((*mgr)->ActiveTargets(), 1u);

  // A configuration whose rules do not compile changes nothing.
  ScrapeFileConfig bad = *third;
  relabel::Config r;
  r.action = relabel::Action::kHashMod;  // no modulus
  r.target_label = "x";
  bad.scrape_configs[0].relabel_configs.push_back(r);
  EXPECT_FALSE((*mgr)->ApplyConfig(bad).ok());
  EXPECT_EQ((*mgr)->ActiveTargets(), 1u);
  (*mgr)->Stop();
  EXPECT_EQ(LastUp(db, "a", t2.address()), "stale");
}

}  // namespace
}  // namespace sightline::metrics::scrape
