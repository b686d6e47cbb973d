// The Tempo HTTP API (https://grafana.com/docs/tempo/latest/api_docs/) over
// the trace store and the TraceQL engine, with Tempo's response shapes (what
// Grafana's Tempo data source reads; ../shared/grafana-contract.md):
//
//   GET /api/echo                          "echo"
//   GET /api/status/buildinfo              {"version":"2.7.2",...}
//   GET /api/traces/<id>[?start&end]       tempopb.Trace: JSON {"batches":[...]}
//                                          or protobuf (Accept: application/protobuf)
//   GET /api/v2/traces/<id>[?start&end]    tempopb.TraceByIDResponse (JSON/protobuf)
//   GET /api/search                        q | tags, minDuration, maxDuration,
//                                          limit, spss, start, end
//   GET /api/search/tags                   {"tagNames":[...]}
//   GET /api/v2/search/tags                {"scopes":[{"name","tags"}]}
//   GET /api/search/tag/<t>/values         {"tagValues":["..."]}
//   GET /api/v2/search/tag/<t>/values      {"tagValues":[{"type","value"}]}
//   GET /api/metrics/query_range           q, start, end, step, exemplars
//   GET /api/metrics/query                 q, start, end
//
// Times in parameters are Unix seconds (start/end), as Grafana sends them;
// nanosecond values are recognized by their size. Durations are Go
// durations ("100ms", "1.5s"). Bad parameters answer 400 with a text body,
// an unknown trace 404, store errors 500.
//
// Thread-safety: handlers run concurrently; the store must outlive the
// router.
#pragma once

#include <string>

#include "traces/api/query_limits.h"

namespace sightline::net {
class Router;
}
namespace sightline::telemetry {
class Registry;
}
namespace sightline::traces::store {
class TraceStore;
}

namespace sightline::traces::api {

struct ApiOptions {
  // Reported by /api/status/buildinfo; Grafana enables streaming search
  // from 2.2 and TraceQL metrics from 2.7.
  std::string tempo_version = "2.7.2";
  telemetry::Registry* registry = nullptr;  // tempo_request_duration_seconds
  // /api/search runs as jobs of blocks batched to this size (the same jobs
  // the streaming querier streams, so both give the same answer).
  uint64_t search_target_bytes_per_job = 100ull << 20;
  // Series limit of /api/metrics/query_range and /api/metrics/query
  // (Tempo's query_frontend.metrics.max_response_series; 0: none). Over it
  // the answer is cut and carries "status":"PARTIAL" and Tempo's message.
  uint32_t metrics_max_series = 1000;
  // Tempo's query-frontend limits (query_limits.h): metrics and search
  // max_duration, max_exemplars, max_spans_per_span_set.
  QueryLimits limits;
};

void RegisterTempoApi(net::Router& router, store::TraceStore* store, const ApiOptions& options);

}  // namespace sightline::traces::api
