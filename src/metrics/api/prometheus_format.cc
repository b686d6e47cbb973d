#include "metrics/api/prometheus_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

#include "metrics/promql/duration.h"
#include "metrics/promql/go_text.h"

namespace sightline::metrics::api {
namespace {

// Prometheus's minTimeFormatted / maxTimeFormatted (time.RFC3339Nano).
constexpr std::string_view kMinTimeFormatted = "-292273086-05-16T16:47:06Z";
constexpr std::string_view kMaxTimeFormatted = "292277025-08-18T07:12:54.999999999Z";

// Go's strconv.ParseFloat for the forms clients send: optional sign,
// decimal or exponent form, inf/infinity/nan. Hex floats are accepted too.
bool ParseGoFloat(std::string_view s, double* out) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
    if (s.empty() || s[0] == '+' || s[0] == '-') return false;
  }
  auto fmt = std::chars_format::general;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    fmt = std::chars_format::hex;
  }
  double v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v, fmt);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return false;
  *out = neg ? -v : v;
  return true;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// time.Parse(time.RFC3339Nano, s) followed by timestamp.FromTime.
bool ParseRfc3339Ms(std::string_view s, int64_t* out) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || s[10] != 'T' || !Digits(s, 11, 2, &hour) ||
      s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' || !Digits(s, 17, 2, &second)) {
    return false;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return false;
    for (; n < 9; ++n) nanos *= 10;
  }
  int64_t offset_s = 0;
  if (pos >= s.size()) return false;
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || hour > 23 || minute > 59 ||
      second > 59) {
    return false;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return false;
  const int64_t secs =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  *out = secs * 1000 + nanos / 1000000;
  return true;
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

// Go's strconv.AppendFloat(v, 'e', -1, 64) for finite v.
std::string FormatGoExp(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  return std::string(buf, res.ptr);
}

// fmtFrac of Go's time package: the `prec` low digits of v as a fraction
// without trailing zeros; returns v / 10^prec.
uint64_t AppendGoFrac(std::string& rev, uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const auto digit = static_cast<char>(v % 10);
    print = print || digit != 0;
    if (print) rev.push_back(static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) rev.push_back('.');
  return v;
}

void AppendGoIntRev(std::string& rev, uint64_t v) {
  if (v == 0) {
    rev.push_back('0');
    return;
  }
  while (v > 0) {
    rev.push_back(static_cast<char>('0' + v % 10));
    v /= 10;
  }
}

}  // namespace

Result<int64_t> ParseTimeParam(std::string_view s) {
  double t = 0;
  if (ParseGoFloat(s, &t) && !std::isnan(t)) {
    // Prometheus: s, ns := math.Modf(t); ns = math.Round(ns*1000)/1000;
    // time.Unix(int64(s), int64(ns*1e9)), then timestamp.FromTime.
    if (t >= 9.2e15) return kMaxTimeMs;
    if (t <= -9.2e15) return kMinTimeMs;
    double whole = 0;
    double frac = std::modf(t, &whole);
    frac = std::round(frac * 1000) / 1000;
    int64_t sec = static_cast<int64_t>(whole);
    int64_t nsec = static_cast<int64_t>(frac * 1e9);
    if (nsec < 0 || nsec >= 1000000000) {
      const int64_t n = nsec / 1000000000;
      sec += n;
      nsec -= n * 1000000000;
      if (nsec < 0) {
        nsec += 1000000000;
        --sec;
      }
    }
    const int64_t ms = sec * 1000 + nsec / 1000000;
    return std::clamp(ms, kMinTimeMs, kMaxTimeMs);
  }
  int64_t ms = 0;
  if (ParseRfc3339Ms(s, &ms)) return ms;
  if (s == kMinTimeFormatted) return kMinTimeMs;
  if (s == kMaxTimeFormatted) return kMaxTimeMs;
  return InvalidArgumentError("cannot parse " + promql::QuoteGo(s) + " to a valid timestamp");
}

Result<int64_t> ParseDurationParamNs(std::string_view s) {
  double d = 0;
  if (ParseGoFloat(s, &d) && !std::isnan(d)) {
    const double ns = d * 1e9;
    if (ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
      return InvalidArgumentError("cannot parse " + promql::QuoteGo(s) +
                                  " to a valid duration. It overflows int64");
    }
    return static_cast<int64_t>(ns);
  }
  auto ms = promql::ParseDuration(s);
  if (ms.ok() && *ms <= std::numeric_limits<int64_t>::max() / 1000000) return *ms * 1000000;
  return InvalidArgumentError("cannot parse " + promql::QuoteGo(s) + " to a valid duration");
}

Result<int64_t> ParseLimitParam(std::string_view s) {
  if (s.empty()) return int64_t{0};
  std::string_view digits = s;
  if (digits[0] == '+' || digits[0] == '-') digits.remove_prefix(1);
  int64_t v = 0;
  const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || res.ptr != digits.data() + digits.size() || digits[0] == '+' ||
      digits[0] == '-') {
    return InvalidArgumentError("strconv.Atoi: parsing " + promql::QuoteGo(s) + ": invalid syntax");
  }
  if (res.ec == std::errc::result_out_of_range) {
    return InvalidArgumentError("strconv.Atoi: parsing " + promql::QuoteGo(s) +
                                ": value out of range");
  }
  if (s[0] == '-' && v != 0) return InvalidArgumentError("limit must be non-negative");
  return v;
}

std::string FormatGoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  const bool neg = ns < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  std::string rev;  // Built backwards, as Go does.
  if (u < 1000000000ull) {
    int prec;
    rev = "s";
    if (u < 1000ull) {
      prec = 0;
      rev += "n";
    } else if (u < 1000000ull) {
      prec = 3;
      rev += "\xb5\xc2";  // "µ" reversed
    } else {
      prec = 6;
      rev += "m";
    }
    u = AppendGoFrac(rev, u, prec);
    AppendGoIntRev(rev, u);
  } else {
    rev = "s";
    u = AppendGoFrac(rev, u, 9);
    AppendGoIntRev(rev, u % 60);
    u /= 60;
    if (u > 0) {
      rev.push_back('m');
      AppendGoIntRev(rev, u % 60);
      u /= 60;
      if (u > 0) {
        rev.push_back('h');
        AppendGoIntRev(rev, u);
      }
    }
  }
  if (neg) rev.push_back('-');
  return std::string(rev.rbegin(), rev.rend());
}

void AppendGoJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
        case '>':
        case '&':
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const promql::DecodedRune r = promql::DecodeRune(s, i);
    if (r.rune == 0xFFFD && r.width == 1) {
      out += "\\ufffd";
    } else if (r.rune == 0x2028 || r.rune == 0x2029) {
      out += r.rune == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, static_cast<size_t>(r.width)));
    }
    i += static_cast<size_t>(r.width > 0 ? r.width : 1);
  }
  out.push_back('"');
}

void AppendTimestamp(std::string& out, int64_t t_ms) {
  uint64_t u = static_cast<uint64_t>(t_ms);
  if (t_ms < 0) {
    out.push_back('-');
    u = 0 - u;
  }
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), u / 1000);
  out.append(buf, res.ptr);
  const uint64_t fraction = u % 1000;
  if (fraction != 0) {
    out.push_back('.');
    if (fraction < 100) out.push_back('0');
    if (fraction < 10) out.push_back('0');
    res = std::to_chars(buf, buf + sizeof(buf), fraction);
    out.append(buf, res.ptr);
  }
}

void AppendSampleValue(std::string& out, double v) {
  out.push_back('"');
  const double abs = std::fabs(v);
  if (std::isfinite(v) && abs != 0 && (abs < 1e-6 || abs >= 1e21)) {
    out += FormatGoExp(v);
  } else {
    out += promql::FormatFloatGo(v);
  }
  out.push_back('"');
}

void AppendGoJsonFloat(std::string& out, double v) {
  if (!std::isfinite(v)) {  // encoding/json refuses these; never for times.
    out += "null";
    return;
  }
  const double abs = std::fabs(v);
  if (abs != 0 && (abs < 1e-6 || abs >= 1e21)) {
    std::string e = FormatGoExp(v);
    const size_t n = e.size();
    // encoding/json cleans up e-09 to e-9.
    if (n >= 4 && e[n - 4] == 'e' && e[n - 3] == '-' && e[n - 2] == '0') {
      e[n - 2] = e[n - 1];
      e.pop_back();
    }
    out += e;
  } else {
    out += promql::FormatFloatGo(v);
  }
}

void AppendLabels(std::string& out, const tsdb::Labels& labels) {
  out.push_back('{');
  bool first = true;
  for (const tsdb::Label& l : labels) {
    if (!first) out.push_back(',');
    first = false;
    AppendGoJsonString(out, l.name);
    out.push_back(':');
    AppendGoJsonString(out, l.value);
  }
  out.push_back('}');
}

void AppendQueryData(std::string& out, const promql::QueryResult& r) {
  out += "{\"resultType\":";
  switch (r.type) {
    case promql::ValueType::kScalar:
      out += "\"scalar\",\"result\":[";
      AppendGoJsonFloat(out, static_cast<double>(r.scalar.t) / 1000);
      out.push_back(',');
      AppendGoJsonString(out, promql::FormatFloatGo(r.scalar.v));
      out.push_back(']');
      break;
    case promql::ValueType::kString:
      out += "\"string\",\"result\":[";
      AppendGoJsonFloat(out, static_cast<double>(r.string.t) / 1000);
      out.push_back(',');
      AppendGoJsonString(out, r.string.v);
      out.push_back(']');
      break;
    case promql::ValueType::kVector: {
      out += "\"vector\",\"result\":[";
      bool first = true;
      for (const promql::Sample& s : r.vector) {
        if (!first) out.push_back(',');
        first = false;
        out += "{\"metric\":";
        AppendLabels(out, s.metric);
        out += ",\"value\":[";
        AppendTimestamp(out, s.t);
        out.push_back(',');
        AppendSampleValue(out, s.f);
        out += "]}";
      }
      out.push_back(']');
      break;
    }
    default: {  // Matrix (range queries, range-vector instant queries).
      out += "\"matrix\",\"result\":[";
      bool first = true;
      for (const promql::Series& s : r.matrix) {
        if (!first) out.push_back(',');
        first = false;
        out += "{\"metric\":";
        AppendLabels(out, s.metric);
        out += ",\"values\":[";
        for (size_t i = 0; i < s.floats.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.push_back('[');
          AppendTimestamp(out, s.floats[i].t);
          out.push_back(',');
          AppendSampleValue(out, s.floats[i].f);
          out.push_back(']');
        }
        out += "]}";
      }
      out.push_back(']');
      break;
    }
  }
  out.push_back('}');
}

}  // namespace sightline::metrics::api
