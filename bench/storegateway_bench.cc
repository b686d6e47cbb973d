// Store gateway query cost over N blocks in an object store, cold vs warm:
//  - BM_BucketQuery/cold:     a fresh BucketStore, empty caches and no local
//                             index-headers (first query after a deploy);
//  - BM_BucketQuery/restart:  index-headers on disk, caches empty (first
//                             query after a restart);
//  - BM_BucketQuery/warm:     the same BucketStore, caches filled (steady
//                             state);
//  - BM_BucketQuery/download: what the store gateway did before index-
//                             headers: download each whole index, open it
//                             locally, then read chunks through the page
//                             cache (emulated here with the same readers).
// Each block holds 1,000 series x 2 h at 15 s (480 samples, 4 XOR chunks);
// the query selects 100 series ({job="j3"}) over every block and reads all
// their samples; BM_BucketQueryOne selects one series. The store is in
// memory, with an optional per-request latency (SG_BENCH_LATENCY_US,
// default 0) to model S3 round trips. Counters: store_requests and
// store_bytes (GET + GetRange) per query.
//
//   build/h-storegw-rel/bench/storegateway_bench
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "blocks/bucket.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "io/object_file.h"
#include "metrics/storegateway/bucket_store.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/db_querier.h"
#include "metrics/tsdb/index/index_reader.h"
#include "metrics/tsdb/index/index_cache.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::storegateway {
namespace {

const bool kQuiet = [] {
  log::SetLevel(log::Level::kWarn);
  return true;
}();

constexpr int kSeries = 1000;
constexpr int64_t kStep = 15'000;
constexpr int64_t kBlockMs = 2 * 3600 * 1000;
constexpr int64_t kT0 = 1'700'000'000'000 / kBlockMs * kBlockMs;

std::string TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/sg_bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

// Counts bytes read (the faulty store counts calls and adds latency).
class ByteCountingStore final : public io::ObjectStore {
 public:
  explicit ByteCountingStore(io::ObjectStore* inner) : inner_(inner) {}
  std::atomic<uint64_t> bytes{0};
  Status Put(std::string_view k, std::string_view d, const io::PutOptions& o = {}) override {
    return inner_->Put(k, d, o);
  }
  Status PutFile(std::string_view k, const std::string& p, const io::PutOptions& o = {}) override {
    return inner_->PutFile(k, p, o);
  }
  Result<std::string> Get(std::string_view k) override {
    auto r = inner_->Get(k);
    if (r.ok()) bytes += r->size();
    return r;
  }
  Result<std::string> GetRange(std::string_view k, uint64_t off, uint64_t len) override {
    auto r = inner_->GetRange(k, off, len);
    if (r.ok()) bytes += r->size();
    return r;
  }
  Result<io::ObjectInfo> Head(std::string_view k) override { return inner_->Head(k); }
  Result<io::ListPage> List(const io::ListOptions& o) override { return inner_->List(o); }
  Status Delete(std::string_view k) override { return inner_->Delete(k); }
  Status DeleteMany(const std::vector<std::string>& k) override { return inner_->DeleteMany(k); }
  std::string Describe() const override { return "bytes(" + inner_->Describe() + ")"; }

 private:
  io::ObjectStore* inner_;
};

// The bucket with `n` blocks, built once per block count.
struct Bucket {
  io::MemoryObjectStore mem;
  std::unique_ptr<io::FaultyObjectStore> faulty;
  std::unique_ptr<ByteCountingStore> store;
  std::vector<blocks::BlockMeta> metas;
  int blocks = 0;
  uint64_t index_bytes = 0;
};

Bucket& GetBucket(int n) {
  static std::map<int, std::unique_ptr<Bucket>> cache;
  auto& b = cache[n];
  if (b) return *b;
  b = std::make_unique<Bucket>();
  io::FaultOptions fo;
  if (const char* l = std::getenv("SG_BENCH_LATENCY_US")) fo.latency = std::chrono::microseconds(atoi(l));
  b->faulty = std::make_unique<io::FaultyObjectStore>(&b->mem, fo);
  b->store = std::make_unique<ByteCountingStore>(b->faulty.get());
  io::Env* env = io::Env::Default();
  std::string tmp = TempDir();
  for (int i = 0; i < n; ++i) {
    std::vector<tsdb::SeriesInput> series(kSeries);
    std::vector<std::pair<std::string, int>> names;
    for (int s = 0; s < kSeries; ++s) {
      char inst[32];
      std::snprintf(inst, sizeof(inst), "10.0.%d.%d:9100", s / 250, s % 250);
      series[s].labels = tsdb::Labels::FromStrings(
          {"__name__", "node_cpu_seconds_total", "job", "j" + std::to_string(s % 10),
           "instance", inst, "mode", "user"});
    }
    std::sort(series.begin(), series.end(),
              [](const auto& a, const auto& b) { return a.labels < b.labels; });
    const int64_t start = kT0 + i * kBlockMs;
    for (int s = 0; s < kSeries; ++s) {
      for (int64_t t = start; t < start + kBlockMs; t += kStep) {
        series[s].samples.push_back({t, static_cast<double>(t / 1000 + s)});
      }
    }
    tsdb::WriteBlockOptions o;
    o.min_time = start;
    o.max_time = start + kBlockMs;
    o.meta.labels = {{"cluster", "bench"}};
    auto ulid = tsdb::WriteBlock(env, tmp, series, o);
    if (!ulid.ok()) std::abort();
    std::string dir = tmp + "/" + ulid->ToString();
    std::string prefix = blocks::BlockPrefix("metrics/bench/", *ulid);
    auto meta = *blocks::BlockMeta::Parse(*env->ReadFile(dir + "/meta.json"));
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::string rel = std::filesystem::relative(e.path(), dir).string();
      if (rel == "meta.json") continue;
      std::string data = *env->ReadFile(e.path().string());
      (void)b->mem.Put(prefix + rel, data);
      meta.files.push_back({rel, data.size()});
      if (rel == "index") b->index_bytes += data.size();
    }
    (void)b->mem.Put(prefix + "meta.json", meta.ToJson());
    b->metas.push_back(meta);
  }
  std::filesystem::remove_all(tmp);
  b->blocks = n;
  return *b;
}

std::vector<promql::Matcher> Selector(bool one) {
  auto name = *promql::Matcher::Make(promql::MatchType::kEqual, "__name__",
                                     "node_cpu_seconds_total");
  if (one) {
    return {name, *promql::Matcher::Make(promql::MatchType::kEqual, "instance", "10.0.1.7:9100")};
  }
  return {name, *promql::Matcher::Make(promql::MatchType::kEqual, "job", "j3")};
}

int64_t Drain(metrics::Querier& q, bool one) {
  auto set = q.Select(true, nullptr, Selector(one));
  int64_t samples = 0;
  while (set->Next()) {
    auto it = set->At().Iterator();
    while (it->Next()) ++samples;
    if (!it->err().ok()) std::abort();
  }
  if (!set->err().ok()) std::abort();
  return samples;
}

int64_t RunQuery(BucketStore& bs, int n, bool one) {
  auto q = bs.Querier(kT0, kT0 + n * kBlockMs);
  return Drain(*q, one);
}

// The previous design: each block's whole index downloaded to local disk
// and opened there; chunks through object files and the page cache.
int64_t RunDownloadQuery(Bucket& bucket, const std::string& local, io::PageCache* pc, int n,
                         bool one) {
  io::Env* env = io::Env::Default();
  std::vector<std::unique_ptr<metrics::Querier>> parts;
  for (const blocks::BlockMeta& meta : bucket.metas) {
    std::string prefix = blocks::BlockPrefix("metrics/bench/", meta.ulid);
    auto data = bucket.store->Get(prefix + "index");
    if (!data.ok()) std::abort();
    std::string dir = local + "/" + meta.ulid.ToString();
    if (!io::CreateDirsDurable(*env, dir).ok() || !env->WriteFileAtomic(dir + "/index", *data).ok())
      std::abort();
    auto ix = tsdb::IndexReader::Open(env, dir + "/index");
    if (!ix.ok()) std::abort();
    std::vector<std::unique_ptr<io::RandomAccessFile>> files;
    std::vector<std::string> names;
    for (const auto& f : meta.files) {
      if (f.rel_path.rfind("chunks/", 0) != 0) continue;
      files.push_back(*io::OpenObjectFile(bucket.store.get(), prefix + f.rel_path, pc, f.size_bytes));
      names.push_back(prefix + f.rel_path);
    }
    auto chunks = tsdb::ChunkReader::FromFiles(std::move(files), std::move(names));
    auto reader = tsdb::BlockReader::FromParts(meta, std::move(*ix), std::move(*chunks), {}, prefix);
    if (!reader.ok()) std::abort();
    parts.push_back(tsdb::NewBlockQuerier(std::shared_ptr<const tsdb::BlockReader>(std::move(*reader)),
                                          kT0, kT0 + n * kBlockMs));
  }
  auto q = tsdb::NewMergeQuerier(std::move(parts));
  return Drain(*q, one);
}

// mode: 0 cold, 1 restart, 2 warm, 3 download (the old design, cold).
void RunBench(benchmark::State& state, bool one) {
  const int n = static_cast<int>(state.range(0));
  const int mode = static_cast<int>(state.range(1));
  Bucket& bucket = GetBucket(n);
  telemetry::Registry reg;
  std::string local = TempDir();
  auto make = [&](io::PageCache* pc, tsdb::IndexCache* ic) {
    BucketStoreOptions o;
    o.store = bucket.store.get();
    o.tenant = "bench";
    o.local_dir = local;
    o.page_cache = pc;
    o.index_cache = ic;
    o.registry = &reg;
    auto bs = std::make_unique<BucketStore>(o);
    if (!bs->Sync().ok()) std::abort();
    return bs;
  };
  io::PageCacheOptions po;
  po.registry = &reg;
  tsdb::LruIndexCacheOptions ico;
  ico.registry = &reg;
  // Warm state shared across iterations.
  auto pc = std::make_unique<io::PageCache>(po);
  auto ic = std::make_unique<tsdb::LruIndexCache>(ico);
  auto warm = make(pc.get(), ic.get());
  RunQuery(*warm, n, one);
  int64_t samples = 0;
  auto calls = [&] {
    return bucket.faulty->calls(io::kFaultGetRange) + bucket.faulty->calls(io::kFaultGet);
  };
  for (auto _ : state) {
    uint64_t calls_before = calls();
    uint64_t bytes_before = bucket.store->bytes;
    if (mode == 2) {
      samples = RunQuery(*warm, n, one);
    } else {
      state.PauseTiming();
      if (mode != 1) std::filesystem::remove_all(local);
      auto fresh_pc = std::make_unique<io::PageCache>(po);
      auto fresh_ic = std::make_unique<tsdb::LruIndexCache>(ico);
      std::unique_ptr<BucketStore> bs;
      if (mode != 3) bs = make(fresh_pc.get(), fresh_ic.get());
      calls_before = calls();
      bytes_before = bucket.store->bytes;
      state.ResumeTiming();
      samples = mode == 3 ? RunDownloadQuery(bucket, local, fresh_pc.get(), n, one)
                          : RunQuery(*bs, n, one);
      state.PauseTiming();
      bs.reset();
      state.ResumeTiming();
    }
    state.counters["store_requests"] = static_cast<double>(calls() - calls_before);
    state.counters["store_bytes"] = static_cast<double>(bucket.store->bytes - bytes_before);
  }
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["blocks"] = n;
  state.counters["index_bytes"] = static_cast<double>(bucket.index_bytes);
  static const char* kModes[] = {"cold", "restart", "warm", "download"};
  state.SetLabel(kModes[mode]);
  warm.reset();
  std::filesystem::remove_all(local);
}

void BM_BucketQuery(benchmark::State& state) { RunBench(state, false); }
void BM_BucketQueryOne(benchmark::State& state) { RunBench(state, true); }
BENCHMARK(BM_BucketQuery)
    ->ArgsProduct({{4, 12}, {0, 1, 2, 3}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_BucketQueryOne)
    ->ArgsProduct({{4}, {0, 1, 2, 3}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sightline::storegateway
