// The Loki HTTP API in process (Router::Serve, no network): pushes through
// the distributor into a real LogStore on a temp dir, then Grafana's Loki
// calls (../shared/grafana-contract.md) and the query API's shapes, limits
// and errors, through the LogQL engine.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <random>
#include <set>
#include <re2/re2.h>

#include "harness/harness.h"
#include "logs/api/loki_api.h"
#include "logs/ingest/distributor.h"
#include "logs/logql/engine.h"
#include "logs/store/log_store.h"
#include "telemetry/metrics.h"

namespace sightline::logs::api {
namespace {

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

class LokiApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::LogStoreOptions so;
    so.data_dir = dir_.path();
    so.background = false;
    auto st = store::LogStore::Open(so);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    ingest::DistributorOptions d;
    d.registry = &registry_;
    dist_ = std::make_unique<ingest::Distributor>(store_.get(), d);
    ingest::RegisterDistributorRoutes(router_, dist_.get(), nullptr);
    ApiOptions ao;
    store::LogStore* s = store_.get();
    RegisterLokiApi(router_, [s](std::string_view t) { return s->Querier(t); }, &engine_, ao);
    t_ = NowNs();
    range_ = "&start=" + std::to_string(t_ - 3'600'000'000'000) +
             "&end=" + std::to_string(t_ + 60'000'000'000);
  }
  net::HttpResponse Call(const std::string& method, const std::string& target,
                         std::string body = "", std::vector<std::string> headers = {}) {
    net::HttpHeaders h;
    for (const auto& line : headers) {
      auto c = line.find(": ");
      h.Add(line.substr(0, c), line.substr(c + 2));
    }
    auto req = net::HttpRequest::Make(method, target, h, std::move(body));
    EXPECT_TRUE(req.ok()) << target;
    req->set_tenant("anonymous");
    net::HttpResponse resp;
    router_.Serve(*req, resp);
    return resp;
  }
  void Push(const std::string& labels_json, int64_t ts, const std::string& line,
            const std::string& md = "") {
    auto r = Call("POST", "/loki/api/v1/push",
                  R"({"streams":[{"stream":)" + labels_json + R"(,"values":[[")" +
                      std::to_string(ts) + R"(",")" + line + "\"" + (md.empty() ? "" : "," + md) +
                      "]]}]}",
                  {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 204) << r.body;
  }
  simdjson::dom::element Json(const net::HttpResponse& r) {
    auto doc = parser_.parse(r.body);
    EXPECT_FALSE(doc.error()) << r.body;
    return doc.value_unsafe();
  }

  sightline::testing::TempDir dir_;
  telemetry::Registry registry_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ingest::Distributor> dist_;
  logql::Engine engine_;
  net::Router router_;
  simdjson::dom::parser parser_;
  int64_t t_ = 0;
  std::string range_;
};

TEST_F(LokiApiTest, QueryRangeStreamsShapes) {
  Push(R"({"app":"api","env":"prod"})", t_, "level=error msg=boom", R"({"user":"u1"})");
  Push(R"({"app":"api","env":"prod"})", t_ + 1, "level=info msg=fine");
  Push(R"({"app":"web","env":"prod"})", t_ + 2, R"({\"status\":200})");
  auto r = Call("GET", "/loki/api/v1/query_range?query=" + Enc(R"({env="prod"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = Json(r);
  EXPECT_EQ(std::string_view(doc["status"].get_string().value_unsafe()), "success");
  EXPECT_EQ(std::string_view(doc["data"]["resultType"].get_string().value_unsafe()), "streams");
  size_t entries = 0;
  simdjson::dom::array arr_1 = doc["data"]["result"].get_array().value_unsafe();
  for (auto st : arr_1) {
    simdjson::dom::array arr_2 = st["values"].get_array().value_unsafe();
    for (auto v : arr_2) {
      ++entries;
      EXPECT_EQ(std::string_view(v.at(0).get_string().value_unsafe()).size(), 19u);
    }
  }
  EXPECT_EQ(entries, 3u);
  EXPECT_FALSE(doc["data"]["stats"]["summary"]["totalLinesProcessed"].error()) << r.body;
  EXPECT_TRUE(doc["data"]["encodingFlags"].error());

  // Backward (default) vs forward with limit 1.
  r = Call("GET", "/loki/api/v1/query_range?limit=1&query=" + Enc(R"({app="api"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("msg=fine"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/query_range?limit=1&direction=forward&query=" +
                      Enc(R"({app="api"})") + range_);
  EXPECT_NE(r.body.find("msg=boom"), std::string::npos) << r.body;

  // categorize-labels.
  r = Call("GET", "/loki/api/v1/query_range?query=" + Enc(R"({app="api"} |= "boom" | logfmt)") + range_,
           "", {"X-Loki-Response-Encoding-Flags: categorize-labels"});
  ASSERT_EQ(r.status, 200) << r.body;
  doc = Json(r);
  EXPECT_EQ(std::string_view(doc["data"]["encodingFlags"].at(0).get_string().value_unsafe()),
            "categorize-labels");
  auto st = doc["data"]["result"].at(0);
  EXPECT_TRUE(st["stream"]["user"].error()) << r.body;  // metadata not in stream labels
  auto third = st["values"].at(0).at(2);
  EXPECT_EQ(std::string_view(third["structuredMetadata"]["user"].get_string().value_unsafe()), "u1");
  EXPECT_EQ(std::string_view(third["parsed"]["msg"].get_string().value_unsafe()), "boom");
}

TEST_F(LokiApiTest, GrafanaCalls) {
  Push(R"({"app":"api","level":"info"})", t_, "level=info msg=ok dur=5ms");
  // Health: vector(1)+vector(1) at time=4000000000.
  auto r = Call("GET", "/loki/api/v1/query?query=" + Enc("vector(1)+vector(1)") +
                           "&direction=backward&time=4000000000");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = Json(r);
  EXPECT_EQ(std::string_view(doc["data"]["resultType"].get_string().value_unsafe()), "vector");
  EXPECT_EQ(std::string_view(doc["data"]["result"].at(0)["value"].at(1).get_string().value_unsafe()),
            "2");
  // Logs volume.
  r = Call("GET", "/loki/api/v1/query_range?query=" +
                      Enc(R"(sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m])))") +
                      range_ + "&step=60000ms");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(std::string_view(Json(r)["data"]["resultType"].get_string().value_unsafe()), "matrix");
  r = Call("GET", "/loki/api/v1/labels?" + range_.substr(1));
  EXPECT_EQ(r.body, R"({"status":"success","data":["app","level"]})");
  r = Call("GET", "/loki/api/v1/label/app/values?" + range_.substr(1));
  EXPECT_EQ(r.body, R"({"status":"success","data":["api"]})");
  r = Call("GET", "/loki/api/v1/series?match[]=" + Enc(R"({app="api"})") + range_);
  EXPECT_EQ(r.body, R"({"status":"success","data":[{"app":"api","level":"info"}]})");
  r = Call("GET", "/loki/api/v1/index/stats?query=" + Enc(R"({app="api"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"streams":1,"chunks":1,"bytes":25,"entries":1})");
  r = Call("GET", "/loki/api/v1/index/volume?query=" + Enc(R"({app="api"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("metric":{"app":"api"})"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/index/volume_range?step=60s&query=" + Enc(R"({app="api"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"matrix\""), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/detected_fields?query=" + Enc(R"({app="api"})") + range_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"({"label":"dur","type":"duration","cardinality":1,"parsers":["logfmt"]})"),
            std::string::npos)
      << r.body;
  r = Call("GET", "/loki/api/v1/detected_field/msg/values?query=" + Enc(R"({app="api"})") + range_);
  EXPECT_EQ(r.body, R"({"values":["ok"]})");
  r = Call("GET", "/loki/api/v1/detected_labels?query=" + Enc(R"({app="api"})") + range_);
  EXPECT_EQ(r.body, R"({"detectedLabels":[{"label":"app","cardinality":1},{"label":"level","cardinality":1}]})");
  r = Call("GET", "/loki/api/v1/format_query?query=" + Enc(R"({app="api"}|="x")"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("data":"{app=\"api\"} |= \"x\"")"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/status/buildinfo");
  EXPECT_NE(r.body.find(R"("version":"3.)"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/patterns?query=" + Enc(R"({app="api"})"));
  EXPECT_EQ(r.status, 200);
}

TEST_F(LokiApiTest, LimitsAndErrors) {
  auto r = Call("GET", "/loki/api/v1/query_range?limit=6000&query=" + Enc(R"({app="api"})") + range_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "max entries limit per query exceeded, limit > max_entries_limit_per_query "
            "(6000 > 5000)\n");
  r = Call("GET", "/loki/api/v1/query_range?query=" + Enc(R"({app="api"})") +
                      "&start=0&end=" + std::to_string(t_));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("the query time range exceeds the limit (query length: "), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("limit: 721h0m0s)"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/query_range?query=" + Enc(R"({app="api"} |= )") + range_);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("parse error"), std::string::npos) << r.body;
  r = Call("GET", "/loki/api/v1/query?query=" + Enc(R"({app="api"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("log queries are not supported as an instant query type"),
            std::string::npos);
  r = Call("GET", "/loki/api/v1/query_range?step=0&query=" + Enc(R"(count_over_time({a="b"}[1m]))") + range_);
  EXPECT_EQ(r.status, 400);
  r = Call("GET", "/loki/api/v1/query_range?query=");
  EXPECT_EQ(r.status, 400);
  r = Call("GET", "/loki/api/v1/query_range?direction=sideways&query=" + Enc(R"({a="b"})"));
  EXPECT_EQ(r.status, 400);
}

TEST(LokiTime, Parsing) {
  EXPECT_EQ(*ParseLokiTime("1700000000"), 1700000000ll * 1'000'000'000);
  EXPECT_EQ(*ParseLokiTime("1700000000000000000"), 1700000000000000000ll);
  EXPECT_EQ(*ParseLokiTime("1700000000.5"), 1700000000500000000ll);
  EXPECT_EQ(*ParseLokiTime("2023-11-14T22:13:20Z"), 1700000000ll * 1'000'000'000);
  EXPECT_EQ(*ParseLokiTime("2023-11-14T23:13:20.25+01:00"), 1700000000250000000ll);
  EXPECT_FALSE(ParseLokiTime("yesterday").ok());
  EXPECT_EQ(*ParseLokiStep("15000ms"), 15ll * 1'000'000'000);
  EXPECT_EQ(*ParseLokiStep("1.5"), 1'500'000'000);
  EXPECT_FALSE(ParseLokiStep("0").ok());
}

// Line filters through the engine over the store's blocks (whole-column
// Vectorscan scan, memmem, RE2) and over the head select exactly the lines
// a brute-force RE2/memmem pass selects.
TEST_F(LokiApiTest, LineFiltersOverBlocksMatchBruteForce) {
  static const char* words[] = {"error", "Error", "warn", "status=503", "status=200",
                                "user_bob@x", "timed out", "ok", "caf\xc3\xa9", "GET", "K",
                                "\xe2\x84\xaa", "id=4bf92f3577b34da6a3ce929d0e0e4736", "x"};
  std::mt19937_64 rng(7);
  std::vector<std::string> lines;
  std::vector<PushStream> in(1);
  in[0].labels = Labels::FromStrings({"app", "f"});
  for (int i = 0; i < 3000; ++i) {
    std::string l;
    for (int k = rng() % 6; k > 0; --k) l += std::string(words[rng() % std::size(words)]) + " ";
    lines.push_back(l);
    in[0].entries.push_back({t_ - 1'000'000'000ll + i, l, {}});
  }
  AppendResult ar;
  ASSERT_TRUE(store_->Append("anonymous", in, &ar).ok());
  ASSERT_TRUE(store_->CutAll().ok());
  // A few more in the head.
  std::vector<PushStream> head(1);
  head[0].labels = in[0].labels;
  for (int i = 0; i < 50; ++i) {
    lines.push_back(lines[i]);
    head[0].entries.push_back({t_ + i, lines[i], {}});
  }
  ASSERT_TRUE(store_->Append("anonymous", head, &ar).ok());
  struct Case {
    std::string filter;
    std::vector<std::string> lits, res;
    bool negative = false;
  };
  std::vector<Case> cases = {
      {R"(|= "timed out" or "status=503")", {"timed out", "status=503"}, {}},
      {R"(|~ "(?i)error|warn")", {}, {"(?i)error|warn"}},
      {R"(|~ "status=5\\d\\d")", {}, {"status=5\\d\\d"}},
      {R"(|~ "user_[a-z]+@")", {}, {"user_[a-z]+@"}},
      {R"(|~ "(?i)k")", {}, {"(?i)k"}},
      {R"(|~ "caf.")", {}, {"caf."}},
      {R"(!~ "(?i)error|warn")", {}, {"(?i)error|warn"}, true},
      {R"(!= "ok" or "GET")", {"ok", "GET"}, {}, true},
      {R"(|= "4bf92f3577b34da6a3ce929d0e0e4736")", {"4bf92f3577b34da6a3ce929d0e0e4736"}, {}},
  };
  logql::Engine engine;
  auto q = store_->Querier("anonymous");
  ASSERT_TRUE(q.ok());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.filter);
    std::multiset<std::string> want;
    for (const auto& l : lines) {
      bool any = false;
      for (const auto& lit : c.lits) any |= l.find(lit) != std::string::npos;
      for (const auto& re : c.res) any |= re2::RE2::PartialMatch(l, re2::RE2(re));
      if (any != c.negative) want.insert(l);
    }
    logql::QueryParams qp;
    qp.query = R"({app="f"} )" + c.filter;
    qp.start_ns = t_ - 3'600'000'000'000ll;
    qp.end_ns = t_ + 60'000'000'000ll;
    qp.step_ns = 0;
    qp.limit = 5000;
    auto r = engine.Exec(**q, qp);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::multiset<std::string> got;
    for (const auto& st : r->streams) {
      for (const auto& e : st.entries) got.insert(e.line);
    }
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want);
    EXPECT_FALSE(want.empty());
  }
}

}  // namespace
}  // namespace sightline::logs::api
