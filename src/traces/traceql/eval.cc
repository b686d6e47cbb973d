#include "traces/traceql/eval.h"

#include <re2/re2.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <type_traits>

namespace sightline::traces::traceql {
namespace {

const AttributeValue* Find(const std::vector<KeyValue>& kvs, std::string_view key) {
  for (const KeyValue& kv : kvs) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

Static FromAttribute(const AttributeValue* v) {
  if (!v) return Static::Nil();
  switch (v->v.index()) {
    case 1:
      return Static::Str(std::get<std::string>(v->v));
    case 2:
      return Static::Bool(std::get<bool>(v->v));
    case 3:
      return Static::Int(std::get<int64_t>(v->v));
    case 4:
      return Static::Float(std::get<double>(v->v));
    case 5: {
      Static s;
      s.type = ValueType::kArray;
      s.arr = &std::get<ArrayValue>(v->v);
      return s;
    }
    default:
      return Static::Nil();
  }
}

int64_t OtlpStatusToTraceQL(int code) {
  switch (code) {
    case 1:
      return kStatusOk;
    case 2:
      return kStatusError;
    default:
      return kStatusUnset;
  }
}

std::vector<uint32_t> Union(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint32_t> Flatten(const std::vector<Spanset>& sets) {
  if (sets.size() == 1) return sets[0].spans;
  std::vector<uint32_t> out;
  for (const Spanset& s : sets) out.insert(out.end(), s.spans.begin(), s.spans.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool IsIntLike(const Static& v) {
  return v.type == ValueType::kInt || v.type == ValueType::kDuration;
}

// Compares two scalar (non-array) values.
bool CompareScalar(const Static& l, const Static& r, Op op, const re2::RE2* re) {
  if (op == Op::kRe || op == Op::kNre) {
    if (l.type != ValueType::kString || !re) return false;
    bool m = RE2::FullMatch(re2::StringPiece(l.s.data(), l.s.size()), *re);
    return op == Op::kRe ? m : !m;
  }
  int cmp = 0;
  bool ordered = true;  // <, > are meaningful
  if (l.is_numeric() && r.is_numeric()) {
    if (IsIntLike(l) && IsIntLike(r)) {
      cmp = l.i < r.i ? -1 : l.i > r.i ? 1 : 0;
    } else {
      double a = l.AsFloat(), b = r.AsFloat();
      if (std::isnan(a) || std::isnan(b)) return op == Op::kNeq;
      cmp = a < b ? -1 : a > b ? 1 : 0;
    }
  } else if (l.type == ValueType::kString && r.type == ValueType::kString) {
    int c = l.s.compare(r.s);
    cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else if (l.type == r.type && (l.type == ValueType::kBool || l.type == ValueType::kStatus ||
                                  l.type == ValueType::kKind)) {
    cmp = l.type == ValueType::kBool ? (l.b == r.b ? 0 : 1) : (l.i == r.i ? 0 : 1);
    ordered = false;
  } else if ((l.type == ValueType::kStatus && r.type == ValueType::kString) ||
             (l.type == ValueType::kString && r.type == ValueType::kStatus)) {
    const Static& st = l.type == ValueType::kStatus ? l : r;
    const Static& str = l.type == ValueType::kStatus ? r : l;
    cmp = StatusName(st.i) == str.s ? 0 : 1;
    ordered = false;
  } else if ((l.type == ValueType::kKind && r.type == ValueType::kString) ||
             (l.type == ValueType::kString && r.type == ValueType::kKind)) {
    const Static& k = l.type == ValueType::kKind ? l : r;
    const Static& str = l.type == ValueType::kKind ? r : l;
    cmp = KindName(k.i) == str.s ? 0 : 1;
    ordered = false;
  } else {
    return false;  // different types never compare
  }
  switch (op) {
    case Op::kEq:
      return cmp == 0;
    case Op::kNeq:
      return cmp != 0;
    case Op::kLt:
      return ordered && cmp < 0;
    case Op::kLte:
      return ordered && cmp <= 0;
    case Op::kGt:
      return ordered && cmp > 0;
    case Op::kGte:
      return ordered && cmp >= 0;
    default:
      return false;
  }
}

template <typename Fn>
bool AnyElement(const Static& v, Fn&& fn) {
  if (v.type == ValueType::kArray) {
    for (const AttributeValue& e : *v.arr) {
      if (fn(FromAttribute(&e))) return true;
    }
    return false;
  }
  if (v.type == ValueType::kMulti) {
    for (const Static& e : *v.multi) {
      if (e.type == ValueType::kArray || e.type == ValueType::kMulti) {
        if (AnyElement(e, fn)) return true;
      } else if (fn(e)) {
        return true;
      }
    }
    return false;
  }
  return fn(v);
}

bool IsCollection(const Static& v) {
  return v.type == ValueType::kArray || v.type == ValueType::kMulti;
}

Static Arith(const Static& l, const Static& r, Op op) {
  if (!l.is_numeric() || !r.is_numeric()) return Static::Nil();
  bool dur = l.type == ValueType::kDuration || r.type == ValueType::kDuration;
  if (IsIntLike(l) && IsIntLike(r) && op != Op::kDiv && op != Op::kPow) {
    int64_t a = l.i, b = r.i, v = 0;
    switch (op) {
      case Op::kAdd:
        v = static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
        break;
      case Op::kSub:
        v = static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
        break;
      case Op::kMul:
        v = static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
        break;
      case Op::kMod:
        if (b == 0 || (a == std::numeric_limits<int64_t>::min() && b == -1)) return Static::Nil();
        v = a % b;
        break;
      default:
        return Static::Nil();
    }
    return dur ? Static::Duration(v) : Static::Int(v);
  }
  double a = l.AsFloat(), b = r.AsFloat(), v = 0;
  switch (op) {
    case Op::kAdd:
      v = a + b;
      break;
    case Op::kSub:
      v = a - b;
      break;
    case Op::kMul:
      v = a * b;
      break;
    case Op::kDiv:
      v = a / b;
      break;
    case Op::kMod:
      v = std::fmod(a, b);
      break;
    case Op::kPow:
      v = std::pow(a, b);
      break;
    default:
      return Static::Nil();
  }
  if (dur && std::isfinite(v) && std::fabs(v) < 9.2e18)
    return Static::Duration(static_cast<int64_t>(v));
  return Static::Float(v);
}

}  // namespace

TraceEval::TraceEval(const Trace& trace, bool needs_structure) : trace_(trace) {
  uint64_t start = std::numeric_limits<uint64_t>::max(), end = 0;
  for (size_t k = 0; k < trace.spans.size(); ++k) {
    const Span& s = trace.spans[k];
    start = std::min(start, s.start_unix_nano);
    end = std::max(end, std::max(s.end_unix_nano, s.start_unix_nano));
    if (root_ < 0 && s.parent_span_id.empty()) root_ = static_cast<int>(k);
  }
  start_ = trace.spans.empty() ? 0 : start;
  end_ = end;
  if (needs_structure) EnsureStructure();
}

void TraceEval::EnsureStructure() {
  if (structure_ready_) return;
  structure_ready_ = true;
  const size_t n = trace_.spans.size();
  parent_.assign(n, -1);
  child_count_.assign(n, 0);
  // Span ids sorted for binary search (cheaper than a hash map for the
  // small traces that dominate).
  std::vector<std::pair<std::string_view, int32_t>> by_id;
  by_id.reserve(n);
  for (size_t k = 0; k < n; ++k)
    by_id.emplace_back(trace_.spans[k].span_id, static_cast<int32_t>(k));
  std::sort(by_id.begin(), by_id.end());
  for (size_t k = 0; k < n; ++k) {
    const std::string& p = trace_.spans[k].parent_span_id;
    if (p.empty()) continue;
    auto it = std::lower_bound(by_id.begin(), by_id.end(),
                               std::pair<std::string_view, int32_t>(p, INT32_MIN));
    if (it != by_id.end() && it->first == p && it->second != static_cast<int32_t>(k)) {
      parent_[k] = it->second;
      ++child_count_[it->second];
    }
  }
  // Break parent cycles (malformed input) so ancestor walks terminate.
  for (size_t k = 0; k < n; ++k) {
    size_t steps = 0;
    for (int32_t p = parent_[k]; p >= 0; p = parent_[p]) {
      if (++steps > n) {
        parent_[k] = -1;
        break;
      }
    }
  }
}

void TraceEval::EnsureNestedSets() {
  if (nested_ready_) return;
  nested_ready_ = true;
  EnsureStructure();
  const size_t n = trace_.spans.size();
  // Nested set numbering, depth first from each root in span order.
  nested_left_.assign(n, 0);
  nested_right_.assign(n, 0);
  std::vector<std::vector<int32_t>> children(n);
  for (size_t k = 0; k < n; ++k) {
    if (parent_[k] >= 0) children[parent_[k]].push_back(static_cast<int32_t>(k));
  }
  int32_t counter = 0;
  std::vector<std::pair<int32_t, size_t>> stack;
  for (size_t k = 0; k < n; ++k) {
    // Tempo numbers the trees under root spans only; spans cut off from a
    // root keep 0 (and a trace without a root has no numbers at all).
    if (!trace_.spans[k].parent_span_id.empty()) continue;
    stack.push_back({static_cast<int32_t>(k), 0});
    nested_left_[k] = ++counter;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < children[node].size()) {
        int32_t c = children[node][next++];
        nested_left_[c] = ++counter;
        stack.push_back({c, 0});
      } else {
        nested_right_[node] = ++counter;
        stack.pop_back();
      }
    }
  }
}

std::string_view TraceEval::Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string& s = strings_.emplace_back();
  s.resize(bytes.size() * 2);
  for (size_t k = 0; k < bytes.size(); ++k) {
    auto b = static_cast<unsigned char>(bytes[k]);
    s[2 * k] = kDigits[b >> 4];
    s[2 * k + 1] = kDigits[b & 15];
  }
  return s;
}

std::vector<Static>* TraceEval::NewMulti() { return &multis_.emplace_back(); }

std::string_view TraceEval::RootServiceName() {
  if (root_ < 0) return {};
  const Span& r = trace_.spans[root_];
  if (r.resource_index >= trace_.resources.size()) return {};
  const AttributeValue* v = Find(trace_.resources[r.resource_index].attributes, "service.name");
  if (!v || v->v.index() != 1) return {};
  return std::get<std::string>(v->v);
}

Static TraceEval::Attribute(Scope scope, std::string_view name, uint32_t span) {
  const Span& s = trace_.spans[span];
  switch (scope) {
    case Scope::kSpan:
      return FromAttribute(Find(s.attributes, name));
    case Scope::kResource:
      if (s.resource_index >= trace_.resources.size()) return Static::Nil();
      return FromAttribute(Find(trace_.resources[s.resource_index].attributes, name));
    case Scope::kNone: {
      Static v = FromAttribute(Find(s.attributes, name));
      if (!v.is_nil()) return v;
      return Attribute(Scope::kResource, name, span);
    }
    case Scope::kInstrumentation:
      if (s.scope_index >= trace_.scopes.size()) return Static::Nil();
      return FromAttribute(Find(trace_.scopes[s.scope_index].attributes, name));
    case Scope::kEvent: {
      if (bound_event_ != -1 && span == bound_span_) {
        if (bound_event_ < 0) return Static::Nil();
        return FromAttribute(Find(s.events[bound_event_].attributes, name));
      }
      std::vector<Static>* m = nullptr;
      for (const Event& e : s.events) {
        const AttributeValue* v = Find(e.attributes, name);
        if (!v) continue;
        if (!m) m = NewMulti();
        m->push_back(FromAttribute(v));
      }
      if (!m) return Static::Nil();
      Static out;
      out.type = ValueType::kMulti;
      out.multi = m;
      return out;
    }
    case Scope::kLink: {
      if (bound_link_ != -1 && span == bound_span_) {
        if (bound_link_ < 0) return Static::Nil();
        return FromAttribute(Find(s.links[bound_link_].attributes, name));
      }
      std::vector<Static>* m = nullptr;
      for (const Link& l : s.links) {
        const AttributeValue* v = Find(l.attributes, name);
        if (!v) continue;
        if (!m) m = NewMulti();
        m->push_back(FromAttribute(v));
      }
      if (!m) return Static::Nil();
      Static out;
      out.type = ValueType::kMulti;
      out.multi = m;
      return out;
    }
  }
  return Static::Nil();
}

Static TraceEval::Intrinsic(traceql::Intrinsic i, uint32_t span) {
  const Span& s = trace_.spans[span];
  auto multi = [&](auto&& items, auto&& fn) {
    // Bound to one event/link by EvalFilter: that one's value only.
    const int32_t bound = span != bound_span_ ? -1
                          : std::is_same_v<std::decay_t<decltype(items)>, std::vector<Event>>
                              ? bound_event_
                              : bound_link_;
    if (bound == -2) return Static::Nil();
    if (bound >= 0) return fn(items[static_cast<size_t>(bound)]);
    if (items.empty()) return Static::Nil();
    std::vector<Static>* m = NewMulti();
    for (const auto& it : items) m->push_back(fn(it));
    Static out;
    out.type = ValueType::kMulti;
    out.multi = m;
    return out;
  };
  switch (i) {
    case Intrinsic::kName:
      return Static::Str(s.name);
    case Intrinsic::kStatus:
      return Static::Status(OtlpStatusToTraceQL(s.status_code));
    case Intrinsic::kStatusMessage:
      return Static::Str(s.status_message);
    case Intrinsic::kDuration:
      return Static::Duration(s.end_unix_nano > s.start_unix_nano
                                  ? static_cast<int64_t>(s.end_unix_nano - s.start_unix_nano)
                                  : 0);
    case Intrinsic::kKind:
      return Static::Kind(s.kind);
    case Intrinsic::kSpanId:
      return Static::Str(Hex(s.span_id));
    case Intrinsic::kParentId:
      return s.parent_span_id.empty() ? Static::Nil() : Static::Str(Hex(s.parent_span_id));
    case Intrinsic::kChildCount:
      EnsureStructure();
      return Static::Int(child_count_[span]);
    case Intrinsic::kParent:
      return s.parent_span_id.empty() ? Static::Nil() : Static::Str(Hex(s.parent_span_id));
    case Intrinsic::kTraceDuration:
      return Static::Duration(static_cast<int64_t>(end_ - start_));
    case Intrinsic::kRootName:
      return root_ < 0 ? Static::Nil() : Static::Str(trace_.spans[root_].name);
    case Intrinsic::kRootService: {
      std::string_view n = RootServiceName();
      return root_ < 0 || n.data() == nullptr ? Static::Nil() : Static::Str(n);
    }
    case Intrinsic::kTraceId:
      return Static::Str(TrimHexZeros(Hex(trace_.trace_id)));
    case Intrinsic::kEventName:
      return multi(s.events, [](const Event& e) { return Static::Str(e.name); });
    case Intrinsic::kEventTimeSinceStart:
      return multi(s.events, [&](const Event& e) {
        return Static::Duration(static_cast<int64_t>(e.time_unix_nano - s.start_unix_nano));
      });
    case Intrinsic::kLinkSpanId:
      return multi(s.links, [&](const Link& l) { return Static::Str(Hex(l.span_id)); });
    case Intrinsic::kLinkTraceId:
      return multi(s.links,
                   [&](const Link& l) { return Static::Str(TrimHexZeros(Hex(l.trace_id))); });
    case Intrinsic::kInstrumentationName:
      return s.scope_index < trace_.scopes.size() ? Static::Str(trace_.scopes[s.scope_index].name)
                                                  : Static::Nil();
    case Intrinsic::kInstrumentationVersion:
      return s.scope_index < trace_.scopes.size()
                 ? Static::Str(trace_.scopes[s.scope_index].version)
                 : Static::Nil();
    case Intrinsic::kNestedSetLeft:
      EnsureNestedSets();
      return Static::Int(nested_left_[span]);
    case Intrinsic::kNestedSetRight:
      EnsureNestedSets();
      return Static::Int(nested_right_[span]);
    case Intrinsic::kNestedSetParent:
      EnsureNestedSets();
      // -1 for a root, 0 for a span outside the numbered trees.
      if (nested_left_[span] == 0) return Static::Int(0);
      return Static::Int(parent_[span] >= 0 ? nested_left_[parent_[span]] : -1);
  }
  return Static::Nil();
}

bool TraceEval::Compare(const Static& l, const Static& r, Op op, const re2::RE2* re) {
  // Presence tests.
  if (r.is_nil() || l.is_nil()) {
    // `x = nil` tests absence, `x != nil` presence; any other comparison
    // with a missing value is false (`.foo != "bar"` needs .foo).
    if (op == Op::kEq) return l.is_nil() && r.is_nil();
    if (op == Op::kNeq) return r.is_nil() && !l.is_nil();
    return false;
  }
  if (IsCollection(l) || IsCollection(r)) {
    const Static& coll = IsCollection(l) ? l : r;
    const Static& other = IsCollection(l) ? r : l;
    bool swapped = !IsCollection(l);
    Op pos = op;
    bool negate = false;
    if (coll.type == ValueType::kMulti) {
      // Several events/links (a filter with `||`): Tempo tests each one, so
      // `!=` / `!~` hold when some event/link differs / does not match.
      return AnyElement(coll, [&](const Static& e) {
        return swapped ? CompareScalar(other, e, op, re) : CompareScalar(e, other, op, re);
      });
    }
    if (op == Op::kNeq) {
      pos = Op::kEq;
      negate = true;
    } else if (op == Op::kNre) {
      pos = Op::kRe;
      negate = true;
    }
    bool any = AnyElement(coll, [&](const Static& e) {
      return swapped ? CompareScalar(other, e, pos, re) : CompareScalar(e, other, pos, re);
    });
    return negate ? !any : any;
  }
  return CompareScalar(l, r, op, re);
}

Static TraceEval::Binary(const FieldExpr& e, uint32_t span) {
  switch (e.op) {
    case Op::kAnd: {
      Static l = EvalField(*e.lhs, span);
      if (!Truthy(l)) return Static::Bool(false);
      return Static::Bool(Truthy(EvalField(*e.rhs, span)));
    }
    case Op::kOr: {
      Static l = EvalField(*e.lhs, span);
      if (Truthy(l)) return Static::Bool(true);
      return Static::Bool(Truthy(EvalField(*e.rhs, span)));
    }
    case Op::kEq:
    case Op::kNeq:
    case Op::kLt:
    case Op::kLte:
    case Op::kGt:
    case Op::kGte:
    case Op::kRe:
    case Op::kNre: {
      Static l = EvalField(*e.lhs, span);
      Static r = EvalField(*e.rhs, span);
      return Static::Bool(Compare(l, r, e.op, e.regex.get()));
    }
    default:
      return Arith(EvalField(*e.lhs, span), EvalField(*e.rhs, span), e.op);
  }
}

Static TraceEval::EvalField(const FieldExpr& e, uint32_t span) {
  switch (e.kind) {
    case FieldExpr::Kind::kStatic:
      return e.value;
    case FieldExpr::Kind::kAttribute:
      if (e.parent) {
        EnsureStructure();
        int p = parent_[span];
        if (p < 0) return Static::Nil();
        return Attribute(e.scope, e.name, static_cast<uint32_t>(p));
      }
      return Attribute(e.scope, e.name, span);
    case FieldExpr::Kind::kIntrinsic:
      return Intrinsic(e.intrinsic, span);
    case FieldExpr::Kind::kCidr: {
      Static v = EvalField(*e.lhs, span);
      uint8_t addr[16];
      if (v.type != ValueType::kString || !ParseIpAddress(v.s, addr)) return Static::Bool(false);
      for (const IpPrefix& p : e.cidrs) {
        if (IpPrefixContains(p, addr)) return Static::Bool(true);
      }
      return Static::Bool(false);
    }
    case FieldExpr::Kind::kUnary: {
      Static v = EvalField(*e.lhs, span);
      if (e.op == Op::kNot) {
        if (v.type != ValueType::kBool) return Static::Nil();
        return Static::Bool(!v.b);
      }
      if (v.type == ValueType::kFloat) return Static::Float(-v.f);
      if (IsIntLike(v)) {
        v.i = static_cast<int64_t>(0ULL - static_cast<uint64_t>(v.i));  // wraps like Go
        return v;
      }
      return Static::Nil();
    }
    case FieldExpr::Kind::kBinary:
      return Binary(e, span);
  }
  return Static::Nil();
}

uint8_t TraceEval::FilterBinding(const FieldExpr& e) {
  uint8_t out = 0;
  switch (e.kind) {
    case FieldExpr::Kind::kAttribute:
      if (!e.parent && e.scope == Scope::kEvent) out |= kUsesEvents;
      if (!e.parent && e.scope == Scope::kLink) out |= kUsesLinks;
      break;
    case FieldExpr::Kind::kIntrinsic:
      if (e.intrinsic == traceql::Intrinsic::kEventName ||
          e.intrinsic == traceql::Intrinsic::kEventTimeSinceStart)
        out |= kUsesEvents;
      if (e.intrinsic == traceql::Intrinsic::kLinkSpanId ||
          e.intrinsic == traceql::Intrinsic::kLinkTraceId)
        out |= kUsesLinks;
      break;
    default:
      break;
  }
  if ((e.kind == FieldExpr::Kind::kBinary || e.kind == FieldExpr::Kind::kUnary) && e.op == Op::kOr)
    out |= kHasOr;
  if (e.lhs) out |= FilterBinding(*e.lhs);
  if (e.rhs) out |= FilterBinding(*e.rhs);
  return out;
}

bool TraceEval::EvalFilter(const FieldExpr& e, uint32_t span, uint8_t binding) {
  if ((binding & kHasOr) || !(binding & (kUsesEvents | kUsesLinks))) {
    return Truthy(EvalField(e, span));
  }
  const Span& s = trace_.spans[span];
  // Choices per scope: -1 unbound (not read), -2 none (no events/links),
  // else each index in turn.
  auto choices = [](bool used, size_t n) {
    if (!used) return std::pair<int32_t, int32_t>{-1, -1};
    if (n == 0) return std::pair<int32_t, int32_t>{-2, -2};
    return std::pair<int32_t, int32_t>{0, static_cast<int32_t>(n) - 1};
  };
  const auto [ev_lo, ev_hi] = choices(binding & kUsesEvents, s.events.size());
  const auto [ln_lo, ln_hi] = choices(binding & kUsesLinks, s.links.size());
  bool match = false;
  bound_span_ = span;
  for (int32_t ev = ev_lo; !match && ev <= ev_hi; ++ev) {
    for (int32_t ln = ln_lo; !match && ln <= ln_hi; ++ln) {
      bound_event_ = ev;
      bound_link_ = ln;
      match = Truthy(EvalField(e, span));
    }
  }
  bound_event_ = bound_link_ = -1;
  return match;
}

Static TraceEval::Aggregate(const ScalarExpr& e, const Spanset& ss) {
  if (e.agg == AggregateFn::kCount) return Static::Int(static_cast<int64_t>(ss.spans.size()));
  bool all_int = true, any_dur = false;
  double sum = 0;
  int64_t isum = 0;
  size_t n = 0;
  Static best;
  for (uint32_t s : ss.spans) {
    Static v = EvalField(*e.field, s);
    if (!v.is_numeric()) continue;
    ++n;
    all_int &= IsIntLike(v);
    any_dur |= v.type == ValueType::kDuration;
    sum += v.AsFloat();
    if (IsIntLike(v))
      isum = static_cast<int64_t>(static_cast<uint64_t>(isum) + static_cast<uint64_t>(v.i));
    if (best.is_nil() || (e.agg == AggregateFn::kMin && CompareScalar(v, best, Op::kLt, nullptr)) ||
        (e.agg == AggregateFn::kMax && CompareScalar(v, best, Op::kGt, nullptr))) {
      best = v;
    }
  }
  if (n == 0) return Static::Nil();
  switch (e.agg) {
    case AggregateFn::kMin:
    case AggregateFn::kMax:
      return best;
    case AggregateFn::kSum:
      if (all_int) return any_dur ? Static::Duration(isum) : Static::Int(isum);
      return Static::Float(sum);
    case AggregateFn::kAvg: {
      double avg = sum / static_cast<double>(n);
      if (any_dur && all_int) return Static::Duration(static_cast<int64_t>(std::llround(avg)));
      return Static::Float(avg);
    }
    default:
      return Static::Nil();
  }
}

Static TraceEval::EvalScalar(const ScalarExpr& e, const Spanset& ss) {
  switch (e.kind) {
    case ScalarExpr::Kind::kStatic:
      return e.value;
    case ScalarExpr::Kind::kAggregate:
      return Aggregate(e, ss);
    case ScalarExpr::Kind::kBinary:
      return Arith(EvalScalar(*e.lhs, ss), EvalScalar(*e.rhs, ss), e.op);
    case ScalarExpr::Kind::kPipeline:
      return Static::Nil();  // handled by the scalar filter
  }
  return Static::Nil();
}

std::vector<uint32_t> TraceEval::Structural(SpansetOp op, const std::vector<uint32_t>& l,
                                            const std::vector<uint32_t>& r) {
  EnsureStructure();
  const size_t n = trace_.spans.size();
  // As Tempo (nested set model): only spans connected to a root span (one
  // without a parent id) have structural relations; a trace without a root
  // has none. tree_parent_ is parent_ with the other spans cut off.
  if (tree_parent_.size() != n) {
    tree_parent_ = parent_;
    std::vector<int8_t> state(n, 0);  // 0 unknown, 1 in a root's tree, 2 not
    std::vector<size_t> path;
    for (size_t k = 0; k < n; ++k) {
      path.clear();
      size_t cur = k;
      int8_t res = 0;
      while (true) {
        if (state[cur]) {
          res = state[cur];
          break;
        }
        path.push_back(cur);
        if (parent_[cur] < 0) {
          res = trace_.spans[cur].parent_span_id.empty() ? 1 : 2;
          break;
        }
        cur = static_cast<size_t>(parent_[cur]);
      }
      for (size_t p : path) state[p] = res;
    }
    for (size_t k = 0; k < n; ++k) {
      if (state[k] != 1) tree_parent_[k] = -1;
    }
  }
  const std::vector<int32_t>& tp = tree_parent_;
  std::vector<char> in_l(n, 0), in_r(n, 0);
  for (uint32_t s : l) in_l[s] = 1;
  for (uint32_t s : r) in_r[s] = 1;
  // For each span, "rel_r[s]": s (from R) stands in the relation to some L
  // span; "rel_l[s]": s (from L) stands in it to some R span.
  std::vector<char> mark(n, 0);
  auto mark_parents_of = [&](const std::vector<uint32_t>& set) {
    std::fill(mark.begin(), mark.end(), 0);
    for (uint32_t s : set) {
      if (tp[s] >= 0) mark[tp[s]] = 1;
    }
  };
  auto mark_ancestors_of = [&](const std::vector<uint32_t>& set) {
    std::fill(mark.begin(), mark.end(), 0);
    for (uint32_t s : set) {
      for (int32_t p = tp[s]; p >= 0 && !mark[p]; p = tp[p]) mark[p] = 1;
    }
  };
  auto has_ancestor_in = [&](uint32_t s, const std::vector<char>& in) {
    for (int32_t p = tp[s]; p >= 0; p = tp[p]) {
      if (in[p]) return true;
    }
    return false;
  };
  auto sibling_counts = [&](const std::vector<uint32_t>& set) {
    std::vector<int32_t> cnt(n, 0);
    for (uint32_t s : set) {
      if (tp[s] >= 0) ++cnt[tp[s]];
    }
    return cnt;
  };
  auto has_sibling_in = [&](uint32_t s, const std::vector<int32_t>& cnt,
                            const std::vector<char>& in) {
    if (tp[s] < 0) return false;
    return cnt[tp[s]] - (in[s] ? 1 : 0) > 0;
  };

  // rhs spans related to lhs, for the base relation of `op`.
  auto base_r = [&](SpansetOp base) {
    std::vector<char> out(n, 0);
    switch (base) {
      case SpansetOp::kChild:
        for (uint32_t s : r) out[s] = tp[s] >= 0 && in_l[tp[s]];
        break;
      case SpansetOp::kParent:
        mark_parents_of(l);
        for (uint32_t s : r) out[s] = mark[s];
        break;
      case SpansetOp::kDescendant:
        for (uint32_t s : r) out[s] = has_ancestor_in(s, in_l);
        break;
      case SpansetOp::kAncestor:
        mark_ancestors_of(l);
        for (uint32_t s : r) out[s] = mark[s];
        break;
      case SpansetOp::kSibling: {
        auto cnt = sibling_counts(l);
        for (uint32_t s : r) out[s] = has_sibling_in(s, cnt, in_l);
        break;
      }
      default:
        break;
    }
    return out;
  };
  // lhs spans related to rhs (the other side of the relation).
  auto base_l = [&](SpansetOp base) {
    std::vector<char> out(n, 0);
    switch (base) {
      case SpansetOp::kChild:  // l is the parent of some r
        mark_parents_of(r);
        for (uint32_t s : l) out[s] = mark[s];
        break;
      case SpansetOp::kParent:  // l is a child of some r
        for (uint32_t s : l) out[s] = tp[s] >= 0 && in_r[tp[s]];
        break;
      case SpansetOp::kDescendant:  // l is an ancestor of some r
        mark_ancestors_of(r);
        for (uint32_t s : l) out[s] = mark[s];
        break;
      case SpansetOp::kAncestor:  // l is a descendant of some r
        for (uint32_t s : l) out[s] = has_ancestor_in(s, in_r);
        break;
      case SpansetOp::kSibling: {
        auto cnt = sibling_counts(r);
        for (uint32_t s : l) out[s] = has_sibling_in(s, cnt, in_r);
        break;
      }
      default:
        break;
    }
    return out;
  };

  SpansetOp base = op;
  enum { kPlain, kNot, kUnion } mode = kPlain;
  switch (op) {
    case SpansetOp::kNotChild:
      base = SpansetOp::kChild;
      mode = kNot;
      break;
    case SpansetOp::kNotParent:
      base = SpansetOp::kParent;
      mode = kNot;
      break;
    case SpansetOp::kNotDescendant:
      base = SpansetOp::kDescendant;
      mode = kNot;
      break;
    case SpansetOp::kNotAncestor:
      base = SpansetOp::kAncestor;
      mode = kNot;
      break;
    case SpansetOp::kNotSibling:
      base = SpansetOp::kSibling;
      mode = kNot;
      break;
    case SpansetOp::kUnionChild:
      base = SpansetOp::kChild;
      mode = kUnion;
      break;
    case SpansetOp::kUnionParent:
      base = SpansetOp::kParent;
      mode = kUnion;
      break;
    case SpansetOp::kUnionDescendant:
      base = SpansetOp::kDescendant;
      mode = kUnion;
      break;
    case SpansetOp::kUnionAncestor:
      base = SpansetOp::kAncestor;
      mode = kUnion;
      break;
    case SpansetOp::kUnionSibling:
      base = SpansetOp::kSibling;
      mode = kUnion;
      break;
    default:
      break;
  }
  std::vector<char> rel_r = base_r(base);
  std::vector<uint32_t> out;
  if (mode == kPlain) {
    for (uint32_t s : r) {
      if (rel_r[s]) out.push_back(s);
    }
  } else if (mode == kNot) {
    for (uint32_t s : r) {
      if (!rel_r[s]) out.push_back(s);
    }
  } else {
    std::vector<char> rel_l = base_l(base);
    std::vector<char> keep(n, 0);
    for (uint32_t s : r) keep[s] |= rel_r[s];
    for (uint32_t s : l) keep[s] |= rel_l[s];
    for (size_t s = 0; s < n; ++s) {
      if (keep[s]) out.push_back(static_cast<uint32_t>(s));
    }
  }
  return out;
}

std::vector<Spanset> TraceEval::EvalRoot(const Element& root) {
  std::vector<Spanset> input(1);
  input[0].spans.resize(trace_.spans.size());
  for (size_t k = 0; k < trace_.spans.size(); ++k) input[0].spans[k] = static_cast<uint32_t>(k);
  if (input[0].spans.empty()) return {};
  return Eval(root, std::move(input));
}

std::vector<Spanset> TraceEval::Eval(const Element& e, std::vector<Spanset> input) {
  std::vector<Spanset> out;
  switch (e.kind) {
    case Element::Kind::kFilter: {
      if (!e.expr) {
        for (Spanset& ss : input) {
          if (!ss.spans.empty()) out.push_back(std::move(ss));
        }
        return out;
      }
      const uint8_t binding = FilterBinding(*e.expr);
      for (Spanset& ss : input) {
        std::vector<uint32_t> kept;
        for (uint32_t s : ss.spans) {
          if (EvalFilter(*e.expr, s, binding)) kept.push_back(s);
        }
        if (kept.empty()) continue;
        ss.spans = std::move(kept);
        out.push_back(std::move(ss));
      }
      return out;
    }
    case Element::Kind::kSpansetOp: {
      for (Spanset& ss : input) {
        std::vector<Spanset> lres = Eval(*e.lhs, {ss});
        std::vector<Spanset> rres;
        if (e.op == SpansetOp::kAnd && lres.empty()) continue;
        rres = Eval(*e.rhs, {ss});
        std::vector<uint32_t> l = Flatten(lres), r = Flatten(rres);
        std::vector<uint32_t> spans;
        switch (e.op) {
          case SpansetOp::kAnd:
            if (l.empty() || r.empty()) continue;
            spans = Union(l, r);
            break;
          case SpansetOp::kOr:
            spans = Union(l, r);
            break;
          default:
            spans = Structural(e.op, l, r);
            break;
        }
        if (spans.empty()) continue;
        Spanset res;
        res.spans = std::move(spans);
        res.attributes = ss.attributes;
        res.selects = ss.selects;
        for (const auto* side : {&lres, &rres}) {
          for (const Spanset& x : *side) {
            for (const FieldExpr* f : x.selects) {
              if (std::find(res.selects.begin(), res.selects.end(), f) == res.selects.end()) {
                res.selects.push_back(f);
              }
            }
          }
        }
        out.push_back(std::move(res));
      }
      return out;
    }
    case Element::Kind::kPipeline: {
      std::vector<Spanset> cur = std::move(input);
      for (const auto& st : e.stages) {
        cur = Eval(*st, std::move(cur));
        if (cur.empty()) break;
      }
      return cur;
    }
    case Element::Kind::kScalarFilter: {
      if (e.slhs->kind == ScalarExpr::Kind::kPipeline) {
        for (Spanset& ss : input) {
          std::vector<Spanset> res = Eval(*e.slhs->pipeline, {ss});
          for (Spanset& r : res) {
            Static rv = EvalScalar(*e.srhs, r);
            if (!r.scalar.is_nil() && CompareScalar(r.scalar, rv, e.cmp, nullptr)) {
              r.attributes.emplace_back(ScalarExprToString(*e.slhs->pipeline->stages.back()->slhs),
                                        r.scalar);
              out.push_back(std::move(r));
            }
          }
        }
        return out;
      }
      for (Spanset& ss : input) {
        Static lv = EvalScalar(*e.slhs, ss);
        Static rv = EvalScalar(*e.srhs, ss);
        if (lv.is_nil() || rv.is_nil() || !CompareScalar(lv, rv, e.cmp, nullptr)) continue;
        if (e.slhs->kind != ScalarExpr::Kind::kStatic) {
          ss.attributes.emplace_back(ScalarExprToString(*e.slhs), lv);
        }
        out.push_back(std::move(ss));
      }
      return out;
    }
    case Element::Kind::kBy: {
      std::string key_name = "by(" + FieldExprToString(*e.expr) + ")";
      for (Spanset& ss : input) {
        std::vector<std::pair<std::string, size_t>> index;  // printed value -> group
        size_t first = out.size();
        for (uint32_t s : ss.spans) {
          Static v = EvalField(*e.expr, s);
          std::string k = std::to_string(static_cast<int>(v.type)) + ":" + StaticToString(v, false);
          size_t g = SIZE_MAX;
          for (const auto& [name, idx] : index) {
            if (name == k) {
              g = idx;
              break;
            }
          }
          if (g == SIZE_MAX) {
            g = out.size();
            index.emplace_back(std::move(k), g);
            Spanset ns;
            ns.attributes = ss.attributes;
            ns.attributes.emplace_back(key_name, v);
            ns.selects = ss.selects;
            out.push_back(std::move(ns));
          }
          out[g].spans.push_back(s);
        }
        (void)first;
      }
      return out;
    }
    case Element::Kind::kCoalesce: {
      Spanset all;
      for (Spanset& ss : input) {
        all.spans = Union(all.spans, ss.spans);
        for (const FieldExpr* f : ss.selects) {
          if (std::find(all.selects.begin(), all.selects.end(), f) == all.selects.end()) {
            all.selects.push_back(f);
          }
        }
      }
      if (!all.spans.empty()) out.push_back(std::move(all));
      return out;
    }
    case Element::Kind::kSelect:
      for (Spanset& ss : input) {
        for (const auto& f : e.fields) ss.selects.push_back(f.get());
        out.push_back(std::move(ss));
      }
      return out;
    case Element::Kind::kAggregate:
      for (Spanset& ss : input) {
        ss.scalar = Aggregate(*e.slhs, ss);
        out.push_back(std::move(ss));
      }
      return out;
  }
  return out;
}

std::string_view TrimHexZeros(std::string_view hex) {
  size_t k = hex.find_first_not_of('0');
  return k == std::string_view::npos ? hex.substr(hex.size()) : hex.substr(k);
}

AttributeValue StaticToAttribute(const Static& v) {
  AttributeValue a;
  switch (v.type) {
    case ValueType::kNil:
      break;
    case ValueType::kInt:
      a.v = v.i;
      break;
    case ValueType::kFloat:
      a.v = v.f;
      break;
    case ValueType::kString:
      a.v = std::string(v.s);
      break;
    case ValueType::kBool:
      a.v = v.b;
      break;
    case ValueType::kDuration:
      a.v = FormatDuration(v.i);
      break;
    case ValueType::kStatus:
      a.v = std::string(StatusName(v.i));
      break;
    case ValueType::kKind:
      a.v = std::string(KindName(v.i));
      break;
    case ValueType::kArray:
      a.v = *v.arr;
      break;
    case ValueType::kMulti: {
      ArrayValue arr;
      for (const Static& e : *v.multi) arr.push_back(StaticToAttribute(e));
      a.v = std::move(arr);
      break;
    }
  }
  return a;
}

std::string FieldResultKey(const FieldExpr& e) {
  if (e.kind == FieldExpr::Kind::kAttribute) return e.name;
  if (e.kind == FieldExpr::Kind::kIntrinsic) return std::string(IntrinsicName(e.intrinsic));
  return FieldExprToString(e);
}

}  // namespace sightline::traces::traceql
