// TraceSink: where the receivers put accepted traces — the store (the
// ingester), or the tail sampler in front of it. One interface so that the
// distributor does not know which.
//
// Thread-safety: Push may be called concurrently from any threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
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
};

}  // namespace sightline::traces::ingest
