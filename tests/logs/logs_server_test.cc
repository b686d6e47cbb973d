// The logs signal in the real sightline binary: Loki push (JSON, gzip,
// snappy protobuf), OTLP logs over HTTP, read back through the Loki query
// API with Loki's response shapes; Grafana's Loki calls
// (../shared/grafana-contract.md); kill -9 during ingest loses nothing
// acknowledged; the object store (s3rver) down for a while loses nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <chrono>
#include <thread>

#include "base/compression.h"
#include "harness/harness.h"
#include "loki/push.pb.h"
#include "net/ws_node_client.h"

namespace sightline::logs {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Enc(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char b[4];
      snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

std::string PushJson(const std::string& labels_json, int64_t ts, const std::string& line,
                     const std::string& md_json = "") {
  return R"({"streams":[{"stream":)" + labels_json + R"(,"values":[[")" + std::to_string(ts) +
         R"(",")" + line + "\"" + (md_json.empty() ? "" : "," + md_json) + "]]}]}";
}

class LogsServer : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}, const std::string& data_dir = "") {
    auto s = th::SightlineServer::Start(args, data_dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    url_ = server_->http_url();
  }
  th::HttpResponse Get(const std::string& path, std::vector<std::string> headers = {}) {
    return th::HttpGet(url_ + path, headers);
  }
  simdjson::dom::element Json(const th::HttpResponse& r) {
    auto doc = parser_.parse(r.body);
    EXPECT_FALSE(doc.error()) << r.body;
    return doc.value_unsafe();
  }
  std::vector<std::string> Lines(const std::string& query, int64_t start, int64_t end,
                                 const std::string& extra = "") {
    auto r = Get("/loki/api/v1/query_range?query=" + Enc(query) + "&start=" +
                 std::to_string(start) + "&end=" + std::to_string(end) + "&limit=5000" + extra);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    simdjson::dom::parser p;
    auto doc = p.parse(r.body);
    if (doc.error()) return out;
    simdjson::dom::array arr_1 = doc["data"]["result"].get_array().value_unsafe();
    for (auto st : arr_1) {
      simdjson::dom::array arr_2 = st["values"].get_array().value_unsafe();
      for (auto v : arr_2) {
        out.emplace_back(std::string_view(v.at(1).get_string().value_unsafe()));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::unique_ptr<th::SightlineServer> server_;
  std::string url_;
  simdjson::dom::parser parser_;
};

TEST_F(LogsServer, PushAllFormatsAndQueryBack) {
  StartServer();
  int64_t t = NowNs();
  // JSON, gzip-compressed, with structured metadata.
  std::string body = PushJson(R"({"app":"api","env":"prod"})", t,
                              R"(level=error msg=\"boom\" trace_id=5b8efff798038103d269b633813fc60c)",
                              R"({"user":"u1"})");
  auto gz = Compress(Codec::kGzip, body);
  ASSERT_TRUE(gz.ok());
  auto r = th::HttpPost(url_ + "/loki/api/v1/push", *gz,
                        {"Content-Type: application/json", "Content-Encoding: gzip"});
  ASSERT_EQ(r.status, 204) << r.body;
  // Snappy protobuf.
  logproto::PushRequest req;
  auto* st = req.add_streams();
  st->set_labels(R"({app="web", env="prod"})");
  auto* e = st->add_entries();
  e->mutable_timestamp()->set_seconds((t + 1) / 1'000'000'000);
  e->mutable_timestamp()->set_nanos(static_cast<int>((t + 1) % 1'000'000'000));
  e->set_line(R"({"level":"info","msg":"served","status":200,"duration":"15ms"})");
  auto sn = Compress(Codec::kSnappy, req.SerializeAsString());
  r = th::HttpPost(url_ + "/loki/api/v1/push", *sn, {"Content-Type: application/x-protobuf"});
  ASSERT_EQ(r.status, 204) << r.body;
  // OTLP/JSON.
  r = th::HttpPost(url_ + "/v1/logs",
                   R"({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":)"
                   R"({"stringValue":"checkout"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":")" +
                       std::to_string(t + 2) +
                       R"(","body":{"stringValue":"paid"},"severityText":"WARN"}]}]}]})",
                   {"Content-Type: application/json"});
  ASSERT_EQ(r.status, 200) << r.body;
  // A partly invalid push: 400, the valid entry is kept.
  r = th::HttpPost(url_ + "/loki/api/v1/push",
                   R"({"streams":[{"stream":{"app":"api","env":"prod"},"values":[[")" +
                       std::to_string(t + 3) + R"(","kept"],["1000000000000000000","ancient"]]}]})",
                   {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("timestamp too old"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("total ignored: 1 out of 2"), std::string::npos) << r.body;

  int64_t s0 = t - 60'000'000'000, e0 = t + 60'000'000'000;
  EXPECT_EQ(Lines(R"({env="prod"})", s0, e0).size(), 3u);
  EXPECT_EQ(Lines(R"({app="api"} |= "kept")", s0, e0), (std::vector<std::string>{"kept"}));
  EXPECT_EQ(Lines(R"({service_name="checkout"})", s0, e0), (std::vector<std::string>{"paid"}));
  EXPECT_EQ(Lines(R"({app="web"} | json | status=200)", s0, e0).size(), 1u);

  // Shape: 19-digit ns strings, stats, default (non-categorized) labels include metadata.
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"({app="api"} |= "boom")") +
          "&start=" + std::to_string(s0) + "&end=" + std::to_string(e0));
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = Json(r);
  EXPECT_EQ(std::string_view(doc["status"].get_string().value_unsafe()), "success");
  EXPECT_EQ(std::string_view(doc["data"]["resultType"].get_string().value_unsafe()), "streams");
  auto first = doc["data"]["result"].at(0);
  std::string_view ts = first["values"].at(0).at(0).get_string().value_unsafe();
  EXPECT_EQ(ts.size(), 19u);
  EXPECT_EQ(std::string_view(first["stream"]["user"].get_string().value_unsafe()), "u1");
  EXPECT_FALSE(doc["data"]["stats"]["summary"].error());

  // categorize-labels: metadata in the third element.
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"({app="api"} |= "boom")") + "&start=" +
              std::to_string(s0) + "&end=" + std::to_string(e0),
          {"X-Loki-Response-Encoding-Flags: categorize-labels"});
  ASSERT_EQ(r.status, 200) << r.body;
  doc = Json(r);
  EXPECT_EQ(std::string_view(doc["data"]["encodingFlags"].at(0).get_string().value_unsafe()),
            "categorize-labels");
  auto third = doc["data"]["result"].at(0)["values"].at(0).at(2);
  EXPECT_EQ(std::string_view(third["structuredMetadata"]["user"].get_string().value_unsafe()), "u1");

  // Trace-id lookup.
  EXPECT_EQ(Lines(R"({env="prod"} |= "5b8efff798038103d269b633813fc60c")", s0, e0).size(), 1u);

  // Metric query (range) → matrix.
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"(sum(count_over_time({env="prod"}[1m])))") +
          "&start=" + std::to_string(s0) + "&end=" + std::to_string(e0) + "&step=60s");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string_view(Json(r)["data"]["resultType"].get_string().value_unsafe()), "matrix");
}

TEST_F(LogsServer, GrafanaContractCalls) {
  StartServer();
  int64_t t = NowNs();
  auto r = th::HttpPost(url_ + "/loki/api/v1/push",
                        PushJson(R"({"app":"api","level":"info"})", t, "level=info msg=ok dur=5ms"),
                        {"Content-Type: application/json"});
  ASSERT_EQ(r.status, 204) << r.body;
  std::string range = "&start=" + std::to_string(t - 3'600'000'000'000) +
                      "&end=" + std::to_string(t + 60'000'000'000);
  // Health check.
  r = Get("/loki/api/v1/query?query=" + Enc("vector(1)+vector(1)") +
          "&direction=backward&time=4000000000",
          {"X-Query-Tags: Source=grafana"});
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = Json(r);
  EXPECT_EQ(std::string_view(doc["data"]["resultType"].get_string().value_unsafe()), "vector");
  auto v = doc["data"]["result"].at(0)["value"];
  // Loki reads a 10-digit time as seconds (longer: nanoseconds).
  EXPECT_EQ(v.at(0).get_int64().value_unsafe(), 4000000000);
  EXPECT_EQ(std::string_view(v.at(1).get_string().value_unsafe()), "2");
  // Logs volume query.
  r = Get("/loki/api/v1/query_range?query=" +
          Enc(R"(sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m])))") +
          range + "&step=60000ms");
  EXPECT_EQ(r.status, 200) << r.body;
  // Labels, values, series.
  r = Get("/loki/api/v1/labels?" + range.substr(1));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"app\""), std::string::npos);
  r = Get("/loki/api/v1/label/app/values?" + range.substr(1) + "&query=" + Enc(R"({level="info"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"status":"success","data":["api"]})");
  r = Get("/loki/api/v1/series?match[]=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"status":"success","data":[{"app":"api","level":"info"}]})");
  // index/stats: top-level object.
  r = Get("/loki/api/v1/index/stats?query=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  doc = Json(r);
  EXPECT_EQ(doc["streams"].get_int64().value_unsafe(), 1);
  EXPECT_EQ(doc["entries"].get_int64().value_unsafe(), 1);
  EXPECT_FALSE(doc["bytes"].error());
  EXPECT_FALSE(doc["chunks"].error());
  r = Get("/loki/api/v1/index/volume?query=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string_view(Json(r)["data"]["resultType"].get_string().value_unsafe()), "vector");
  r = Get("/loki/api/v1/detected_fields?query=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"label\":\"dur\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"type\":\"duration\""), std::string::npos) << r.body;
  r = Get("/loki/api/v1/detected_field/msg/values?query=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"values":["ok"]})");
  r = Get("/loki/api/v1/detected_labels?query=" + Enc(R"({app="api"})") + range);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("detectedLabels"), std::string::npos);
  r = Get("/loki/api/v1/format_query?query=" + Enc(R"({app="api"}|="x")"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"data\":"), std::string::npos);
  r = Get("/loki/api/v1/status/buildinfo");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string_view(Json(r)["version"].get_string().value_unsafe()).substr(0, 2), "3.");
  // Limits with Loki's errors.
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"({app="api"})") + range + "&limit=6000");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("max entries limit per query exceeded"), std::string::npos) << r.body;
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"({app="api"})") +
          "&start=0&end=" + std::to_string(t));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("the query time range exceeds the limit"), std::string::npos) << r.body;
  r = Get("/loki/api/v1/query_range?query=" + Enc(R"({app="api"} |= )") + range);
  EXPECT_EQ(r.status, 400);
  r = Get("/loki/api/v1/query?query=" + Enc(R"({app="api"})"));
  EXPECT_EQ(r.status, 400);
  // Self-metrics.
  r = Get("/metrics");
  EXPECT_NE(r.body.find("loki_distributor_bytes_received_total"), std::string::npos);
  EXPECT_NE(r.body.find("loki_request_duration_seconds_bucket"), std::string::npos);
}

TEST_F(LogsServer, KillDuringIngestLosesNothingAcknowledged) {
  th::TempDir data;
  StartServer({}, data.path());
  std::atomic<bool> stop{false};
  std::vector<std::string> acked;
  std::mutex mu;
  int64_t t0 = NowNs();
  std::thread pusher([&] {
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      std::string line = "entry-" + std::to_string(i);
      auto r = th::HttpPost(url_ + "/loki/api/v1/push",
                            PushJson(R"({"app":"kill"})", t0 + i, line),
                            {"Content-Type: application/json"});
      if (r.status == 204) {
        std::lock_guard<std::mutex> l(mu);
        acked.push_back(line);
      } else if (r.status == 0) {
        return;  // the server is gone
      }
    }
  });
  std::this_thread::sleep_for(1500ms);
  server_->process().Signal(SIGKILL);
  (void)server_->process().Wait(10s);
  stop = true;
  pusher.join();
  std::vector<std::string> want;
  {
    std::lock_guard<std::mutex> l(mu);
    want = acked;
  }
  ASSERT_GT(want.size(), 5u);
  server_.reset();
  StartServer({}, data.path());
  auto got = Lines(R"({app="kill"})", t0, t0 + 200000);
  std::set<std::string> have(got.begin(), got.end());
  for (const auto& w : want) EXPECT_TRUE(have.count(w)) << "lost acknowledged " << w;
}

TEST_F(LogsServer, ObjectStoreDownThenBackLosesNothing) {
  if (!th::S3rver::Available()) GTEST_SKIP() << "s3rver not installed (run scripts/bootstrap)";
  auto s3 = th::S3rver::Start("logs-bucket");
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  th::TempDir data;
  std::vector<std::string> args = {
      "--storage.backend=s3", "--storage.s3.endpoint=" + (*s3)->endpoint(),
      "--storage.s3.bucket=logs-bucket", "--storage.s3.region=us-east-1",
      "--storage.s3.force_path_style=true", "--storage.s3.access_key_id=S3RVER",
      "--storage.s3.secret_access_key=S3RVER", "--storage.s3.max_retries=1",
      "--logs.store.block_cut_interval=1s", "--logs.store.ship_interval=1s",
      "--logs.store.local_retention=0s"};
  StartServer(args, data.path());
  int64_t t0 = NowNs();
  auto push = [&](int i) {
    auto r = th::HttpPost(url_ + "/loki/api/v1/push",
                          PushJson(R"({"app":"s3"})", t0 + i, "line-" + std::to_string(i)),
                          {"Content-Type: application/json"});
    EXPECT_EQ(r.status, 204) << r.body;
  };
  push(0);
  (*s3)->Stop();  // the store is down
  for (int i = 1; i <= 3; ++i) {
    push(i);
    std::this_thread::sleep_for(1500ms);  // cuts happen, uploads fail
  }
  EXPECT_EQ(Lines(R"({app="s3"})", t0, t0 + 100).size(), 4u);
  ASSERT_TRUE((*s3)->Restart().ok());
  // Uploads resume (shipper backoff) and local copies go once uploaded.
  bool shipped = false;
  for (int i = 0; i < 120 && !shipped; ++i) {
    std::this_thread::sleep_for(500ms);
    std::error_code ec;
    size_t local_blocks = 0;
    for (const auto& d : std::filesystem::directory_iterator(data.path() + "/logs/anonymous/blocks", ec)) {
      if (d.is_directory()) ++local_blocks;
    }
    shipped = local_blocks == 0;
  }
  EXPECT_TRUE(shipped) << "blocks were not uploaded after the store came back";
  EXPECT_EQ(Lines(R"({app="s3"})", t0, t0 + 100).size(), 4u);
  // A fresh server on an empty data dir reads everything from the bucket.
  server_.reset();
  th::TempDir data2;
  StartServer(args, data2.path());
  EXPECT_EQ(Lines(R"({app="s3"})", t0, t0 + 100).size(), 4u);
}

// Per-tenant overrides (config/overrides.h) reach every logs limit through
// the binary: ingest validation, query limits, live tailing.
TEST_F(LogsServer, PerTenantOverridesGiveTenantsDifferentAnswers) {
  th::TempDir dir;
  std::string cfg = dir.Join("sightline.yaml");
  th::WriteFile(cfg, R"(overrides:
  team-a:
    logs:
      limits:
        max_line_size: 100B
        max_entries_limit_per_query: 10
        max_query_length: 2h
        max_concurrent_tail_requests: 1
  team-b:
    logs:
      limits:
        max_line_size: 1KiB
)");
  StartServer({"--config.file=" + cfg, "--multitenancy.enabled=true"});
  const int64_t t = NowNs();
  const std::string line(500, 'x');
  auto push = [&](const std::string& tenant, const std::string& l) {
    return th::HttpPost(url_ + "/loki/api/v1/push", PushJson(R"({"app":"ov"})", t, l),
                        {"Content-Type: application/json", "X-Scope-OrgID: " + tenant});
  };
  // max_line_size: 100 B for team-a, 1 KiB for team-b, Loki's 256 KB default for others.
  auto a = push("team-a", line);
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("Max entry size '100' bytes exceeded"), std::string::npos) << a.body;
  EXPECT_EQ(push("team-b", line).status, 204);
  EXPECT_EQ(push("team-c", line).status, 204);
  auto b = push("team-b", std::string(2000, 'y'));
  EXPECT_EQ(b.status, 400) << b.body;
  EXPECT_NE(b.body.find("Max entry size '1024' bytes exceeded"), std::string::npos) << b.body;

  // Query limits: max_entries_limit_per_query 10 and max_query_length 2h for team-a only.
  auto q = [&](const std::string& tenant, const std::string& params) {
    return th::HttpGet(url_ + "/loki/api/v1/query_range?query=" + Enc(R"({app="ov"})") + params,
                       {"X-Scope-OrgID: " + tenant});
  };
  auto qa = q("team-a", "&limit=20");
  EXPECT_EQ(qa.status, 400) << qa.body;
  EXPECT_NE(qa.body.find("max entries limit per query exceeded, limit > "
                         "max_entries_limit_per_query (20 > 10)"),
            std::string::npos)
      << qa.body;
  auto qb = q("team-b", "&limit=20");
  EXPECT_EQ(qb.status, 200) << qb.body;
  EXPECT_NE(qb.body.find(std::string(100, 'x')), std::string::npos);
  const std::string three_hours =
      "&limit=5&start=" + std::to_string(t - 3 * 3600 * 1'000'000'000ll) + "&end=" + std::to_string(t + 1);
  auto la = q("team-a", three_hours);
  EXPECT_EQ(la.status, 400) << la.body;
  EXPECT_NE(la.body.find("the query time range exceeds the limit"), std::string::npos) << la.body;
  EXPECT_EQ(q("team-b", three_hours).status, 200);

  // An override of something process wide is refused with file:line.
  std::string bad = dir.Join("bad.yaml");
  th::WriteFile(bad, "overrides:\n  team-a:\n    logs:\n      store:\n        ship_interval: 1s\n");
  auto proc = th::Process::Start({th::SightlineBinary(), "--config.file=" + bad});
  ASSERT_TRUE(proc.ok());
  auto st = (*proc)->Wait(20s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) != 0) << (*proc)->Output();
  EXPECT_NE((*proc)->Output().find("bad.yaml:4"), std::string::npos) << (*proc)->Output();
}

// The store's own limits per tenant: logs.limits.max_streams_per_tenant and
// out_of_order_window from overrides, each tenant answered by its own.
TEST_F(LogsServer, PerTenantStreamLimitAndOutOfOrderWindow) {
  th::TempDir dir;
  std::string cfg = dir.Join("sightline.yaml");
  th::WriteFile(cfg, R"(logs:
  limits:
    max_streams_per_tenant: 3
    out_of_order_window: 1h
overrides:
  team-a:
    logs:
      limits:
        max_streams_per_tenant: 1
        out_of_order_window: 1m
)");
  StartServer({"--config.file=" + cfg, "--multitenancy.enabled=true"});
  const int64_t t = NowNs();
  auto push = [&](const std::string& tenant, const std::string& app, int64_t ts,
                  const std::string& line) {
    return th::HttpPost(url_ + "/loki/api/v1/push",
                        PushJson(R"({"app":")" + app + R"("})", ts, line),
                        {"Content-Type: application/json", "X-Scope-OrgID: " + tenant});
  };
  // Streams: team-a may have 1, team-b the base 3.
  EXPECT_EQ(push("team-a", "s1", t, "a1").status, 204);
  auto a2 = push("team-a", "s2", t, "a2");
  EXPECT_EQ(a2.status, 429) << a2.body;  // as Loki: retry once streams go idle
  EXPECT_NE(a2.body.find("Maximum active stream limit exceeded"), std::string::npos) << a2.body;
  for (const char* app : {"s1", "s2", "s3"}) EXPECT_EQ(push("team-b", app, t, "b").status, 204);
  auto b4 = push("team-b", "s4", t, "b4");
  EXPECT_EQ(b4.status, 429) << b4.body;
  EXPECT_NE(b4.body.find("Maximum active stream limit exceeded"), std::string::npos) << b4.body;
  // Out of order: 10 minutes behind the newest entry is too far for team-a
  // (1m), fine for team-b (1h).
  const int64_t behind = t - 10ll * 60 * 1'000'000'000;
  auto ao = push("team-a", "s1", behind, "late-a");
  EXPECT_EQ(ao.status, 400) << ao.body;
  EXPECT_NE(ao.body.find("entry too far behind"), std::string::npos) << ao.body;
  EXPECT_EQ(push("team-b", "s1", behind, "late-b").status, 204);
  auto lines = [&](const std::string& tenant) {
    auto r = th::HttpGet(url_ + "/loki/api/v1/query_range?query=" + Enc(R"({app=~"s.+"})") +
                             "&start=" + std::to_string(t - 3600ll * 1'000'000'000) + "&end=" +
                             std::to_string(t + 1'000'000'000) + "&limit=100",
                         {"X-Scope-OrgID: " + tenant});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  };
  std::string la = lines("team-a"), lb = lines("team-b");
  EXPECT_NE(la.find("\"a1\""), std::string::npos) << la;
  EXPECT_EQ(la.find("a2"), std::string::npos) << la;
  EXPECT_EQ(la.find("late-a"), std::string::npos) << la;
  EXPECT_NE(lb.find("late-b"), std::string::npos) << lb;
  EXPECT_EQ(lb.find("b4"), std::string::npos) << lb;
}

// Live tailing through the binary, as Grafana's Live mode does it, with
// the per-tenant max_concurrent_tail_requests from overrides.
TEST_F(LogsServer, LiveTailThroughTheBinaryWithPerTenantTailLimit) {
  std::string missing = th::WsNodeClient::MissingReason();
  if (!missing.empty()) GTEST_SKIP() << missing;
  th::TempDir dir;
  std::string cfg = dir.Join("sightline.yaml");
  th::WriteFile(cfg, "overrides:\n  team-a:\n    logs:\n      limits:\n"
                     "        max_concurrent_tail_requests: 1\n");
  StartServer({"--config.file=" + cfg, "--multitenancy.enabled=true"});
  std::string ws = "ws://" + url_.substr(std::string("http://").size());
  std::string tail = ws + "/loki/api/v1/tail?query=" + Enc(R"({app="live"} |= "hit")");
  auto first = th::WsNodeClient::Start(tail, {"--header", "X-Scope-OrgID: team-a",
                                              "--timeout-ms", "20000"});
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->WaitForEvent("open", 10s).event, "open") << first->Output();
  std::this_thread::sleep_for(300ms);  // the session subscribes right after the handshake
  auto second = th::WsNodeClient::Start(tail, {"--header", "X-Scope-OrgID: team-a"});
  th::WsEvent close = second->WaitForEvent("close", 10s);
  EXPECT_EQ(close.code, 1011) << second->Output();
  EXPECT_EQ(close.data, "max concurrent tail requests limit exceeded, count > limit (2 > 1)");
  // team-b has the default (10).
  auto b1 = th::WsNodeClient::Start(tail, {"--header", "X-Scope-OrgID: team-b",
                                           "--timeout-ms", "20000"});
  auto b2 = th::WsNodeClient::Start(tail, {"--header", "X-Scope-OrgID: team-b",
                                           "--timeout-ms", "20000"});
  ASSERT_EQ(b1->WaitForEvent("open", 10s).event, "open");
  ASSERT_EQ(b2->WaitForEvent("open", 10s).event, "open");
  std::this_thread::sleep_for(300ms);
  auto before = std::chrono::steady_clock::now();
  auto r = th::HttpPost(url_ + "/loki/api/v1/push",
                        R"({"streams":[{"stream":{"app":"live"},"values":[[")" +
                            std::to_string(NowNs()) + R"(","a hit"],[")" +
                            std::to_string(NowNs()) + R"(","a miss"]]}]})",
                        {"Content-Type: application/json", "X-Scope-OrgID: team-a"});
  ASSERT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(first->WaitForMessages(1, 5s)) << first->Output();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1500ms);
  auto msgs = first->Messages();
  EXPECT_NE(msgs[0].find(R"("stream":{"app":"live"},"values":[[")"), std::string::npos) << msgs[0];
  EXPECT_NE(msgs[0].find(R"(","a hit"]])"), std::string::npos) << msgs[0];
  EXPECT_EQ(msgs[0].find("a miss"), std::string::npos) << msgs[0];
  // team-b's tails saw nothing of team-a's push.
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(b1->Messages().empty());
  EXPECT_EQ(b1->WaitForEvent("close", 0ms).event, "");
}

}  // namespace
}  // namespace sightline::logs
