// Logs hot paths (issue 5, item 8): push ingest throughput (JSON decode +
// validation + WAL + head, no fsync), compression ratio of realistic logs in
// blocks, brute-force line-filter scan speed over compressed chunk blocks,
// and trace-id lookup latency over 30 days of hourly blocks.
//
//   ./build/bench/bench/logs_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "base/compression.h"
#include "io/env.h"
#include "logs/ingest/push.h"
#include "logs/ingest/validation.h"
#include "logs/store/log_block.h"
#include "logs/store/log_store.h"

namespace sightline::logs {
namespace {

std::string TempPath(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("logs_bench_" + name + "_" +
                                                     std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

std::string Hex(std::mt19937_64& rng, int n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(d[rng() & 15]);
  return s;
}

// Web-service style logfmt and JSON lines with ids, paths, latencies.
std::string RealisticLine(std::mt19937_64& rng, int64_t i) {
  static const char* paths[] = {"/api/v1/cart", "/api/v1/items", "/api/v1/checkout",
                                "/health", "/api/v1/users/profile", "/api/v1/search"};
  static const char* levels[] = {"info", "info", "info", "info", "warn", "error", "debug"};
  static const char* methods[] = {"GET", "GET", "POST", "PUT"};
  int status = (rng() % 20 == 0) ? 500 : (rng() % 10 == 0 ? 404 : 200);
  if (i % 3 == 0) {
    return "{\"ts\":\"2026-11-24T03:" + std::to_string(10 + i % 50) + ":00Z\",\"level\":\"" +
           levels[rng() % 7] + "\",\"msg\":\"request completed\",\"method\":\"" +
           methods[rng() % 4] + "\",\"path\":\"" + paths[rng() % 6] +
           "\",\"status\":" + std::to_string(status) + ",\"duration_ms\":" +
           std::to_string(rng() % 900) + ",\"trace_id\":\"" + Hex(rng, 32) + "\",\"user_id\":" +
           std::to_string(rng() % 5000) + "}";
  }
  return "level=" + std::string(levels[rng() % 7]) + " caller=handler.go:" +
         std::to_string(40 + rng() % 200) + " msg=\"request completed\" method=" +
         methods[rng() % 4] + " path=" + paths[rng() % 6] + " status=" + std::to_string(status) +
         " duration=" + std::to_string(rng() % 900) + "ms bytes=" + std::to_string(rng() % 65536) +
         " trace_id=" + Hex(rng, 32) + " pod=checkout-7d9f8b-" + Hex(rng, 5);
}

std::vector<PushStream> MakeStreams(int streams, int per_stream, int64_t t0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<PushStream> out;
  for (int s = 0; s < streams; ++s) {
    PushStream ps;
    ps.labels = Labels::FromStrings({"app", "shop", "namespace", "prod", "pod",
                                     "pod-" + std::to_string(s), "container", "web"});
    for (int i = 0; i < per_stream; ++i) {
      ps.entries.push_back({t0 + i * 1'000'000, RealisticLine(rng, i), {}});
    }
    out.push_back(std::move(ps));
  }
  return out;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void BM_PushIngest(benchmark::State& state) {
  std::string dir = TempPath("push");
  store::LogStoreOptions o;
  o.data_dir = dir;
  o.background = false;
  o.wal_sync = false;
  auto st = store::LogStore::Open(o);
  if (!st.ok()) {
    state.SkipWithError(st.status().ToString().c_str());
    return;
  }
  // The distributor's path without HTTP: decode, validate, WAL + head.
  ingest::Limits limits;
  limits.ingestion_rate_bytes = 0;
  limits.per_stream_rate_bytes = 0;
  ingest::Validator validator(limits);
  // Pre-encode JSON push bodies of 10 streams x 100 lines.
  std::vector<std::string> bodies;
  int64_t t0 = Now();
  int64_t raw = 0;
  for (int b = 0; b < 20; ++b) {
    auto streams = MakeStreams(10, 100, t0 + b * 100'000'000, b);
    std::string body = "{\"streams\":[";
    for (size_t s = 0; s < streams.size(); ++s) {
      body += s ? "," : "";
      body += "{\"stream\":{\"app\":\"shop\",\"pod\":\"pod-" + std::to_string(s) + "\"},\"values\":[";
      for (size_t i = 0; i < streams[s].entries.size(); ++i) {
        const auto& e = streams[s].entries[i];
        body += i ? "," : "";
        body += "[\"" + std::to_string(e.timestamp_ns) + "\",";
        std::string esc;
        for (char c : e.line) {
          if (c == '"' || c == '\\') esc.push_back('\\');
          esc.push_back(c);
        }
        body += "\"" + esc + "\"]";
      }
      body += "]}";
    }
    body += "]}";
    bodies.push_back(std::move(body));
  }
  for (const auto& b : bodies) raw += static_cast<int64_t>(b.size());
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    auto streams = ingest::DecodePushJson(body);
    auto rep = validator.Validate("bench", *streams, Now());
    AppendResult out;
    Status s = (*st)->Append("bench", *streams, &out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(rep);
    bytes += static_cast<int64_t>(body.size());
  }
  state.SetBytesProcessed(bytes);
  (void)(*st)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PushIngest)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BlockCompression(benchmark::State& state) {
  std::string dir = TempPath("compress");
  auto streams = MakeStreams(20, 20000, Now(), 7);
  double ratio = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    auto meta = store::WriteLogBlock(io::Env::Default(), dir, "t", streams, {});
    if (!meta.ok()) {
      state.SkipWithError(meta.status().ToString().c_str());
      return;
    }
    ratio = static_cast<double>(meta->stats["numBytes"]) / meta->stats["compressedBytes"];
    bytes += static_cast<int64_t>(meta->stats["numBytes"]);
  }
  state.counters["compression_ratio"] = ratio;
  state.SetBytesProcessed(bytes);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BlockCompression)->Unit(benchmark::kMillisecond)->Iterations(3);

// Decompress every chunk block of a block and search each line for a string
// that is not there (the worst case of `|= "needle"`).
void BM_LineFilterScan(benchmark::State& state) {
  std::string dir = TempPath("scan");
  auto streams = MakeStreams(10, 40000, Now(), 11);
  auto meta = store::WriteLogBlock(io::Env::Default(), dir, "t", streams, {});
  auto block = store::LogBlock::Open(
      store::LocalBlockSource(io::Env::Default(), dir + "/" + meta->ulid.ToString()), *meta);
  // Keep compressed chunk blocks in memory: measure CPU, not the disk.
  std::vector<std::string> comp;
  for (const auto& s : (*block)->index().streams) {
    std::string all = io::Env::Default()
                          ->ReadFile(dir + "/" + meta->ulid.ToString() + "/chunks/000001")
                          .value();
    for (const auto& c : s.chunks) comp.push_back(all.substr(c.offset, c.length));
  }
  int64_t bytes = 0, hits = 0;
  std::vector<Entry> entries;
  for (auto _ : state) {
    for (const auto& c : comp) {
      auto raw = Decompress(Codec::kZstd, c, 64 << 20);
      entries.clear();
      (void)store::DecodeEntries(*raw, &entries);
      for (const auto& e : entries) {
        bytes += static_cast<int64_t>(e.line.size());
        if (e.line.find("needle-not-present") != std::string::npos) ++hits;
      }
    }
  }
  benchmark::DoNotOptimize(hits);
  state.SetBytesProcessed(bytes);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LineFilterScan)->Unit(benchmark::kMillisecond)->UseRealTime();

// 30 days of hourly blocks (720) in a log store; look up one trace id.
void BM_TraceLookup30Days(benchmark::State& state) {
  std::string dir = TempPath("trace");
  int64_t hour = 3600ll * 1'000'000'000;
  int64_t t_end = Now();
  std::string want;
  {
    store::LogStoreOptions o;
    o.data_dir = dir;
    o.background = false;
    o.wal_sync = false;
    o.out_of_order_window_ns = 40ll * 24 * hour;
    auto st = store::LogStore::Open(o);
    for (int h = 0; h < 720; ++h) {
      auto streams = MakeStreams(4, 500, t_end - (720 - h) * hour, 1000 + h);
      if (h == 500) want = streams[2].entries[123].line.substr(
          streams[2].entries[123].line.find("trace_id") + 11, 32);
      if (h == 500 && want.find('"') != std::string::npos) want.clear();
      AppendResult r;
      (void)(*st)->Append("t", streams, &r);
      (void)(*st)->CutAll();
    }
    (void)(*st)->Close();
  }
  store::LogStoreOptions o;
  o.data_dir = dir;
  o.background = false;
  auto st = store::LogStore::Open(o);
  auto q = (*st)->Querier("t");
  SelectLogsParams p;
  p.matchers.push_back(*Matcher::Make(promql::MatchType::kEqual, "app", "shop"));
  p.start_ns = t_end - 721 * hour;
  p.end_ns = t_end;
  size_t found = 0;
  // logfmt lines carry "trace_id=<32 hex>"; JSON ones "trace_id":"<hex>".
  for (auto _ : state) {
    if (want.empty()) break;
    p.trace_id = want;
    auto its = (*q)->SelectLogs(p);
    found = 0;
    for (auto& it : *its) {
      while (it->Next()) found += it->entry().line.find(want) != std::string::npos;
    }
  }
  state.counters["matching_lines"] = static_cast<double>(found);
  state.counters["blocks"] = 720;
  (void)(*st)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TraceLookup30Days)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sightline::logs
