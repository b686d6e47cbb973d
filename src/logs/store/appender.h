// What the logs distributor hands to the log store: a tenant's batch of
// streams, each with its entries, already validated against the tenant's
// ingest limits (src/logs/ingest/validation.h). The store applies what only
// it can check — the per-stream out-of-order window and the per-tenant
// stream limit — makes the accepted entries durable in the WAL and returns
// once they are (an acknowledged push is never lost, DESIGN.md §5).
//
// Thread-safety: implementations are called concurrently from any number of
// request threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/logql/storage.h"

namespace sightline::logs {

// One stream of a push request.
struct PushStream {
  Labels labels;  // sorted, unique, non-empty names (validated)
  std::vector<Entry> entries;
};

// One entry (or a run of them) the store refused, with Loki's reason label
// (loki_discarded_samples_total{reason}) and a message for the client.
struct Rejection {
  std::string reason;   // "out_of_order" / "too_far_behind", "stream_limit"
  std::string message;  // Loki's text
  int64_t entries = 0;
  int64_t bytes = 0;
};

struct AppendResult {
  int64_t accepted_entries = 0;
  int64_t accepted_bytes = 0;
  std::vector<Rejection> rejections;
  // Optional, set by the caller (the TailHub): an appender that supports it
  // appends a copy of every entry it stored, per stream in push order, and
  // sets accepted_reported, so that a partly refused push can still be
  // shown exactly as stored.
  std::vector<PushStream>* accepted = nullptr;
  bool accepted_reported = false;
};

class LogAppender {
 public:
  virtual ~LogAppender() = default;
  // Stores the acceptable entries of `streams` for `tenant` (the vector may
  // be consumed) and reports the rest in `result`. Returns OK when every
  // entry was either stored or rejected for one of the reasons above; an
  // error (WAL write failed: Unavailable/ResourceExhausted/Internal) means
  // nothing of this call was acknowledged and the client should retry.
  virtual Status Append(std::string_view tenant, std::vector<PushStream>& streams,
                        AppendResult* result) = 0;
};

}  // namespace sightline::logs
