#include "metrics/promql/matcher.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include "metrics/promql/go_text.h"

namespace sightline::promql {
namespace {

// Go's regexp/syntax error texts for RE2's error codes.
std::string_view GoRegexpErrorText(re2::RE2::ErrorCode code) {
  switch (code) {
    case re2::RE2::ErrorBadEscape:
      return "invalid escape sequence";
    case re2::RE2::ErrorBadCharClass:
      return "invalid character class";
    case re2::RE2::ErrorBadCharRange:
      return "invalid character class range";
    case re2::RE2::ErrorMissingBracket:
      return "missing closing ]";
    case re2::RE2::ErrorMissingParen:
      return "missing closing )";
    case re2::RE2::ErrorUnexpectedParen:
      return "unexpected )";
    case re2::RE2::ErrorTrailingBackslash:
      return "trailing backslash at end of expression";
    case re2::RE2::ErrorRepeatArgument:
      return "missing argument to repetition operator";
    case re2::RE2::ErrorRepeatSize:
      return "invalid repeat count";
    case re2::RE2::ErrorRepeatOp:
      return "invalid nested repetition operator";
    case re2::RE2::ErrorBadPerlOp:
      return "invalid or unsupported Perl syntax";
    case re2::RE2::ErrorBadUTF8:
      return "invalid UTF-8";
    case re2::RE2::ErrorBadNamedCapture:
      return "invalid named capture";
    case re2::RE2::ErrorPatternTooLarge:
      return "expression too large";
    default:
      return "invalid regular expression";
  }
}

bool HasRegexMeta(std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '.':
      case '+':
      case '*':
      case '?':
      case '(':
      case ')':
      case '|':
      case '[':
      case ']':
      case '{':
      case '}':
      case '^':
      case '$':
      case '\\':
        return true;
      default:
        break;
    }
  }
  return false;
}

}  // namespace

std::string_view MatchTypeString(MatchType t) {
  switch (t) {
    case MatchType::kEqual:
      return "=";
    case MatchType::kNotEqual:
      return "!=";
    case MatchType::kRegexp:
      return "=~";
    case MatchType::kNotRegexp:
      return "!~";
  }
  return "?";
}

bool IsLegacyLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Result<Matcher> Matcher::Make(MatchType type, std::string name, std::string value,
                              MatcherOptions options) {
  Matcher m(type, std::move(name), std::move(value));
  if (type != MatchType::kRegexp && type != MatchType::kNotRegexp) return m;
  if (m.value_ == ".*" && options.dot_matches_newline) {
    m.fast_ = Fast::kAny;
    return m;
  }
  if (m.value_ == ".+" && options.dot_matches_newline) {
    m.fast_ = Fast::kNonEmpty;
    return m;
  }
  if (!HasRegexMeta(m.value_) && IsValidUtf8(m.value_)) {
    m.fast_ = Fast::kLiteral;
    return m;
  }
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_dot_nl(options.dot_matches_newline);
  auto re = std::make_shared<const re2::RE2>(m.value_, opts);
  if (!re->ok()) {
    const std::string arg = re->error_arg().empty() ? m.value_ : re->error_arg();
    return InvalidArgumentError(
        fmt::format("error parsing regexp: {}: `{}`", GoRegexpErrorText(re->error_code()), arg));
  }
  m.re_ = std::move(re);
  return m;
}

bool Matcher::Matches(std::string_view v) const {
  bool match = false;
  switch (type_) {
    case MatchType::kEqual:
      return v == value_;
    case MatchType::kNotEqual:
      return v != value_;
    case MatchType::kRegexp:
    case MatchType::kNotRegexp:
      switch (fast_) {
        case Fast::kAny:
          match = true;
          break;
        case Fast::kNonEmpty:
          match = !v.empty();
          break;
        case Fast::kLiteral:
          match = v == value_;
          break;
        case Fast::kNone:
          match = re2::RE2::FullMatch(v, *re_);
          break;
      }
      return type_ == MatchType::kRegexp ? match : !match;
  }
  return false;
}

std::string Matcher::ToString() const {
  std::string out = IsLegacyLabelName(name_) ? name_ : QuoteGo(name_);
  out += MatchTypeString(type_);
  out += QuoteGo(value_);
  return out;
}

}  // namespace sightline::promql
