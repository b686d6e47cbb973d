// Wal: the write-ahead log shared by the four signals (DESIGN.md §2, §5).
//
// A WAL is a directory of numbered segment files ("00000000", "00000001",
// ...) holding opaque records; each signal defines its own record encodings.
// The bytes on disk are specified in docs/formats/wal.md (the framing is
// Prometheus's: 32 KiB pages of CRC32C-checked fragments).
//
// Life of a Wal:
//   auto wal = Wal::Open(options);           // lists the directory, cleans up
//   wal->Replay(fn);                         // newest checkpoint, then segments
//   wal->Append(records) ... from any thread // group commit
//   wal->Checkpoint(upto, keep);             // compacts old segments
//   wal->Close();                            // flushes and syncs
//
// Durability: Append returns after its records are written and, with
// SyncPolicy::kAlways (the default), fdatasync'd: an acknowledged write is in
// the WAL. Concurrent Appends are batched (LevelDB's writer queue: the first
// waiting appender writes everybody's records with one write and one
// fdatasync; the write gathers the fragment headers and the callers' own
// record bytes with writev(2), it does not copy them into a batch buffer).
// kBatch acknowledges after the next fsync, which happens at most every
// `sync_interval`; kNone acknowledges after the write(2) (a process crash
// loses nothing, a machine crash may lose the tail).
//
// Records never span segments. A record that does not fit in the rest of the
// current segment starts a new one; a record larger than a whole segment gets
// a segment of its own (which is then larger than segment_size). Records are
// limited to kMaxRecordSize (1 GiB).
//
// Recovery (Replay, or the first Append when Replay was not called):
//  - A torn or garbled tail of the LAST segment (short header, short payload,
//    CRC mismatch, zeros from preallocation) is truncated to the last good
//    record, with a warning naming segment, offset and bytes dropped, and
//    <prefix>corruptions_total is incremented. The WAL keeps working.
//  - Corruption in an older segment (or a missing segment in the sequence)
//    stops the replay there. With options.repair (default) the segment is
//    truncated at the corruption and all later segments are deleted, like
//    Prometheus does; this is logged at error level and counted, and Replay
//    returns OK so that the server starts. Without repair Replay returns
//    DataLoss and changes nothing.
//  - Corruption inside a checkpoint is logged and counted; the rest of the
//    checkpoint is skipped and replay continues with the segments.
//
// Each process lifetime writes its own segments: the first Append starts a
// new segment after the last one (or reuses the last one if it is empty).
//
// Thread-safety: Append, NextSegment, Checkpoint, RemoveSegmentsBefore and
// the accessors may be called concurrently from any threads. Replay must
// be called at most once, before the first Append, and not concurrently with
// anything. Close (and the destructor) must not race with other calls;
// Appends that lose a race with Close fail with FailedPrecondition.
//
// Errors:
//  - InvalidArgument: bad options; a record over kMaxRecordSize.
//  - FailedPrecondition: use after Close; Replay after Append; a checkpoint
//    or removal that would touch the segment being written.
//  - DataLoss: corruption found with repair disabled.
//  - ResourceExhausted (disk full) and other Env errors from writes or syncs.
//    The failed Append's records may or may not be in the WAL (never half);
//    the WAL truncates the segment back to the last good write and later
//    Appends work again once the cause is gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "telemetry/metrics.h"
#include "wal/segment.h"

namespace sightline::wal {

enum class SyncPolicy {
  kAlways,  // fdatasync before acknowledging (group commit)
  kBatch,   // fdatasync at most every sync_interval; Append waits for it
  kNone,    // never sync while appending (tests, benchmarks); Close syncs
};

enum class Compression {
  kNone,
  kSnappy,  // as Prometheus --storage.tsdb.wal-compression
  kZstd,
};

struct WalOptions {
  std::string dir;                       // created if missing
  io::Env* env = nullptr;                // nullptr: io::Env::Default()
  uint64_t segment_size = 128ull << 20;  // a multiple of 32 KiB
  SyncPolicy sync_policy = SyncPolicy::kAlways;
  std::chrono::milliseconds sync_interval{10};  // kBatch only
  Compression compression = Compression::kNone;
  // A leader stops adding followers' records to its write past this size.
  size_t max_batch_bytes = 4u << 20;
  bool repair = true;                       // see "Recovery" above
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
  // Metric names: <prefix>fsync_duration_seconds, ... ("loki_ingester_wal_"
  // for logs).
  std::string metrics_prefix = "prometheus_tsdb_wal_";
};

// Where a record starts. For records replayed from a checkpoint, `segment`
// is the checkpoint's index (the last segment it covers), `offset` is within
// the checkpoint's own segment file and `in_checkpoint` is true.
struct WalPosition {
  uint32_t segment = 0;
  uint64_t offset = 0;
  bool in_checkpoint = false;

  friend bool operator==(const WalPosition&, const WalPosition&) = default;
};

// What the last Replay (or implicit tail repair) found.
struct ReplayStats {
  std::optional<uint32_t> checkpoint;  // index of the checkpoint read
  uint64_t records = 0;
  uint64_t bytes = 0;  // record payload bytes
  uint32_t segments = 0;
  uint64_t corruptions = 0;
  uint64_t dropped_bytes = 0;     // cut from the segment where corruption was found
  uint32_t removed_segments = 0;  // later segments discarded by the repair
  std::string corruption;         // the first problem, human-readable; empty if none
};

class Wal {
 public:
  static Result<std::unique_ptr<Wal>> Open(WalOptions options);
  ~Wal();  // Close(), logging a failure
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  using ReplayFn = std::function<Status(std::string_view record, WalPosition pos)>;
  // Calls `fn` for every record of the newest checkpoint, then of every later
  // segment, in order. The view is valid only during the call. An error from
  // `fn` stops the replay and is returned (nothing is repaired then).
  Status Replay(const ReplayFn& fn);

  // Appends `records` (each may be empty) atomically with respect to other
  // Appends: they are contiguous in the WAL, in this order. Returns the
  // position of the first one (of where it would be, for an empty span).
  Result<WalPosition> Append(std::span<const std::string_view> records);
  Result<WalPosition> Append(std::string_view record) {
    return Append(std::span<const std::string_view>(&record, 1));
  }

  // Closes the current segment (padded, synced) and starts the next one;
  // returns the new segment's index.
  Result<uint32_t> NextSegment();

  // Writes checkpoint.<upto>/: the records of the newest checkpoint and of
  // segments <= upto for which keep() is true, as a WAL of its own, built in
  // checkpoint.<upto>.tmp/ and renamed when complete and synced. Then deletes
  // segments <= upto and older checkpoints. `upto` must be below the segment
  // being written (call NextSegment() first to include it). A no-op if a
  // checkpoint at or beyond `upto` exists. keep() runs on the calling thread.
  Status Checkpoint(uint32_t upto_segment, const std::function<bool(std::string_view)>& keep);

  // Deletes segments below `segment` (Prometheus's WAL Truncate). `segment`
  // must not exceed the segment being written. Checkpoints stay.
  Status RemoveSegmentsBefore(uint32_t segment);

  // Waits for in-flight Appends, flushes, syncs and closes the segment.
  // Later calls fail with FailedPrecondition; calling Close twice is OK.
  Status Close();

  // The segment being written, or the one the next Append will open.
  uint32_t CurrentSegment() const;
  // Segment indexes on disk, ascending.
  Result<std::vector<uint32_t>> Segments() const;
  ReplayStats replay_stats() const;
  const std::string& dir() const { return options_.dir; }

 private:
  struct Metrics;
  struct Writer;

  explicit Wal(WalOptions options);
  Status Init();
  Status Submit(Writer* w);
  // Runs the front writer's request (and its followers'), then hands over.
  void Lead(Writer* leader, std::unique_lock<std::mutex>& l);
  // Leader work, called without mu_ held (the leader owns the file state).
  Status WriteBatch(const std::vector<Writer*>& batch, bool* sync_failed);
  Status EnsureSegment();
  Status OpenSegment(uint32_t index);
  Status FinishSegment(bool* sync_failed);
  Status SyncFile(bool* sync_failed);
  Status Recover();
  // Replay proper; with tail_only, only checks and repairs the last segment.
  Status ReplayImpl(const ReplayFn& fn, bool tail_only);
  Status RepairAt(uint32_t segment, uint64_t good_offset, bool is_last,
                  const std::vector<uint32_t>& later, const std::string& what, ReplayStats* stats);
  Status ListDir(std::vector<uint32_t>* segments, std::vector<uint32_t>* checkpoints,
                 std::vector<std::string>* tmp_dirs) const;
  uint32_t PredictNextSegmentLocked();
  void UpdateStorageSize();
  std::string SegmentPath(uint32_t index) const;

  WalOptions options_;
  io::Env* env_;
  std::unique_ptr<Metrics> metrics_;

  // --- guarded by mu_ ---
  mutable std::mutex mu_;
  std::deque<Writer*> writers_;       // waiting requests; the front one leads
  std::deque<Writer*> pending_sync_;  // kBatch: written, waiting for an fsync
  bool closed_ = false;
  bool replayed_ = false;    // Replay (or the implicit tail repair) ran
  bool appended_ = false;    // a request reached the writer
  uint64_t synced_seq_ = 0;  // logical bytes durable (see seg_start_seq_)
  uint32_t segment_ = 0;     // being written, or the one the writer will open
  ReplayStats replay_stats_;
  std::optional<uint32_t> checkpoint_;    // newest checkpoint on disk
  std::optional<uint32_t> last_segment_;  // highest segment on disk

  // --- owned by the leader (only the front writer touches these) ---
  std::unique_ptr<io::WritableFile> file_;  // null: no segment open
  bool writer_started_ = false;
  uint32_t next_index_ = 0;     // segment to open when file_ is null
  uint64_t seg_offset_ = 0;     // bytes in the current segment
  uint64_t seg_synced_ = 0;     // of which durable
  uint64_t seg_start_seq_ = 0;  // logical position (bytes over all segments) of its byte 0
  bool need_recovery_ = false;  // a write or fsync failed: cut back to recovery_offset_
  uint64_t recovery_offset_ = 0;
  std::chrono::steady_clock::time_point last_sync_{};
  GatherBuffer gather_;               // WriteBatch: the batch's framed pieces
  std::deque<std::string> compressed_;  // WriteBatch: compressed records

  std::mutex checkpoint_mu_;  // serializes Checkpoint / RemoveSegmentsBefore
};

}  // namespace sightline::wal
