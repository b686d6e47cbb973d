// What the TraceQL engine needs from the trace store, and nothing more.
//
// The engine (src/traces/traceql) sees storage only through TraceSource; the
// store (src/traces/store) implements it over the in-memory head and the
// blocks in the object store. Tests implement it over a vector of traces.
//
// Scan calls `fn` once per trace that overlaps [start_unix_nano,
// end_unix_nano) (any span starting in the range; 0/0 means all time), whole
// (all spans of the trace the store holds), in no particular order. `fn`
// returns false to stop the scan early (e.g. a search limit was reached).
//
// Hints let the store skip blocks or row groups that cannot match (bloom
// filters, dictionaries, min/max columns); they never change the answer,
// because the engine evaluates the full query on every trace it is given.
//
// Thread-safety: Scan may be called concurrently from several queries; `fn`
// is called from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "traces/model.h"

namespace sightline::traces {

struct ScanHints {
  // Every matching trace has a span (or resource) with attribute `key` equal
  // to `value`, e.g. {"service.name", "checkout"}. Scope: "span",
  // "resource" or "" for either.
  struct Equality {
    std::string scope;
    std::string key;
    std::string value;
  };
  std::vector<Equality> equalities;
  // Every matching trace has a span with this name.
  std::optional<std::string> span_name;
  // Every matching trace has a span of at least this duration.
  std::optional<uint64_t> min_span_duration_nano;
};

struct ScanParams {
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  ScanHints hints;
};

class TraceSource {
 public:
  virtual ~TraceSource() = default;
  virtual Status Scan(const ScanParams& params, const std::function<bool(const Trace&)>& fn) = 0;
};

}  // namespace sightline::traces
