#include "metrics/promql/checker.h"

#include <fmt/format.h>

#include "metrics/promql/go_text.h"

namespace sightline::promql {
namespace {

bool IsSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Checker {
 public:
  explicit Checker(std::string_view input) : input_(input) {}

  ValueType Check(Expr& e) {
    const ValueType type = e.Type();
    switch (e.kind()) {
      case ExprKind::kAggregate:
        CheckAggregate(*e.As<AggregateExpr>());
        break;
      case ExprKind::kBinary:
        CheckBinary(*e.As<BinaryExpr>());
        break;
      case ExprKind::kCall:
        CheckCall(*e.As<Call>());
        break;
      case ExprKind::kParen:
        Check(*e.As<ParenExpr>()->expr);
        break;
      case ExprKind::kStepInvariant:
        Check(*e.As<StepInvariantExpr>()->expr);
        break;
      case ExprKind::kUnary: {
        auto& u = *e.As<UnaryExpr>();
        const ValueType t = Check(*u.expr);
        if (t != ValueType::kScalar && t != ValueType::kVector) UnaryTypeError(u.pos, t);
        break;
      }
      case ExprKind::kSubquery: {
        auto& s = *e.As<SubqueryExpr>();
        const ValueType t = Check(*s.expr);
        if (t != ValueType::kVector) SubqueryTypeError(s.pos, t);
        break;
      }
      case ExprKind::kMatrixSelector:
        Check(*e.As<MatrixSelector>()->vector_selector);
        break;
      case ExprKind::kVectorSelector:
        CheckSelector(*e.As<VectorSelector>());
        break;
      case ExprKind::kNumberLiteral:
      case ExprKind::kStringLiteral:
        break;
    }
    return type;
  }

  std::optional<ParseError> TakeError() { return std::move(error_); }

 private:
  [[gnu::noinline]] void UnaryTypeError(PosRange pos, ValueType t) {
    Fail(pos, fmt::format("unary expression only allowed on expressions of type scalar or "
                          "instant vector, got {}",
                          QuoteGo(DocumentedTypeName(t))));
  }

  [[gnu::noinline]] void SubqueryTypeError(PosRange pos, ValueType t) {
    Fail(pos, fmt::format("subquery is only allowed on instant vector, got {} instead",
                          ValueTypeName(t)));
  }

  [[gnu::noinline]] void Fail(PosRange pos, std::string message) {
    if (!error_) error_ = ParseError{pos, std::move(message)};
  }

  // The checks recurse through Check(); error formatting stays out of line
  // so that each level of a deep tree costs little stack.
  void ExpectType(Expr& e, ValueType want, std::string_view context) {
    const ValueType t = Check(e);
    if (t != want) TypeMismatch(e.pos, want, context, t);
  }

  [[gnu::noinline]] void TypeMismatch(PosRange pos, ValueType want, std::string_view context,
                                      ValueType got) {
    Fail(pos, fmt::format("expected type {} in {}, got {}", DocumentedTypeName(want), context,
                          DocumentedTypeName(got)));
  }

  void CheckAggregate(AggregateExpr& a) {
    ExpectType(*a.expr, ValueType::kVector, "aggregation expression");
    switch (a.op) {
      case AggregateOp::kTopk:
      case AggregateOp::kBottomk:
      case AggregateOp::kQuantile:
      case AggregateOp::kLimitk:
      case AggregateOp::kLimitRatio:
        ExpectType(*a.param, ValueType::kScalar, "aggregation parameter");
        break;
      case AggregateOp::kCountValues:
        ExpectType(*a.param, ValueType::kString, "aggregation parameter");
        break;
      default:
        break;
    }
  }

  // The operator between the operands, without surrounding whitespace.
  PosRange OperatorRange(const BinaryExpr& b) const {
    int32_t start = b.lhs->pos.end;
    while (start < static_cast<int32_t>(input_.size()) && IsSpaceByte(input_[start])) ++start;
    int32_t end = b.rhs->pos.start - 1;
    while (end > start && IsSpaceByte(input_[end])) --end;
    return {start, end};
  }

  void CheckBinary(BinaryExpr& b) {
    const ValueType lt = Check(*b.lhs);
    const ValueType rt = Check(*b.rhs);
    CheckBinaryNode(b, lt, rt);
  }

  [[gnu::noinline]] void CheckBinaryNode(BinaryExpr& b, ValueType lt, ValueType rt) {
    const bool comparison = IsComparisonOp(b.op);
    const bool set_op = IsSetOp(b.op);
    VectorMatching& vm = *b.matching;

    if (b.return_bool && !comparison) {
      Fail(OperatorRange(b), "bool modifier can only be used on comparison operators");
    }
    if (comparison && !b.return_bool && lt == ValueType::kScalar && rt == ValueType::kScalar) {
      Fail(OperatorRange(b), "comparisons between scalars must use BOOL modifier");
    }
    if (set_op && vm.card == Cardinality::kOneToOne) vm.card = Cardinality::kManyToMany;
    if (vm.on) {
      for (const std::string& l1 : vm.matching_labels) {
        for (const std::string& l2 : vm.include) {
          if (l1 == l2) {
            Fail(
                OperatorRange(b),
                fmt::format("label {} must not occur in ON and GROUP clause at once", QuoteGo(l1)));
          }
        }
      }
    }
    if (lt != ValueType::kScalar && lt != ValueType::kVector) {
      Fail(b.lhs->pos, "binary expression must contain only scalar and instant vector types");
    }
    if (rt != ValueType::kScalar && rt != ValueType::kVector) {
      Fail(b.rhs->pos, "binary expression must contain only scalar and instant vector types");
    }
    const bool has_fill = vm.fill_lhs.has_value() || vm.fill_rhs.has_value();
    if (lt != ValueType::kVector || rt != ValueType::kVector) {
      if (!vm.matching_labels.empty()) {
        Fail(b.pos, "vector matching only allowed between instant vectors");
      }
      if (has_fill) Fail(b.pos, "filling in missing series only allowed between instant vectors");
      b.matching.reset();
    } else if (set_op) {
      if (vm.card == Cardinality::kOneToMany || vm.card == Cardinality::kManyToOne) {
        Fail(b.pos,
             fmt::format("no grouping allowed for {} operation", QuoteGo(BinaryOpString(b.op))));
      }
      if (vm.card != Cardinality::kManyToMany) {
        Fail(b.pos, "set operations must always be many-to-many");
      }
      if (has_fill) Fail(b.pos, "filling in missing series not allowed for set operators");
    }
    if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && set_op) {
      Fail(b.pos, fmt::format("set operator {} not allowed in binary scalar expression",
                              QuoteGo(BinaryOpString(b.op))));
    }
  }

  void CheckCall(Call& c) {
    CheckCallNode(c);
    const FunctionInfo& f = *c.func;
    const int nargs = static_cast<int>(f.arg_types.size());
    const int got = static_cast<int>(c.args.size());
    for (int i = 0; i < got; ++i) {
      int k = i;
      if (k >= nargs) {
        if (f.variadic == 0) break;
        k = nargs - 1;
      }
      const ValueType t = Check(*c.args[i]);
      if (t != f.arg_types[k]) ArgumentTypeMismatch(c, i, f.arg_types[k], t);
    }
  }

  [[gnu::noinline]] void ArgumentTypeMismatch(const Call& c, int i, ValueType want, ValueType got) {
    Fail(c.args[i]->pos,
         fmt::format("expected type {} in call to function {}, got {}", DocumentedTypeName(want),
                     QuoteGo(c.func->name), DocumentedTypeName(got)));
  }

  // Arity and the special rules for info(), before the arguments are checked.
  [[gnu::noinline]] void CheckCallNode(Call& c) {
    const FunctionInfo& f = *c.func;
    const int nargs = static_cast<int>(f.arg_types.size());
    const int got = static_cast<int>(c.args.size());
    if (f.variadic == 0) {
      if (nargs != got) {
        Fail(c.pos, fmt::format("expected {} argument(s) in call to {}, got {}", nargs,
                                QuoteGo(f.name), got));
      }
    } else {
      const int min = nargs - 1;
      if (min > got) {
        Fail(c.pos, fmt::format("expected at least {} argument(s) in call to {}, got {}", min,
                                QuoteGo(f.name), got));
      } else if (f.variadic > 0 && min + f.variadic < got) {
        Fail(c.pos, fmt::format("expected at most {} argument(s) in call to {}, got {}",
                                min + f.variadic, QuoteGo(f.name), got));
      }
    }
    if (f.name == "info" && c.args.size() > 1) {
      Expr& selector = *c.args[1];
      if (selector.Type() != ValueType::kVector) {
        Fail(c.pos, fmt::format("expected type {} in call to function {}, got {}",
                                DocumentedTypeName(ValueType::kVector), QuoteGo(f.name),
                                DocumentedTypeName(selector.Type())));
      }
      if (auto* vs = selector.As<VectorSelector>()) {
        if (!vs->name.empty()) {
          Fail(selector.pos, "expected label selectors only, got vector selector instead");
        } else {
          vs->bypass_empty_matcher_check = true;
        }
      } else {
        Fail(selector.pos, "expected label selectors only");
      }
    }
  }

  [[gnu::noinline]] void CheckSelector(VectorSelector& vs) {
    if (!vs.name.empty()) {
      // The last matcher is the name written before the braces.
      for (size_t i = 0; i + 1 < vs.matchers.size(); ++i) {
        if (vs.matchers[i].name() == kMetricNameLabel) {
          Fail(vs.pos, fmt::format("metric name must not be set twice: {} or {}", QuoteGo(vs.name),
                                   QuoteGo(vs.matchers[i].value())));
        }
      }
      return;
    }
    if (vs.bypass_empty_matcher_check) return;
    for (const Matcher& m : vs.matchers) {
      if (!m.Matches("")) return;
    }
    Fail(vs.pos, "vector selector must contain at least one non-empty matcher");
  }

  std::string_view input_;
  std::optional<ParseError> error_;
};

}  // namespace

std::optional<ParseError> CheckAst(Expr& root, std::string_view input) {
  Checker checker(input);
  checker.Check(root);
  return checker.TakeError();
}

}  // namespace sightline::promql
