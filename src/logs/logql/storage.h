// What the LogQL engine needs from the log store, and nothing more.
//
// The engine (src/logs/logql) sees storage only through LogQuerier; the
// store (src/logs/store) implements it over the in-memory head and the
// blocks in the object store. Tests implement it in memory.
//
// Selection: SelectLogs returns one iterator per stream whose labels match
// every matcher and that has entries in [start_ns, end_ns). Each iterator
// yields that stream's entries in `direction` order (forward: oldest first;
// backward: newest first); entries with equal timestamps keep ingest order
// (forward) or its reverse (backward). The engine merges streams itself.
//
// Pushdown hints: `line_contains`, `line_filters` and `trace_id` let the store skip chunks and
// blocks that cannot hold a match (per-block trace-id index, DESIGN §5); they
// never change the answer, because the engine applies the full pipeline to
// every entry it is given. `limit` is a hint as well: a store may stop early
// once it returned that many entries from the stream.
//
// Thread-safety: a LogQuerier is used from one query at a time but must be
// safe to create and use concurrently with ingestion; iterators are used by
// one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/promql/matcher.h"
#include "metrics/tsdb/labels.h"

namespace sightline::logs {

// Stream labels and structured metadata use the same sorted label set as
// metrics series (one Labels type in the code base).
using Labels = tsdb::Labels;
using promql::Matcher;

enum class Direction { kForward, kBackward };

// A positive line filter (`|= "a" or "b"`, `|~ "re"`) the store may run over
// a chunk block's whole lines column at once (logql/line_matcher.h). Every
// returned line must Match(); like the other hints it never changes the
// answer. Thread-safe, immutable.
class LineFilterHint {
 public:
  virtual ~LineFilterHint() = default;
  virtual bool Match(std::string_view line) const = 0;
  // Lines [lo, hi) of a lines column (line i is column[off[i], off[i+1]));
  // appends the indexes of the lines that Match(), in increasing order.
  virtual void MatchColumn(std::string_view column, const uint32_t* off, size_t lo, size_t hi,
                           std::vector<uint32_t>* hits) const = 0;
};

struct Entry {
  int64_t timestamp_ns = 0;
  std::string line;
  Labels structured_metadata;  // OTLP attributes, trace_id, span_id, ...
};

class StreamIterator {
 public:
  virtual ~StreamIterator() = default;
  // The stream's labels; valid for the iterator's lifetime.
  virtual const Labels& labels() const = 0;
  // Advances to the next entry; false at the end or on error (see status()).
  virtual bool Next() = 0;
  // The current entry; valid until the next call to Next().
  virtual const Entry& entry() const = 0;
  virtual Status status() const = 0;
};

struct SelectLogsParams {
  std::vector<Matcher> matchers;  // the stream selector, at least one
  int64_t start_ns = 0;           // inclusive
  int64_t end_ns = 0;             // exclusive
  Direction direction = Direction::kForward;
  // Hints (see above).
  std::vector<std::string> line_contains;  // each returned line contains all
  std::vector<std::shared_ptr<const LineFilterHint>> line_filters;  // each matches
  std::optional<std::string> trace_id;     // lowercase hex, 32 chars
  // Every returned line contains this 32-hex-digit literal (`|= "<trace
  // id>"`): blocks whose trace index covers line hex runs are narrowed to
  // the chunks that mention it.
  std::optional<std::string> line_trace_id;
  // Every returned entry has the label trace_id equal to this 32-hex-digit
  // id (`| trace_id="<id>"`), its value taken from structured metadata, a
  // parser over the line (so the id is in the line) or the stream's labels:
  // narrowed like line_trace_id, except that streams carrying a trace_id
  // label keep all their chunks.
  std::optional<std::string> label_trace_id;
  size_t limit = 0;                        // 0: no limit
};

class LogQuerier {
 public:
  virtual ~LogQuerier() = default;

  virtual Result<std::vector<std::unique_ptr<StreamIterator>>> SelectLogs(
      const SelectLogsParams& params) = 0;

  // Stream label sets matching `matchers` (all streams when empty) with
  // entries in [start_ns, end_ns).
  virtual Result<std::vector<Labels>> Series(const std::vector<Matcher>& matchers,
                                             int64_t start_ns, int64_t end_ns) = 0;
  // Sorted, unique.
  virtual Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>& matchers,
                                                      int64_t start_ns, int64_t end_ns) = 0;
  virtual Result<std::vector<std::string>> LabelValues(const std::string& name,
                                                       const std::vector<Matcher>& matchers,
                                                       int64_t start_ns, int64_t end_ns) = 0;
};

}  // namespace sightline::logs
