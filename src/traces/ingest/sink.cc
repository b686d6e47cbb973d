#include "traces/ingest/sink.h"

#include "traces/store/codec.h"

namespace sightline::traces::ingest {

Status TraceSink::PushEncoded(std::string_view tenant, const EncodedTraces& traces,
                              PushResult* result) {
  std::vector<Trace> decoded(traces.size());
  for (size_t i = 0; i < traces.size(); ++i) {
    Status s = store::DecodeTrace(traces.record(i), nullptr, &decoded[i]);
    // Records come from EncodeOtlpWire in this process: a failure is a bug.
    if (!s.ok()) return InternalError("encoded traces: " + s.message());
  }
  return Push(tenant, std::move(decoded), result);
}

}  // namespace sightline::traces::ingest
