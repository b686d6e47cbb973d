// OTLP metrics → Prometheus series, following Prometheus's OTLP receiver
// (storage/remote/otlptranslator): names and suffixes per
// OtlpOptions::translation_strategy (names.h), job/instance from
// service.namespace/service.name and service.instance.id, the other resource
// attributes in target_info, and
//   Gauge                      → <name>                       (gauge)
//   Sum, monotonic, cumulative → <name>_total                 (counter)
//   Sum, non-monotonic         → <name>                       (gauge)
//   Histogram                  → <name>_bucket{le}, _sum, _count
//   ExponentialHistogram       → the same classic series; see below
//   Summary                    → <name>{quantile}, _sum, _count
// Points flagged NoRecordedValue become staleness markers. Exemplars keep
// trace_id/span_id (hex) and go on the sum's series, or on the first bucket
// whose bound is >= their value. Data points with non-cumulative temporality
// (delta, unspecified) are rejected, as Prometheus does by default.
//
// Exponential histograms: bucket i of scale s counts values in
// (b^i, b^(i+1)] with b = 2^(2^-s). Merging pairs of neighbouring buckets
// (i → i >> 1) gives the same histogram at scale s-1 exactly, so the point is
// first brought down to OtlpOptions::exp_histogram_max_scale (stable `le`
// values from one export to the next: at scale 0 they are powers of 2), and
// further while it has more than exp_histogram_max_buckets buckets. Then the
// counts are summed into cumulative `le` buckets: negative buckets (most
// negative first, le = -b^i), the zero bucket (le = zero_threshold), positive
// buckets (le = b^(i+1)), and +Inf = count.
//
// Thread-safety: pure function of its inputs; BatchWriter is per request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/ingest/options.h"

namespace opentelemetry::proto::collector::metrics::v1 {
class ExportMetricsServiceRequest;
}  // namespace opentelemetry::proto::collector::metrics::v1

namespace sightline::metrics::ingest {

class BatchWriter;

struct OtlpTranslation {
  int64_t data_points = 0;
  // Data points not (completely) stored: translation refused them, or the
  // store rejected at least one of their samples. What partial_success
  // reports as rejected_data_points.
  int64_t rejected_data_points = 0;
  // Distinct problems, first ones only (translation errors, the first store
  // error, warnings such as metrics without data points).
  std::vector<std::string> messages;
};

// Translates `request` and appends it through `writer` (which the caller
// then Finish()es). Stops early when the writer fails fatally.
OtlpTranslation TranslateOtlpMetrics(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request,
    const OtlpOptions& options, BatchWriter& writer);

}  // namespace sightline::metrics::ingest
