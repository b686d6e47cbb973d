// Options of the metrics ingest paths (Prometheus remote write, OTLP
// metrics). The user-facing description is docs/ingest-metrics.md.
//
// Thread-safety: plain values, copied into each handler at registration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sightline::telemetry {
class Registry;
}  // namespace sightline::telemetry

namespace sightline::metrics::ingest {

// How OTLP metric and attribute names become Prometheus names: Prometheus's
// `otlp.translation_strategy` setting, with the same names and meaning.
enum class TranslationStrategy {
  // "http.server.duration" (unit s, histogram) → http_server_duration_seconds;
  // names escaped to [a-zA-Z0-9_:], unit and type suffixes added. Default.
  kUnderscoreEscapingWithSuffixes,
  // Escaped as above, no suffixes: http_server_duration.
  kUnderscoreEscapingWithoutSuffixes,
  // UTF-8 names kept as they are, suffixes added: http.server.duration_seconds.
  kNoUTF8EscapingWithSuffixes,
  // Names kept exactly as sent.
  kNoTranslation,
};

// "UnderscoreEscapingWithSuffixes", ... (Prometheus's spelling).
std::string_view TranslationStrategyName(TranslationStrategy s);
// InvalidArgument naming the accepted values if `name` is not one of them.
Result<TranslationStrategy> ParseTranslationStrategy(std::string_view name);

struct OtlpOptions {
  TranslationStrategy translation_strategy = TranslationStrategy::kUnderscoreEscapingWithSuffixes;
  // Resource attributes copied onto every series of the resource (they are
  // always in target_info). Prometheus: otlp.promote_resource_attributes.
  std::vector<std::string> promote_resource_attributes;
  // Promote every resource attribute except ignore_resource_attributes.
  bool promote_all_resource_attributes = false;
  std::vector<std::string> ignore_resource_attributes;
  // Also put service.name, service.namespace and service.instance.id (which
  // become job and instance) into target_info.
  bool keep_identifying_resource_attributes = false;
  // Add otel_scope_name, otel_scope_version, otel_scope_schema_url and
  // otel_scope_<attribute> labels.
  bool promote_scope_metadata = false;
  // Do not write target_info.
  bool disable_target_info = false;
  // target_info gets a sample every lookback_delta/2 over the time span of
  // the request's points, so that joins on it find a sample.
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  // Exponential histograms become classic `le` buckets. Their resolution is
  // lowered to at most this scale (0: powers of 2; 1: powers of √2; ...)
  // so that the `le` values stay stable from one export to the next, and
  // further until at most max_buckets finite buckets remain.
  int exp_histogram_max_scale = 0;
  int exp_histogram_max_buckets = 160;
};

struct IngestOptions {
  // Remote write name validation. false: Prometheus 2.x rules (metric names
  // [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*); true:
  // any non-empty valid UTF-8, as Prometheus 3.x accepts.
  bool utf8_names = false;
  // Samples (and exemplars) more than this far ahead of the clock are
  // rejected as "out of bounds: timestamp is too far in the future", as
  // Prometheus 3.x does (10 minutes). 0 disables the check.
  int64_t max_future_ms = 10 * 60 * 1000;
  // Retry-After (seconds) on 429 and 503 answers; also the gRPC RetryInfo.
  int retry_after_seconds = 5;
  // Body limit for the ingest routes, as sent and decompressed; 0: the HTTP
  // server's limits.
  size_t max_body_bytes = 0;
  // gRPC: require X-Scope-OrgID metadata (the HTTP server resolves the
  // tenant itself from its own option).
  bool multitenancy = false;
  OtlpOptions otlp;
  // Where the self-metrics go (must outlive the handlers); nullptr:
  // telemetry::Registry::Default().
  telemetry::Registry* registry = nullptr;
  // Milliseconds since the epoch; empty: the system clock. For tests.
  std::function<int64_t()> now_ms;
};

}  // namespace sightline::metrics::ingest
