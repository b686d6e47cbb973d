// OTLP traces ↔ the in-memory model (traces/model.h).
//
// TracesFromOtlp splits an ExportTraceServiceRequest into one Trace per
// trace id (the resource and scope of each span hoisted into the trace's
// tables), validating ids and applying the attribute value length limit.
// TraceToOtlp renders a Trace back as ResourceSpans/ScopeSpans, one per
// distinct resource and scope, spans in stored order.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "traces/model.h"

namespace opentelemetry::proto::collector::trace::v1 {
class ExportTraceServiceRequest;
}
namespace opentelemetry::proto::common::v1 {
class AnyValue;
class KeyValue;
}  // namespace opentelemetry::proto::common::v1
namespace opentelemetry::proto::trace::v1 {
class ResourceSpans;
class TracesData;
}  // namespace opentelemetry::proto::trace::v1

namespace sightline::traces::ingest {

struct ConvertOptions {
  // String and bytes attribute values longer than this are cut to it (at a
  // UTF-8 boundary) and counted; 0: no limit. Tempo's max_attribute_bytes.
  size_t max_attribute_value_bytes = 0;
};

struct ConvertResult {
  std::vector<Trace> traces;
  uint64_t spans = 0;           // accepted
  uint64_t rejected_spans = 0;  // bad trace or span id
  uint64_t truncated_values = 0;
  std::vector<std::string> messages;  // why spans were rejected (deduplicated)
};

ConvertResult TracesFromOtlp(
    const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
    const ConvertOptions& options);

// Appends the trace's spans to `out` as ResourceSpans.
void TraceToOtlp(const Trace& trace, opentelemetry::proto::trace::v1::TracesData* out);

// One attribute (value) as OTLP's KeyValue (AnyValue), arrays and lists
// recursively; shared by every place that answers with OTLP attributes.
void AttributeToOtlp(const KeyValue& kv, opentelemetry::proto::common::v1::KeyValue* out);
void AttributeToOtlp(const AttributeValue& v, opentelemetry::proto::common::v1::AnyValue* out);

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
void TruncateUtf8(std::string* s, size_t max);

}  // namespace sightline::traces::ingest
