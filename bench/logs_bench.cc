// Logs hot paths (issue 5, item 8): push ingest throughput (JSON decode +
// validation + WAL + head, no fsync), compression ratio of the realistic
// corpus (logs_corpus.h) per kind and per zstd setting, brute-force
// line-filter scan speed through the store's query path (and through the
// LogQL engine on top of it), and trace-id lookup latency over 30 days of
// hourly blocks.
//
//   ./build/h-lperf-rel/bench/logs_bench --benchmark_min_time=1
//   ./build/h-lperf-rel/bench/logs_bench --benchmark_filter=Compression
//
// Rates are per CPU second of the benchmark thread (one core) unless the
// benchmark says UseRealTime.
#include <benchmark/benchmark.h>
#include <re2/re2.h>

#include <filesystem>
#include <random>

#include "base/compression.h"
#include "io/env.h"
#include "logs/ingest/push.h"
#include "logs/ingest/validation.h"
#include "logs/logql/engine.h"
#include "logs/logql/line_matcher.h"
#include "logs/store/codec.h"
#include "logs/store/log_block.h"
#include "logs/store/log_store.h"
#include "logs_corpus.h"

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

// The previous benchmark's lines (every field random, a fresh trace id per
// line): kept for the ingest benchmark and for continuity of the
// compression figures. Web-service style logfmt and JSON lines with ids, paths, latencies.
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


// ------------------------------------------------------------ compression --

constexpr int kCorpusStreamsPerKind = 4;
constexpr int kCorpusLines = 6000;

const std::vector<PushStream>& Corpus(std::vector<bench::CorpusStats>* stats = nullptr) {
  static std::vector<bench::CorpusStats> st;
  static const std::vector<PushStream>* c = [] {
    int64_t t0 = 1'795'921'200'000'000'000;  // 2026-11-24T03:00:00Z
    return new std::vector<PushStream>(
        bench::MakeCorpus(kCorpusStreamsPerKind, kCorpusLines, t0, 42, &st));
  }();
  if (stats) *stats = st;
  return *c;
}

std::vector<PushStream> OfKind(const std::vector<PushStream>& all, bench::Kind k) {
  std::vector<PushStream> out;
  for (const auto& s : all) {
    if (s.labels.Get("container") == bench::KindName(k)) out.push_back(s);
  }
  return out;
}

// Writes one block per kind with the given chunk encoding; reports the ratio
// per kind and overall (line + metadata bytes / chunk bytes), the id-entropy
// ceiling, and the write speed (bytes of input per CPU second).
// Args: zstd level, long-distance matching (0/1), chunk block KiB.
void BM_Compression(benchmark::State& state) {
  std::vector<bench::CorpusStats> stats;
  const auto& corpus = Corpus(&stats);
  std::string dir = TempPath("compress");
  store::BlockWriteOptions wo;
  wo.chunk.zstd_level = static_cast<int>(state.range(0));
  wo.chunk.long_distance = state.range(1) != 0;
  wo.chunk_block_bytes = static_cast<size_t>(state.range(2)) << 10;
  const bench::Kind kinds[] = {bench::Kind::kNginx, bench::Kind::kJson, bench::Kind::kLogfmt,
                               bench::Kind::kJava};
  std::vector<std::vector<PushStream>> per_kind;
  for (auto k : kinds) per_kind.push_back(OfKind(corpus, k));
  int64_t bytes = 0;
  uint64_t raw_all = 0, comp_all = 0;
  for (auto _ : state) {
    raw_all = comp_all = 0;
    for (size_t i = 0; i < per_kind.size(); ++i) {
      auto meta = store::WriteLogBlock(io::Env::Default(), dir, "t", per_kind[i], {}, wo);
      if (!meta.ok()) {
        state.SkipWithError(meta.status().ToString().c_str());
        return;
      }
      uint64_t raw = meta->stats["numBytes"], comp = meta->stats["compressedBytes"];
      state.counters[std::string("ratio_") + bench::KindName(kinds[i])] =
          static_cast<double>(raw) / comp;
      raw_all += raw;
      comp_all += comp;
      bytes += static_cast<int64_t>(raw);
    }
  }
  state.counters["ratio_all"] = static_cast<double>(raw_all) / comp_all;
  state.counters["MB"] = raw_all / 1e6;
  bench::CorpusStats total;
  for (const auto& s : stats) {
    total.lines += s.lines;
    total.bytes += s.bytes;
    total.trace_ids += s.trace_ids;
    total.span_ids += s.span_ids;
    total.id_hex_bytes += s.id_hex_bytes;
  }
  for (int k = 0; k < 4; ++k) {
    state.counters[std::string("MB_") + bench::KindName(kinds[k])] = stats[k].bytes / 1e6;
    state.counters[std::string("lines_") + bench::KindName(kinds[k])] =
        static_cast<double>(stats[k].lines);
  }
  state.counters["id_hex_share_pct"] = 100.0 * total.id_hex_bytes / total.bytes;
  state.counters["ceiling_all"] = total.Ceiling();
  state.counters["ceiling_json"] = stats[1].Ceiling();
  state.counters["ceiling_logfmt"] = stats[2].Ceiling();
  state.SetBytesProcessed(bytes);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Compression)
    ->ArgNames({"level", "ldm", "block_kb"})
    ->Args({3, 0, 256})
    ->Args({9, 0, 256})  // the default
    ->Args({12, 0, 256})
    ->Args({15, 0, 256})
    ->Args({19, 0, 256})  // ~20 s of CPU
    ->Args({9, 1, 1024})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// The previous format (logs-v1: rows, one zstd level-3 frame per 256 KiB)
// over the same corpus, for the before/after figure.
void BM_CompressionV1Rows(benchmark::State& state) {
  const auto& corpus = Corpus();
  uint64_t raw = 0, comp = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    raw = comp = 0;
    for (const auto& s : corpus) {
      size_t i = 0;
      while (i < s.entries.size()) {
        std::vector<const Entry*> batch;
        size_t approx = 0;
        while (i < s.entries.size() && (batch.empty() || approx < store::kChunkBlockBytes)) {
          approx += s.entries[i].line.size() + 12;
          raw += s.entries[i].line.size();
          batch.push_back(&s.entries[i++]);
        }
        std::string enc;
        store::EncodeEntries(enc, batch.data(), batch.size());
        comp += Compress(Codec::kZstd, enc, 3)->size();
      }
    }
    bytes += static_cast<int64_t>(raw);
  }
  state.counters["ratio_all"] = static_cast<double>(raw) / comp;
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_CompressionV1Rows)->Unit(benchmark::kMillisecond)->Iterations(1);

// The old synthetic lines (random everything) in the current format.
void BM_CompressionRandomLines(benchmark::State& state) {
  std::string dir = TempPath("compress_rand");
  auto streams = MakeStreams(20, 5000, Now(), 7);
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
  state.counters["ratio_all"] = ratio;
  state.SetBytesProcessed(bytes);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CompressionRandomLines)->Unit(benchmark::kMillisecond)->Iterations(1);

// ------------------------------------------------------------------ scan --

// The corpus cut into one block of a log store (default chunk encoding),
// queried through the store's LogQuerier.
struct ScanFixture {
  std::string dir;
  std::unique_ptr<store::LogStore> st;
  std::unique_ptr<LogQuerier> q;
  int64_t bytes = 0;
  int64_t start = 0, end = 0;
};

ScanFixture& Scan() {
  static ScanFixture* f = [] {
    auto* f = new ScanFixture();
    f->dir = TempPath("scan");
    store::LogStoreOptions o;
    o.data_dir = f->dir;
    o.background = false;
    o.wal_sync = false;
    o.out_of_order_window_ns = 1ll << 62;
    auto st = store::LogStore::Open(o);
    auto streams = Corpus();
    f->start = INT64_MAX;
    f->end = INT64_MIN;
    for (const auto& s : streams) {
      for (const auto& e : s.entries) {
        f->bytes += static_cast<int64_t>(e.line.size());
        f->start = std::min(f->start, e.timestamp_ns);
        f->end = std::max(f->end, e.timestamp_ns + 1);
      }
    }
    AppendResult r;
    (void)(*st)->Append("t", streams, &r);
    (void)(*st)->CutAll();
    f->st = std::move(st).value();
    f->q = std::move(f->st->Querier("t")).value();
    return f;
  }();
  return *f;
}

// Args: 0 = `|= "needle-not-present"` (every byte searched, nothing
// returned), 1 = `|= "status=503"` (a few lines returned), 2 = no filter
// (every entry materialised).
void BM_StoreScan(benchmark::State& state) {
  ScanFixture& f = Scan();
  SelectLogsParams p;
  p.matchers.push_back(*Matcher::Make(promql::MatchType::kEqual, "namespace", "shop"));
  p.start_ns = f.start;
  p.end_ns = f.end;
  if (state.range(0) == 0) p.line_contains = {"needle-not-present"};
  if (state.range(0) == 1) p.line_contains = {"status=503"};
  int64_t entries = 0;
  for (auto _ : state) {
    auto its = f.q->SelectLogs(p);
    if (!its.ok()) {
      state.SkipWithError(its.status().ToString().c_str());
      return;
    }
    entries = 0;
    for (auto& it : *its) {
      while (it->Next()) {
        benchmark::DoNotOptimize(it->entry().line.data());
        ++entries;
      }
    }
  }
  state.counters["entries"] = static_cast<double>(entries);
  state.SetBytesProcessed(state.iterations() * f.bytes);
}
BENCHMARK(BM_StoreScan)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// The whole query path: LogQL engine over the store querier.
void BM_EngineStoreScan(benchmark::State& state) {
  ScanFixture& f = Scan();
  static const char* kQueries[] = {
      "sum(count_over_time({namespace=\"shop\"} |= \"needle-not-present\" [1d]))",
      "sum(count_over_time({namespace=\"shop\"} |= \"status=503\" [1d]))",
      "sum(count_over_time({namespace=\"shop\"} [1d]))",
      // Vectorscan over each chunk block's lines column (store pushdown).
      "sum(count_over_time({namespace=\"shop\"} |= \"status=503\" or \"timed out\" [1d]))",
      "sum(count_over_time({namespace=\"shop\"} |~ \"status=5\\\\d\\\\d\" [1d]))",
      "sum(count_over_time({namespace=\"shop\"} |~ \"(?i)error|warn\" [1d]))",
  };
  logql::Engine engine;
  logql::QueryParams qp;
  qp.query = kQueries[state.range(0)];
  qp.start_ns = qp.end_ns = f.end;
  double v = 0;
  for (auto _ : state) {
    auto r = engine.Exec(*f.q, qp);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    v = r->vector.empty() ? 0 : r->vector[0].v;
  }
  state.counters["matched"] = v;
  state.SetBytesProcessed(state.iterations() * f.bytes);
}
BENCHMARK(BM_EngineStoreScan)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

// ------------------------------------------------- line filter engines --
//
// memmem vs RE2 vs Vectorscan for LogQL line filters over the corpus in the
// store's real chunk-block layout (256 KiB of lines per block, decoded
// once; only matching is timed). Args: pattern (kFilterCases), engine:
//   0 = the reference (LineMatcher kRe2): memmem per literal term, RE2 per
//       regex term, line by line (what every filter did before)
//   1 = RE2 line by line with the chain as one alternation
//   2 = Vectorscan line by line (one hs_scan per line)
//   3 = Vectorscan over each block's whole lines column (one hs_scan per
//       block, match offsets mapped to lines)
//   4 = memmem over the whole column (single literals: the store's path)
struct FilterCase {
  const char* name;
  std::vector<logql::MatchTerm> terms;
};

const std::vector<FilterCase>& FilterCases() {
  using logql::MatchTerm;
  auto L = [](const char* s) { return MatchTerm{s, false}; };
  auto R = [](const char* s) { return MatchTerm{s, true}; };
  static const std::vector<FilterCase>* c = new std::vector<FilterCase>{
      {"lit_hit", {L("status=503")}},
      {"lit_miss", {L("needle-not-present")}},
      {"or2_hit", {L("status=503"), L("timed out")}},
      {"or2_miss", {L("needle-one"), L("needle-two")}},
      {"or5_hit", {L("status=503"), L("timed out"), L("NullPointerException"),
                   L("Connection is not available"), L("deadline exceeded")}},
      {"or5_miss", {L("needle-1"), L("needle-2"), L("needle-3"), L("needle-4"), L("needle-5")}},
      {"or20_miss", {L("needle-01"), L("needle-02"), L("needle-03"), L("needle-04"),
                     L("needle-05"), L("needle-06"), L("needle-07"), L("needle-08"),
                     L("needle-09"), L("needle-10"), L("needle-11"), L("needle-12"),
                     L("needle-13"), L("needle-14"), L("needle-15"), L("needle-16"),
                     L("needle-17"), L("needle-18"), L("needle-19"), L("needle-20")}},
      {"or20_hit", {L("needle-01"), L("needle-02"), L("needle-03"), L("needle-04"),
                    L("needle-05"), L("needle-06"), L("needle-07"), L("needle-08"),
                    L("needle-09"), L("needle-10"), L("needle-11"), L("needle-12"),
                    L("needle-13"), L("needle-14"), L("needle-15"), L("needle-16"),
                    L("needle-17"), L("needle-18"), L("needle-19"), L("timed out")}},
      {"ci_lit_hit", {R("(?i)error")}},
      {"ci_lit_miss", {R("(?i)needle-absent")}},
      {"re_ci_alt", {R("(?i)error|warn")}},
      {"re_status5xx", {R("status=5\\d\\d")}},
      {"re_status6xx_miss", {R("status=6\\d\\d")}},
      {"re_user_class", {R("user_[a-z]+@")}},
      {"re_dotstar", {R("order \\d+.*timed out")}},
  };
  return *c;
}

struct FilterBlocks {
  std::vector<std::unique_ptr<store::ChunkView>> views;
  int64_t bytes = 0;
  int64_t lines = 0;
};

const FilterBlocks& Blocks() {
  static const FilterBlocks* fb = [] {
    auto* fb = new FilterBlocks();
    store::ChunkEncoder enc;
    for (const auto& s : Corpus()) {
      size_t i = 0;
      while (i < s.entries.size()) {
        std::vector<const Entry*> part;
        size_t raw = 0;
        while (i < s.entries.size() && raw < store::kChunkBlockBytes) {
          raw += s.entries[i].line.size();
          part.push_back(&s.entries[i++]);
        }
        std::string data;
        if (!enc.Encode(part.data(), part.size(), &data).ok()) std::abort();
        auto v = std::make_unique<store::ChunkView>();
        if (!v->Decode(data).ok()) std::abort();
        fb->bytes += static_cast<int64_t>(v->lines().size());
        fb->lines += static_cast<int64_t>(v->size());
        fb->views.push_back(std::move(v));
      }
    }
    return fb;
  }();
  return *fb;
}

void BM_LineFilterEngines(benchmark::State& state) {
  const FilterCase& fc = FilterCases()[state.range(0)];
  const int engine = static_cast<int>(state.range(1));
  const FilterBlocks& fb = Blocks();
  state.SetLabel(fc.name);
  std::shared_ptr<const logql::LineMatcher> m;
  std::unique_ptr<re2::RE2> alt;
  if (engine == 0) {
    m = *logql::LineMatcher::Make(fc.terms, logql::MatchEngine::kRe2);
  } else if (engine == 1) {
    std::string re;
    for (const auto& t : fc.terms) {
      if (!re.empty()) re += "|";
      re += t.regex ? "(?:" + t.text + ")" : re2::RE2::QuoteMeta(t.text);
    }
    alt = std::make_unique<re2::RE2>(re);
  } else if (engine == 2 || engine == 3) {
    m = *logql::LineMatcher::Make(fc.terms, logql::MatchEngine::kVectorscan);
    if (m->vectorscan_terms() != fc.terms.size()) {
      state.SkipWithError("not every term is Vectorscan-compatible");
      return;
    }
  } else if (fc.terms.size() != 1 || fc.terms[0].regex) {
    state.SkipWithError("memmem column: single literals only");
    return;
  }
  std::vector<uint32_t> hits;
  int64_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const auto& v : fb.views) {
      hits.clear();
      if (engine == 3) {
        m->MatchColumn(v->lines(), v->offsets(), 0, v->size(), &hits);
      } else if (engine == 4) {
        std::string_view all = v->lines();
        const std::string& lit = fc.terms[0].text;
        size_t from = 0;
        while (from < all.size()) {
          const void* hit = memmem(all.data() + from, all.size() - from, lit.data(), lit.size());
          if (hit == nullptr) break;
          size_t i = v->EntryAt(static_cast<const char*>(hit) - all.data());
          std::string_view line = v->line(i);
          if (memmem(line.data(), line.size(), lit.data(), lit.size()) != nullptr) {
            hits.push_back(static_cast<uint32_t>(i));
          }
          from = v->off(i + 1);
        }
      } else {
        for (size_t i = 0; i < v->size(); ++i) {
          bool ok = engine == 1 ? re2::RE2::PartialMatch(v->line(i), *alt) : m->Match(v->line(i));
          if (ok) hits.push_back(static_cast<uint32_t>(i));
        }
      }
      matched += static_cast<int64_t>(hits.size());
    }
    benchmark::DoNotOptimize(matched);
  }
  state.counters["matched"] = static_cast<double>(matched);
  state.counters["ns_per_line"] = benchmark::Counter(
      static_cast<double>(fb.lines), benchmark::Counter::kIsIterationInvariantRate |
                                         benchmark::Counter::kInvert);
  state.SetBytesProcessed(state.iterations() * fb.bytes);
}
BENCHMARK(BM_LineFilterEngines)
    ->ArgsProduct({benchmark::CreateDenseRange(0, 14, 1), benchmark::CreateDenseRange(0, 4, 1)})
    ->Unit(benchmark::kMillisecond);

// A log query with a limit (Grafana's default 1000, backward): stops after
// the newest entries instead of decoding everything.
void BM_StoreLogQueryLimit(benchmark::State& state) {
  ScanFixture& f = Scan();
  logql::Engine engine;
  logql::QueryParams qp;
  qp.query = "{namespace=\"shop\"}";
  qp.start_ns = f.start;
  qp.end_ns = f.end;
  qp.limit = 1000;
  qp.direction = Direction::kBackward;
  for (auto _ : state) {
    auto r = engine.Exec(*f.q, qp);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->streams.size());
  }
}
BENCHMARK(BM_StoreLogQueryLimit)->Unit(benchmark::kMillisecond);

// 30 days of hourly blocks (720) in a log store, built once per process and
// shared by the trace benchmarks below.
struct TraceFixture {
  std::string dir;
  std::unique_ptr<store::LogStore> st;
  std::unique_ptr<LogQuerier> q;
  std::string want;
  int64_t t_end = 0;
};

TraceFixture& Trace30Days() {
  static TraceFixture* f = [] {
    auto* f = new TraceFixture();
    f->dir = TempPath("trace");
    int64_t hour = 3600ll * 1'000'000'000;
    f->t_end = Now();
    {
      store::LogStoreOptions o;
      o.data_dir = f->dir;
      o.background = false;
      o.wal_sync = false;
      o.out_of_order_window_ns = 40ll * 24 * hour;
      auto st = store::LogStore::Open(o);
      for (int h = 0; h < 720; ++h) {
        auto streams = MakeStreams(4, 500, f->t_end - (720 - h) * hour, 1000 + h);
        if (h == 500) f->want = streams[2].entries[123].line.substr(
            streams[2].entries[123].line.find("trace_id") + 11, 32);
        if (h == 500 && f->want.find('"') != std::string::npos) f->want.clear();
        AppendResult r;
        (void)(*st)->Append("t", streams, &r);
        (void)(*st)->CutAll();
      }
      (void)(*st)->Close();
    }
    store::LogStoreOptions o;
    o.data_dir = f->dir;
    o.background = false;
    f->st = std::move(store::LogStore::Open(o)).value();
    f->q = std::move(f->st->Querier("t")).value();
    return f;
  }();
  return *f;
}

// Look up one trace id through the store's trace_id hint.
void BM_TraceLookup30Days(benchmark::State& state) {
  TraceFixture& f = Trace30Days();
  int64_t hour = 3600ll * 1'000'000'000;
  SelectLogsParams p;
  p.matchers.push_back(*Matcher::Make(promql::MatchType::kEqual, "app", "shop"));
  p.start_ns = f.t_end - 721 * hour;
  p.end_ns = f.t_end;
  size_t found = 0;
  // logfmt lines carry "trace_id=<32 hex>"; JSON ones "trace_id":"<hex>".
  for (auto _ : state) {
    if (f.want.empty()) break;
    p.trace_id = f.want;
    auto its = f.q->SelectLogs(p);
    found = 0;
    for (auto& it : *its) {
      while (it->Next()) found += it->entry().line.find(f.want) != std::string::npos;
    }
  }
  state.counters["matching_lines"] = static_cast<double>(found);
  state.counters["blocks"] = 720;
}
BENCHMARK(BM_TraceLookup30Days)->Unit(benchmark::kMillisecond)->UseRealTime();

// Forwards to a querier, optionally hiding the line_trace_id hint (the
// engine's behaviour before the `|= "<trace id>"` pushdown).
class HintFilter final : public LogQuerier {
 public:
  HintFilter(LogQuerier* q, bool keep) : q_(q), keep_(keep) {}
  Result<std::vector<std::unique_ptr<StreamIterator>>> SelectLogs(
      const SelectLogsParams& p) override {
    SelectLogsParams c = p;
    if (!keep_) {
      c.line_trace_id.reset();
      c.label_trace_id.reset();
    }
    return q_->SelectLogs(c);
  }
  Result<std::vector<Labels>> Series(const std::vector<Matcher>& m, int64_t s, int64_t e) override {
    return q_->Series(m, s, e);
  }
  Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>& m, int64_t s,
                                              int64_t e) override {
    return q_->LabelNames(m, s, e);
  }
  Result<std::vector<std::string>> LabelValues(const std::string& n, const std::vector<Matcher>& m,
                                               int64_t s, int64_t e) override {
    return q_->LabelValues(n, m, s, e);
  }

 private:
  LogQuerier* q_;
  bool keep_;
};

// Grafana's trace-to-logs query, `{app="shop"} |= "<trace id>"` over 30
// days, through the LogQL engine. Arg: 0 = without the trace-index
// pushdown (brute-force scan of every chunk), 1 = with it; 2 / 3 the same
// for `{app="shop"} | json | trace_id="<trace id>"`.
void BM_TraceLineFilter30Days(benchmark::State& state) {
  TraceFixture& f = Trace30Days();
  if (f.want.empty()) {
    state.SkipWithError("no trace id picked");
    return;
  }
  HintFilter q(f.q.get(), state.range(0) % 2 == 1);
  logql::Engine engine;
  logql::QueryParams qp;
  qp.query = state.range(0) < 2 ? "{app=\"shop\"} |= \"" + f.want + "\""
                                : "{app=\"shop\"} | json | trace_id=\"" + f.want + "\"";
  qp.start_ns = f.t_end - 720 * 3600ll * 1'000'000'000;
  qp.end_ns = f.t_end;
  qp.step_ns = 0;
  qp.limit = 1000;
  size_t found = 0;
  for (auto _ : state) {
    auto r = engine.Exec(q, qp);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    found = 0;
    for (const auto& st : r->streams) found += st.entries.size();
  }
  state.counters["matching_lines"] = static_cast<double>(found);
}
BENCHMARK(BM_TraceLineFilter30Days)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sightline::logs
