// A recursive-descent parser equivalent to Prometheus' yacc grammar:
// precedence climbing for binary operators (or < and/unless < comparisons <
// +,- < *,/,%,atan2 < ^, all left-associative except ^), unary +/- binding
// like * (tighter than +, looser than ^), and postfix modifiers ([range],
// [range:step], offset, @, anchored, smoothed) binding tightest.
#include "metrics/promql/parser.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "metrics/promql/checker.h"
#include "metrics/promql/duration.h"
#include "metrics/promql/go_text.h"
#include "metrics/promql/lexer.h"

namespace sightline::promql {
namespace {

// Deeper trees are rejected so that recursive walks (checker, printer,
// engine, destructors) stay well within a thread's stack.
constexpr int kMaxDepth = 1024;
// Nesting of the recursive descent itself (parentheses, unary operators,
// right-associative ^ chains, function arguments). The helpers off the
// recursive path are kept out of line so that each level costs little stack.
constexpr int kMaxNesting = 512;

constexpr std::string_view kDurationExpected = "number, duration, step(), or range()";

PosRange Range(const Token& t) { return {t.pos, t.end()}; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<BinaryOp> BinaryOpFor(TokenKind k) {
  switch (k) {
    case TokenKind::kAdd:
      return BinaryOp::kAdd;
    case TokenKind::kSub:
      return BinaryOp::kSub;
    case TokenKind::kMul:
      return BinaryOp::kMul;
    case TokenKind::kDiv:
      return BinaryOp::kDiv;
    case TokenKind::kMod:
      return BinaryOp::kMod;
    case TokenKind::kPow:
      return BinaryOp::kPow;
    case TokenKind::kAtan2:
      return BinaryOp::kAtan2;
    case TokenKind::kEqlc:
      return BinaryOp::kEql;
    case TokenKind::kNeq:
      return BinaryOp::kNeq;
    case TokenKind::kGtr:
      return BinaryOp::kGtr;
    case TokenKind::kLss:
      return BinaryOp::kLss;
    case TokenKind::kGte:
      return BinaryOp::kGte;
    case TokenKind::kLte:
      return BinaryOp::kLte;
    case TokenKind::kLand:
      return BinaryOp::kAnd;
    case TokenKind::kLor:
      return BinaryOp::kOr;
    case TokenKind::kLunless:
      return BinaryOp::kUnless;
    case TokenKind::kTrimUpper:
      return BinaryOp::kTrimUpper;
    case TokenKind::kTrimLower:
      return BinaryOp::kTrimLower;
    default:
      return std::nullopt;
  }
}

std::optional<AggregateOp> AggregateOpFor(TokenKind k) {
  switch (k) {
    case TokenKind::kSum:
      return AggregateOp::kSum;
    case TokenKind::kAvg:
      return AggregateOp::kAvg;
    case TokenKind::kCount:
      return AggregateOp::kCount;
    case TokenKind::kMin:
      return AggregateOp::kMin;
    case TokenKind::kMax:
      return AggregateOp::kMax;
    case TokenKind::kGroup:
      return AggregateOp::kGroup;
    case TokenKind::kStddev:
      return AggregateOp::kStddev;
    case TokenKind::kStdvar:
      return AggregateOp::kStdvar;
    case TokenKind::kTopk:
      return AggregateOp::kTopk;
    case TokenKind::kBottomk:
      return AggregateOp::kBottomk;
    case TokenKind::kCountValues:
      return AggregateOp::kCountValues;
    case TokenKind::kQuantile:
      return AggregateOp::kQuantile;
    case TokenKind::kLimitk:
      return AggregateOp::kLimitk;
    case TokenKind::kLimitRatio:
      return AggregateOp::kLimitRatio;
    default:
      return std::nullopt;
  }
}

// Words that may name a metric where an expression starts (Prometheus'
// metric_identifier rule): identifiers, aggregators and some keywords.
bool IsMetricIdentifier(TokenKind k) {
  switch (k) {
    case TokenKind::kIdentifier:
    case TokenKind::kMetricIdentifier:
    case TokenKind::kBy:
    case TokenKind::kWithout:
    case TokenKind::kLand:
    case TokenKind::kLor:
    case TokenKind::kLunless:
    case TokenKind::kOffset:
    case TokenKind::kStart:
    case TokenKind::kEnd:
    case TokenKind::kStep:
    case TokenKind::kRange:
    case TokenKind::kAnchored:
    case TokenKind::kSmoothed:
      return true;
    default:
      return IsAggregatorToken(k);
  }
}

// Words that may name a label in by(...), on(...), group_left(...).
bool IsLabelWord(TokenKind k) {
  return k == TokenKind::kIdentifier || k == TokenKind::kMetricIdentifier || IsAggregatorToken(k) ||
         IsKeywordToken(k) || k == TokenKind::kLand || k == TokenKind::kLor ||
         k == TokenKind::kLunless || k == TokenKind::kAtan2 || k == TokenKind::kStart ||
         k == TokenKind::kEnd || k == TokenKind::kStep || k == TokenKind::kRange;
}

std::optional<MatchType> MatchTypeFor(TokenKind k) {
  switch (k) {
    case TokenKind::kAssign:
      return MatchType::kEqual;
    case TokenKind::kNeq:
      return MatchType::kNotEqual;
    case TokenKind::kEqlRegex:
      return MatchType::kRegexp;
    case TokenKind::kNeqRegex:
      return MatchType::kNotRegexp;
    default:
      return std::nullopt;
  }
}

// Go's strconv.ParseInt(s, 0, 64) for what the lexer produces: decimal,
// 0x hexadecimal and 0-prefixed octal, with '_' separators.
std::optional<int64_t> ParseGoInt(std::string_view s) {
  int base = 10;
  size_t i = 0;
  if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16, i = 2;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8, i = 1;
  }
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_') continue;
    digits.push_back(s[i]);
  }
  if (digits.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return std::nullopt;
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(v);
}

// Go's strconv.ParseFloat(s, 64) for decimal floats, Inf and NaN.
Result<double> ParseGoFloat(std::string_view s) {
  auto error = [&](std::string_view what) {
    return InvalidArgumentError(
        fmt::format("strconv.ParseFloat: parsing {}: {}", QuoteGo(s), what));
  };
  std::string t;
  for (char c : s) {
    if (c != '_') t.push_back(c);
  }
  const std::string lower = LowerAscii(t);
  std::string_view body = lower;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (body.empty() || body.find('x') != std::string_view::npos) return error("invalid syntax");
  double v = 0;
  const auto res = std::from_chars(t.data(), t.data() + t.size(), v);
  if (res.ptr != t.data() + t.size()) return error("invalid syntax");
  if (res.ec == std::errc::result_out_of_range) {
    // Too small rounds to zero in Go; too large is an error. The decimal
    // order of magnitude tells which.
    const size_t e = body.find('e');
    const std::string_view mantissa = body.substr(0, e);
    long order = e == std::string_view::npos
                     ? 0
                     : std::strtol(std::string(body.substr(e + 1)).c_str(), nullptr, 10);
    const size_t dot = std::min(mantissa.find('.'), mantissa.size());
    const size_t first = mantissa.find_first_not_of("0.");
    if (first == std::string_view::npos) return negative ? -0.0 : 0.0;
    order += first < dot ? static_cast<long>(dot - first) - 1 : -static_cast<long>(first - dot);
    if (order < 0) return negative ? -0.0 : 0.0;
    return error("value out of range");
  }
  if (res.ec != std::errc()) return error("invalid syntax");
  return v;
}

// Prometheus' parser.number(): ParseInt with base prefixes, else ParseFloat.
Result<double> ParseNumberText(std::string_view s) {
  if (auto i = ParseGoInt(s)) return static_cast<double>(*i);
  return ParseGoFloat(s);
}

// A parsed subexpression and the height of its tree.
struct Parsed {
  ExprPtr expr;
  int depth = 0;
};

// A duration in [...] or after `offset`: either a plain literal (ms) or an
// expression.
struct DurationValue {
  PosRange pos;
  int64_t literal_ms = 0;
  std::unique_ptr<DurationExpr> expr;  // Null for a plain literal.
};

class Parser {
 public:
  Parser(std::string_view input, const ParseOptions& options) : input_(input), options_(options) {
    for (Token& t : Tokenize(input)) {
      if (t.kind != TokenKind::kComment) tokens_.push_back(std::move(t));
    }
    matcher_options_.dot_matches_newline = options.dialect == Dialect::kPrometheus3;
  }

  Result<ExprPtr> ParseQuery(ParseError* detail) {
    if (Peek().kind == TokenKind::kEof) {
      Fail({0, 0}, "no expression found in input");
      return Finish(nullptr, detail);
    }
    Parsed e = ParseExpression();
    if (e.expr && Peek().kind != TokenKind::kEof) Unexpected("", "");
    if (!e.expr && !error_) Fail({0, 0}, "internal error: no expression and no error");
    if (!error_) {
      if (auto check = CheckAst(*e.expr, input_)) error_ = std::move(check);
    }
    return Finish(std::move(e.expr), detail);
  }

  Result<std::vector<Matcher>> ParseSelectorOnly() {
    const Token& t = Peek();
    std::unique_ptr<VectorSelector> vs;
    if (t.kind == TokenKind::kLeftBrace || IsMetricIdentifier(t.kind)) {
      vs = ParseVectorSelector(IsMetricIdentifier(t.kind));
    } else {
      Unexpected("", "");
    }
    if (vs && Peek().kind != TokenKind::kEof) Unexpected("", "");
    if (!vs && !error_) Fail({0, 0}, "internal error: no selector and no error");
    if (error_) return InvalidArgumentError(FormatParseError(input_, *error_));
    return std::move(vs->matchers);
  }

 private:
  Result<ExprPtr> Finish(ExprPtr e, ParseError* detail) {
    if (error_) {
      if (detail != nullptr) *detail = *error_;
      return InvalidArgumentError(FormatParseError(input_, *error_));
    }
    return e;
  }

  // Token access. The list always ends with kEof or kError; Peek never
  // moves past it.
  const Token& Peek(size_t ahead = 0) const {
    const size_t i = std::min(next_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Consume() {
    const Token& t = tokens_[next_];
    if (next_ + 1 < tokens_.size()) ++next_;
    last_end_ = t.end();
    return t;
  }

  // Records the first error. Returns an empty result for convenience.
  [[gnu::noinline]] Parsed Fail(PosRange pos, std::string message) {
    if (!error_) error_ = ParseError{pos, std::move(message)};
    return {};
  }
  bool Failed() const { return error_.has_value(); }

  // Reports the current token as unexpected, or the lexer's error if the
  // current token is one.
  [[gnu::noinline]] Parsed Unexpected(std::string_view context, std::string_view expected) {
    const Token& t = Peek();
    if (t.kind == TokenKind::kError) {
      return Fail({t.pos, static_cast<int32_t>(input_.size())}, t.error);
    }
    std::string msg = "unexpected " + DescribeToken(t);
    if (!context.empty()) msg += fmt::format(" in {}", context);
    if (!expected.empty()) msg += fmt::format(", expected {}", expected);
    return Fail(Range(t), std::move(msg));
  }

  [[gnu::noinline]] Parsed Checked(Parsed p) {
    if (p.expr && p.depth > kMaxDepth) {
      return Fail(p.expr->pos,
                  fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
    }
    return p;
  }

  // expr := binary(0)
  Parsed ParseExpression() { return ParseBinary(0); }

  // Counts recursive-descent nesting while in scope.
  class NestingGuard {
   public:
    explicit NestingGuard(int* nesting) : nesting_(nesting) { ++*nesting_; }
    ~NestingGuard() { --*nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    int* nesting_;
  };

  [[gnu::noinline]] Parsed TooDeep() {
    return Fail(Range(Peek()),
                fmt::format("expression is nested too deeply (more than {} levels)", kMaxNesting));
  }

  Parsed ParseBinary(int min_prec) {
    NestingGuard guard(&nesting_);
    if (nesting_ > kMaxNesting) return TooDeep();
    Parsed lhs = ParseUnary();
    while (lhs.expr) {
      const std::optional<BinaryOp> op = BinaryOpFor(Peek().kind);
      if (!op || BinaryOpPrecedence(*op) < min_prec) break;
      const Token& op_tok = Consume();
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = *op;
      bin->matching.emplace();
      if (!ParseBinaryModifiers(bin.get())) return {};
      const int prec = BinaryOpPrecedence(*op);
      Parsed rhs = ParseBinary(*op == BinaryOp::kPow ? prec : prec + 1);
      if (!rhs.expr) return {};
      bin->pos = {lhs.expr->pos.start, rhs.expr->pos.end};
      const int depth = 1 + std::max(lhs.depth, rhs.depth);
      bin->lhs = std::move(lhs.expr);
      bin->rhs = std::move(rhs.expr);
      if (!ValidateBinary(*bin, op_tok)) return {};
      lhs = Checked({std::move(bin), depth});
    }
    return lhs;
  }

  // Feature checks once a binary expression is complete.
  [[gnu::noinline]] bool ValidateBinary(const BinaryExpr& bin, const Token& op_tok) {
    if ((bin.op == BinaryOp::kTrimUpper || bin.op == BinaryOp::kTrimLower) &&
        !options_.experimental_functions) {
      Fail(Range(op_tok), fmt::format("{} is experimental and must be enabled with "
                                      "--enable-feature=promql-experimental-functions",
                                      BinaryOpString(bin.op)));
      return false;
    }
    const VectorMatching& vm = *bin.matching;
    if (!options_.binop_fill_modifiers && (vm.fill_lhs || vm.fill_rhs)) {
      Fail(bin.pos, "binop fill modifiers are experimental and not enabled");
      return false;
    }
    return true;
  }

  // bool, on/ignoring(...), group_left/group_right[(...)], fill...(v).
  [[gnu::noinline]] bool ParseBinaryModifiers(BinaryExpr* bin) {
    VectorMatching& vm = *bin->matching;
    if (Peek().kind == TokenKind::kBool) {
      Consume();
      bin->return_bool = true;
    }
    const TokenKind k = Peek().kind;
    if (k == TokenKind::kOn || k == TokenKind::kIgnoring) {
      Consume();
      vm.on = k == TokenKind::kOn;
      if (!ParseGroupingLabels(&vm.matching_labels)) return false;
      const TokenKind g = Peek().kind;
      if (g == TokenKind::kGroupLeft || g == TokenKind::kGroupRight) {
        Consume();
        vm.card = g == TokenKind::kGroupLeft ? Cardinality::kManyToOne : Cardinality::kOneToMany;
        if (Peek().kind == TokenKind::kLeftParen && !ParseGroupingLabels(&vm.include)) {
          return false;
        }
      }
    }
    for (;;) {
      const TokenKind f = Peek().kind;
      if (f != TokenKind::kFill && f != TokenKind::kFillLeft && f != TokenKind::kFillRight) break;
      Consume();
      std::optional<double> value = ParseFillValue();
      if (!value) return false;
      if (f == TokenKind::kFill) {
        vm.fill_lhs = vm.fill_rhs = *value;
        vm.fill_both = true;
      } else {
        (f == TokenKind::kFillLeft ? vm.fill_lhs : vm.fill_rhs) = *value;
        vm.fill_both = false;
      }
    }
    return true;
  }

  // "(" [+|-] number ")"
  std::optional<double> ParseFillValue() {
    if (Peek().kind != TokenKind::kLeftParen) {
      Unexpected("fill modifier", "\"(\"");
      return std::nullopt;
    }
    Consume();
    std::optional<double> v = ParseSignedNumber();
    if (!v) {
      if (!Failed()) Unexpected("fill modifier", "number");
      return std::nullopt;
    }
    if (Peek().kind != TokenKind::kRightParen) {
      Unexpected("fill modifier", "\")\"");
      return std::nullopt;
    }
    Consume();
    return v;
  }

  // [+|-] (number | duration), in seconds. Nothing consumed if absent.
  std::optional<double> ParseSignedNumber() {
    size_t n = 0;
    double sign = 1;
    if (Peek().kind == TokenKind::kAdd || Peek().kind == TokenKind::kSub) {
      sign = Peek().kind == TokenKind::kSub ? -1 : 1;
      n = 1;
    }
    const Token& t = Peek(n);
    if (t.kind != TokenKind::kNumber && t.kind != TokenKind::kDuration) return std::nullopt;
    if (n == 1) Consume();
    Consume();
    std::optional<double> v = LiteralSeconds(t);
    if (!v) return std::nullopt;
    return sign * *v;
  }

  // The value of a number or duration token in seconds; records an error
  // and returns nullopt if it does not parse.
  [[gnu::noinline]] std::optional<double> LiteralSeconds(const Token& t) {
    if (t.kind == TokenKind::kDuration) {
      Result<int64_t> ms = ParseDuration(t.text);
      if (!ms.ok()) {
        Fail(Range(t), ms.status().message());
        return std::nullopt;
      }
      return static_cast<double>(*ms) / 1000.0;
    }
    Result<double> v = ParseNumberText(t.text);
    if (!v.ok()) {
      Fail(Range(t), "error parsing number: " + v.status().message());
      return std::nullopt;
    }
    return *v;
  }

  // unary := ("+" | "-") binary(above *) | postfixed
  Parsed ParseUnary() {
    const Token& t = Peek();
    if (t.kind != TokenKind::kAdd && t.kind != TokenKind::kSub) return ParsePostfixed();
    const Token& op = Consume();
    Parsed operand = ParseBinary(BinaryOpPrecedence(BinaryOp::kMul) + 1);
    if (!operand.expr) return {};
    if (auto* num = operand.expr->As<NumberLiteral>()) {
      if (op.kind == TokenKind::kSub) num->value = -num->value;
      num->pos.start = op.pos;
      return operand;
    }
    auto u = std::make_unique<UnaryExpr>();
    u->op = op.kind == TokenKind::kSub ? '-' : '+';
    u->pos = {op.pos, operand.expr->pos.end};
    u->expr = std::move(operand.expr);
    return Checked({std::move(u), operand.depth + 1});
  }

  Parsed ParsePostfixed() {
    Parsed e = ParsePrimary();
    while (e.expr) {
      switch (Peek().kind) {
        case TokenKind::kLeftBracket:
          e = ParseRangeOrSubquery(std::move(e));
          break;
        case TokenKind::kOffset:
          e = ParseOffset(std::move(e));
          break;
        case TokenKind::kAt:
          e = ParseAt(std::move(e));
          break;
        case TokenKind::kAnchored:
        case TokenKind::kSmoothed:
          e = ParseExtendedModifier(std::move(e));
          break;
        default:
          return e;
      }
    }
    return e;
  }

  Parsed ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kNumber:
      case TokenKind::kDuration:
      case TokenKind::kString:
        return ParseLiteral();
      case TokenKind::kLeftParen: {
        const Token& lp = Consume();
        Parsed inner = ParseExpression();
        if (!inner.expr) return {};
        if (Peek().kind != TokenKind::kRightParen) return Unexpected("", "");
        const Token& rp = Consume();
        auto p = std::make_unique<ParenExpr>();
        p->pos = {lp.pos, rp.end()};
        p->expr = std::move(inner.expr);
        return Checked({std::move(p), inner.depth + 1});
      }
      default:
        break;
    }
    return ParseNamed();
  }

  // An expression starting with a word: aggregation, call or selector.
  [[gnu::noinline]] Parsed ParseNamed() {
    const Token& t = Peek();
    if (IsAggregatorToken(t.kind)) {
      const TokenKind next = Peek(1).kind;
      if (next == TokenKind::kLeftParen || next == TokenKind::kBy || next == TokenKind::kWithout) {
        return ParseAggregate();
      }
    }
    const bool callable = t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kStart ||
                          t.kind == TokenKind::kEnd || t.kind == TokenKind::kStep ||
                          t.kind == TokenKind::kRange;
    if (callable && Peek(1).kind == TokenKind::kLeftParen) return ParseCall();
    if (IsMetricIdentifier(t.kind) || t.kind == TokenKind::kLeftBrace) {
      auto vs = ParseVectorSelector(t.kind != TokenKind::kLeftBrace);
      if (!vs) return {};
      return {std::move(vs), 1};
    }
    return Unexpected("", "");
  }

  [[gnu::noinline]] Parsed ParseLiteral() {
    const Token& t = Consume();
    if (t.kind == TokenKind::kString) {
      auto s = std::make_unique<StringLiteral>();
      s->value = Unquote(t);
      s->pos = Range(t);
      if (Failed()) return {};
      return {std::move(s), 1};
    }
    if (t.kind == TokenKind::kDuration && options_.dialect == Dialect::kPrometheus2) {
      return Fail(Range(t), "unexpected " + DescribeToken(t));
    }
    std::optional<double> v = LiteralSeconds(t);
    if (!v) return {};
    auto n = std::make_unique<NumberLiteral>();
    n->value = *v;
    n->is_duration = t.kind == TokenKind::kDuration;
    n->pos = Range(t);
    return {std::move(n), 1};
  }

  [[gnu::noinline]] std::string Unquote(const Token& t) {
    Result<std::string> s = UnquoteGo(t.text);
    if (!s.ok()) {
      Fail(Range(t),
           fmt::format("error unquoting string {}: {}", QuoteGo(t.text), s.status().message()));
      return "";
    }
    return std::move(s).value();
  }

  // [metric_identifier] ["{" matchers "}"]
  [[gnu::noinline]] std::unique_ptr<VectorSelector> ParseVectorSelector(bool has_name) {
    auto vs = std::make_unique<VectorSelector>();
    if (has_name) {
      const Token& name = Consume();
      vs->name = std::string(name.text);
      vs->pos = Range(name);
      if (Peek().kind == TokenKind::kLeftBrace && !ParseLabelMatchers(vs.get())) return nullptr;
      Result<Matcher> m = Matcher::Make(MatchType::kEqual, std::string(kMetricNameLabel), vs->name,
                                        matcher_options_);
      vs->matchers.push_back(std::move(m).value());
    } else {
      vs->pos.start = Peek().pos;
      if (!ParseLabelMatchers(vs.get())) return nullptr;
    }
    return vs;
  }

  bool ParseLabelMatchers(VectorSelector* vs) {
    Consume();  // {
    for (;;) {
      const Token& t = Peek();
      if (t.kind == TokenKind::kRightBrace) break;
      if (t.kind != TokenKind::kIdentifier && t.kind != TokenKind::kString) {
        Unexpected("label matching", "identifier or \"}\"");
        return false;
      }
      Consume();
      std::string name = t.kind == TokenKind::kString ? Unquote(t) : std::string(t.text);
      if (Failed()) return false;
      const std::optional<MatchType> type = MatchTypeFor(Peek().kind);
      if (!type) {
        if (t.kind == TokenKind::kIdentifier) {
          Unexpected("label matching", "label matching operator");
          return false;
        }
        // A lone string is the metric name (3.x): {"http.requests"}.
        Result<Matcher> m = Matcher::Make(MatchType::kEqual, std::string(kMetricNameLabel),
                                          std::move(name), matcher_options_);
        vs->matchers.push_back(std::move(m).value());
      } else {
        Consume();
        const Token& value = Peek();
        if (value.kind != TokenKind::kString) {
          Unexpected("label matching", "string");
          return false;
        }
        Consume();
        std::string v = Unquote(value);
        if (Failed()) return false;
        Result<Matcher> m = Matcher::Make(*type, std::move(name), std::move(v), matcher_options_);
        if (!m.ok()) {
          Fail({t.pos, value.end()}, m.status().message());
          return false;
        }
        vs->matchers.push_back(std::move(m).value());
      }
      if (Peek().kind == TokenKind::kComma) {
        Consume();
        continue;
      }
      if (Peek().kind != TokenKind::kRightBrace) {
        Unexpected("label matching", "\",\" or \"}\"");
        return false;
      }
    }
    vs->pos.end = Consume().end();  // }
    return true;
  }

  // "(" [label {"," label} [","]] ")" after by / without / on / ignoring /
  // group_left / group_right.
  bool ParseGroupingLabels(std::vector<std::string>* labels) {
    if (Peek().kind != TokenKind::kLeftParen) {
      Unexpected("grouping opts", "\"(\"");
      return false;
    }
    Consume();
    labels->clear();
    for (;;) {
      const Token& t = Peek();
      if (t.kind == TokenKind::kRightParen) break;
      if (t.kind == TokenKind::kString && options_.dialect == Dialect::kPrometheus3) {
        Consume();
        std::string label = Unquote(t);
        if (Failed()) return false;
        if (label.empty() || !IsValidUtf8(label)) {
          Fail(Range(t), fmt::format("invalid label name for grouping: {}", QuoteGo(label)));
          return false;
        }
        labels->push_back(std::move(label));
      } else if (IsLabelWord(t.kind) && (t.kind != TokenKind::kMetricIdentifier ||
                                         options_.dialect == Dialect::kPrometheus3)) {
        Consume();
        labels->emplace_back(t.text);
      } else {
        Unexpected("grouping opts", "label");
        return false;
      }
      if (Peek().kind == TokenKind::kComma) {
        Consume();
        continue;
      }
      if (Peek().kind != TokenKind::kRightParen) {
        Unexpected("grouping opts", "\",\" or \")\"");
        return false;
      }
    }
    Consume();  // )
    return true;
  }

  // "(" [expr {"," expr}] ")" for calls and aggregations.
  bool ParseCallArgs(std::vector<ExprPtr>* args, int* depth) {
    Consume();  // (
    if (Peek().kind == TokenKind::kRightParen) {
      Consume();
      return true;
    }
    for (;;) {
      Parsed arg = ParseExpression();
      if (!arg.expr) return false;
      *depth = std::max(*depth, arg.depth);
      args->push_back(std::move(arg.expr));
      if (Peek().kind == TokenKind::kComma) {
        const Token& comma = Consume();
        if (Peek().kind == TokenKind::kRightParen) {
          Fail(Range(comma), "trailing commas not allowed in function call args");
          return false;
        }
        continue;
      }
      if (Peek().kind != TokenKind::kRightParen) {
        Unexpected("", "");
        return false;
      }
      Consume();
      return true;
    }
  }

  [[gnu::noinline]] Parsed ParseCall() {
    const Token& name = Consume();
    std::vector<ExprPtr> args;
    int depth = 0;
    if (!ParseCallArgs(&args, &depth)) return {};
    const std::string fname =
        name.kind == TokenKind::kIdentifier ? std::string(name.text) : LowerAscii(name.text);
    const FunctionInfo* f = FindFunction(fname);
    const bool v3 = options_.dialect == Dialect::kPrometheus3;
    if (f == nullptr || !(v3 ? f->in_v3 : f->in_v2)) {
      return Fail(Range(name), fmt::format("unknown function with name {}", QuoteGo(fname)));
    }
    if (f->experimental && !options_.experimental_functions) {
      return Fail(Range(name), fmt::format("function {} is not enabled", QuoteGo(fname)));
    }
    auto call = std::make_unique<Call>();
    call->func = f;
    call->args = std::move(args);
    call->pos = {name.pos, last_end_};
    return Checked({std::move(call), depth + 1});
  }

  [[gnu::noinline]] Parsed ParseAggregate() {
    const Token& op_tok = Consume();
    auto agg = std::make_unique<AggregateExpr>();
    agg->op = *AggregateOpFor(op_tok.kind);
    bool has_modifier = false;
    auto parse_modifier = [&]() {
      agg->without = Peek().kind == TokenKind::kWithout;
      Consume();
      has_modifier = true;
      return ParseGroupingLabels(&agg->grouping);
    };
    if (Peek().kind == TokenKind::kBy || Peek().kind == TokenKind::kWithout) {
      if (!parse_modifier()) return {};
    }
    if (Peek().kind != TokenKind::kLeftParen) return Unexpected("aggregation", "");
    std::vector<ExprPtr> args;
    int depth = 0;
    if (!ParseCallArgs(&args, &depth)) return {};
    if (!has_modifier && (Peek().kind == TokenKind::kBy || Peek().kind == TokenKind::kWithout)) {
      if (!parse_modifier()) return {};
    }
    agg->pos = {op_tok.pos, last_end_};
    if (args.empty()) return Fail(agg->pos, "no arguments for aggregate expression provided");
    size_t desired = 1;
    if (AggregateOpHasParam(agg->op)) {
      if ((agg->op == AggregateOp::kLimitk || agg->op == AggregateOp::kLimitRatio) &&
          !options_.experimental_functions) {
        return Fail(agg->pos, fmt::format("{}() is experimental and must be enabled with "
                                          "--enable-feature=promql-experimental-functions",
                                          AggregateOpString(agg->op)));
      }
      desired = 2;
    }
    if (args.size() != desired) {
      return Fail(agg->pos, fmt::format("wrong number of arguments for aggregate expression "
                                        "provided, expected {}, got {}",
                                        desired, args.size()));
    }
    if (desired == 2) agg->param = std::move(args[0]);
    agg->expr = std::move(args[desired - 1]);
    return Checked({std::move(agg), depth + 1});
  }

  // --- Postfix modifiers ---------------------------------------------------

  [[gnu::noinline]] Parsed ParseRangeOrSubquery(Parsed e) {
    const Token& lb = Consume();  // [
    DurationValue range;
    if (!ParseDurationInBrackets("subquery or range selector", &range)) return {};
    const TokenKind after = Peek().kind;
    if (after == TokenKind::kColon) {
      Consume();
      DurationValue step;
      bool has_step = false;
      if (Peek().kind != TokenKind::kRightBracket) {
        if (!ParseDurationInBrackets("subquery selector", &step)) return {};
        has_step = true;
        if (Peek().kind != TokenKind::kRightBracket) {
          return Unexpected("subquery selector", "\"]\"");
        }
      }
      const Token& rb = Consume();
      auto sq = std::make_unique<SubqueryExpr>();
      sq->pos = {e.expr->pos.start, rb.end()};
      if (!ResolvePositive(&range, &sq->range_ms, &sq->range_expr)) return {};
      if (has_step && !ResolvePositive(&step, &sq->step_ms, &sq->step_expr)) return {};
      sq->expr = std::move(e.expr);
      return Checked({std::move(sq), e.depth + 1});
    }
    if (after != TokenKind::kRightBracket) return Unexpected("subquery or range", "\":\" or \"]\"");
    const Token& rb = Consume();
    const PosRange brackets{lb.pos, rb.end()};
    auto* vs = e.expr->As<VectorSelector>();
    if (vs == nullptr) return Fail(brackets, "ranges only allowed for vector selectors");
    if (vs->original_offset_ms != 0 || vs->original_offset_expr) {
      return Fail(brackets, "no offset modifiers allowed before range");
    }
    if (vs->timestamp_ms || vs->at != AtModifier::kNone) {
      return Fail(brackets, "no @ modifiers allowed before range");
    }
    auto ms = std::make_unique<MatrixSelector>();
    ms->pos = {vs->pos.start, rb.end()};
    if (!ResolvePositive(&range, &ms->range_ms, &ms->range_expr)) return {};
    ms->vector_selector.reset(static_cast<VectorSelector*>(e.expr.release()));
    return {std::move(ms), 2};
  }

  // Stores a range or step that must be > 0: a literal as ms, an expression
  // as itself plus its value when it does not depend on the query.
  bool ResolvePositive(DurationValue* d, int64_t* ms, std::unique_ptr<DurationExpr>* expr) {
    if (!d->expr) {
      if (d->literal_ms <= 0) {
        Fail(d->pos, "duration must be greater than 0");
        return false;
      }
      *ms = d->literal_ms;
      return true;
    }
    if (!d->expr->DependsOnQuery()) {
      Result<int64_t> v = EvaluateDuration(*d->expr, {});
      if (!v.ok()) {
        Fail(d->expr->pos, v.status().message());
        return false;
      }
      if (*v <= 0) {
        Fail(d->expr->pos, "duration must be greater than 0");
        return false;
      }
      *ms = *v;
    }
    *expr = std::move(d->expr);
    return true;
  }

  bool ParseDurationInBrackets(std::string_view context, DurationValue* out) {
    duration_context_ = context;
    std::unique_ptr<DurationExpr> e = ParseDurationExpr(0);
    if (!e) {
      if (!Failed()) Unexpected(context, kDurationExpected);
      return false;
    }
    return MakeDurationValue(std::move(e), out);
  }

  // A literal (possibly signed) stays a literal; anything else is an
  // experimental duration expression.
  bool MakeDurationValue(std::unique_ptr<DurationExpr> e, DurationValue* out) {
    out->pos = e->pos;
    if (e->kind == DurationExpr::Kind::kLiteral && !e->wrapped) {
      Result<int64_t> ms = EvaluateDuration(*e, {});
      if (!ms.ok()) {
        Fail(e->pos, ms.status().message());
        return false;
      }
      out->literal_ms = *ms;
      return true;
    }
    if (!options_.duration_expressions) {
      Fail(e->pos, "experimental duration expression is not enabled");
      return false;
    }
    out->expr = std::move(e);
    return true;
  }

  // Duration expressions: + - (1) < * / % (2) < unary +/- < ^ (3, right).
  static int DurationPrecedence(TokenKind k) {
    switch (k) {
      case TokenKind::kAdd:
      case TokenKind::kSub:
        return 1;
      case TokenKind::kMul:
      case TokenKind::kDiv:
      case TokenKind::kMod:
        return 2;
      case TokenKind::kPow:
        return 4;
      default:
        return 0;
    }
  }

  std::unique_ptr<DurationExpr> ParseDurationExpr(int min_prec) {
    NestingGuard guard(&nesting_);
    if (nesting_ > kMaxNesting) {
      TooDeep();
      return nullptr;
    }
    std::unique_ptr<DurationExpr> lhs = ParseDurationUnary();
    while (lhs) {
      const Token& t = Peek();
      const int prec = DurationPrecedence(t.kind);
      if (prec == 0 || prec < min_prec) break;
      const Token& op = Consume();
      std::unique_ptr<DurationExpr> rhs =
          ParseDurationExpr(op.kind == TokenKind::kPow ? prec : prec + 1);
      if (!rhs) return nullptr;
      const char c = op.text[0];
      if ((c == '/' || c == '%') && !rhs->DependsOnQuery()) {
        Result<double> divisor = EvaluateSeconds(*rhs);
        if (divisor.ok() && *divisor == 0) {
          Fail(Range(op), c == '/' ? "division by zero" : "modulo by zero");
          return nullptr;
        }
      }
      auto bin = std::make_unique<DurationExpr>();
      bin->kind = DurationExpr::Kind::kBinary;
      bin->op = c;
      bin->pos = {lhs->pos.start, rhs->pos.end};
      bin->lhs = std::move(lhs);
      bin->rhs = std::move(rhs);
      lhs = std::move(bin);
    }
    return lhs;
  }

  // The value of a constant duration expression in seconds.
  static Result<double> EvaluateSeconds(const DurationExpr& e) {
    if (e.kind == DurationExpr::Kind::kLiteral) return e.value;
    Result<int64_t> ms = EvaluateDuration(e, {});
    if (!ms.ok()) return ms.status();
    return static_cast<double>(*ms) / 1000.0;
  }

  std::unique_ptr<DurationExpr> ParseDurationUnary() {
    const Token& t = Peek();
    if (t.kind != TokenKind::kAdd && t.kind != TokenKind::kSub) return ParseDurationPrimary();
    const Token& op = Consume();
    std::unique_ptr<DurationExpr> operand = ParseDurationExpr(3);
    if (!operand) return nullptr;
    return ApplyDurationSign(op, std::move(operand));
  }

  std::unique_ptr<DurationExpr> ApplyDurationSign(const Token& op,
                                                  std::unique_ptr<DurationExpr> operand) {
    if (operand->kind == DurationExpr::Kind::kLiteral && !operand->wrapped) {
      if (op.kind == TokenKind::kSub) operand->value = -operand->value;
      operand->pos.start = op.pos;
      return operand;
    }
    if (op.kind == TokenKind::kAdd) return operand;
    auto u = std::make_unique<DurationExpr>();
    u->kind = DurationExpr::Kind::kUnary;
    u->op = '-';
    u->pos = {op.pos, operand->pos.end};
    u->rhs = std::move(operand);
    return u;
  }

  bool IsDurationFunction(const Token& t, std::string_view name) const {
    if (t.kind == TokenKind::kMinOf) return name == "min_of";
    if (t.kind == TokenKind::kMaxOf) return name == "max_of";
    return t.kind == TokenKind::kIdentifier && LowerAscii(t.text) == name;
  }

  std::unique_ptr<DurationExpr> DurationFail() {
    Unexpected(duration_context_, kDurationExpected);
    return nullptr;
  }

  std::unique_ptr<DurationExpr> ParseDurationPrimary() {
    const Token& t = Peek();
    auto out = std::make_unique<DurationExpr>();
    switch (t.kind) {
      case TokenKind::kNumber:
      case TokenKind::kDuration: {
        Consume();
        std::optional<double> v = LiteralSeconds(t);
        if (!v) return nullptr;
        out->kind = DurationExpr::Kind::kLiteral;
        out->value = *v;
        out->is_duration = t.kind == TokenKind::kDuration;
        out->pos = Range(t);
        return out;
      }
      case TokenKind::kLeftParen: {
        const Token& lp = Consume();
        std::unique_ptr<DurationExpr> inner = ParseDurationExpr(0);
        if (!inner) return Failed() ? nullptr : DurationFail();
        if (Peek().kind != TokenKind::kRightParen) {
          Unexpected(duration_context_, "\")\"");
          return nullptr;
        }
        const Token& rp = Consume();
        // ((x)) keeps a single level of parentheses, as Prometheus does.
        inner->wrapped = true;
        inner->pos = {lp.pos, rp.end()};
        return inner;
      }
      case TokenKind::kStep:
      case TokenKind::kRange: {
        Consume();
        if (Peek().kind != TokenKind::kLeftParen || Peek(1).kind != TokenKind::kRightParen) {
          if (Peek().kind == TokenKind::kLeftParen) Consume();
          return DurationFail();
        }
        Consume();
        const Token& rp = Consume();
        out->kind =
            t.kind == TokenKind::kStep ? DurationExpr::Kind::kStep : DurationExpr::Kind::kRange;
        out->pos = {t.pos, rp.end()};
        return out;
      }
      default:
        break;
    }
    const bool min_of = IsDurationFunction(t, "min_of");
    const bool max_of = IsDurationFunction(t, "max_of");
    if ((min_of || max_of) && Peek(1).kind == TokenKind::kLeftParen) {
      Consume();
      Consume();
      std::unique_ptr<DurationExpr> a = ParseDurationExpr(0);
      if (!a) return Failed() ? nullptr : DurationFail();
      if (Peek().kind != TokenKind::kComma) {
        Unexpected(duration_context_, "\",\"");
        return nullptr;
      }
      Consume();
      std::unique_ptr<DurationExpr> b = ParseDurationExpr(0);
      if (!b) return Failed() ? nullptr : DurationFail();
      if (Peek().kind != TokenKind::kRightParen) {
        Unexpected(duration_context_, "\")\"");
        return nullptr;
      }
      const Token& rp = Consume();
      out->kind = min_of ? DurationExpr::Kind::kMinOf : DurationExpr::Kind::kMaxOf;
      out->pos = {t.pos, rp.end()};
      out->lhs = std::move(a);
      out->rhs = std::move(b);
      return out;
    }
    return DurationFail();
  }

  // offset [+|-] (literal | "(" duration_expr ")" | step() | range() | min_of(..) | max_of(..))
  [[gnu::noinline]] Parsed ParseOffset(Parsed e) {
    Consume();  // offset
    duration_context_ = "offset";
    std::unique_ptr<DurationExpr> d;
    if (Peek().kind == TokenKind::kAdd || Peek().kind == TokenKind::kSub) {
      const Token& sign = Consume();
      std::unique_ptr<DurationExpr> operand = ParseDurationPrimary();
      if (!operand) return {};
      d = ApplyDurationSign(sign, std::move(operand));
    } else {
      d = ParseDurationPrimary();
      if (!d) return {};
    }
    DurationValue value;
    if (!MakeDurationValue(std::move(d), &value)) return {};
    if (value.expr && !value.expr->DependsOnQuery()) {
      Result<int64_t> v = EvaluateDuration(*value.expr, {});
      if (!v.ok()) return Fail(value.expr->pos, v.status().message());
    }
    if (options_.dialect == Dialect::kPrometheus2 && !value.expr && value.literal_ms == 0) {
      return Fail(value.pos, "duration must be greater than 0");
    }
    int64_t* offset_ms = nullptr;
    std::unique_ptr<DurationExpr>* offset_expr = nullptr;
    if (auto* vs = e.expr->As<VectorSelector>()) {
      offset_ms = &vs->original_offset_ms, offset_expr = &vs->original_offset_expr;
    } else if (auto* ms = e.expr->As<MatrixSelector>()) {
      offset_ms = &ms->vector_selector->original_offset_ms;
      offset_expr = &ms->vector_selector->original_offset_expr;
    } else if (auto* sq = e.expr->As<SubqueryExpr>()) {
      offset_ms = &sq->original_offset_ms, offset_expr = &sq->original_offset_expr;
    } else {
      return Fail(e.expr->pos,
                  "offset modifier must be preceded by an instant vector selector or range vector "
                  "selector or a subquery");
    }
    if (*offset_ms != 0 || *offset_expr) {
      return Fail(e.expr->pos, "offset may not be set multiple times");
    }
    if (value.expr) {
      *offset_expr = std::move(value.expr);
    } else {
      *offset_ms = value.literal_ms;
    }
    e.expr->pos.end = last_end_;
    return e;
  }

  [[gnu::noinline]] Parsed ParseAt(Parsed e) {
    Consume();  // @
    std::optional<double> ts;
    AtModifier at = AtModifier::kNone;
    const TokenKind k = Peek().kind;
    if (k == TokenKind::kStart || k == TokenKind::kEnd) {
      Consume();
      if (Peek().kind != TokenKind::kLeftParen) return Unexpected("@", "timestamp");
      Consume();
      if (Peek().kind != TokenKind::kRightParen) return Unexpected("@", "timestamp");
      Consume();
      at = k == TokenKind::kStart ? AtModifier::kStart : AtModifier::kEnd;
    } else {
      ts = ParseSignedNumber();
      if (!ts) return Failed() ? Parsed{} : Unexpected("@", "timestamp");
      constexpr double kBound = 9223372036854775807.0;  // float64(math.MaxInt64)
      if (!std::isfinite(*ts) || *ts >= kBound || *ts <= -kBound ||
          std::fabs(*ts * 1000) >= kBound) {
        return Fail(e.expr->pos,
                    "timestamp out of bounds for @ modifier: " + FormatFloatFixed(*ts, 6));
      }
    }
    std::optional<int64_t>* timestamp = nullptr;
    AtModifier* modifier = nullptr;
    if (auto* vs = e.expr->As<VectorSelector>()) {
      timestamp = &vs->timestamp_ms, modifier = &vs->at;
    } else if (auto* ms = e.expr->As<MatrixSelector>()) {
      timestamp = &ms->vector_selector->timestamp_ms, modifier = &ms->vector_selector->at;
    } else if (auto* sq = e.expr->As<SubqueryExpr>()) {
      timestamp = &sq->timestamp_ms, modifier = &sq->at;
    } else {
      return Fail(e.expr->pos,
                  "@ modifier must be preceded by an instant vector selector or range vector "
                  "selector or a subquery");
    }
    if (timestamp->has_value() || *modifier != AtModifier::kNone) {
      return Fail(e.expr->pos, "@ <timestamp> may not be set multiple times");
    }
    if (ts) {
      *timestamp = static_cast<int64_t>(std::round(*ts * 1000));
    } else {
      *modifier = at;
    }
    e.expr->pos.end = last_end_;
    return e;
  }

  [[gnu::noinline]] Parsed ParseExtendedModifier(Parsed e) {
    const Token& t = Consume();
    const bool anchored = t.kind == TokenKind::kAnchored;
    const std::string_view name = anchored ? "anchored" : "smoothed";
    if (!options_.extended_range_selectors) {
      return Fail(e.expr->pos, fmt::format("{} modifier is experimental and not enabled", name));
    }
    VectorSelector* vs = e.expr->As<VectorSelector>();
    if (auto* ms = e.expr->As<MatrixSelector>()) vs = ms->vector_selector.get();
    if (vs == nullptr) {
      if (e.expr->Is<SubqueryExpr>()) {
        return Fail(e.expr->pos, fmt::format("{} modifier is not supported for subqueries", name));
      }
      return Fail(e.expr->pos, fmt::format("{} modifier not implemented", name));
    }
    (anchored ? vs->anchored : vs->smoothed) = true;
    if (vs->anchored && vs->smoothed) {
      return Fail(e.expr->pos, "anchored and smoothed modifiers cannot be used together");
    }
    e.expr->pos.end = last_end_;
    return e;
  }

  std::string_view input_;
  ParseOptions options_;
  MatcherOptions matcher_options_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  int32_t last_end_ = 0;
  std::string_view duration_context_;
  int nesting_ = 0;
  std::optional<ParseError> error_;
};

}  // namespace

ParseOptions ParseOptions::Prometheus2() {
  ParseOptions o;
  o.dialect = Dialect::kPrometheus2;
  o.experimental_functions = false;
  o.duration_expressions = false;
  o.extended_range_selectors = false;
  o.binop_fill_modifiers = false;
  return o;
}

std::string FormatParseError(std::string_view query, const ParseError& error) {
  const auto pos = static_cast<size_t>(std::max<int32_t>(0, error.pos.start));
  if (pos > query.size()) return "invalid position: parse error: " + error.message;
  int line = 1;
  size_t last_break = std::string_view::npos;
  for (size_t i = 0; i < pos; ++i) {
    if (query[i] == '\n') {
      ++line;
      last_break = i;
    }
  }
  const size_t col = last_break == std::string_view::npos ? pos + 1 : pos - last_break;
  return fmt::format("{}:{}: parse error: {}", line, col, error.message);
}

Result<ExprPtr> ParseExpr(std::string_view input, const ParseOptions& options,
                          ParseError* error_detail) {
  return Parser(input, options).ParseQuery(error_detail);
}

Result<std::vector<Matcher>> ParseMetricSelector(std::string_view input,
                                                 const ParseOptions& options) {
  return Parser(input, options).ParseSelectorOnly();
}

Status CheckRangeModifierUse(const Expr& expr) {
  if (const auto* call = expr.As<Call>()) {
    for (const ExprPtr& arg : call->args) {
      const auto* ms = arg->As<MatrixSelector>();
      if (ms == nullptr) continue;
      const std::string_view f = call->func->name;
      if (ms->vector_selector->anchored && f != "changes" && f != "delta" && f != "increase" &&
          f != "rate" && f != "resets") {
        return InvalidArgumentError(fmt::format(
            "anchored modifier can only be used with: changes, delta, increase, rate, resets - "
            "not with {}",
            f));
      }
      if (ms->vector_selector->smoothed && f != "delta" && f != "increase" && f != "rate") {
        return InvalidArgumentError(fmt::format(
            "smoothed modifier can only be used with: delta, increase, rate - not with {}", f));
      }
    }
  }
  for (const Expr* child : Children(expr)) SL_RETURN_IF_ERROR(CheckRangeModifierUse(*child));
  return Status::Ok();
}

}  // namespace sightline::promql
