// Numeric and text helpers of the engine that must behave like Go's
// standard library (math.Max, strconv.ParseFloat, ...) for results to match
// Prometheus bit for bit.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "metrics/promql/engine_internal.h"
#include "metrics/promql/go_text.h"
#include "metrics/promql/matcher.h"

namespace sightline::promql::internal {

double GoMax(double a, double b) {
  if (std::isinf(a) && a > 0) return a;
  if (std::isinf(b) && b > 0) return b;
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  if (a == 0 && a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

double GoMin(double a, double b) {
  if (std::isinf(a) && a < 0) return a;
  if (std::isinf(b) && b < 0) return b;
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  if (a == 0 && a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

void KahanSumInc(double inc, double* sum, double* c, bool v3) {
  const double t = *sum + inc;
  if (v3 && std::isinf(t)) {
    *c = 0;
  } else if (std::fabs(*sum) >= std::fabs(inc)) {
    // Neumaier: the larger operand keeps its low-order bits.
    *c += (*sum - t) + inc;
  } else {
    *c += (inc - t) + *sum;
  }
  *sum = t;
}

double Quantile(double q, std::vector<double>* values) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (values->empty() || std::isnan(q)) return kNaN;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::sort(values->begin(), values->end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    return a < b;
  });
  const double n = static_cast<double>(values->size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
         (*values)[static_cast<size_t>(upper)] * weight;
}

std::string FormatFloatF(double v) { return FormatFloatGo(v); }

bool ParseGoFloat(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string str(s);
  size_t i = 0;
  if (str[0] == '+' || str[0] == '-') i = 1;
  std::string rest = str.substr(i);
  std::string lower;
  for (char c : rest) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool neg = str[0] == '-';
  if (lower == "inf" || lower == "infinity") {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (lower == "nan") {
    if (i != 0) return false;  // Go accepts no sign on NaN.
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Digits, '.', exponent; hex needs a 'p' exponent; no spaces, no
  // underscores (Go allows them only after a base prefix, which we reject).
  if (rest.empty()) return false;
  const bool hex = lower.size() > 1 && lower[0] == '0' && lower[1] == 'x';
  for (char c : lower) {
    const bool ok = std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' ||
                    c == '+' || c == '-' ||
                    (hex && (c == 'x' || c == 'p' || (c >= 'a' && c <= 'f')));
    if (!ok) return false;
  }
  if (hex && lower.find('p') == std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size()) return false;
  if (errno == ERANGE && std::isinf(v)) return false;
  *out = v;
  return true;
}

bool IsValidLabelName(std::string_view name, bool utf8) {
  if (name.empty()) return false;
  if (utf8) return IsValidUtf8(name);
  return IsLegacyLabelName(name);
}

}  // namespace sightline::promql::internal
