// TraceSink: where the receivers put accepted traces — the store (the
// ingester), or the tail sampler in front of it. One interface so that the
// distributor does not know which.
//
// Two entry points: Push takes model Traces (Zipkin, OTLP/JSON, the tail
// sampler's output), PushEncoded takes records already encoded from the
// wire (the OTLP/protobuf hot path, encoded.h). A sink that only implements
// Push gets PushEncoded by decoding the records; the store and the metrics
// generator implement both.
//
// Thread-safety: Push and PushEncoded may be called concurrently from any
// threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "traces/ingest/encoded.h"
#include "traces/model.h"

namespace sightline::traces::ingest {

struct PushResult {
  // Spans refused by per-trace limits (e.g. the trace is over its byte
  // limit); the client must not retry them. Everything else was stored.
  uint64_t refused_spans = 0;
  std::vector<std::string> messages;  // why, for partial_success
};

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  // Stores `traces` (each holds spans of one trace id) for `tenant`.
  //   OK: stored and durable, except what `result` reports as refused.
  //   ResourceExhausted: a rate limit; nothing stored, retry later.
  //   other errors: nothing stored (e.g. the WAL failed); retryable.
  virtual Status Push(std::string_view tenant, std::vector<Trace> traces, PushResult* result) = 0;
  // The same for encoded traces (valid during the call only). Same answers.
  // The default decodes the records into Traces and calls Push.
  virtual Status PushEncoded(std::string_view tenant, const EncodedTraces& traces,
                             PushResult* result);
};

}  // namespace sightline::traces::ingest
