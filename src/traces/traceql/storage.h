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
#include <memory>
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

// One piece of a query's data: the store's head (recent traces) or one block.
struct ShardInfo {
  bool head = false;
  uint64_t min_time_unix_nano = 0;  // span start times in the shard
  uint64_t max_time_unix_nano = 0;  // span end times in the shard
  uint64_t bytes = 0;               // size, to batch shards into jobs
  uint64_t traces = 0;
};

// The data of one query (a tenant and a time range fixed when it was made)
// cut into shards, so that a search can read them as jobs, one after the
// other, and report progress between them (Tempo's query-frontend jobs).
//
// shards() lists them in the order a search reads them: the head first
// (when there is one), then blocks newest first. ScanShards(first, last)
// calls `fn` for every trace that has a part in shards [first, last) and
// starts in the plan's time range — whole: a trace split over several
// shards (spans that arrived after a cut) is merged from all its parts in
// the plan, and passed once over the life of the object, in the first call
// that meets one of its parts. Hints let shards skip data as for
// TraceSource::Scan. `fn` returns false to stop (ScanShards returns OK).
//
// Thread-safety: one query at a time (not thread-safe); `fn` runs on the
// calling thread.
class ShardedTraceSource {
 public:
  virtual ~ShardedTraceSource() = default;
  virtual const std::vector<ShardInfo>& shards() const = 0;
  virtual Status ScanShards(size_t first, size_t last, const ScanParams& params,
                            const std::function<bool(const Trace&)>& fn) = 0;
};

// A TraceSource as a single shard (tests, sources without shards). `source`
// must outlive the result; the plan's range is [start, end) of each call.
std::unique_ptr<ShardedTraceSource> SingleShard(TraceSource& source);

}  // namespace sightline::traces
