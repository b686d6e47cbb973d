// Metrics from traces (Tempo's metrics-generator), written into the metrics
// store so that Grafana's service map, APM table and trace-to-metrics links
// work against Sightline:
//
//   span metrics, per {service, span_name, span_kind, status_code}:
//     traces_spanmetrics_calls_total
//     traces_spanmetrics_latency_bucket{le} / _sum / _count (seconds), with
//       an exemplar {trace_id} on the bucket of the latest observation
//   service graph, per {client, server} edge (a CLIENT or PRODUCER span and
//   the SERVER or CONSUMER span whose parent it is, possibly arriving in
//   different requests, paired within `edge_wait`):
//     traces_service_graph_request_total, _request_failed_total
//     traces_service_graph_request_server_seconds_bucket/_sum/_count
//     traces_service_graph_request_client_seconds_bucket/_sum/_count
// Label values follow Tempo: span_kind "SPAN_KIND_SERVER", status_code
// "STATUS_CODE_ERROR", service from resource service.name.
//
// MetricsGenerator is a TraceSink decorator: traces go on to `next`, and
// what `next` accepted is counted. Counters are cumulative in memory; every
// collection_interval (and on Collect()) each tenant's series are appended
// at the current time to the Appendable, in one batch per tenant.
//
// Thread-safety: Push and Collect may be called concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "traces/ingest/sink.h"

namespace sightline::metrics {
class Appendable;
}

namespace sightline::traces::generator {

struct GeneratorOptions {
  std::vector<double> latency_buckets = {0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
                                         0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384};
  std::vector<double> graph_buckets = {0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8};
  std::chrono::milliseconds collection_interval{std::chrono::seconds(15)};
  std::chrono::milliseconds edge_wait{std::chrono::seconds(10)};
  size_t max_pending_edges = 100'000;
  std::function<int64_t()> now_ms;  // wall clock ms; empty: system clock
};

class MetricsGenerator final : public ingest::TraceSink {
 public:
  // Neither is owned; both must outlive the generator.
  MetricsGenerator(ingest::TraceSink* next, metrics::Appendable* out, GeneratorOptions options);
  ~MetricsGenerator() override;

  Status Push(std::string_view tenant, std::vector<Trace> traces,
              ingest::PushResult* result) override;
  // The same counts from the encoded traces' span views (no decoding).
  Status PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                     ingest::PushResult* result) override;

  // Appends every tenant's current series now; the first error.
  Status Collect();

  void Start();  // Collect() every collection_interval
  void Stop();   // final Collect()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces::generator
