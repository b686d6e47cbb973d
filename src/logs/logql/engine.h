// The LogQL engine: parses and evaluates Loki's query language over any log
// store that implements LogQuerier (storage.h).
//
// A query is either a log query (a stream selector plus a pipeline:
// `{app="api"} |= "error" | json | level="warn"`) that returns streams of
// entries, or a metric query (`sum by (level) (rate({app="api"} | logfmt
// [5m]))`) that returns a vector (instant), a matrix (range) or a scalar.
// Semantics follow Loki 3.x; docs/logql.md lists what is implemented and the
// known differences.
//
// Errors (Status codes, messages as Loki prints them so the API can pass them
// through unchanged):
//   InvalidArgument     parse errors ("parse error at line 1, col 12: syntax
//                       error: unexpected IDENTIFIER"), invalid parameters
//                       (step <= 0, end < start, a log query with a step-only
//                       shape, limit over max) -> HTTP 400
//   ResourceExhausted   "maximum number of series (500) reached for a single
//                       query" and other query limits -> HTTP 400 as Loki
//   FailedPrecondition  evaluation errors with Loki's messages: "pipeline
//                       error: 'JSONParserErr' for series: ..." (a metric
//                       query whose series keep __error__), "found duplicate
//                       series on the right hand-side ...", "multiple matches
//                       for labels: ..." -> HTTP 400 as Loki
//   DeadlineExceeded    the query ran past EngineOptions::timeout -> 504
//   Cancelled           QueryParams::cancel became true
//   others              passed through from the LogQuerier (storage) -> 500
//
// Thread-safety: an Engine is immutable after construction; any number of
// threads may run queries concurrently, each with its own LogQuerier.
// Parsed queries (ParsedQuery) are immutable and may be shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/logql/storage.h"

namespace sightline::logs::logql {

class Expr;  // The parsed syntax tree (ast.h, internal to the engine).

// A parsed query. Immutable; copies share the syntax tree (cheap).
class ParsedQuery {
 public:
  ParsedQuery();
  ~ParsedQuery();
  ParsedQuery(const ParsedQuery&);
  ParsedQuery& operator=(const ParsedQuery&);
  ParsedQuery(ParsedQuery&&) noexcept;
  ParsedQuery& operator=(ParsedQuery&&) noexcept;

  // True for a log (streams) query, false for a metric query.
  bool IsLogQuery() const;
  // The stream matchers of every stream selector in the query, one list per
  // selector (a binary metric query has two or more). For /series,
  // /index/stats, /index/volume, /detected_fields and the store's pushdown.
  std::vector<std::vector<Matcher>> StreamMatchers() const;
  // Loki's canonical single-line form of the query (syntax.Expr.String()).
  std::string String() const;
  // Loki's pretty-printed form, as /loki/api/v1/format_query returns it.
  std::string Pretty() const;

  const Expr& expr() const { return *expr_; }

 private:
  friend Result<ParsedQuery> Parse(std::string_view query);
  std::shared_ptr<const Expr> expr_;
};

// Parses a LogQL query. InvalidArgument with Loki's message on error.
Result<ParsedQuery> Parse(std::string_view query);

// Parses `query` and returns its pretty-printed form (format_query), or the
// parse error.
Result<std::string> Format(std::string_view query);

// Parses a bare stream selector (`{a="b", c=~"d"}`), as the API's match[]
// parameters of /series carry them. InvalidArgument on error.
Result<std::vector<Matcher>> ParseStreamSelector(std::string_view selector);

struct QueryParams {
  std::string query;
  // Log queries: entries with start_ns <= ts < end_ns. Metric queries:
  // evaluation steps start_ns, start_ns + step_ns, ... <= end_ns.
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  // 0: an instant query evaluated at end_ns (metric) or over [start,end)
  // (log). Loki's /query passes time as both start and end.
  int64_t step_ns = 0;
  // Log queries only (query_range `interval`): return at most one entry per
  // interval per stream. 0: off.
  int64_t interval_ns = 0;
  Direction direction = Direction::kBackward;
  // Log queries: the maximum number of entries returned over all streams
  // (the `limit` parameter; InvalidArgument above
  // EngineOptions::max_entries_limit). Ignored by metric queries.
  size_t limit = 100;
  // Log queries: when true (X-Loki-Response-Encoding-Flags:
  // categorize-labels), streams are keyed by their stream labels only and
  // each entry carries its structured metadata and parsed labels separately;
  // when false, streams are keyed by the full label set (stream labels +
  // structured metadata + parsed labels), as Loki's default responses are.
  bool categorize_labels = false;
  // Polled during evaluation; the query fails with Cancelled once true.
  const std::atomic<bool>* cancel = nullptr;
};

// One returned log entry.
struct LogEntry {
  int64_t timestamp_ns = 0;
  std::string line;
  // Filled in both modes; when categorize_labels is false they are also part
  // of the owning stream's labels.
  Labels structured_metadata;
  Labels parsed;  // Labels added by parsers and label_format.
};

struct LogStream {
  Labels labels;
  std::vector<LogEntry> entries;  // in the query's direction
};

struct Point {
  int64_t t_ns = 0;
  double v = 0;
};

struct VectorSample {
  Labels metric;
  int64_t t_ns = 0;
  double v = 0;
};

struct MatrixSeries {
  Labels metric;
  std::vector<Point> points;  // increasing time
};

// Counters for the API's `stats` block (summary and querier.store).
struct QueryStats {
  int64_t bytes_processed = 0;    // line bytes + structured metadata bytes read
  int64_t lines_processed = 0;    // entries read from storage
  int64_t entries_returned = 0;   // log queries: entries in the result
  int64_t streams_selected = 0;   // streams returned by SelectLogs
  int64_t post_filter_lines = 0;  // entries that passed the pipeline
  double exec_time_seconds = 0;
};

enum class ResultType { kStreams, kVector, kMatrix, kScalar };

// "streams", "vector", "matrix", "scalar".
std::string_view ResultTypeString(ResultType t);

struct QueryResult {
  ResultType type = ResultType::kStreams;
  std::vector<LogStream> streams;    // kStreams, sorted as Loki sorts them
  std::vector<VectorSample> vector;  // kVector (instant metric queries)
  std::vector<MatrixSeries> matrix;  // kMatrix (range metric queries)
  Point scalar;                      // kScalar
  std::vector<std::string> warnings;
  QueryStats stats;
};

struct EngineOptions {
  // Loki's max_query_series: series in a metric query's result.
  size_t max_series = 500;
  // Loki's max_entries_limit_per_query: the largest accepted `limit`.
  size_t max_entries_limit = 5000;
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
};

// The pipeline of a log query applied to one entry at a time, for
// /loki/api/v1/tail (which sees entries as they arrive rather than through
// a LogQuerier) and for the store's own uses. Created from a log query;
// single-threaded (it keeps scratch state), cheap to create per tail client.
class LogPipeline {
 public:
  // InvalidArgument for a metric query.
  static Result<std::unique_ptr<LogPipeline>> Make(const ParsedQuery& query);
  virtual ~LogPipeline() = default;

  // The query's stream matchers (entries of streams that do not match them
  // must not be passed to Process).
  virtual const std::vector<Matcher>& matchers() const = 0;
  // Runs the pipeline on one entry of a stream with labels `stream`. Returns
  // false when the entry is filtered out. Otherwise fills `out` (the
  // possibly rewritten line, structured metadata, parsed labels) and
  // `out_labels` (the full label set: stream labels after label_format /
  // drop / keep, plus structured metadata and parsed labels).
  virtual bool Process(const Labels& stream, const Entry& entry, LogEntry* out,
                       Labels* out_labels) = 0;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  const EngineOptions& options() const { return options_; }

  // Parses and evaluates `params.query`.
  Result<QueryResult> Exec(LogQuerier& querier, const QueryParams& params) const;
  // Evaluates an already parsed query (params.query is then only used for
  // messages).
  Result<QueryResult> Exec(LogQuerier& querier, const ParsedQuery& query,
                           const QueryParams& params) const;

 private:
  EngineOptions options_;
};

}  // namespace sightline::logs::logql
