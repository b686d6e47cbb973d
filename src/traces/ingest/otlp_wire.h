// OTLP/protobuf request bytes → the store's trace records, without protobuf
// objects: the OTLP/protobuf ingest hot path (HTTP and gRPC).
//
// EncodeOtlpWire walks the wire format of an ExportTraceServiceRequest and
// writes each trace straight into the store's record encoding (encoded.h):
// the records are byte for byte what EncodeTrace writes for the traces of
//   ParseFromString(body) then TracesFromOtlp(request, options)
// (same traces, order, validation, truncation, counts and messages), with no
// model objects and no per-string allocations.
//
// It handles the requests SDKs and collectors send. For anything it does
// not handle identically — malformed bytes, invalid UTF-8 in a string field,
// groups, a singular message field repeated (protobuf merges those), an
// AnyValue with two values, nesting deeper than 64, Resource.entity_refs —
// it returns InvalidArgument and the caller must use the protobuf path,
// which then decides (and words the error for malformed bodies).
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string_view>

#include "base/status.h"
#include "traces/ingest/encoded.h"
#include "traces/ingest/otlp_convert.h"

namespace sightline::traces::ingest {

// ConvertResult's counts with the traces encoded. `traces.spans`' views
// point into `body`.
struct EncodeResult {
  EncodedTraces traces;
  uint64_t spans = 0;           // accepted
  uint64_t rejected_spans = 0;  // bad trace or span id
  uint64_t truncated_values = 0;
  std::vector<std::string> messages;
};

Result<EncodeResult> EncodeOtlpWire(std::string_view body, const ConvertOptions& options);

}  // namespace sightline::traces::ingest
