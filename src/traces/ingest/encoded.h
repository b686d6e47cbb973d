// EncodedTraces: a request's traces already in the store's record encoding
// (one EncodeTrace record per trace id, inline strings;
// docs/formats/traces-wal.md), plus the few fields per span the metrics
// generator needs. The OTLP/protobuf receivers build it straight from the
// wire bytes (otlp_wire.h, EncodeOtlpWire) and hand it to the sink, so the
// ingest hot path builds no model Trace objects: the store appends the
// records to its WAL and head as they are, the generator reads the views.
// The buffer is laid out as the store's WAL record of all the traces
// (`framed`), so that the store appends it without building a copy.
//
// Lifetime: `spans`' string views point into the request body (and static
// strings); an EncodedTraces is valid while that body lives, i.e. during
// TraceSink::PushEncoded. A sink that keeps anything copies it.
//
// Values; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::traces::ingest {

// One span, as the metrics generator sees it.
struct SpanView {
  std::string_view service;  // resource service.name, else "unknown_service"
  std::string_view name;
  std::string_view span_id;         // 8 bytes
  std::string_view parent_span_id;  // 8 bytes, or empty (root span)
  int kind = 0;                     // OTLP SpanKind number
  int status_code = 0;              // OTLP StatusCode number
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
};

// The type byte of the store's WAL record of traces
// (docs/formats/traces-wal.md: type, count, then each part length-prefixed).
inline constexpr uint8_t kWalTracesRecord = 1;

struct EncodedTraces {
  struct Entry {
    uint32_t offset = 0;  // of the record in `buffer`
    uint32_t size = 0;
    uint32_t first_span = 0;  // its spans: spans[first_span, first_span + num_spans)
    uint32_t num_spans = 0;
  };
  std::string buffer;          // the records (see `framed`)
  std::vector<Entry> traces;   // one per trace id, in order of first appearance
  std::vector<SpanView> spans; // grouped by trace, in each trace's record order
  // True: `buffer` is exactly the store's WAL record of all the traces —
  // kWalTracesRecord, uvarint count, then each record length-prefixed — so
  // a store that accepts every trace appends it as it is, without building
  // a copy. False: the records are back to back, nothing else.
  bool framed = false;

  // The whole WAL record when `framed`, else empty.
  std::string_view wal_record() const { return framed ? std::string_view(buffer) : std::string_view(); }

  std::string_view record(size_t i) const {
    return std::string_view(buffer).substr(traces[i].offset, traces[i].size);
  }
  // Every record starts with its 16-byte trace id.
  std::string_view trace_id(size_t i) const { return record(i).substr(0, 16); }
  size_t size() const { return traces.size(); }
  bool empty() const { return traces.empty(); }
};

}  // namespace sightline::traces::ingest
