// Pieces shared by wal.cc (writing) and wal_recovery.cc (replay, repair,
// checkpoints). Not part of the WAL's contract.
#pragma once

#include <condition_variable>
#include <span>
#include <string_view>

#include "telemetry/metrics.h"
#include "wal/wal.h"

namespace sightline::wal {

struct Wal::Metrics {
  Metrics(telemetry::Registry& r, const std::string& p);

  telemetry::Histogram& fsync_duration;
  telemetry::Counter& page_flushes;
  telemetry::Counter& completed_pages;
  telemetry::Counter& truncations;
  telemetry::Counter& truncations_failed;
  telemetry::Counter& corruptions;
  telemetry::Counter& writes_failed;
  telemetry::Gauge& segment_current;
  telemetry::Counter& record_parts_bytes_written;
  telemetry::Counter& records_appended;
  telemetry::Gauge& storage_size;
  telemetry::Counter& checkpoint_creations;
  telemetry::Counter& checkpoint_creations_failed;
  telemetry::Counter& checkpoint_deletions;
  telemetry::Counter& checkpoint_deletions_failed;
};

// One caller of Append (or a control request) waiting in the writer queue.
struct Wal::Writer {
  enum Kind { kRecords, kSync, kRoll, kClose };
  Kind kind = kRecords;
  std::span<const std::string_view> records;
  size_t bytes = 0;
  Status status;
  bool done = false;
  bool pending = false;  // kBatch: written, waiting for an fsync
  WalPosition pos;
  uint64_t end_seq = 0;  // logical end of its records (for kBatch)
  std::condition_variable cv;
};

// Reads every record of one segment file; torn or corrupt data is an error
// (DataLoss) since callers use it only on files that must be complete.
Status ReadSegmentFile(io::Env* env, const std::string& path,
                       const std::function<Status(std::string_view, uint64_t)>& fn);

}  // namespace sightline::wal
