// The gateway role end to end with real processes: the OpenTelemetry JS SDK
// (npm, .tools/) sends traces over OTLP/HTTP to a Sightline started with
// --target=gateway, which tail-samples them (on by default in that role) and
// forwards them over OTLP/HTTP to a Sightline `all` process; the backend's
// Tempo API must show every error, slow and payments trace and about 10% of
// the others. With sampling off: the backend down, the gateway killed with
// SIGKILL after it acknowledged, restarted, then the backend started: every
// acknowledged trace arrives. A downstream answering 400 gets one attempt
// and the spans are counted as failed. OTLP/gRPC into the gateway works the
// same way. Without an endpoint the gateway does not start.
//
// The SDK tests are skipped with a reason when node or the npm packages are
// missing (scripts/bootstrap installs them).
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "harness/harness.h"
#include "net/http.h"
#include "net/http_server.h"
#include "telemetry/metrics.h"

namespace sightline {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

std::string SkipReason() {
  std::string tools = th::ToolsDir();
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  std::error_code ec;
  for (const char* pkg : {"api", "sdk-trace-base", "resources", "exporter-trace-otlp-proto"}) {
    if (!std::filesystem::exists(tools + "/node_modules/@opentelemetry/" + pkg, ec)) {
      return std::string("@opentelemetry/") + pkg + " not installed in " + tools +
             "/node_modules (run scripts/bootstrap)";
    }
  }
  return "";
}

// Trace ids (hex) by kind, as the script printed them.
using Ids = std::map<std::string, std::vector<std::string>>;

Ids RunSdk(const std::string& url, int ordinary, int each) {
  std::string tools = th::ToolsDir();
  auto proc = th::Process::Start(
      {"node", th::SourceDir() + "/tests/traces/otel_gateway_traces.js", url + "/v1/traces",
       std::to_string(ordinary), std::to_string(each)},
      {{"NODE_PATH", tools + "/node_modules"}, {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"}});
  if (!proc.ok()) {
    ADD_FAILURE() << proc.status().ToString();
    return {};
  }
  std::optional<int> st = (*proc)->Wait(120s);
  std::string out = (*proc)->Output();
  if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    ADD_FAILURE() << "export failed: " << out;
    return {};
  }
  size_t p = out.find("{\"error\"");
  if (p == std::string::npos) {
    ADD_FAILURE() << out;
    return {};
  }
  std::string json = out.substr(p, out.find('\n', p) - p);
  Ids ids;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << json;
    return {};
  }
  for (const char* kind : {"error", "slow", "payments", "ordinary"}) {
    simdjson::dom::array arr;
    if (doc[kind].get_array().get(arr) != simdjson::SUCCESS) continue;
    for (auto v : arr) ids[kind].push_back(std::string(v.get_string().value()));
  }
  return ids;
}

bool HasTrace(const std::string& base, const std::string& id) {
  return th::HttpGet(base + "/api/traces/" + id).status == 200;
}

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return f();
}

// A sample of the gateway's /metrics ("name{labels}" exactly), or -1.
double Metric(const std::string& base, const std::string& series) {
  auto r = th::HttpGet(base + "/metrics");
  size_t p = r.body.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(r.body.substr(p + series.size() + 2));
}

TEST(Gateway, RefusesToStartWithoutEndpoint) {
  th::TempDir dir;
  auto proc = th::Process::Start({th::SightlineBinary(), "--target=gateway",
                                  "--http.listen=127.0.0.1:0", "--grpc.listen=127.0.0.1:0",
                                  "--data.dir=" + dir.Join("data")});
  ASSERT_TRUE(proc.ok());
  std::optional<int> st = (*proc)->Wait(60s);
  ASSERT_TRUE(st.has_value()) << "the gateway started without an endpoint";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) != 0);
  EXPECT_NE((*proc)->Output().find("traces.gateway.endpoint"), std::string::npos)
      << (*proc)->Output();
}

TEST(Gateway, TailSamplesAndForwardsToTheBackend) {
  std::string skip = SkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  auto backend = th::SightlineServer::Start();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  auto gw = th::SightlineServer::Start(
      {"--target=gateway", "--traces.gateway.endpoint=" + (*backend)->http_url(),
       "--traces.sampling.decision_wait=1s", "--traces.sampling.attribute_values=payments",
       "--traces.gateway.batch_timeout=100ms"});
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  const std::string g = (*gw)->http_url();
  const std::string b = (*backend)->http_url();
  // A gateway has no store and no querier.
  EXPECT_EQ(th::HttpGet(g + "/api/search").status, 404);

  const int kOrdinary = 200, kEach = 10;
  Ids ids = RunSdk(g, kOrdinary, kEach);
  ASSERT_EQ(ids["ordinary"].size(), size_t{kOrdinary});
  for (const char* kind : {"error", "slow", "payments"}) {
    ASSERT_EQ(ids[kind].size(), size_t{kEach}) << kind;
    for (const auto& id : ids[kind]) {
      EXPECT_TRUE(WaitFor([&] { return HasTrace(b, id); }, 60s)) << kind << " trace " << id;
    }
  }
  // Wait for every decision (nothing left in the sampler) and for the
  // queue to drain, then count the ordinary traces that made it.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Metric(g, "otelcol_processor_tail_sampling_sampling_traces_on_memory") == 0 &&
               Metric(g, "otelcol_exporter_queue_size{exporter=\"otlphttp\"}") == 0;
      },
      30s));
  int kept = 0;
  for (const auto& id : ids["ordinary"]) kept += HasTrace(b, id);
  // 10% of 200: 20 expected, sd ~4.2; [5, 45] fails only on a broken policy.
  EXPECT_GE(kept, 5) << "probabilistic policy kept too few";
  EXPECT_LE(kept, 45) << "probabilistic policy kept too many";
  // Two spans per trace were delivered for every kept trace.
  double sent = Metric(g, "otelcol_exporter_sent_spans{exporter=\"otlphttp\"}");
  EXPECT_EQ(sent, 2.0 * (3 * kEach + kept));
  EXPECT_EQ(Metric(g, "otelcol_exporter_send_failed_spans{exporter=\"otlphttp\"}"), 0);
  EXPECT_EQ(Metric(g, "otelcol_processor_tail_sampling_global_count_traces_sampled{sampled=\"true\"}"),
            3 * kEach + kept);
  std::printf("gateway kept %d of %d ordinary traces, %d/%d/%d error/slow/payments\n", kept,
              kOrdinary, kEach, kEach, kEach);
}

// The backend is down; the gateway acknowledges and queues; SIGKILL;
// restart on the same data dir; the backend comes up: every trace that was
// queued arrives. With sampling on, the traces are error, slow and payments
// traces (all kept) and the kill comes after their decision queued them.
void SurviveOutageAndSigkill(bool sampling) {
  th::TempDir dir;
  int backend_port = th::FreePort();
  std::string backend_url = "http://127.0.0.1:" + std::to_string(backend_port);
  std::vector<std::string> args = {
      "--target=gateway", "--traces.gateway.endpoint=" + backend_url,
      "--traces.gateway.batch_timeout=50ms", "--traces.gateway.retry_initial_interval=200ms",
      "--traces.gateway.retry_max_interval=1s", "--traces.sampling.decision_wait=500ms",
      "--traces.sampling.attribute_values=payments"};
  if (!sampling) args.push_back("--traces.sampling.enabled=false");
  std::vector<std::string> want;  // every one is kept (sampling: error, slow, payments)
  {
    auto gw = th::SightlineServer::Start(args, dir.Join("gw"));
    ASSERT_TRUE(gw.ok()) << gw.status().ToString();
    const std::string g = (*gw)->http_url();
    // The SDK succeeds: the gateway acknowledged.
    Ids ids = sampling ? RunSdk(g, 0, 10) : RunSdk(g, 40, 0);
    for (const auto& [kind, list] : ids) want.insert(want.end(), list.begin(), list.end());
    ASSERT_EQ(want.size(), sampling ? 30u : 40u);
    const double spans = 2.0 * want.size();
    // Queued (decided, with sampling) and already retried at least once.
    EXPECT_TRUE(WaitFor(
        [&] { return Metric(g, "otelcol_exporter_queue_size{exporter=\"otlphttp\"}") == spans; },
        30s));
    EXPECT_TRUE(WaitFor(
        [&] { return Metric(g, "sightline_gateway_retries_total{exporter=\"otlphttp\"}") >= 1; },
        30s));
    (*gw)->process().Signal(SIGKILL);
    (*gw)->process().Wait(10s);
  }
  // Restarted on the same data dir, it replays the queue and keeps retrying.
  auto gw = th::SightlineServer::Start(args, dir.Join("gw"));
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  EXPECT_NE((*gw)->process().Output().find("gateway queue replayed"), std::string::npos);
  std::this_thread::sleep_for(500ms);
  auto backend =
      th::SightlineServer::Start({"--http.listen=127.0.0.1:" + std::to_string(backend_port)});
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  for (const auto& id : want) {
    EXPECT_TRUE(WaitFor([&] { return HasTrace(backend_url, id); }, 60s)) << id;
  }
  EXPECT_EQ(Metric((*gw)->http_url(), "otelcol_exporter_send_failed_spans{exporter=\"otlphttp\"}"),
            0);
}

TEST(Gateway, AcknowledgedSpansSurviveBackendOutageAndSigkill) {
  std::string skip = SkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  SurviveOutageAndSigkill(/*sampling=*/false);
}

TEST(Gateway, DecidedTracesSurviveBackendOutageAndSigkill) {
  std::string skip = SkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  SurviveOutageAndSigkill(/*sampling=*/true);
}

// OTLP/gRPC into the gateway's gRPC port (the SDK's gRPC exporter), with
// sampling off, reaches the backend: the gateway serves the distributor's
// receivers on the same ports.
TEST(Gateway, OtlpGrpcIntoTheGatewayReachesTheBackend) {
  std::string skip = SkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  std::error_code ec;
  if (!std::filesystem::exists(th::ToolsDir() + "/node_modules/@opentelemetry/exporter-trace-otlp-grpc", ec)) {
    GTEST_SKIP() << "@opentelemetry/exporter-trace-otlp-grpc not installed (run scripts/bootstrap)";
  }
  auto backend = th::SightlineServer::Start();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  auto gw = th::SightlineServer::Start({"--target=gateway",
                                        "--traces.gateway.endpoint=" + (*backend)->http_url(),
                                        "--traces.sampling.enabled=false",
                                        "--traces.gateway.batch_timeout=50ms"});
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  auto proc = th::Process::Start(
      {"node", th::SourceDir() + "/tests/traces/otel_trace_export.js", "grpc",
       "http://" + (*gw)->grpc_addr()},
      {{"NODE_PATH", th::ToolsDir() + "/node_modules"}});
  ASSERT_TRUE(proc.ok());
  std::optional<int> st = (*proc)->Wait(90s);
  std::string out = (*proc)->Output();
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << out;
  size_t p = out.find("{\"traceId\":\"");
  ASSERT_NE(p, std::string::npos) << out;
  std::string id = out.substr(p + 12, 32);
  EXPECT_TRUE(WaitFor([&] { return HasTrace((*backend)->http_url(), id); }, 30s));
  auto r = th::HttpGet((*backend)->http_url() + "/api/traces/" + id);
  EXPECT_NE(r.body.find("shop-js-grpc"), std::string::npos);
  EXPECT_NE(r.body.find("card declined"), std::string::npos);
}

TEST(Gateway, BadRequestFromDownstreamIsDroppedAndCounted) {
  std::string skip = SkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  // A downstream that refuses everything with 400.
  std::atomic<int> requests{0};
  telemetry::Registry reg;
  net::Router router;
  router.Handle("POST", "/v1/traces", [&](net::HttpRequest&, net::HttpResponse& resp) {
    ++requests;
    resp.Text(400, "bad request\n");
  });
  net::HttpServerOptions ho;
  ho.listen = "127.0.0.1:0";
  ho.io_threads = 1;
  ho.worker_threads = 1;
  auto down = net::HttpServer::Start(ho, &router, &reg);
  ASSERT_TRUE(down.ok());
  auto gw = th::SightlineServer::Start(
      {"--target=gateway", "--traces.gateway.endpoint=http://" + (*down)->bound_address(),
       "--traces.sampling.enabled=false", "--traces.gateway.batch_timeout=50ms",
       "--traces.gateway.retry_initial_interval=100ms"});
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  Ids ids = RunSdk((*gw)->http_url(), 5, 0);
  ASSERT_EQ(ids["ordinary"].size(), 5u);
  const std::string g = (*gw)->http_url();
  EXPECT_TRUE(WaitFor(
      [&] { return Metric(g, "otelcol_exporter_send_failed_spans{exporter=\"otlphttp\"}") == 10; },
      30s));
  int seen = requests.load();
  std::this_thread::sleep_for(1s);  // ten backoffs: nothing is retried
  EXPECT_EQ(requests.load(), seen);
  EXPECT_GE(seen, 1);
  EXPECT_EQ(Metric(g, "otelcol_exporter_queue_size{exporter=\"otlphttp\"}"), 0);
  EXPECT_NE((*gw)->process().Output().find("not retryable"), std::string::npos);
  (*down)->Stop(100ms);
}

}  // namespace
}  // namespace sightline
