// The LogQL syntax tree (internal to src/logs/logql; the public contract is
// engine.h).
//
// Parsing compiles each pipeline stage into an immutable Stage object (regexes
// compiled, templates parsed), so errors in stages are parse errors, as in
// Loki, and evaluation only runs them. An Expr owns its children; everything
// is immutable after Parse() and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "logs/logql/engine.h"
#include "logs/logql/labels_state.h"

namespace re2 {
class RE2;
}

namespace sightline::logs::logql {

// One pipeline stage. Process() runs it on an entry: it may rewrite `line`
// and the labels and returns false when the entry is dropped.
class Stage {
 public:
  virtual ~Stage() = default;
  virtual bool Process(int64_t ts, std::string* line, LabelsState* lbs) const = 0;
  // Loki's String() of the stage, e.g. `|= "x"`, `| json`, `| level="a"`.
  virtual std::string String() const = 0;
  // Line filters are the only stages that neither read nor write labels.
  virtual bool IsLineFilter() const { return false; }
  // Line filters only: whether `line` passes (no copy of the line needed).
  virtual bool Test(std::string_view line) const { return true; }
  // For line filters: literals every passing line contains (pushdown).
  virtual void RequiredLiterals(std::vector<std::string>*) const {}
  // For line filters: a matcher every passing line satisfies (pushdown of
  // or-chains and regexes the store can run per chunk block).
  virtual std::shared_ptr<const LineFilterHint> RequiredMatcher() const { return nullptr; }
  // For label filters: the value label `name` must equal for an entry to
  // pass (`| name="v"`, alone or and-ed), if there is one.
  virtual std::optional<std::string> RequiredLabelValue(std::string_view) const {
    return std::nullopt;
  }
  // line_format and label_format: label values after them may be made up
  // rather than found in the line, structured metadata or stream labels.
  virtual bool Synthesizes() const { return false; }
};

using StagePtr = std::unique_ptr<const Stage>;

struct LogSelectorExpr {
  std::vector<Matcher> matchers;
  std::vector<StagePtr> stages;
};

enum class UnwrapConv { kNone, kBytes, kDuration, kDurationSeconds };

struct UnwrapExpr {
  std::string label;
  UnwrapConv conv = UnwrapConv::kNone;
  std::vector<StagePtr> post_filters;  // `| unwrap x | __error__=""`
};

struct LogRangeExpr {
  LogSelectorExpr selector;
  int64_t range_ns = 0;
  int64_t offset_ns = 0;
  std::optional<UnwrapExpr> unwrap;
};

struct Grouping {
  bool without = false;
  std::vector<std::string> labels;
};

struct VectorMatching {
  bool on = false;  // on(...) vs ignoring(...)
  bool has_matching = false;
  std::vector<std::string> labels;
  enum class Card { kOneToOne, kManyToOne, kOneToMany } card = Card::kOneToOne;
  std::vector<std::string> include;  // group_left(...)/group_right(...)
};

class Expr {
 public:
  enum class Kind { kLog, kRangeAgg, kVectorAgg, kBinary, kLiteral, kVector, kLabelReplace };

  Kind kind = Kind::kLog;

  // kLog
  LogSelectorExpr log;
  // kRangeAgg
  std::string op;  // range or vector aggregation, or binary operator
  std::unique_ptr<LogRangeExpr> range;
  std::optional<double> param;  // quantile_over_time's φ; topk's k
  std::optional<Grouping> grouping;
  // kVectorAgg / kLabelReplace: the argument. kBinary: lhs, rhs.
  std::unique_ptr<Expr> lhs;
  std::unique_ptr<Expr> rhs;
  bool return_bool = false;
  VectorMatching matching;
  // kLiteral / kVector
  double value = 0;
  // kLabelReplace
  std::string dst, replacement, src, regex;
  std::shared_ptr<const re2::RE2> compiled_regex;

  bool IsLog() const { return kind == Kind::kLog; }
  std::string String() const;
  // Loki's syntax.Prettify (format_query): `level` is the indentation depth,
  // lines longer than `max_chars` are broken (Loki: 100).
  std::string Pretty(int level = 0, size_t max_chars = 100) const;
  // Every stream selector's matchers (depth-first, left to right).
  void CollectMatchers(std::vector<std::vector<Matcher>>* out) const;
};

std::string SelectorString(const std::vector<Matcher>& matchers);
std::string FormatDurationNs(int64_t ns);

}  // namespace sightline::logs::logql
