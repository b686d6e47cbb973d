// Cost of self-metrics on hot paths: every request and every ingested batch
// updates a few of these.
#include <benchmark/benchmark.h>

#include "telemetry/metrics.h"

namespace sightline::telemetry {
namespace {

void BM_CounterIncCached(benchmark::State& state) {
  static Registry r;
  static Counter& c = r.AddCounter("bench_total", "b", {"l"}).WithLabels({"x"});
  for (auto _ : state) c.Inc();
}
BENCHMARK(BM_CounterIncCached)->ThreadRange(1, 2);

void BM_CounterWithLabelsLookup(benchmark::State& state) {
  static Registry r;
  static auto& f = r.AddCounter("bench_lookup_total", "b", {"route", "code"});
  for (auto _ : state) f.WithLabels({"api_v1_query", "200"}).Inc();
}
BENCHMARK(BM_CounterWithLabelsLookup);

void BM_HistogramObserve(benchmark::State& state) {
  static Registry r;
  static Histogram& h = r.AddHistogram("bench_seconds", "b").Get();
  double v = 0;
  for (auto _ : state) {
    h.Observe(v);
    v += 0.001;
    if (v > 12) v = 0;
  }
}
BENCHMARK(BM_HistogramObserve)->ThreadRange(1, 2);

void BM_Expose1000Series(benchmark::State& state) {
  Registry r;
  auto& f = r.AddCounter("bench_series_total", "b", {"i"});
  for (int i = 0; i < 1000; ++i) f.WithLabels({std::to_string(i)}).Inc();
  for (auto _ : state) benchmark::DoNotOptimize(r.Expose());
}
BENCHMARK(BM_Expose1000Series);

}  // namespace
}  // namespace sightline::telemetry
