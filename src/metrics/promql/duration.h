// Prometheus duration strings: "1h30m", "5m", "100ms", "2w", "1y".
//
// ParseDuration follows Prometheus' model.ParseDuration: one or more
// <integer><unit> pairs with units y, w, d, h, m, s, ms in strictly
// decreasing order, each at most once; "0" alone is allowed; no signs, no
// fractions ("1.5m" is an error, as in Prometheus). A year is 365 days, a
// week 7 days. The result is in milliseconds. Error messages are Prometheus'
// ("not a valid duration string: \"5m1h\"", "unknown unit \"hs\" in duration
// \"5y1hs\"", "empty duration string", "duration out of range").
//
// FormatDuration is model.Duration.String(): the largest units first, years
// and weeks only when they divide the value exactly ("90d", not "12w6d"),
// "0s" for zero. Negative values get a leading "-" (Prometheus formats the
// magnitude and adds the sign itself where it prints one).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline::promql {

Result<int64_t> ParseDuration(std::string_view s);
std::string FormatDuration(int64_t ms);

}  // namespace sightline::promql
