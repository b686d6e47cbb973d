// The PromQL lexer.
//
// Tokenize() splits a query into tokens the way Prometheus' lexer does, with
// the same modes: inside `{...}` every word is an identifier (label names
// may be keywords) and no numbers exist; inside `[...]` only a duration
// expression is allowed (numbers, durations, + - * / % ^ ( ) , : and the
// words step, range, min_of, max_of); elsewhere keywords are recognised
// case-insensitively (`SUM`, `Offset`), except that fill/fill_left/fill_right
// are keywords only when a `(` follows, so they stay usable as metric names.
//
// The token list always ends with kEof or, at the first lexical error, with
// a kError token whose `error` holds Prometheus' message (e.g. "unclosed
// left parenthesis", "bad number or duration syntax: \"5mm\"") and whose
// `pos` is where the faulty item starts. Comments (# to end of line) are
// kept as kComment tokens; the parser skips them.
//
// Tokens point into the input: the input must outlive them.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::promql {

enum class TokenKind {
  kEof,
  kError,
  kComment,
  kIdentifier,        // foo, rate, __name__
  kMetricIdentifier,  // foo:bar (contains ':')
  kNumber,            // 1, 0x1f, 1e3, .5, Inf, NaN
  kDuration,          // 5m, 1h30m
  kString,            // "..", '..', `..` (text includes the quotes)
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kLeftBracket,
  kRightBracket,
  kComma,
  kColon,
  kAssign,  // = (label matching)
  // Operators.
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEqlc,  // ==
  kNeq,   // !=
  kLss,
  kLte,
  kGtr,
  kGte,
  kEqlRegex,  // =~
  kNeqRegex,  // !~
  kLand,
  kLor,
  kLunless,
  kAtan2,
  kAt,         // @
  kTrimUpper,  // </
  kTrimLower,  // >/
  // Aggregators.
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kCountValues,
  kQuantile,
  kLimitk,
  kLimitRatio,
  // Keywords.
  kBool,
  kBy,
  kGroupLeft,
  kGroupRight,
  kIgnoring,
  kOffset,
  kSmoothed,
  kAnchored,
  kOn,
  kWithout,
  kFill,
  kFillLeft,
  kFillRight,
  // Preprocessors and duration functions.
  kStart,
  kEnd,
  kStep,
  kRange,
  kMinOf,  // Only inside [...]; elsewhere min_of is an identifier.
  kMaxOf,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  int32_t pos = 0;        // Byte offset of the first character.
  std::string_view text;  // The source text of the token.
  std::string error;      // For kError.

  int32_t end() const { return pos + static_cast<int32_t>(text.size()); }
};

std::vector<Token> Tokenize(std::string_view input);

bool IsOperatorToken(TokenKind k);
bool IsAggregatorToken(TokenKind k);
bool IsKeywordToken(TokenKind k);

// How Prometheus names a token in "unexpected ..." messages: `end of input`,
// `<op:+>`, `<aggr:sum>`, `<by>`, `"("`, `identifier "foo"`,
// `number "1"`, `string "\"abc\""`, `duration "5m"`.
std::string DescribeToken(const Token& t);

}  // namespace sightline::promql
