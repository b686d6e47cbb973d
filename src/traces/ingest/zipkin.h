// Zipkin v2 JSON spans (POST /api/v2/spans, a JSON array of span objects,
// https://zipkin.io/zipkin-api/) → the trace model, mapped as the OTel
// Collector's zipkin receiver does: localEndpoint.serviceName becomes the
// resource's service.name; tags become span attributes (the "error" tag and
// otel.status_code/otel.status_description set the status); annotations
// become events; kind SERVER/CLIENT/PRODUCER/CONSUMER maps to OTLP's; the
// remote endpoint becomes net.peer.ip/net.peer.port/peer.service;
// timestamps and durations (µs) become ns.
//
// Thread-safety: free function.
#pragma once

#include <string_view>

#include "base/status.h"
#include "traces/ingest/otlp_convert.h"

namespace sightline::traces::ingest {

// InvalidArgument when the body is not a JSON array of spans, or a span has
// no valid traceId/id. Attribute values are limited as in `options`.
Result<ConvertResult> TracesFromZipkinJson(std::string_view body, const ConvertOptions& options);

}  // namespace sightline::traces::ingest
