// /loki/api/v1/tail with a real WebSocket client (npm `ws` under node,
// tests/net/ws_client.js) against the distributor, TailHub, store and tail
// route behind a real HTTP server on port 0, the way logcli and Grafana's
// Live tailing use it: Loki's frame shape, history then live entries within
// a second of the push, delay_for ordering, a filter/parser/line_format
// pipeline, categorize-labels, the per-tenant concurrent-tail limit with
// Loki's message, tenant isolation, tail_max_duration, and the server
// noticing clients that leave.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <thread>

#include "harness/harness.h"
#include "logs/api/loki_api.h"
#include "logs/api/tail.h"
#include "logs/ingest/distributor.h"
#include "logs/ingest/tail_hub.h"
#include "logs/logql/engine.h"
#include "logs/store/log_store.h"
#include "net/http_server.h"
#include "net/ws_node_client.h"
#include "telemetry/metrics.h"

namespace sightline::logs {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;
using th::WsEvent;
using th::WsNodeClient;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Enc(const std::string& s) { return net::PercentEncode(s); }

struct Options {
  bool multitenancy = false;
  int max_tails = 10;
  std::chrono::milliseconds tail_max_duration{std::chrono::hours(1)};
};

class TailServer {
 public:
  explicit TailServer(Options o = {}) {
    store::LogStoreOptions so;
    so.data_dir = dir_.path();
    so.background = false;
    store_ = std::move(store::LogStore::Open(so)).value();
    hub_ = std::make_unique<ingest::TailHub>(store_.get());
    ingest::DistributorOptions d;
    d.registry = &registry_;
    d.multitenancy = o.multitenancy;
    dist_ = std::make_unique<ingest::Distributor>(hub_.get(), d);
    ingest::RegisterDistributorRoutes(router_, dist_.get(), nullptr);
    store::LogStore* s = store_.get();
    auto queriers = [s](std::string_view t) { return s->Querier(t); };
    api::RegisterLokiApi(router_, queriers, &engine_, {});
    api::TailOptions to;
    int max = o.max_tails;
    to.max_concurrent_tail_requests = [max](std::string_view) { return max; };
    to.tail_max_duration = o.tail_max_duration;
    api::RegisterTailRoute(router_, hub_.get(), queriers, &engine_, to);
    net::HttpServerOptions ho;
    ho.listen = "127.0.0.1:0";
    ho.io_threads = 1;
    ho.worker_threads = 4;
    ho.multitenancy = o.multitenancy;
    server_ = std::move(net::HttpServer::Start(ho, &router_, &registry_)).value();
    url_ = "http://" + server_->bound_address();
    ws_url_ = "ws://" + server_->bound_address();
  }
  ~TailServer() { server_->Stop(std::chrono::milliseconds(100)); }

  // Pushes one stream with (ts, line) entries; returns the HTTP status.
  long Push(const std::string& labels_json, const std::vector<std::pair<int64_t, std::string>>& es,
            const std::string& tenant = "") {
    std::string body = "{\"streams\":[{\"stream\":" + labels_json + ",\"values\":[";
    for (size_t i = 0; i < es.size(); ++i) {
      if (i) body += ",";
      body += "[\"" + std::to_string(es[i].first) + "\",\"" + es[i].second + "\"]";
    }
    body += "]}]}";
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!tenant.empty()) headers.push_back("X-Scope-OrgID: " + tenant);
    return th::HttpPost(url_ + "/loki/api/v1/push", body, headers).status;
  }

  std::unique_ptr<WsNodeClient> Tail(const std::string& params, std::vector<std::string> args = {}) {
    auto c = WsNodeClient::Start(ws_url_ + "/loki/api/v1/tail?" + params, args);
    EXPECT_NE(c, nullptr);
    return c;
  }

  ingest::TailHub& hub() { return *hub_; }
  const std::string& url() const { return url_; }

 private:
  th::TempDir dir_;
  telemetry::Registry registry_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ingest::TailHub> hub_;
  std::unique_ptr<ingest::Distributor> dist_;
  logql::Engine engine_;
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
  std::string url_, ws_url_;
};

// One entry of a frame, flattened.
struct TailEntry {
  std::string labels;  // minified JSON object
  int64_t ts = 0;
  std::string line;
  std::string meta;  // minified 3rd element, if any
  int64_t frame_ms = 0;
};

struct ParsedFrame {
  std::vector<TailEntry> entries;
  std::vector<std::pair<int64_t, std::string>> dropped;
  std::vector<std::string> keys;  // top-level keys in order
  bool categorize_flag = false;
};

ParsedFrame ParseFrame(const WsEvent& e) {
  ParsedFrame f;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  EXPECT_FALSE(p.parse(e.data).get(doc)) << e.data;
  simdjson::dom::object obj;
  EXPECT_FALSE(doc.get(obj)) << e.data;
  for (auto field : obj) f.keys.emplace_back(field.key);
  simdjson::dom::array streams;
  if (!doc["streams"].get(streams)) {
    for (auto s : streams) {
      simdjson::dom::array values;
      EXPECT_FALSE(s["values"].get(values));
      EXPECT_EQ(values.size(), 1u) << "one stream object per entry, as Loki sends them";
      for (auto v : values) {
        TailEntry t;
        t.labels = simdjson::minify(s["stream"]);
        std::string_view ts, line;
        EXPECT_FALSE(v.at(0).get(ts));
        EXPECT_FALSE(v.at(1).get(line));
        EXPECT_EQ(ts.size(), 19u) << ts;
        t.ts = std::stoll(std::string(ts));
        t.line = std::string(line);
        if (v.get_array().value_unsafe().size() > 2) t.meta = simdjson::minify(v.at(2));
        t.frame_ms = e.ms;
        f.entries.push_back(std::move(t));
      }
    }
  }
  simdjson::dom::array dropped;
  if (!doc["dropped_entries"].get(dropped)) {
    for (auto d : dropped) {
      std::string_view ts;
      EXPECT_FALSE(d["timestamp"].get(ts));
      f.dropped.emplace_back(std::stoll(std::string(ts)), simdjson::minify(d["labels"]));
    }
  }
  simdjson::dom::array flags;
  if (!doc["encodingFlags"].get(flags)) {
    for (auto fl : flags) {
      std::string_view v;
      if (!fl.get(v) && v == "categorize-labels") f.categorize_flag = true;
    }
  }
  return f;
}

std::vector<TailEntry> AllEntries(const WsNodeClient& c) {
  std::vector<TailEntry> out;
  for (const auto& e : c.Events()) {
    if (e.event != "message") continue;
    auto f = ParseFrame(e);
    out.insert(out.end(), f.entries.begin(), f.entries.end());
  }
  return out;
}

bool WaitForEntries(const WsNodeClient& c, size_t n, std::chrono::milliseconds timeout) {
  return c.WaitFor(
      [&](const std::vector<WsEvent>&) { return AllEntries(c).size() >= n; }, timeout);
}

class LogsTail : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = WsNodeClient::MissingReason();
    if (!missing.empty()) GTEST_SKIP() << missing;
  }
};

TEST_F(LogsTail, HistoryThenLiveEntriesInLokiFrames) {
  TailServer s;
  int64_t t0 = NowNs() - 10'000'000'000;  // 10 s ago
  ASSERT_EQ(s.Push(R"({"app":"t","env":"a"})",
                   {{t0, "old 1"}, {t0 + 1000, "old 2"}, {t0 + 2000, "old 3"}}),
            204);
  auto c = s.Tail("limit=2&start=" + std::to_string(t0 - 1000) + "&query=" + Enc(R"({app="t"})"),
                  {"--timeout-ms", "15000"});
  ASSERT_TRUE(WaitForEntries(*c, 2, 10s)) << c->Output();
  auto got = AllEntries(*c);
  ASSERT_EQ(got.size(), 2u) << c->Output();
  // The last `limit` entries of the history, oldest first.
  EXPECT_EQ(got[0].line, "old 2");
  EXPECT_EQ(got[1].line, "old 3");
  EXPECT_EQ(got[0].ts, t0 + 1000);
  EXPECT_EQ(got[0].labels, R"({"app":"t","env":"a"})");
  // The frame has Loki's keys only: no dropped_entries when none were dropped.
  for (const auto& e : c->Events()) {
    if (e.event == "message") {
      EXPECT_EQ(ParseFrame(e).keys, std::vector<std::string>{"streams"});
    }
  }

  // Live: an entry pushed now arrives within a second of the push.
  auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(s.Push(R"({"app":"t","env":"a"})", {{NowNs(), "live 1"}}), 204);
  ASSERT_TRUE(WaitForEntries(*c, 3, 5s)) << c->Output();
  auto latency = std::chrono::steady_clock::now() - before;
  EXPECT_LT(latency, 1s);
  got = AllEntries(*c);
  EXPECT_EQ(got[2].line, "live 1");
  // Other streams' pushes do not show up.
  ASSERT_EQ(s.Push(R"({"app":"other"})", {{NowNs(), "not mine"}}), 204);
  ASSERT_EQ(s.Push(R"({"app":"t","env":"b"})", {{NowNs(), "live 2"}}), 204);
  ASSERT_TRUE(WaitForEntries(*c, 4, 5s)) << c->Output();
  got = AllEntries(*c);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].line, "live 2");
  EXPECT_EQ(got[3].labels, R"({"app":"t","env":"b"})");
}

TEST_F(LogsTail, PipelineFiltersParsesAndFormats) {
  TailServer s;
  std::string q = R"q({app="p"} |= "error" | logfmt | level="error" | line_format "{{.msg}} ({{.code}})")q";
  auto c = s.Tail("query=" + Enc(q), {"--timeout-ms", "15000"});
  ASSERT_EQ(c->WaitForEvent("open", 10s).event, "open") << c->Output();
  int64_t t = NowNs();
  ASSERT_EQ(s.Push(R"({"app":"p"})", {{t, "level=info msg=fine code=200"},
                                      {t + 1, "level=error msg=boom code=500"},
                                      {t + 2, "level=warn msg=error-ish code=429"},
                                      {t + 3, "level=error msg=again code=503"}}),
            204);
  ASSERT_TRUE(WaitForEntries(*c, 2, 5s)) << c->Output();
  std::this_thread::sleep_for(300ms);
  auto got = AllEntries(*c);
  ASSERT_EQ(got.size(), 2u) << c->Output();
  EXPECT_EQ(got[0].line, "boom (500)");
  EXPECT_EQ(got[1].line, "again (503)");
  // Parsed labels are part of the stream labels (no categorize-labels).
  EXPECT_EQ(got[0].labels, R"({"app":"p","code":"500","level":"error","msg":"boom"})");
}

// A push the store refused in part (400: an entry too far behind) still
// reaches tailers with exactly the entries it kept; a pipeline of line
// filters only reports the stream's labels (LogPipeline, engine.cc).
TEST_F(LogsTail, PartlyRefusedPushReachesTailersWithTheKeptEntries) {
  TailServer s;
  int64_t t = NowNs();
  ASSERT_EQ(s.Push(R"({"app":"r"})", {{t, "first"}}), 204);
  auto c = s.Tail("query=" + Enc(R"({app="r"} |= "kept" or "behind")"),
                  {"--timeout-ms", "15000"});
  ASSERT_EQ(c->WaitForEvent("open", 10s).event, "open") << c->Output();
  std::this_thread::sleep_for(200ms);
  // Two hours behind the stream's newest entry: refused (window 1h).
  int64_t behind = t - 2 * 3600 * 1'000'000'000ll;
  ASSERT_EQ(s.Push(R"({"app":"r"})", {{behind, "behind"}, {t + 1, "kept 1"}, {t + 2, "kept 2"}}),
            400);
  ASSERT_TRUE(WaitForEntries(*c, 2, 5s)) << c->Output();
  std::this_thread::sleep_for(300ms);
  auto got = AllEntries(*c);
  ASSERT_EQ(got.size(), 2u) << c->Output();
  EXPECT_EQ(got[0].line, "kept 1");
  EXPECT_EQ(got[1].line, "kept 2");
  EXPECT_EQ(got[0].labels, R"({"app":"r"})");
  EXPECT_EQ(s.hub().unpublished_pushes(), 0u);
}

TEST_F(LogsTail, CategorizeLabelsSeparatesParsedLabels) {
  TailServer s;
  auto c = s.Tail("query=" + Enc(R"({app="c"} | logfmt)"),
                  {"--timeout-ms", "15000", "--header",
                   "X-Loki-Response-Encoding-Flags: categorize-labels"});
  ASSERT_EQ(c->WaitForEvent("open", 10s).event, "open") << c->Output();
  ASSERT_EQ(s.Push(R"({"app":"c"})", {{NowNs(), "level=warn user=u1"}}), 204);
  ASSERT_TRUE(WaitForEntries(*c, 1, 5s)) << c->Output();
  for (const auto& e : c->Events()) {
    if (e.event != "message") continue;
    auto f = ParseFrame(e);
    EXPECT_TRUE(f.categorize_flag) << e.data;
    ASSERT_EQ(f.entries.size(), 1u);
    EXPECT_EQ(f.entries[0].labels, R"({"app":"c"})");
    EXPECT_EQ(f.entries[0].meta, R"({"parsed":{"level":"warn","user":"u1"}})");
  }
}

TEST_F(LogsTail, DelayForHoldsEntriesAndSortsThem) {
  TailServer s;
  auto c = s.Tail("delay_for=2&query=" + Enc(R"({app="d"})"), {"--timeout-ms", "15000"});
  ASSERT_EQ(c->WaitForEvent("open", 10s).event, "open") << c->Output();
  int64_t t = NowNs();
  auto pushed = std::chrono::steady_clock::now();
  // Out of order across two streams, within the delay.
  ASSERT_EQ(s.Push(R"({"app":"d","s":"1"})", {{t, "second"}}), 204);
  ASSERT_EQ(s.Push(R"({"app":"d","s":"2"})", {{t - 500'000'000, "first"}}), 204);
  ASSERT_TRUE(WaitForEntries(*c, 2, 8s)) << c->Output();
  auto waited = std::chrono::steady_clock::now() - pushed;
  EXPECT_GE(waited, 1400ms);  // "first" is held until it is 2 s old
  auto got = AllEntries(*c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].line, "first");
  EXPECT_EQ(got[1].line, "second");
}

TEST_F(LogsTail, BadParametersAreHttp400BeforeTheUpgrade) {
  TailServer s;
  struct Case {
    std::string params, want;
  } cases[] = {
      {"delay_for=6&query=" + Enc(R"({a="b"})"), "delay_for can't be greater than 5"},
      {"delay_for=x&query=" + Enc(R"({a="b"})"), "strconv.Atoi: parsing \"x\": invalid syntax"},
      {"limit=-1&query=" + Enc(R"({a="b"})"), "limit must be a positive value"},
      {"query=" + Enc(R"({a="b"} |= )"), "parse error"},
      {"query=" + Enc(R"(rate({a="b"}[1m]))"), "log query"},
  };
  for (const auto& tc : cases) {
    auto c = s.Tail(tc.params);
    WsEvent r = c->WaitForEvent("unexpected-response", 10s);
    ASSERT_EQ(r.event, "unexpected-response") << tc.params << "\n" << c->Output();
    EXPECT_EQ(r.code, 400) << tc.params;
    EXPECT_NE(r.data.find(tc.want), std::string::npos) << tc.params << ": " << r.data;
  }
}

TEST_F(LogsTail, ConcurrentTailLimitPerTenantWithLokisMessage) {
  TailServer s(Options{.multitenancy = true, .max_tails = 2});
  std::string q = "query=" + Enc(R"({app="l"})");
  auto a = s.Tail(q, {"--header", "X-Scope-OrgID: t1", "--timeout-ms", "20000"});
  auto b = s.Tail(q, {"--header", "X-Scope-OrgID: t1", "--timeout-ms", "20000"});
  ASSERT_EQ(a->WaitForEvent("open", 10s).event, "open");
  ASSERT_EQ(b->WaitForEvent("open", 10s).event, "open");
  ASSERT_TRUE(a->WaitFor([&](auto&) { return s.hub().Subscribers("t1") == 2; }, 5s));
  auto c = s.Tail(q, {"--header", "X-Scope-OrgID: t1"});
  WsEvent close = c->WaitForEvent("close", 10s);
  ASSERT_EQ(close.event, "close") << c->Output();
  EXPECT_EQ(close.code, 1011);
  EXPECT_EQ(close.data, "max concurrent tail requests limit exceeded, count > limit (3 > 2)");
  // Another tenant has its own budget.
  auto other = s.Tail(q, {"--header", "X-Scope-OrgID: t2", "--timeout-ms", "20000"});
  ASSERT_EQ(other->WaitForEvent("open", 10s).event, "open");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(other->WaitForEvent("close", 0ms).event, "");
  // Tenants do not see each other's entries.
  ASSERT_EQ(s.Push(R"({"app":"l"})", {{NowNs(), "for t1"}}, "t1"), 204);
  ASSERT_EQ(s.Push(R"({"app":"l"})", {{NowNs(), "for t2"}}, "t2"), 204);
  ASSERT_TRUE(WaitForEntries(*a, 1, 5s));
  ASSERT_TRUE(WaitForEntries(*other, 1, 5s));
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(AllEntries(*a).size(), 1u);
  EXPECT_EQ(AllEntries(*a)[0].line, "for t1");
  ASSERT_EQ(AllEntries(*other).size(), 1u);
  EXPECT_EQ(AllEntries(*other)[0].line, "for t2");
}

TEST_F(LogsTail, ClientsThatLeaveAreNoticed) {
  TailServer s;
  std::string q = "query=" + Enc(R"({app="x"})");
  auto subscribers = [&] { return s.hub().Subscribers("anonymous"); };
  // A client whose TCP connection just goes away (no close frame).
  auto gone = s.Tail(q, {"--terminate-after-ms", "1500", "--timeout-ms", "20000"});
  ASSERT_TRUE(gone->WaitFor([&](auto&) { return subscribers() == 1; }, 15s)) << gone->Output();
  ASSERT_TRUE(gone->WaitForEvent("terminated", 15s).event == "terminated") << gone->Output();
  EXPECT_TRUE(gone->WaitFor([&](auto&) { return subscribers() == 0; }, 3s)) << subscribers();
  // A client that closes properly gets its close answered.
  auto closer = s.Tail(q, {"--close-after-ms", "1500", "--timeout-ms", "20000"});
  ASSERT_TRUE(closer->WaitFor([&](auto&) { return subscribers() == 1; }, 15s)) << closer->Output();
  EXPECT_EQ(closer->WaitForEvent("close", 15s).code, 1000) << closer->Output();
  EXPECT_TRUE(closer->WaitFor([&](auto&) { return subscribers() == 0; }, 3s)) << subscribers();
  // Pushes go on working with nobody tailing.
  EXPECT_EQ(s.Push(R"({"app":"x"})", {{NowNs(), "after"}}), 204);
}

TEST_F(LogsTail, TailMaxDurationClosesWithLokisMessage) {
  TailServer s(Options{.tail_max_duration = 700ms});
  auto c = s.Tail("query=" + Enc(R"({app="m"})"), {"--timeout-ms", "10000"});
  WsEvent close = c->WaitForEvent("close", 8s);
  ASSERT_EQ(close.event, "close") << c->Output();
  EXPECT_EQ(close.code, 1011);
  EXPECT_EQ(close.data, "reached tail max duration limit");
}

}  // namespace
}  // namespace sightline::logs
