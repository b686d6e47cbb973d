// The PromQL parser: query text -> type-checked AST (ast.h).
//
// ParseExpr accepts the language of Prometheus 3.x (with its experimental
// features switched on by default) or of Prometheus 2.42, and rejects what
// Prometheus rejects with Prometheus' messages, prefixed by the position the
// way Prometheus prints them:
//
//   1:5: parse error: unexpected <op:*>
//   1:1: parse error: binary expression must contain only scalar and instant vector types
//
// "line:column" is 1-based and counts bytes. Only the first error is
// reported, as Prometheus does. Every error is StatusCode::kInvalidArgument
// (HTTP 400, errorType "bad_data" in the Prometheus API).
//
// Where Prometheus is ambiguous or its behaviour could not be established,
// docs/promql.md lists what Sightline does.
//
// Thread-safety: all functions are reentrant; nothing is shared between calls.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/promql/ast.h"
#include "metrics/promql/matcher.h"

namespace sightline::promql {

enum class Dialect {
  kPrometheus2,  // As Prometheus 2.42: holt_winters, `.` in regexes excludes \n.
  kPrometheus3,  // As Prometheus 3.x.
};

struct ParseOptions {
  Dialect dialect = Dialect::kPrometheus3;
  // Prometheus 3.x feature flags. Sightline enables them by default; each
  // gives Prometheus' "... is not enabled" error when switched off.
  bool experimental_functions = true;    // promql-experimental-functions
  bool duration_expressions = true;      // promql-duration-expr: [5m+1m], offset step()
  bool extended_range_selectors = true;  // anchored / smoothed
  bool binop_fill_modifiers = true;      // fill() / fill_left() / fill_right()

  // Prometheus 2.42: the 2.x function set, no 3.x features.
  static ParseOptions Prometheus2();
};

// Where and why parsing failed.
struct ParseError {
  PosRange pos;
  std::string message;  // Without the position prefix.
};

// "line:col: parse error: message", positions computed in `query`.
std::string FormatParseError(std::string_view query, const ParseError& error);

// Parses and type-checks a PromQL expression. On failure, `error_detail`
// (when given) receives the position and the bare message.
Result<ExprPtr> ParseExpr(std::string_view input, const ParseOptions& options = {},
                          ParseError* error_detail = nullptr);

// Parses a series selector such as the API's match[] values:
// `up{job="api"}`, `{__name__=~"http_.*"}`, `{"service.name"}`. Returns its
// matchers, the metric name (if written before the braces) last, as
// Prometheus does. Like Prometheus it does not require a non-empty matcher;
// the API layer checks that.
Result<std::vector<Matcher>> ParseMetricSelector(std::string_view input,
                                                 const ParseOptions& options = {});

// Errors the Prometheus engine (not its parser) raises for 3.x extended
// range selectors: anchored only on changes, delta, increase, rate, resets;
// smoothed only on delta, increase, rate. Returns the first violation in
// `expr` with Prometheus' message (no position prefix), e.g. "smoothed
// modifier can only be used with: delta, increase, rate - not with deriv".
// For the engine to call when it prepares a query.
Status CheckRangeModifierUse(const Expr& expr);

}  // namespace sightline::promql
