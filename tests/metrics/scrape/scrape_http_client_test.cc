// The scrape HTTP client settings a pasted prometheus.yml may hold, against
// small servers of the test: oauth2 (a token server checked for the
// client-credentials form, the token cached, refreshed and sent as Bearer),
// proxy_url (a forward proxy that counts requests; CONNECT with
// proxy_connect_header for https), follow_redirects; the configuration
// accepted or refused exactly as Prometheus 2.42's promtool does; and
// reloads that change a job's settings without a gap or staleness markers
// for the series that continue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/harness.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/scrape/http_fetcher.h"
#include "metrics/scrape/scrape_config.h"
#include "metrics/scrape/scrape_manager.h"

namespace sightline::metrics::scrape {
namespace {

using namespace std::chrono_literals;
using metrics::testing::FakeAppendable;
namespace th = sightline::testing;

// One HTTP request as a tiny server of the test saw it.
struct SeenRequest {
  std::string line;  // "GET /metrics HTTP/1.1", "CONNECT h:p HTTP/1.1"
  std::string head;  // the header lines
  std::string body;
  std::string Header(const std::string& name) const {
    std::string lower_head = head, lower_name = name + ":";
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : lower_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t p = lower_head.find("\n" + lower_name);
    if (p == std::string::npos) return "";
    p += 1 + lower_name.size();
    size_t e = head.find("\r\n", p);
    std::string v = head.substr(p, e - p);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// A raw HTTP/1.1 server on 127.0.0.1: one request per connection, answered
// by `handler` with a whole response (status line, headers, body).
class MiniServer {
 public:
  using Handler = std::function<std::string(const SeenRequest&)>;
  explicit MiniServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~MiniServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_.size();
  }

  static std::string Response(int status, const std::string& reason, const std::string& body,
                              const std::string& extra_headers = "",
                              const std::string& content_type = "text/plain; version=0.0.4") {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
           extra_headers + "\r\n" + body;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      Serve(c);
      ::close(c);
    }
  }
  void Serve(int c) {
    std::string data;
    char buf[4096];
    size_t head_end = std::string::npos;
    while (head_end == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      data.append(buf, static_cast<size_t>(n));
      head_end = data.find("\r\n\r\n");
    }
    SeenRequest r;
    size_t line_end = data.find("\r\n");
    r.line = data.substr(0, line_end);
    r.head = data.substr(line_end, head_end - line_end + 2);
    size_t want = static_cast<size_t>(std::atoll(r.Header("Content-Length").c_str()));
    r.body = data.substr(head_end + 4);
    while (r.body.size() < want) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) break;
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) break;
      r.body.append(buf, static_cast<size_t>(n));
    }
    std::string resp = handler_(r);
    {
      std::lock_guard<std::mutex> l(mu_);
      seen_.push_back(r);
    }
    size_t off = 0;
    while (off < resp.size()) {
      ssize_t n = ::write(c, resp.data() + off, resp.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<SeenRequest> seen_;
};

// The job `a` of a scrape_configs YAML (one job, `extra` indented under it).
Result<ScrapeConfig> Job(const std::string& extra, const std::string& file = "/tmp/f.yaml") {
  auto cfg = ParseScrapeConfig(
      "scrape_configs:\n  - job_name: a\n" + extra + "    static_configs: [{targets: [\"x:1\"]}]\n",
      file);
  if (!cfg.ok()) return cfg.status();
  return cfg->scrape_configs.at(0);
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A token server handing out tok-1, tok-2, ... valid `expires_in` seconds.
struct TokenServer {
  explicit TokenServer(int expires_in)
      : server([this, expires_in](const SeenRequest& r) {
          if (fail) return MiniServer::Response(401, "Unauthorized", "{\"error\":\"nope\"}");
          int n = ++issued;
          return MiniServer::Response(
              200, "OK",
              "{\"access_token\":\"tok-" + std::to_string(n) +
                  "\",\"token_type\":\"bearer\",\"expires_in\":" + std::to_string(expires_in) + "}",
              "", "application/json");
        }) {}
  std::atomic<int> issued{0};
  std::atomic<bool> fail{false};
  MiniServer server;
};

// A target wanting `Authorization: Bearer tok-*`.
struct BearerTarget {
  BearerTarget()
      : server([](const SeenRequest& r) {
          if (r.Header("Authorization").rfind("Bearer tok-", 0) != 0) {
            return MiniServer::Response(401, "Unauthorized", "no\n");
          }
          return MiniServer::Response(200, "OK", "m 1\n");
        }) {}
  MiniServer server;
};

TEST(ScrapeOAuth2Test, ClientCredentialsTokenFetchedCachedAndSent) {
  TokenServer tokens(3600);
  BearerTarget target;
  auto job =
      Job("    oauth2:\n      client_id: client\n      client_secret: s3cret\n"
          "      scopes: [read, write]\n      token_url: http://" +
          tokens.server.address() + "/oauth/token\n      endpoint_params: {audience: metrics}\n");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  HttpFetcher f("http://" + target.server.address() + "/metrics", 0, job->http_client);
  for (int i = 0; i < 3; ++i) {
    auto r = f.Fetch(2000ms);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->body, "m 1\n");
  }
  // One token for three scrapes: cached.
  ASSERT_EQ(tokens.server.count(), 1u);
  SeenRequest t = tokens.server.seen()[0];
  EXPECT_EQ(t.line, "POST /oauth/token HTTP/1.1");
  EXPECT_EQ(t.Header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(t.Header("Authorization"), "Basic " + Base64("client:s3cret"));
  EXPECT_NE(t.body.find("grant_type=client_credentials"), std::string::npos) << t.body;
  EXPECT_NE(t.body.find("scope=read+write"), std::string::npos) << t.body;
  EXPECT_NE(t.body.find("audience=metrics"), std::string::npos) << t.body;
  for (const SeenRequest& s : target.server.seen()) {
    EXPECT_EQ(s.Header("Authorization"), "Bearer tok-1");
  }
}

TEST(ScrapeOAuth2Test, TokenRefreshedBeforeExpiryAndOnSecretRotation) {
  th::TempDir dir;
  th::WriteFile(dir.Join("secret"), "one\n");
  TokenServer tokens(11);  // refreshed 10 s before expiry: after 1 s
  BearerTarget target;
  auto job =
      Job("    oauth2:\n      client_id: c\n      client_secret_file: secret\n"
          "      token_url: http://" +
              tokens.server.address() + "/token\n",
          dir.Join("f.yaml"));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->http_client.oauth2.client_secret_file, dir.Join("secret"));
  HttpFetcher f("http://" + target.server.address() + "/metrics", 0, job->http_client);
  ASSERT_TRUE(f.Fetch(2000ms).ok());
  ASSERT_TRUE(f.Fetch(2000ms).ok());
  EXPECT_EQ(tokens.issued.load(), 1);
  std::this_thread::sleep_for(1200ms);
  ASSERT_TRUE(f.Fetch(2000ms).ok());
  EXPECT_EQ(tokens.issued.load(), 2);
  EXPECT_EQ(target.server.seen().back().Header("Authorization"), "Bearer tok-2");
  // A rotated secret file: a new token with the new secret.
  th::WriteFile(dir.Join("secret"), "two\n");
  ASSERT_TRUE(f.Fetch(2000ms).ok());
  EXPECT_EQ(tokens.issued.load(), 3);
  EXPECT_EQ(tokens.server.seen().back().Header("Authorization"), "Basic " + Base64("c:two"));
}

TEST(ScrapeOAuth2Test, RefusedTokenFailsTheScrape) {
  TokenServer tokens(3600);
  tokens.fail = true;
  BearerTarget target;
  auto job = Job("    oauth2: {client_id: c, client_secret: s, token_url: 'http://" +
                 tokens.server.address() + "/token'}\n");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  HttpFetcher f("http://" + target.server.address() + "/metrics", 0, job->http_client);
  auto r = f.Fetch(2000ms);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("oauth2: cannot fetch token: 401 Unauthorized"),
            std::string::npos)
      << r.status().message();
  // Basic client authentication refused: the credentials go in the form too.
  ASSERT_EQ(tokens.server.count(), 2u);
  EXPECT_NE(tokens.server.seen()[1].body.find("client_id=c&client_secret=s"), std::string::npos)
      << tokens.server.seen()[1].body;
  EXPECT_EQ(target.server.count(), 0u);
}

TEST(ScrapeProxyTest, HttpTargetThroughProxyUrlAndNotThroughTheEnvironment) {
  MiniServer target([](const SeenRequest&) { return MiniServer::Response(200, "OK", "m 1\n"); });
  MiniServer proxy(
      [](const SeenRequest&) { return MiniServer::Response(200, "OK", "via_proxy 1\n"); });
  const std::string url = "http://" + target.address() + "/metrics";
  auto job = Job("    proxy_url: http://" + proxy.address() + "\n");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  HttpFetcher f(url, 0, job->http_client);
  auto r = f.Fetch(2000ms);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "via_proxy 1\n");
  ASSERT_EQ(proxy.count(), 1u);
  EXPECT_EQ(proxy.seen()[0].line, "GET " + url + " HTTP/1.1");
  EXPECT_EQ(target.count(), 0u);

  // Prometheus 2.42 ignores http_proxy: without proxy_url, direct.
  ::setenv("http_proxy", ("http://" + proxy.address()).c_str(), 1);
  ::setenv("HTTP_PROXY", ("http://" + proxy.address()).c_str(), 1);
  HttpFetcher direct(url, 0, {});
  r = direct.Fetch(2000ms);
  ::unsetenv("http_proxy");
  ::unsetenv("HTTP_PROXY");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "m 1\n");
  EXPECT_EQ(proxy.count(), 1u);
  EXPECT_EQ(target.count(), 1u);
}

TEST(ScrapeProxyTest, HttpsTargetTunnelsWithConnectAndProxyConnectHeader) {
  MiniServer proxy([](const SeenRequest&) { return MiniServer::Response(403, "Forbidden", ""); });
  auto job = Job("    proxy_url: http://" + proxy.address() +
                 "\n    proxy_connect_header: {X-Proxy-Token: [abc]}\n");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  HttpFetcher f("https://scrape.test:9443/metrics", 0, job->http_client);
  auto r = f.Fetch(2000ms);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(proxy.count(), 1u);
  EXPECT_EQ(proxy.seen()[0].line, "CONNECT scrape.test:9443 HTTP/1.1");
  EXPECT_EQ(proxy.seen()[0].Header("X-Proxy-Token"), "abc");
}

TEST(ScrapeRedirectTest, FollowedByDefaultNotWhenTurnedOff) {
  MiniServer target([](const SeenRequest& r) {
    if (r.line.rfind("GET /real ", 0) == 0) return MiniServer::Response(200, "OK", "m 1\n");
    if (r.line.rfind("GET /loop ", 0) == 0) {
      return MiniServer::Response(302, "Found", "", "Location: /loop\r\n");
    }
    return MiniServer::Response(302, "Found", "", "Location: /real\r\n");
  });
  auto follow = Job("");
  ASSERT_TRUE(follow.ok());
  EXPECT_TRUE(follow->http_client.follow_redirects);
  HttpFetcher f("http://" + target.address() + "/metrics", 0, follow->http_client);
  auto r = f.Fetch(2000ms);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "m 1\n");

  auto no = Job("    follow_redirects: false\n");
  ASSERT_TRUE(no.ok());
  HttpFetcher nf("http://" + target.address() + "/metrics", 0, no->http_client);
  r = nf.Fetch(2000ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "server returned HTTP status 302 Found");

  HttpFetcher lf("http://" + target.address() + "/loop", 0, follow->http_client);
  r = lf.Fetch(5000ms);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("stopped after 10 redirects"), std::string::npos)
      << r.status().message();
}

// What we accept is what Prometheus 2.42 accepts, field by field; promtool
// says so when installed (the expectations hold without it too).
struct ConfigCase {
  std::string job_yaml;  // lines under "- job_name: a"
  bool valid;
  std::string message;  // ours, after "f.yaml:<line>: " ("" : not checked)
};

TEST(ScrapeConfigCompatTest, AcceptsExactlyWhatPromtoolAccepts) {
  const std::vector<ConfigCase> cases = {
      {"    oauth2: {client_id: a, client_secret: b, scopes: [x], token_url: 'http://t/t', "
       "endpoint_params: {k: v}, tls_config: {insecure_skip_verify: true}, proxy_url: "
       "'http://p:1'}\n",
       true, ""},
      {"    oauth2: {client_id: a, client_secret_file: s, token_url: 'http://t/t'}\n", true, ""},
      {"    oauth2: {client_id: a, client_secret: b, client_secret_file: s, token_url: "
       "'http://t/t'}\n",
       false, "at most one of oauth2 client_secret & client_secret_file must be configured"},
      {"    oauth2: {client_id: a, client_secret: b}\n", false,
       "oauth2 token_url must be configured"},
      {"    oauth2: {client_secret: b, token_url: 'http://t/t'}\n", false,
       "oauth2 client_id must be configured"},
      {"    oauth2: {client_id: a, token_url: 'http://t/t'}\n", false,
       "either oauth2 client_secret or client_secret_file must be configured"},
      {"    oauth2: {client_id: a, client_secret: b, token_url: 'http://t/t'}\n"
       "    basic_auth: {username: u}\n",
       false, "at most one of basic_auth, oauth2 & authorization must be configured"},
      {"    oauth2: {client_id: a, client_secret: b, token_url: 'http://t/t'}\n"
       "    authorization: {credentials: c}\n",
       false, "at most one of basic_auth, oauth2 & authorization must be configured"},
      {"    oauth2: {client_id: a, client_secret: b, token_url: 'http://t/t'}\n"
       "    bearer_token: c\n",
       false,
       "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"},
      {"    oauth2: {client_id: a, client_secret: b, token_url: 'http://t/t', x: 1}\n", false,
       "field x not found in type config.OAuth2"},
      {"    oauth2: {client_id: a, client_secret: b, token_url: 'http://t/t', no_proxy: x}\n",
       false, "field no_proxy not found in type config.OAuth2"},
      {"    proxy_url: http://p:3128\n", true, ""},
      {"    proxy_url: ':bad'\n", false, "parse \":bad\": missing protocol scheme"},
      {"    proxy_url: http://p:3128\n    proxy_connect_header: {X-A: [b, c]}\n", true, ""},
      {"    proxy_connect_header: {X-A: [b]}\n", false,
       "if proxy_connect_header is configured proxy_url must also be configured"},
      // Fields of later Prometheus versions: not in 2.42.
      {"    no_proxy: localhost\n", false, "field no_proxy not found in type config.ScrapeConfig"},
      {"    proxy_from_environment: true\n", false,
       "field proxy_from_environment not found in type config.ScrapeConfig"},
      {"    native_histogram_bucket_limit: 1\n", false, ""},
      {"    scrape_classic_histograms: true\n", false, ""},
      {"    follow_redirects: false\n    enable_http2: false\n", true, ""},
      {"    follow_redirects: 1\n", false, ""},
      {"    tls_config: {min_version: TLS12, max_version: TLS13}\n", true, ""},
      {"    tls_config: {min_version: TLS14}\n", false, "unknown TLS version: TLS14"},
      {"    tls_config: {ca: x}\n", false, "field ca not found in type config.plain"},
      {"    basic_auth: {username: u, x: 1}\n", false, "field x not found in type config.plain"},
      {"    authorization: {credentials: u, x: 1}\n", false,
       "field x not found in type config.Authorization"},
      {"    bogus: 1\n", false, "field bogus not found in type config.ScrapeConfig"},
      {"    relabel_configs: [{action: keep, x: 1}]\n", false,
       "field x not found in type relabel.plain"},
      {"    file_sd_configs: [{files: [a.json], x: 1}]\n", false,
       "field x not found in type file.plain"},
  };
  std::string promtool;
  if (std::string prom = th::PrometheusBinary(); !prom.empty()) {
    promtool = prom.substr(0, prom.rfind('/') + 1) + "promtool";
    if (::access(promtool.c_str(), X_OK) != 0) promtool.clear();
  }
  if (promtool.empty()) std::fprintf(stderr, "promtool not installed: checking ours only\n");
  th::TempDir dir;
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.job_yaml);
    const std::string yaml = "scrape_configs:\n  - job_name: a\n" + c.job_yaml +
                             "    static_configs: [{targets: [\"x:1\"]}]\n";
    auto ours = ParseScrapeConfig(yaml, "f.yaml");
    EXPECT_EQ(ours.ok(), c.valid) << (ours.ok() ? "accepted" : ours.status().message());
    if (!ours.ok() && !c.message.empty()) {
      const std::string& m = ours.status().message();
      EXPECT_NE(m.find(": " + c.message), std::string::npos) << m;
    }
    if (!promtool.empty()) {
      th::WriteFile(dir.Join("p.yml"), yaml);
      std::string cmd = promtool + " check config " + dir.Join("p.yml") + " 2>&1";
      std::string out;
      FILE* p = ::popen(cmd.c_str(), "r");
      ASSERT_NE(p, nullptr);
      char buf[512];
      while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
      bool promtool_ok = ::pclose(p) == 0;
      EXPECT_EQ(promtool_ok, c.valid) << out;
      if (!c.message.empty() && !promtool_ok) {
        EXPECT_NE(out.find(c.message), std::string::npos) << out;
      }
    }
  }
  // global: what 2.42 has is accepted; later versions' limits are not.
  EXPECT_TRUE(
      ParseScrapeConfig("global: {query_log_file: q.log, evaluation_interval: 1m}\n", "f.yaml")
          .ok());
  auto g = ParseScrapeConfig("global: {sample_limit: 1}\n", "f.yaml");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), "f.yaml:1: field sample_limit not found in type config.plain");
  // promtool 2.42's words for an unknown key of a static config.
  auto st = ParseScrapeConfig(
      "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [a:1], x: 1}]\n", "f.yaml");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().message(),
            "f.yaml:3: field x not found in type struct { Targets []string "
            "\"yaml:\\\"targets\\\"\"; Labels model.LabelSet \"yaml:\\\"labels\\\"\" }");
  // Service discoveries Sightline does not have are refused by name.
  auto sd =
      ParseScrapeConfig("scrape_configs:\n  - job_name: a\n    dns_sd_configs: []\n", "f.yaml");
  ASSERT_FALSE(sd.ok());
  EXPECT_EQ(sd.status().message(),
            "f.yaml:3: dns_sd_configs is not supported by Sightline (static_configs and "
            "file_sd_configs are)");
  // Secrets stay out of /config.
  std::string red = RedactedScrapeConfigsYaml(
      "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: a, client_secret: hush, "
      "token_url: 'http://t'}\n    proxy_url: http://p:1\n    proxy_connect_header: {X: "
      "[hush2]}\n");
  EXPECT_EQ(red.find("hush"), std::string::npos) << red;
}

// A target exposing `body`, counting scrapes.
struct PlainTarget {
  explicit PlainTarget(std::string body)
      : server([b = std::move(body)](const SeenRequest&) {
          return MiniServer::Response(200, "OK", b);
        }) {}
  MiniServer server;
};

// Samples of series `name` with instance `inst`.
std::vector<metrics::testing::RecordedSample> SamplesOf(const FakeAppendable& db,
                                                        const std::string& name,
                                                        const std::string& inst) {
  std::vector<metrics::testing::RecordedSample> out;
  for (const auto& s : db.samples()) {
    if (s.labels.Get("__name__") == name && s.labels.Get("instance") == inst) out.push_back(s);
  }
  return out;
}

// Prometheus's reload: a job whose settings change keeps scraping the
// targets that stay, on the same schedule, without staleness markers for
// the series that continue; a target gone from the job, and a series the
// new settings no longer store, get staleness markers.
TEST(ScrapeReloadTest, ChangedJobKeepsContinuingSeriesWithoutGapOrStaleMarker) {
  PlainTarget t1("m 1\nold 2\n"), t2("m 1\n");
  const std::string a1 = t1.server.address(), a2 = t2.server.address();
  auto yaml = [&](const std::string& targets, const std::string& extra) {
    return "global: {scrape_interval: 1s, scrape_timeout: 500ms}\nscrape_configs:\n"
           "  - job_name: a\n    static_configs: [{targets: [" +
           targets + "]}]\n" + extra;
  };
  auto cfg = ParseScrapeConfig(yaml("\"" + a1 + "\", \"" + a2 + "\"", ""), "f.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  FakeAppendable db;
  auto mgr = ScrapeManager::Start(&db, *cfg);
  ASSERT_TRUE(mgr.ok());
  for (int i = 0; i < 60 && SamplesOf(db, "m", a1).size() < 3; ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_GE(SamplesOf(db, "m", a1).size(), 3u);

  // Settings changed (sample_limit, and metric relabeling that drops `old`),
  // t2 removed.
  auto next = ParseScrapeConfig(
      yaml("\"" + a1 + "\"",
           "    sample_limit: 100\n    metric_relabel_configs: [{source_labels: [__name__], "
           "regex: old, action: drop}]\n"),
      "f.yaml");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  const size_t before = SamplesOf(db, "m", a1).size();
  ASSERT_TRUE((*mgr)->ApplyConfig(*next).ok());
  // The removed target's series are stale at once.
  auto t2m = SamplesOf(db, "m", a2);
  ASSERT_FALSE(t2m.empty());
  EXPECT_TRUE(IsStaleNaN(t2m.back().v));
  for (int i = 0; i < 60 && SamplesOf(db, "m", a1).size() < before + 3; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  auto m = SamplesOf(db, "m", a1);
  auto up = SamplesOf(db, "up", a1);
  auto old = SamplesOf(db, "old", a1);
  (*mgr)->Stop();
  ASSERT_GE(m.size(), before + 3);
  // m and up: one sample per second across the reload, none stale. (A
  // missed interval is a gap of ~2 s; a restart scraping at once, ~0 s; the
  // bounds leave room for a loaded machine.)
  for (const auto* series : {&m, &up}) {
    for (size_t i = 0; i < series->size(); ++i) {
      EXPECT_FALSE(IsStaleNaN((*series)[i].v)) << "sample " << i;
      if (i > 0) {
        int64_t gap = (*series)[i].t - (*series)[i - 1].t;
        EXPECT_GE(gap, 500) << "sample " << i;
        EXPECT_LE(gap, 1500) << "sample " << i;
      }
    }
  }
  // `old` is no longer stored: marked stale by the first scrape after the
  // reload, and nothing after that.
  ASSERT_GE(old.size(), 2u);
  EXPECT_TRUE(IsStaleNaN(old.back().v));
  for (size_t i = 0; i + 1 < old.size(); ++i) EXPECT_FALSE(IsStaleNaN(old[i].v));
}

}  // namespace
}  // namespace sightline::metrics::scrape
