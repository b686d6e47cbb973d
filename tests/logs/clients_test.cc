// Real client libraries over real HTTP: winston-loki (Loki push,
// protobuf+snappy and JSON) and the OpenTelemetry JS logs SDK (OTLP/HTTP
// protobuf) push to the logs distributor behind the HTTP server on port 0
// (in process, with a LogStore on a temp dir), then the lines are read back
// through the Loki query API (query_range). Skipped with a reason when node
// or the npm packages (scripts/bootstrap) are missing.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "harness/harness.h"
#include "logs/api/loki_api.h"
#include "logs/ingest/distributor.h"
#include "logs/logql/engine.h"
#include "logs/store/log_store.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline::logs {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

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

// The distributor, store and query API behind a real HTTP server.
class InProcessLogs {
 public:
  InProcessLogs() {
    store::LogStoreOptions so;
    so.data_dir = dir_.path();
    so.background = false;
    store_ = std::move(store::LogStore::Open(so)).value();
    ingest::DistributorOptions d;
    d.registry = &registry_;
    dist_ = std::make_unique<ingest::Distributor>(store_.get(), d);
    ingest::RegisterDistributorRoutes(router_, dist_.get(), nullptr);
    store::LogStore* s = store_.get();
    api::RegisterLokiApi(router_, [s](std::string_view t) { return s->Querier(t); }, &engine_, {});
    net::HttpServerOptions ho;
    ho.listen = "127.0.0.1:0";
    ho.io_threads = 1;
    ho.worker_threads = 4;
    server_ = std::move(net::HttpServer::Start(ho, &router_, &registry_)).value();
    url_ = "http://" + server_->bound_address();
  }
  ~InProcessLogs() { server_->Stop(std::chrono::milliseconds(100)); }
  const std::string& url() const { return url_; }

 private:
  th::TempDir dir_;
  telemetry::Registry registry_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ingest::Distributor> dist_;
  logql::Engine engine_;
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
  std::string url_;
};

bool HavePackages(const std::vector<std::string>& pkgs, std::string* missing) {
  std::error_code ec;
  for (const auto& p : pkgs) {
    if (!std::filesystem::exists(th::ToolsDir() + "/node_modules/" + p, ec)) {
      *missing = p;
      return false;
    }
  }
  return true;
}

void RunNode(const std::string& script, std::vector<std::string> args) {
  std::vector<std::string> argv = {"node", th::SourceDir() + "/tests/logs/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  auto proc = th::Process::Start(argv, {{"NODE_PATH", th::ToolsDir() + "/node_modules"}});
  ASSERT_TRUE(proc.ok()) << proc.status().ToString();
  auto st = (*proc)->Wait(60s);
  ASSERT_TRUE(st.has_value()) << "node did not exit";
  ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*proc)->Output();
}

// Streams returned for `query` in the last hour: labels JSON → lines.
std::vector<std::pair<std::string, std::string>> Query(const std::string& url,
                                                       const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  auto r = th::HttpGet(url + "/loki/api/v1/query_range?limit=1000&query=" + Enc(query),
                       {"X-Loki-Response-Encoding-Flags: categorize-labels"});
  EXPECT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  auto doc = p.parse(r.body);
  if (doc.error()) return out;
  simdjson::dom::array arr_1 = doc["data"]["result"].get_array().value_unsafe();
  for (auto st : arr_1) {
    std::string labels = simdjson::minify(st["stream"]);
    simdjson::dom::array arr_2 = st["values"].get_array().value_unsafe();
    for (auto v : arr_2) {
      std::string line(std::string_view(v.at(1).get_string().value_unsafe()));
      std::string md;
      if (v.get_array().value_unsafe().size() > 2) md = simdjson::minify(v.at(2));
      out.push_back({labels + md, line});
    }
  }
  return out;
}

TEST(LogsClients, WinstonLoki) {
  std::string missing;
  if (!HavePackages({"winston", "winston-loki"}, &missing)) {
    GTEST_SKIP() << "npm package " << missing << " not installed (run scripts/bootstrap)";
  }
  InProcessLogs server;
  std::string url = server.url();
  RunNode("winston_loki_push.js", {url, "proto"});
  RunNode("winston_loki_push.js", {url, "json"});
  for (std::string mode : {"proto", "json"}) {
    auto got = Query(url, R"({app="winston", mode=")" + mode + R"("})");
    ASSERT_EQ(got.size(), 4u) << mode;
    int found = 0;
    for (const auto& [labels, line] : got) {
      if (line.find("winston line") == std::string::npos) continue;
      ++found;
      EXPECT_NE(labels.find("\"job\":\"client-test\""), std::string::npos) << labels;
    }
    EXPECT_EQ(found, 3) << mode;
  }
  auto traced = Query(url, R"({app="winston"} |= "5b8efff798038103d269b633813fc60c")");
  EXPECT_EQ(traced.size(), 2u);
}

TEST(LogsClients, OtelJsLogsSdk) {
  std::string missing;
  if (!HavePackages({"@opentelemetry/sdk-logs", "@opentelemetry/exporter-logs-otlp-proto",
                     "@opentelemetry/api", "@opentelemetry/resources"},
                    &missing)) {
    GTEST_SKIP() << "npm package " << missing << " not installed (run scripts/bootstrap)";
  }
  InProcessLogs server;
  std::string url = server.url();
  RunNode("otel_logs_export.js", {url + "/v1/logs"});
  auto got = Query(url, R"({service_name="otel-js"})");
  ASSERT_EQ(got.size(), 2u);
  bool saw_error = false, saw_info = false;
  for (const auto& [labels, line] : got) {
    EXPECT_NE(labels.find("\"deployment_environment\":\"test\""), std::string::npos) << labels;
    if (line == "otel failure") {
      saw_error = true;
      EXPECT_NE(labels.find("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""), std::string::npos)
          << labels;
      EXPECT_NE(labels.find("\"span_id\":\"00f067aa0ba902b7\""), std::string::npos) << labels;
      EXPECT_NE(labels.find("\"detected_level\":\"error\""), std::string::npos) << labels;
    }
    if (line == "otel hello") {
      saw_info = true;
      EXPECT_NE(labels.find("\"user_id\":\"u42\""), std::string::npos) << labels;
      EXPECT_NE(labels.find("\"host_name\":\"box-1\""), std::string::npos) << labels;
      EXPECT_NE(labels.find("\"scope_name\":\"client-test\""), std::string::npos) << labels;
    }
  }
  EXPECT_TRUE(saw_error && saw_info);
  // Logs for the trace, through the trace-id hint.
  auto by_trace = Query(url, R"({service_name="otel-js"} | trace_id="4bf92f3577b34da6a3ce929d0e0e4736")");
  EXPECT_EQ(by_trace.size(), 1u);
}

}  // namespace
}  // namespace sightline::logs
