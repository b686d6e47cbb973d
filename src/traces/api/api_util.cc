#include "traces/api/api_util.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

namespace sightline::traces::api {

void BadRequest(net::HttpResponse& resp, const std::string& msg) { resp.Text(400, msg + "\n"); }

void DefaultMetricsRange(uint64_t* start_unix_nano, uint64_t* end_unix_nano, uint64_t since_nano) {
  const uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
  if (*end_unix_nano == 0) *end_unix_nano = now;
  if (*start_unix_nano == 0) {
    const uint64_t end_or_now = std::min(*end_unix_nano, now);
    *start_unix_nano = end_or_now > since_nano ? end_or_now - since_nano : 0;
  }
}

Result<uint64_t> ParseUnixTime(std::string_view s) {
  std::string text(s);
  char* end = nullptr;
  if (text.find_first_of(".eE") == std::string::npos) {
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-') {
      return InvalidArgumentError("invalid time \"" + text + "\": want Unix seconds");
    }
    if (v < 100'000'000'000ull) return static_cast<uint64_t>(v) * 1'000'000'000ull;     // s
    if (v < 100'000'000'000'000ull) return static_cast<uint64_t>(v) * 1'000'000ull;     // ms
    if (v < 100'000'000'000'000'000ull) return static_cast<uint64_t>(v) * 1'000ull;     // µs
    return static_cast<uint64_t>(v);                                                     // ns
  }
  double d = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(d >= 0) || !std::isfinite(d)) {
    return InvalidArgumentError("invalid time \"" + text + "\": want Unix seconds");
  }
  return static_cast<uint64_t>(d * 1e9);
}

Result<uint64_t> ParseGoDurationNanos(std::string_view s) {
  std::string text(s);
  if (text.empty()) return InvalidArgumentError("empty duration");
  {
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (*end == '\0') {
      if (!(d >= 0) || !std::isfinite(d)) return InvalidArgumentError("invalid duration " + text);
      return static_cast<uint64_t>(d * 1e9);
    }
  }
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return InvalidArgumentError("invalid duration \"" + text + "\"");
    double num = std::strtod(text.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < text.size() && !std::isdigit(static_cast<unsigned char>(text[k])) && text[k] != '.') ++k;
    std::string unit = text.substr(j, k - j);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit == "d") mult = 86400e9;
    else if (unit == "w") mult = 7 * 86400e9;
    else if (unit == "y") mult = 365 * 86400e9;
    else return InvalidArgumentError("invalid duration \"" + text + "\": unknown unit \"" + unit + "\"");
    total += num * mult;
    i = k;
  }
  return static_cast<uint64_t>(total);
}

bool ReadTimeRange(const net::HttpRequest& req, net::HttpResponse& resp, uint64_t* start,
                   uint64_t* end) {
  *start = *end = 0;
  if (auto s = req.Param("start"); s && !s->empty()) {
    auto v = ParseUnixTime(*s);
    if (!v.ok()) {
      BadRequest(resp, "invalid start: " + v.status().message());
      return false;
    }
    *start = *v;
  }
  if (auto e = req.Param("end"); e && !e->empty()) {
    auto v = ParseUnixTime(*e);
    if (!v.ok()) {
      BadRequest(resp, "invalid end: " + v.status().message());
      return false;
    }
    *end = *v;
  }
  if (*start != 0 && *end != 0 && *end < *start) {
    BadRequest(resp, "invalid start and end: end is before start");
    return false;
  }
  return true;
}

void WriteAnyValue(JsonWriter& w, const AttributeValue& v) {
  w.BeginObject();
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    w.Key(v.is_bytes ? "bytesValue" : "stringValue").String(*s);
  } else if (const auto* b = std::get_if<bool>(&v.v)) {
    w.Key("boolValue").Bool(*b);
  } else if (const auto* i = std::get_if<int64_t>(&v.v)) {
    w.Key("intValue").String(std::to_string(*i));
  } else if (const auto* d = std::get_if<double>(&v.v)) {
    w.Key("doubleValue").Double(*d);
  } else if (const auto* a = std::get_if<ArrayValue>(&v.v)) {
    w.Key("arrayValue").BeginObject().Key("values").BeginArray();
    for (const auto& e : *a) WriteAnyValue(w, e);
    w.EndArray().EndObject();
  } else if (const auto* kvs = std::get_if<KeyValueList>(&v.v)) {
    w.Key("kvlistValue").BeginObject().Key("values").BeginArray();
    for (const auto& kv : *kvs) WriteKeyValue(w, kv);
    w.EndArray().EndObject();
  }
  w.EndObject();
}

void WriteKeyValue(JsonWriter& w, const KeyValue& kv) {
  w.BeginObject().Key("key").String(kv.key).Key("value");
  WriteAnyValue(w, kv.value);
  w.EndObject();
}

}  // namespace sightline::traces::api
