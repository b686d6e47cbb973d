// Label matchers: the `name op "value"` terms of a PromQL selector and of
// the API's match[] parameters.
//
//   =   equal            !=  not equal
//   =~  regex match      !~  regex non-match
//
// Regular expressions use RE2 (the syntax Prometheus uses, Go's regexp being
// RE2) and are fully anchored, as Prometheus' `^(?:...)$`. Prometheus 3.x
// additionally lets `.` match a newline (`^(?s:...)$`); 2.x does not. That is
// MatcherOptions::dot_matches_newline, which the parser sets from the dialect.
//
// A Matcher is an immutable value: copy it freely and call Matches() from any
// thread. The compiled regex is shared between copies (std::shared_ptr to a
// const RE2, which is thread-safe for matching); that is the one shared
// ownership in the front end, chosen so matchers can be copied into query
// plans without recompiling.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace re2 {
class RE2;
}

namespace sightline::promql {

enum class MatchType { kEqual, kNotEqual, kRegexp, kNotRegexp };

// "=", "!=", "=~", "!~".
std::string_view MatchTypeString(MatchType t);

struct MatcherOptions {
  bool dot_matches_newline = true;  // Prometheus 3.x semantics.
};

// The reserved label holding the metric name.
inline constexpr std::string_view kMetricNameLabel = "__name__";

class Matcher {
 public:
  // Compiles the regex for kRegexp / kNotRegexp. The error message is Go's
  // ("error parsing regexp: missing closing ): `(.*`") so that parse errors
  // read as Prometheus' do.
  static Result<Matcher> Make(MatchType type, std::string name, std::string value,
                              MatcherOptions options = {});

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }

  // Whether a label with value `v` (the empty string for an absent label)
  // satisfies this matcher.
  bool Matches(std::string_view v) const;

  // Prometheus' Matcher.String(): name (quoted when not a plain identifier),
  // operator, Go-quoted value. E.g. job=~"api|web", "service.name"="x".
  std::string ToString() const;

  friend bool operator==(const Matcher& a, const Matcher& b) {
    return a.type_ == b.type_ && a.name_ == b.name_ && a.value_ == b.value_;
  }

 private:
  Matcher(MatchType type, std::string name, std::string value)
      : type_(type), name_(std::move(name)), value_(std::move(value)) {}

  MatchType type_;
  std::string name_;
  std::string value_;
  // Set for regex matchers whose pattern is not a plain literal.
  std::shared_ptr<const re2::RE2> re_;
  // Regex fast paths: ".*" matches everything, ".+" every non-empty value, and
  // a pattern without metacharacters is a string comparison.
  enum class Fast { kNone, kAny, kNonEmpty, kLiteral } fast_ = Fast::kNone;
};

// Whether `name` is a legacy (pre-UTF-8) label name, [a-zA-Z_][a-zA-Z0-9_]*.
// Names that are not get quoted when printed.
bool IsLegacyLabelName(std::string_view name);

}  // namespace sightline::promql
