#include "metrics/promql/lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "metrics/promql/go_text.h"

namespace sightline::promql {
namespace {

constexpr int32_t kEofRune = -1;
constexpr int32_t kRuneError = 0xFFFD;

bool IsSpace(int32_t r) { return r == ' ' || r == '\t' || r == '\n' || r == '\r'; }
bool IsDigit(int32_t r) { return r >= '0' && r <= '9'; }
bool IsAlpha(int32_t r) { return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
bool IsAlphaNumeric(int32_t r) { return IsAlpha(r) || IsDigit(r); }

struct Keyword {
  std::string_view word;
  TokenKind kind;
};

constexpr Keyword kKeywords[] = {
    {"and", TokenKind::kLand},
    {"or", TokenKind::kLor},
    {"unless", TokenKind::kLunless},
    {"atan2", TokenKind::kAtan2},
    {"sum", TokenKind::kSum},
    {"avg", TokenKind::kAvg},
    {"count", TokenKind::kCount},
    {"min", TokenKind::kMin},
    {"max", TokenKind::kMax},
    {"group", TokenKind::kGroup},
    {"stddev", TokenKind::kStddev},
    {"stdvar", TokenKind::kStdvar},
    {"topk", TokenKind::kTopk},
    {"bottomk", TokenKind::kBottomk},
    {"count_values", TokenKind::kCountValues},
    {"quantile", TokenKind::kQuantile},
    {"limitk", TokenKind::kLimitk},
    {"limit_ratio", TokenKind::kLimitRatio},
    {"offset", TokenKind::kOffset},
    {"smoothed", TokenKind::kSmoothed},
    {"anchored", TokenKind::kAnchored},
    {"by", TokenKind::kBy},
    {"without", TokenKind::kWithout},
    {"on", TokenKind::kOn},
    {"ignoring", TokenKind::kIgnoring},
    {"group_left", TokenKind::kGroupLeft},
    {"group_right", TokenKind::kGroupRight},
    {"fill", TokenKind::kFill},
    {"fill_left", TokenKind::kFillLeft},
    {"fill_right", TokenKind::kFillRight},
    {"bool", TokenKind::kBool},
    {"start", TokenKind::kStart},
    {"end", TokenKind::kEnd},
    {"step", TokenKind::kStep},
    {"range", TokenKind::kRange},
    {"inf", TokenKind::kNumber},
    {"nan", TokenKind::kNumber},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const Keyword* FindKeyword(std::string_view word) {
  const std::string lower = Lower(word);
  for (const Keyword& k : kKeywords) {
    if (k.word == lower) return &k;
  }
  return nullptr;
}

// A port of Prometheus' state-machine lexer. Each Step*() call consumes input
// until it has emitted one token, skipped whitespace, or failed.
class Lexer {
 public:
  explicit Lexer(std::string_view input) : in_(input) {}

  std::vector<Token> Run() {
    while (!done_) {
      if (brace_open_) {
        StepInsideBraces();
      } else if (bracket_open_) {
        StepDurationExpr();
      } else {
        StepStatements();
      }
    }
    return std::move(out_);
  }

 private:
  int32_t Next() {
    if (pos_ >= in_.size()) {
      width_ = 0;
      return kEofRune;
    }
    const DecodedRune d = DecodeRune(in_, pos_);
    width_ = d.width;
    pos_ += d.width;
    return d.rune;
  }
  void Backup() { pos_ -= width_; }
  int32_t Peek() {
    const int32_t r = Next();
    Backup();
    return r;
  }
  static bool In(std::string_view valid, int32_t r) {
    return r >= 0 && r < 128 && valid.find(static_cast<char>(r)) != std::string_view::npos;
  }
  bool Accept(std::string_view valid) {
    if (In(valid, Next())) return true;
    Backup();
    return false;
  }
  bool Is(std::string_view valid) { return In(valid, Peek()); }
  void AcceptRun(std::string_view valid) {
    while (In(valid, Next())) {
    }
    Backup();
  }
  void Emit(TokenKind kind) {
    Token t;
    t.kind = kind;
    t.pos = static_cast<int32_t>(start_);
    t.text = in_.substr(start_, pos_ - start_);
    out_.push_back(std::move(t));
    start_ = pos_;
  }
  void Ignore() { start_ = pos_; }
  void Error(std::string message) {
    Token t;
    t.kind = TokenKind::kError;
    t.pos = static_cast<int32_t>(start_);
    t.text = in_.substr(start_);
    t.error = std::move(message);
    out_.push_back(std::move(t));
    done_ = true;
  }
  // Prometheus sometimes emits a token and fails in the same step; the error
  // then replaces the token.
  void ErrorAfterEmit(std::string message) {
    out_.pop_back();
    Error(std::move(message));
  }
  void SkipSpaces() {
    while (IsSpace(Peek())) Next();
    Ignore();
  }

  void StepComment() {
    pos_ += 1;
    int32_t r = Next();
    while (r != '\n' && r != '\r' && r != kEofRune) r = Next();
    Backup();
    Emit(TokenKind::kComment);
  }

  void StepStatements() {
    if (in_.substr(pos_).starts_with('#')) return StepComment();
    const int32_t r = Next();
    if (r == kEofRune) {
      if (paren_depth_ != 0) return Error("unclosed left parenthesis");
      if (bracket_open_) return Error("unclosed left bracket");
      Emit(TokenKind::kEof);
      done_ = true;
      return;
    }
    if (IsSpace(r)) return SkipSpaces();
    switch (r) {
      case ',':
        return Emit(TokenKind::kComma);
      case '*':
        return Emit(TokenKind::kMul);
      case '/':
        return Emit(TokenKind::kDiv);
      case '%':
        return Emit(TokenKind::kMod);
      case '+':
        return Emit(TokenKind::kAdd);
      case '-':
        return Emit(TokenKind::kSub);
      case '^':
        return Emit(TokenKind::kPow);
      case '@':
        return Emit(TokenKind::kAt);
      case '=': {
        const int32_t t = Peek();
        if (t == '=') {
          Next();
          return Emit(TokenKind::kEqlc);
        }
        if (t == '~')
          return Error(fmt::format("unexpected character after '=': {}", QuoteRuneGo(t)));
        return Emit(TokenKind::kAssign);
      }
      case '!': {
        const int32_t t = Next();
        if (t != '=')
          return Error(fmt::format("unexpected character after '!': {}", QuoteRuneGo(t)));
        return Emit(TokenKind::kNeq);
      }
      case '<':
        if (Peek() == '=') {
          Next();
          return Emit(TokenKind::kLte);
        }
        if (Peek() == '/') {
          Next();
          return Emit(TokenKind::kTrimUpper);
        }
        return Emit(TokenKind::kLss);
      case '>':
        if (Peek() == '=') {
          Next();
          return Emit(TokenKind::kGte);
        }
        if (Peek() == '/') {
          Next();
          return Emit(TokenKind::kTrimLower);
        }
        return Emit(TokenKind::kGtr);
      case '"':
      case '\'':
        string_open_ = static_cast<char>(r);
        return StepString();
      case '`':
        return StepRawString();
      case '(':
        Emit(TokenKind::kLeftParen);
        ++paren_depth_;
        return;
      case ')':
        Emit(TokenKind::kRightParen);
        if (--paren_depth_ < 0) {
          ErrorAfterEmit(fmt::format("unexpected right parenthesis {}", QuoteRuneGo(r)));
        }
        return;
      case '{':
        Emit(TokenKind::kLeftBrace);
        brace_open_ = true;
        return;
      case '[':
        got_colon_ = false;
        got_duration_ = false;
        Emit(TokenKind::kLeftBracket);
        SkipSpaces();
        bracket_open_ = true;
        return;
      case ']':
        return Error(fmt::format("unexpected right bracket {}", QuoteRuneGo(r)));
      default:
        break;
    }
    if (IsDigit(r) || (r == '.' && IsDigit(Peek()))) {
      Backup();
      return StepNumberOrDuration();
    }
    if (IsAlpha(r) || r == ':') {
      Backup();
      return StepKeywordOrIdentifier();
    }
    Error(fmt::format("unexpected character: {}", QuoteRuneGo(r)));
  }

  void StepInsideBraces() {
    if (in_.substr(pos_).starts_with('#')) return StepComment();
    const int32_t r = Next();
    if (r == kEofRune) return Error("unexpected end of input inside braces");
    if (IsSpace(r)) return SkipSpaces();
    if (IsAlpha(r)) {
      while (IsAlphaNumeric(Next())) {
      }
      Backup();
      return Emit(TokenKind::kIdentifier);
    }
    switch (r) {
      case ',':
        return Emit(TokenKind::kComma);
      case '"':
      case '\'':
        string_open_ = static_cast<char>(r);
        return StepString();
      case '`':
        return StepRawString();
      case '=':
        if (Next() == '~') return Emit(TokenKind::kEqlRegex);
        Backup();
        return Emit(TokenKind::kAssign);
      case '!': {
        const int32_t nr = Next();
        if (nr == '~') return Emit(TokenKind::kNeqRegex);
        if (nr == '=') return Emit(TokenKind::kNeq);
        return Error(
            fmt::format("unexpected character after '!' inside braces: {}", QuoteRuneGo(nr)));
      }
      case '{':
        return Error(fmt::format("unexpected left brace {}", QuoteRuneGo(r)));
      case '}':
        Emit(TokenKind::kRightBrace);
        brace_open_ = false;
        return;
      default:
        return Error(fmt::format("unexpected character inside braces: {}", QuoteRuneGo(r)));
    }
  }

  void StepDurationExpr() {
    const int32_t r = Next();
    if (r == kEofRune) return Error("unexpected end of input in duration expression");
    if (IsSpace(r)) return SkipSpaces();
    switch (r) {
      case ']':
        Emit(TokenKind::kRightBracket);
        bracket_open_ = false;
        got_colon_ = false;
        return;
      case ':':
        Emit(TokenKind::kColon);
        if (!got_duration_) {
          return ErrorAfterEmit("unexpected colon before duration in duration expression");
        }
        if (got_colon_) return ErrorAfterEmit("unexpected repeated colon in duration expression");
        got_colon_ = true;
        return;
      case '(':
        Emit(TokenKind::kLeftParen);
        ++paren_depth_;
        return;
      case ')':
        Emit(TokenKind::kRightParen);
        if (--paren_depth_ < 0) {
          ErrorAfterEmit(fmt::format("unexpected right parenthesis {}", QuoteRuneGo(r)));
        }
        return;
      case '+':
        return Emit(TokenKind::kAdd);
      case '-':
        return Emit(TokenKind::kSub);
      case '*':
        return Emit(TokenKind::kMul);
      case '/':
        return Emit(TokenKind::kDiv);
      case '%':
        return Emit(TokenKind::kMod);
      case '^':
        return Emit(TokenKind::kPow);
      case ',':
        return Emit(TokenKind::kComma);
      default:
        break;
    }
    if (IsAlpha(r)) {
      while (IsAlpha(Next())) {
      }
      Backup();
      const std::string word = Lower(in_.substr(start_, pos_ - start_));
      TokenKind kind;
      if (word == "step") {
        kind = TokenKind::kStep;
      } else if (word == "range") {
        kind = TokenKind::kRange;
      } else if (word == "min_of") {
        kind = TokenKind::kMinOf;
      } else if (word == "max_of") {
        kind = TokenKind::kMaxOf;
      } else {
        return Error(fmt::format("unexpected character: {}, expected ':'", QuoteRuneGo(r)));
      }
      got_duration_ = true;
      return Emit(kind);
    }
    if (IsDigit(r) || (r == '.' && IsDigit(Peek()))) {
      Backup();
      got_duration_ = true;
      return StepNumberOrDuration();
    }
    Error(fmt::format("unexpected character in duration expression: {}", QuoteRuneGo(r)));
  }

  void StepString() {
    for (;;) {
      const int32_t r = Next();
      if (r == '\\') {
        if (!StepEscape()) return;
        continue;
      }
      if (r == kRuneError) return Error("invalid UTF-8 rune");
      if (r == kEofRune || r == '\n') return Error("unterminated quoted string");
      if (r == string_open_) break;
    }
    Emit(TokenKind::kString);
  }

  void StepRawString() {
    for (;;) {
      const int32_t r = Next();
      if (r == kRuneError) return Error("invalid UTF-8 rune");
      if (r == kEofRune) return Error("unterminated raw string");
      if (r == '`') break;
    }
    Emit(TokenKind::kString);
  }

  static int DigitVal(int32_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 16;
  }

  // Validates an escape sequence after '\' (Go's rules). Returns false after
  // reporting an error.
  bool StepEscape() {
    int32_t ch = Next();
    int n;
    uint32_t base;
    uint32_t max;
    switch (ch) {
      case 'a':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case '\\':
        return true;
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
        n = 3, base = 8, max = 255;
        break;
      case 'x':
        ch = Next();
        n = 2, base = 16, max = 255;
        break;
      case 'u':
        ch = Next();
        n = 4, base = 16, max = 0x10FFFF;
        break;
      case 'U':
        ch = Next();
        n = 8, base = 16, max = 0x10FFFF;
        break;
      case kEofRune:
        Error("escape sequence not terminated");
        return false;
      default:
        if (ch == string_open_) return true;
        Error(fmt::format("unknown escape sequence {}", RuneCodeGo(ch)));
        return false;
    }
    uint32_t x = 0;
    while (n > 0) {
      const auto d = static_cast<uint32_t>(DigitVal(ch));
      if (d >= base) {
        if (ch == kEofRune) {
          Error("escape sequence not terminated");
        } else {
          Error(fmt::format("illegal character {} in escape sequence", RuneCodeGo(ch)));
        }
        return false;
      }
      x = x * base + d;
      if (--n > 0) ch = Next();
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) {
      Error("escape sequence is an invalid Unicode code point");
      return false;
    }
    return true;
  }

  void StepNumberOrDuration() {
    if (ScanNumber()) return Emit(TokenKind::kNumber);
    if (AcceptRemainingDuration()) {
      Backup();
      return Emit(TokenKind::kDuration);
    }
    Error(fmt::format("bad number or duration syntax: {}",
                      QuoteGo(in_.substr(start_, pos_ - start_))));
  }

  bool AcceptRemainingDuration() {
    if (!Accept("smhdwy")) return false;
    Accept("s");  // "ms"; bad units such as "hs" fail when the duration is parsed.
    while (Accept("0123456789")) {
      while (Accept("0123456789")) {
      }
      if (!Accept("smhdw")) return false;  // y only comes first.
      Accept("s");
    }
    return !IsAlphaNumeric(Next());
  }

  // Scans a number: decimal, hexadecimal, octal, float, with _ separators.
  // The text is validated again when the parser converts it.
  bool ScanNumber() {
    const size_t initial = pos_;
    std::string_view digits = "0123456789";
    if (Accept("0") && Accept("xX")) {
      Accept("_");
      digits = "0123456789abcdefABCDEF";
    }
    const std::string all = std::string(digits) + "._eE";
    Accept(".");
    Accept(digits);
    bool dot = false;
    bool exponent = false;
    while (Is(all)) {
      if (Is(".") && dot) {
        Accept(".");
        return false;
      }
      if (Is("eE") && exponent) {
        Accept("eE");
        return false;
      }
      if (Accept(".")) {
        dot = true;
        if (Accept("_.")) return false;
        if (digits.size() > 10) return false;  // No fractional hex literals.
        continue;
      }
      if (Accept("eE")) {
        exponent = true;
        Accept("+-");
        if (Accept("._eE") || Peek() == kEofRune) return false;
        continue;
      }
      if (Accept("_")) {
        if (Accept("._eE") || Peek() == kEofRune) return false;
        continue;
      }
      AcceptRun(digits);
    }
    if (pos_ == initial) return false;
    return !IsAlphaNumeric(Peek());
  }

  // Whether the next non-space character is '('.
  bool FollowedByLeftParen() const {
    for (size_t p = pos_; p < in_.size(); ++p) {
      if (!IsSpace(static_cast<unsigned char>(in_[p]))) return in_[p] == '(';
    }
    return false;
  }

  void StepKeywordOrIdentifier() {
    for (;;) {
      const int32_t r = Next();
      if (!(IsAlphaNumeric(r) || r == ':')) break;
    }
    Backup();
    const std::string_view word = in_.substr(start_, pos_ - start_);
    if (const Keyword* kw = FindKeyword(word)) {
      const bool fill = kw->kind == TokenKind::kFill || kw->kind == TokenKind::kFillLeft ||
                        kw->kind == TokenKind::kFillRight;
      if (fill && !FollowedByLeftParen()) return Emit(TokenKind::kIdentifier);
      return Emit(kw->kind);
    }
    Emit(word.find(':') == std::string_view::npos ? TokenKind::kIdentifier
                                                  : TokenKind::kMetricIdentifier);
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t start_ = 0;
  int width_ = 0;
  int paren_depth_ = 0;
  bool brace_open_ = false;
  bool bracket_open_ = false;
  bool got_colon_ = false;
  bool got_duration_ = false;
  char string_open_ = 0;
  bool done_ = false;
  std::vector<Token> out_;
};

// Go's "%q", or "%.10q..." for values longer than 10 bytes.
std::string QuoteTruncated(std::string_view s) {
  if (s.size() <= 10) return QuoteGo(s);
  size_t i = 0;
  for (int runes = 0; runes < 10 && i < s.size(); ++runes) i += DecodeRune(s, i).width;
  return QuoteGo(s.substr(0, i)) + "...";
}

}  // namespace

std::vector<Token> Tokenize(std::string_view input) { return Lexer(input).Run(); }

bool IsOperatorToken(TokenKind k) { return (k >= TokenKind::kAdd && k <= TokenKind::kTrimLower); }

bool IsAggregatorToken(TokenKind k) { return k >= TokenKind::kSum && k <= TokenKind::kLimitRatio; }

bool IsKeywordToken(TokenKind k) { return k >= TokenKind::kBool && k <= TokenKind::kFillRight; }

std::string DescribeToken(const Token& t) {
  switch (t.kind) {
    case TokenKind::kEof:
      return "end of input";
    case TokenKind::kError:
      return t.error;
    case TokenKind::kComment:
      return "comment " + QuoteTruncated(t.text);
    case TokenKind::kIdentifier:
      return "identifier " + QuoteGo(t.text);
    case TokenKind::kMetricIdentifier:
      return "metric identifier " + QuoteGo(t.text);
    case TokenKind::kNumber:
      return "number " + QuoteTruncated(t.text);
    case TokenKind::kDuration:
      return "duration " + QuoteTruncated(t.text);
    case TokenKind::kString:
      return "string " + QuoteTruncated(t.text);
    default:
      break;
  }
  if (IsKeywordToken(t.kind)) return fmt::format("<{}>", t.text);
  if (t.kind == TokenKind::kAssign || t.kind == TokenKind::kEqlRegex ||
      t.kind == TokenKind::kNeqRegex) {
    // Prometheus lists = with the punctuation, =~ and !~ with the operators.
    if (t.kind == TokenKind::kAssign) return QuoteTruncated(t.text);
  }
  if (IsOperatorToken(t.kind) || t.kind == TokenKind::kEqlRegex || t.kind == TokenKind::kNeqRegex) {
    return fmt::format("<op:{}>", t.text);
  }
  if (IsAggregatorToken(t.kind)) return fmt::format("<aggr:{}>", t.text);
  return QuoteTruncated(t.text);
}

}  // namespace sightline::promql
