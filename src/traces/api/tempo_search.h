// Internal to src/traces/api: the search, tag and TraceQL metrics routes,
// which go through the TraceQL engine (src/traces/traceql).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "traces/api/query_limits.h"

namespace sightline::net {
class Router;
struct RouteOptions;
}  // namespace sightline::net
namespace sightline::traces::store {
class TraceStore;
}

namespace sightline::traces::api {

// /api/search, /api/search/tags, /api/v2/search/tags,
// /api/search/tag/<t>/values, /api/v2/search/tag/<t>/values,
// /api/metrics/query_range, /api/metrics/query. `base` carries the shared
// route options (duration histogram).
struct SearchApiOptions {
  uint64_t target_bytes_per_job = 100ull << 20;  // /api/search and metrics jobs
  uint32_t max_series = 1000;                    // metrics series limit (0: none)
  QueryLimits limits;                            // Tempo's query-frontend limits
};
// Tempo's search max_duration check (query_limits.h): empty when the range
// (Unix ns; 0/0 is no range) is allowed for the tenant, else the 400 message.
std::string CheckSearchRange(const QueryLimits& limits, std::string_view tenant,
                             uint64_t start_unix_nano, uint64_t end_unix_nano);

void RegisterTempoSearchApi(net::Router& router, store::TraceStore* store,
                            const net::RouteOptions& base, const SearchApiOptions& options);

}  // namespace sightline::traces::api
