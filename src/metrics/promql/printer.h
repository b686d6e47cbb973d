// Turning a PromQL AST back into text.
//
// ToString reproduces Prometheus' Expr.String(), the canonical form that
// /api/v1/format_query returns and that rule evaluation records: lower-case
// keywords, `sum by (job) (rate(x[5m]))` with the grouping before the
// arguments, label matchers sorted, durations normalised (`[300]` prints as
// `[5m]`, `offset 3600` as `offset 1h`), numbers in Go's shortest decimal
// form, strings double-quoted with Go escapes. Parsing the output gives back
// an equivalent tree.
//
// PrettyPrint follows Prometheus' Pretty(): a node that fits in 100
// characters stays on one line; longer aggregations, calls, parenthesised
// and binary expressions are split over lines with two-space indentation.
//
// DebugString is a fully parenthesised dump with every semantic field (for
// tests and debugging, not for users): `(a + (b * c))`.
//
// Thread-safety: pure functions of their argument.
#pragma once

#include <string>

#include "metrics/promql/ast.h"

namespace sightline::promql {

std::string ToString(const Expr& e);
std::string ToString(const DurationExpr& e);
std::string PrettyPrint(const Expr& e);
std::string DebugString(const Expr& e);

}  // namespace sightline::promql
