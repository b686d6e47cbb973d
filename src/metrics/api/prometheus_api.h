// The Prometheus HTTP API v1 (query side), as Grafana's Prometheus data
// source and promtool talk to it: /api/v1/query, /query_range, /series,
// /labels, /label/<name>/values, /metadata, /query_exemplars, /format_query,
// /status/buildinfo, /status/config, and empty /targets, /rules, /alerts.
//
// Every route answers GET and form-encoded POST (parameters are read from
// the query string and the body, as Prometheus's r.FormValue does). Bodies
// have Prometheus's envelope and byte layout:
//   {"status":"success","data":...,"warnings":[...],"infos":[...]}
//   {"status":"error","errorType":"bad_data","error":"..."}
// with HTTP 400 for bad_data, 422 execution, 503 timeout and canceled, 500
// internal, 404 not_found. Parameter errors carry Prometheus's messages
// ("invalid parameter \"start\": cannot parse \"x\" to a valid timestamp").
// docs/api-prometheus.md lists every route, parameter and limit.
//
// Tenancy: each handler passes request.tenant() to every storage, engine and
// MetadataSource call; nothing is shared between tenants.
//
// Thread-safety: handlers run concurrently; the Queryable, MetadataSource
// and Engine must be safe for concurrent use (they are in Sightline). All
// pointers passed to RegisterPrometheusApi must outlive the router.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/promql/engine.h"
#include "metrics/promql/matcher.h"
#include "metrics/storage/storage.h"
#include "net/http.h"

namespace sightline::telemetry {
class Registry;
}

namespace sightline::metrics::api {

// The exemplars of one series, as /api/v1/query_exemplars returns them.
struct ExemplarSeries {
  Labels series_labels;
  std::vector<Exemplar> exemplars;
};

// Exemplars and metric metadata: what Prometheus keeps beside the samples.
// The lead adapts the TSDB (MultiTenantDB) to this; it may be absent, in
// which case /metadata answers {} and /query_exemplars [].
// Implementations must be thread-safe. Errors are reported to the client as
// errorType "internal" (Internal/Unavailable/DataLoss) or "execution".
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;

  // Exemplars in [mint_ms, maxt_ms] of the series matching any of
  // `selectors` (each a list of matchers ANDed together).
  virtual Result<std::vector<ExemplarSeries>> QueryExemplars(
      std::string_view tenant, int64_t mint_ms, int64_t maxt_ms,
      const std::vector<std::vector<promql::Matcher>>& selectors) = 0;

  // Metadata per metric family name: only `metric` when not empty; at most
  // `limit` families (< 0: no limit) and `limit_per_metric` distinct
  // entries per family (<= 0: no limit). The API re-applies both limits, so a
  // source may ignore them.
  virtual Result<std::map<std::string, std::vector<MetricMetadata>>> Metadata(
      std::string_view tenant, const std::string& metric, int limit, int limit_per_metric) = 0;
};

struct ApiOptions {
  // Longest end-start of a range query; 0 = unlimited. Exceeding it is a
  // bad_data error "the query time range exceeds the limit (query length:
  // 745h0m0s, limit: 721h0m0s)" (Mimir's message).
  std::chrono::milliseconds max_query_range{0};
  // Most series /api/v1/series returns; 0 = unlimited. Applied like the
  // `limit` parameter (the smaller wins): the answer is cut and carries the
  // warning "results truncated due to limit".
  int64_t max_series = 0;
  // Upper bound on a query's evaluation time, in addition to the engine's own
  // timeout and the request's `timeout` parameter (the smallest wins);
  // 0 = the engine's.
  std::chrono::milliseconds query_timeout{0};
  // Prometheus's fixed limit of points per series in a range query.
  int64_t max_points_per_series = 11000;
  // Label names accepted in /api/v1/label/<name>/values: true accepts any
  // non-empty UTF-8 name (Prometheus 3.x), false only [a-zA-Z_][a-zA-Z0-9_]*
  // (Prometheus 2.x).
  bool utf8_label_names = true;

  // /api/v1/status/buildinfo. `version` must look like a Prometheus release
  // so Grafana enables match[] on label calls (>= 2.24).
  std::string version = "2.53.0";
  std::string revision;  // Empty: kRevision of the build.
  std::string branch = "HEAD";
  std::string build_user = "sightline";
  std::string build_date;
  std::string go_version = "go1.22.0";  // Grafana only displays it.
  // YAML served at /api/v1/status/config ({"yaml": ...}).
  std::string config_yaml;
  // The `data` object of /api/v1/targets for the `state` parameter (any,
  // active, dropped); empty: no scraper ({"activeTargets":[],
  // "droppedTargets":[]}). Must be thread-safe.
  std::function<std::string(std::string_view state)> targets;

  // Current time in ms since the epoch (default time of /query, and base of
  // the `timeout` parameter). Empty: the system clock. Tests set a fake.
  std::function<int64_t()> now_ms;
  // The storage without HA deduplication, used when a /query, /query_range
  // or /series request says dedup=false (Thanos's parameter); nullptr: the
  // parameter is accepted and ignored.
  Queryable* storage_without_dedup = nullptr;
  // Where prometheus_http_request_duration_seconds{handler} and
  // prometheus_http_requests_total{code,handler} are registered; nullptr:
  // telemetry::Registry::Default().
  telemetry::Registry* registry = nullptr;
};

// Registers every route above on `router` (GET and POST each). `storage`
// and `engine` are required; `metadata` may be null. Call once per router,
// before the server starts.
void RegisterPrometheusApi(net::Router& router, Queryable* storage, MetadataSource* metadata,
                           const promql::Engine* engine, const ApiOptions& options);

}  // namespace sightline::metrics::api
