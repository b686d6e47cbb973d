// Internal to src/traces/api: parameter parsing and JSON pieces shared by the
// trace-by-id and the search/metrics handlers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json_writer.h"
#include "base/status.h"
#include "net/http.h"
#include "traces/model.h"

namespace sightline::traces::api {

// Unix time as Tempo accepts it: seconds (integer or decimal), or ms/µs/ns
// recognized by magnitude. Returns nanoseconds.
Result<uint64_t> ParseUnixTime(std::string_view s);
// Go duration ("1h2m", "100ms", "1.5s", "250us"), also Prometheus' d, w, y
// (as Tempo's `since`); a bare number is seconds.
Result<uint64_t> ParseGoDurationNanos(std::string_view s);

// The time range of a TraceQL metrics query when the client leaves it out
// (0), as Tempo defaults it: end = now, start = min(end, now) - since
// (`since` defaults to 1h). Shared by the HTTP and the streaming gRPC API.
inline constexpr uint64_t kDefaultMetricsSince = 3600ull * 1'000'000'000ull;
void DefaultMetricsRange(uint64_t* start_unix_nano, uint64_t* end_unix_nano,
                         uint64_t since_nano = kDefaultMetricsSince);

// Reads optional start/end parameters into ns (0 when absent); 400 text on
// error (returns false).
bool ReadTimeRange(const net::HttpRequest& req, net::HttpResponse& resp, uint64_t* start,
                   uint64_t* end);

// OTLP-JSON-style attribute: {"key":k,"value":{"stringValue":...}}.
void WriteKeyValue(JsonWriter& w, const KeyValue& kv);
void WriteAnyValue(JsonWriter& w, const AttributeValue& v);

void BadRequest(net::HttpResponse& resp, const std::string& msg);

}  // namespace sightline::traces::api
