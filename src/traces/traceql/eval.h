// Evaluation of a TraceQL AST over one trace.
//
// TraceEval wraps one Trace (borrowed; it must outlive the TraceEval) and
// evaluates field expressions on its spans and spanset pipelines over it,
// with Tempo's semantics:
//  - comparisons with a missing attribute (nil) are false, except `= nil`
//    and `!= nil`, which test absence and presence;
//  - array attributes match `=`, `=~`, `<` ... when any element does; `!=`
//    and `!~` when no element equals / matches;
//  - event and link fields (event.*, event:name, event:timeSinceStart,
//    link.*, link:spanID, link:traceID) are evaluated per event / link, as
//    Tempo does: in a filter without `||`, all event conditions must hold on
//    one event (and all link conditions on one link); with `||`, each such
//    comparison is true when any event (link) satisfies it, `!=` and `!~`
//    included (EvalFilter);
//  - regexes are fully anchored (RE2 full match, as Tempo's Prometheus
//    matcher);
//  - a spanset filter keeps the spans of each input spanset for which its
//    expression is true; empty spansets are dropped;
//  - structural operators relate spans by parent span id inside the trace.
//
// Statics returned point into the trace, the query, or scratch storage owned
// by the TraceEval: they are valid while both live.
//
// Thread-safety: one TraceEval per thread; the Query is shared read-only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "traces/model.h"
#include "traces/traceql/ast.h"

namespace sightline::traces::traceql {

struct Spanset {
  std::vector<uint32_t> spans;  // indices into Trace::spans, ascending
  // by() group values and pipeline aggregate results, e.g. {"count()", 3}.
  std::vector<std::pair<std::string, Static>> attributes;
  std::vector<const FieldExpr*> selects;  // select() fields to render
  Static scalar;                          // terminal aggregate of a scalar pipeline
};

class TraceEval {
 public:
  TraceEval(const Trace& trace, bool needs_structure);

  const Trace& trace() const { return trace_; }

  // Evaluates `e` on span `span`.
  Static EvalField(const FieldExpr& e, uint32_t span);

  // What a filter expression reads, for EvalFilter: kUsesEvents,
  // kUsesLinks, kHasOr bits. Computed once per filter, not per span.
  static constexpr uint8_t kUsesEvents = 1, kUsesLinks = 2, kHasOr = 4;
  static uint8_t FilterBinding(const FieldExpr& e);
  // True when the filter expression `e` holds on `span`; `binding` is
  // FilterBinding(e). Without `||`, event (link) fields are bound to one
  // event (link) at a time and the span matches when some event/link
  // combination makes `e` true (a span without events evaluates its event
  // fields as nil).
  bool EvalFilter(const FieldExpr& e, uint32_t span, uint8_t binding);
  // An attribute looked up in one explicit scope (kSpan, kResource, ...),
  // for tag listing; kNone searches span then resource.
  Static Attribute(Scope scope, std::string_view name, uint32_t span);

  // Evaluates a pipeline element on the given input spansets.
  std::vector<Spanset> Eval(const Element& e, std::vector<Spanset> input);
  // The pipeline run on the whole trace (one spanset of all spans).
  std::vector<Spanset> EvalRoot(const Element& root);

  // True for a boolean `true` value.
  static bool Truthy(const Static& v) { return v.type == ValueType::kBool && v.b; }
  // `lhs op rhs` for comparison and regex ops (`re` for kRe/kNre).
  static bool Compare(const Static& lhs, const Static& rhs, Op op, const re2::RE2* re);

  uint64_t start_unix_nano() const { return start_; }
  uint64_t end_unix_nano() const { return end_; }
  int root() const { return root_; }  // index of the root span, -1 if missing
  std::string_view RootServiceName();
  int parent(uint32_t span) {
    EnsureStructure();
    return parent_[span];
  }

  std::string_view Hex(std::string_view bytes);

 private:
  void EnsureStructure();
  void EnsureNestedSets();
  Static Intrinsic(traceql::Intrinsic i, uint32_t span);
  Static Binary(const FieldExpr& e, uint32_t span);
  Static Aggregate(const ScalarExpr& e, const Spanset& ss);
  Static EvalScalar(const ScalarExpr& e, const Spanset& ss);
  std::vector<uint32_t> Structural(SpansetOp op, const std::vector<uint32_t>& l,
                                   const std::vector<uint32_t>& r);
  std::vector<Static>* NewMulti();

  const Trace& trace_;
  uint64_t start_ = 0, end_ = 0;
  int root_ = -1;
  // EvalFilter's binding of event/link fields of `bound_span_` to one
  // event/link: -1 unbound (all of them, kMulti), -2 none (nil), else index.
  uint32_t bound_span_ = 0;
  int32_t bound_event_ = -1, bound_link_ = -1;
  bool structure_ready_ = false;
  bool nested_ready_ = false;
  std::vector<int32_t> parent_;
  std::vector<int32_t> tree_parent_;  // parent_ within root-connected trees (Structural)
  std::vector<int32_t> child_count_;
  std::vector<int32_t> nested_left_, nested_right_;
  std::deque<std::string> strings_;
  std::deque<std::vector<Static>> multis_;
};

// Converts a value to an OTLP attribute for results (durations, statuses
// and kinds render as strings, as Tempo does). Nil gives an empty value.
AttributeValue StaticToAttribute(const Static& v);

// A trace id as Tempo prints it (util.TraceIDToHexString): hex without
// leading zeros. Span ids keep all 16 digits.
std::string_view TrimHexZeros(std::string_view hex);

// The result key of a field: attribute name without its scope, or the
// intrinsic's name.
std::string FieldResultKey(const FieldExpr& e);

}  // namespace sightline::traces::traceql
