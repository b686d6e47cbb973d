// Helpers for the traces tests: building traces and OTLP requests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/model.h"

namespace sightline::traces::testing {

// A 16-byte trace id / 8-byte span id from a number (big-endian, non-zero).
inline std::string TraceId(uint64_t n) {
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) id[15 - i] = static_cast<char>((n >> (8 * i)) & 0xff);
  id[0] = 0x5a;
  return id;
}
inline std::string SpanId(uint64_t n) {
  std::string id(8, '\0');
  for (int i = 0; i < 8; ++i) id[7 - i] = static_cast<char>((n >> (8 * i)) & 0xff);
  id[0] = static_cast<char>(id[0] | 0x40);
  return id;
}

inline KeyValue Str(std::string k, std::string v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = std::move(v);
  return kv;
}
inline KeyValue Int(std::string k, int64_t v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = v;
  return kv;
}

// A trace of `spans` spans of service `service`: a root then children, each
// 1 ms long from `start_ns`, the root lasting `root_ms`.
inline Trace MakeTrace(uint64_t id, int spans, const std::string& service = "checkout",
                       uint64_t start_ns = 1'700'000'000'000'000'000ull, int status = 0,
                       uint64_t root_ms = 5) {
  Trace t;
  t.trace_id = TraceId(id);
  Resource r;
  r.attributes = {Str("service.name", service), Str("host.name", "h1")};
  t.resources.push_back(r);
  Scope sc;
  sc.name = "test-lib";
  sc.version = "1.0";
  t.scopes.push_back(sc);
  for (int i = 0; i < spans; ++i) {
    Span s;
    s.span_id = SpanId(id * 1000 + i + 1);
    if (i > 0) s.parent_span_id = t.spans[0].span_id;
    s.name = i == 0 ? "GET /cart" : "db.query";
    s.kind = i == 0 ? 2 : 3;
    s.start_unix_nano = start_ns + i * 1000;
    s.end_unix_nano = s.start_unix_nano + (i == 0 ? root_ms : 1) * 1'000'000;
    s.attributes = {Str("http.method", "GET"), Int("http.status_code", 200)};
    s.status_code = i == 0 ? status : 0;
    Event e;
    e.name = "cache miss";
    e.time_unix_nano = s.start_unix_nano + 10;
    e.attributes = {Str("k", "v")};
    s.events.push_back(e);
    t.spans.push_back(s);
  }
  return t;
}

}  // namespace sightline::traces::testing
