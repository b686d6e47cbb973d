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
// through the same TraceQL engine calls). The engine runs a query as one
// job: Search and the metrics calls stream a first, empty progress message
// (metrics.total_jobs 1, completed_jobs 0) and then the full result with
// completed_jobs == total_jobs; tag calls send the result only.
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
