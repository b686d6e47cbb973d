// TraceQL evaluation throughput: spans scanned per second on one core over
// an in-memory TraceSource (the store's decode cost is not included; see
// traces_bench for that).
//
// 2,000 traces x 10 spans, 10 services, ~8 attributes per span. Each
// benchmark searches every trace (limit high enough never to stop early) and
// reports spans/s. Run:
//   build/release/bench/traceql_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "traces/traceql/engine.h"

namespace {

using namespace sightline;
using namespace sightline::traces;

KeyValue KV(std::string k, std::string v) { return {std::move(k), AttributeValue{std::move(v)}}; }
KeyValue KV(std::string k, int64_t v) { return {std::move(k), AttributeValue{v}}; }

std::vector<Trace> MakeTraces(int n_traces, int spans_per_trace) {
  std::mt19937_64 rng(42);
  std::vector<Trace> out;
  const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  const char* dbs[] = {"postgresql", "redis", "mysql"};
  for (int t = 0; t < n_traces; ++t) {
    Trace tr;
    tr.trace_id = std::string(16, '\0');
    for (int b = 0; b < 8; ++b) tr.trace_id[15 - b] = static_cast<char>((t + 1) >> (8 * b));
    for (int r = 0; r < 3; ++r) {
      Resource res;
      res.attributes = {KV("service.name", "svc-" + std::to_string((t + r) % 10)),
                        KV("host.name", "host-" + std::to_string(rng() % 50)),
                        KV("deployment.environment", "prod"), KV("k8s.namespace.name", "ns-1")};
      tr.resources.push_back(res);
    }
    tr.scopes.push_back(Scope{"io.opentelemetry.http", "1.0", {}, 0, ""});
    const uint64_t start =
        1'700'000'000'000'000'000ULL + static_cast<uint64_t>(t) * 1'000'000'000ULL;
    for (int s = 0; s < spans_per_trace; ++s) {
      Span sp;
      sp.span_id = std::string(8, '\0');
      sp.span_id[0] = static_cast<char>(s + 1);
      sp.span_id[7] = static_cast<char>(t);
      if (s > 0) {
        sp.parent_span_id = std::string(8, '\0');
        sp.parent_span_id[0] = static_cast<char>((s - 1) / 2 + 1);
        sp.parent_span_id[7] = static_cast<char>(t);
      }
      sp.name = (s % 3 == 0 ? "HTTP " : "op-") + std::to_string(s % 7);
      sp.kind = s == 0 ? 2 : (s % 2 ? 3 : 1);
      sp.start_unix_nano = start + static_cast<uint64_t>(s) * 1'000'000;
      sp.end_unix_nano = sp.start_unix_nano + (rng() % 200'000'000);
      sp.status_code = rng() % 50 == 0 ? 2 : 0;
      sp.resource_index = static_cast<uint32_t>(s % 3);
      int64_t code = rng() % 100 == 0 ? 500 : 200;
      sp.attributes = {KV("http.method", methods[rng() % 4]),
                       KV("http.status_code", code),
                       KV("http.url", "https://example.com/api/v" + std::to_string(rng() % 3) +
                                          "/items/" + std::to_string(rng() % 1000)),
                       KV("net.peer.name", "peer-" + std::to_string(rng() % 20)),
                       KV("db.system", dbs[rng() % 3]),
                       KV("thread.id", static_cast<int64_t>(rng() % 64)),
                       KV("user.id", "u" + std::to_string(rng() % 10000)),
                       KV("component", "http")};
      tr.spans.push_back(std::move(sp));
    }
    out.push_back(std::move(tr));
  }
  return out;
}

class VectorSource : public TraceSource {
 public:
  explicit VectorSource(const std::vector<Trace>* traces) : traces_(traces) {}
  Status Scan(const ScanParams&, const std::function<bool(const Trace&)>& fn) override {
    for (const Trace& t : *traces_) {
      if (!fn(t)) break;
    }
    return Status::Ok();
  }

 private:
  const std::vector<Trace>* traces_;
};

const std::vector<Trace>& Traces() {
  static const std::vector<Trace> kTraces = MakeTraces(2000, 10);
  return kTraces;
}

void RunSearch(benchmark::State& state, const char* query) {
  VectorSource src(&Traces());
  traceql::SearchRequest req;
  req.query = query;
  req.limit = 1'000'000;
  uint64_t spans = 0, matched = 0;
  for (auto _ : state) {
    auto r = traceql::Search(src, req);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    spans += r->metrics.inspected_spans;
    matched = r->traces.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["spans_per_sec"] =
      benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
  state.counters["matched_traces"] = static_cast<double>(matched);
}

void BM_AttributeEquality(benchmark::State& s) { RunSearch(s, "{ span.http.status_code = 500 }"); }
void BM_UnscopedString(benchmark::State& s) {
  RunSearch(s, R"({ .db.system = "redis" && kind = client })");
}
void BM_ResourceAndSpan(benchmark::State& s) {
  RunSearch(s, R"({ resource.service.name = "svc-3" && span.http.method = "POST" })");
}
void BM_Regex(benchmark::State& s) {
  RunSearch(s, R"({ span.http.url =~ ".*/api/v2/items/1.*" })");
}
void BM_DurationAndStatus(benchmark::State& s) {
  RunSearch(s, "{ duration > 150ms && status = error }");
}
void BM_Structural(benchmark::State& s) {
  RunSearch(s, R"({ kind = server } >> { span.db.system = "mysql" })");
}
void BM_Pipeline(benchmark::State& s) {
  RunSearch(s, "{ span.http.status_code = 500 } | count() > 1");
}
void BM_MatchAll(benchmark::State& s) { RunSearch(s, "{}"); }

void BM_MetricsRate(benchmark::State& state) {
  VectorSource src(&Traces());
  traceql::MetricsRequest req;
  req.query = "{ } | rate() by (resource.service.name)";
  req.start_unix_nano = 1'700'000'000'000'000'000ULL;
  req.end_unix_nano = req.start_unix_nano + 2001ULL * 1'000'000'000ULL;
  req.step_nano = 60'000'000'000ULL;
  uint64_t spans = 0;
  for (auto _ : state) {
    auto r = traceql::MetricsQueryRange(src, req);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    spans += r->metrics.inspected_spans;
    benchmark::DoNotOptimize(r);
  }
  state.counters["spans_per_sec"] =
      benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
}

void BM_Parse(benchmark::State& state) {
  const char* q =
      R"({ resource.service.name = "api" && span.http.status_code >= 500 } >> { kind = client } | count() > 2)";
  for (auto _ : state) {
    auto r = traceql::Parse(q);
    benchmark::DoNotOptimize(r);
  }
}

BENCHMARK(BM_AttributeEquality)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UnscopedString)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ResourceAndSpan)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Regex)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DurationAndStatus)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Structural)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Pipeline)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MatchAll)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MetricsRate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Parse)->Unit(benchmark::kMicrosecond);

}  // namespace
