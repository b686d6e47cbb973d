// Traces hot paths:
//   OtlpIngestDecode: protobuf decode + conversion to the trace model + a
//     no-op sink (the receiver's own cost), per span;
//   OtlpIngestStore: the same into the real TraceStore (WAL without fsync,
//     head assembly), per span;
//   TraceById: find-by-id over many cut blocks (bloom + sorted index +
//     one row group read and decoded), per lookup;
//   BytesPerSpan: a block of realistic traces, stored bytes per span and the
//     ratio to the same spans as an OTLP protobuf request.
// Figures: spans_per_second (CPU time), latency per iteration, and counters.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <string>

#include "io/env.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/ingest/receiver.h"
#include "traces/store/block.h"
#include "traces/store/store.h"

namespace sightline::traces {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

std::string Id(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

KeyValue S(std::string k, std::string v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = std::move(v);
  return kv;
}
KeyValue I(std::string k, int64_t v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = v;
  return kv;
}

// A microservice-style trace: `spans` spans over a few services, HTTP and DB
// attributes as OTel instrumentations emit them.
Trace RealisticTrace(std::mt19937_64& rng, int spans, uint64_t start) {
  static const char* kServices[] = {"frontend", "checkout", "payments", "cart", "shipping"};
  static const char* kRoutes[] = {"/api/cart", "/api/checkout", "/api/orders/{id}", "/health"};
  Trace t;
  t.trace_id = Id(rng, 16);
  for (int r = 0; r < 3; ++r) {
    Resource res;
    res.attributes = {S("service.name", kServices[(rng() % 5)]), S("service.version", "1.4.2"),
                      S("k8s.namespace.name", "shop"), S("k8s.pod.name", "pod-" + std::to_string(rng() % 50)),
                      S("host.name", "node-" + std::to_string(rng() % 10)),
                      S("telemetry.sdk.language", "nodejs")};
    t.resources.push_back(std::move(res));
  }
  Scope sc;
  sc.name = "@opentelemetry/instrumentation-http";
  sc.version = "0.52.0";
  t.scopes.push_back(sc);
  for (int i = 0; i < spans; ++i) {
    Span s;
    s.span_id = Id(rng, 8);
    if (i > 0) s.parent_span_id = t.spans[(rng() % i)].span_id;
    s.resource_index = i % 3;
    s.kind = i == 0 ? 2 : (i % 2 ? 3 : 2);
    s.start_unix_nano = start + i * 150'000 + rng() % 1000;
    s.end_unix_nano = s.start_unix_nano + 200'000 + rng() % 5'000'000;
    if (i % 3 == 2) {
      s.name = "SELECT shop.orders";
      s.attributes = {S("db.system", "postgresql"), S("db.name", "shop"),
                      S("db.statement", "SELECT * FROM orders WHERE id = $1"),
                      S("net.peer.name", "pg-0.pg"), I("net.peer.port", 5432)};
    } else {
      const char* route = kRoutes[rng() % 4];
      s.name = std::string("GET ") + route;
      s.attributes = {S("http.method", "GET"), S("http.route", route),
                      S("http.target", std::string(route) + "?session=" + std::to_string(rng() % 100000)),
                      I("http.status_code", rng() % 20 ? 200 : 500), S("http.scheme", "http"),
                      S("net.host.name", "checkout"), I("net.host.port", 8080),
                      S("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")};
      if (rng() % 20 == 0) s.status_code = 2;
    }
    t.spans.push_back(std::move(s));
  }
  return t;
}

coltrace::ExportTraceServiceRequest Request(std::mt19937_64& rng, int traces, int spans) {
  opentelemetry::proto::trace::v1::TracesData td;
  for (int i = 0; i < traces; ++i) ingest::TraceToOtlp(RealisticTrace(rng, spans, kT0 + i * 1000000ull), &td);
  coltrace::ExportTraceServiceRequest req;
  req.mutable_resource_spans()->Swap(td.mutable_resource_spans());
  return req;
}

class NoopSink : public ingest::TraceSink {
 public:
  Status Push(std::string_view, std::vector<Trace> traces, ingest::PushResult*) override {
    for (auto& t : traces) spans += t.spans.size();
    return Status::Ok();
  }
  uint64_t spans = 0;
};

void BM_OtlpIngestDecode(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::string body = Request(rng, 100, 10).SerializeAsString();
  telemetry::Registry reg;
  NoopSink sink;
  ingest::ReceiverOptions o;
  o.registry = &reg;
  o.rate_limit_bytes = 0;
  ingest::TracesReceiver r(&sink, o);
  for (auto _ : state) {
    coltrace::ExportTraceServiceRequest req;
    req.ParseFromString(body);
    coltrace::ExportTraceServiceResponse resp;
    benchmark::DoNotOptimize(r.Export("t", req, body.size(), &resp));
  }
  state.counters["spans_per_second"] =
      benchmark::Counter(static_cast<double>(sink.spans), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OtlpIngestDecode);

void BM_OtlpIngestStore(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() / ("traces_bench_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(2);
  std::vector<std::string> bodies;
  for (int i = 0; i < 50; ++i) bodies.push_back(Request(rng, 100, 10).SerializeAsString());
  telemetry::Registry reg;
  store::StoreOptions so;
  so.data_dir = dir;
  so.run_maintenance = false;
  so.wal_sync = wal::SyncPolicy::kNone;
  so.registry = &reg;
  so.max_block_bytes = 1ull << 40;
  auto s = store::TraceStore::Open(so);
  ingest::ReceiverOptions o;
  o.registry = &reg;
  o.rate_limit_bytes = 0;
  ingest::TracesReceiver r(s->get(), o);
  uint64_t spans = 0;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    coltrace::ExportTraceServiceRequest req;
    req.ParseFromString(body);
    coltrace::ExportTraceServiceResponse resp;
    benchmark::DoNotOptimize(r.Export("t", req, body.size(), &resp));
    spans += 1000;
    if (i % 200 == 0) {
      state.PauseTiming();
      (void)(*s)->CutAll(true);  // keep the head bounded, as cuts do
      state.ResumeTiming();
    }
  }
  state.counters["spans_per_second"] = benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
  (void)(*s)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_OtlpIngestStore);

// Many cut blocks (each one 5-minute cut of a busy tenant, scaled down).
void BM_TraceById(benchmark::State& state) {
  const int blocks = static_cast<int>(state.range(0));
  const int per_block = 200;
  std::string dir = std::filesystem::temp_directory_path() / ("traces_bench_id_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(3);
  telemetry::Registry reg;
  store::StoreOptions so;
  so.data_dir = dir;
  so.run_maintenance = false;
  so.wal_sync = wal::SyncPolicy::kNone;
  so.registry = &reg;
  so.max_block_bytes = 1ull << 40;
  auto s = store::TraceStore::Open(so);
  std::vector<std::string> ids;
  for (int b = 0; b < blocks; ++b) {
    std::vector<Trace> batch;
    for (int i = 0; i < per_block; ++i) {
      batch.push_back(RealisticTrace(rng, 8, kT0 + (b * per_block + i) * 1000000ull));
      if (i % 97 == 0) ids.push_back(batch.back().trace_id);
    }
    ingest::PushResult pr;
    (void)(*s)->Push("t", std::move(batch), &pr);
    (void)(*s)->CutAll(true);
  }
  size_t i = 0;
  for (auto _ : state) {
    auto t = (*s)->FindTraceById("t", ids[(i++ * 7919) % ids.size()]);
    if (!t.ok() || !t->has_value()) state.SkipWithError("trace not found");
  }
  state.counters["blocks"] = blocks;
  (void)(*s)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TraceById)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_BytesPerSpan(benchmark::State& state) {
  std::mt19937_64 rng(4);
  std::vector<Trace> traces;
  for (int i = 0; i < 10000; ++i) traces.push_back(RealisticTrace(rng, 10, kT0 + i * 1000000ull));
  opentelemetry::proto::trace::v1::TracesData td;
  for (const auto& t : traces) ingest::TraceToOtlp(t, &td);
  double otlp_bytes = static_cast<double>(td.ByteSizeLong());
  std::vector<const Trace*> ptrs;
  for (const auto& t : traces) ptrs.push_back(&t);
  std::string dir = std::filesystem::temp_directory_path() / ("traces_bench_b_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  double stored = 0;
  for (auto _ : state) {
    auto meta = store::WriteBlock(io::Env::Default(), dir, "t", ptrs);
    if (!meta.ok()) state.SkipWithError("write failed");
    stored = static_cast<double>(meta->stats.at("numBytes"));
  }
  state.counters["bytes_per_span"] = stored / 100000.0;
  state.counters["otlp_bytes_per_span"] = otlp_bytes / 100000.0;
  state.counters["compression_vs_otlp"] = otlp_bytes / stored;
  state.counters["spans_per_second"] = benchmark::Counter(100000.0 * state.iterations(), benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BytesPerSpan)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace sightline::traces
