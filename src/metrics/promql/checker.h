// Type checking of a parsed PromQL tree (internal to the parser).
//
// CheckAst walks the tree in the order Prometheus' checkAST does (children
// before their parent, an aggregation's expression before its parameter) and
// returns the first error with its position. It also finalises vector
// matching as Prometheus does: set operators become many-to-many, and
// BinaryExpr::matching is cleared when a side is not an instant vector.
//
// Thread-safety: operates on the tree it is given only.
#pragma once

#include <optional>
#include <string_view>

#include "metrics/promql/ast.h"
#include "metrics/promql/parser.h"

namespace sightline::promql {

std::optional<ParseError> CheckAst(Expr& root, std::string_view input);

}  // namespace sightline::promql
