// Small parsing helpers shared by the S3 backend and the STS client.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline::io {

// ISO 8601 / RFC 3339 timestamps as S3 and STS write them:
// "2024-05-17T08:09:10Z", "2024-05-17T08:09:10.123Z", "...+02:00".
// Returns Unix epoch milliseconds.
Result<int64_t> ParseIso8601Ms(std::string_view s);

// HTTP dates (RFC 7231 IMF-fixdate): "Wed, 12 Oct 2009 17:50:00 GMT".
Result<int64_t> ParseHttpDateMs(std::string_view s);

// Percent-decoding as S3 applies it with encoding-type=url ('+' is a space
// when `plus_is_space`). InvalidArgument on a malformed escape.
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space);

// Capped exponential backoff with full jitter: a uniformly random delay in
// [0, min(max_ms, min_ms * 2^retry)]. `retry` counts from 0. Full jitter
// spreads clients that failed together (AWS Architecture Blog, "Exponential
// Backoff And Jitter").
std::chrono::milliseconds BackoffDelay(int retry, int min_ms, int max_ms);

// Removes one pair of surrounding double quotes (ETag headers and elements).
std::string_view StripQuotes(std::string_view s);

}  // namespace sightline::io
