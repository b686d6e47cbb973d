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
// through the same TraceQL engine calls). Search runs as jobs (the head,
// then blocks newest first, batched to search_target_bytes_per_job; see
// traceql::SearchJobs) and sends one message per job: the traces found
// since the previous message (each sent once) and cumulative metrics, the
// last with completed_jobs == total_jobs; a client that cancels stops the
// scan. MetricsQueryRange runs as the same jobs and sends, after each, the
// series and samples new or changed since the previous message (Tempo's
// diff). MetricsQueryInstant streams an empty progress message (total_jobs
// 1, completed_jobs 0) and then the result; tag calls send the result only.
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

#include <memory>

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
