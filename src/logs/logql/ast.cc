#include "logs/logql/ast.h"

#include <fmt/format.h>

#include "metrics/promql/duration.h"
#include "metrics/promql/go_text.h"

namespace sightline::logs::logql {

std::string FormatDurationNs(int64_t ns) {
  // Prometheus's model.Duration for whole milliseconds (as Loki prints
  // ranges and offsets), Go's time.Duration.String() otherwise.
  if (ns % 1'000'000 == 0) return promql::FormatDuration(ns / 1'000'000);
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  int64_t h = ns / 3600'000'000'000;
  int64_t rem = ns % 3600'000'000'000;
  int64_t m = rem / 60'000'000'000;
  rem %= 60'000'000'000;
  if (ns < 1'000'000'000) {
    if (ns % 1'000'000 == 0) return out + std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1000 == 0) return out + std::to_string(ns / 1000) + "\xc2\xb5s";
    return out + std::to_string(ns) + "ns";
  }
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  std::string secs = promql::FormatFloatGo(static_cast<double>(rem) / 1e9);
  out += secs + "s";
  return out;
}

std::string SelectorString(const std::vector<Matcher>& matchers) {
  std::string s = "{";
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) s += ", ";
    s += matchers[i].ToString();
  }
  return s + "}";
}

namespace {

std::string PipelineString(const LogSelectorExpr& l) {
  std::string s = SelectorString(l.matchers);
  for (const auto& st : l.stages) s += " " + st->String();
  return s;
}

std::string GroupingString(const Grouping& g) {
  std::string s = g.without ? " without (" : " by (";
  for (size_t i = 0; i < g.labels.size(); ++i) {
    if (i > 0) s += ",";
    s += g.labels[i];
  }
  return s + ")";
}

std::string UnwrapString(const UnwrapExpr& u) {
  std::string s = " | unwrap ";
  switch (u.conv) {
    case UnwrapConv::kNone: s += u.label; break;
    case UnwrapConv::kBytes: s += "bytes(" + u.label + ")"; break;
    case UnwrapConv::kDuration: s += "duration(" + u.label + ")"; break;
    case UnwrapConv::kDurationSeconds: s += "duration_seconds(" + u.label + ")"; break;
  }
  for (const auto& f : u.post_filters) s += " " + f->String();
  return s;
}

std::string LogRangeString(const LogRangeExpr& r) {
  std::string s = PipelineString(r.selector);
  if (r.unwrap) s += UnwrapString(*r.unwrap);
  s += "[" + FormatDurationNs(r.range_ns) + "]";
  if (r.offset_ns != 0) s += " offset " + FormatDurationNs(r.offset_ns);
  return s;
}

std::string MatchingString(const Expr& e) {
  std::string s;
  if (e.return_bool) s += " bool";
  if (e.matching.has_matching) {
    s += e.matching.on ? " on (" : " ignoring (";
    for (size_t i = 0; i < e.matching.labels.size(); ++i) {
      if (i > 0) s += ",";
      s += e.matching.labels[i];
    }
    s += ")";
    if (e.matching.card != VectorMatching::Card::kOneToOne) {
      s += e.matching.card == VectorMatching::Card::kManyToOne ? " group_left" : " group_right";
      if (!e.matching.include.empty()) {
        s += " (";
        for (size_t i = 0; i < e.matching.include.size(); ++i) {
          if (i > 0) s += ",";
          s += e.matching.include[i];
        }
        s += ")";
      }
    }
  }
  return s;
}

}  // namespace

std::string Expr::String() const {
  switch (kind) {
    case Kind::kLog:
      return PipelineString(log);
    case Kind::kRangeAgg: {
      std::string s = op + "(";
      if (param) s += promql::FormatFloatV(*param) + ",";
      s += LogRangeString(*range) + ")";
      if (grouping) s += GroupingString(*grouping);
      return s;
    }
    case Kind::kVectorAgg: {
      std::string s = op;
      if (grouping) s += GroupingString(*grouping);
      s += "(";
      if (param) s += promql::FormatFloatV(*param) + ",";
      return s + lhs->String() + ")";
    }
    case Kind::kBinary:
      return "(" + lhs->String() + " " + op + MatchingString(*this) + " " + rhs->String() + ")";
    case Kind::kLiteral:
      return promql::FormatFloatV(value);
    case Kind::kVector:
      return "vector(" + promql::FormatFloatV(value) + ")";
    case Kind::kLabelReplace:
      return "label_replace(" + lhs->String() + "," + promql::QuoteGo(dst) + "," +
             promql::QuoteGo(replacement) + "," + promql::QuoteGo(src) + "," +
             promql::QuoteGo(regex) + ")";
  }
  return "";
}

std::string Expr::Pretty(int indent) const {
  // Loki's syntax.Prettify: short expressions stay on one line; longer
  // aggregations and binary operations break their arguments onto indented
  // lines.
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  std::string flat = String();
  if (flat.size() + pad.size() <= 100 || kind == Kind::kLog || kind == Kind::kLiteral ||
      kind == Kind::kVector) {
    if (kind == Kind::kBinary && flat.size() > 1 && flat.front() == '(' && flat.back() == ')') {
      flat = flat.substr(1, flat.size() - 2);
    }
    return pad + flat;
  }
  switch (kind) {
    case Kind::kRangeAgg: {
      std::string s = pad + op + "(\n";
      if (param) s += pad + "  " + promql::FormatFloatV(*param) + ",\n";
      s += pad + "  " + LogRangeString(*range) + "\n" + pad + ")";
      if (grouping) s += GroupingString(*grouping);
      return s;
    }
    case Kind::kVectorAgg: {
      std::string s = pad + op;
      if (grouping) s += GroupingString(*grouping);
      s += " (\n";
      if (param) s += pad + "  " + promql::FormatFloatV(*param) + ",\n";
      return s + lhs->Pretty(indent + 1) + "\n" + pad + ")";
    }
    case Kind::kBinary:
      return lhs->Pretty(indent + 1) + "\n" + pad + op + MatchingString(*this) + "\n" +
             rhs->Pretty(indent + 1);
    case Kind::kLabelReplace:
      return pad + "label_replace(\n" + lhs->Pretty(indent + 1) + ",\n" + pad + "  " +
             promql::QuoteGo(dst) + ",\n" + pad + "  " + promql::QuoteGo(replacement) + ",\n" +
             pad + "  " + promql::QuoteGo(src) + ",\n" + pad + "  " + promql::QuoteGo(regex) +
             "\n" + pad + ")";
    default:
      return pad + flat;
  }
}

void Expr::CollectMatchers(std::vector<std::vector<Matcher>>* out) const {
  switch (kind) {
    case Kind::kLog:
      out->push_back(log.matchers);
      return;
    case Kind::kRangeAgg:
      out->push_back(range->selector.matchers);
      return;
    default:
      break;
  }
  if (lhs) lhs->CollectMatchers(out);
  if (rhs) rhs->CollectMatchers(out);
}

}  // namespace sightline::logs::logql
