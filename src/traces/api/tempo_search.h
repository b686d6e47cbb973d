// Internal to src/traces/api: the search, tag and TraceQL metrics routes,
// which go through the TraceQL engine (src/traces/traceql).
#pragma once

#include <cstdint>

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
};
void RegisterTempoSearchApi(net::Router& router, store::TraceStore* store,
                            const net::RouteOptions& base, const SearchApiOptions& options);

}  // namespace sightline::traces::api
