// Prometheus metric and label names on the ingest paths: validation of what
// remote-write senders send, and the translation of OTLP metric names, units
// and attribute keys into Prometheus names.
//
// The OTLP rules are those of Prometheus's OTLP receiver (the
// prometheus/otlptranslator package: MetricNamer, LabelNamer, the unit
// maps), which follow the OpenTelemetry "Prometheus and OpenMetrics
// compatibility" specification. docs/ingest-metrics.md lists them with
// examples; names_test.cc has the upstream cases.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "metrics/ingest/options.h"

namespace sightline::metrics::ingest {

// [a-zA-Z_:][a-zA-Z0-9_:]* (Prometheus 2.x metric names).
bool IsValidLegacyMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]* (Prometheus 2.x label names).
bool IsValidLegacyLabelName(std::string_view name);
bool IsValidUtf8(std::string_view s);
// Legacy rules, or (utf8) any non-empty valid UTF-8.
inline bool IsValidMetricName(std::string_view name, bool utf8) {
  return utf8 ? !name.empty() && IsValidUtf8(name) : IsValidLegacyMetricName(name);
}
inline bool IsValidLabelName(std::string_view name, bool utf8) {
  return utf8 ? !name.empty() && IsValidUtf8(name) : IsValidLegacyLabelName(name);
}

// The metric kinds the OTLP name rules distinguish.
enum class OtlpMetricKind {
  kGauge,
  kMonotonicCounter,     // Sum with is_monotonic: gets _total
  kNonMonotonicCounter,  // Sum without: a Prometheus gauge, no _total
  kHistogram,
  kExponentialHistogram,
  kSummary,
};

// The Prometheus metric family name of an OTLP metric, e.g.
// ("http.server.duration", "s", kHistogram) → "http_server_duration_seconds"
// under kUnderscoreEscapingWithSuffixes. InvalidArgument if the result is
// empty or only underscores (as upstream: the metric is then dropped).
Result<std::string> OtlpMetricName(std::string_view name, std::string_view unit,
                                   OtlpMetricKind kind, TranslationStrategy strategy);

// The Prometheus label name of an OTLP attribute key, e.g. "http.method" →
// "http_method", "1st" → "key_1st", "_x" → "key_x" ("__x" is kept).
// InvalidArgument for an empty key or one that becomes only underscores.
Result<std::string> OtlpLabelName(std::string_view key, TranslationStrategy strategy);

// The unit suffix an OTLP unit contributes ("By/s" → "bytes_per_second",
// "1" → "", "{request}" → ""), escaped. For docs and tests.
std::string OtlpUnitSuffix(std::string_view unit);

// Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip decimal
// without exponent; "+Inf", "-Inf", "NaN". How `le` and `quantile` values
// are written.
std::string FormatFloatPlain(double v);

// An OTLP double attribute value as a string, as the collector's pcommon
// Value.AsString() writes it (ES6 number formatting: 0.5, 1e-7, 1e+21).
std::string FormatFloatEs6(double v);

}  // namespace sightline::metrics::ingest
