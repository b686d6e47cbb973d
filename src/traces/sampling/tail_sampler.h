// Tail sampling, as the OpenTelemetry Collector's tail_sampling processor
// does it: spans are held per trace for `decision_wait` after the trace's
// first span arrives, then the policies decide on the whole trace; sampled
// traces go on to the next TraceSink (the store), the others are dropped.
// The decision is remembered (decision cache) so that late spans of a trace
// follow it: sampled → forwarded at once; not sampled → dropped.
//
// Policies (names and meaning as in the collector's configuration):
//   always_sample, status_code {status_codes}, latency {threshold_ms,
//   upper_threshold_ms}, string_attribute {key, values, enabled_regex_matching,
//   invert_match}, numeric_attribute {key, min_value, max_value},
//   boolean_attribute {key, value}, probabilistic {hash_salt,
//   sampling_percentage} (FNV-1a of salt + trace id against a threshold, the
//   collector's hash, so a collector and Sightline keep the same traces),
//   rate_limiting {spans_per_second} (a token bucket holding two seconds'
//   worth, as the collector's), span_count {min_spans, max_spans},
//   and {sub policies, all must sample}, composite {max_total_spans_per_second,
//   sub policies in order, each with a share of the rate (rate_allocation);
//   the first sub policy that samples decides: within its share → sampled,
//   over it → not sampled}.
// Combination (the collector's rule): an inverted match that matched
// (InvertNotSampled) drops the trace whatever the others say; otherwise any
// Sampled keeps it; otherwise an InvertSampled keeps it unless another
// policy said NotSampled.
//
// Configuration: `traces.sampling.policies` in the YAML file, a list in the
// collector's own shape (policy_yaml.h); without it, the shorthand keys
// (keep_errors, latency_threshold, attribute_*, percentage,
// spans_per_second) build the seed's policies.
//
// Memory: at most num_traces traces wait for a decision; above it the
// oldest is decided early (the collector drops it instead; deciding early
// loses nothing that a policy would keep). The decision cache holds the
// last decision_cache_size decisions of each kind.
//
// Durability: spans are acknowledged to the client when buffered; a crash
// loses the undecided ones (the collector behaves the same way).
//
// Self-metrics: otelcol_processor_tail_sampling_count_traces_sampled
// {policy, sampled} (per policy, per decision), otelcol_processor_tail_
// sampling_global_count_traces_sampled{sampled}, otelcol_processor_tail_
// sampling_sampling_late_spans_total{sampled} (spans that followed a cached
// decision) and otelcol_processor_tail_sampling_sampling_traces_on_memory.
//
// Thread-safety: Push may be called concurrently; Tick/Flush too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "traces/ingest/sink.h"

namespace sightline::config {
struct Config;
struct TracesConfig;
}  // namespace sightline::config
namespace sightline::telemetry {
class Registry;
}

namespace sightline::traces::sampling {

enum class PolicyType {
  kAlwaysSample,
  kStatusCode,
  kLatency,
  kStringAttribute,
  kNumericAttribute,
  kBooleanAttribute,
  kProbabilistic,
  kRateLimiting,
  kSpanCount,
  kAnd,
  kComposite,
};

struct Policy {
  std::string name;
  PolicyType type = PolicyType::kAlwaysSample;
  std::vector<int> status_codes;  // OTLP numbers: 0 unset, 1 ok, 2 error
  int64_t threshold_ms = 0;
  int64_t upper_threshold_ms = 0;  // 0: none
  std::string key;
  std::vector<std::string> values;
  bool enabled_regex_matching = false;
  bool invert_match = false;  // string, numeric and boolean attribute
  int64_t min_value = 0;
  int64_t max_value = 0;
  bool bool_value = false;
  double sampling_percentage = 0;
  std::string hash_salt;  // probabilistic; empty: the collector's default
  int64_t spans_per_second = 0;
  int64_t min_spans = 0;
  int64_t max_spans = 0;  // 0: no upper bound
  std::vector<Policy> sub_policies;            // and, composite
  int64_t max_total_spans_per_second = 0;      // composite
  // Composite, per sub policy: percent of max_total_spans_per_second.
  // Empty: equal shares. (From YAML: the collector's rate_allocation by
  // name; a sub policy it does not list gets no share, as there.)
  std::vector<double> rate_allocation_percent;
};

struct SamplerOptions {
  std::chrono::milliseconds decision_wait{std::chrono::seconds(30)};
  size_t num_traces = 50'000;
  size_t decision_cache_size = 100'000;
  std::vector<Policy> policies;
  telemetry::Registry* registry = nullptr;
  // Milliseconds, monotonic; empty: steady clock (tests pass a fake).
  std::function<int64_t()> now_ms;
  // Background decisions every tick_interval (Start()).
  std::chrono::milliseconds tick_interval{std::chrono::milliseconds(200)};
};

// The seed's gateway policies from the traces config section's shorthand
// keys.
Result<SamplerOptions> OptionsFromConfig(const config::TracesConfig& cfg);
// The sampler's options for a whole configuration: `traces.sampling.policies`
// from cfg.file_text when present (policy_yaml.h; errors carry file:line),
// else the shorthand keys.
Result<SamplerOptions> OptionsFromConfig(const config::Config& cfg);

class TailSampler final : public ingest::TraceSink {
 public:
  // `next` is not owned and must outlive the sampler.
  TailSampler(ingest::TraceSink* next, SamplerOptions options);
  ~TailSampler() override;

  // Buffers spans of undecided traces; forwards or drops spans of decided
  // ones. Errors come from `next` (late spans of sampled traces).
  Status Push(std::string_view tenant, std::vector<Trace> traces,
              ingest::PushResult* result) override;

  // Decides every trace whose decision_wait has passed; returns the first
  // error of forwarding (those traces are kept and retried next tick).
  Status Tick();
  // Decides every waiting trace now (shutdown).
  Status Flush();

  void Start();  // background Tick() every tick_interval
  void Stop();   // stops the thread, then Flush()

  size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces::sampling
