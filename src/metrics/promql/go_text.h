// Go-compatible text formatting for the PromQL front end.
//
// Prometheus is written in Go, and what it prints (error messages, the
// String() form of an expression used by /api/v1/format_query, label matcher
// values) follows the rules of Go's strconv and fmt packages. These helpers
// reproduce those rules so that Sightline prints the same bytes:
//
//   QuoteGo          strconv.Quote / fmt %q on a string
//   QuoteRuneGo      fmt %q on a rune ('x', '\n', '\'')
//   RuneCodeGo       fmt %#U on a rune (U+0063 'c')
//   UnquoteGo        Prometheus' strutil.Unquote: "..", '..' (any length), `..`
//   FormatFloatGo    strconv.FormatFloat(v, 'f', -1, 64)  (shortest, no exponent)
//   FormatFloatV     fmt %v on a float64                   (shortest, %g rules)
//   FormatFloatFixed fmt %.<n>f on a float64               (+Inf, -Inf, NaN)
//
// Known approximation: Go decides whether a rune is printable from the full
// Unicode tables; QuoteGo treats every rune >= U+00A0 as printable except
// controls, format characters, separators and private-use ranges that commonly
// appear (see IsPrintableRune in the .cc). Output differs from Go only for
// unusual code points, and always round-trips through UnquoteGo.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline::promql {

// Decodes one UTF-8 rune at `pos` like Go's utf8.DecodeRuneInString: an
// invalid or truncated sequence yields (U+FFFD, 1). Requires pos < s.size().
struct DecodedRune {
  int32_t rune;
  int width;
};
DecodedRune DecodeRune(std::string_view s, size_t pos);

// Appends the UTF-8 encoding of `rune` (U+FFFD for invalid values).
void AppendUtf8(std::string* out, int32_t rune);

// True if `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);

std::string QuoteGo(std::string_view s);
std::string QuoteRuneGo(int32_t rune);
std::string RuneCodeGo(int32_t rune);

// Unquotes a string literal as it appears in PromQL source, quotes included.
// Errors carry Go's messages ("invalid syntax").
Result<std::string> UnquoteGo(std::string_view quoted);

std::string FormatFloatGo(double v);
std::string FormatFloatV(double v);
std::string FormatFloatFixed(double v, int precision);

}  // namespace sightline::promql
