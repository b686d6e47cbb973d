// Store gateway query cost over N blocks in an object store, cold vs warm:
//  - BM_BucketQuery/cold:     a fresh BucketStore, empty caches and no local
//                             index copies (first query after a deploy);
//  - BM_BucketQuery/restart:  local index copies present, caches empty (first
//                             query after a restart);
//  - BM_BucketQuery/warm:     the same BucketStore, caches filled (steady
//                             state).
// Each block holds 1,000 series x 2 h at 15 s (480 samples, 4 XOR chunks);
// the query selects 100 series ({job="j3"}) over every block and reads all
// their samples. The store is in memory, with an optional per-request
// latency (SG_BENCH_LATENCY_US, default 0) to model S3 round trips.
//
//   build/h-storegw-rel/bench/storegateway_bench
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
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

// The bucket with `n` blocks, built once per block count.
struct Bucket {
  io::MemoryObjectStore mem;
  std::unique_ptr<io::FaultyObjectStore> store;
  int blocks = 0;
};

Bucket& GetBucket(int n) {
  static std::map<int, std::unique_ptr<Bucket>> cache;
  auto& b = cache[n];
  if (b) return *b;
  b = std::make_unique<Bucket>();
  io::FaultOptions fo;
  if (const char* l = std::getenv("SG_BENCH_LATENCY_US")) fo.latency = std::chrono::microseconds(atoi(l));
  b->store = std::make_unique<io::FaultyObjectStore>(&b->mem, fo);
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
    }
    (void)b->mem.Put(prefix + "meta.json", meta.ToJson());
  }
  std::filesystem::remove_all(tmp);
  b->blocks = n;
  return *b;
}

int64_t RunQuery(BucketStore& bs, int n) {
  auto q = bs.Querier(kT0, kT0 + n * kBlockMs);
  auto m = *promql::Matcher::Make(promql::MatchType::kEqual, "job", "j3");
  auto name = *promql::Matcher::Make(promql::MatchType::kEqual, "__name__",
                                     "node_cpu_seconds_total");
  auto set = q->Select(true, nullptr, {name, m});
  int64_t samples = 0;
  while (set->Next()) {
    auto it = set->At().Iterator();
    while (it->Next()) ++samples;
    if (!it->err().ok()) std::abort();
  }
  if (!set->err().ok()) std::abort();
  return samples;
}

// mode: 0 cold, 1 restart, 2 warm.
void BM_BucketQuery(benchmark::State& state) {
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
  RunQuery(*warm, n);
  int64_t samples = 0;
  for (auto _ : state) {
    if (mode == 2) {
      samples = RunQuery(*warm, n);
      continue;
    }
    state.PauseTiming();
    if (mode == 0) std::filesystem::remove_all(local);
    auto fresh_pc = std::make_unique<io::PageCache>(po);
    auto fresh_ic = std::make_unique<tsdb::LruIndexCache>(ico);
    auto bs = make(fresh_pc.get(), fresh_ic.get());
    uint64_t calls_before = bucket.store->calls(io::kFaultGetRange) + bucket.store->calls(io::kFaultGet);
    state.ResumeTiming();
    samples = RunQuery(*bs, n);
    state.PauseTiming();
    state.counters["store_requests"] = static_cast<double>(
        bucket.store->calls(io::kFaultGetRange) + bucket.store->calls(io::kFaultGet) - calls_before);
    bs.reset();
    state.ResumeTiming();
  }
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["blocks"] = n;
  state.SetLabel(mode == 0 ? "cold" : mode == 1 ? "restart" : "warm");
  warm.reset();
  std::filesystem::remove_all(local);
}
BENCHMARK(BM_BucketQuery)
    ->ArgsProduct({{4, 12}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sightline::storegateway
