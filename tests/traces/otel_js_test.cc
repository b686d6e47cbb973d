// End to end through real servers: the OpenTelemetry JS SDK (npm, .tools/)
// sends a trace over OTLP/HTTP (gzip) and over OTLP/gRPC to the traces receiver
// behind the real HTTP and gRPC servers, and the trace is read back through
// the Tempo API (/api/traces/<id>, JSON and protobuf). A second test kills
// an ingest server with SIGKILL after acknowledged writes and checks that a
// new store on the same data dir has every acknowledged span.
//
// The OTel test is skipped with a reason when node or the npm packages are
// missing (scripts/bootstrap installs them).
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "harness/harness.h"
#include "net/grpc_server.h"
#include "net/http_server.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "tempo/tempo.pb.h"
#include "traces/api/tempo_api.h"
#include "traces/ingest/ids.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/ingest/receiver.h"
#include "traces/store/store.h"
#include "traces/test_traces.h"

namespace sightline::traces {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

// Store + receivers + Tempo API behind real servers on port 0.
struct Servers {
  explicit Servers(const std::string& data_dir, bool with_grpc = true) {
    store::StoreOptions so;
    so.data_dir = data_dir;
    so.registry = &registry;
    auto s = store::TraceStore::Open(so);
    if (!s.ok()) {
      ADD_FAILURE() << s.status().ToString();
      return;
    }
    store = std::move(s).value();
    ingest::ReceiverOptions ro;
    ro.registry = &registry;
    receiver = std::make_unique<ingest::TracesReceiver>(store.get(), ro);
    receiver->RegisterHttp(router);
    api::ApiOptions ao;
    ao.registry = &registry;
    api::RegisterTempoApi(router, store.get(), ao);
    net::HttpServerOptions ho;
    ho.listen = "127.0.0.1:0";
    ho.io_threads = 1;
    ho.worker_threads = 2;
    auto h = net::HttpServer::Start(ho, &router, &registry);
    if (!h.ok()) {
      ADD_FAILURE() << h.status().ToString();
      return;
    }
    http = std::move(h).value();
    if (!with_grpc) return;  // a forked child must not start gRPC's threads
    net::GrpcServerOptions go;
    go.listen = "127.0.0.1:0";
    grpc = std::make_unique<net::GrpcServer>(go);
    receiver->RegisterGrpc(*grpc);
    Status g = grpc->Start();
    if (!g.ok()) ADD_FAILURE() << g.ToString();
  }
  ~Servers() {
    if (http) http->Stop(100ms);
    if (grpc) grpc->Stop(100ms);
  }
  std::string url() const { return "http://" + http->bound_address(); }

  telemetry::Registry registry;
  std::unique_ptr<store::TraceStore> store;
  std::unique_ptr<ingest::TracesReceiver> receiver;
  net::Router router;
  std::unique_ptr<net::HttpServer> http;
  std::unique_ptr<net::GrpcServer> grpc;
};

std::string RunSdk(const std::string& transport, const std::string& endpoint) {
  std::string tools = th::ToolsDir();
  auto proc = th::Process::Start(
      {"node", th::SourceDir() + "/tests/traces/otel_trace_export.js", transport, endpoint},
      {{"NODE_PATH", tools + "/node_modules"},
       // The HTTP exporter gzips its bodies with this (the server undoes it).
       {"OTEL_EXPORTER_OTLP_COMPRESSION", transport == "http" ? "gzip" : "none"}});
  if (!proc.ok()) {
    ADD_FAILURE() << proc.status().ToString();
    return "";
  }
  std::optional<int> st = (*proc)->Wait(90s);
  if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    ADD_FAILURE() << transport << " export failed: " << (*proc)->Output();
    return "";
  }
  std::string out = (*proc)->Output();
  size_t p = out.find("{\"traceId\":\"");
  if (p == std::string::npos) {
    ADD_FAILURE() << out;
    return "";
  }
  return out.substr(p + 12, 32);
}

void CheckTraceViaApi(Servers& s, const std::string& trace_id, const std::string& service) {
  auto r = th::HttpGet(s.url() + "/api/traces/" + trace_id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"batches\""), std::string::npos);
  EXPECT_NE(r.body.find(service), std::string::npos);
  auto p = th::HttpGet(s.url() + "/api/v2/traces/" + trace_id, {"Accept: application/protobuf"});
  ASSERT_EQ(p.status, 200);
  tempopb::TraceByIDResponse resp;
  ASSERT_TRUE(resp.ParseFromString(p.body));
  int spans = 0, errors = 0;
  bool event = false, parent_ok = true;
  std::string root_id;
  for (const auto& rs : resp.trace().resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      EXPECT_EQ(ss.scope().name(), "sightline-test");
      EXPECT_EQ(ss.scope().version(), "1.2.3");
      for (const auto& sp : ss.spans()) {
        ++spans;
        EXPECT_EQ(IdToHex(sp.trace_id()), trace_id);
        if (sp.parent_span_id().empty()) root_id = sp.span_id();
        if (sp.status().code() == 2) {
          ++errors;
          EXPECT_EQ(sp.status().message(), "card declined");
        }
        for (const auto& e : sp.events()) event |= e.name() == "rows fetched";
      }
    }
  }
  EXPECT_EQ(spans, 3);
  EXPECT_EQ(errors, 1);
  EXPECT_TRUE(event);
  for (const auto& rs : resp.trace().resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& sp : ss.spans()) {
        if (!sp.parent_span_id().empty()) parent_ok &= sp.parent_span_id() == root_id;
      }
    }
  }
  EXPECT_TRUE(parent_ok);
}

TEST(OtelJsTracesTest, SdkOverHttpAndGrpcReadBackThroughTempoApi) {
  std::string tools = th::ToolsDir();
  std::error_code ec;
  for (const char* pkg : {"sdk-trace-base", "exporter-trace-otlp-proto", "exporter-trace-otlp-grpc"}) {
    if (!std::filesystem::exists(tools + "/node_modules/@opentelemetry/" + pkg, ec)) {
      GTEST_SKIP() << "@opentelemetry/" << pkg << " not installed in " << tools
                   << " (run scripts/bootstrap)";
    }
  }
  th::TempDir dir;
  Servers s(dir.path());
  ASSERT_TRUE(s.http && s.grpc);

  std::string http_id = RunSdk("http", s.url() + "/v1/traces");
  ASSERT_EQ(http_id.size(), 32u);
  CheckTraceViaApi(s, http_id, "shop-js-http");

  std::string grpc_id = RunSdk("grpc", "http://" + s.grpc->bound_address());
  ASSERT_EQ(grpc_id.size(), 32u);
  CheckTraceViaApi(s, grpc_id, "shop-js-grpc");

  // The same after the head was cut into a block.
  ASSERT_TRUE(s.store->CutAll(true).ok());
  CheckTraceViaApi(s, http_id, "shop-js-http");
  CheckTraceViaApi(s, grpc_id, "shop-js-grpc");
}

TEST(KillNineTest, AcknowledgedSpansSurviveSigkill) {
  th::TempDir dir;
  std::string port_file = dir.Join("port");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child serves until killed; it never returns to gtest.
    Servers s(dir.Join("data"), /*with_grpc=*/false);
    if (!s.http) _exit(3);
    th::WriteFile(port_file + ".tmp", s.url());
    std::filesystem::rename(port_file + ".tmp", port_file);
    for (;;) std::this_thread::sleep_for(1s);
  }
  std::string url;
  for (int i = 0; i < 600 && url.empty(); ++i) {
    std::error_code ec;
    if (std::filesystem::exists(port_file, ec)) url = th::ReadFile(port_file);
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(url.empty()) << "child server did not start";

  // Acknowledged writes, several traces, one of them in two parts.
  int acked = 0;
  for (uint64_t i = 1; i <= 30; ++i) {
    opentelemetry::proto::trace::v1::TracesData td;
    ingest::TraceToOtlp(traces::testing::MakeTrace(i, 3), &td);
    auto r = th::HttpPost(url + "/v1/traces", td.SerializeAsString(),
                          {"Content-Type: application/x-protobuf"});
    ASSERT_EQ(r.status, 200) << r.body;
    ++acked;
  }
  kill(child, SIGKILL);
  int st = 0;
  waitpid(child, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));

  store::StoreOptions so;
  so.data_dir = dir.Join("data");
  so.run_maintenance = false;
  telemetry::Registry reg;
  so.registry = &reg;
  auto s = store::TraceStore::Open(so);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (uint64_t i = 1; i <= 30; ++i) {
    auto t = (*s)->FindTraceById("anonymous", traces::testing::TraceId(i));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(t->has_value()) << "lost acknowledged trace " << i;
    EXPECT_EQ((*t)->spans.size(), 3u);
  }
  EXPECT_EQ(acked, 30);
}

}  // namespace
}  // namespace sightline::traces
