// The in-memory shape of a trace, shared by the traces signal: OTLP ingest
// decodes into it, tail sampling decides on it, the store encodes it into
// blocks and decodes it back, TraceQL evaluates over it, and the Tempo API
// renders it. It mirrors OTLP's ResourceSpans/ScopeSpans/Span with the
// resource and scope hoisted into per-trace tables.
//
// Ids are raw bytes: trace ids 16, span ids 8 (empty when absent, e.g. a root
// span's parent). Times are Unix nanoseconds. Enums use OTLP's numbers:
// SpanKind 0 unspecified, 1 internal, 2 server, 3 client, 4 producer,
// 5 consumer; StatusCode 0 unset, 1 ok, 2 error.
//
// Values; copy freely.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace sightline::traces {

struct AttributeValue;
using ArrayValue = std::vector<AttributeValue>;
struct KeyValue;
using KeyValueList = std::vector<KeyValue>;

// OTLP AnyValue. monostate: empty value. Bytes values are kept as a string
// tagged `is_bytes` so they render as base64 like OTLP JSON.
struct AttributeValue {
  std::variant<std::monostate, std::string, bool, int64_t, double, ArrayValue, KeyValueList> v;
  bool is_bytes = false;
};

struct KeyValue {
  std::string key;
  AttributeValue value;
};

struct Event {
  uint64_t time_unix_nano = 0;
  std::string name;
  std::vector<KeyValue> attributes;
  uint32_t dropped_attributes_count = 0;
};

struct Link {
  std::string trace_id;  // 16 bytes
  std::string span_id;   // 8 bytes
  std::string trace_state;
  std::vector<KeyValue> attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
};

struct Resource {
  std::vector<KeyValue> attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
};

struct Scope {
  std::string name;
  std::string version;
  std::vector<KeyValue> attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
};

struct Span {
  std::string span_id;         // 8 bytes
  std::string parent_span_id;  // 8 bytes, empty for a root span
  std::string trace_state;
  uint32_t flags = 0;
  std::string name;
  int kind = 0;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  std::vector<KeyValue> attributes;
  uint32_t dropped_attributes_count = 0;
  std::vector<Event> events;
  uint32_t dropped_events_count = 0;
  std::vector<Link> links;
  uint32_t dropped_links_count = 0;
  int status_code = 0;
  std::string status_message;
  uint32_t resource_index = 0;  // into Trace::resources
  uint32_t scope_index = 0;     // into Trace::scopes
};

struct Trace {
  std::string trace_id;  // 16 bytes
  std::vector<Resource> resources;
  std::vector<Scope> scopes;
  std::vector<Span> spans;
};

}  // namespace sightline::traces
