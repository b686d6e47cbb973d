// Per-tenant limits on metrics ingest, with Mimir's names, meaning and
// answers (docs/scrape.md#limits):
//
//   ingestion_rate / ingestion_burst_size   samples per second per tenant
//       (token bucket, src/base/rate_limiter.h); a batch over it is refused
//       whole at Commit with ResourceExhausted → remote write 429 with
//       Retry-After, OTLP/HTTP 429, OTLP/gRPC RESOURCE_EXHAUSTED.
//   max_global_series_per_user              active series in the head; the
//       sample creating one more is refused (InvalidArgument → 400).
//   max_label_names_per_series, max_label_name_length,
//   max_label_value_length                   per series; the series' samples
//       are refused (InvalidArgument → 400).
// Each message names the limit and its configuration key. Refused samples
// are counted in sightline_discarded_samples_total{reason, tenant} with
// Mimir's reasons: rate_limited, per_user_series_limit,
// max_label_names_per_series, label_name_too_long, label_value_too_long.
//
// Defaults come from the `metrics.limits` section; per-tenant values from the
// shared overrides (src/config/overrides.h):
//   overrides:
//     team-a: {metrics: {limits: {ingestion_rate: 50000}}}
// or the older form, applied on top:
//   metrics:
//     limits:
//       overrides:
//         team-a: {ingestion_rate: 50000, max_global_series_per_user: 1000000}
// (unknown keys are configuration errors).
//
// LimitingAppendable wraps the store (MultiTenantDB): every ingest path
// (remote write, OTLP, scrapes) writes through it. Label checks run once per
// series and batch (when the caller passes ref 0).
//
// Thread-safety: Overrides is immutable; LimitingAppendable is thread-safe
// (its appenders are single-threaded, as storage.h requires).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/rate_limiter.h"
#include "base/status.h"
#include "metrics/storage/storage.h"

namespace sightline::config {
struct Config;
}
namespace sightline::telemetry {
class Registry;
class Counter;
template <typename M>
class Family;
}  // namespace sightline::telemetry

namespace sightline::metrics::limits {

struct TenantLimits {
  double ingestion_rate = 0;  // samples/s; 0: unlimited
  double ingestion_burst_size = 0;
  uint64_t max_global_series_per_user = 0;  // 0: unlimited
  uint32_t max_label_names_per_series = 30;
  uint32_t max_label_name_length = 1024;
  uint32_t max_label_value_length = 2048;
};

// Mimir's reason label values.
namespace reason {
inline constexpr std::string_view kRateLimited = "rate_limited";
inline constexpr std::string_view kPerUserSeriesLimit = "per_user_series_limit";
inline constexpr std::string_view kMaxLabelNamesPerSeries = "max_label_names_per_series";
inline constexpr std::string_view kLabelNameTooLong = "label_name_too_long";
inline constexpr std::string_view kLabelValueTooLong = "label_value_too_long";
}  // namespace reason

class Overrides {
 public:
  Overrides() = default;
  explicit Overrides(TenantLimits defaults) : defaults_(defaults) {}
  // Defaults from cfg.metrics; overrides from cfg.file_text.
  static Result<Overrides> FromConfig(const config::Config& cfg);
  // Parses metrics.limits.overrides from YAML text.
  static Result<Overrides> Parse(TenantLimits defaults, const std::string& yaml_text,
                                 const std::string& file_name);
  // The same on top of `base` (its tenants' values are the starting point).
  static Result<Overrides> Parse(Overrides base, const std::string& yaml_text,
                                 const std::string& file_name);

  const TenantLimits& For(std::string_view tenant) const;
  const TenantLimits& defaults() const { return defaults_; }
  void Set(std::string tenant, TenantLimits l) { per_tenant_[std::move(tenant)] = l; }

 private:
  TenantLimits defaults_;
  std::map<std::string, TenantLimits, std::less<>> per_tenant_;
};

// Which limit refused data, as a type: protocol layers map it to their
// answer (remote write 400/429, OTLP 400 or 429) without reading messages.
enum class LimitReason : uint8_t {
  kRateLimited,
  kPerUserSeriesLimit,
  kMaxLabelNamesPerSeries,
  kLabelNameTooLong,
  kLabelValueTooLong,
};
// Mimir's reason label of `r` (the reason:: constants above).
std::string_view ReasonLabel(LimitReason r);

// Checks a series' labels against `l`; InvalidArgument naming the limit,
// `*why` set to the limit.
Status ValidateSeriesLabels(const TenantLimits& l, const Labels& labels, LimitReason* why);

// The per-series limit behind the error the last Append of `app` returned:
// set when `app` comes from a LimitingAppendable and that Append was refused
// by max_label_names_per_series, max_label_name_length,
// max_label_value_length or max_global_series_per_user; nullopt for any
// other appender or error (out of order, ...). Call from the appender's
// thread, right after the failed Append.
std::optional<LimitReason> LastRejection(const Appender& app);

class LimitingAppendable final : public Appendable {
 public:
  // `inner` and `overrides` must outlive this. `clock` (monotonic ns) for
  // tests; `registry` nullptr: the default registry.
  LimitingAppendable(Appendable* inner, std::shared_ptr<const Overrides> overrides,
                     telemetry::Registry* registry = nullptr, RateLimiter::ClockFn clock = nullptr);
  ~LimitingAppendable() override;

  std::unique_ptr<Appender> NewAppender(std::string_view tenant) override;

  const Overrides& overrides() const { return *overrides_; }
  // Counts refused samples (also used by callers that refuse before the
  // store).
  void CountDiscarded(std::string_view why, std::string_view tenant, double n);

 private:
  friend class LimitingAppender;
  Appendable* inner_;
  std::shared_ptr<const Overrides> overrides_;
  RateLimiter rate_;
  telemetry::Family<telemetry::Counter>* discarded_;
};

}  // namespace sightline::metrics::limits
