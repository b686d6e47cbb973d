// The PromQL abstract syntax tree.
//
// ParseExpr (parser.h) produces a tree of Expr nodes owned through
// std::unique_ptr; the tree is a plain value the caller owns. Nodes are
// structs with public fields, like Prometheus' parser.Expr types, so that the
// engine can read them directly and annotate them while it prepares a query
// (the "engine fields" below, e.g. the effective offset of a selector).
//
// Walking: every node has a `kind`; use As<T>() / Is<T>() to downcast and
// Children() to visit subexpressions. Type() gives the PromQL value type a
// node evaluates to. A vectorised engine can switch on `kind` once per node
// and evaluate children step-batch by step-batch; nothing here allocates
// during evaluation.
//
// Positions are byte offsets into the query text ([start, end)), used for
// error messages.
//
// Thread-safety: a tree is not synchronised; share it read-only across
// threads or give each thread its own. Trees are movable, not copyable;
// Clone() makes a deep copy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/promql/functions.h"
#include "metrics/promql/matcher.h"

namespace sightline::promql {

struct PosRange {
  int32_t start = 0;
  int32_t end = 0;
  friend bool operator==(const PosRange&, const PosRange&) = default;
};

enum class ExprKind {
  kNumberLiteral,
  kStringLiteral,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kAggregate,
  kBinary,
  kUnary,
  kCall,
  kParen,
  kStepInvariant,  // Inserted by the engine, never by the parser.
};

// Binary operators, in the order Prometheus lists them.
enum class BinaryOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kAtan2,
  kEql,  // ==
  kNeq,  // !=
  kGtr,  // >
  kLss,  // <
  kGte,  // >=
  kLte,  // <=
  kAnd,
  kOr,
  kUnless,
  kTrimUpper,  // </  (3.x native histogram trim, experimental)
  kTrimLower,  // >/
};

std::string_view BinaryOpString(BinaryOp op);  // "+", "==", "and", "atan2", "</"...
bool IsComparisonOp(BinaryOp op);
bool IsSetOp(BinaryOp op);
// Binding strength, 1 (or) .. 6 (^); higher binds tighter. ^ is right-assoc.
int BinaryOpPrecedence(BinaryOp op);

enum class AggregateOp {
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kCountValues,
  kQuantile,
  kLimitk,      // 3.x, experimental.
  kLimitRatio,  // 3.x, experimental.
};

std::string_view AggregateOpString(AggregateOp op);  // "sum", "count_values"...
// topk, bottomk, count_values, quantile, limitk, limit_ratio.
bool AggregateOpHasParam(AggregateOp op);

// `@ start()` / `@ end()`.
enum class AtModifier { kNone, kStart, kEnd };

// A duration expression (3.x, experimental): the inside of `[...]` or the
// argument of `offset` when it is more than a literal, e.g. `[5m+1m]`,
// `offset (1h*2)`, `[step()*2]`, `offset min_of(range(), 1h)`. Values are in
// seconds; number literals are seconds too.
struct DurationExpr {
  enum class Kind { kLiteral, kUnary, kBinary, kStep, kRange, kMinOf, kMaxOf };
  Kind kind = Kind::kLiteral;
  // kLiteral: the value in seconds; `is_duration` when written with units
  // (printed back as a duration, e.g. 90 -> "1m30s").
  double value = 0;
  bool is_duration = false;
  // kUnary: '+' or '-'; kBinary: one of + - * / % ^.
  char op = 0;
  std::unique_ptr<DurationExpr> lhs;  // kBinary, kMinOf, kMaxOf.
  std::unique_ptr<DurationExpr> rhs;  // kUnary, kBinary, kMinOf, kMaxOf.
  bool wrapped = false;               // Written inside parentheses.
  PosRange pos;

  // Whether the value depends on step() or range(), i.e. on the query.
  bool DependsOnQuery() const;
  std::unique_ptr<DurationExpr> Clone() const;
};

// What step() and range() evaluate to: the query's step, and end - start.
// Both are 0 for an instant query.
struct DurationContext {
  int64_t step_ms = 0;
  int64_t range_ms = 0;
};

// Evaluates a duration expression to milliseconds (seconds * 1000,
// truncated). Errors: "division by zero", "modulo by zero", "duration out of
// range".
Result<int64_t> EvaluateDuration(const DurationExpr& e, const DurationContext& ctx);

class Expr;
using ExprPtr = std::unique_ptr<Expr>;

class Expr {
 public:
  virtual ~Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;

  ExprKind kind() const { return kind_; }
  // The PromQL type this expression evaluates to.
  ValueType Type() const;

  template <typename T>
  bool Is() const {
    return kind_ == T::kKind;
  }
  template <typename T>
  T* As() {
    return kind_ == T::kKind ? static_cast<T*>(this) : nullptr;
  }
  template <typename T>
  const T* As() const {
    return kind_ == T::kKind ? static_cast<const T*>(this) : nullptr;
  }

  PosRange pos;

 protected:
  explicit Expr(ExprKind kind) : kind_(kind) {}

 private:
  const ExprKind kind_;
};

struct NumberLiteral final : Expr {
  static constexpr ExprKind kKind = ExprKind::kNumberLiteral;
  NumberLiteral() : Expr(kKind) {}
  double value = 0;
  bool is_duration = false;  // Written as a duration (3.x): `5m` is 300.
};

struct StringLiteral final : Expr {
  static constexpr ExprKind kKind = ExprKind::kStringLiteral;
  StringLiteral() : Expr(kKind) {}
  std::string value;  // Unquoted.
};

struct VectorSelector final : Expr {
  static constexpr ExprKind kKind = ExprKind::kVectorSelector;
  VectorSelector() : Expr(kKind) {}
  // The metric name when written before the braces ("" for `{__name__="x"}`
  // or `{"x"}`). When set, the last matcher is __name__="<name>".
  std::string name;
  std::vector<Matcher> matchers;
  // `offset`: a literal in milliseconds, or an expression (3.x).
  int64_t original_offset_ms = 0;
  std::unique_ptr<DurationExpr> original_offset_expr;
  // `@ <timestamp>` in milliseconds, or `@ start()` / `@ end()`.
  std::optional<int64_t> timestamp_ms;
  AtModifier at = AtModifier::kNone;
  // 3.x extended range selectors (experimental).
  bool anchored = false;
  bool smoothed = false;
  // Set for the label-selector argument of info(), which may select all.
  bool bypass_empty_matcher_check = false;

  // Engine field: the offset actually applied, once @ and offset
  // expressions are resolved.
  int64_t offset_ms = 0;
};

struct MatrixSelector final : Expr {
  static constexpr ExprKind kKind = ExprKind::kMatrixSelector;
  MatrixSelector() : Expr(kKind) {}
  // Offset, @, anchored and smoothed live on the inner selector.
  std::unique_ptr<VectorSelector> vector_selector;
  // The range in milliseconds; 0 when `range_expr` depends on the query
  // (step() / range()) and must be evaluated by the engine.
  int64_t range_ms = 0;
  std::unique_ptr<DurationExpr> range_expr;  // Set when not a plain literal.
};

struct SubqueryExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kSubquery;
  SubqueryExpr() : Expr(kKind) {}
  ExprPtr expr;
  int64_t range_ms = 0;
  std::unique_ptr<DurationExpr> range_expr;
  int64_t step_ms = 0;  // 0: the engine's default evaluation interval.
  std::unique_ptr<DurationExpr> step_expr;
  int64_t original_offset_ms = 0;
  std::unique_ptr<DurationExpr> original_offset_expr;
  std::optional<int64_t> timestamp_ms;
  AtModifier at = AtModifier::kNone;
  int64_t offset_ms = 0;  // Engine field, as in VectorSelector.
};

struct AggregateExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kAggregate;
  AggregateExpr() : Expr(kKind) {}
  AggregateOp op = AggregateOp::kSum;
  ExprPtr expr;
  ExprPtr param;  // topk's k, quantile's q, count_values' label...
  std::vector<std::string> grouping;
  bool without = false;
};

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  std::vector<std::string> matching_labels;  // on(...) / ignoring(...)
  bool on = false;
  std::vector<std::string> include;  // group_left(...) / group_right(...)
  // 3.x fill modifiers (experimental): values for series missing on a side.
  std::optional<double> fill_lhs;
  std::optional<double> fill_rhs;
  bool fill_both = false;  // Written as fill(v), not fill_left/fill_right.
};

struct BinaryExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kBinary;
  BinaryExpr() : Expr(kKind) {}
  BinaryOp op = BinaryOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;
  // Present iff both sides are instant vectors.
  std::optional<VectorMatching> matching;
};

struct UnaryExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kUnary;
  UnaryExpr() : Expr(kKind) {}
  char op = '-';  // '+' or '-'.
  ExprPtr expr;
};

struct Call final : Expr {
  static constexpr ExprKind kKind = ExprKind::kCall;
  Call() : Expr(kKind) {}
  const FunctionInfo* func = nullptr;  // Never null in a parsed tree.
  std::vector<ExprPtr> args;
};

struct ParenExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kParen;
  ParenExpr() : Expr(kKind) {}
  ExprPtr expr;
};

// Marks a subtree whose value is the same at every step (e.g. under @); the
// engine evaluates it once. Printed as its child.
struct StepInvariantExpr final : Expr {
  static constexpr ExprKind kKind = ExprKind::kStepInvariant;
  StepInvariantExpr() : Expr(kKind) {}
  ExprPtr expr;
};

// The direct subexpressions of `e`, left to right (for an aggregation: the
// expression, then the parameter, as Prometheus orders them).
std::vector<const Expr*> Children(const Expr& e);
std::vector<Expr*> Children(Expr& e);

// Deep copy.
ExprPtr Clone(const Expr& e);

// Every vector selector in the tree, in source order (e.g. to plan which
// series a query touches).
std::vector<const VectorSelector*> CollectSelectors(const Expr& e);

}  // namespace sightline::promql
