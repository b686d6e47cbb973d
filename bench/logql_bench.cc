// LogQL engine: brute-force line-filter scan throughput, the figure Loki's
// sizing is built on (bytes of log lines a querier core scans per second).
//
// Dataset (built once): 200 streams x 5,000 realistic ~190-byte lines
// (nginx-style access logs and logfmt app logs, ~190 MB), served from memory
// by a minimal LogQuerier so the figure is the engine's, not a store's.
//
// Benchmarks (bytes_per_second = line bytes scanned per second, one core):
//   Contains       count_over_time({job="bench"} |= "trace_id=7f3a" [1h])
//   ContainsMiss   |= "no-such-needle"       (every line scanned in full)
//   NotContains    != "GET"
//   OrChain        |= "status=503" or "status=504" or "timeout"
//   Regex          |~ "status=5\\d\\d"
//   RegexCaseless  |~ "(?i)error"
//   Pattern        |> "<_>POST /api/<_>"
//   IpFilter       |= ip("10.0.0.0/8")
//   LogfmtFilter   | logfmt | status >= 500 | keep status   (parser path, for contrast)
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "logs/logql/engine.h"

namespace sightline::logs::logql {
namespace {

constexpr int kStreams = 200;
constexpr int kLinesPerStream = 5000;
constexpr int64_t kStepNs = 500'000'000;  // 0.5 s apart

struct Dataset {
  std::vector<Labels> labels;
  std::vector<std::vector<Entry>> entries;
  int64_t bytes = 0;
};

const Dataset& Data() {
  static const Dataset* d = [] {
    auto* ds = new Dataset();
    std::mt19937_64 rng(7);
    const char* methods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
    const char* paths[] = {"/api/v1/users", "/api/v1/orders", "/healthz", "/api/v2/cart",
                           "/static/app.js", "/api/v1/login"};
    const int statuses[] = {200, 200, 200, 200, 201, 204, 301, 404, 500, 503};
    for (int s = 0; s < kStreams; ++s) {
      ds->labels.push_back(Labels::FromStrings(
          {"job", "bench", "pod", "pod-" + std::to_string(s), "namespace", "ns-" + std::to_string(s % 10)}));
      std::vector<Entry> es;
      es.reserve(kLinesPerStream);
      for (int i = 0; i < kLinesPerStream; ++i) {
        char buf[512];
        uint64_t r = rng();
        if (s % 2 == 0) {
          snprintf(buf, sizeof buf,
                   "%u.%u.%u.%u - - [24/Nov/2026:03:%02d:%02d +0000] \"%s %s HTTP/1.1\" %d %u "
                   "\"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=0.%03u",
                   static_cast<unsigned>(r % 2 ? 10 : 192), static_cast<unsigned>((r >> 8) & 255),
                   static_cast<unsigned>((r >> 16) & 255), static_cast<unsigned>((r >> 24) & 255),
                   i / 60 % 60, i % 60, methods[(r >> 32) % 6], paths[(r >> 36) % 6],
                   statuses[(r >> 40) % 10], static_cast<unsigned>((r >> 44) % 50000),
                   static_cast<unsigned>((r >> 50) % 1000));
        } else {
          snprintf(buf, sizeof buf,
                   "ts=2026-11-24T03:%02d:%02dZ level=%s caller=server.go:%u msg=\"request "
                   "handled\" method=%s path=%s status=%d duration=%ums trace_id=%016llx",
                   i / 60 % 60, i % 60, (r % 20 == 0) ? "error" : "info",
                   static_cast<unsigned>((r >> 8) % 900 + 100), methods[(r >> 32) % 6],
                   paths[(r >> 36) % 6], statuses[(r >> 40) % 10],
                   static_cast<unsigned>((r >> 44) % 3000), static_cast<unsigned long long>(rng()));
        }
        ds->bytes += static_cast<int64_t>(strlen(buf));
        es.push_back(Entry{static_cast<int64_t>(i) * kStepNs, buf, {}});
      }
      ds->entries.push_back(std::move(es));
    }
    return ds;
  }();
  return *d;
}

class VecIt : public StreamIterator {
 public:
  VecIt(const Labels* l, const std::vector<Entry>* e) : l_(l), e_(e) {}
  const Labels& labels() const override { return *l_; }
  bool Next() override { return ++i_ <= e_->size(); }
  const Entry& entry() const override { return (*e_)[i_ - 1]; }
  Status status() const override { return Status::Ok(); }

 private:
  const Labels* l_;
  const std::vector<Entry>* e_;
  size_t i_ = 0;
};

class BenchQuerier : public LogQuerier {
 public:
  Result<std::vector<std::unique_ptr<StreamIterator>>> SelectLogs(const SelectLogsParams&) override {
    const Dataset& d = Data();
    std::vector<std::unique_ptr<StreamIterator>> out;
    for (int s = 0; s < kStreams; ++s) out.push_back(std::make_unique<VecIt>(&d.labels[s], &d.entries[s]));
    return out;
  }
  Result<std::vector<Labels>> Series(const std::vector<Matcher>&, int64_t, int64_t) override { return std::vector<Labels>{}; }
  Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>&, int64_t, int64_t) override { return std::vector<std::string>{}; }
  Result<std::vector<std::string>> LabelValues(const std::string&, const std::vector<Matcher>&, int64_t, int64_t) override { return std::vector<std::string>{}; }
};

void RunFilter(benchmark::State& state, const std::string& pipeline) {
  const Dataset& d = Data();
  BenchQuerier q;
  Engine engine;
  QueryParams p;
  p.query = "sum(count_over_time({job=\"bench\"} " + pipeline + " [1h]))";
  p.start_ns = p.end_ns = static_cast<int64_t>(kLinesPerStream) * kStepNs;
  auto parsed = Parse(p.query);
  if (!parsed.ok()) {
    state.SkipWithError(parsed.status().message().c_str());
    return;
  }
  double matched = 0;
  for (auto _ : state) {
    auto r = engine.Exec(q, *parsed, p);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      return;
    }
    matched = r->vector.empty() ? 0 : r->vector[0].v;
  }
  state.SetBytesProcessed(state.iterations() * d.bytes);
  state.counters["matched_lines"] = matched;
  state.counters["MB_scanned"] = static_cast<double>(d.bytes) / 1e6;
}

void BM_Contains(benchmark::State& s) { RunFilter(s, "|= \"trace_id=7f3a\""); }
void BM_ContainsMiss(benchmark::State& s) { RunFilter(s, "|= \"no-such-needle\""); }
void BM_NotContains(benchmark::State& s) { RunFilter(s, "!= \"GET\""); }
void BM_OrChain(benchmark::State& s) { RunFilter(s, "|= \"status=503\" or \"status=504\" or \"timeout\""); }
void BM_Regex(benchmark::State& s) { RunFilter(s, "|~ \"status=5\\\\d\\\\d\""); }
void BM_RegexCaseless(benchmark::State& s) { RunFilter(s, "|~ \"(?i)error\""); }
void BM_Pattern(benchmark::State& s) { RunFilter(s, "|> \"<_>POST /api/<_>\""); }
void BM_IpFilter(benchmark::State& s) { RunFilter(s, "|= ip(\"10.0.0.0/8\")"); }
void BM_LogfmtFilter(benchmark::State& s) { RunFilter(s, "| logfmt | status >= 500 | keep status"); }

BENCHMARK(BM_Contains)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ContainsMiss)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NotContains)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OrChain)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Regex)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RegexCaseless)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Pattern)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpFilter)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LogfmtFilter)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::logs::logql
