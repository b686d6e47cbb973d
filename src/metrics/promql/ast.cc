#include "metrics/promql/ast.h"

#include <cmath>
#include <functional>

namespace sightline::promql {

std::string_view BinaryOpString(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "^";
    case BinaryOp::kAtan2:
      return "atan2";
    case BinaryOp::kEql:
      return "==";
    case BinaryOp::kNeq:
      return "!=";
    case BinaryOp::kGtr:
      return ">";
    case BinaryOp::kLss:
      return "<";
    case BinaryOp::kGte:
      return ">=";
    case BinaryOp::kLte:
      return "<=";
    case BinaryOp::kAnd:
      return "and";
    case BinaryOp::kOr:
      return "or";
    case BinaryOp::kUnless:
      return "unless";
    case BinaryOp::kTrimUpper:
      return "</";
    case BinaryOp::kTrimLower:
      return ">/";
  }
  return "?";
}

bool IsComparisonOp(BinaryOp op) {
  switch (op) {
    case BinaryOp::kEql:
    case BinaryOp::kNeq:
    case BinaryOp::kGtr:
    case BinaryOp::kLss:
    case BinaryOp::kGte:
    case BinaryOp::kLte:
      return true;
    default:
      return false;
  }
}

bool IsSetOp(BinaryOp op) {
  return op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kUnless;
}

int BinaryOpPrecedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::kOr:
      return 1;
    case BinaryOp::kAnd:
    case BinaryOp::kUnless:
      return 2;
    case BinaryOp::kEql:
    case BinaryOp::kNeq:
    case BinaryOp::kGtr:
    case BinaryOp::kLss:
    case BinaryOp::kGte:
    case BinaryOp::kLte:
      return 3;
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
      return 4;
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
    case BinaryOp::kAtan2:
    case BinaryOp::kTrimUpper:
    case BinaryOp::kTrimLower:
      return 5;
    case BinaryOp::kPow:
      return 6;
  }
  return 0;
}

std::string_view AggregateOpString(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
      return "sum";
    case AggregateOp::kAvg:
      return "avg";
    case AggregateOp::kCount:
      return "count";
    case AggregateOp::kMin:
      return "min";
    case AggregateOp::kMax:
      return "max";
    case AggregateOp::kGroup:
      return "group";
    case AggregateOp::kStddev:
      return "stddev";
    case AggregateOp::kStdvar:
      return "stdvar";
    case AggregateOp::kTopk:
      return "topk";
    case AggregateOp::kBottomk:
      return "bottomk";
    case AggregateOp::kCountValues:
      return "count_values";
    case AggregateOp::kQuantile:
      return "quantile";
    case AggregateOp::kLimitk:
      return "limitk";
    case AggregateOp::kLimitRatio:
      return "limit_ratio";
  }
  return "?";
}

bool AggregateOpHasParam(AggregateOp op) {
  switch (op) {
    case AggregateOp::kTopk:
    case AggregateOp::kBottomk:
    case AggregateOp::kCountValues:
    case AggregateOp::kQuantile:
    case AggregateOp::kLimitk:
    case AggregateOp::kLimitRatio:
      return true;
    default:
      return false;
  }
}

bool DurationExpr::DependsOnQuery() const {
  if (kind == Kind::kStep || kind == Kind::kRange) return true;
  return (lhs && lhs->DependsOnQuery()) || (rhs && rhs->DependsOnQuery());
}

std::unique_ptr<DurationExpr> DurationExpr::Clone() const {
  auto out = std::make_unique<DurationExpr>();
  out->kind = kind;
  out->value = value;
  out->is_duration = is_duration;
  out->op = op;
  if (lhs) out->lhs = lhs->Clone();
  if (rhs) out->rhs = rhs->Clone();
  out->wrapped = wrapped;
  out->pos = pos;
  return out;
}

namespace {

Result<double> EvaluateSeconds(const DurationExpr& e, const DurationContext& ctx) {
  using Kind = DurationExpr::Kind;
  switch (e.kind) {
    case Kind::kLiteral:
      return e.value;
    case Kind::kStep:
      return static_cast<double>(ctx.step_ms) / 1000.0;
    case Kind::kRange:
      return static_cast<double>(ctx.range_ms) / 1000.0;
    case Kind::kUnary: {
      SL_ASSIGN_OR_RETURN(double v, EvaluateSeconds(*e.rhs, ctx));
      return e.op == '-' ? -v : v;
    }
    case Kind::kMinOf:
    case Kind::kMaxOf: {
      SL_ASSIGN_OR_RETURN(double a, EvaluateSeconds(*e.lhs, ctx));
      SL_ASSIGN_OR_RETURN(double b, EvaluateSeconds(*e.rhs, ctx));
      if (std::isnan(a) || std::isnan(b)) return std::nan("");
      return e.kind == Kind::kMinOf ? std::fmin(a, b) : std::fmax(a, b);
    }
    case Kind::kBinary: {
      SL_ASSIGN_OR_RETURN(double a, EvaluateSeconds(*e.lhs, ctx));
      SL_ASSIGN_OR_RETURN(double b, EvaluateSeconds(*e.rhs, ctx));
      switch (e.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          if (b == 0) return InvalidArgumentError("division by zero");
          return a / b;
        case '%':
          if (b == 0) return InvalidArgumentError("modulo by zero");
          return std::fmod(a, b);
        case '^':
          return std::pow(a, b);
        default:
          break;
      }
      return InvalidArgumentError("unknown duration operator");
    }
  }
  return InvalidArgumentError("unknown duration expression");
}

}  // namespace

Result<int64_t> EvaluateDuration(const DurationExpr& e, const DurationContext& ctx) {
  SL_ASSIGN_OR_RETURN(double seconds, EvaluateSeconds(e, ctx));
  // A time.Duration (int64 nanoseconds) holds about +-292 years. Rounding
  // to the nearest millisecond keeps 1001ms (1.001s) at 1001, where
  // truncating 1.001 * 1000 = 1000.9999999999999 would not.
  constexpr double kMaxSeconds = 9223372036.0;
  if (!(seconds <= kMaxSeconds && seconds >= -kMaxSeconds)) {
    return InvalidArgumentError("duration out of range");
  }
  return std::llround(seconds * 1000);
}

ValueType Expr::Type() const {
  switch (kind_) {
    case ExprKind::kNumberLiteral:
      return ValueType::kScalar;
    case ExprKind::kStringLiteral:
      return ValueType::kString;
    case ExprKind::kVectorSelector:
      return ValueType::kVector;
    case ExprKind::kMatrixSelector:
      return ValueType::kMatrix;
    case ExprKind::kSubquery:
      return ValueType::kMatrix;
    case ExprKind::kAggregate:
      return ValueType::kVector;
    case ExprKind::kBinary: {
      const auto* b = static_cast<const BinaryExpr*>(this);
      if (b->lhs->Type() == ValueType::kScalar && b->rhs->Type() == ValueType::kScalar) {
        return ValueType::kScalar;
      }
      return ValueType::kVector;
    }
    case ExprKind::kUnary:
      return static_cast<const UnaryExpr*>(this)->expr->Type();
    case ExprKind::kCall:
      return static_cast<const Call*>(this)->func->return_type;
    case ExprKind::kParen:
      return static_cast<const ParenExpr*>(this)->expr->Type();
    case ExprKind::kStepInvariant:
      return static_cast<const StepInvariantExpr*>(this)->expr->Type();
  }
  return ValueType::kNone;
}

std::vector<Expr*> Children(Expr& e) {
  std::vector<Expr*> out;
  switch (e.kind()) {
    case ExprKind::kNumberLiteral:
    case ExprKind::kStringLiteral:
    case ExprKind::kVectorSelector:
      break;
    case ExprKind::kMatrixSelector:
      out.push_back(e.As<MatrixSelector>()->vector_selector.get());
      break;
    case ExprKind::kSubquery:
      out.push_back(e.As<SubqueryExpr>()->expr.get());
      break;
    case ExprKind::kAggregate: {
      auto* a = e.As<AggregateExpr>();
      if (a->expr) out.push_back(a->expr.get());
      if (a->param) out.push_back(a->param.get());
      break;
    }
    case ExprKind::kBinary: {
      auto* b = e.As<BinaryExpr>();
      out.push_back(b->lhs.get());
      out.push_back(b->rhs.get());
      break;
    }
    case ExprKind::kUnary:
      out.push_back(e.As<UnaryExpr>()->expr.get());
      break;
    case ExprKind::kCall:
      for (auto& a : e.As<Call>()->args) out.push_back(a.get());
      break;
    case ExprKind::kParen:
      out.push_back(e.As<ParenExpr>()->expr.get());
      break;
    case ExprKind::kStepInvariant:
      out.push_back(e.As<StepInvariantExpr>()->expr.get());
      break;
  }
  return out;
}

std::vector<const Expr*> Children(const Expr& e) {
  std::vector<Expr*> mut = Children(const_cast<Expr&>(e));
  return std::vector<const Expr*>(mut.begin(), mut.end());
}

namespace {

std::unique_ptr<DurationExpr> CloneDuration(const std::unique_ptr<DurationExpr>& d) {
  return d ? d->Clone() : nullptr;
}

std::unique_ptr<VectorSelector> CloneSelector(const VectorSelector& vs) {
  auto out = std::make_unique<VectorSelector>();
  out->pos = vs.pos;
  out->name = vs.name;
  out->matchers = vs.matchers;
  out->original_offset_ms = vs.original_offset_ms;
  out->original_offset_expr = CloneDuration(vs.original_offset_expr);
  out->timestamp_ms = vs.timestamp_ms;
  out->at = vs.at;
  out->anchored = vs.anchored;
  out->smoothed = vs.smoothed;
  out->bypass_empty_matcher_check = vs.bypass_empty_matcher_check;
  out->offset_ms = vs.offset_ms;
  return out;
}

ExprPtr CloneOrNull(const ExprPtr& e) { return e ? Clone(*e) : nullptr; }

}  // namespace

ExprPtr Clone(const Expr& e) {
  ExprPtr result;
  switch (e.kind()) {
    case ExprKind::kNumberLiteral: {
      const auto* n = e.As<NumberLiteral>();
      auto out = std::make_unique<NumberLiteral>();
      out->value = n->value;
      out->is_duration = n->is_duration;
      result = std::move(out);
      break;
    }
    case ExprKind::kStringLiteral: {
      auto out = std::make_unique<StringLiteral>();
      out->value = e.As<StringLiteral>()->value;
      result = std::move(out);
      break;
    }
    case ExprKind::kVectorSelector:
      result = CloneSelector(*e.As<VectorSelector>());
      break;
    case ExprKind::kMatrixSelector: {
      const auto* m = e.As<MatrixSelector>();
      auto out = std::make_unique<MatrixSelector>();
      out->vector_selector = CloneSelector(*m->vector_selector);
      out->range_ms = m->range_ms;
      out->range_expr = CloneDuration(m->range_expr);
      result = std::move(out);
      break;
    }
    case ExprKind::kSubquery: {
      const auto* s = e.As<SubqueryExpr>();
      auto out = std::make_unique<SubqueryExpr>();
      out->expr = Clone(*s->expr);
      out->range_ms = s->range_ms;
      out->range_expr = CloneDuration(s->range_expr);
      out->step_ms = s->step_ms;
      out->step_expr = CloneDuration(s->step_expr);
      out->original_offset_ms = s->original_offset_ms;
      out->original_offset_expr = CloneDuration(s->original_offset_expr);
      out->timestamp_ms = s->timestamp_ms;
      out->at = s->at;
      out->offset_ms = s->offset_ms;
      result = std::move(out);
      break;
    }
    case ExprKind::kAggregate: {
      const auto* a = e.As<AggregateExpr>();
      auto out = std::make_unique<AggregateExpr>();
      out->op = a->op;
      out->expr = CloneOrNull(a->expr);
      out->param = CloneOrNull(a->param);
      out->grouping = a->grouping;
      out->without = a->without;
      result = std::move(out);
      break;
    }
    case ExprKind::kBinary: {
      const auto* b = e.As<BinaryExpr>();
      auto out = std::make_unique<BinaryExpr>();
      out->op = b->op;
      out->lhs = Clone(*b->lhs);
      out->rhs = Clone(*b->rhs);
      out->return_bool = b->return_bool;
      out->matching = b->matching;
      result = std::move(out);
      break;
    }
    case ExprKind::kUnary: {
      const auto* u = e.As<UnaryExpr>();
      auto out = std::make_unique<UnaryExpr>();
      out->op = u->op;
      out->expr = Clone(*u->expr);
      result = std::move(out);
      break;
    }
    case ExprKind::kCall: {
      const auto* c = e.As<Call>();
      auto out = std::make_unique<Call>();
      out->func = c->func;
      for (const auto& a : c->args) out->args.push_back(Clone(*a));
      result = std::move(out);
      break;
    }
    case ExprKind::kParen: {
      auto out = std::make_unique<ParenExpr>();
      out->expr = Clone(*e.As<ParenExpr>()->expr);
      result = std::move(out);
      break;
    }
    case ExprKind::kStepInvariant: {
      auto out = std::make_unique<StepInvariantExpr>();
      out->expr = Clone(*e.As<StepInvariantExpr>()->expr);
      result = std::move(out);
      break;
    }
  }
  result->pos = e.pos;
  return result;
}

std::vector<const VectorSelector*> CollectSelectors(const Expr& e) {
  std::vector<const VectorSelector*> out;
  std::function<void(const Expr&)> visit = [&](const Expr& n) {
    if (const auto* vs = n.As<VectorSelector>()) out.push_back(vs);
    for (const Expr* c : Children(n)) visit(*c);
  };
  visit(e);
  return out;
}

}  // namespace sightline::promql
