// Fuzz target: the OTLP/protobuf traces wire encoder (EncodeOtlpWire, the
// POST /v1/traces and gRPC Export hot path), differentially against the
// protobuf path it stands in for. Contracts checked:
//  - no crash, no out-of-bounds read, bounded work on any input;
//  - whatever the encoder accepts, protobuf parses too, and the records
//    are byte for byte EncodeTrace of TracesFromOtlp's traces, with the
//    same counts and messages (declining is always allowed: the receiver
//    then takes the protobuf path).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "traces/ingest/otlp_wire.h"
#include "traces/store/codec.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "traces_otlp_wire_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;
  using namespace sightline::traces;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  ingest::ConvertOptions options;
  options.max_attribute_value_bytes = 16;  // exercise truncation too
  auto enc = ingest::EncodeOtlpWire(body, options);
  if (!enc.ok()) return 0;
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) Fail("accepted what protobuf rejects");
  ingest::ConvertResult model = ingest::TracesFromOtlp(req, options);
  if (enc->spans != model.spans || enc->rejected_spans != model.rejected_spans ||
      enc->truncated_values != model.truncated_values || enc->messages != model.messages) {
    Fail("counts or messages differ from the protobuf path");
  }
  if (enc->traces.size() != model.traces.size()) Fail("trace count differs");
  for (size_t i = 0; i < model.traces.size(); ++i) {
    std::string want;
    store::EncodeTrace(model.traces[i], nullptr, &want);
    if (enc->traces.record(i) != want) Fail("record differs from EncodeTrace of the model");
  }
  return 0;
}
