#include "metrics/promql/printer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "metrics/promql/duration.h"
#include "metrics/promql/go_text.h"

namespace sightline::promql {
namespace {

constexpr size_t kMaxLineLength = 100;

// model.Duration(seconds * 1e9).String(), with a sign.
std::string SecondsAsDuration(double seconds) {
  const bool negative = seconds < 0;
  const double magnitude = negative ? -seconds : seconds;
  const int64_t ms = std::llround(magnitude * 1000);
  return (negative ? "-" : "") + FormatDuration(ms);
}

std::string OffsetString(int64_t offset_ms, const std::unique_ptr<DurationExpr>& offset_expr) {
  if (offset_expr) return " offset " + ToString(*offset_expr);
  if (offset_ms > 0) return " offset " + FormatDuration(offset_ms);
  if (offset_ms < 0) return " offset -" + FormatDuration(-offset_ms);
  return "";
}

std::string AtString(const std::optional<int64_t>& timestamp_ms, AtModifier at) {
  if (timestamp_ms) {
    return " @ " + FormatFloatFixed(static_cast<double>(*timestamp_ms) / 1000.0, 3);
  }
  if (at == AtModifier::kStart) return " @ start()";
  if (at == AtModifier::kEnd) return " @ end()";
  return "";
}

std::string ExtendedString(const VectorSelector& vs) {
  if (vs.anchored) return " anchored";
  if (vs.smoothed) return " smoothed";
  return "";
}

std::string LabelList(const std::vector<std::string>& labels) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ", ";
    out += IsLegacyLabelName(labels[i]) ? labels[i] : QuoteGo(labels[i]);
  }
  return out;
}

// The selector without its modifiers: name{matchers}.
std::string SelectorBase(const VectorSelector& vs) {
  std::vector<std::string> parts;
  for (const Matcher& m : vs.matchers) {
    if (m.name() == kMetricNameLabel && m.type() == MatchType::kEqual && m.value() == vs.name &&
        !m.value().empty()) {
      continue;
    }
    parts.push_back(m.ToString());
  }
  std::string out = vs.name;
  if (!parts.empty()) {
    std::sort(parts.begin(), parts.end());
    out += '{';
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) out += ',';
      out += parts[i];
    }
    out += '}';
  }
  return out;
}

std::string AggregatePrefix(const AggregateExpr& a) {
  std::string out(AggregateOpString(a.op));
  if (a.without) {
    out += " without (" + LabelList(a.grouping) + ") ";
  } else if (!a.grouping.empty()) {
    out += " by (" + LabelList(a.grouping) + ") ";
  }
  return out;
}

std::string MatchingString(const BinaryExpr& b) {
  if (!b.matching) return "";
  const VectorMatching& vm = *b.matching;
  std::string out;
  const bool grouped = vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany;
  if (!vm.matching_labels.empty() || vm.on || grouped) {
    out += vm.on ? " on (" : " ignoring (";
    out += LabelList(vm.matching_labels) + ")";
  }
  if (grouped) {
    out += vm.card == Cardinality::kManyToOne ? " group_left (" : " group_right (";
    out += LabelList(vm.include) + ")";
  }
  if (vm.fill_lhs || vm.fill_rhs) {
    if (vm.fill_both && vm.fill_lhs && vm.fill_rhs) {
      out += " fill (" + FormatFloatV(*vm.fill_lhs) + ")";
    } else {
      if (vm.fill_lhs) out += " fill_left (" + FormatFloatV(*vm.fill_lhs) + ")";
      if (vm.fill_rhs) out += " fill_right (" + FormatFloatV(*vm.fill_rhs) + ")";
    }
  }
  return out;
}

std::string BinaryOperatorString(const BinaryExpr& b) {
  std::string out(BinaryOpString(b.op));
  if (b.return_bool) out += " bool";
  return out + MatchingString(b);
}

std::string SubquerySuffix(const SubqueryExpr& s) {
  std::string out = "[";
  out += s.range_expr ? ToString(*s.range_expr) : FormatDuration(s.range_ms);
  out += ":";
  if (s.step_expr) {
    out += ToString(*s.step_expr);
  } else if (s.step_ms != 0) {
    out += FormatDuration(s.step_ms);
  }
  out += "]";
  out += AtString(s.timestamp_ms, s.at);
  out += OffsetString(s.original_offset_ms, s.original_offset_expr);
  return out;
}

// Go prints +Inf as "+Inf", so Prometheus formats `Inf ^ 2` as `+Inf ^ 2`,
// which reads back as `+(Inf ^ 2)`. The left operand of ^ is printed
// without the sign so that the output keeps its meaning.
std::string PowOperandString(const BinaryExpr& b) {
  const auto* n = b.lhs->As<NumberLiteral>();
  if (b.op == BinaryOp::kPow && n != nullptr && !n->is_duration && std::isinf(n->value) &&
      n->value > 0) {
    return "Inf";
  }
  return ToString(*b.lhs);
}

std::string Indent(int level) { return std::string(static_cast<size_t>(level) * 2, ' '); }

std::string Pretty(const Expr& e, int level) {
  const std::string flat = ToString(e);
  if (flat.size() <= kMaxLineLength && !e.Is<StepInvariantExpr>()) return Indent(level) + flat;
  switch (e.kind()) {
    case ExprKind::kAggregate: {
      const auto& a = *e.As<AggregateExpr>();
      std::string out = Indent(level) + AggregatePrefix(a) + "(\n";
      if (a.param) out += Pretty(*a.param, level + 1) + ",\n";
      out += Pretty(*a.expr, level + 1) + "\n" + Indent(level) + ")";
      return out;
    }
    case ExprKind::kBinary: {
      const auto& b = *e.As<BinaryExpr>();
      const std::string lhs = b.lhs->Is<NumberLiteral>() ? Indent(level + 1) + PowOperandString(b)
                                                         : Pretty(*b.lhs, level + 1);
      return lhs + "\n" + Indent(level) + BinaryOperatorString(b) + "\n" +
             Pretty(*b.rhs, level + 1);
    }
    case ExprKind::kCall: {
      const auto& c = *e.As<Call>();
      std::string out = Indent(level) + std::string(c.func->name) + "(\n";
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i > 0) out += ",\n";
        out += Pretty(*c.args[i], level + 1);
      }
      return out + "\n" + Indent(level) + ")";
    }
    case ExprKind::kParen:
      return Indent(level) + "(\n" + Pretty(*e.As<ParenExpr>()->expr, level + 1) + "\n" +
             Indent(level) + ")";
    case ExprKind::kSubquery: {
      const auto& s = *e.As<SubqueryExpr>();
      return Pretty(*s.expr, level) + SubquerySuffix(s);
    }
    case ExprKind::kUnary: {
      const auto& u = *e.As<UnaryExpr>();
      std::string child = Pretty(*u.expr, level);
      child.erase(0, child.find_first_not_of(' '));
      return Indent(level) + u.op + child;
    }
    case ExprKind::kStepInvariant:
      return Pretty(*e.As<StepInvariantExpr>()->expr, level);
    default:
      return Indent(level) + flat;
  }
}

std::string DurationDebug(const std::unique_ptr<DurationExpr>& d) { return d ? ToString(*d) : "-"; }

void Debug(const Expr& e, std::string* out) {
  switch (e.kind()) {
    case ExprKind::kNumberLiteral: {
      const auto& n = *e.As<NumberLiteral>();
      *out += n.is_duration ? "dur:" + SecondsAsDuration(n.value) : FormatFloatGo(n.value);
      return;
    }
    case ExprKind::kStringLiteral:
      *out += QuoteGo(e.As<StringLiteral>()->value);
      return;
    case ExprKind::kVectorSelector:
    case ExprKind::kMatrixSelector:
      // The canonical form carries every field of a selector.
      *out += ToString(e);
      return;
    case ExprKind::kSubquery: {
      const auto& s = *e.As<SubqueryExpr>();
      *out += "subquery(";
      Debug(*s.expr, out);
      *out += fmt::format(" range={}ms range_expr={} step={}ms step_expr={}", s.range_ms,
                          DurationDebug(s.range_expr), s.step_ms, DurationDebug(s.step_expr));
      if (s.original_offset_ms != 0) *out += fmt::format(" offset={}ms", s.original_offset_ms);
      if (s.original_offset_expr) *out += " offset=" + ToString(*s.original_offset_expr);
      if (s.timestamp_ms) *out += fmt::format(" at={}ms", *s.timestamp_ms);
      if (s.at != AtModifier::kNone) *out += s.at == AtModifier::kStart ? " at=start" : " at=end";
      *out += ")";
      return;
    }
    case ExprKind::kAggregate: {
      const auto& a = *e.As<AggregateExpr>();
      *out += std::string(AggregateOpString(a.op));
      if (a.without || !a.grouping.empty()) {
        *out += (a.without ? " without (" : " by (") + LabelList(a.grouping) + ")";
      }
      *out += "(";
      if (a.param) {
        Debug(*a.param, out);
        *out += ", ";
      }
      Debug(*a.expr, out);
      *out += ")";
      return;
    }
    case ExprKind::kBinary: {
      const auto& b = *e.As<BinaryExpr>();
      *out += "(";
      Debug(*b.lhs, out);
      *out += " " + BinaryOperatorString(b);
      if (b.matching && b.matching->card != Cardinality::kOneToOne) {
        static constexpr std::string_view kCard[] = {"1:1", "N:1", "1:N", "N:N"};
        *out += fmt::format(" [{}]", kCard[static_cast<int>(b.matching->card)]);
      }
      *out += " ";
      Debug(*b.rhs, out);
      *out += ")";
      return;
    }
    case ExprKind::kUnary: {
      const auto& u = *e.As<UnaryExpr>();
      *out += "(";
      *out += u.op;
      Debug(*u.expr, out);
      *out += ")";
      return;
    }
    case ExprKind::kCall: {
      const auto& c = *e.As<Call>();
      *out += std::string(c.func->name) + "(";
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i > 0) *out += ", ";
        Debug(*c.args[i], out);
      }
      *out += ")";
      return;
    }
    case ExprKind::kParen:
      *out += "paren(";
      Debug(*e.As<ParenExpr>()->expr, out);
      *out += ")";
      return;
    case ExprKind::kStepInvariant:
      *out += "step_invariant(";
      Debug(*e.As<StepInvariantExpr>()->expr, out);
      *out += ")";
      return;
  }
}

}  // namespace

std::string ToString(const DurationExpr& e) {
  std::string out;
  if (e.wrapped) out += '(';
  switch (e.kind) {
    case DurationExpr::Kind::kLiteral:
      out += e.is_duration ? SecondsAsDuration(e.value) : FormatFloatGo(e.value);
      break;
    case DurationExpr::Kind::kStep:
      out += "step()";
      break;
    case DurationExpr::Kind::kRange:
      out += "range()";
      break;
    case DurationExpr::Kind::kMinOf:
    case DurationExpr::Kind::kMaxOf:
      out += e.kind == DurationExpr::Kind::kMinOf ? "min_of(" : "max_of(";
      out += ToString(*e.lhs) + ", " + ToString(*e.rhs) + ")";
      break;
    case DurationExpr::Kind::kUnary:
      if (e.op == '-') out += '-';
      out += ToString(*e.rhs);
      break;
    case DurationExpr::Kind::kBinary:
      out += ToString(*e.lhs) + " " + e.op + " " + ToString(*e.rhs);
      break;
  }
  if (e.wrapped) out += ')';
  return out;
}

std::string ToString(const Expr& e) {
  switch (e.kind()) {
    case ExprKind::kNumberLiteral: {
      const auto& n = *e.As<NumberLiteral>();
      return n.is_duration ? SecondsAsDuration(n.value) : FormatFloatGo(n.value);
    }
    case ExprKind::kStringLiteral:
      return QuoteGo(e.As<StringLiteral>()->value);
    case ExprKind::kVectorSelector: {
      const auto& vs = *e.As<VectorSelector>();
      return SelectorBase(vs) + AtString(vs.timestamp_ms, vs.at) + ExtendedString(vs) +
             OffsetString(vs.original_offset_ms, vs.original_offset_expr);
    }
    case ExprKind::kMatrixSelector: {
      const auto& m = *e.As<MatrixSelector>();
      const VectorSelector& vs = *m.vector_selector;
      const std::string range = m.range_expr ? ToString(*m.range_expr) : FormatDuration(m.range_ms);
      return SelectorBase(vs) + "[" + range + "]" + ExtendedString(vs) +
             AtString(vs.timestamp_ms, vs.at) +
             OffsetString(vs.original_offset_ms, vs.original_offset_expr);
    }
    case ExprKind::kSubquery: {
      const auto& s = *e.As<SubqueryExpr>();
      return ToString(*s.expr) + SubquerySuffix(s);
    }
    case ExprKind::kAggregate: {
      const auto& a = *e.As<AggregateExpr>();
      std::string out = AggregatePrefix(a) + "(";
      if (a.param) out += ToString(*a.param) + ", ";
      return out + ToString(*a.expr) + ")";
    }
    case ExprKind::kBinary: {
      const auto& b = *e.As<BinaryExpr>();
      return PowOperandString(b) + " " + BinaryOperatorString(b) + " " + ToString(*b.rhs);
    }
    case ExprKind::kUnary: {
      const auto& u = *e.As<UnaryExpr>();
      return std::string(1, u.op) + ToString(*u.expr);
    }
    case ExprKind::kCall: {
      const auto& c = *e.As<Call>();
      std::string out = std::string(c.func->name) + "(";
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i > 0) out += ", ";
        out += ToString(*c.args[i]);
      }
      return out + ")";
    }
    case ExprKind::kParen:
      return "(" + ToString(*e.As<ParenExpr>()->expr) + ")";
    case ExprKind::kStepInvariant:
      return ToString(*e.As<StepInvariantExpr>()->expr);
  }
  return "";
}

std::string PrettyPrint(const Expr& e) { return Pretty(e, 0); }

std::string DebugString(const Expr& e) {
  std::string out;
  Debug(e, &out);
  return out;
}

}  // namespace sightline::promql
