// Names of AST enums and canonical TraceQL printing.
#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "traces/traceql/ast.h"

namespace sightline::traces::traceql {

FieldExpr::~FieldExpr() = default;
ScalarExpr::~ScalarExpr() = default;
Element::~Element() = default;
Query::~Query() = default;

std::string_view IntrinsicName(Intrinsic i) {
  switch (i) {
    case Intrinsic::kName:
      return "name";
    case Intrinsic::kStatus:
      return "status";
    case Intrinsic::kStatusMessage:
      return "statusMessage";
    case Intrinsic::kDuration:
      return "duration";
    case Intrinsic::kKind:
      return "kind";
    case Intrinsic::kSpanId:
      return "span:id";
    case Intrinsic::kParentId:
      return "span:parentID";
    case Intrinsic::kChildCount:
      return "childCount";
    case Intrinsic::kParent:
      return "parent";
    case Intrinsic::kTraceDuration:
      return "traceDuration";
    case Intrinsic::kRootName:
      return "rootName";
    case Intrinsic::kRootService:
      return "rootServiceName";
    case Intrinsic::kTraceId:
      return "trace:id";
    case Intrinsic::kEventName:
      return "event:name";
    case Intrinsic::kEventTimeSinceStart:
      return "event:timeSinceStart";
    case Intrinsic::kLinkSpanId:
      return "link:spanID";
    case Intrinsic::kLinkTraceId:
      return "link:traceID";
    case Intrinsic::kInstrumentationName:
      return "instrumentation:name";
    case Intrinsic::kInstrumentationVersion:
      return "instrumentation:version";
    case Intrinsic::kNestedSetLeft:
      return "nestedSetLeft";
    case Intrinsic::kNestedSetRight:
      return "nestedSetRight";
    case Intrinsic::kNestedSetParent:
      return "nestedSetParent";
  }
  return "?";
}

std::string_view ScopeName(Scope s) {
  switch (s) {
    case Scope::kNone:
      return "";
    case Scope::kSpan:
      return "span";
    case Scope::kResource:
      return "resource";
    case Scope::kEvent:
      return "event";
    case Scope::kLink:
      return "link";
    case Scope::kInstrumentation:
      return "instrumentation";
  }
  return "";
}

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kPow:
      return "^";
    case Op::kEq:
      return "=";
    case Op::kNeq:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLte:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGte:
      return ">=";
    case Op::kRe:
      return "=~";
    case Op::kNre:
      return "!~";
    case Op::kAnd:
      return "&&";
    case Op::kOr:
      return "||";
    case Op::kNot:
      return "!";
    case Op::kNeg:
      return "-";
  }
  return "?";
}

std::string_view SpansetOpText(SpansetOp op) {
  switch (op) {
    case SpansetOp::kAnd:
      return "&&";
    case SpansetOp::kOr:
      return "||";
    case SpansetOp::kChild:
      return ">";
    case SpansetOp::kParent:
      return "<";
    case SpansetOp::kDescendant:
      return ">>";
    case SpansetOp::kAncestor:
      return "<<";
    case SpansetOp::kSibling:
      return "~";
    case SpansetOp::kNotChild:
      return "!>";
    case SpansetOp::kNotParent:
      return "!<";
    case SpansetOp::kNotDescendant:
      return "!>>";
    case SpansetOp::kNotAncestor:
      return "!<<";
    case SpansetOp::kNotSibling:
      return "!~";
    case SpansetOp::kUnionChild:
      return "&>";
    case SpansetOp::kUnionParent:
      return "&<";
    case SpansetOp::kUnionDescendant:
      return "&>>";
    case SpansetOp::kUnionAncestor:
      return "&<<";
    case SpansetOp::kUnionSibling:
      return "&~";
  }
  return "?";
}

std::string_view MetricsFnName(MetricsFn fn) {
  switch (fn) {
    case MetricsFn::kRate:
      return "rate";
    case MetricsFn::kCountOverTime:
      return "count_over_time";
    case MetricsFn::kSumOverTime:
      return "sum_over_time";
    case MetricsFn::kMinOverTime:
      return "min_over_time";
    case MetricsFn::kMaxOverTime:
      return "max_over_time";
    case MetricsFn::kAvgOverTime:
      return "avg_over_time";
    case MetricsFn::kCompare:
      return "compare";
    case MetricsFn::kQuantileOverTime:
      return "quantile_over_time";
    case MetricsFn::kHistogramOverTime:
      return "histogram_over_time";
  }
  return "?";
}

std::string_view AggregateName(AggregateFn fn) {
  switch (fn) {
    case AggregateFn::kCount:
      return "count";
    case AggregateFn::kAvg:
      return "avg";
    case AggregateFn::kMin:
      return "min";
    case AggregateFn::kMax:
      return "max";
    case AggregateFn::kSum:
      return "sum";
  }
  return "?";
}

std::string_view StatusName(int64_t status) {
  switch (status) {
    case kStatusError:
      return "error";
    case kStatusOk:
      return "ok";
    case kStatusUnset:
      return "unset";
    default:
      return "unknown";
  }
}

std::string_view KindName(int64_t kind) {
  switch (kind) {
    case 0:
      return "unspecified";
    case 1:
      return "internal";
    case 2:
      return "server";
    case 3:
      return "client";
    case 4:
      return "producer";
    case 5:
      return "consumer";
    default:
      return "unspecified";
  }
}

namespace {

// Go's strconv.FormatFloat(f, 'g', -1, 64)-like shortest form.
std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // Go's strconv 'g' with shortest digits: the exponent form when the
  // decimal exponent is below -4 or at least 6 (1234567 -> 1.234567e+06).
  int exp = std::atoi(std::strchr(buf, 'e') + 1);
  if (exp >= -4 && exp < 6) {
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, prec - 1 - exp), v);
  }
  return buf;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out.push_back(c);
    }
  }
  out += "\"";
  return out;
}

bool NeedsQuoting(std::string_view name) {
  if (name.empty()) return true;
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c))) return true;
    switch (c) {
      case '{':
      case '}':
      case '(':
      case ')':
      case '=':
      case '~':
      case '!':
      case '<':
      case '>':
      case '&':
      case '|':
      case '^':
      case ',':
      case '"':
        return true;
      default:
        break;
    }
  }
  return false;
}

}  // namespace

std::string FormatDuration(int64_t ns) {
  // Go's time.Duration.String().
  if (ns == 0) return "0s";
  bool neg = ns < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  std::string out;
  auto frac = [](uint64_t v, int digits, uint64_t* rest) {
    // Returns ".ddd" with trailing zeros trimmed for v % 10^digits.
    std::string s;
    bool print = false;
    for (int k = 0; k < digits; ++k) {
      uint64_t d = v % 10;
      print = print || d != 0;
      if (print) s.insert(s.begin(), static_cast<char>('0' + d));
      v /= 10;
    }
    if (print) s.insert(s.begin(), '.');
    *rest = v;
    return s;
  };
  if (u < 1'000'000'000ULL) {
    const char* unit;
    int digits;
    if (u < 1000) {
      return (neg ? "-" : "") + std::to_string(u) + "ns";
    } else if (u < 1'000'000) {
      unit = "\xC2\xB5s";
      digits = 3;
    } else {
      unit = "ms";
      digits = 6;
    }
    uint64_t rest;
    std::string f = frac(u, digits, &rest);
    return (neg ? "-" : "") + std::to_string(rest) + f + unit;
  }
  uint64_t rest;
  std::string f = frac(u, 9, &rest);  // rest = whole seconds
  uint64_t secs = rest % 60;
  uint64_t mins_total = rest / 60;
  out = std::to_string(secs) + f + "s";
  if (mins_total > 0) {
    uint64_t mins = mins_total % 60;
    uint64_t hours = mins_total / 60;
    out = std::to_string(mins) + "m" + out;
    if (hours > 0) out = std::to_string(hours) + "h" + out;
  }
  return (neg ? "-" : "") + out;
}

std::string StaticToString(const Static& s, bool quote_strings) {
  switch (s.type) {
    case ValueType::kNil:
      return "nil";
    case ValueType::kInt:
      return std::to_string(s.i);
    case ValueType::kFloat: {
      // As Tempo's EncodeToString: an integral float keeps a ".0".
      std::string f = FormatFloat(s.f);
      if (std::isfinite(s.f) && f.find_first_of("e.") == std::string::npos) f += ".0";
      return f;
    }
    case ValueType::kString:
      return quote_strings ? Quote(s.s) : std::string(s.s);
    case ValueType::kBool:
      return s.b ? "true" : "false";
    case ValueType::kDuration:
      return FormatDuration(s.i);
    case ValueType::kStatus:
      return std::string(StatusName(s.i));
    case ValueType::kKind:
      return std::string(KindName(s.i));
    case ValueType::kArray:
      return "[array]";
    case ValueType::kMulti: {
      std::string out = "[";
      for (size_t k = 0; s.multi && k < s.multi->size(); ++k) {
        if (k) out += ", ";
        out += StaticToString((*s.multi)[k], quote_strings);
      }
      return out + "]";
    }
  }
  return "?";
}

std::string FieldExprToString(const FieldExpr& e) {
  switch (e.kind) {
    case FieldExpr::Kind::kStatic:
      return StaticToString(e.value, true);
    case FieldExpr::Kind::kAttribute: {
      std::string out = e.parent ? "parent." : "";
      if (e.scope != Scope::kNone)
        out += std::string(ScopeName(e.scope)) + ".";
      else if (!e.parent)
        out += ".";
      // `parent."span.x"` must not read back as parent.span.x.
      bool ambiguous = e.parent && e.scope == Scope::kNone &&
                       (e.name.rfind("span.", 0) == 0 || e.name.rfind("resource.", 0) == 0);
      // `.5` reads as a number: an unscoped name starting with a digit is quoted.
      ambiguous = ambiguous || (e.scope == Scope::kNone && !e.parent && !e.name.empty() &&
                                std::isdigit(static_cast<unsigned char>(e.name[0])));
      out += NeedsQuoting(e.name) || ambiguous ? Quote(e.name) : e.name;
      return out;
    }
    case FieldExpr::Kind::kIntrinsic:
      return std::string(IntrinsicName(e.intrinsic));
    case FieldExpr::Kind::kUnary:
      return std::string(OpText(e.op)) + FieldExprToString(*e.lhs);
    case FieldExpr::Kind::kBinary:
      return "(" + FieldExprToString(*e.lhs) + " " + std::string(OpText(e.op)) + " " +
             FieldExprToString(*e.rhs) + ")";
    case FieldExpr::Kind::kCidr: {
      std::string out = "cidr(" + FieldExprToString(*e.lhs);
      for (const auto& c : e.cidr_text) out += ", `" + c + "`";
      return out + ")";
    }
  }
  return "?";
}

bool ParseIpAddress(std::string_view text, uint8_t out[16]) {
  std::string t(text);
  in_addr v4;
  if (inet_pton(AF_INET, t.c_str(), &v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &v4, 4);
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, t.c_str(), &v6) == 1) {
    std::memcpy(out, &v6, 16);
    return true;
  }
  return false;
}

bool ParseIpPrefix(std::string_view text, IpPrefix* out) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 >= text.size()) return false;
  std::string_view addr = text.substr(0, slash), len = text.substr(slash + 1);
  int bits = 0;
  for (char c : len) {
    if (c < '0' || c > '9' || bits > 128) return false;
    bits = bits * 10 + (c - '0');
  }
  const bool v4 = addr.find(':') == std::string_view::npos;
  if ((v4 && bits > 32) || bits > 128) return false;
  if (!ParseIpAddress(addr, out->addr)) return false;
  out->bits = v4 ? 96 + bits : bits;
  // Masked(), as Go's netip.Prefix: host bits cleared.
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(out->bits - i * 8, 0, 8);
    out->addr[i] = static_cast<uint8_t>(out->addr[i] & (keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff));
  }
  return true;
}

bool IpPrefixContains(const IpPrefix& p, const uint8_t addr[16]) {
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(p.bits - i * 8, 0, 8);
    if (keep == 0) return true;
    uint8_t mask = static_cast<uint8_t>((0xff << (8 - keep)) & 0xff);
    if ((addr[i] & mask) != p.addr[i]) return false;
  }
  return true;
}

std::string ScalarExprToString(const ScalarExpr& e) {
  switch (e.kind) {
    case ScalarExpr::Kind::kStatic:
      return StaticToString(e.value, true);
    case ScalarExpr::Kind::kAggregate:
      return std::string(AggregateName(e.agg)) + "(" +
             (e.field ? FieldExprToString(*e.field) : "") + ")";
    case ScalarExpr::Kind::kBinary:
      return "(" + ScalarExprToString(*e.lhs) + " " + std::string(OpText(e.op)) + " " +
             ScalarExprToString(*e.rhs) + ")";
    case ScalarExpr::Kind::kPipeline:
      return ElementToString(*e.pipeline);  // a pipeline prints in parentheses
  }
  return "?";
}

std::string ElementToString(const Element& e) {
  switch (e.kind) {
    case Element::Kind::kFilter:
      return e.expr ? "{ " + FieldExprToString(*e.expr) + " }" : "{ }";
    case Element::Kind::kSpansetOp:
      return "(" + ElementToString(*e.lhs) + " " + std::string(SpansetOpText(e.op)) + " " +
             ElementToString(*e.rhs) + ")";
    case Element::Kind::kPipeline: {
      std::string out = "(";
      for (size_t k = 0; k < e.stages.size(); ++k) {
        if (k) out += " | ";
        out += ElementToString(*e.stages[k]);
      }
      return out + ")";
    }
    case Element::Kind::kScalarFilter:
      return ScalarExprToString(*e.slhs) + " " + std::string(OpText(e.cmp)) + " " +
             ScalarExprToString(*e.srhs);
    case Element::Kind::kBy:
      return "by(" + FieldExprToString(*e.expr) + ")";
    case Element::Kind::kCoalesce:
      return "coalesce()";
    case Element::Kind::kSelect: {
      std::string out = "select(";
      for (size_t k = 0; k < e.fields.size(); ++k) {
        if (k) out += ", ";
        out += FieldExprToString(*e.fields[k]);
      }
      return out + ")";
    }
    case Element::Kind::kAggregate:
      return ScalarExprToString(*e.slhs);
  }
  return "?";
}

std::string QueryToString(const Query& q) {
  std::string out = ElementToString(*q.pipeline);
  if (q.metrics) {
    const MetricsAggregate& m = *q.metrics;
    out += " | " + std::string(MetricsFnName(m.fn)) + "(";
    if (m.fn == MetricsFn::kCompare) {
      out += m.compare_filter ? "{ " + FieldExprToString(*m.compare_filter) + " }" : "{ }";
      out += ", " + std::to_string(m.compare_top_n);
      if (m.compare_start || m.compare_end) {
        out += ", " + std::to_string(m.compare_start) + ", " + std::to_string(m.compare_end);
      }
    }
    if (m.attr) out += FieldExprToString(*m.attr);
    for (double v : m.quantiles) out += ", " + FormatFloat(v);
    out += ")";
    if (!m.by.empty()) {
      out += " by (";
      for (size_t k = 0; k < m.by.size(); ++k) {
        if (k) out += ", ";
        out += FieldExprToString(*m.by[k]);
      }
      out += ")";
    }
  }
  for (const SecondStage& s : q.second_stage) {
    if (s.kind == SecondStage::Kind::kFilter) {
      out += " " + std::string(OpText(s.op)) + " " + s.threshold_text;
      continue;
    }
    out += std::string(s.topk ? " | topk(" : " | bottomk(") + std::to_string(s.k) + ")";
  }
  if (!q.hints.empty()) {
    out += " with(";
    for (size_t k = 0; k < q.hints.size(); ++k) {
      if (k) out += ", ";
      out += q.hints[k].name + "=" + StaticToString(q.hints[k].value, true);
    }
    out += ")";
  }
  return out;
}

}  // namespace sightline::traces::traceql
