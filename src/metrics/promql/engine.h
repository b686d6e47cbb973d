// The PromQL evaluation engine.
//
// Engine evaluates parsed PromQL (parser.h) against any metrics store that
// implements Queryable (metrics/storage/storage.h); it never sees a concrete
// store. It implements Prometheus's semantics in two dialects:
//
//   Dialect::kPrometheus3 (default)  Prometheus 3.x: left-open range
//       selectors (t-range, t] and lookback (t-lookback, t], `.` in regexes
//       matches newlines, the 3.x function set (double_exponential_smoothing,
//       mad_over_time, sort_by_label, limitk, limit_ratio, ...), 3.x
//       annotations, and delayed __name__ removal (names dropped by functions
//       and operators are removed at the end of evaluation, so label_replace
//       can still read them).
//   Dialect::kPrometheus2  exactly Prometheus 2.42: closed ranges
//       [t-range, t], holt_winters, immediate __name__ removal.
// docs/promql.md has the full table of differences.
//
// Evaluation is vectorised: a range query evaluates every node once over all
// steps (each intermediate value holds all steps of all its series), and each
// selected series' samples are read once per selector. Subqueries are
// evaluated once over the union of the windows they serve.
//
// Errors (Status codes; ClassifyError in value.h maps them to errorType):
//   InvalidArgument     parse errors ("1:5: parse error: ..."), invalid query
//                       parameters (bad_data)
//   DeadlineExceeded    "query timed out in expression evaluation" (timeout)
//   Cancelled           "query was canceled in expression evaluation" (canceled)
//   ResourceExhausted   "query processing would load too many samples into
//                       memory in query execution" (execution)
//   FailedPrecondition  evaluation errors with Prometheus's messages, e.g.
//                       "vector cannot contain metrics with the same
//                       labelset" (execution)
//   Unimplemented       native histogram functions, experimental features
//                       not implemented (execution)
//   others              passed through from storage (internal)
//
// Thread-safety: an Engine is immutable after construction; any number of
// threads may run queries on it concurrently. Each query opens its own
// Querier and owns everything it allocates.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "metrics/promql/ast.h"
#include "metrics/promql/parser.h"
#include "metrics/promql/value.h"
#include "metrics/storage/storage.h"

namespace sightline::promql {

struct EngineOptions {
  Dialect dialect = Dialect::kPrometheus3;
  // How far back an instant selector looks for the latest sample.
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  // Upper bound on the samples a query may hold in memory at once
  // (Prometheus's --query.max-samples).
  int64_t max_samples = 50'000'000;
  std::chrono::milliseconds timeout = std::chrono::minutes(2);
  // 3.x only: accept the experimental features Prometheus puts behind
  // feature flags (experimental functions, duration expressions, fill
  // modifiers, ...), as Sightline does by default.
  bool enable_experimental = true;
  // 3.x only: delay __name__ removal to the end of evaluation (Prometheus's
  // promql-delayed-name-removal; on in Prometheus's own test suite).
  bool delayed_name_removal = true;
  // Step of subqueries written without one (`x[1h:]`): Prometheus uses the
  // global evaluation interval, 1m by default.
  int64_t default_subquery_step_ms = 60 * 1000;

  // Prometheus 2.42 semantics (Sightline's --promql.compat=v2).
  static EngineOptions Prometheus2();
};

// Per-query knobs.
struct QueryOptions {
  // Polled during evaluation; the query fails with Cancelled once it is true.
  const std::atomic<bool>* cancel = nullptr;
  // Overrides EngineOptions::lookback_delta_ms when set (Prometheus's
  // lookback_delta API parameter).
  std::optional<int64_t> lookback_delta_ms;
  // Overrides EngineOptions::timeout when set.
  std::optional<std::chrono::milliseconds> timeout;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  const EngineOptions& options() const { return options_; }
  // The parser options matching this engine's dialect and feature flags.
  ParseOptions parse_options() const;

  // Evaluates `query` at `time_ms`. The result may be of any type.
  Result<QueryResult> InstantQuery(metrics::Queryable& storage, std::string_view tenant,
                                   std::string_view query, int64_t time_ms,
                                   const QueryOptions& qopts = {}) const;
  Result<QueryResult> InstantQuery(metrics::Queryable& storage, std::string_view tenant,
                                   const Expr& expr, int64_t time_ms,
                                   const QueryOptions& qopts = {}) const;

  // Evaluates `query` at start, start+step, ... <= end. The expression must
  // be a scalar or an instant vector; the result is a matrix sorted by
  // labels. InvalidArgument when step <= 0 or end < start.
  Result<QueryResult> RangeQuery(metrics::Queryable& storage, std::string_view tenant,
                                 std::string_view query, int64_t start_ms, int64_t end_ms,
                                 int64_t step_ms, const QueryOptions& qopts = {}) const;
  Result<QueryResult> RangeQuery(metrics::Queryable& storage, std::string_view tenant,
                                 const Expr& expr, int64_t start_ms, int64_t end_ms,
                                 int64_t step_ms, const QueryOptions& qopts = {}) const;

 private:
  Result<QueryResult> Exec(metrics::Queryable& storage, std::string_view tenant, const Expr& expr,
                           std::string_view query_text, int64_t start_ms, int64_t end_ms,
                           int64_t step_ms, bool instant, const QueryOptions& qopts) const;

  EngineOptions options_;
};

}  // namespace sightline::promql
