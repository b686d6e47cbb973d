// The TraceQL engine: parses TraceQL and evaluates it over a TraceSource.
//
// This is what the Tempo HTTP API (src/traces/api) calls for /api/search,
// /api/metrics/query_range, /api/metrics/query and the tag endpoints. The
// engine sees storage only through TraceSource (storage.h); it asks the
// store for whole traces, using ScanHints derived from the query to let the
// store skip data, and evaluates the full query on every trace it gets.
//
// Semantics follow Grafana Tempo's TraceQL (docs/traceql.md lists every
// construct and the few differences): a query is evaluated per trace; a
// spanset filter `{ ... }` selects the spans of that trace matching it;
// pipelines, structural operators and spanset `&&`/`||` combine span sets of
// the same trace; a trace matches when its final span set is non-empty.
//
// Results use the shapes of Tempo's JSON responses, with ids already
// hex-encoded, so the API only has to serialize them.
//
// Errors (Status codes):
//   InvalidArgument    the query does not parse or is not valid (e.g. a
//                      metrics query passed to Search); the message reads
//                      like Tempo's ("invalid TraceQL query: parse error at
//                      line 1, col 5: ..."), the API returns it with 400.
//                      Also bad request parameters (end before start, zero
//                      step).
//   ResourceExhausted  a metrics query without max_series would produce
//                      more than kMaxMetricsSeries series (with max_series
//                      the answer is truncated and marked partial instead).
//   others             passed through from TraceSource::Scan.
//
// Thread-safety: all functions are reentrant; a parsed Query is immutable
// and may be shared between threads. Each call owns what it allocates.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "traces/model.h"
#include "traces/traceql/storage.h"

namespace sightline::traces::traceql {

// A parsed TraceQL query (AST in ast.h). Opaque to API callers.
struct Query;

struct QueryDeleter {
  void operator()(const Query* q) const;
};
using QueryPtr = std::unique_ptr<const Query, QueryDeleter>;

// Parses `text`. An empty or all-blank query is `{}`.
Result<QueryPtr> Parse(std::string_view text);

// True when the query is a metrics query (`... | rate()` etc.).
bool IsMetricsQuery(const Query& q);

// The query back as canonical TraceQL text (for logs and tests).
std::string ToString(const Query& q);

// Conservative hints for the store: every trace the query can match
// satisfies them. Empty hints for queries that do not allow any (e.g. with
// `||`, negations or structural operators that may match without them).
// An equality {key, value} also holds when `value` is a string element of an
// array attribute `key` (TraceQL's array semantics), so a store that prunes
// by dictionary must count array elements as values.
ScanHints DeriveScanHints(const Query& q);

// Converts the legacy search "tags" parameter (logfmt, e.g.
// `service.name=api http.status_code=500 name="GET /"`) into the equivalent
// TraceQL query, as Tempo does for non-TraceQL searches.
Result<std::string> TagsToTraceQL(std::string_view logfmt);

// ----------------------------------------------------------------- Search

struct SearchRequest {
  std::string query = "{}";      // TraceQL; empty means `{}`
  uint64_t start_unix_nano = 0;  // 0/0: all time
  uint64_t end_unix_nano = 0;
  uint32_t limit = 20;              // traces returned; 0 means 20
  uint32_t spans_per_span_set = 3;  // spss; 0 means 3
  // Trace duration bounds (Tempo's minDuration/maxDuration); 0 = unbounded.
  uint64_t min_duration_nano = 0;
  uint64_t max_duration_nano = 0;
};

struct SpanResult {
  std::string span_id;  // 16 lowercase hex digits
  std::string name;
  uint64_t start_unix_nano = 0;
  uint64_t duration_nanos = 0;
  // Attributes the query touched (as Tempo returns), plus select() ones.
  // Intrinsics appear with their TraceQL names (e.g. "status", "kind").
  std::vector<KeyValue> attributes;
};

struct SpanSetResult {
  std::vector<SpanResult> spans;  // at most spans_per_span_set
  uint32_t matched = 0;           // spans in the set before the spss cut
  // Values of by() groups and pipeline aggregates, e.g. {"by(resource.service.name)",
  // "api"}, {"count()", 3}.
  std::vector<KeyValue> attributes;
};

// Tempo's serviceStats entry: spans and error spans of one service in the
// trace (all spans of the trace, not only the matched ones).
struct ServiceStats {
  std::string service;  // resource service.name ("" when absent)
  uint32_t span_count = 0;
  uint32_t error_count = 0;
};

struct TraceSearchResult {
  std::string trace_id;           // 32 lowercase hex digits (Tempo strips leading zeros; we do not)
  std::string root_service_name;  // "<root span not yet received>" when missing
  std::string root_trace_name;    // empty when the root span is missing
  uint64_t start_unix_nano = 0;
  uint32_t duration_ms = 0;
  std::vector<SpanSetResult> span_sets;     // spanSets; spanSet = span_sets[0]
  std::vector<ServiceStats> service_stats;  // sorted by service
};

struct SearchMetrics {
  uint64_t inspected_traces = 0;
  uint64_t inspected_bytes = 0;  // approximate in-memory bytes of inspected traces
  uint64_t inspected_spans = 0;
  // Jobs the query was cut into (SearchJobs) and how many ran to the end;
  // 1/1 for the one-job calls. Blocks: the store blocks in the plan.
  uint32_t total_jobs = 1;
  uint32_t completed_jobs = 1;
  uint32_t total_blocks = 0;
  uint64_t total_block_bytes = 0;
};

struct SearchResponse {
  std::vector<TraceSearchResult> traces;  // newest first, at most limit
  SearchMetrics metrics;
};

Result<SearchResponse> Search(TraceSource& source, const SearchRequest& req);

// ------------------------------------------------------- Search as jobs
//
// Tempo's query frontend cuts a search into jobs and streams what each job
// finds. SearchJobs does the same over a ShardedTraceSource: job 0 is the
// head (recent traces), then blocks newest first, batched until a job holds
// at least target_bytes_per_job (so 1 means one block per job). After each
// job `on_job` gets the traces found by that job that are certain to be in
// the final answer (never sent twice; Tempo >= 2.5's streamed diff) and the
// cumulative metrics (completed_jobs / total_jobs). The union of every
// progress' traces is the final answer, which is also returned.
//
// Final answer: without most_recent, the first `limit` traces matched in
// job order, newest first; the search stops there (later jobs are skipped
// and count as completed, as Tempo's frontend stops issuing them). With
// most_recent=true, every job runs and the newest `limit` are kept; a trace
// is streamed once no job left can hold a newer one (the shards' times).
//
// Cancellation: `cancelled` (optional) is polled between traces; when it
// returns true, or `on_job` returns false, the search stops with Cancelled.

struct SearchJobOptions {
  uint64_t target_bytes_per_job = 100ull << 20;  // Tempo's default
};

struct SearchProgress {
  std::vector<TraceSearchResult> traces;  // new since the previous progress
  SearchMetrics metrics;                  // cumulative
};

using SearchProgressFn = std::function<bool(SearchProgress&)>;

Result<SearchResponse> SearchJobs(ShardedTraceSource& source, const SearchRequest& req,
                                  const SearchJobOptions& options,
                                  const SearchProgressFn& on_job = nullptr,
                                  const std::function<bool()>& cancelled = nullptr);

// -------------------------------------------------------------- Metrics

inline constexpr size_t kMaxMetricsSeries = 10'000;
// Tempo's hard cap on the exemplars of one metrics answer.
inline constexpr uint32_t kMaxExemplars = 100;

struct MetricsRequest {
  std::string query;  // a metrics query: `{...} | rate() by (...)`
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  // Range queries: 0 picks DefaultQueryRangeStep(start, end).
  uint64_t step_nano = 0;
  // Exemplars to attach to the answer (0: none), at most kMaxExemplars.
  // As Tempo spreads them: the range is cut into exemplars/2 equal time
  // buckets holding at most 2 exemplars each, a trace gives at most one
  // (its first matched span whose bucket has room), and each exemplar goes
  // to its span's series. Values as Tempo's: NaN for rate, count_over_time,
  // histogram_over_time and avg_over_time, the measured value (durations
  // in seconds) for min/max/sum_over_time and quantile_over_time.
  uint32_t exemplars = 0;
  // Tempo's query_frontend.metrics.max_duration (or the tenant's
  // max_metrics_duration): a longer range is refused with InvalidArgument
  // and Tempo's message; the range is measured as Tempo 2.7 measures it,
  // after aligning start down and end up to the step (instant queries:
  // end - start). 0: no limit.
  uint64_t max_duration_nano = 0;
  // Tempo's max_series: at most this many series are returned. When the
  // query finds more, the scan stops, the series (sorted by prom_labels)
  // are cut to this many and the answer is marked partial with Tempo's
  // message. 0: no such limit (kMaxMetricsSeries still guards memory).
  uint32_t max_series = 0;
};

// Tempo's message for an answer cut at max_series.
std::string MaxSeriesMessage(uint32_t max_series);

struct Sample {
  int64_t timestamp_ms = 0;
  double value = 0;
};

struct Exemplar {
  std::vector<KeyValue> labels;  // e.g. trace:id, span:id
  double value = 0;
  int64_t timestamp_ms = 0;
};

struct MetricsSeries {
  // Typed labels, e.g. {"resource.service.name", "api"}; for
  // quantile_over_time a float label "p"; for histogram_over_time "__bucket".
  // `{"__name__", "rate"}`-style name labels are not added (Tempo doesn't).
  std::vector<KeyValue> labels;
  std::string prom_labels;      // `{resource.service.name="api"}` as Tempo prints it
  std::vector<Sample> samples;  // ascending; steps with no data omitted
  std::vector<Exemplar> exemplars;
};

struct MetricsResponse {
  std::vector<MetricsSeries> series;
  SearchMetrics metrics;
  // Tempo's status PARTIAL and its message: max_series was reached.
  bool partial = false;
  std::string message;
};

// Evaluates at start, start+step, ... < end (Tempo aligns start down to step).
Result<MetricsResponse> MetricsQueryRange(TraceSource& source, const MetricsRequest& req);

// The same as jobs (as SearchJobs cuts them). After each job but the last,
// `on_job` gets the series computed from the jobs done so far (a snapshot,
// not a diff: a streaming API diffs consecutive snapshots as Tempo's
// frontend does) and the cumulative metrics; the final answer is returned.
// Cancellation as SearchJobs (Cancelled).
struct MetricsProgress {
  std::vector<MetricsSeries> series;  // sorted by prom_labels
  SearchMetrics metrics;
  bool partial = false;  // max_series reached (message: MaxSeriesMessage)
};
Result<MetricsResponse> MetricsQueryRangeJobs(
    ShardedTraceSource& source, const MetricsRequest& req, const SearchJobOptions& options,
    const std::function<bool(MetricsProgress&)>& on_job = nullptr,
    const std::function<bool()>& cancelled = nullptr);

// The span start times a range query reads, [start aligned down to the
// step, end): plan a ShardedTraceSource with them. InvalidArgument as
// MetricsQueryRange.
Result<std::pair<uint64_t, uint64_t>> MetricsScanRange(const MetricsRequest& req);

struct InstantSeries {
  std::vector<KeyValue> labels;
  std::string prom_labels;
  double value = 0;
};

struct InstantResponse {
  std::vector<InstantSeries> series;  // sorted by prom_labels
  SearchMetrics metrics;
  bool partial = false;  // as MetricsResponse
  std::string message;
};

// One value per series over the whole [start, end) (step and exemplars
// ignored): Tempo >= 2.7 runs an instant query as a range query with one
// step of end - start. Here the window is exactly [start, end) (not aligned
// to the step).
Result<InstantResponse> MetricsQueryInstant(TraceSource& source, const MetricsRequest& req);

// The same as jobs, as MetricsQueryRangeJobs: after each job but the last,
// `on_job` gets every series computed so far (a snapshot; value = the
// series' value over the jobs done) and the cumulative metrics. The final
// answer equals MetricsQueryInstant's over the same data. Cancellation as
// SearchJobs (Cancelled).
struct InstantProgress {
  std::vector<InstantSeries> series;  // sorted by prom_labels
  SearchMetrics metrics;
  bool partial = false;
};
Result<InstantResponse> MetricsQueryInstantJobs(
    ShardedTraceSource& source, const MetricsRequest& req, const SearchJobOptions& options,
    const std::function<bool(InstantProgress&)>& on_job = nullptr,
    const std::function<bool()>& cancelled = nullptr);

// The span start times an instant query reads ([start, end)); validates the
// request as MetricsQueryInstant does.
Result<std::pair<uint64_t, uint64_t>> MetricsInstantScanRange(const MetricsRequest& req);

// Tempo's default step for a range query that leaves it out: range / 240,
// rounded down to a multiple of 5 s (of 1 s below 5 s), at least 1 s.
uint64_t DefaultQueryRangeStep(uint64_t start_unix_nano, uint64_t end_unix_nano);

// ----------------------------------------------------------------- Tags

struct TagNamesRequest {
  // "span", "resource", "event", "link", "instrumentation", "intrinsic", or
  // "" / "all" / "none" for every scope.
  std::string scope;
  std::string query;  // optional TraceQL filter: only spans it matches count
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  uint32_t limit = 0;  // max names per scope; 0 = unlimited
};

struct TagScope {
  std::string name;               // "span", "resource", ..., "intrinsic"
  std::vector<std::string> tags;  // sorted, unique
};

// /api/v2/search/tags: one entry per non-empty scope (the "intrinsic" scope
// lists the TraceQL intrinsics). /api/search/tags (v1) is the union of the
// span and resource names.
Result<std::vector<TagScope>> TagNames(TraceSource& source, const TagNamesRequest& req);

struct TagValuesRequest {
  // A scoped TraceQL attribute or intrinsic as in the URL of
  // /api/v2/search/tag/<t>/values: "resource.service.name", "span.http.method",
  // ".foo" (any scope), "name", "status", "kind", "event:name", ...
  // For the v1 endpoint pass "." + tag.
  std::string tag;
  std::string query;  // optional TraceQL filter (q=)
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  uint32_t limit = 0;  // 0 = unlimited
};

struct TagValue {
  // Tempo's type names: "string", "int", "float", "bool", "duration", and
  // "keyword" for the status and kind enums.
  std::string type;
  std::string value;  // unquoted, rendered as Tempo does: 200, 1.5, true, error, server, 1.5s
  friend bool operator==(const TagValue& a, const TagValue& b) {
    return a.type == b.type && a.value == b.value;
  }
};

// /api/v2/search/tag/<t>/values: distinct values, sorted by value.
// InvalidArgument when `tag` is not a valid TraceQL attribute.
Result<std::vector<TagValue>> TagValues(TraceSource& source, const TagValuesRequest& req);

}  // namespace sightline::traces::traceql
