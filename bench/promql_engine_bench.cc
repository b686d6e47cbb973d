// PromQL engine: latency of typical dashboard queries over one day of data in
// a MemoryStorage (so the figures are the engine's, not a store's).
//
// Dataset (built once, ~58M samples):
//   http_requests_total{job="job-0..9", instance="i-0..999"}  10,000 counters,
//       one sample every 15 s for 24 h (5,760 samples each), occasional resets
//   request_duration_seconds_bucket{instance="i-0..99", le=...}  100 classic
//       histograms x 10 buckets = 1,000 series, same interval
//
// Benchmarks (each reports ms per query; items_per_second is series read/s):
//   RateSumByJob_Instant      sum by (job) (rate(http_requests_total[5m])) at the end
//   RateSumByJob_Range24h     the same as a range query over 24 h, step 60 s
//   HistogramQuantile_Range24h  histogram_quantile(0.9, sum by (le) (rate(..._bucket[5m])))
//                             over 24 h, step 60 s (1,000 input series)
//   Selector_Range1h          http_requests_total{job="job-3"} over the last hour, step 15 s
//   TopkAvgOverTime_Instant   topk(5, avg_over_time(http_requests_total[1h]))
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>

#include "metrics/promql/engine.h"
#include "metrics/storage/memory_storage.h"

namespace sightline::promql {
namespace {

constexpr int64_t kStep = 15'000;
constexpr int64_t kDay = 24 * 3600 * 1000;
constexpr int kSamplesPerSeries = static_cast<int>(kDay / kStep);
constexpr std::string_view kTenant = "bench";

metrics::MemoryStorage& Store() {
  static metrics::MemoryStorage* store = [] {
    auto* s = new metrics::MemoryStorage();
    std::mt19937_64 rng(42);
    for (int job = 0; job < 10; ++job) {
      auto app = s->NewAppender(kTenant);
      for (int inst = 0; inst < 1000; ++inst) {
        const Labels l = Labels::FromStrings({"__name__", "http_requests_total", "job",
                                              "job-" + std::to_string(job), "instance",
                                              "i-" + std::to_string(job * 1000 + inst)});
        uint64_t ref = 0;
        double v = 0;
        for (int k = 0; k < kSamplesPerSeries; ++k) {
          v += static_cast<double>(rng() % 20);
          if (rng() % 20000 == 0) v = 0;  // A counter reset now and then.
          ref = *app->Append(ref, l, k * kStep, v);
        }
      }
      (void)app->Commit();
    }
    static const char* kLe[] = {"0.005", "0.01", "0.025", "0.05", "0.1",
                                "0.25",  "0.5",  "1",     "2.5",  "+Inf"};
    auto app = s->NewAppender(kTenant);
    for (int inst = 0; inst < 100; ++inst) {
      std::vector<uint64_t> refs(10, 0);
      std::vector<double> counts(10, 0);
      for (int k = 0; k < kSamplesPerSeries; ++k) {
        double cum = 0;
        for (int b = 0; b < 10; ++b) {
          cum += static_cast<double>(rng() % 5);
          counts[b] += cum;
        }
        for (int b = 0; b < 10; ++b) {
          const Labels l =
              Labels::FromStrings({"__name__", "request_duration_seconds_bucket", "instance",
                                   "i-" + std::to_string(inst), "le", kLe[b]});
          refs[b] = *app->Append(refs[b], refs[b] == 0 ? l : Labels(), k * kStep, counts[b]);
        }
      }
    }
    (void)app->Commit();
    return s;
  }();
  return *store;
}

void Run(benchmark::State& state, std::string_view query, bool range, int64_t start, int64_t end,
         int64_t step) {
  metrics::MemoryStorage& store = Store();
  Engine engine;
  size_t result_series = 0;
  for (auto _ : state) {
    Result<QueryResult> r = range ? engine.RangeQuery(store, kTenant, query, start, end, step)
                                  : engine.InstantQuery(store, kTenant, query, end);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      return;
    }
    result_series = r->type == ValueType::kMatrix ? r->matrix.size() : r->vector.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["result_series"] = static_cast<double>(result_series);
}

void BM_RateSumByJob_Instant(benchmark::State& state) {
  Run(state, "sum by (job) (rate(http_requests_total[5m]))", false, kDay, kDay, 0);
}

void BM_RateSumByJob_Range24h(benchmark::State& state) {
  Run(state, "sum by (job) (rate(http_requests_total[5m]))", true, 0, kDay, 60'000);
}

void BM_HistogramQuantile_Range24h(benchmark::State& state) {
  Run(state, "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
      true, 0, kDay, 60'000);
}

void BM_Selector_Range1h(benchmark::State& state) {
  Run(state, "http_requests_total{job=\"job-3\"}", true, kDay - 3600'000, kDay, kStep);
}

void BM_TopkAvgOverTime_Instant(benchmark::State& state) {
  Run(state, "topk(5, avg_over_time(http_requests_total[1h]))", false, kDay, kDay, 0);
}

BENCHMARK(BM_RateSumByJob_Instant)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RateSumByJob_Range24h)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_HistogramQuantile_Range24h)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Selector_Range1h)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TopkAvgOverTime_Instant)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::promql
