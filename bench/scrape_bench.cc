// Scrape hot path: parsing the text exposition formats, and a whole scrape
// (parse + cache lookup + append) into a no-op store, in samples per second
// on one core. A body like node_exporter's: 10k series over a few hundred
// families, labels of realistic length.
#include <benchmark/benchmark.h>

#include <string>

#include "metrics/scrape/scrape_loop.h"
#include "metrics/scrape/textparse.h"

namespace sightline::metrics::scrape {
namespace {

std::string MakeBody(bool openmetrics, int families, int per_family) {
  std::string out;
  for (int f = 0; f < families; ++f) {
    std::string name = "node_metric_family_" + std::to_string(f) + "_seconds_total";
    out += "# HELP " + name + " Seconds the CPUs spent in each mode.\n";
    out += "# TYPE " + name + " counter\n";
    for (int i = 0; i < per_family; ++i) {
      out += name + "{cpu=\"" + std::to_string(i % 64) + "\",mode=\"mode_" + std::to_string(i) +
             "\",device=\"/dev/nvme0n1p" + std::to_string(i % 8) + "\"} " +
             std::to_string(123456.789 + i * 1.5) + "\n";
    }
  }
  if (openmetrics) out += "# EOF\n";
  return out;
}

void BM_ParseText(benchmark::State& state) {
  const bool om = state.range(0) == 1;
  std::string body = MakeBody(om, 200, 50);
  int64_t samples = 0;
  for (auto _ : state) {
    TextParser p(body, om ? Format::kOpenMetrics : Format::kPrometheusText);
    while (true) {
      auto more = p.Next();
      if (!more.ok() || !*more) break;
      if (p.entry() == TextParser::Entry::kSeries) {
        benchmark::DoNotOptimize(p.value());
        ++samples;
      }
    }
  }
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseText)->Arg(0)->Arg(1)->ArgNames({"openmetrics"});

class NullAppender final : public Appender {
 public:
  Result<uint64_t> Append(uint64_t ref, const Labels&, int64_t, double) override {
    return ref != 0 ? ref : ++next_;
  }
  Status AppendExemplar(uint64_t, const Labels&, const Exemplar&) override { return Status::Ok(); }
  Status UpdateMetadata(const std::string&, const MetricMetadata&) override { return Status::Ok(); }
  Status Commit() override { return Status::Ok(); }
  void Rollback() override {}

 private:
  uint64_t next_ = 0;
};
class NullStore final : public Appendable {
 public:
  std::unique_ptr<Appender> NewAppender(std::string_view) override {
    return std::make_unique<NullAppender>();
  }
};

// A whole scrape of a cached target (the steady state): parse, look the
// series up in the scrape cache, append, report.
void BM_ScrapeOnceCached(benchmark::State& state) {
  std::string body = MakeBody(false, 200, 50);
  NullStore store;
  LoopOptions o;
  o.target_labels = Labels::FromStrings({"job", "node", "instance", "10.0.0.1:9100"});
  ScrapeLoop loop(
      &store,
      [&](std::chrono::milliseconds) -> Result<FetchResult> {
        return FetchResult{body, "text/plain; version=0.0.4"};
      },
      o);
  int64_t t = 1'700'000'000'000;
  (void)loop.ScrapeOnce(t);
  int64_t samples = 0;
  for (auto _ : state) {
    t += 15000;
    (void)loop.ScrapeOnce(t);
    samples += 10000;
  }
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ScrapeOnceCached)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::metrics::scrape
