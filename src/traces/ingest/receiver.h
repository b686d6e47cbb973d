// The traces distributor's receivers: OTLP traces over HTTP (POST
// /v1/traces, protobuf or OTLP/JSON, any Content-Encoding the HTTP server
// undoes, e.g. gzip), over gRPC (opentelemetry.proto.collector.trace.v1.
// TraceService/Export) and Zipkin v2 JSON (POST /api/v2/spans). They
// decode, apply the per-tenant limits and hand the traces to a TraceSink.
//
// Answers (OTLP spec, "Failures" and "Retryable response codes"):
//   HTTP 200 / gRPC OK with an ExportTraceServiceResponse in the request's
//     encoding. Spans that were not stored (bad ids, a trace over its byte
//     limit) are counted in partial_success.rejected_spans with the reason
//     in error_message: the client must not send them again.
//   HTTP 400 / INVALID_ARGUMENT: not an ExportTraceServiceRequest (not
//     retryable).
//   HTTP 415: Content-Type neither application/x-protobuf nor
//     application/json.
//   HTTP 429 + Retry-After / RESOURCE_EXHAUSTED + RetryInfo: the tenant's
//     ingestion rate limit (bytes/s with a burst, as Tempo's
//     ingestion_rate_limit_bytes/ingestion_burst_size_bytes); nothing stored.
//   HTTP 503 + Retry-After / UNAVAILABLE + RetryInfo: the store failed;
//     nothing stored; retry.
// Zipkin answers 202 (accepted), 400, 429 or 503 with a text body.
//
// Self-metrics (Tempo's names): tempo_distributor_spans_received_total
// {tenant}, tempo_distributor_bytes_received_total{tenant},
// tempo_discarded_spans_total{tenant, reason} with reasons rate_limited,
// trace_too_large, invalid_id; tempo_distributor_attributes_truncated_total.
//
// Thread-safety: handlers run concurrently; the sink must be thread-safe
// and outlive the receivers.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "base/status.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/ingest/otlp_wire.h"
#include "traces/ingest/sink.h"

namespace opentelemetry::proto::collector::trace::v1 {
class ExportTraceServiceRequest;
class ExportTraceServiceResponse;
}  // namespace opentelemetry::proto::collector::trace::v1

namespace sightline::net {
class GrpcServer;
class Router;
}  // namespace sightline::net
namespace sightline::telemetry {
class Registry;
}

namespace sightline::traces::ingest {

// One tenant's distributor limits.
struct TenantLimits {
  double rate_limit_bytes = 15e6;  // bytes of requests per second; 0: unlimited
  double burst_bytes = 20e6;
  size_t max_attribute_value_bytes = 0;  // 0: no limit
};

struct ReceiverOptions {
  // gRPC requires x-scope-orgid metadata (HTTP resolves tenants itself).
  bool multitenancy = false;
  int retry_after_seconds = 5;
  ConvertOptions convert;
  // Per tenant, bytes of requests per second and the burst; 0: unlimited.
  double rate_limit_bytes = 15e6;
  double burst_bytes = 20e6;
  // Per-tenant limits (the module reads config::TenantOverrides); when set
  // it replaces rate_limit_bytes, burst_bytes and
  // convert.max_attribute_value_bytes. Called per request; thread-safe.
  std::function<TenantLimits(std::string_view tenant)> limits;
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
  std::function<int64_t()> now_ms;          // empty: steady clock (tests)
};

class TracesReceiver {
 public:
  // `sink` is not owned.
  TracesReceiver(TraceSink* sink, ReceiverOptions options);
  ~TracesReceiver();
  TracesReceiver(const TracesReceiver&) = delete;
  TracesReceiver& operator=(const TracesReceiver&) = delete;

  // The transport-independent part. `wire_bytes` is the request's size for
  // the rate limit. Returns OK (including partial success; `response`
  // filled), InvalidArgument, ResourceExhausted or a store error.
  Status Export(std::string_view tenant,
                const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& req,
                size_t wire_bytes,
                opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse* response);

  // The whole OTLP/HTTP request path without the HTTP layer (what POST
  // /v1/traces runs; benchmarks measure it): decodes `body` (protobuf into
  // an arena, or OTLP/JSON with its hex ids), then Export. InvalidArgument
  // when the body does not decode; otherwise as Export.
  Status ExportBody(std::string_view tenant, std::string_view body, bool json,
                    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse* response);

  // Decoded traces (Zipkin, tests): rate limit, then the sink.
  Status PushConverted(std::string_view tenant, ConvertResult converted, size_t wire_bytes,
                       PushResult* result);

  // Encoded traces (the OTLP/protobuf path): the same, then the sink's
  // PushEncoded.
  Status PushEncoded(std::string_view tenant, const EncodeResult& encoded, size_t wire_bytes,
                     PushResult* result);

  const ReceiverOptions& options() const;

  // Registers POST /v1/traces ("otlp_v1_traces") and POST /api/v2/spans
  // ("zipkin_spans"). The receiver must outlive the router.
  void RegisterHttp(net::Router& router);
  // Registers the gRPC TraceService (before the server starts); health name
  // "opentelemetry.proto.collector.trace.v1.TraceService".
  void RegisterGrpc(net::GrpcServer& server);

 private:
  struct Impl;
  struct Counts;
  // The distributor's accounting and rate limit, then `push` (the sink).
  Status AccountAndPush(std::string_view tenant, const Counts& c, bool empty, size_t wire_bytes,
                        PushResult* result, const std::function<Status(PushResult*)>& push);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces::ingest
