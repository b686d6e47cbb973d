// The traces signal in the real binary (tests/harness SightlineServer):
// the OpenTelemetry JS SDK over OTLP/HTTP and OTLP/gRPC, the trace read
// back through Tempo's API as Grafana calls it (v2 protobuf, v1 JSON,
// search, tags, echo, buildinfo), metrics from traces queried through the
// Prometheus API, and SIGKILL + restart on the same data dir losing nothing
// acknowledged. The OTel part is skipped when the npm packages are missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "harness/harness.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "tempo/tempo.pb.h"

namespace sightline::traces {
namespace {

using namespace std::chrono_literals;
namespace th = sightline::testing;

std::string Hex(uint64_t n) {
  char buf[33];
  snprintf(buf, sizeof(buf), "5a000000000000000000%012llx", static_cast<unsigned long long>(n));
  return buf;
}

std::string Bytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// One OTLP request with a 2-span trace of service "svc".
std::string OtlpRequest(uint64_t n) {
  opentelemetry::proto::trace::v1::TracesData td;
  auto* rs = td.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("svc");
  auto* ss = rs->add_scope_spans();
  uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (int i = 0; i < 2; ++i) {
    auto* sp = ss->add_spans();
    sp->set_trace_id(Bytes(Hex(n)));
    sp->set_span_id(Bytes("40000000000000" + std::string(i == 0 ? "01" : "02")));
    if (i == 1) sp->set_parent_span_id(Bytes("4000000000000001"));
    sp->set_name(i == 0 ? "GET /" : "db");
    sp->set_kind(i == 0 ? opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER
                        : opentelemetry::proto::trace::v1::Span::SPAN_KIND_CLIENT);
    sp->set_start_time_unix_nano(now - 1'000'000'000);
    sp->set_end_time_unix_nano(now - 900'000'000);
  }
  return td.SerializeAsString();
}

TEST(TracesServerTest, TempoApiAsGrafanaCallsIt) {
  th::TempDir cfg_dir;
  th::WriteFile(cfg_dir.Join("sightline.yaml"),
                "traces:\n  generator:\n    collection_interval: 1s\n");
  auto s = th::SightlineServer::Start({"--config.file=" + cfg_dir.Join("sightline.yaml")});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();

  auto r = th::HttpGet(url + "/api/echo");
  EXPECT_EQ(r.status, 200);
  r = th::HttpGet(url + "/api/status/buildinfo");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"version\":\"2."), std::string::npos) << r.body;

  r = th::HttpPost(url + "/v1/traces", OtlpRequest(1), {"Content-Type: application/x-protobuf"});
  ASSERT_EQ(r.status, 200) << r.body;

  // Grafana: v2 with protobuf first.
  r = th::HttpGet(url + "/api/v2/traces/" + Hex(1), {"Accept: application/protobuf"});
  ASSERT_EQ(r.status, 200) << r.body;
  tempopb::TraceByIDResponse v2;
  ASSERT_TRUE(v2.ParseFromString(r.body));
  ASSERT_EQ(v2.trace().resource_spans_size(), 1);
  EXPECT_EQ(v2.trace().resource_spans(0).scope_spans(0).spans_size(), 2);
  r = th::HttpGet(url + "/api/traces/" + Hex(1));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"batches\""), std::string::npos);
  EXPECT_EQ(th::HttpGet(url + "/api/traces/" + Hex(2)).status, 404);

  r = th::HttpGet(url + "/api/search?q=%7Bresource.service.name%3D%22svc%22%7D&limit=20&spss=3");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(Hex(1)), std::string::npos) << r.body;
  r = th::HttpGet(url + "/api/v2/search/tags");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("service.name"), std::string::npos);
  r = th::HttpGet(url + "/api/v2/search/tag/resource.service.name/values");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"svc\""), std::string::npos) << r.body;

  // Metrics from traces, through the Prometheus API.
  bool found = false;
  for (int i = 0; i < 100 && !found; ++i) {
    r = th::HttpGet(url + "/api/v1/query?query=traces_spanmetrics_calls_total");
    found = r.status == 200 && r.body.find("\"span_name\":\"GET /\"") != std::string::npos;
    if (!found) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(found) << r.body;
  r = th::HttpGet(url + "/api/v1/query?query=traces_spanmetrics_latency_count");
  EXPECT_NE(r.body.find("SPAN_KIND_SERVER"), std::string::npos) << r.body;
}

TEST(TracesServerTest, OtelJsSdkOverHttpAndGrpc) {
  std::string tools = th::ToolsDir();
  std::error_code ec;
  for (const char* pkg : {"sdk-trace-base", "exporter-trace-otlp-proto", "exporter-trace-otlp-grpc"}) {
    if (!std::filesystem::exists(tools + "/node_modules/@opentelemetry/" + pkg, ec)) {
      GTEST_SKIP() << "@opentelemetry/" << pkg << " not installed in " << tools
                   << " (run scripts/bootstrap)";
    }
  }
  auto s = th::SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (const std::string transport : {"http", "grpc"}) {
    std::string endpoint = transport == "http" ? (*s)->http_url() + "/v1/traces"
                                               : "http://" + (*s)->grpc_addr();
    auto proc = th::Process::Start(
        {"node", th::SourceDir() + "/tests/traces/otel_trace_export.js", transport, endpoint},
        {{"NODE_PATH", tools + "/node_modules"}});
    ASSERT_TRUE(proc.ok());
    auto st = (*proc)->Wait(90s);
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*proc)->Output();
    std::string out = (*proc)->Output();
    size_t p = out.find("{\"traceId\":\"");
    ASSERT_NE(p, std::string::npos) << out;
    std::string id = out.substr(p + 12, 32);
    auto r = th::HttpGet((*s)->http_url() + "/api/traces/" + id);
    ASSERT_EQ(r.status, 200) << transport;
    EXPECT_NE(r.body.find("shop-js-" + transport), std::string::npos);
    EXPECT_NE(r.body.find("card declined"), std::string::npos);
  }
}

TEST(TracesServerTest, KillNineLosesNothingAcknowledged) {
  th::TempDir data;
  {
    auto s = th::SightlineServer::Start({}, data.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    for (uint64_t i = 1; i <= 20; ++i) {
      auto r = th::HttpPost((*s)->http_url() + "/v1/traces", OtlpRequest(i),
                            {"Content-Type: application/x-protobuf"});
      ASSERT_EQ(r.status, 200) << r.body;
    }
    (*s)->process().Signal(SIGKILL);
    ASSERT_TRUE((*s)->process().Wait(10s).has_value());
  }
  auto s = th::SightlineServer::Start({}, data.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (uint64_t i = 1; i <= 20; ++i) {
    auto r = th::HttpGet((*s)->http_url() + "/api/traces/" + Hex(i));
    EXPECT_EQ(r.status, 200) << "lost acknowledged trace " << i;
  }
}

}  // namespace
}  // namespace sightline::traces
