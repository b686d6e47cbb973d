// XOR chunk encoding (Prometheus's float chunk format): append and iterate
// cost per sample and compressed size per sample, for series shaped like
// real scrapes. Each benchmark reports ns_per_sample and bytes_per_sample.
//
// Series (15 s scrape interval, 120 samples per chunk as Prometheus cuts):
//   counter_jitter   counter with integer increments, timestamps +-5 ms jitter
//   gauge_walk       float gauge random walk (full mantissa), +-5 ms jitter
//   constant_exact   constant value, exact 15 s interval (best case)
//   random_float     random 64-bit doubles, random ms jitter (worst case)
#include <benchmark/benchmark.h>

#include <bit>
#include <random>
#include <vector>

#include "metrics/tsdb/chunkenc/xor.h"

namespace sightline::tsdb::chunkenc {
namespace {

constexpr int kSamples = 120 * 100;  // 100 chunks

struct Sample {
  int64_t t;
  double v;
};

std::vector<Sample> MakeSeries(int kind) {
  std::mt19937_64 rng(1234);
  std::vector<Sample> out;
  int64_t t = 1'700'000'000'000;
  double v = 1000;
  for (int i = 0; i < kSamples; ++i) {
    switch (kind) {
      case 0:  // counter_jitter
        t += 15'000 + static_cast<int64_t>(rng() % 11) - 5;
        v += static_cast<double>(rng() % 50);
        break;
      case 1:  // gauge_walk
        t += 15'000 + static_cast<int64_t>(rng() % 11) - 5;
        v += std::normal_distribution<double>(0, 1)(rng);
        break;
      case 2:  // constant_exact
        t += 15'000;
        break;
      default:  // random_float
        t += 1 + static_cast<int64_t>(rng() % 60'000);
        v = std::bit_cast<double>(rng() & 0x7fefffffffffffffull);
        break;
    }
    out.push_back({t, v});
  }
  return out;
}

const char* kNames[] = {"counter_jitter", "gauge_walk", "constant_exact", "random_float"};

std::vector<XorChunk> Encode(const std::vector<Sample>& series) {
  std::vector<XorChunk> chunks;
  for (size_t i = 0; i < series.size(); ++i) {
    if (i % kSamplesPerChunk == 0) chunks.emplace_back();
    (void)chunks.back().Append(series[i].t, series[i].v);
  }
  return chunks;
}

void SetCounters(benchmark::State& state, const std::vector<XorChunk>& chunks) {
  size_t bytes = 0;
  for (const XorChunk& c : chunks) bytes += c.Bytes().size();
  state.counters["bytes_per_sample"] = static_cast<double>(bytes) / kSamples;
  state.counters["ns_per_sample"] = benchmark::Counter(
      kSamples, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetLabel(kNames[state.range(0)]);
}

void BM_XorAppend(benchmark::State& state) {
  std::vector<Sample> series = MakeSeries(static_cast<int>(state.range(0)));
  std::vector<XorChunk> chunks;
  for (auto _ : state) {
    chunks = Encode(series);
    benchmark::DoNotOptimize(chunks.data());
  }
  SetCounters(state, chunks);
}
BENCHMARK(BM_XorAppend)->DenseRange(0, 3);

void BM_XorIterate(benchmark::State& state) {
  std::vector<XorChunk> chunks = Encode(MakeSeries(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    int64_t tsum = 0;
    double vsum = 0;
    for (const XorChunk& c : chunks) {
      XorIterator it(c.Bytes());
      while (it.Next()) {
        tsum += it.t();
        vsum += it.v();
      }
    }
    benchmark::DoNotOptimize(tsum);
    benchmark::DoNotOptimize(vsum);
  }
  SetCounters(state, chunks);
}
BENCHMARK(BM_XorIterate)->DenseRange(0, 3);

}  // namespace
}  // namespace sightline::tsdb::chunkenc
