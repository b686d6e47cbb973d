// TraceQL abstract syntax tree, produced by the parser (parser.cc) and
// walked by the evaluator (eval.cc). Internal to src/traces/traceql: API
// callers see only the opaque Query of engine.h.
//
// A Query is a spanset pipeline (Element tree) optionally followed by a
// metrics aggregate and second-stage functions, and `with(...)` hints.
// Nodes own their children; a Query is immutable after parsing and may be
// evaluated by many threads at once (compiled regexes are RE2, which is
// thread-safe).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "traces/model.h"

namespace re2 {
class RE2;
}

namespace sightline::traces::traceql {

enum class ValueType : uint8_t {
  kNil,
  kInt,
  kFloat,
  kString,
  kBool,
  kDuration,  // nanoseconds in `i`
  kStatus,    // TraceQL status enum in `i`: 0 error, 1 ok, 2 unset
  kKind,      // OTLP span kind number in `i`
  kArray,     // an OTLP array attribute, `arr`
  kMulti,     // several values of one field (event/link scopes), `multi`
};

// A value during evaluation. Strings are views: into the trace being
// evaluated, into the query, or into per-trace scratch storage; a Static
// never outlives the evaluation of the trace it came from.
struct Static {
  ValueType type = ValueType::kNil;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string_view s;
  const ArrayValue* arr = nullptr;
  const std::vector<Static>* multi = nullptr;

  static Static Nil() { return {}; }
  static Static Int(int64_t v) {
    Static s;
    s.type = ValueType::kInt;
    s.i = v;
    return s;
  }
  static Static Float(double v) {
    Static s;
    s.type = ValueType::kFloat;
    s.f = v;
    return s;
  }
  static Static Str(std::string_view v) {
    Static s;
    s.type = ValueType::kString;
    s.s = v;
    return s;
  }
  static Static Bool(bool v) {
    Static s;
    s.type = ValueType::kBool;
    s.b = v;
    return s;
  }
  static Static Duration(int64_t ns) {
    Static s;
    s.type = ValueType::kDuration;
    s.i = ns;
    return s;
  }
  static Static Status(int64_t v) {
    Static s;
    s.type = ValueType::kStatus;
    s.i = v;
    return s;
  }
  static Static Kind(int64_t v) {
    Static s;
    s.type = ValueType::kKind;
    s.i = v;
    return s;
  }

  bool is_nil() const { return type == ValueType::kNil; }
  bool is_numeric() const {
    return type == ValueType::kInt || type == ValueType::kFloat || type == ValueType::kDuration;
  }
  double AsFloat() const { return type == ValueType::kFloat ? f : static_cast<double>(i); }
};

// TraceQL status enum values (Tempo's order).
inline constexpr int64_t kStatusError = 0;
inline constexpr int64_t kStatusOk = 1;
inline constexpr int64_t kStatusUnset = 2;

enum class Scope : uint8_t { kNone, kSpan, kResource, kEvent, kLink, kInstrumentation };

enum class Intrinsic : uint8_t {
  kName,
  kStatus,
  kStatusMessage,
  kDuration,
  kKind,
  kSpanId,
  kParentId,
  kChildCount,
  kParent,  // legacy `parent`: nil for root spans
  kTraceDuration,
  kRootName,
  kRootService,
  kTraceId,
  kEventName,
  kEventTimeSinceStart,
  kLinkSpanId,
  kLinkTraceId,
  kInstrumentationName,
  kInstrumentationVersion,
  kNestedSetLeft,
  kNestedSetRight,
  kNestedSetParent,
};

enum class Op : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEq,
  kNeq,
  kLt,
  kLte,
  kGt,
  kGte,
  kRe,
  kNre,
  kAnd,
  kOr,
  kNot,
  kNeg,  // unary
};

// A CIDR prefix of cidr(): 16 address bytes (IPv4 as v4-mapped IPv6) and
// the prefix length over those 128 bits.
struct IpPrefix {
  uint8_t addr[16] = {};
  int bits = 0;
};

// An expression evaluated on one span.
struct FieldExpr {
  enum class Kind : uint8_t { kStatic, kAttribute, kIntrinsic, kBinary, kUnary, kCidr };
  Kind kind = Kind::kStatic;

  // kStatic. `owned` backs value.s for string literals.
  Static value;
  std::string owned;

  // kAttribute: `scope.name`, `.name` (kNone), `parent.[scope.]name`.
  Scope scope = Scope::kNone;
  bool parent = false;
  std::string name;

  // kIntrinsic
  Intrinsic intrinsic = Intrinsic::kName;

  // kCidr: cidr(lhs, "10.0.0.0/8", ...) is true when lhs is a string IP
  // address inside any prefix (Tempo's cidr()).
  std::vector<std::string> cidr_text;
  std::vector<IpPrefix> cidrs;

  // kBinary / kUnary
  Op op = Op::kAdd;
  std::unique_ptr<FieldExpr> lhs, rhs;
  // kRe/kNre with a literal pattern on the right: compiled once.
  std::unique_ptr<const re2::RE2> regex;

  ~FieldExpr();
};

enum class AggregateFn : uint8_t { kCount, kAvg, kMin, kMax, kSum };

// Scalar expressions of pipeline filters: `count() > 2`, `avg(duration) * 2`.
struct Element;
struct ScalarExpr {
  enum class Kind : uint8_t { kStatic, kAggregate, kBinary, kPipeline };
  Kind kind = Kind::kStatic;
  Static value;                           // kStatic
  AggregateFn agg = AggregateFn::kCount;  // kAggregate
  std::unique_ptr<FieldExpr> field;       // kAggregate (null for count)
  Op op = Op::kAdd;                       // kBinary
  std::unique_ptr<ScalarExpr> lhs, rhs;
  std::unique_ptr<Element> pipeline;  // kPipeline: `({...} | avg(x))`, last stage kAggregate
  ~ScalarExpr();
};

enum class SpansetOp : uint8_t {
  kAnd,
  kOr,
  kChild,
  kParent,
  kDescendant,
  kAncestor,
  kSibling,
  kNotChild,
  kNotParent,
  kNotDescendant,
  kNotAncestor,
  kNotSibling,
  kUnionChild,
  kUnionParent,
  kUnionDescendant,
  kUnionAncestor,
  kUnionSibling,
};

// A node of a spanset pipeline.
struct Element {
  enum class Kind : uint8_t {
    kFilter,        // { expr }
    kSpansetOp,     // lhs op rhs
    kPipeline,      // stage | stage | ...
    kScalarFilter,  // scalar cmp scalar
    kBy,            // by(expr)
    kCoalesce,      // coalesce()
    kSelect,        // select(a, b, ...)
    kAggregate,     // terminal aggregate of a wrapped scalar pipeline
  };
  Kind kind = Kind::kFilter;
  std::unique_ptr<FieldExpr> expr;  // kFilter (null: `{}`), kBy
  SpansetOp op = SpansetOp::kAnd;   // kSpansetOp
  std::unique_ptr<Element> lhs, rhs;
  std::vector<std::unique_ptr<Element>> stages;    // kPipeline
  Op cmp = Op::kEq;                                // kScalarFilter
  std::unique_ptr<ScalarExpr> slhs, srhs;          // kScalarFilter; slhs for kAggregate
  std::vector<std::unique_ptr<FieldExpr>> fields;  // kSelect
  ~Element();
};

enum class MetricsFn : uint8_t {
  kRate,
  kCountOverTime,
  kSumOverTime,
  kMinOverTime,
  kMaxOverTime,
  kAvgOverTime,
  kQuantileOverTime,
  kHistogramOverTime,
  kCompare,  // compare({selection}, topN, start, end)
};

struct MetricsAggregate {
  MetricsFn fn = MetricsFn::kRate;
  std::unique_ptr<FieldExpr> attr;  // the measured field, if the function takes one
  std::vector<double> quantiles;
  std::vector<std::unique_ptr<FieldExpr>> by;
  // compare(): the selection's filter (null: `{}`), values kept per
  // attribute, and an optional selection window [start, end) in Unix ns.
  std::unique_ptr<FieldExpr> compare_filter;
  int64_t compare_top_n = 10;
  int64_t compare_start = 0, compare_end = 0;
};

// What follows the metrics function: `| topk(n)`, `| bottomk(n)`, or a
// comparison that keeps the data points meeting it (`> 10`, `<= 1.5s`).
struct SecondStage {
  enum class Kind : uint8_t { kTopK, kBottomK, kFilter };
  Kind kind = Kind::kTopK;
  bool topk = true;  // kTopK (kept for readers of the older shape)
  int64_t k = 0;
  // kFilter: the operator (an Op of this file) and the threshold; a
  // duration threshold is in seconds, as metrics of durations are.
  Op op = Op::kGt;
  double threshold = 0;
  std::string threshold_text;  // as written, for printing
};

struct Hint {
  std::string name;
  Static value;
  std::string owned;
};

struct Query {
  std::unique_ptr<Element> pipeline;
  std::optional<MetricsAggregate> metrics;
  std::vector<SecondStage> second_stage;
  std::vector<Hint> hints;
  bool most_recent = false;
  // Attribute and intrinsic fields the query reads, for search results.
  std::vector<const FieldExpr*> touched;
  bool needs_structure = false;  // parent/child relations are needed
  ~Query();
};

// Names used for printing and results.
std::string_view IntrinsicName(Intrinsic i);
std::string_view ScopeName(Scope s);
std::string_view OpText(Op op);
std::string_view SpansetOpText(SpansetOp op);
std::string_view MetricsFnName(MetricsFn fn);
std::string_view AggregateName(AggregateFn fn);
std::string_view StatusName(int64_t status);
std::string_view KindName(int64_t kind);

// Printing (printer.cc).
std::string FormatDuration(int64_t ns);  // Go's time.Duration.String()
std::string StaticToString(const Static& s, bool quote_strings);
std::string FieldExprToString(const FieldExpr& e);
// Parses "10.0.0.0/8" or "2001:db8::/32" (host bits are masked off).
bool ParseIpPrefix(std::string_view text, IpPrefix* out);
// Parses an IPv4 or IPv6 address into 16 bytes (IPv4 v4-mapped).
bool ParseIpAddress(std::string_view text, uint8_t out[16]);
bool IpPrefixContains(const IpPrefix& p, const uint8_t addr[16]);
std::string ElementToString(const Element& e);
std::string ScalarExprToString(const ScalarExpr& e);
std::string QueryToString(const Query& q);

}  // namespace sightline::traces::traceql
