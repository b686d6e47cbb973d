// OtlpExporter: the gateway role's exporter (an OTel Collector gateway's
// otlphttp exporter with a persistent sending_queue, batching and
// retry_on_failure). A TraceSink: what it accepts is appended to the shared
// WAL (src/wal) under options.dir and acknowledged once durable; a sender
// thread batches the queued spans per tenant and POSTs them as OTLP/HTTP
// protobuf (an ExportTraceServiceRequest, gzip) to <endpoint>/v1/traces with
// the tenant as X-Scope-OrgID, plus the configured headers.
//
// Queue (WAL records, docs/api-tempo.md "Gateway"):
//   data  [1][seq varint][tenant len varint][tenant][spans varint]
//         [traces varint]{[len varint][EncodeTrace record, inline strings]}
//   ack   [2][count varint]{[seq varint]}
// Open replays the WAL: data records without an ack are queued again, in
// sequence order (delivery is at least once: a batch acknowledged by the
// downstream whose ack record did not reach the disk is sent again). WAL
// segments are deleted once every data record in them is acknowledged.
//
// Answers of the downstream (OTLP spec, "Retryable response codes"):
//   2xx: sent; partial_success.rejected_spans counted (not retried).
//   429, 502, 503, 504, and failures without a response that may succeed
//   later (connection refused/reset, timeouts): retried with exponential
//   backoff (initial_interval, x1.5, +-50% jitter, capped at max_interval;
//   a Retry-After in seconds replaces the computed wait) until
//   max_elapsed_time since the first attempt, then dropped and counted.
//   Anything else (400 and the other 4xx, other 5xx, a malformed URL):
//   dropped at once with a counter and an error log line.
// A dropped batch is acknowledged in the WAL like a sent one: nothing is
// retried forever.
//
// Bounds: Push answers Unavailable ("sending queue is full", which the
// receivers turn into HTTP 503 / gRPC UNAVAILABLE with Retry-After) when the
// queued spans would exceed queue_size or the queued bytes queue_max_bytes.
//
// Self-metrics (the Collector's names, label exporter="otlphttp"):
//   otelcol_exporter_sent_spans, otelcol_exporter_send_failed_spans,
//   otelcol_exporter_enqueue_failed_spans (counters),
//   otelcol_exporter_queue_size, otelcol_exporter_queue_capacity (gauges,
//   spans), and sightline_gateway_rejected_spans_total (partial_success),
//   sightline_gateway_retries_total, sightline_gateway_queue_bytes.
//
// Thread-safety: Push/PushEncoded from any threads; Start/Stop from one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "traces/ingest/sink.h"

namespace sightline::telemetry {
class Registry;
}

namespace sightline::traces::gateway {

struct ExporterOptions {
  std::string endpoint;  // base URL: requests go to <endpoint>/v1/traces
  std::vector<std::pair<std::string, std::string>> headers;  // added to each request
  bool gzip = true;
  std::string dir;  // the queue's WAL directory (created)
  size_t send_batch_size = 8192;  // spans per request (a larger trace goes alone)
  std::chrono::milliseconds batch_timeout{200};
  std::chrono::milliseconds timeout{30'000};  // one request
  uint64_t queue_size = 100'000;              // spans; 0: no span bound
  uint64_t queue_max_bytes = 256ull << 20;
  std::chrono::milliseconds retry_initial_interval{5'000};
  std::chrono::milliseconds retry_max_interval{30'000};
  std::chrono::milliseconds retry_max_elapsed_time{300'000};  // 0: forever
  int retry_after_seconds = 5;   // told to clients when the queue is full
  uint64_t wal_segment_bytes = 8ull << 20;  // a multiple of 32 KiB
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
};

class OtlpExporter final : public ingest::TraceSink {
 public:
  // Opens (creates) the queue and replays it. InvalidArgument for a bad
  // endpoint; WAL errors.
  static Result<std::unique_ptr<OtlpExporter>> Open(ExporterOptions options);
  ~OtlpExporter() override;  // Stop()

  // Queue `traces` durably (OK), or Unavailable when the queue is full or
  // the WAL failed (nothing queued).
  Status Push(std::string_view tenant, std::vector<Trace> traces,
              ingest::PushResult* result) override;
  Status PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                     ingest::PushResult* result) override;

  // Whether a push of one more span would be refused.
  bool Full() const;

  void Start();  // the sender thread
  // Stops the sender (an in-flight request finishes or times out); what
  // is queued stays in the WAL for the next Open. Closes the WAL. Idempotent.
  void Stop();

  struct Stats {
    uint64_t queued_spans = 0;
    uint64_t queued_bytes = 0;
    uint64_t queued_batches = 0;  // data records not yet acknowledged
    uint64_t replayed_batches = 0;
    uint64_t sent_spans = 0;
    uint64_t failed_spans = 0;
    uint64_t rejected_spans = 0;  // partial_success
    uint64_t retries = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit OtlpExporter(std::unique_ptr<Impl> impl);
  Status Enqueue(std::string_view tenant, std::string payload, uint64_t spans);
  std::unique_ptr<Impl> impl_;
};

// A sink in front of the tail sampler: refuses pushes (Unavailable, nothing
// buffered) while the exporter's queue is full, so clients see the
// back-pressure even though the sampler buffers in memory.
class QueueGate final : public ingest::TraceSink {
 public:
  QueueGate(ingest::TraceSink* next, const OtlpExporter* exporter)
      : next_(next), exporter_(exporter) {}
  Status Push(std::string_view tenant, std::vector<Trace> traces,
              ingest::PushResult* result) override;

 private:
  ingest::TraceSink* next_;
  const OtlpExporter* exporter_;
};

}  // namespace sightline::traces::gateway
