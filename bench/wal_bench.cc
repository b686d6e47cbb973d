// WAL benchmarks: append throughput (records/s and bytes/s) with 1 and 8
// appending threads, kAlways (fdatasync per group commit) and kNone, on the
// real disk; replay throughput. The directory is $WAL_BENCH_DIR or $TMPDIR
// or /tmp (put it on the disk you want to measure).
//
//   build/h-wal-rel/bench/wal_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "io/env.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "wal/wal.h"

namespace sightline::wal {
namespace {

std::string MakeTempDir() {
  const char* base = std::getenv("WAL_BENCH_DIR");
  if (base == nullptr) base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/wal_bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

// "WAL replayed" lines would drown the figures.
const bool kQuiet = [] {
  log::SetLevel(log::Level::kWarn);
  return true;
}();

telemetry::Registry& BenchRegistry() {
  static telemetry::Registry r;
  return r;
}

struct Shared {
  std::string dir;
  std::unique_ptr<Wal> wal;
  uint64_t fsyncs_before = 0;
};
Shared* g_shared = nullptr;

uint64_t FsyncCount() {
  std::string text = BenchRegistry().Expose();
  std::string key = "\nbench_wal_fsync_duration_seconds_count ";
  size_t at = ("\n" + text).find(key);
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + key.size() - 1));
}

// Args: record size, sync policy (0 kAlways, 1 kNone).
void BM_Append(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const auto policy = state.range(1) == 0 ? SyncPolicy::kAlways : SyncPolicy::kNone;
  if (state.thread_index() == 0) {
    g_shared = new Shared();
    g_shared->dir = MakeTempDir();
    WalOptions o;
    o.dir = g_shared->dir + "/wal";
    o.sync_policy = policy;
    o.registry = &BenchRegistry();
    o.metrics_prefix = "bench_wal_";
    auto wal = Wal::Open(o);
    if (!wal.ok() || !(*wal)->Replay([](auto, auto) { return Status::Ok(); }).ok()) std::abort();
    g_shared->wal = std::move(*wal);
    g_shared->fsyncs_before = FsyncCount();
  }
  std::string record(size, 'x');
  for (auto _ : state) {
    auto pos = g_shared->wal->Append(record);
    if (!pos.ok()) state.SkipWithError(pos.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
  if (state.thread_index() == 0) {
    uint64_t fsyncs = FsyncCount() - g_shared->fsyncs_before;
    // Per thread-0 iteration; times threads = appends per fsync overall.
    state.counters["appends_per_fsync"] =
        fsyncs ? static_cast<double>(state.iterations()) * state.threads() / fsyncs : 0;
    (void)g_shared->wal->Close();
    g_shared->wal.reset();
    (void)io::Env::Default()->RemoveAll(g_shared->dir);
    delete g_shared;
    g_shared = nullptr;
  }
}
BENCHMARK(BM_Append)
    ->ArgNames({"bytes", "none"})
    ->Args({256, 0})
    ->Args({256, 1})
    ->Args({4096, 0})
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();

// Replays a WAL of 1 KiB records (64 MiB), from the page cache.
void BM_Replay(benchmark::State& state) {
  const std::string dir = MakeTempDir();
  WalOptions o;
  o.dir = dir + "/wal";
  o.sync_policy = SyncPolicy::kNone;
  o.registry = &BenchRegistry();
  o.metrics_prefix = "bench_wal_";
  const size_t kRecord = 1024, kCount = 64 * 1024;
  {
    auto wal = Wal::Open(o);
    if (!wal.ok() || !(*wal)->Replay([](auto, auto) { return Status::Ok(); }).ok()) std::abort();
    std::string record(kRecord, 'r');
    for (size_t i = 0; i < kCount; ++i) {
      if (!(*wal)->Append(record).ok()) std::abort();
    }
  }
  uint64_t records = 0;
  for (auto _ : state) {
    auto wal = Wal::Open(o);
    uint64_t n = 0;
    Status s = (*wal)->Replay([&](std::string_view rec, WalPosition) {
      n += rec.size() == kRecord;
      return Status::Ok();
    });
    if (!s.ok() || n != kCount) state.SkipWithError("replay failed");
    records += n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.SetBytesProcessed(static_cast<int64_t>(records * kRecord));
  (void)io::Env::Default()->RemoveAll(dir);
}
BENCHMARK(BM_Replay)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::wal
