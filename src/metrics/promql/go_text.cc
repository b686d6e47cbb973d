#include "metrics/promql/go_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace sightline::promql {
namespace {

constexpr int32_t kRuneError = 0xFFFD;
constexpr int32_t kMaxRune = 0x10FFFF;

bool IsValidRune(int32_t r) { return r >= 0 && r <= kMaxRune && !(r >= 0xD800 && r <= 0xDFFF); }

// Approximates Go's strconv.IsPrint (letters, marks, numbers, punctuation,
// symbols and the ASCII space). See the header for the caveat.
bool IsPrintableRune(int32_t r) {
  if (r < 0x20) return false;
  if (r < 0x7F) return true;
  if (r <= 0xA0) return false;  // DEL, C1 controls, NBSP (Zs).
  if (r == 0xAD) return false;  // Soft hyphen (Cf).
  if (r < 0x0600) return true;
  if ((r >= 0x0600 && r <= 0x0605) || r == 0x061C || r == 0x06DD || r == 0x070F || r == 0x1680 ||
      r == 0x180E || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
      (r >= 0x205F && r <= 0x206F) || r == 0x3000 || (r >= 0xD800 && r <= 0xF8FF) || r == 0xFEFF ||
      (r >= 0xFFF0 && r <= 0xFFFB) || r == 0xFFFE || r == 0xFFFF || r == 0x110BD ||
      (r >= 0x1BCA0 && r <= 0x1BCA3) || (r >= 0x1D173 && r <= 0x1D17A) ||
      (r >= 0xE0000 && r <= 0xE007F) || r >= 0xF0000) {
    return false;
  }
  return true;
}

void AppendHex(std::string* out, uint32_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out->push_back(kHex[(v >> (4 * i)) & 0xF]);
}

// Appends rune `r` (decoded with `width` bytes from `raw`) to a Go-quoted
// string using `quote` as the delimiter.
void AppendQuotedRune(std::string* out, int32_t r, int width, std::string_view raw, char quote) {
  if (width == 1 && r == kRuneError) {
    out->append("\\x");
    AppendHex(out, static_cast<unsigned char>(raw[0]), 2);
    return;
  }
  if (r == quote || r == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(r));
    return;
  }
  if (IsPrintableRune(r)) {
    out->append(raw.substr(0, width));
    return;
  }
  switch (r) {
    case '\a':
      out->append("\\a");
      return;
    case '\b':
      out->append("\\b");
      return;
    case '\f':
      out->append("\\f");
      return;
    case '\n':
      out->append("\\n");
      return;
    case '\r':
      out->append("\\r");
      return;
    case '\t':
      out->append("\\t");
      return;
    case '\v':
      out->append("\\v");
      return;
    default:
      break;
  }
  if (r < ' ' || r == 0x7F) {
    out->append("\\x");
    AppendHex(out, static_cast<uint32_t>(r), 2);
  } else if (r < 0x10000) {
    out->append("\\u");
    AppendHex(out, static_cast<uint32_t>(r), 4);
  } else {
    out->append("\\U");
    AppendHex(out, static_cast<uint32_t>(r), 8);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status SyntaxError() { return InvalidArgumentError("invalid syntax"); }

std::string SpecialFloat(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

}  // namespace

DecodedRune DecodeRune(std::string_view s, size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1};
  int need;
  int32_t r;
  int32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    need = 1, r = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    need = 2, r = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    need = 3, r = b0 & 0x07, min = 0x10000;
  } else {
    return {kRuneError, 1};
  }
  if (pos + need >= s.size()) return {kRuneError, 1};
  for (int i = 1; i <= need; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return {kRuneError, 1};
    r = (r << 6) | (b & 0x3F);
  }
  if (r < min || !IsValidRune(r)) return {kRuneError, 1};
  return {r, need + 1};
}

void AppendUtf8(std::string* out, int32_t r) {
  if (!IsValidRune(r)) r = kRuneError;
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const DecodedRune d = DecodeRune(s, i);
    if (d.rune == kRuneError && d.width == 1) return false;
    i += d.width;
  }
  return true;
}

std::string QuoteGo(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const DecodedRune d = DecodeRune(s, i);
    AppendQuotedRune(&out, d.rune, d.width, s.substr(i), '"');
    i += d.width;
  }
  out.push_back('"');
  return out;
}

std::string QuoteRuneGo(int32_t rune) {
  if (!IsValidRune(rune)) rune = kRuneError;
  std::string raw;
  AppendUtf8(&raw, rune);
  std::string out = "'";
  AppendQuotedRune(&out, rune, static_cast<int>(raw.size()), raw, '\'');
  out.push_back('\'');
  return out;
}

std::string RuneCodeGo(int32_t rune) {
  std::string out = "U+";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04X", static_cast<unsigned>(rune < 0 ? kRuneError : rune));
  out += buf;
  if (IsValidRune(rune) && IsPrintableRune(rune)) {
    out += " '";
    AppendUtf8(&out, rune);
    out += "'";
  }
  return out;
}

Result<std::string> UnquoteGo(std::string_view s) {
  if (s.size() < 2) return SyntaxError();
  const char quote = s.front();
  if (quote != s.back()) return SyntaxError();
  s = s.substr(1, s.size() - 2);
  if (quote == '`') {
    if (s.find('`') != std::string_view::npos) return SyntaxError();
    return std::string(s);
  }
  if (quote != '"' && quote != '\'') return SyntaxError();
  if (s.find('\n') != std::string_view::npos) return SyntaxError();
  if (s.find('\\') == std::string_view::npos && s.find(quote) == std::string_view::npos) {
    return std::string(s);
  }
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == static_cast<unsigned char>(quote)) return SyntaxError();
    if (c >= 0x80) {
      const DecodedRune d = DecodeRune(s, i);
      AppendUtf8(&out, d.rune);
      i += d.width;
      continue;
    }
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return SyntaxError();
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
      case '"':
        if (e != quote) return SyntaxError();
        out.push_back(e);
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        if (s.size() - i < n) return SyntaxError();
        uint32_t v = 0;
        for (size_t k = 0; k < n; ++k) {
          const int h = HexValue(s[i + k]);
          if (h < 0) return SyntaxError();
          v = (v << 4) | static_cast<uint32_t>(h);
        }
        i += n;
        if (e == 'x') {
          out.push_back(static_cast<char>(v));  // A single byte, possibly not UTF-8.
        } else {
          if (v > static_cast<uint32_t>(kMaxRune) || !IsValidRune(static_cast<int32_t>(v))) {
            return SyntaxError();
          }
          AppendUtf8(&out, static_cast<int32_t>(v));
        }
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        if (s.size() - i < 2) return SyntaxError();
        uint32_t v = static_cast<uint32_t>(e - '0');
        for (size_t k = 0; k < 2; ++k) {
          const char d = s[i + k];
          if (d < '0' || d > '7') return SyntaxError();
          v = v * 8 + static_cast<uint32_t>(d - '0');
        }
        if (v > 255) return SyntaxError();
        i += 2;
        out.push_back(static_cast<char>(v));
        break;
      }
      default:
        return SyntaxError();
    }
  }
  return out;
}

std::string FormatFloatGo(double v) {
  if (!std::isfinite(v)) return SpecialFloat(v);
  // Go prints the shortest round-tripping digits and pads with zeros, where
  // std::to_chars in fixed notation would print every digit of the exact
  // binary value (1e100 -> 10000000000000000159...). Start from the
  // shortest scientific form instead.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  const int n = static_cast<int>(digits.size());
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  } else if (exp >= n - 1) {
    out += digits;
    out.append(static_cast<size_t>(exp - (n - 1)), '0');
  } else {
    out += digits.substr(0, static_cast<size_t>(exp) + 1);
    out += '.';
    out += digits.substr(static_cast<size_t>(exp) + 1);
  }
  return out;
}

std::string FormatFloatV(double v) {
  if (!std::isfinite(v)) return SpecialFloat(v);
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e = sci.find('e');
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  // Go's %v is %g with the shortest digits, which switches to the exponent
  // form below 1e-4 and from 1e6 on; both write at least two exponent digits.
  if (exp < -4 || exp >= 6) return std::string(sci);
  return FormatFloatGo(v);
}

std::string FormatFloatFixed(double v, int precision) {
  if (!std::isfinite(v)) return SpecialFloat(v);
  char buf[400];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, precision);
  return std::string(buf, res.ptr);
}

}  // namespace sightline::promql
