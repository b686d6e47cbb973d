// Tempo's streaming gRPC query API, tempopb.StreamingQuerier (proto/tempo/
// tempo.proto), over the trace store and the TraceQL engine. This is what
// Grafana's Tempo data source calls when "Streaming" is enabled for search
// or metrics: it dials gRPC at the data source URL's host:port, i.e. the
// HTTP port (the app hands HTTP/2-prefaced connections there to the gRPC
// server, as Tempo does with stream_over_http_enabled) or the gRPC port.
//
//   Search              SearchRequest      -> stream SearchResponse
//   SearchTags          SearchTagsRequest  -> stream SearchTagsResponse
//   SearchTagsV2        SearchTagsRequest  -> stream SearchTagsV2Response
//   SearchTagValues     SearchTagValuesRequest -> stream SearchTagValuesResponse
//   SearchTagValuesV2   SearchTagValuesRequest -> stream SearchTagValuesV2Response
//   MetricsQueryRange   QueryRangeRequest  -> stream QueryRangeResponse
//   MetricsQueryInstant QueryInstantRequest -> stream QueryInstantResponse
//
// Answers carry the same data as the HTTP API's for the same query (both go
// through the same TraceQL engine calls). Search, MetricsQueryRange and
// MetricsQueryInstant run as jobs (the head, then blocks newest first,
// batched to search_target_bytes_per_job; see traceql::SearchJobs) and
// stream like Tempo's query-frontend: after a job completes, when at least
// `stream_interval` (Tempo: 500 ms) has passed since the previous message,
// what accumulated since then is sent — Search: the traces found (each sent
// once); MetricsQueryRange: the series and samples new or changed (Tempo's
// diff); MetricsQueryInstant: the series new or whose value changed (with
// their current value) — with cumulative metrics. The cadence depends on
// time, not on the number of jobs. The last message is always sent, after
// every job, with completed_jobs == total_jobs and whatever was not sent
// yet (and, for metrics, status PARTIAL + Tempo's message when max_series
// was reached). A client that cancels stops the scan. Tag calls send the
// result only.
//
// max_series: a metrics request's max_series, capped by the configured
// limit (Tempo's query_frontend.metrics.max_response_series, 1000; 0 in the
// request means the limit). The other query-frontend limits (metrics and
// search max_duration, max_exemplars, max_spans_per_span_set) are
// query_limits.h's, answered INVALID_ARGUMENT with Tempo's messages.
//
// Tenant: the "x-scope-orgid" metadata, with the HTTP rules (net/tenant.h):
// UNAUTHENTICATED when missing with multi-tenancy on, INVALID_ARGUMENT for
// an invalid id. Errors: a bad TraceQL query or bad parameters answer
// INVALID_ARGUMENT with the engine's Tempo-like message; too many series
// RESOURCE_EXHAUSTED; store errors their own code.
//
// Thread-safety: calls run concurrently on gRPC's threads; the store must
// outlive the server the service is registered on.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "traces/api/query_limits.h"

namespace sightline::net {
class GrpcServer;
}
namespace sightline::traces::store {
class TraceStore;
}

namespace sightline::traces::api {

struct StreamingQuerierOptions {
  bool multitenancy = false;  // require x-scope-orgid
  // Search jobs batch blocks up to this size (ApiOptions has the same).
  uint64_t search_target_bytes_per_job = 100ull << 20;
  // Minimum time between two progress messages (0: one per job).
  std::chrono::milliseconds stream_interval{500};
  // Series limit of metrics queries (0: none).
  uint32_t max_series = 1000;
  // Tempo's query-frontend limits, as the HTTP API applies them.
  QueryLimits limits;
};

class StreamingQuerier {
 public:
  StreamingQuerier(store::TraceStore* store, StreamingQuerierOptions options);
  ~StreamingQuerier();
  StreamingQuerier(const StreamingQuerier&) = delete;
  StreamingQuerier& operator=(const StreamingQuerier&) = delete;

  // Registers tempopb.StreamingQuerier (health name "tempopb.StreamingQuerier")
  // on `server`, before its Start(). This object must outlive the server.
  void Register(net::GrpcServer& server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces::api
