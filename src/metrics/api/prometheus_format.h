// Parameter parsing and JSON encoding of the Prometheus HTTP API, byte for
// byte as Prometheus's web/api/v1 and util/jsonutil produce them. Separate
// from the handlers so each rule can be tested alone.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "metrics/promql/value.h"

namespace sightline::metrics::api {

// Prometheus's API MinTime / MaxTime in milliseconds: the defaults of
// start/end on /series, /labels and friends.
inline constexpr int64_t kMinTimeMs = -9223309901257974000;
inline constexpr int64_t kMaxTimeMs = 9223309901257974999;

// parseTime: a unix time in (float) seconds, rounded to the millisecond, or
// an RFC 3339 time (fraction truncated to the millisecond), or Prometheus's
// formatted MinTime/MaxTime. Out-of-range numbers are clamped to
// [kMinTimeMs, kMaxTimeMs]. InvalidArgument `cannot parse "x" to a valid
// timestamp`.
Result<int64_t> ParseTimeParam(std::string_view s);

// parseDuration: float seconds or a Prometheus duration ("5m", "1h30m"),
// in nanoseconds as Go's time.Duration. InvalidArgument `cannot parse "x"
// to a valid duration` (or `... It overflows int64`).
Result<int64_t> ParseDurationParamNs(std::string_view s);

// parseLimitParam: "" → 0; a non-negative integer; else InvalidArgument
// with Go's messages (`strconv.Atoi: parsing "x": invalid syntax`, "limit
// must be non-negative").
Result<int64_t> ParseLimitParam(std::string_view s);

// Go's time.Duration.String() of a duration in nanoseconds ("1h0m0s",
// "1.5s", "500ms", "0s").
std::string FormatGoDuration(int64_t ns);

// Appends `s` as Go's encoding/json (and jsoniter's standard config) writes
// a string: <, > and & as \u003c \u003e \u0026, U+2028/2029 escaped,
// invalid UTF-8 as \ufffd.
void AppendGoJsonString(std::string& out, std::string_view s);

// jsonutil.MarshalTimestamp: ms as seconds with the fraction printed as 3
// digits when non-zero (1500 → 1.500, 1000 → 1, -1 → -0.001).
void AppendTimestamp(std::string& out, int64_t t_ms);

// jsonutil.MarshalFloat: a quoted value, Go 'f' -1 formatting except 'e'
// for |v| < 1e-6 or >= 1e21 ("1e+21"); "NaN", "+Inf", "-Inf".
void AppendSampleValue(std::string& out, double v);

// encoding/json of a float64 (scalar and string timestamps): shortest
// round-trip digits, 'f' form unless |v| < 1e-6 or >= 1e21.
void AppendGoJsonFloat(std::string& out, double v);

// {"name":"value",...} in label order.
void AppendLabels(std::string& out, const tsdb::Labels& labels);

// {"resultType":"vector","result":[...]} for a query result; scalars as
// promql.Scalar.MarshalJSON ([t,"v"] with the value in 'f' -1 form).
void AppendQueryData(std::string& out, const promql::QueryResult& result);

}  // namespace sightline::metrics::api
