// Hand-built traces and an in-memory TraceSource for the TraceQL tests.
//
// kT1 (frontend -> api):           kT2 (payments):        kT3 (no root span):
//   "GET /"      server 100ms        "POST /pay" server 3s   "orphan" consumer 10ms
//   └"call api"  client 80ms         └"charge" internal 2.5s   (parent not in trace)
//    └"handle"   server 70ms error
//     ├"db query" client 30ms (link to kT2)
//     └"cache get" client 2ms
// Span names are unique across traces, so tests name spans by name.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "traces/model.h"
#include "traces/traceql/storage.h"

namespace sightline::traces::traceql::testing {

// All traces start on a minute boundary (1699999980 s), spans in order.
inline constexpr uint64_t kT0 = 1'699'999'980ULL * 1'000'000'000ULL;
inline constexpr uint64_t kMs = 1'000'000ULL;
inline constexpr uint64_t kSec = 1'000'000'000ULL;

inline std::string Id(uint8_t tag, size_t len) {
  std::string id(len, '\0');
  id[0] = static_cast<char>(0xa0);
  id[len - 1] = static_cast<char>(tag);
  return id;
}
inline std::string TraceIdOf(int n) { return Id(static_cast<uint8_t>(n), 16); }
inline std::string SpanIdOf(int n) { return Id(static_cast<uint8_t>(n), 8); }

inline std::string ToHex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s.push_back(d[c >> 4]);
    s.push_back(d[c & 15]);
  }
  return s;
}

inline KeyValue KV(std::string k, std::string v) {
  return {std::move(k), AttributeValue{std::move(v)}};
}
inline KeyValue KV(std::string k, const char* v) {
  return {std::move(k), AttributeValue{std::string(v)}};
}
inline KeyValue KV(std::string k, int64_t v) { return {std::move(k), AttributeValue{v}}; }
inline KeyValue KV(std::string k, int v) {
  return {std::move(k), AttributeValue{static_cast<int64_t>(v)}};
}
inline KeyValue KV(std::string k, double v) { return {std::move(k), AttributeValue{v}}; }
inline KeyValue KV(std::string k, bool v) { return {std::move(k), AttributeValue{v}}; }

inline Span MakeSpan(int id, int parent, std::string name, int kind, uint64_t start, uint64_t dur,
                     uint32_t resource, std::vector<KeyValue> attrs = {}) {
  Span s;
  s.span_id = SpanIdOf(id);
  if (parent > 0) s.parent_span_id = SpanIdOf(parent);
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_nano = start;
  s.end_unix_nano = start + dur;
  s.resource_index = resource;
  s.attributes = std::move(attrs);
  return s;
}

inline Resource Res(std::string service, std::vector<KeyValue> extra = {}) {
  Resource r;
  r.attributes.push_back(KV("service.name", std::move(service)));
  for (auto& kv : extra) r.attributes.push_back(std::move(kv));
  return r;
}

inline Trace T1() {
  Trace t;
  t.trace_id = TraceIdOf(1);
  t.resources = {Res("frontend", {KV("deployment.environment", "prod")}), Res("api")};
  t.scopes.push_back(Scope{"io.http", "0.9", {}, 0, ""});
  const uint64_t s = kT0 + 1 * kSec;
  t.spans.push_back(MakeSpan(11, 0, "GET /", 2, s, 100 * kMs, 0,
                             {KV("http.method", "GET"), KV("http.status_code", 200)}));
  t.spans.push_back(
      MakeSpan(12, 11, "call api", 3, s + 10 * kMs, 80 * kMs, 0, {KV("peer.service", "api")}));
  Span handle =
      MakeSpan(13, 12, "handle", 2, s + 15 * kMs, 70 * kMs, 1, {KV("http.status_code", 500)});
  handle.status_code = 2;
  handle.status_message = "boom";
  KeyValue tags;
  tags.key = "tags";
  tags.value.v = ArrayValue{AttributeValue{std::string("x")}, AttributeValue{std::string("y")}};
  handle.attributes.push_back(tags);
  Event ev;
  ev.name = "exception";
  ev.time_unix_nano = s + 20 * kMs;
  ev.attributes = {KV("exception.type", "IOError")};
  handle.events.push_back(ev);
  t.spans.push_back(handle);
  Span db =
      MakeSpan(14, 13, "db query", 3, s + 20 * kMs, 30 * kMs, 1, {KV("db.system", "postgresql")});
  Link l;
  l.trace_id = TraceIdOf(2);
  l.span_id = SpanIdOf(21);
  l.attributes = {KV("link.kind", "follows")};
  db.links.push_back(l);
  t.spans.push_back(db);
  t.spans.push_back(
      MakeSpan(15, 13, "cache get", 3, s + 60 * kMs, 2 * kMs, 1, {KV("db.system", "redis")}));
  return t;
}

inline Trace T2() {
  Trace t;
  t.trace_id = TraceIdOf(2);
  t.resources = {Res("payments")};
  t.scopes.push_back(Scope{"io.pay", "2.0", {}, 0, ""});
  const uint64_t s = kT0 + 61 * kSec;
  Span pay = MakeSpan(21, 0, "POST /pay", 2, s, 3 * kSec, 0,
                      {KV("http.method", "POST"), KV("http.status_code", 201), KV("amount", 12.5),
                       KV("retry", true)});
  pay.status_code = 1;
  t.spans.push_back(pay);
  t.spans.push_back(
      MakeSpan(22, 21, "charge", 1, s + 100 * kMs, 2500 * kMs, 0, {KV("user name", "bob")}));
  return t;
}

inline Trace T3() {
  Trace t;
  t.trace_id = TraceIdOf(3);
  t.resources = {Res("worker")};
  Scope sc;
  sc.name = "io.worker";
  sc.version = "1.2.3";
  sc.attributes = {KV("lib.tag", "w")};
  t.scopes.push_back(sc);
  t.spans.push_back(
      MakeSpan(31, 99, "orphan", 5, kT0 + 121 * kSec, 10 * kMs, 0, {KV("queue", "jobs")}));
  return t;
}

inline bool HasString(const std::vector<KeyValue>& kvs, const std::string& key,
                      const std::string& value) {
  for (const KeyValue& kv : kvs) {
    if (kv.key != key) continue;
    if (const auto* s = std::get_if<std::string>(&kv.value.v)) return *s == value;
    if (const auto* arr = std::get_if<ArrayValue>(&kv.value.v)) {
      for (const AttributeValue& e : *arr) {
        if (const auto* es = std::get_if<std::string>(&e.v); es && *es == value) return true;
      }
    }
    return false;
  }
  return false;
}

// Whether a trace can satisfy the hints, as a pruning store would decide
// (string elements of array attributes count as values).
inline bool MaySatisfy(const Trace& t, const ScanHints& h) {
  for (const auto& eq : h.equalities) {
    bool found = false;
    for (const Span& s : t.spans) {
      if (eq.scope != "resource" && HasString(s.attributes, eq.key, eq.value)) found = true;
      if (eq.scope != "span" && s.resource_index < t.resources.size() &&
          HasString(t.resources[s.resource_index].attributes, eq.key, eq.value)) {
        found = true;
      }
    }
    if (!found) return false;
  }
  if (h.span_name) {
    bool found = false;
    for (const Span& s : t.spans) found |= s.name == *h.span_name;
    if (!found) return false;
  }
  if (h.min_span_duration_nano) {
    bool found = false;
    for (const Span& s : t.spans)
      found |= s.end_unix_nano - s.start_unix_nano >= *h.min_span_duration_nano;
    if (!found) return false;
  }
  return true;
}

// TraceSource over a vector of traces; Scan honours the time range (a trace
// overlaps when any span starts in [start, end)), records the hints and,
// like a real store, skips traces the hints rule out (so every table test
// also checks that the engine's hints are sound).
class MemorySource : public TraceSource {
 public:
  explicit MemorySource(std::vector<Trace> traces) : traces_(std::move(traces)) {}
  Status Scan(const ScanParams& params, const std::function<bool(const Trace&)>& fn) override {
    last_hints = params.hints;
    ++scans;
    for (const Trace& t : traces_) {
      if (prune && !MaySatisfy(t, params.hints)) continue;
      bool in = params.start_unix_nano == 0 && params.end_unix_nano == 0;
      for (const Span& s : t.spans) {
        if (in) break;
        in = s.start_unix_nano >= params.start_unix_nano &&
             (params.end_unix_nano == 0 || s.start_unix_nano < params.end_unix_nano);
      }
      if (!in) continue;
      if (!fn(t)) break;
    }
    return Status::Ok();
  }
  ScanHints last_hints;
  int scans = 0;
  bool prune = true;

 private:
  std::vector<Trace> traces_;
};

inline MemorySource DefaultSource() { return MemorySource({T1(), T2(), T3()}); }

}  // namespace sightline::traces::traceql::testing
