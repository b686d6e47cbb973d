// BatchWriter: how every metrics ingest path (remote write, OTLP) writes one
// request into the store, with the same per-sample error handling and the
// same self-metrics.
//
// One BatchWriter wraps one Appender (one request, one tenant). Samples the
// store refuses individually (InvalidArgument: out of order, duplicate,
// out of bounds; ResourceExhausted: a per-tenant limit) are counted and the
// rest of the batch goes on, as storage.h allows; so do the series the
// protocol layer rejects itself (Reject()). Any other error from the store
// is fatal: the batch is rolled back and the sender should retry.
//
// Finish() commits (or rolls back) and tells the protocol layer what to
// answer:
//   OK                 everything was stored;
//   InvalidArgument    some samples were rejected for good, the rest is
//                      committed (remote write answers 400, OTLP a
//                      partial_success, or 400 when series_limit() is set);
//                      message = the first per-series limit's message if a
//                      limit refused any, else the first error;
//   ResourceExhausted  some samples hit a limit, the rest is committed
//                      (429 + Retry-After: re-sent samples that were already
//                      stored are identical duplicates, which stores accept);
//   Unavailable/other  nothing was stored (5xx; the sender retries).
//
// Thread-safety: one thread per BatchWriter. IngestMetrics is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/ingest/options.h"
#include "metrics/limits/limits.h"
#include "metrics/storage/storage.h"

namespace sightline::telemetry {
class Counter;
template <typename M>
class Family;
}  // namespace sightline::telemetry

namespace sightline::metrics::ingest {

// Values of the `protocol` label of the self-metrics.
inline constexpr std::string_view kProtocolRemoteWrite = "remote_write";
inline constexpr std::string_view kProtocolOtlp = "otlp";

// Values of the `reason` label (docs/ingest-metrics.md).
namespace reason {
inline constexpr std::string_view kOutOfOrder = "out_of_order";
inline constexpr std::string_view kDuplicateTimestamp = "duplicate_timestamp";
inline constexpr std::string_view kOutOfBounds = "out_of_bounds";
inline constexpr std::string_view kTooOld = "too_old";
inline constexpr std::string_view kTooFarInFuture = "too_far_in_future";
inline constexpr std::string_view kInvalidSample = "invalid_sample";
inline constexpr std::string_view kInvalidLabels = "invalid_labels";
inline constexpr std::string_view kDuplicateLabel = "duplicate_label_names";
inline constexpr std::string_view kMissingMetricName = "missing_metric_name";
inline constexpr std::string_view kNativeHistogram = "native_histogram_unsupported";
inline constexpr std::string_view kUnsupportedTemporality = "unsupported_temporality";
inline constexpr std::string_view kUnsupportedMetric = "unsupported_metric";
inline constexpr std::string_view kLimit = "limit";
inline constexpr std::string_view kStorageError = "storage_error";
}  // namespace reason

// The self-metrics of the ingest paths. Registering is idempotent, so every
// handler makes its own IngestMetrics over the shared families; the registry
// must outlive it.
class IngestMetrics {
 public:
  // `registry` nullptr: telemetry::Registry::Default().
  explicit IngestMetrics(telemetry::Registry* registry);

  telemetry::Family<telemetry::Counter>& requests;            // {protocol, result}
  telemetry::Family<telemetry::Counter>& samples_received;    // {protocol}
  telemetry::Family<telemetry::Counter>& samples_rejected;    // {protocol, reason}
  telemetry::Family<telemetry::Counter>& exemplars_received;  // {protocol}
  telemetry::Family<telemetry::Counter>& exemplars_rejected;  // {protocol, reason}
  telemetry::Family<telemetry::Counter>& metadata_received;   // {protocol}
  telemetry::Family<telemetry::Counter>& metadata_rejected;   // {protocol, reason}

 private:
  explicit IngestMetrics(telemetry::Registry& r);
};

// Counts one request's outcome: result is "success", "partial" (some data
// rejected, 400 or partial_success), "invalid" (nothing decodable),
// "throttled" (429) or "failed" (5xx).
void CountRequest(IngestMetrics* m, std::string_view protocol, std::string_view result);

// The store's classification of a per-sample InvalidArgument message
// ("out of order sample" → reason::kOutOfOrder, ...).
std::string_view ReasonForStoreError(const Status& s);

class BatchWriter {
 public:
  BatchWriter(Appendable* db, std::string_view tenant, std::string_view protocol,
              const IngestOptions& options, IngestMetrics* metrics);
  // Rolls back if Finish() was not called.
  ~BatchWriter();
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Appends one sample. `ref` is the series ref cache: 0 or what the
  // previous call for the same labels left in it. Returns false once the
  // batch has failed fatally (stop appending and call Finish()); per-sample
  // rejections return true.
  bool Append(uint64_t* ref, const Labels& labels, int64_t t_ms, double v);
  // Exemplars never fail a request (as in Prometheus): errors are counted.
  void AppendExemplar(uint64_t ref, const Labels& series, const Exemplar& e);
  // Counts `n` exemplars dropped by the protocol layer (e.g. of a rejected
  // series) as received and rejected.
  void RejectExemplars(std::string_view reason, int64_t n);
  // Metadata errors are counted only.
  void UpdateMetadata(const std::string& metric_family, const MetricMetadata& m);

  // Records `n` samples the protocol layer rejected itself; `message` is
  // kept if it is the first error of the batch. `reason` is one of the
  // reason::k* constants (kept by reference).
  void Reject(std::string_view reason, int64_t n, std::string_view message);
  // Counts `n` samples as rejected in the self-metrics without making the
  // request fail (data we knowingly do not store, e.g. native histograms).
  void Discard(std::string_view reason, int64_t n);
  // Records samples that were decoded (before any validation), for the
  // received counter. Append() does not count them itself.
  void CountReceived(int64_t samples) { samples_received_ += samples; }

  // Rejected samples so far (store and protocol layer).
  int64_t rejected() const { return samples_rejected_; }
  int64_t appended() const { return samples_appended_; }
  bool failed() const { return !fatal_.ok(); }
  const std::string& first_error() const { return first_error_; }
  // The first per-tenant per-series limit (metrics/limits) that refused a
  // sample of this batch, typed; nullopt when none did.
  std::optional<limits::LimitReason> series_limit() const { return series_limit_; }

  // Commits, or rolls back after a fatal error; returns what to answer (see
  // the file comment). Call once.
  Status Finish();

 private:
  void RecordRejection(std::string_view reason, int64_t n, std::string message);
  void RejectExemplarsCounted(std::string_view reason, int64_t n);

  std::unique_ptr<Appender> app_;
  std::string protocol_;
  IngestMetrics* metrics_;
  int64_t max_t_ms_;  // INT64_MAX when the future check is off
  bool finished_ = false;
  Status fatal_;
  bool limited_ = false;
  std::string limit_message_;
  std::string first_error_;
  std::optional<limits::LimitReason> series_limit_;
  std::string series_limit_message_;
  int64_t samples_received_ = 0;
  int64_t samples_appended_ = 0;
  int64_t samples_rejected_ = 0;
  int64_t samples_discarded_ = 0;
  int64_t exemplars_received_ = 0;
  // Per-reason counts, flushed to the counters in Finish().
  struct ReasonCount {
    std::string_view reason;
    int64_t n;
  };
  std::vector<ReasonCount> sample_rejections_;
  std::vector<ReasonCount> exemplar_rejections_;
  int64_t metadata_received_ = 0;
  int64_t metadata_rejected_ = 0;
};

}  // namespace sightline::metrics::ingest
