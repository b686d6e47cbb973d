// Tempo's query-frontend limits, applied alike by the HTTP API
// (tempo_api.h) and the streaming gRPC querier (streaming_querier.h):
//
//   metrics max_duration      query_frontend.metrics.max_duration (3h), or
//                             the tenant's max_metrics_duration override;
//                             a longer range answers 400 / INVALID_ARGUMENT
//                             `range specified by start and end (<d>)
//                             exceeds <max>. received start=<s> end=<e>`
//   metrics max_exemplars     query_frontend.metrics.max_exemplars (100):
//                             a range query's `exemplars` when 0 (absent) or
//                             above it; 0 turns exemplars off
//   search max_duration       query_frontend.search.max_duration (168h), or
//                             the tenant's max_search_duration: `range
//                             specified by start and end exceeds <max>.
//                             received start=<s> end=<e>` (seconds)
//   max_spans_per_span_set    query_frontend.search.max_spans_per_span_set
//                             (100): a larger spss answers `spans per span
//                             set exceeds <max>. received <n>`
//
// 0 disables a limit. Per-tenant values come from `*_for` (config::
// TenantOverrides, traces.limits.*), which return 0 for "no override".
//
// Thread-safety: immutable after construction; the functions must be safe
// to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sightline::config {
struct TracesConfig;
class TenantOverrides;
}  // namespace sightline::config

namespace sightline::traces::api {

struct QueryLimits {
  uint64_t metrics_max_duration_nano = 3ull * 3600 * 1'000'000'000;
  std::function<uint64_t(std::string_view tenant)> metrics_max_duration_for;
  uint32_t metrics_max_exemplars = 100;
  uint64_t search_max_duration_nano = 168ull * 3600 * 1'000'000'000;
  std::function<uint64_t(std::string_view tenant)> search_max_duration_for;
  uint32_t max_spans_per_span_set = 100;

  // The tenant's limit: its override when set, else the default.
  uint64_t MetricsMaxDuration(std::string_view tenant) const {
    const uint64_t o = metrics_max_duration_for ? metrics_max_duration_for(tenant) : 0;
    return o ? o : metrics_max_duration_nano;
  }
  uint64_t SearchMaxDuration(std::string_view tenant) const {
    const uint64_t o = search_max_duration_for ? search_max_duration_for(tenant) : 0;
    return o ? o : search_max_duration_nano;
  }
  // Tempo 2.7: the request's count when set and within the limit, else the
  // limit; none when the limit is 0.
  uint32_t Exemplars(uint32_t requested) const {
    if (metrics_max_exemplars == 0) return 0;
    return requested == 0 || requested > metrics_max_exemplars ? metrics_max_exemplars
                                                               : requested;
  }
  // Empty when spss is allowed, else Tempo's 400 message.
  std::string CheckSpansPerSpanSet(uint32_t spss) const {
    if (max_spans_per_span_set == 0 || spss <= max_spans_per_span_set) return {};
    return "spans per span set exceeds " + std::to_string(max_spans_per_span_set) +
           ". received " + std::to_string(spss);
  }
};

// The limits of the `traces` config section; the per-tenant durations read
// `overrides` (traces.limits.max_metrics_duration / max_search_duration)
// when given.
QueryLimits QueryLimitsFromConfig(const config::TracesConfig& traces,
                                  std::shared_ptr<const config::TenantOverrides> overrides);

}  // namespace sightline::traces::api
