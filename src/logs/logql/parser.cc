// LogQL lexer and recursive-descent parser (Loki's grammar, expr.y), and
// the public Parse()/Format()/ParsedQuery of engine.h.
#include <fmt/format.h>
#include <re2/re2.h>

#include <cmath>
#include <unordered_set>

#include "logs/logql/ast.h"
#include "logs/logql/engine.h"
#include "logs/logql/stages.h"
#include "metrics/promql/go_text.h"

namespace sightline::logs::logql {
namespace {

enum class Tok {
  kEof, kIdent, kString, kNumber, kDuration, kBytes, kRange,
  kLBrace, kRBrace, kLParen, kRParen, kComma,
  kEq, kNeq, kRe, kNre, kPipeExact, kPipeMatch, kPipePattern, kNotPattern, kPipe,
  kCmpEq, kGt, kGte, kLt, kLte,
  kAdd, kSub, kMul, kDiv, kMod, kPow,
  kFlag,  // --strict / --keep-empty
  kError,
};

struct Token {
  Tok t = Tok::kEof;
  std::string text;   // source text (strings: unquoted value; range: inside [])
  size_t pos = 0;
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Durations in queries: Go's units plus d, w, y, with fractions.
bool ParseQueryDuration(std::string_view s, int64_t* ns) {
  if (s.empty()) return false;
  long double total = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  while (!s.empty()) {
    size_t i = 0;
    long double v = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      v = v * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double sc = 0.1L;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        v += (s[i] - '0') * sc;
        sc /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return false;
    size_t u = i;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    long double m;
    if (unit == "ns") m = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") m = 1e3L;
    else if (unit == "ms") m = 1e6L;
    else if (unit == "s") m = 1e9L;
    else if (unit == "m") m = 60e9L;
    else if (unit == "h") m = 3600e9L;
    else if (unit == "d") m = 86400e9L;
    else if (unit == "w") m = 7 * 86400e9L;
    else if (unit == "y") m = 365 * 86400e9L;
    else return false;
    total += v * m;
    s.remove_prefix(u);
  }
  if (total > 9.2e18L) return false;
  *ns = static_cast<int64_t>(total) * (neg ? -1 : 1);
  return true;
}

// Bytes literals in queries are case-sensitive (humanize's unit names).
bool IsBytesLiteral(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  std::string_view u = s.substr(i);
  static const std::unordered_set<std::string_view> kUnits = {
      "B", "kB", "KB", "KiB", "MB", "MiB", "GB", "GiB", "TB", "TiB", "PB", "PiB", "EB", "EiB"};
  return kUnits.count(u) > 0;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token Next() {
    SkipWs();
    Token t;
    t.pos = i_;
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    auto two = [&](std::string_view p) { return s_.substr(i_, 2) == p; };
    auto emit = [&](Tok k, size_t n) {
      t.t = k;
      t.text = std::string(s_.substr(i_, n));
      i_ += n;
      return t;
    };
    if (two("--") && i_ + 2 < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_ + 2]))) {
      size_t j = i_ + 2;
      while (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '-')) ++j;
      return emit(Tok::kFlag, j - i_);
    }
    if (two("|=")) return emit(Tok::kPipeExact, 2);
    if (two("|~")) return emit(Tok::kPipeMatch, 2);
    if (two("|>")) return emit(Tok::kPipePattern, 2);
    if (two("!>")) return emit(Tok::kNotPattern, 2);
    if (two("!=")) return emit(Tok::kNeq, 2);
    if (two("!~")) return emit(Tok::kNre, 2);
    if (two("=~")) return emit(Tok::kRe, 2);
    if (two("==")) return emit(Tok::kCmpEq, 2);
    if (two(">=")) return emit(Tok::kGte, 2);
    if (two("<=")) return emit(Tok::kLte, 2);
    switch (c) {
      case '{': return emit(Tok::kLBrace, 1);
      case '}': return emit(Tok::kRBrace, 1);
      case '(': return emit(Tok::kLParen, 1);
      case ')': return emit(Tok::kRParen, 1);
      case ',': return emit(Tok::kComma, 1);
      case '=': return emit(Tok::kEq, 1);
      case '|': return emit(Tok::kPipe, 1);
      case '>': return emit(Tok::kGt, 1);
      case '<': return emit(Tok::kLt, 1);
      case '+': return emit(Tok::kAdd, 1);
      case '-': return emit(Tok::kSub, 1);
      case '*': return emit(Tok::kMul, 1);
      case '/': return emit(Tok::kDiv, 1);
      case '%': return emit(Tok::kMod, 1);
      case '^': return emit(Tok::kPow, 1);
      default: break;
    }
    if (c == '[') {
      size_t e = s_.find(']', i_);
      if (e == std::string_view::npos) {
        t.t = Tok::kError;
        t.text = "unclosed range";
        i_ = s_.size();
        return t;
      }
      t.t = Tok::kRange;
      std::string_view inner = s_.substr(i_ + 1, e - i_ - 1);
      while (!inner.empty() && inner.front() == ' ') inner.remove_prefix(1);
      while (!inner.empty() && inner.back() == ' ') inner.remove_suffix(1);
      t.text = std::string(inner);
      i_ = e + 1;
      return t;
    }
    if (c == '"' || c == '`') {
      size_t j = i_ + 1;
      while (j < s_.size() && s_[j] != c) {
        if (c == '"' && s_[j] == '\\') ++j;
        ++j;
      }
      if (j >= s_.size()) {
        t.t = Tok::kError;
        t.text = "literal not terminated";
        i_ = s_.size();
        return t;
      }
      std::string_view lit = s_.substr(i_, j - i_ + 1);
      auto u = promql::UnquoteGo(lit);
      if (!u.ok()) {
        t.t = Tok::kError;
        t.text = "invalid quoted string";
        i_ = j + 1;
        return t;
      }
      t.t = Tok::kString;
      t.text = std::move(*u);
      i_ = j + 1;
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      size_t j = i_;
      while (j < s_.size()) {
        char d = s_[j];
        if (std::isalnum(static_cast<unsigned char>(d)) || d == '.' || d == '_') {
          ++j;
        } else if ((d == '+' || d == '-') && j > i_ &&
                   (((s_[j - 1] == 'e' || s_[j - 1] == 'E') && s_.substr(i_, 2) != "0x" &&
                     s_.substr(i_, 2) != "0X") ||
                    ((s_[j - 1] == 'p' || s_[j - 1] == 'P') &&
                     (s_.substr(i_, 2) == "0x" || s_.substr(i_, 2) == "0X")))) {
          ++j;
        } else if (static_cast<unsigned char>(d) == 0xc2 && j + 1 < s_.size() &&
                   static_cast<unsigned char>(s_[j + 1]) == 0xb5) {
          j += 2;
        } else {
          break;
        }
      }
      std::string_view run = s_.substr(i_, j - i_);
      int64_t ns;
      bool all_num = run.find_first_not_of("0123456789.") == std::string_view::npos;
      if (!all_num && ParseQueryDuration(run, &ns)) return emit(Tok::kDuration, run.size());
      if (IsBytesLiteral(run)) return emit(Tok::kBytes, run.size());
      // A number: decimal with optional exponent, or 0x/0o/0b forms.
      size_t k = 0;
      if (run.size() > 1 && run[0] == '0' && std::isalpha(static_cast<unsigned char>(run[1])) &&
          (run[1] == 'x' || run[1] == 'X' || run[1] == 'o' || run[1] == 'O' || run[1] == 'b' ||
           run[1] == 'B')) {
        k = 2;
        bool hex = run[1] == 'x' || run[1] == 'X';
        while (k < run.size() && (std::isxdigit(static_cast<unsigned char>(run[k])) ||
                                  (hex && run[k] == '.'))) {
          ++k;
        }
        if (hex && k < run.size() && (run[k] == 'p' || run[k] == 'P')) {
          ++k;
          if (k < run.size() && (run[k] == '+' || run[k] == '-')) ++k;
          while (k < run.size() && std::isdigit(static_cast<unsigned char>(run[k]))) ++k;
        } else if (hex && j < s_.size() && (s_[j] == '+' || s_[j] == '-') && k == run.size() &&
                   (run.back() == 'p' || run.back() == 'P')) {
          // handled by the run scan below
        }
        return emit(Tok::kNumber, k);
      }
      while (k < run.size() && (std::isdigit(static_cast<unsigned char>(run[k])) || run[k] == '.')) ++k;
      if (k < run.size() && (run[k] == 'e' || run[k] == 'E')) {
        size_t m = k + 1;
        if (m < run.size() && (run[m] == '+' || run[m] == '-')) ++m;
        size_t d0 = m;
        while (m < run.size() && std::isdigit(static_cast<unsigned char>(run[m]))) ++m;
        if (m > d0) k = m;
      }
      if (k == run.size()) return emit(Tok::kNumber, k);
      // The longest prefix that is a duration (1mb -> 1m, b).
      for (size_t p = run.size() - 1; p > k; --p) {
        if (ParseQueryDuration(run.substr(0, p), &ns)) return emit(Tok::kDuration, p);
      }
      return emit(Tok::kNumber, k);
    }
    if (IsIdentStart(c)) {
      size_t j = i_ + 1;
      while (j < s_.size() && IsIdentChar(s_[j])) ++j;
      return emit(Tok::kIdent, j - i_);
    }
    t.t = Tok::kError;
    t.text = std::string(1, c);
    i_ += 1;
    return t;
  }

 private:
  void SkipWs() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

const std::unordered_set<std::string_view>& RangeOps() {
  static const std::unordered_set<std::string_view> k = {
      "count_over_time", "rate", "rate_counter", "bytes_over_time", "bytes_rate",
      "avg_over_time", "sum_over_time", "min_over_time", "max_over_time", "stdvar_over_time",
      "stddev_over_time", "quantile_over_time", "first_over_time", "last_over_time",
      "absent_over_time"};
  return k;
}
const std::unordered_set<std::string_view>& VectorOps() {
  static const std::unordered_set<std::string_view> k = {
      "sum", "avg", "count", "max", "min", "stddev", "stdvar", "bottomk", "topk", "sort",
      "sort_desc", "approx_topk"};
  return k;
}
const std::unordered_set<std::string_view>& Keywords() {
  static const std::unordered_set<std::string_view> k = {
      "by", "without", "bool", "on", "ignoring", "group_left", "group_right", "offset", "and",
      "or", "unless", "ip", "json", "logfmt", "regexp", "pattern", "unpack", "line_format",
      "label_format", "decolorize", "drop", "keep", "unwrap", "vector", "label_replace",
      "bytes", "duration", "duration_seconds"};
  return k;
}

class Parser {
 public:
  explicit Parser(std::string_view q) : q_(q), lex_(q) { Advance(); }

  Result<std::unique_ptr<Expr>> ParseQuery() {
    auto e = ParseExpr(0);
    if (!e.ok()) return e.status();
    if (cur_.t != Tok::kEof) return Unexpected();
    return e;
  }

 private:
  void Advance() {
    cur_ = next_valid_ ? std::move(next_) : lex_.Next();
    next_valid_ = false;
  }
  const Token& Peek() {
    if (!next_valid_) {
      next_ = lex_.Next();
      next_valid_ = true;
    }
    return next_;
  }

  bool IsIdent(std::string_view w) const { return cur_.t == Tok::kIdent && cur_.text == w; }

  std::string Describe(const Token& t) const {
    switch (t.t) {
      case Tok::kEof: return "$end";
      case Tok::kIdent:
        if (Keywords().count(t.text) || RangeOps().count(t.text) || VectorOps().count(t.text)) {
          return t.text;
        }
        return "IDENTIFIER";
      case Tok::kString: return "STRING";
      case Tok::kNumber: return "NUMBER";
      case Tok::kDuration: return "DURATION";
      case Tok::kBytes: return "BYTES";
      case Tok::kRange: return "RANGE";
      default: return t.text;
    }
  }

  Status ErrAt(size_t pos, const std::string& msg) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < q_.size(); ++i) {
      if (q_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgumentError(fmt::format("parse error at line {}, col {}: {}", line, col, msg));
  }
  Status Unexpected(std::string_view expecting = {}) const {
    if (cur_.t == Tok::kError) return ErrAt(cur_.pos, "syntax error: unexpected " + cur_.text);
    std::string m = "syntax error: unexpected " + Describe(cur_);
    if (!expecting.empty()) m += fmt::format(", expecting {}", expecting);
    return ErrAt(cur_.pos, m);
  }
  static Status Semantic(const std::string& msg) {
    return InvalidArgumentError("parse error : " + msg);
  }

  Status Expect(Tok t, std::string_view what) {
    if (cur_.t != t) return Unexpected(what);
    Advance();
    return Status::Ok();
  }

  // ---------------------------------------------------------- exprs --

  static int Precedence(const Token& t, std::string* op) {
    switch (t.t) {
      case Tok::kIdent:
        if (t.text == "or") { *op = "or"; return 1; }
        if (t.text == "and") { *op = "and"; return 2; }
        if (t.text == "unless") { *op = "unless"; return 2; }
        return -1;
      case Tok::kCmpEq: *op = "=="; return 3;
      case Tok::kNeq: *op = "!="; return 3;
      case Tok::kGt: *op = ">"; return 3;
      case Tok::kGte: *op = ">="; return 3;
      case Tok::kLt: *op = "<"; return 3;
      case Tok::kLte: *op = "<="; return 3;
      case Tok::kAdd: *op = "+"; return 4;
      case Tok::kSub: *op = "-"; return 4;
      case Tok::kMul: *op = "*"; return 5;
      case Tok::kDiv: *op = "/"; return 5;
      case Tok::kMod: *op = "%"; return 5;
      case Tok::kPow: *op = "^"; return 6;
      default: return -1;
    }
  }

  Result<std::unique_ptr<Expr>> ParseExpr(int min_prec) {
    auto lhs = ParseUnary();
    if (!lhs.ok()) return lhs.status();
    std::unique_ptr<Expr> left = std::move(*lhs);
    while (true) {
      std::string op;
      int prec = Precedence(cur_, &op);
      if (prec < 0 || prec < min_prec) break;
      Advance();
      auto b = std::make_unique<Expr>();
      b->kind = Expr::Kind::kBinary;
      b->op = op;
      bool is_cmp = prec == 3;
      if (IsIdent("bool")) {
        if (!is_cmp) return Semantic("bool modifier can only be used on comparison operators");
        b->return_bool = true;
        Advance();
      }
      if (IsIdent("on") || IsIdent("ignoring")) {
        b->matching.has_matching = true;
        b->matching.on = cur_.text == "on";
        Advance();
        auto labels = ParseLabelList();
        if (!labels.ok()) return labels.status();
        b->matching.labels = std::move(*labels);
        if (IsIdent("group_left") || IsIdent("group_right")) {
          b->matching.card = cur_.text == "group_left" ? VectorMatching::Card::kManyToOne
                                                       : VectorMatching::Card::kOneToMany;
          Advance();
          if (cur_.t == Tok::kLParen) {
            auto inc = ParseLabelList();
            if (!inc.ok()) return inc.status();
            b->matching.include = std::move(*inc);
          }
        }
      }
      if (IsIdent("bool")) return Unexpected();
      int next_min = op == "^" ? prec : prec + 1;
      auto rhs = ParseExpr(next_min);
      if (!rhs.ok()) return rhs.status();
      b->lhs = std::move(left);
      b->rhs = std::move(*rhs);
      if (Status s = CheckBinary(*b); !s.ok()) return s;
      left = std::move(b);
    }
    return left;
  }

  Status CheckBinary(Expr& b) {
    bool set_op = b.op == "and" || b.op == "or" || b.op == "unless";
    if (b.lhs->IsLog() || b.rhs->IsLog()) {
      return Semantic(fmt::format("unexpected log query in binary operation {}", b.op));
    }
    if (set_op) {
      if (b.lhs->kind == Expr::Kind::kLiteral) {
        return Semantic(fmt::format(
            "unexpected literal for left leg of logical/set binary operation ({}): {}", b.op,
            promql::FormatFloatFixed(b.lhs->value, 6)));
      }
      if (b.rhs->kind == Expr::Kind::kLiteral) {
        return Semantic(fmt::format(
            "unexpected literal for right leg of logical/set binary operation ({}): {}", b.op,
            promql::FormatFloatFixed(b.rhs->value, 6)));
      }
    }
    bool cmp = b.op == "==" || b.op == "!=" || b.op == ">" || b.op == ">=" || b.op == "<" ||
               b.op == "<=";
    // Literal op literal folds to a literal (Loki reduces binary
    // operations on literals at parse time).
    if (b.lhs->kind == Expr::Kind::kLiteral && b.rhs->kind == Expr::Kind::kLiteral && !set_op) {
      double l = b.lhs->value, r = b.rhs->value, v = 0;
      if (b.op == "+") v = l + r;
      else if (b.op == "-") v = l - r;
      else if (b.op == "*") v = l * r;
      else if (b.op == "/") v = r == 0 ? std::nan("") : l / r;
      else if (b.op == "%") v = r == 0 ? std::nan("") : std::fmod(l, r);
      else if (b.op == "^") v = std::pow(l, r);
      else if (cmp) {
        bool t = b.op == "==" ? l == r : b.op == "!=" ? l != r : b.op == ">" ? l > r
               : b.op == ">=" ? l >= r : b.op == "<" ? l < r : l <= r;
        v = t ? 1 : 0;
        if (!b.return_bool && !t) v = 0;  // Loki: scalar comparisons return 0/1
      }
      b.kind = Expr::Kind::kLiteral;
      b.value = v;
      b.lhs.reset();
      b.rhs.reset();
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ParseLabelList() {
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    std::vector<std::string> out;
    while (cur_.t != Tok::kRParen) {
      if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
      out.push_back(cur_.text);
      Advance();
      if (cur_.t == Tok::kComma) {
        Advance();
        continue;
      }
      if (cur_.t != Tok::kRParen) return Unexpected(")");
    }
    Advance();
    return out;
  }

  Result<double> ParseNumberText(const std::string& text) {
    auto v = ParseGoFloat(text);
    if (!v.ok()) {
      return Semantic(fmt::format("unable to parse literal as a float: {}", v.status().message()));
    }
    return *v;
  }

  Result<std::unique_ptr<Expr>> ParseUnary() {
    if (cur_.t == Tok::kSub || cur_.t == Tok::kAdd) {
      bool neg = cur_.t == Tok::kSub;
      Advance();
      if (cur_.t != Tok::kNumber) return Unexpected("NUMBER");
      auto v = ParseNumberText(cur_.text);
      if (!v.ok()) return v.status();
      Advance();
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::kLiteral;
      e->value = neg ? -*v : *v;
      return e;
    }
    return ParsePrimary();
  }

  Result<std::unique_ptr<Expr>> ParsePrimary() {
    switch (cur_.t) {
      case Tok::kNumber: {
        auto v = ParseNumberText(cur_.text);
        if (!v.ok()) return v.status();
        Advance();
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kLiteral;
        e->value = *v;
        return e;
      }
      case Tok::kLParen: {
        Advance();
        auto e = ParseExpr(0);
        if (!e.ok()) return e.status();
        if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
        return e;
      }
      case Tok::kLBrace: {
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kLog;
        auto m = ParseSelector();
        if (!m.ok()) return m.status();
        e->log.matchers = std::move(*m);
        if (Status s = ParsePipeline(&e->log.stages, nullptr); !s.ok()) return s;
        if (cur_.t == Tok::kRange) return Unexpected();
        return e;
      }
      case Tok::kIdent:
        if (RangeOps().count(cur_.text)) return ParseRangeAgg();
        if (VectorOps().count(cur_.text)) return ParseVectorAgg();
        if (cur_.text == "vector") return ParseVectorFn();
        if (cur_.text == "label_replace") return ParseLabelReplace();
        return Unexpected();
      default:
        return Unexpected();
    }
  }

  Result<std::unique_ptr<Expr>> ParseVectorFn() {
    Advance();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    bool neg = false;
    if (cur_.t == Tok::kSub) {
      neg = true;
      Advance();
    }
    if (cur_.t != Tok::kNumber) return Unexpected("NUMBER");
    auto v = ParseNumberText(cur_.text);
    if (!v.ok()) return v.status();
    Advance();
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kVector;
    e->value = neg ? -*v : *v;
    return e;
  }

  Result<std::unique_ptr<Expr>> ParseLabelReplace() {
    Advance();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    auto inner = ParseExpr(0);
    if (!inner.ok()) return inner.status();
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kLabelReplace;
    e->lhs = std::move(*inner);
    std::string* fields[] = {&e->dst, &e->replacement, &e->src, &e->regex};
    for (std::string* f : fields) {
      if (Status s = Expect(Tok::kComma, ","); !s.ok()) return s;
      if (cur_.t != Tok::kString) return Unexpected("STRING");
      *f = cur_.text;
      Advance();
    }
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    if (e->lhs->IsLog()) return Semantic("label_replace requires a metric query");
    auto m = promql::Matcher::Make(promql::MatchType::kRegexp, "x", e->regex);
    if (!m.ok()) return Semantic(m.status().message());
    re2::RE2::Options o;
    o.set_log_errors(false);
    o.set_dot_nl(true);
    e->compiled_regex = std::make_shared<const re2::RE2>("^(?:" + e->regex + ")$", o);
    if (!e->compiled_regex->ok()) return Semantic("error parsing regexp: " + e->compiled_regex->error());
    if (!promql::IsLegacyLabelName(e->dst)) {
      return Semantic(fmt::format("invalid destination label name in label_replace(): {}", e->dst));
    }
    return e;
  }

  Result<std::optional<Grouping>> MaybeGrouping() {
    if (!IsIdent("by") && !IsIdent("without")) return std::optional<Grouping>();
    Grouping g;
    g.without = cur_.text == "without";
    Advance();
    auto l = ParseLabelList();
    if (!l.ok()) return l.status();
    g.labels = std::move(*l);
    return std::optional<Grouping>(std::move(g));
  }

  Result<std::unique_ptr<Expr>> ParseVectorAgg() {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kVectorAgg;
    e->op = cur_.text;
    Advance();
    auto g1 = MaybeGrouping();
    if (!g1.ok()) return g1.status();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    bool needs_param = e->op == "topk" || e->op == "bottomk" || e->op == "approx_topk";
    if (cur_.t == Tok::kNumber && Peek().t == Tok::kComma) {
      auto v = ParseNumberText(cur_.text);
      if (!v.ok()) return v.status();
      e->param = *v;
      Advance();
      Advance();
      if (!needs_param) return Semantic(fmt::format("unsupported parameter for operation {}({},", e->op, promql::FormatFloatV(*v)));
    }
    auto inner = ParseExpr(0);
    if (!inner.ok()) return inner.status();
    e->lhs = std::move(*inner);
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    auto g2 = MaybeGrouping();
    if (!g2.ok()) return g2.status();
    if (g1->has_value() && g2->has_value()) return Unexpected();
    e->grouping = g1->has_value() ? std::move(*g1) : std::move(*g2);
    if (e->lhs->IsLog()) return Semantic(fmt::format("invalid aggregation {} of a log query", e->op));
    if (needs_param) {
      if (!e->param) return Semantic(fmt::format("parameter required for operation {}", e->op));
      double k = *e->param;
      if (k != std::floor(k) || k <= 0) {
        return Semantic(fmt::format("invalid parameter {}({},", e->op, promql::FormatFloatV(k)));
      }
    }
    if ((e->op == "sort" || e->op == "sort_desc") && e->grouping) {
      return Semantic(fmt::format("grouping not allowed for {} aggregation", e->op));
    }
    if (e->op == "approx_topk" && e->grouping) {
      return Semantic("grouping not allowed for approx_topk aggregation");
    }
    return e;
  }

  Result<std::unique_ptr<Expr>> ParseRangeAgg() {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kRangeAgg;
    e->op = cur_.text;
    Advance();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    if (e->op == "quantile_over_time") {
      if (cur_.t != Tok::kNumber) return Unexpected("NUMBER");
      auto v = ParseNumberText(cur_.text);
      if (!v.ok()) return v.status();
      e->param = *v;
      Advance();
      if (Status s = Expect(Tok::kComma, ","); !s.ok()) return s;
    }
    auto r = ParseLogRange();
    if (!r.ok()) return r.status();
    e->range = std::move(*r);
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    auto g = MaybeGrouping();
    if (!g.ok()) return g.status();
    e->grouping = std::move(*g);
    // Validation as Loki's.
    const std::string& op = e->op;
    bool needs_unwrap = op == "avg_over_time" || op == "sum_over_time" || op == "min_over_time" ||
                        op == "max_over_time" || op == "stdvar_over_time" ||
                        op == "stddev_over_time" || op == "quantile_over_time" ||
                        op == "first_over_time" || op == "last_over_time" || op == "rate_counter";
    bool no_unwrap = op == "count_over_time" || op == "bytes_over_time" || op == "bytes_rate";
    if (needs_unwrap && !e->range->unwrap) {
      return Semantic(fmt::format("invalid aggregation {} without unwrap", op));
    }
    if (no_unwrap && e->range->unwrap) {
      return Semantic(fmt::format("invalid aggregation {} with unwrap", op));
    }
    bool grouping_ok = op == "avg_over_time" || op == "stddev_over_time" ||
                       op == "stdvar_over_time" || op == "quantile_over_time" ||
                       op == "max_over_time" || op == "min_over_time" ||
                       op == "first_over_time" || op == "last_over_time";
    if (e->grouping && !grouping_ok) {
      return Semantic(fmt::format("grouping not allowed for {} aggregation", op));
    }
    return e;
  }

  Result<std::unique_ptr<LogRangeExpr>> ParseLogRange() {
    auto r = std::make_unique<LogRangeExpr>();
    bool paren = false;
    if (cur_.t == Tok::kLParen) {
      paren = true;
      Advance();
    }
    auto m = ParseSelector();
    if (!m.ok()) return m.status();
    r->selector.matchers = std::move(*m);
    bool have_range = false;
    auto parse_range = [&]() -> Status {
      if (cur_.t != Tok::kRange) return Unexpected("RANGE");
      int64_t ns;
      if (!ParseQueryDuration(cur_.text, &ns) || ns <= 0) {
        return ErrAt(cur_.pos, fmt::format("syntax error: invalid duration {}", promql::QuoteGo(cur_.text)));
      }
      r->range_ns = ns;
      Advance();
      have_range = true;
      if (IsIdent("offset")) {
        Advance();
        if (cur_.t != Tok::kDuration) return Unexpected("DURATION");
        int64_t off;
        ParseQueryDuration(cur_.text, &off);
        r->offset_ns = off;
        Advance();
      }
      return Status::Ok();
    };
    if (!paren && cur_.t == Tok::kRange) {
      if (Status s = parse_range(); !s.ok()) return s;
    }
    std::optional<UnwrapExpr> unwrap;
    if (Status s = ParsePipeline(&r->selector.stages, &unwrap); !s.ok()) return s;
    r->unwrap = std::move(unwrap);
    if (paren) {
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    }
    if (!have_range) {
      if (Status s = parse_range(); !s.ok()) return s;
      // `{...}[5m] | unwrap x` is not accepted after a parenthesised form.
    }
    return r;
  }

  Result<std::vector<Matcher>> ParseSelector() {
    if (cur_.t != Tok::kLBrace) return Unexpected("{");
    Advance();
    std::vector<Matcher> ms;
    while (cur_.t != Tok::kRBrace) {
      if (cur_.t != Tok::kIdent && cur_.t != Tok::kString) return Unexpected("IDENTIFIER");
      std::string name = cur_.text;
      size_t pos = cur_.pos;
      Advance();
      promql::MatchType mt;
      switch (cur_.t) {
        case Tok::kEq: mt = promql::MatchType::kEqual; break;
        case Tok::kNeq: mt = promql::MatchType::kNotEqual; break;
        case Tok::kRe: mt = promql::MatchType::kRegexp; break;
        case Tok::kNre: mt = promql::MatchType::kNotRegexp; break;
        default: return Unexpected("=, !=, =~ or !~");
      }
      Advance();
      if (cur_.t != Tok::kString) return Unexpected("STRING");
      auto m = Matcher::Make(mt, name, cur_.text);
      if (!m.ok()) return ErrAt(pos, m.status().message());
      ms.push_back(std::move(*m));
      Advance();
      if (cur_.t == Tok::kComma) {
        Advance();
        continue;
      }
      if (cur_.t != Tok::kRBrace) return Unexpected("}");
    }
    Advance();
    if (ms.empty()) {
      return Semantic("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will");
    }
    bool ok = false;
    for (const auto& m : ms) {
      if (!m.Matches("")) ok = true;
    }
    if (!ok) {
      return Semantic("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will");
    }
    return ms;
  }

  static bool IsLineFilterTok(Tok t) {
    return t == Tok::kPipeExact || t == Tok::kNeq || t == Tok::kPipeMatch || t == Tok::kNre ||
           t == Tok::kPipePattern || t == Tok::kNotPattern;
  }

  Result<LineFilterTerm> ParseLineFilterTerm() {
    LineFilterTerm t;
    if (IsIdent("ip")) {
      Advance();
      if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
      if (cur_.t != Tok::kString) return Unexpected("STRING");
      t.value = cur_.text;
      t.ip = true;
      Advance();
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      return t;
    }
    if (cur_.t != Tok::kString) return Unexpected("STRING");
    t.value = cur_.text;
    Advance();
    return t;
  }

  // Parses stages until something that is not a stage. When `unwrap` is
  // non-null, `| unwrap` is accepted (then only label filters may follow).
  Status ParsePipeline(std::vector<StagePtr>* stages, std::optional<UnwrapExpr>* unwrap) {
    while (true) {
      if (IsLineFilterTok(cur_.t)) {
        if (unwrap != nullptr && unwrap->has_value()) return Unexpected();
        LineFilterOp op;
        switch (cur_.t) {
          case Tok::kPipeExact: op = LineFilterOp::kContains; break;
          case Tok::kNeq: op = LineFilterOp::kNotContains; break;
          case Tok::kPipeMatch: op = LineFilterOp::kRegex; break;
          case Tok::kNre: op = LineFilterOp::kNotRegex; break;
          case Tok::kPipePattern: op = LineFilterOp::kPattern; break;
          default: op = LineFilterOp::kNotPattern; break;
        }
        size_t pos = cur_.pos;
        Advance();
        std::vector<LineFilterTerm> terms;
        auto t = ParseLineFilterTerm();
        if (!t.ok()) return t.status();
        terms.push_back(std::move(*t));
        while (IsIdent("or")) {
          Advance();
          auto t2 = ParseLineFilterTerm();
          if (!t2.ok()) return t2.status();
          terms.push_back(std::move(*t2));
        }
        auto st = MakeLineFilter(op, std::move(terms));
        if (!st.ok()) return ErrAt(pos, st.status().message());
        stages->push_back(std::move(*st));
        continue;
      }
      if (cur_.t != Tok::kPipe) return Status::Ok();
      Advance();
      size_t pos = cur_.pos;
      if (unwrap != nullptr && unwrap->has_value()) {
        // Only label filters after unwrap.
        auto f = ParseLabelFilterOr();
        if (!f.ok()) return f.status();
        (*unwrap)->post_filters.push_back(MakeLabelFilterStage(std::move(*f)));
        continue;
      }
      if (cur_.t == Tok::kIdent && Peek().t != Tok::kEq && Peek().t != Tok::kNeq &&
          Peek().t != Tok::kRe && Peek().t != Tok::kNre && Peek().t != Tok::kCmpEq &&
          Peek().t != Tok::kGt && Peek().t != Tok::kGte && Peek().t != Tok::kLt &&
          Peek().t != Tok::kLte) {
        std::string kw = cur_.text;
        if (kw == "json" || kw == "logfmt") {
          Advance();
          bool strict = false, keep_empty = false;
          while (kw == "logfmt" && cur_.t == Tok::kFlag) {
            if (cur_.text == "--strict") strict = true;
            else if (cur_.text == "--keep-empty") keep_empty = true;
            else return Unexpected();
            Advance();
          }
          if (kw == "json" && cur_.t == Tok::kFlag) return Unexpected();
          std::vector<ParserExpr> exprs;
          while (cur_.t == Tok::kIdent && !IsStageEnd()) {
            ParserExpr pe;
            pe.label = cur_.text;
            Advance();
            if (cur_.t == Tok::kEq) {
              Advance();
              if (cur_.t != Tok::kString) return Unexpected("STRING");
              pe.expr = cur_.text;
              Advance();
            }
            exprs.push_back(std::move(pe));
            if (cur_.t == Tok::kComma) {
              Advance();
              continue;
            }
            break;
          }
          auto st = kw == "json" ? MakeJsonParser(std::move(exprs))
                                 : MakeLogfmtParser(strict, keep_empty, std::move(exprs));
          if (!st.ok()) return ErrAt(pos, st.status().message());
          stages->push_back(std::move(*st));
          continue;
        }
        if (kw == "regexp" || kw == "pattern" || kw == "line_format") {
          Advance();
          if (cur_.t != Tok::kString) return Unexpected("STRING");
          std::string arg = cur_.text;
          Advance();
          auto st = kw == "regexp" ? MakeRegexpParser(arg)
                    : kw == "pattern" ? MakePatternParser(arg)
                                      : MakeLineFormat(arg);
          if (!st.ok()) return ErrAt(pos, st.status().message());
          stages->push_back(std::move(*st));
          continue;
        }
        if (kw == "unpack") {
          Advance();
          stages->push_back(MakeUnpackParser());
          continue;
        }
        if (kw == "decolorize") {
          Advance();
          stages->push_back(MakeDecolorize());
          continue;
        }
        if (kw == "label_format") {
          Advance();
          std::vector<LabelFmt> fmts;
          while (true) {
            if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
            LabelFmt f;
            f.dst = cur_.text;
            Advance();
            if (Status s = Expect(Tok::kEq, "="); !s.ok()) return s;
            if (cur_.t == Tok::kIdent) {
              f.rename = true;
              f.value = cur_.text;
            } else if (cur_.t == Tok::kString) {
              f.value = cur_.text;
            } else {
              return Unexpected("STRING");
            }
            Advance();
            fmts.push_back(std::move(f));
            if (cur_.t != Tok::kComma) break;
            Advance();
          }
          auto st = MakeLabelFormat(std::move(fmts));
          if (!st.ok()) return ErrAt(pos, st.status().message());
          stages->push_back(std::move(*st));
          continue;
        }
        if (kw == "drop" || kw == "keep") {
          Advance();
          std::vector<DropKeepItem> items;
          while (true) {
            if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
            DropKeepItem it;
            it.name = cur_.text;
            Advance();
            if (cur_.t == Tok::kEq || cur_.t == Tok::kNeq || cur_.t == Tok::kRe || cur_.t == Tok::kNre) {
              promql::MatchType mt = cur_.t == Tok::kEq ? promql::MatchType::kEqual
                                     : cur_.t == Tok::kNeq ? promql::MatchType::kNotEqual
                                     : cur_.t == Tok::kRe ? promql::MatchType::kRegexp
                                                          : promql::MatchType::kNotRegexp;
              Advance();
              if (cur_.t != Tok::kString) return Unexpected("STRING");
              auto m = Matcher::Make(mt, it.name, cur_.text);
              if (!m.ok()) return ErrAt(pos, m.status().message());
              it.matcher = std::move(*m);
              Advance();
            }
            items.push_back(std::move(it));
            if (cur_.t != Tok::kComma) break;
            Advance();
          }
          stages->push_back(kw == "drop" ? MakeDrop(std::move(items)) : MakeKeep(std::move(items)));
          continue;
        }
        if (kw == "unwrap") {
          if (unwrap == nullptr) return Unexpected();
          Advance();
          UnwrapExpr u;
          if ((IsIdent("bytes") || IsIdent("duration") || IsIdent("duration_seconds")) &&
              Peek().t == Tok::kLParen) {
            u.conv = cur_.text == "bytes" ? UnwrapConv::kBytes
                     : cur_.text == "duration" ? UnwrapConv::kDuration
                                               : UnwrapConv::kDurationSeconds;
            Advance();
            Advance();
            if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
            u.label = cur_.text;
            Advance();
            if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
          } else {
            if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
            u.label = cur_.text;
            Advance();
          }
          *unwrap = std::move(u);
          continue;
        }
      }
      auto f = ParseLabelFilterOr();
      if (!f.ok()) return f.status();
      stages->push_back(MakeLabelFilterStage(std::move(*f)));
    }
  }

  bool IsStageEnd() const {
    return cur_.t == Tok::kIdent && (cur_.text == "offset" || cur_.text == "or" || cur_.text == "and");
  }

  // ------------------------------------------------- label filters --

  Result<LabelFilterPtr> ParseLabelFilterOr() {
    auto l = ParseLabelFilterAnd();
    if (!l.ok()) return l.status();
    LabelFilterPtr left = std::move(*l);
    while (IsIdent("or")) {
      Advance();
      auto r = ParseLabelFilterAnd();
      if (!r.ok()) return r.status();
      left = MakeBinaryLabelFilter(false, std::move(left), std::move(*r), " or ");
    }
    return left;
  }

  Result<LabelFilterPtr> ParseLabelFilterAnd() {
    auto l = ParseLabelFilterUnary();
    if (!l.ok()) return l.status();
    LabelFilterPtr left = std::move(*l);
    while (true) {
      std::string sep;
      if (IsIdent("and")) {
        sep = " and ";
        Advance();
      } else if (cur_.t == Tok::kComma) {
        sep = ", ";
        Advance();
      } else if ((cur_.t == Tok::kIdent && cur_.text != "or" && cur_.text != "offset") ||
                 cur_.t == Tok::kLParen) {
        sep = " ";
      } else {
        break;
      }
      auto r = ParseLabelFilterUnary();
      if (!r.ok()) return r.status();
      left = MakeBinaryLabelFilter(true, std::move(left), std::move(*r), sep);
    }
    return left;
  }

  Result<LabelFilterPtr> ParseLabelFilterUnary() {
    if (cur_.t == Tok::kLParen) {
      Advance();
      auto in = ParseLabelFilterOr();
      if (!in.ok()) return in.status();
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      return MakeParenLabelFilter(std::move(*in));
    }
    if (cur_.t != Tok::kIdent) return Unexpected("IDENTIFIER");
    std::string name = cur_.text;
    size_t pos = cur_.pos;
    Advance();
    Tok op = cur_.t;
    std::string op_text = cur_.text;
    CmpOp cmp;
    switch (op) {
      case Tok::kEq: cmp = CmpOp::kEq; break;
      case Tok::kCmpEq: cmp = CmpOp::kEq; break;
      case Tok::kNeq: cmp = CmpOp::kNe; break;
      case Tok::kGt: cmp = CmpOp::kGt; break;
      case Tok::kGte: cmp = CmpOp::kGe; break;
      case Tok::kLt: cmp = CmpOp::kLt; break;
      case Tok::kLte: cmp = CmpOp::kLe; break;
      case Tok::kRe: case Tok::kNre: cmp = CmpOp::kEq; break;
      default: return Unexpected();
    }
    Advance();
    bool string_ok = op == Tok::kEq || op == Tok::kNeq || op == Tok::kRe || op == Tok::kNre;
    bool typed_ok = op != Tok::kRe && op != Tok::kNre;
    if (cur_.t == Tok::kString && string_ok) {
      promql::MatchType mt = op == Tok::kEq ? promql::MatchType::kEqual
                             : op == Tok::kNeq ? promql::MatchType::kNotEqual
                             : op == Tok::kRe ? promql::MatchType::kRegexp
                                              : promql::MatchType::kNotRegexp;
      auto m = Matcher::Make(mt, name, cur_.text);
      if (!m.ok()) return ErrAt(pos, m.status().message());
      Advance();
      return MakeStringLabelFilter(std::move(*m));
    }
    if (IsIdent("ip") && (op == Tok::kEq || op == Tok::kNeq)) {
      Advance();
      if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
      if (cur_.t != Tok::kString) return Unexpected("STRING");
      std::string pat = cur_.text;
      Advance();
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      auto f = MakeIpLabelFilter(name, op == Tok::kEq, pat);
      if (!f.ok()) return ErrAt(pos, f.status().message());
      return std::move(*f);
    }
    if (typed_ok) {
      bool neg = false;
      if (cur_.t == Tok::kSub && Peek().t == Tok::kNumber) {
        neg = true;
        Advance();
      }
      if (cur_.t == Tok::kNumber) {
        auto v = ParseNumberText(cur_.text);
        if (!v.ok()) return v.status();
        Advance();
        return MakeNumberLabelFilter(name, cmp, op_text, neg ? -*v : *v);
      }
      if (cur_.t == Tok::kDuration) {
        int64_t ns = 0;
        ParseQueryDuration(cur_.text, &ns);
        std::string lit = cur_.text;
        Advance();
        return MakeDurationLabelFilter(name, cmp, op_text, ns, lit);
      }
      if (cur_.t == Tok::kBytes) {
        auto b = ParseHumanBytes(cur_.text);
        if (!b.ok()) return ErrAt(cur_.pos, b.status().message());
        std::string lit = cur_.text;
        Advance();
        return MakeBytesLabelFilter(name, cmp, op_text, *b, lit);
      }
    }
    return Unexpected();
  }

  std::string_view q_;
  Lexer lex_;
  Token cur_;
  Token next_;
  bool next_valid_ = false;
};

}  // namespace

// ---------------------------------------------------------- public API --

ParsedQuery::ParsedQuery() = default;
ParsedQuery::~ParsedQuery() = default;
ParsedQuery::ParsedQuery(const ParsedQuery&) = default;
ParsedQuery& ParsedQuery::operator=(const ParsedQuery&) = default;
ParsedQuery::ParsedQuery(ParsedQuery&&) noexcept = default;
ParsedQuery& ParsedQuery::operator=(ParsedQuery&&) noexcept = default;

bool ParsedQuery::IsLogQuery() const { return expr_ != nullptr && expr_->IsLog(); }

std::vector<std::vector<Matcher>> ParsedQuery::StreamMatchers() const {
  std::vector<std::vector<Matcher>> out;
  if (expr_ != nullptr) expr_->CollectMatchers(&out);
  return out;
}

std::string ParsedQuery::String() const { return expr_ != nullptr ? expr_->String() : ""; }
std::string ParsedQuery::Pretty() const { return expr_ != nullptr ? expr_->Pretty(0) : ""; }

Result<ParsedQuery> Parse(std::string_view query) {
  if (query.size() > 128 * 1024) return InvalidArgumentError("parse error : query too long");
  Parser p(query);
  auto e = p.ParseQuery();
  if (!e.ok()) return e.status();
  ParsedQuery q;
  q.expr_ = std::shared_ptr<const Expr>(std::move(*e));
  return q;
}

Result<std::string> Format(std::string_view query) {
  auto q = Parse(query);
  if (!q.ok()) return q.status();
  return q->Pretty();
}

Result<std::vector<Matcher>> ParseStreamSelector(std::string_view selector) {
  auto q = Parse(selector);
  if (!q.ok()) return q.status();
  const Expr& e = q->expr();
  if (!e.IsLog() || !e.log.stages.empty()) {
    return InvalidArgumentError("parse error : only a stream selector is allowed here");
  }
  return e.log.matchers;
}

}  // namespace sightline::logs::logql
