// TraceQL lexer and parser: text -> AST (ast.h).
//
// The grammar and operator precedences follow Grafana Tempo's TraceQL
// (docs/traceql.md): `&&` and `||` share the lowest precedence and are left
// associative, as in Tempo, both between spansets and inside filters.
// Errors are InvalidArgument with Tempo-like messages:
//   "invalid TraceQL query: parse error at line 1, col 8: syntax error: unexpected }"
//
// Thread-safety: reentrant.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"
#include "traces/traceql/ast.h"

namespace sightline::traces::traceql {

Result<std::unique_ptr<Query>> ParseQuery(std::string_view text);

// Parses a single attribute or intrinsic as it appears in a tag-values URL
// ("resource.service.name", ".foo", "span.\"a b\"", "name", "event:name").
Result<std::unique_ptr<FieldExpr>> ParseTagAttribute(std::string_view text);

}  // namespace sightline::traces::traceql
