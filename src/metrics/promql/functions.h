// The PromQL function table: every function of Prometheus 2.42 and 3.x with
// its argument types, arity and result type, as the parser's type checker
// needs them.
//
// Arity follows Prometheus' convention: `arg_types` lists the declared
// parameters; `variadic` is 0 for a fixed arity, N > 0 when the last
// declared parameter may be omitted and up to N more of its type may follow
// (so the call takes between size-1 and size-1+N arguments), and -1 when the
// last parameter may repeat without limit.
//
// Dialects: holt_winters exists only in 2.x; 3.x renamed it
// double_exponential_smoothing and added the functions marked `in_v2 =
// false`. The parser accepts the names of the dialect it parses, and the
// engine implements each name with the semantics of that dialect.
//
// Thread-safety: the table is immutable static data; pointers returned by
// FindFunction live for the whole program.
#pragma once

#include <span>
#include <string_view>

namespace sightline::promql {

// The types of PromQL values. kNone is the type of nothing (an error).
enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };

// Prometheus' DocumentedType: "scalar", "instant vector", "range vector",
// "string", "none". Used in user-facing messages.
std::string_view DocumentedTypeName(ValueType t);
// Prometheus' ValueType.String(): "scalar", "vector", "matrix", "string",
// "none". A few messages use this form.
std::string_view ValueTypeName(ValueType t);

struct FunctionInfo {
  std::string_view name;
  std::span<const ValueType> arg_types;
  int variadic;
  ValueType return_type;
  bool experimental;  // Behind --enable-feature=promql-experimental-functions.
  bool in_v2;         // Present in Prometheus 2.42.
  bool in_v3;         // Present in Prometheus 3.x.
};

// Returns nullptr when no function has that name (names are case-sensitive).
const FunctionInfo* FindFunction(std::string_view name);

// Every function, in name order.
std::span<const FunctionInfo> AllFunctions();

}  // namespace sightline::promql
