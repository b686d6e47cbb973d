#include "traces/traceql/parser.h"

#include <re2/re2.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace sightline::traces::traceql {
namespace {

enum class Tok : uint8_t {
  kEof,
  kIdent,
  kString,
  kInt,
  kFloat,
  kDuration,
  kAttr,
  kScopedIntrinsic,
  kLBrace,
  kRBrace,
  kLParen,
  kRParen,
  kComma,
  kPipe,
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
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kDesc,
  kAnce,
  kTilde,
  kNotChild,
  kNotParent,
  kNotDesc,
  kNotAnce,
  kUnionChild,
  kUnionParent,
  kUnionDesc,
  kUnionAnce,
  kUnionSibling,
};

struct Token {
  Tok type = Tok::kEof;
  std::string text;  // identifier, string value, attribute name, source text
  int64_t i = 0;
  double f = 0;
  Scope scope = Scope::kNone;
  bool parent = false;
  Intrinsic intrinsic = Intrinsic::kName;
  int line = 1, col = 1;
};

std::string PosError(int line, int col, std::string_view msg) {
  return "invalid TraceQL query: parse error at line " + std::to_string(line) + ", col " +
         std::to_string(col) + ": " + std::string(msg);
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Characters that end an unquoted attribute name (Tempo's rule: names may
// contain dots, dashes and most punctuation, but not operators or spaces).
bool EndsAttribute(char c) {
  switch (c) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '\f':
    case '\v':
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
      return false;
  }
}

const struct {
  std::string_view name;
  Intrinsic intrinsic;
} kScopedIntrinsics[] = {
    {"span:name", Intrinsic::kName},
    {"span:status", Intrinsic::kStatus},
    {"span:statusMessage", Intrinsic::kStatusMessage},
    {"span:duration", Intrinsic::kDuration},
    {"span:kind", Intrinsic::kKind},
    {"span:id", Intrinsic::kSpanId},
    {"span:parentID", Intrinsic::kParentId},
    {"span:childCount", Intrinsic::kChildCount},
    {"trace:duration", Intrinsic::kTraceDuration},
    {"trace:rootName", Intrinsic::kRootName},
    {"trace:rootService", Intrinsic::kRootService},
    {"trace:id", Intrinsic::kTraceId},
    {"event:name", Intrinsic::kEventName},
    {"event:timeSinceStart", Intrinsic::kEventTimeSinceStart},
    {"link:spanID", Intrinsic::kLinkSpanId},
    {"link:traceID", Intrinsic::kLinkTraceId},
    {"instrumentation:name", Intrinsic::kInstrumentationName},
    {"instrumentation:version", Intrinsic::kInstrumentationVersion},
};

const struct {
  std::string_view name;
  Intrinsic intrinsic;
} kLegacyIntrinsics[] = {
    {"name", Intrinsic::kName},
    {"status", Intrinsic::kStatus},
    {"statusMessage", Intrinsic::kStatusMessage},
    {"duration", Intrinsic::kDuration},
    {"kind", Intrinsic::kKind},
    {"childCount", Intrinsic::kChildCount},
    {"parent", Intrinsic::kParent},
    {"traceDuration", Intrinsic::kTraceDuration},
    {"rootName", Intrinsic::kRootName},
    {"rootServiceName", Intrinsic::kRootService},
    {"nestedSetLeft", Intrinsic::kNestedSetLeft},
    {"nestedSetRight", Intrinsic::kNestedSetRight},
    {"nestedSetParent", Intrinsic::kNestedSetParent},
};

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  Status Run(std::vector<Token>* out) {
    while (true) {
      SkipSpace();
      Token t;
      t.line = line_;
      t.col = col_;
      if (pos_ >= in_.size()) {
        t.type = Tok::kEof;
        t.text = "$end";
        out->push_back(std::move(t));
        return Status::Ok();
      }
      size_t start = pos_;
      SL_RETURN_IF_ERROR(Next(&t));
      if (t.type != Tok::kString && t.type != Tok::kAttr && t.type != Tok::kIdent) {
        t.text = std::string(in_.substr(start, pos_ - start));
      }
      out->push_back(std::move(t));
    }
  }

 private:
  char Peek(size_t ahead = 0) const { return pos_ + ahead < in_.size() ? in_[pos_ + ahead] : '\0'; }
  void Advance(size_t n = 1) {
    for (size_t k = 0; k < n && pos_ < in_.size(); ++k) {
      if (in_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
      ++pos_;
    }
  }
  void SkipSpace() {
    while (pos_ < in_.size() && std::isspace(static_cast<unsigned char>(in_[pos_]))) Advance();
  }
  Status Err(std::string_view msg) const {
    return InvalidArgumentError(PosError(line_, col_, msg));
  }

  Status Next(Token* t) {
    char c = Peek();
    auto op = [&](Tok type, size_t n) {
      t->type = type;
      Advance(n);
      return Status::Ok();
    };
    switch (c) {
      case '{':
        return op(Tok::kLBrace, 1);
      case '}':
        return op(Tok::kRBrace, 1);
      case '(':
        return op(Tok::kLParen, 1);
      case ')':
        return op(Tok::kRParen, 1);
      case ',':
        return op(Tok::kComma, 1);
      case '+':
        return op(Tok::kAdd, 1);
      case '-':
        return op(Tok::kSub, 1);
      case '*':
        return op(Tok::kMul, 1);
      case '/':
        return op(Tok::kDiv, 1);
      case '%':
        return op(Tok::kMod, 1);
      case '^':
        return op(Tok::kPow, 1);
      case '~':
        return op(Tok::kTilde, 1);
      case '|':
        return Peek(1) == '|' ? op(Tok::kOr, 2) : op(Tok::kPipe, 1);
      case '=':
        return Peek(1) == '~' ? op(Tok::kRe, 2) : op(Tok::kEq, 1);
      case '!':
        if (Peek(1) == '=') return op(Tok::kNeq, 2);
        if (Peek(1) == '~') return op(Tok::kNre, 2);
        if (Peek(1) == '>') return Peek(2) == '>' ? op(Tok::kNotDesc, 3) : op(Tok::kNotChild, 2);
        if (Peek(1) == '<') return Peek(2) == '<' ? op(Tok::kNotAnce, 3) : op(Tok::kNotParent, 2);
        return op(Tok::kNot, 1);
      case '>':
        if (Peek(1) == '>') return op(Tok::kDesc, 2);
        if (Peek(1) == '=') return op(Tok::kGte, 2);
        return op(Tok::kGt, 1);
      case '<':
        if (Peek(1) == '<') return op(Tok::kAnce, 2);
        if (Peek(1) == '=') return op(Tok::kLte, 2);
        return op(Tok::kLt, 1);
      case '&':
        if (Peek(1) == '&') return op(Tok::kAnd, 2);
        if (Peek(1) == '>')
          return Peek(2) == '>' ? op(Tok::kUnionDesc, 3) : op(Tok::kUnionChild, 2);
        if (Peek(1) == '<')
          return Peek(2) == '<' ? op(Tok::kUnionAnce, 3) : op(Tok::kUnionParent, 2);
        if (Peek(1) == '~') return op(Tok::kUnionSibling, 2);
        return Err("syntax error: unexpected &");
      case '"':
      case '`':
        t->type = Tok::kString;
        return LexString(&t->text);
      case '.':
        // `.5` is a number, as Go's text/scanner (Tempo's lexer) reads it.
        if (IsDigit(Peek(1))) return LexNumber(t);
        Advance();
        t->type = Tok::kAttr;
        t->scope = Scope::kNone;
        return LexAttributeName(&t->text);
      default:
        break;
    }
    if (IsDigit(c)) return LexNumber(t);
    if (IsIdentStart(c)) return LexWord(t);
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Unicode letters start identifiers too (as Go's lexer accepts).
      return LexWord(t);
    }
    return Err(std::string("syntax error: unexpected character '") + c + "'");
  }

  Status LexString(std::string* out) {
    char quote = Peek();
    int line = line_, col = col_;
    Advance();
    while (true) {
      if (pos_ >= in_.size()) {
        return InvalidArgumentError(PosError(line, col, "syntax error: unterminated string"));
      }
      char c = Peek();
      if (c == quote) {
        Advance();
        return Status::Ok();
      }
      if (c == '\\' && quote == '"') {
        char e = Peek(1);
        Advance(2);
        switch (e) {
          case 'n':
            out->push_back('\n');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 'a':
            out->push_back('\a');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'v':
            out->push_back('\v');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '"':
            out->push_back('"');
            break;
          case '\'':
            out->push_back('\'');
            break;
          case 'u':
          case 'x': {
            size_t n = e == 'u' ? 4 : 2;
            if (pos_ + n > in_.size()) return Err("syntax error: invalid escape in string");
            uint32_t cp = 0;
            for (size_t k = 0; k < n; ++k) {
              char h = in_[pos_ + k];
              cp <<= 4;
              if (h >= '0' && h <= '9')
                cp |= h - '0';
              else if (h >= 'a' && h <= 'f')
                cp |= h - 'a' + 10;
              else if (h >= 'A' && h <= 'F')
                cp |= h - 'A' + 10;
              else
                return Err("syntax error: invalid escape in string");
            }
            Advance(n);
            if (e == 'x') {
              out->push_back(static_cast<char>(cp));
            } else if (cp < 0x80) {
              out->push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
              out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
              out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else {
              out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
              out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
              out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            }
            break;
          }
          default:
            return Err("syntax error: invalid escape in string");
        }
        continue;
      }
      out->push_back(c);
      Advance();
    }
  }

  Status LexAttributeName(std::string* out) {
    if (Peek() == '"') return LexString(out);
    size_t start = pos_;
    while (pos_ < in_.size() && !EndsAttribute(in_[pos_])) Advance();
    *out = std::string(in_.substr(start, pos_ - start));
    if (out->empty())
      return Err("syntax error: unexpected " + std::string(1, Peek() ? Peek() : ' ') +
                 ", expecting attribute name");
    return Status::Ok();
  }

  // Go's time.ParseDuration units.
  static bool DurationUnit(std::string_view s, size_t* len, double* ns) {
    static const struct {
      std::string_view unit;
      double ns;
    } kUnits[] = {{"ns", 1},   {"us", 1e3}, {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
                  {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
                  // Prometheus-style units, which Tempo's lexer also reads.
                  {"d", 86400e9}, {"w", 7 * 86400e9}, {"y", 365 * 86400e9}};
    // Longest match first: "ms" before "m", "ns"/"us" before "s".
    size_t best = 0;
    double best_ns = 0;
    for (const auto& u : kUnits) {
      if (s.substr(0, u.unit.size()) == u.unit && u.unit.size() > best) {
        best = u.unit.size();
        best_ns = u.ns;
      }
    }
    if (best == 0) return false;
    *len = best;
    *ns = best_ns;
    return true;
  }

  Status LexNumber(Token* t) {
    size_t start = pos_;
    auto scan_number = [&]() {
      while (IsDigit(Peek())) Advance();
      bool is_float = false;
      if (Peek() == '.' && IsDigit(Peek(1))) {
        is_float = true;
        Advance();
        while (IsDigit(Peek())) Advance();
      }
      return is_float;
    };
    bool is_float = scan_number();
    size_t unit_len = 0;
    double unit_ns = 0;
    if (DurationUnit(in_.substr(pos_), &unit_len, &unit_ns)) {
      // A duration: one or more number+unit pairs.
      double total = 0;
      size_t seg = start;
      while (true) {
        double v = std::strtod(std::string(in_.substr(seg, pos_ - seg)).c_str(), nullptr);
        if (!DurationUnit(in_.substr(pos_), &unit_len, &unit_ns)) {
          return Err("syntax error: invalid duration " +
                     std::string(in_.substr(start, pos_ - start)));
        }
        Advance(unit_len);
        total += v * unit_ns;
        if (!IsDigit(Peek())) break;
        seg = pos_;
        scan_number();
      }
      if (IsIdentChar(Peek())) {
        return Err("syntax error: invalid duration " +
                   std::string(in_.substr(start, pos_ - start + 1)));
      }
      if (!(total < 9.2e18)) {
        return Err("syntax error: duration out of range " +
                   std::string(in_.substr(start, pos_ - start)));
      }
      t->type = Tok::kDuration;
      t->i = static_cast<int64_t>(std::llround(total));
      return Status::Ok();
    }
    if (Peek() == 'e' || Peek() == 'E') {
      size_t save = pos_;
      Advance();
      if (Peek() == '+' || Peek() == '-') Advance();
      if (IsDigit(Peek())) {
        while (IsDigit(Peek())) Advance();
        is_float = true;
      } else {
        pos_ = save;
      }
    }
    if (IsIdentChar(Peek())) {
      return Err("syntax error: unexpected " + std::string(in_.substr(start, pos_ - start + 1)));
    }
    std::string num(in_.substr(start, pos_ - start));
    if (is_float) {
      t->type = Tok::kFloat;
      t->f = std::strtod(num.c_str(), nullptr);
      if (!std::isfinite(t->f)) return Err("syntax error: number out of range " + num);
    } else {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(num.c_str(), &end, 10);
      if (errno == ERANGE) {
        t->type = Tok::kFloat;
        t->f = std::strtod(num.c_str(), nullptr);
        if (!std::isfinite(t->f)) return Err("syntax error: number out of range " + num);
      } else {
        t->type = Tok::kInt;
        t->i = v;
      }
    }
    return Status::Ok();
  }

  Status LexWord(Token* t) {
    size_t start = pos_;
    while (pos_ < in_.size() &&
           (IsIdentChar(in_[pos_]) || static_cast<unsigned char>(in_[pos_]) >= 0x80)) {
      Advance();
    }
    std::string word(in_.substr(start, pos_ - start));
    if (Peek() == '.') {
      Scope scope = Scope::kNone;
      bool known = true;
      bool parent = false;
      if (word == "span")
        scope = Scope::kSpan;
      else if (word == "resource")
        scope = Scope::kResource;
      else if (word == "event")
        scope = Scope::kEvent;
      else if (word == "link")
        scope = Scope::kLink;
      else if (word == "instrumentation")
        scope = Scope::kInstrumentation;
      else if (word == "parent")
        parent = true;
      else
        known = false;
      if (known) {
        Advance();
        if (parent) {
          // parent.span.x / parent.resource.x / parent.x
          std::string_view rest = in_.substr(pos_);
          if (rest.substr(0, 5) == "span.") {
            scope = Scope::kSpan;
            Advance(5);
          } else if (rest.substr(0, 9) == "resource.") {
            scope = Scope::kResource;
            Advance(9);
          }
        }
        t->type = Tok::kAttr;
        t->scope = scope;
        t->parent = parent;
        return LexAttributeName(&t->text);
      }
    }
    if (Peek() == ':' && (word == "span" || word == "trace" || word == "event" || word == "link" ||
                          word == "instrumentation")) {
      Advance();
      size_t s2 = pos_;
      while (IsIdentChar(Peek())) Advance();
      std::string full = word + ":" + std::string(in_.substr(s2, pos_ - s2));
      for (const auto& si : kScopedIntrinsics) {
        if (si.name == full) {
          t->type = Tok::kScopedIntrinsic;
          t->intrinsic = si.intrinsic;
          t->text = full;
          return Status::Ok();
        }
      }
      return Err("syntax error: unknown intrinsic " + full);
    }
    t->type = Tok::kIdent;
    t->text = std::move(word);
    return Status::Ok();
  }

  std::string_view in_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

// ------------------------------------------------------------------ types

// The type an expression is known to have before evaluation; kNil here
// also stands for "attribute: decided at evaluation time" (kUnknown).
enum class Implied : uint8_t {
  kUnknown,
  kNil,
  kInt,
  kFloat,
  kString,
  kBool,
  kDuration,
  kStatus,
  kKind
};

Implied IntrinsicType(Intrinsic i) {
  switch (i) {
    case Intrinsic::kName:
    case Intrinsic::kStatusMessage:
    case Intrinsic::kSpanId:
    case Intrinsic::kParentId:
    case Intrinsic::kRootName:
    case Intrinsic::kRootService:
    case Intrinsic::kTraceId:
    case Intrinsic::kEventName:
    case Intrinsic::kLinkSpanId:
    case Intrinsic::kLinkTraceId:
    case Intrinsic::kInstrumentationName:
    case Intrinsic::kInstrumentationVersion:
      return Implied::kString;
    case Intrinsic::kStatus:
      return Implied::kStatus;
    case Intrinsic::kKind:
      return Implied::kKind;
    case Intrinsic::kDuration:
    case Intrinsic::kTraceDuration:
    case Intrinsic::kEventTimeSinceStart:
      return Implied::kDuration;
    case Intrinsic::kChildCount:
    case Intrinsic::kNestedSetLeft:
    case Intrinsic::kNestedSetRight:
    case Intrinsic::kNestedSetParent:
      return Implied::kInt;
    case Intrinsic::kParent:
      return Implied::kUnknown;
  }
  return Implied::kUnknown;
}

Implied StaticImplied(const Static& s) {
  switch (s.type) {
    case ValueType::kNil:
      return Implied::kNil;
    case ValueType::kInt:
      return Implied::kInt;
    case ValueType::kFloat:
      return Implied::kFloat;
    case ValueType::kString:
      return Implied::kString;
    case ValueType::kBool:
      return Implied::kBool;
    case ValueType::kDuration:
      return Implied::kDuration;
    case ValueType::kStatus:
      return Implied::kStatus;
    case ValueType::kKind:
      return Implied::kKind;
    default:
      return Implied::kUnknown;
  }
}

bool IsNumericImplied(Implied t) {
  return t == Implied::kInt || t == Implied::kFloat || t == Implied::kDuration;
}

Implied ImpliedType(const FieldExpr& e) {
  switch (e.kind) {
    case FieldExpr::Kind::kStatic:
      return StaticImplied(e.value);
    case FieldExpr::Kind::kAttribute:
      return Implied::kUnknown;
    case FieldExpr::Kind::kIntrinsic:
      return IntrinsicType(e.intrinsic);
    case FieldExpr::Kind::kUnary:
      return e.op == Op::kNot ? Implied::kBool : ImpliedType(*e.lhs);
    case FieldExpr::Kind::kCidr:
      return Implied::kBool;
    case FieldExpr::Kind::kBinary:
      switch (e.op) {
        case Op::kEq:
        case Op::kNeq:
        case Op::kLt:
        case Op::kLte:
        case Op::kGt:
        case Op::kGte:
        case Op::kRe:
        case Op::kNre:
        case Op::kAnd:
        case Op::kOr:
          return Implied::kBool;
        default: {
          Implied l = ImpliedType(*e.lhs), r = ImpliedType(*e.rhs);
          if (l == Implied::kUnknown || r == Implied::kUnknown) return Implied::kUnknown;
          if (l == Implied::kFloat || r == Implied::kFloat || e.op == Op::kDiv ||
              e.op == Op::kPow) {
            return l == Implied::kDuration || r == Implied::kDuration ? Implied::kDuration
                                                                      : Implied::kFloat;
          }
          return l == Implied::kDuration || r == Implied::kDuration ? Implied::kDuration : l;
        }
      }
  }
  return Implied::kUnknown;
}

// ----------------------------------------------------------------- parser

// Nesting deeper than this is refused (keeps recursion bounded).
constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<std::unique_ptr<Query>> ParseRoot() {
    auto q = std::make_unique<Query>();
    if (t_.size() == 1) {  // empty query: `{}`
      q->pipeline = std::make_unique<Element>();
      return q;
    }
    q->pipeline = ParsePipeline(/*top=*/true);
    if (!q->pipeline) return err_;
    if (Cur().type == Tok::kPipe && IsMetricsFn(Peek(1))) {
      Advance();
      if (!ParseMetrics(q.get())) return err_;
      for (;;) {
        if (Cur().type == Tok::kPipe) {
          Advance();
          if (!ParseSecondStage(q.get())) return err_;
        } else if (IsComparison(Cur().type)) {
          if (!ParseMetricsFilter(q.get())) return err_;
        } else {
          break;
        }
      }
    }
    if (Cur().type == Tok::kIdent && Cur().text == "with") {
      if (!ParseHints(q.get())) return err_;
    }
    if (Cur().type != Tok::kEof) return Unexpected();
    for (const Hint& h : q->hints) {
      if (h.name == "most_recent" && h.value.type == ValueType::kBool) q->most_recent = h.value.b;
    }
    Status s = Validate(*q->pipeline);
    if (!s.ok()) return s;
    return q;
  }

  Result<std::unique_ptr<FieldExpr>> ParseSingleAttribute() {
    auto e = ParsePrimaryField();
    if (!e) return err_;
    if (Cur().type != Tok::kEof) return Unexpected();
    if (e->kind != FieldExpr::Kind::kAttribute && e->kind != FieldExpr::Kind::kIntrinsic) {
      return InvalidArgumentError("invalid TraceQL attribute: " + FieldExprToString(*e));
    }
    return e;
  }

 private:
  const Token& Cur() const { return t_[pos_]; }
  const Token& Peek(size_t n) const { return t_[std::min(pos_ + n, t_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < t_.size()) ++pos_;
  }

  void Fail(const Token& at, std::string_view msg) {
    if (err_.ok() || pos_ >= err_pos_) {
      err_ = InvalidArgumentError(PosError(at.line, at.col, msg));
      err_pos_ = pos_;
    }
  }
  Status Unexpected() {
    const Token& c = Cur();
    std::string what = c.type == Tok::kString ? "STRING"
                       : c.type == Tok::kAttr ? "attribute " + c.text
                                              : c.text;
    Fail(c, "syntax error: unexpected " + what);
    return err_;
  }
  bool Expect(Tok type, std::string_view what) {
    if (Cur().type != type) {
      const Token& c = Cur();
      std::string got = c.type == Tok::kString ? "STRING" : c.text;
      Fail(c, "syntax error: unexpected " + got + ", expecting " + std::string(what));
      return false;
    }
    Advance();
    return true;
  }

  static bool IsMetricsFn(const Token& t) {
    if (t.type != Tok::kIdent) return false;
    static const std::string_view kFns[] = {
        "rate",          "count_over_time", "sum_over_time",      "min_over_time",
        "max_over_time", "avg_over_time",   "quantile_over_time", "histogram_over_time",
        "compare"};
    for (auto f : kFns) {
      if (t.text == f) return true;
    }
    return false;
  }
  static bool IsAggregate(const Token& t, AggregateFn* fn) {
    if (t.type != Tok::kIdent) return false;
    if (t.text == "count")
      *fn = AggregateFn::kCount;
    else if (t.text == "avg")
      *fn = AggregateFn::kAvg;
    else if (t.text == "min")
      *fn = AggregateFn::kMin;
    else if (t.text == "max")
      *fn = AggregateFn::kMax;
    else if (t.text == "sum")
      *fn = AggregateFn::kSum;
    else
      return false;
    return true;
  }

  // pipeline := stage ('|' stage)*; at the top level a '|' followed by a
  // metrics function ends the pipeline.
  std::unique_ptr<Element> ParsePipeline(bool top) {
    auto p = std::make_unique<Element>();
    p->kind = Element::Kind::kPipeline;
    auto first = ParseStage();
    if (!first) return nullptr;
    p->stages.push_back(std::move(first));
    while (Cur().type == Tok::kPipe) {
      if (top && IsMetricsFn(Peek(1))) break;
      if (Peek(1).type == Tok::kIdent && (Peek(1).text == "topk" || Peek(1).text == "bottomk")) {
        Advance();
        Fail(Cur(), "syntax error: " + Cur().text + " needs a metrics query before it");
        return nullptr;
      }
      Advance();
      AggregateFn fn;
      if (!top && IsAggregate(Cur(), &fn) && Peek(1).type == Tok::kLParen) {
        // Could be `| count() > 1` (a scalar filter) or the terminal
        // aggregate of a wrapped scalar pipeline `({...} | count())`.
        size_t save = pos_;
        auto agg = ParseAggregateCall();
        if (!agg) return nullptr;
        if (Cur().type == Tok::kRParen) {
          auto st = std::make_unique<Element>();
          st->kind = Element::Kind::kAggregate;
          st->slhs = std::move(agg);
          p->stages.push_back(std::move(st));
          return p;
        }
        pos_ = save;
      }
      auto st = ParseStage();
      if (!st) return nullptr;
      p->stages.push_back(std::move(st));
    }
    if (p->stages.size() == 1) return std::move(p->stages[0]);
    return p;
  }

  std::unique_ptr<Element> ParseStage() {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const Token& c = Cur();
    if (c.type == Tok::kIdent) {
      if (c.text == "by" && Peek(1).type == Tok::kLParen) {
        Advance();
        Advance();
        auto e = std::make_unique<Element>();
        e->kind = Element::Kind::kBy;
        e->expr = ParseField(0);
        if (!e->expr || !Expect(Tok::kRParen, ")")) return nullptr;
        return e;
      }
      if (c.text == "coalesce" && Peek(1).type == Tok::kLParen) {
        Advance();
        Advance();
        if (!Expect(Tok::kRParen, ")")) return nullptr;
        auto e = std::make_unique<Element>();
        e->kind = Element::Kind::kCoalesce;
        return e;
      }
      if (c.text == "select" && Peek(1).type == Tok::kLParen) {
        Advance();
        Advance();
        auto e = std::make_unique<Element>();
        e->kind = Element::Kind::kSelect;
        while (true) {
          auto f = ParseField(0);
          if (!f) return nullptr;
          e->fields.push_back(std::move(f));
          if (Cur().type == Tok::kComma) {
            Advance();
            continue;
          }
          break;
        }
        if (!Expect(Tok::kRParen, ")")) return nullptr;
        return e;
      }
    }
    AggregateFn fn;
    if (IsAggregate(c, &fn) || c.type == Tok::kInt || c.type == Tok::kFloat ||
        c.type == Tok::kDuration || c.type == Tok::kSub) {
      return ParseScalarFilter();
    }
    if (c.type == Tok::kLParen) {
      // Either a parenthesized spanset expression / pipeline or a
      // parenthesized scalar expression: try the first, then the second.
      size_t save = pos_;
      Status saved_err = err_;
      size_t saved_err_pos = err_pos_;
      auto e = ParseSpansetExpr(0);
      if (e) return e;
      size_t fail_pos = err_pos_;
      Status fail = err_;
      pos_ = save;
      err_ = saved_err;
      err_pos_ = saved_err_pos;
      auto s = ParseScalarFilter();
      if (s) return s;
      if (fail_pos >= err_pos_) {
        err_ = fail;
        err_pos_ = fail_pos;
      }
      return nullptr;
    }
    return ParseSpansetExpr(0);
  }

  static int SpansetPrec(Tok t, SpansetOp* op) {
    switch (t) {
      case Tok::kAnd:
        *op = SpansetOp::kAnd;
        return 1;
      case Tok::kOr:
        *op = SpansetOp::kOr;
        return 1;
      case Tok::kGt:
        *op = SpansetOp::kChild;
        return 2;
      case Tok::kLt:
        *op = SpansetOp::kParent;
        return 2;
      case Tok::kDesc:
        *op = SpansetOp::kDescendant;
        return 2;
      case Tok::kAnce:
        *op = SpansetOp::kAncestor;
        return 2;
      case Tok::kTilde:
        *op = SpansetOp::kSibling;
        return 2;
      case Tok::kNotChild:
        *op = SpansetOp::kNotChild;
        return 2;
      case Tok::kNotParent:
        *op = SpansetOp::kNotParent;
        return 2;
      case Tok::kNotDesc:
        *op = SpansetOp::kNotDescendant;
        return 2;
      case Tok::kNotAnce:
        *op = SpansetOp::kNotAncestor;
        return 2;
      case Tok::kNre:
        *op = SpansetOp::kNotSibling;
        return 2;  // `!~` between spansets
      case Tok::kUnionChild:
        *op = SpansetOp::kUnionChild;
        return 2;
      case Tok::kUnionParent:
        *op = SpansetOp::kUnionParent;
        return 2;
      case Tok::kUnionDesc:
        *op = SpansetOp::kUnionDescendant;
        return 2;
      case Tok::kUnionAnce:
        *op = SpansetOp::kUnionAncestor;
        return 2;
      case Tok::kUnionSibling:
        *op = SpansetOp::kUnionSibling;
        return 2;
      default:
        return -1;
    }
  }

  std::unique_ptr<Element> ParseSpansetExpr(int min_prec) {
    auto lhs = ParseSpansetPrimary();
    if (!lhs) return nullptr;
    while (true) {
      SpansetOp op;
      int prec = SpansetPrec(Cur().type, &op);
      if (prec < 0 || prec < min_prec) break;
      Advance();
      auto rhs = ParseSpansetExpr(prec + 1);
      if (!rhs) return nullptr;
      auto e = std::make_unique<Element>();
      e->kind = Element::Kind::kSpansetOp;
      e->op = op;
      e->lhs = std::move(lhs);
      e->rhs = std::move(rhs);
      lhs = std::move(e);
    }
    return lhs;
  }

  std::unique_ptr<Element> ParseSpansetPrimary() {
    if (Cur().type == Tok::kLBrace) {
      Advance();
      auto e = std::make_unique<Element>();
      e->kind = Element::Kind::kFilter;
      if (Cur().type == Tok::kRBrace) {
        Advance();
        return e;
      }
      e->expr = ParseField(0);
      if (!e->expr) return nullptr;
      if (!Expect(Tok::kRBrace, "}")) return nullptr;
      return e;
    }
    if (Cur().type == Tok::kLParen) {
      Advance();
      auto inner = ParsePipeline(/*top=*/false);
      if (!inner) return nullptr;
      if (!Expect(Tok::kRParen, ")")) return nullptr;
      bool scalar = inner->kind == Element::Kind::kPipeline && !inner->stages.empty() &&
                    inner->stages.back()->kind == Element::Kind::kAggregate;
      if (scalar) {
        // `({...} | avg(duration)) > 1s`
        auto lhs = std::make_unique<ScalarExpr>();
        lhs->kind = ScalarExpr::Kind::kPipeline;
        lhs->pipeline = std::move(inner);
        Op cmp;
        if (!ComparisonOp(Cur().type, &cmp)) {
          Fail(Cur(), "syntax error: unexpected " + Cur().text + ", expecting comparison operator");
          return nullptr;
        }
        Advance();
        auto rhs = ParseScalar(0);
        if (!rhs) return nullptr;
        auto e = std::make_unique<Element>();
        e->kind = Element::Kind::kScalarFilter;
        e->cmp = cmp;
        e->slhs = std::move(lhs);
        e->srhs = std::move(rhs);
        return e;
      }
      return inner;
    }
    (void)Unexpected();
    return nullptr;
  }

  static bool ComparisonOp(Tok t, Op* op) {
    switch (t) {
      case Tok::kEq:
        *op = Op::kEq;
        return true;
      case Tok::kNeq:
        *op = Op::kNeq;
        return true;
      case Tok::kLt:
        *op = Op::kLt;
        return true;
      case Tok::kLte:
        *op = Op::kLte;
        return true;
      case Tok::kGt:
        *op = Op::kGt;
        return true;
      case Tok::kGte:
        *op = Op::kGte;
        return true;
      default:
        return false;
    }
  }

  std::unique_ptr<Element> ParseScalarFilter() {
    auto lhs = ParseScalar(0);
    if (!lhs) return nullptr;
    Op cmp;
    if (!ComparisonOp(Cur().type, &cmp)) {
      Fail(Cur(), "syntax error: unexpected " + Cur().text + ", expecting comparison operator");
      return nullptr;
    }
    Advance();
    auto rhs = ParseScalar(0);
    if (!rhs) return nullptr;
    auto e = std::make_unique<Element>();
    e->kind = Element::Kind::kScalarFilter;
    e->cmp = cmp;
    e->slhs = std::move(lhs);
    e->srhs = std::move(rhs);
    return e;
  }

  static int ArithPrec(Tok t, Op* op, bool* right) {
    *right = false;
    switch (t) {
      case Tok::kAdd:
        *op = Op::kAdd;
        return 3;
      case Tok::kSub:
        *op = Op::kSub;
        return 3;
      case Tok::kMul:
        *op = Op::kMul;
        return 5;
      case Tok::kDiv:
        *op = Op::kDiv;
        return 5;
      case Tok::kMod:
        *op = Op::kMod;
        return 5;
      case Tok::kPow:
        *op = Op::kPow;
        *right = true;
        return 6;
      default:
        return -1;
    }
  }

  std::unique_ptr<ScalarExpr> ParseAggregateCall() {
    AggregateFn fn;
    if (!IsAggregate(Cur(), &fn)) {
      (void)Unexpected();
      return nullptr;
    }
    Advance();
    if (!Expect(Tok::kLParen, "(")) return nullptr;
    auto s = std::make_unique<ScalarExpr>();
    s->kind = ScalarExpr::Kind::kAggregate;
    s->agg = fn;
    if (fn != AggregateFn::kCount) {
      s->field = ParseField(0);
      if (!s->field) return nullptr;
    }
    if (!Expect(Tok::kRParen, ")")) return nullptr;
    return s;
  }

  std::unique_ptr<ScalarExpr> ParseScalarPrimary() {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const Token& c = Cur();
    AggregateFn fn;
    if (IsAggregate(c, &fn)) return ParseAggregateCall();
    auto lit = [&](Static v) {
      auto s = std::make_unique<ScalarExpr>();
      s->kind = ScalarExpr::Kind::kStatic;
      s->value = v;
      Advance();
      return s;
    };
    switch (c.type) {
      case Tok::kInt:
        return lit(Static::Int(c.i));
      case Tok::kFloat:
        return lit(Static::Float(c.f));
      case Tok::kDuration:
        return lit(Static::Duration(c.i));
      case Tok::kSub: {
        Advance();
        auto inner = ParseScalarPrimary();
        if (!inner) return nullptr;
        if (inner->kind == ScalarExpr::Kind::kStatic) {
          if (inner->value.type == ValueType::kFloat)
            inner->value.f = -inner->value.f;
          else
            inner->value.i = static_cast<int64_t>(0ULL - static_cast<uint64_t>(inner->value.i));
          return inner;
        }
        auto zero = std::make_unique<ScalarExpr>();
        zero->value = Static::Int(0);
        auto s = std::make_unique<ScalarExpr>();
        s->kind = ScalarExpr::Kind::kBinary;
        s->op = Op::kSub;
        s->lhs = std::move(zero);
        s->rhs = std::move(inner);
        return s;
      }
      case Tok::kLParen: {
        Advance();
        auto inner = ParseScalar(0);
        if (!inner || !Expect(Tok::kRParen, ")")) return nullptr;
        return inner;
      }
      default:
        (void)Unexpected();
        return nullptr;
    }
  }

  std::unique_ptr<ScalarExpr> ParseScalar(int min_prec) {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    auto lhs = ParseScalarPrimary();
    if (!lhs) return nullptr;
    while (true) {
      Op op;
      bool right;
      int prec = ArithPrec(Cur().type, &op, &right);
      if (prec < 0 || prec < min_prec) break;
      Advance();
      auto rhs = ParseScalar(right ? prec : prec + 1);
      if (!rhs) return nullptr;
      auto s = std::make_unique<ScalarExpr>();
      s->kind = ScalarExpr::Kind::kBinary;
      s->op = op;
      s->lhs = std::move(lhs);
      s->rhs = std::move(rhs);
      lhs = std::move(s);
    }
    return lhs;
  }

  // Field expression precedences (Tempo's): && || 1; comparisons 2; + - 3;
  // unary ! 4; * / % 5; ^ 6 (right associative).
  static int FieldPrec(Tok t, Op* op, bool* right) {
    *right = false;
    switch (t) {
      case Tok::kAnd:
        *op = Op::kAnd;
        return 1;
      case Tok::kOr:
        *op = Op::kOr;
        return 1;
      case Tok::kEq:
        *op = Op::kEq;
        return 2;
      case Tok::kNeq:
        *op = Op::kNeq;
        return 2;
      case Tok::kLt:
        *op = Op::kLt;
        return 2;
      case Tok::kLte:
        *op = Op::kLte;
        return 2;
      case Tok::kGt:
        *op = Op::kGt;
        return 2;
      case Tok::kGte:
        *op = Op::kGte;
        return 2;
      case Tok::kRe:
        *op = Op::kRe;
        return 2;
      case Tok::kNre:
        *op = Op::kNre;
        return 2;
      default:
        return ArithPrec(t, op, right);
    }
  }

  std::unique_ptr<FieldExpr> ParseField(int min_prec) {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    std::unique_ptr<FieldExpr> lhs;
    if (Cur().type == Tok::kNot || Cur().type == Tok::kSub) {
      bool is_not = Cur().type == Tok::kNot;
      Advance();
      auto operand = ParseField(5);
      if (!operand) return nullptr;
      if (!is_not && operand->kind == FieldExpr::Kind::kStatic && operand->value.is_numeric()) {
        if (operand->value.type == ValueType::kFloat)
          operand->value.f = -operand->value.f;
        else
          operand->value.i = static_cast<int64_t>(0ULL - static_cast<uint64_t>(operand->value.i));
        lhs = std::move(operand);
      } else {
        lhs = std::make_unique<FieldExpr>();
        lhs->kind = FieldExpr::Kind::kUnary;
        lhs->op = is_not ? Op::kNot : Op::kNeg;
        lhs->lhs = std::move(operand);
      }
    } else {
      lhs = ParsePrimaryField();
      if (!lhs) return nullptr;
    }
    while (true) {
      Op op;
      bool right;
      int prec = FieldPrec(Cur().type, &op, &right);
      if (prec < 0 || prec < min_prec) break;
      const Token& op_tok = Cur();
      Advance();
      auto rhs = ParseField(right ? prec : prec + 1);
      if (!rhs) return nullptr;
      auto e = std::make_unique<FieldExpr>();
      e->kind = FieldExpr::Kind::kBinary;
      e->op = op;
      e->lhs = std::move(lhs);
      e->rhs = std::move(rhs);
      if (!CheckBinary(e.get(), op_tok)) return nullptr;
      lhs = std::move(e);
    }
    return lhs;
  }

  bool CheckBinary(FieldExpr* e, const Token& at) {
    if (e->op == Op::kRe || e->op == Op::kNre) {
      if (e->rhs->kind != FieldExpr::Kind::kStatic || e->rhs->value.type != ValueType::kString) {
        Fail(at,
             "syntax error: the right side of " + std::string(OpText(e->op)) + " must be a string");
        return false;
      }
      RE2::Options opts;
      opts.set_log_errors(false);
      opts.set_dot_nl(true);
      auto re = std::make_unique<RE2>(e->rhs->owned, opts);
      if (!re->ok()) {
        err_ = InvalidArgumentError("invalid TraceQL query: error parsing regexp: " + re->error());
        err_pos_ = pos_ + 1'000'000;  // sticks
        return false;
      }
      e->regex = std::move(re);
      return true;
    }
    Implied l = ImpliedType(*e->lhs), r = ImpliedType(*e->rhs);
    if (l == Implied::kUnknown || r == Implied::kUnknown || l == Implied::kNil ||
        r == Implied::kNil) {
      return true;
    }
    bool ok = true;
    switch (e->op) {
      case Op::kAnd:
      case Op::kOr:
        ok = l == Implied::kBool && r == Implied::kBool;
        break;
      case Op::kEq:
      case Op::kNeq:
        ok = l == r || (IsNumericImplied(l) && IsNumericImplied(r));
        break;
      case Op::kLt:
      case Op::kLte:
      case Op::kGt:
      case Op::kGte:
        ok = (IsNumericImplied(l) && IsNumericImplied(r)) ||
             (l == Implied::kString && r == Implied::kString);
        break;
      default:  // arithmetic
        ok = IsNumericImplied(l) && IsNumericImplied(r);
        break;
    }
    if (!ok) {
      Fail(at, "binary operations must operate on the same type: " + FieldExprToString(*e));
      return false;
    }
    return true;
  }

  std::unique_ptr<FieldExpr> ParsePrimaryField() {
    const Token& c = Cur();
    auto e = std::make_unique<FieldExpr>();
    auto lit = [&](Static v) {
      e->kind = FieldExpr::Kind::kStatic;
      e->value = v;
      Advance();
      return std::move(e);
    };
    switch (c.type) {
      case Tok::kLParen: {
        Advance();
        auto inner = ParseField(0);
        if (!inner || !Expect(Tok::kRParen, ")")) return nullptr;
        return inner;
      }
      case Tok::kString:
        e->kind = FieldExpr::Kind::kStatic;
        e->owned = c.text;
        e->value = Static::Str(e->owned);
        Advance();
        return e;
      case Tok::kInt:
        return lit(Static::Int(c.i));
      case Tok::kFloat:
        return lit(Static::Float(c.f));
      case Tok::kDuration:
        return lit(Static::Duration(c.i));
      case Tok::kAttr:
        e->kind = FieldExpr::Kind::kAttribute;
        e->scope = c.scope;
        e->parent = c.parent;
        e->name = c.text;
        Advance();
        return e;
      case Tok::kScopedIntrinsic:
        e->kind = FieldExpr::Kind::kIntrinsic;
        e->intrinsic = c.intrinsic;
        Advance();
        return e;
      case Tok::kIdent: {
        const std::string& w = c.text;
        if (w == "true") return lit(Static::Bool(true));
        if (w == "false") return lit(Static::Bool(false));
        if (w == "nil") return lit(Static::Nil());
        if (w == "cidr" && Peek(1).type == Tok::kLParen) return ParseCidr();
        if (w == "error") return lit(Static::Status(kStatusError));
        if (w == "ok") return lit(Static::Status(kStatusOk));
        if (w == "unset") return lit(Static::Status(kStatusUnset));
        if (w == "unspecified") return lit(Static::Kind(0));
        if (w == "internal") return lit(Static::Kind(1));
        if (w == "server") return lit(Static::Kind(2));
        if (w == "client") return lit(Static::Kind(3));
        if (w == "producer") return lit(Static::Kind(4));
        if (w == "consumer") return lit(Static::Kind(5));
        for (const auto& li : kLegacyIntrinsics) {
          if (li.name == w) {
            e->kind = FieldExpr::Kind::kIntrinsic;
            e->intrinsic = li.intrinsic;
            Advance();
            return e;
          }
        }
        Fail(c, "syntax error: unexpected IDENTIFIER " + w);
        return nullptr;
      }
      default:
        (void)Unexpected();
        return nullptr;
    }
  }

  // cidr(field, "prefix"[, "prefix"...]) as Tempo's: true when the field is
  // a string IP address inside one of the prefixes (IPv4 and IPv6).
  std::unique_ptr<FieldExpr> ParseCidr() {
    const Token at = Cur();
    Advance();  // cidr
    Advance();  // (
    auto e = std::make_unique<FieldExpr>();
    e->kind = FieldExpr::Kind::kCidr;
    e->lhs = ParseField(0);
    if (!e->lhs) return nullptr;
    Implied t = ImpliedType(*e->lhs);
    if (t != Implied::kUnknown && t != Implied::kString) {
      Fail(at, "cidr() requires a string attribute as its first argument: " +
                   FieldExprToString(*e->lhs));
      return nullptr;
    }
    while (Cur().type == Tok::kComma) {
      Advance();
      if (Cur().type != Tok::kString) {
        Fail(Cur(), "syntax error: unexpected " + Cur().text + ", expecting CIDR prefix string");
        return nullptr;
      }
      IpPrefix p;
      if (!ParseIpPrefix(Cur().text, &p)) {
        Fail(Cur(), "cidr() has an invalid prefix \"" + Cur().text + "\"");
        return nullptr;
      }
      e->cidr_text.push_back(Cur().text);
      e->cidrs.push_back(p);
      Advance();
    }
    if (e->cidrs.empty()) {
      Fail(at, "cidr() requires at least one prefix");
      return nullptr;
    }
    if (!Expect(Tok::kRParen, ")")) return nullptr;
    return e;
  }

  bool ParseMetrics(Query* q) {
    const Token& c = Cur();
    MetricsAggregate m;
    const std::string fn = c.text;
    if (fn == "rate")
      m.fn = MetricsFn::kRate;
    else if (fn == "count_over_time")
      m.fn = MetricsFn::kCountOverTime;
    else if (fn == "sum_over_time")
      m.fn = MetricsFn::kSumOverTime;
    else if (fn == "min_over_time")
      m.fn = MetricsFn::kMinOverTime;
    else if (fn == "max_over_time")
      m.fn = MetricsFn::kMaxOverTime;
    else if (fn == "avg_over_time")
      m.fn = MetricsFn::kAvgOverTime;
    else if (fn == "quantile_over_time")
      m.fn = MetricsFn::kQuantileOverTime;
    else if (fn == "compare")
      m.fn = MetricsFn::kCompare;
    else
      m.fn = MetricsFn::kHistogramOverTime;
    const Token fn_tok = c;
    Advance();
    if (!Expect(Tok::kLParen, "(")) return false;
    if (m.fn == MetricsFn::kCompare) {
      // compare({ filter }[, topN[, start, end]]) as Tempo's grammar.
      if (!Expect(Tok::kLBrace, "{")) return false;
      if (Cur().type != Tok::kRBrace) {
        m.compare_filter = ParseField(0);
        if (!m.compare_filter) return false;
      }
      if (!Expect(Tok::kRBrace, "}")) return false;
      std::vector<int64_t> nums;
      while (Cur().type == Tok::kComma) {
        Advance();
        if (Cur().type != Tok::kInt) {
          Fail(Cur(), "syntax error: unexpected " + Cur().text + ", expecting integer");
          return false;
        }
        nums.push_back(Cur().i);
        Advance();
      }
      if (nums.size() == 2 || nums.size() > 3) {
        Fail(fn_tok, "compare() takes a filter, then optionally topN, or topN, start and end");
        return false;
      }
      if (!nums.empty()) m.compare_top_n = nums[0];
      if (nums.size() == 3) {
        m.compare_start = nums[1];
        m.compare_end = nums[2];
      }
      if (m.compare_top_n <= 0) {
        Fail(fn_tok, "compare() top number of values must be integer greater than 0");
        return false;
      }
      if (m.compare_start != 0 || m.compare_end != 0) {
        if (m.compare_start <= 0 || m.compare_end <= 0) {
          Fail(fn_tok, "compare() timestamps must be positive integer unix nanoseconds");
          return false;
        }
        if (m.compare_end <= m.compare_start) {
          Fail(fn_tok, "compare() end timestamp must be greater than start timestamp");
          return false;
        }
      }
    } else if (m.fn != MetricsFn::kRate && m.fn != MetricsFn::kCountOverTime) {
      m.attr = ParseField(0);
      if (!m.attr) return false;
      if (m.fn == MetricsFn::kQuantileOverTime) {
        while (Cur().type == Tok::kComma) {
          Advance();
          bool neg = false;
          if (Cur().type == Tok::kSub) {
            neg = true;
            Advance();
          }
          if (Cur().type != Tok::kFloat && Cur().type != Tok::kInt) {
            Fail(Cur(), "syntax error: unexpected " + Cur().text + ", expecting quantile");
            return false;
          }
          double v = Cur().type == Tok::kFloat ? Cur().f : static_cast<double>(Cur().i);
          if (neg) v = -v;
          if (v < 0 || v > 1) {
            Fail(Cur(), "quantile must be between 0 and 1: " + Cur().text);
            return false;
          }
          m.quantiles.push_back(v);
          Advance();
        }
        if (m.quantiles.empty()) {
          Fail(Cur(), "quantile_over_time needs at least one quantile");
          return false;
        }
      }
    }
    if (!Expect(Tok::kRParen, ")")) return false;
    if (Cur().type == Tok::kIdent && Cur().text == "by" && m.fn == MetricsFn::kCompare) {
      Fail(Cur(), "compare() does not take by(): it splits by every attribute");
      return false;
    }
    if (Cur().type == Tok::kIdent && Cur().text == "by") {
      Advance();
      if (!Expect(Tok::kLParen, "(")) return false;
      while (true) {
        auto f = ParseField(0);
        if (!f) return false;
        if (f->kind != FieldExpr::Kind::kAttribute && f->kind != FieldExpr::Kind::kIntrinsic) {
          Fail(fn_tok, "by() in metrics queries takes attributes, got " + FieldExprToString(*f));
          return false;
        }
        m.by.push_back(std::move(f));
        if (Cur().type == Tok::kComma) {
          Advance();
          continue;
        }
        break;
      }
      if (!Expect(Tok::kRParen, ")")) return false;
    }
    q->metrics = std::move(m);
    return true;
  }

  static bool IsComparison(Tok t) {
    return t == Tok::kEq || t == Tok::kNeq || t == Tok::kLt || t == Tok::kLte || t == Tok::kGt ||
           t == Tok::kGte;
  }

  // A filter on the metrics' data points: `> 10`, `<= 0.5`, `> 1.5s`.
  bool ParseMetricsFilter(Query* q) {
    SecondStage s;
    s.kind = SecondStage::Kind::kFilter;
    switch (Cur().type) {
      case Tok::kEq:
        s.op = Op::kEq;
        break;
      case Tok::kNeq:
        s.op = Op::kNeq;
        break;
      case Tok::kLt:
        s.op = Op::kLt;
        break;
      case Tok::kLte:
        s.op = Op::kLte;
        break;
      case Tok::kGt:
        s.op = Op::kGt;
        break;
      default:
        s.op = Op::kGte;
        break;
    }
    Advance();
    bool neg = false;
    if (Cur().type == Tok::kSub) {
      neg = true;
      Advance();
    }
    const Token& c = Cur();
    switch (c.type) {
      case Tok::kInt:
        s.threshold = static_cast<double>(c.i);
        break;
      case Tok::kFloat:
        s.threshold = c.f;
        break;
      case Tok::kDuration:
        s.threshold = static_cast<double>(c.i) / 1e9;
        break;
      default:
        Fail(c,
             "syntax error: a metrics query can only be compared with a number or a "
             "duration, got " +
                 (c.type == Tok::kEof ? std::string("end of query") : c.text));
        return false;
    }
    if (neg) s.threshold = -s.threshold;
    s.threshold_text = (neg ? "-" : "") + c.text;
    Advance();
    q->second_stage.push_back(std::move(s));
    return true;
  }

  bool ParseSecondStage(Query* q) {
    const Token& c = Cur();
    if (c.type != Tok::kIdent || (c.text != "topk" && c.text != "bottomk")) {
      (void)Unexpected();
      return false;
    }
    SecondStage s;
    s.topk = c.text == "topk";
    s.kind = s.topk ? SecondStage::Kind::kTopK : SecondStage::Kind::kBottomK;
    Advance();
    if (!Expect(Tok::kLParen, "(")) return false;
    if (Cur().type != Tok::kInt || Cur().i <= 0) {
      Fail(Cur(), "syntax error: " + std::string(s.topk ? "topk" : "bottomk") +
                      " needs a positive integer, got " + Cur().text);
      return false;
    }
    s.k = Cur().i;
    Advance();
    if (!Expect(Tok::kRParen, ")")) return false;
    q->second_stage.push_back(s);
    return true;
  }

  bool ParseHints(Query* q) {
    Advance();  // with
    if (!Expect(Tok::kLParen, "(")) return false;
    while (true) {
      if (Cur().type != Tok::kIdent) {
        (void)Unexpected();
        return false;
      }
      Hint h;
      h.name = Cur().text;
      Advance();
      if (!Expect(Tok::kEq, "=")) return false;
      auto v = ParseField(0);
      if (!v) return false;
      if (v->kind != FieldExpr::Kind::kStatic) {
        Fail(Cur(), "hint values must be literals: " + h.name);
        return false;
      }
      h.owned = v->owned;
      h.value = v->value;
      if (h.value.type == ValueType::kString) h.value.s = h.owned;
      q->hints.push_back(std::move(h));
      if (Cur().type == Tok::kComma) {
        Advance();
        continue;
      }
      break;
    }
    if (!Expect(Tok::kRParen, ")")) return false;
    // Strings in hints must point at the final storage.
    for (Hint& h : q->hints) {
      if (h.value.type == ValueType::kString) h.value.s = h.owned;
    }
    return true;
  }

  Status Validate(const Element& e) {
    switch (e.kind) {
      case Element::Kind::kFilter:
        if (e.expr) {
          Implied t = ImpliedType(*e.expr);
          if (t != Implied::kBool && t != Implied::kUnknown) {
            return InvalidArgumentError(
                "invalid TraceQL query: filter field expressions must evaluate to boolean: " +
                FieldExprToString(*e.expr));
          }
        }
        return Status::Ok();
      case Element::Kind::kSpansetOp:
        SL_RETURN_IF_ERROR(Validate(*e.lhs));
        return Validate(*e.rhs);
      case Element::Kind::kPipeline:
        for (const auto& s : e.stages) SL_RETURN_IF_ERROR(Validate(*s));
        return Status::Ok();
      case Element::Kind::kScalarFilter:
        if (e.slhs->kind == ScalarExpr::Kind::kPipeline) return Validate(*e.slhs->pipeline);
        return Status::Ok();
      default:
        return Status::Ok();
    }
  }

  // Counts recursion; Enter() fails the parse past kMaxDepth.
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) { ++p_->depth_; }
    ~DepthGuard() { --p_->depth_; }
    bool ok() {
      if (p_->depth_ <= kMaxDepth) return true;
      p_->err_ = InvalidArgumentError("invalid TraceQL query: expression is nested too deeply");
      p_->err_pos_ = SIZE_MAX;
      return false;
    }
    Parser* p_;
  };

  std::vector<Token> t_;
  size_t pos_ = 0;
  Status err_;
  size_t err_pos_ = 0;
  int depth_ = 0;
};

void CollectTouched(const FieldExpr& e, std::vector<const FieldExpr*>* out) {
  switch (e.kind) {
    case FieldExpr::Kind::kAttribute:
    case FieldExpr::Kind::kIntrinsic:
      out->push_back(&e);
      return;
    case FieldExpr::Kind::kBinary:
      CollectTouched(*e.lhs, out);
      CollectTouched(*e.rhs, out);
      return;
    case FieldExpr::Kind::kUnary:
    case FieldExpr::Kind::kCidr:
      CollectTouched(*e.lhs, out);
      return;
    default:
      return;
  }
}

bool FieldNeedsStructure(const FieldExpr& e) {
  switch (e.kind) {
    case FieldExpr::Kind::kAttribute:
      return e.parent;
    case FieldExpr::Kind::kIntrinsic:
      return e.intrinsic == Intrinsic::kChildCount || e.intrinsic == Intrinsic::kNestedSetLeft ||
             e.intrinsic == Intrinsic::kNestedSetRight ||
             e.intrinsic == Intrinsic::kNestedSetParent;
    case FieldExpr::Kind::kBinary:
      return FieldNeedsStructure(*e.lhs) || FieldNeedsStructure(*e.rhs);
    case FieldExpr::Kind::kUnary:
    case FieldExpr::Kind::kCidr:
      return FieldNeedsStructure(*e.lhs);
    default:
      return false;
  }
}

void Analyze(const Element& e, Query* q) {
  switch (e.kind) {
    case Element::Kind::kFilter:
      if (e.expr) {
        CollectTouched(*e.expr, &q->touched);
        q->needs_structure |= FieldNeedsStructure(*e.expr);
      }
      return;
    case Element::Kind::kSpansetOp:
      if (e.op != SpansetOp::kAnd && e.op != SpansetOp::kOr) q->needs_structure = true;
      Analyze(*e.lhs, q);
      Analyze(*e.rhs, q);
      return;
    case Element::Kind::kPipeline:
      for (const auto& s : e.stages) Analyze(*s, q);
      return;
    case Element::Kind::kSelect:
      for (const auto& f : e.fields) {
        CollectTouched(*f, &q->touched);
        q->needs_structure |= FieldNeedsStructure(*f);
      }
      return;
    case Element::Kind::kBy:
      q->needs_structure |= FieldNeedsStructure(*e.expr);
      return;
    case Element::Kind::kScalarFilter:
      if (e.slhs && e.slhs->kind == ScalarExpr::Kind::kPipeline) Analyze(*e.slhs->pipeline, q);
      return;
    default:
      return;
  }
}

}  // namespace

// Longer queries are refused: evaluation recurses along operator chains.
constexpr size_t kMaxTokens = 8192;

Result<std::unique_ptr<Query>> ParseQuery(std::string_view text) {
  std::vector<Token> toks;
  SL_RETURN_IF_ERROR(Lexer(text).Run(&toks));
  if (toks.size() > kMaxTokens) {
    return InvalidArgumentError("invalid TraceQL query: the query is too long (more than " +
                                std::to_string(kMaxTokens) + " tokens)");
  }
  Parser p(std::move(toks));
  SL_ASSIGN_OR_RETURN(auto q, p.ParseRoot());
  Analyze(*q->pipeline, q.get());
  if (q->metrics) {
    for (const auto& b : q->metrics->by) q->needs_structure |= FieldNeedsStructure(*b);
    if (q->metrics->attr) q->needs_structure |= FieldNeedsStructure(*q->metrics->attr);
  }
  // Deduplicate touched fields by printed form.
  std::vector<const FieldExpr*> uniq;
  std::vector<std::string> seen;
  for (const FieldExpr* f : q->touched) {
    std::string s = FieldExprToString(*f);
    bool dup = false;
    for (const auto& x : seen) dup |= x == s;
    if (!dup) {
      seen.push_back(std::move(s));
      uniq.push_back(f);
    }
  }
  q->touched = std::move(uniq);
  return q;
}

Result<std::unique_ptr<FieldExpr>> ParseTagAttribute(std::string_view text) {
  std::vector<Token> toks;
  SL_RETURN_IF_ERROR(Lexer(text).Run(&toks));
  Parser p(std::move(toks));
  return p.ParseSingleAttribute();
}

}  // namespace sightline::traces::traceql
