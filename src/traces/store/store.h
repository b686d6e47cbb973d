// TraceStore: the traces ingester. One store per process holds every
// tenant's traces:
//
//   <data_dir>/traces/<tenant>/wal/        the shared WAL (src/wal), records
//                                          in docs/formats/traces-wal.md
//   <data_dir>/traces/<tenant>/blocks/<ULID>/   cut blocks (block.h)
//   <object store>/traces/<tenant>/<ULID>/      shipped blocks
//
// Write path: Push (model traces, encoded here) or PushEncoded (records
// the OTLP receivers encoded from the wire) checks the per-trace byte
// limit, appends one WAL record per request (acknowledged once durable,
// per the WAL's sync policy; concurrent pushes share one write and
// fdatasync) and adds the records to the tenant's head: per trace id, the
// same encoded records that went to the WAL (decoded only by reads). The
// head is cut into a block when it is older than max_block_duration or
// larger than max_block_bytes (maintenance thread) or on CutAll(force);
// the cut transcodes each trace's records into the block's dictionary
// encoding without building Trace objects (codec.h TranscodeTrace);
// the block is written locally with meta.json last, then the WAL segments
// it covers are deleted, and blocks::Shipper uploads it with retries that
// survive restarts. Uploaded blocks older than local_retention are removed
// locally and read from the object store from then on.
//
// A trace may be split over the head and several blocks (spans arriving
// after a cut). Each cut links its traces to the blocks cut within
// split_window that hold other parts (SplitWindow, sharded_scan.h; written
// into the block's index), so search plans find split traces without
// reading blocks' ids. Reads merge the parts and count a span id once, so a crash
// between a block write and the WAL cleanup (the same spans then in the
// replayed head and in a block) changes nothing for readers.
//
// Read path: FindTraceById (head + blocks whose bloom filter and id page
// (read on demand, LRU-cached) contain the id, pruned by the optional time
// range) and Scan (the
// TraceSource contract of traces/traceql/storage.h: row groups pruned by
// time and by the hints against their string dictionaries).
//
// Thread-safety: every method may be called concurrently, except Close,
// which must not race with the others.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "traces/ingest/sink.h"
#include "traces/model.h"
#include "traces/store/block.h"
#include "traces/traceql/storage.h"
#include "wal/wal.h"

namespace sightline::io {
class Env;
class ObjectStore;
}  // namespace sightline::io
namespace sightline::telemetry {
class Registry;
}

namespace sightline::traces::store {

struct StoreOptions {
  io::Env* env = nullptr;  // nullptr: io::Env::Default()
  std::string data_dir;    // tenants under <data_dir>/traces/<tenant>
  io::ObjectStore* store = nullptr;  // nullptr: blocks stay local
  wal::SyncPolicy wal_sync = wal::SyncPolicy::kAlways;
  // Tempo's max_bytes_per_trace (0: no limit). Counted over the spans of a
  // trace in the head: spans that would take it over are refused.
  uint64_t max_bytes_per_trace = 5'000'000;
  // Per-tenant max_bytes_per_trace (the module reads config::TenantOverrides);
  // when set it replaces the field above. Called per push; thread-safe.
  std::function<uint64_t(std::string_view tenant)> max_bytes_per_trace_for;
  std::chrono::milliseconds max_block_duration{std::chrono::minutes(5)};
  uint64_t max_block_bytes = 100ull << 20;
  // Uploaded blocks are deleted locally this long after they were cut.
  std::chrono::milliseconds local_retention{std::chrono::hours(1)};
  // How often the object store's block list is read again.
  std::chrono::milliseconds blocklist_poll{std::chrono::seconds(30)};
  bool run_maintenance = true;
  std::chrono::milliseconds maintenance_interval{std::chrono::seconds(5)};
  std::chrono::milliseconds ship_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds ship_min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds ship_max_backoff{std::chrono::minutes(5)};
  BlockWriteOptions block;
  // Bytes of blocks' trace-id pages kept in an LRU between find-by-id
  // lookups (blocks keep only their index header and bloom in memory).
  uint64_t id_page_cache_bytes = 32ull << 20;
  // Split traces (spans arriving after a cut): each cut looks its trace ids
  // up among the ids of the blocks cut within this window and writes the
  // matches into the new block's index (SplitLinks), so search plans find
  // split traces without reading every block's ids. 0: 2 × max_block_duration.
  // Traces split wider apart are searched part by part (combined by trace
  // id, as Tempo does).
  std::chrono::milliseconds split_window{0};
  // Ids the window may hold (~24 bytes each); past it the oldest blocks
  // leave early (sightline_traces_split_window_shrunk_blocks_total).
  uint64_t split_window_max_ids = 2'000'000;
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
};

struct TenantStats {
  uint64_t head_traces = 0;
  uint64_t head_bytes = 0;
  uint64_t local_blocks = 0;
  uint64_t remote_blocks = 0;  // known in the object store and not local
  uint64_t uploaded_blocks = 0;
  // Memory the open blocks hold (index headers, blooms; BlockReader::
  // MemoryBytes) and the trace ids they cover (not held: read on demand).
  uint64_t block_memory_bytes = 0;
  uint64_t block_traces = 0;
};

class TraceStore final : public ingest::TraceSink {
 public:
  static Result<std::unique_ptr<TraceStore>> Open(StoreOptions options);
  ~TraceStore() override;  // Close(), logging a failure

  // ingest::TraceSink.
  Status Push(std::string_view tenant, std::vector<Trace> traces,
              ingest::PushResult* result) override;
  // The records go to the WAL and the head as they are (no decoding).
  Status PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                     ingest::PushResult* result) override;

  // The whole trace as stored, or nullopt. Blocks entirely outside
  // [start, end) (ns; 0 = unbounded) are not read.
  Result<std::optional<Trace>> FindTraceById(std::string_view tenant, std::string_view trace_id,
                                             uint64_t start_unix_nano = 0,
                                             uint64_t end_unix_nano = 0);

  // TraceSource::Scan over one tenant.
  Status Scan(std::string_view tenant, const ScanParams& params,
              const std::function<bool(const Trace&)>& fn);
  // A TraceSource over one tenant (valid while the store lives).
  std::unique_ptr<TraceSource> Source(std::string_view tenant);
  // One query's plan over one tenant as shards (sharded_scan.h): a snapshot
  // of the head, then the blocks overlapping [start, end) (ns; 0 =
  // unbounded) newest first. Valid while the store lives.
  Result<std::unique_ptr<ShardedTraceSource>> PlanScan(std::string_view tenant,
                                                       uint64_t start_unix_nano,
                                                       uint64_t end_unix_nano);

  // Cuts the heads that are due (all non-empty ones with `force`).
  Status CutAll(bool force);
  // One synchronous shipper pass over every tenant; the first error.
  Status ShipAll();
  // Re-reads the object store's block lists now.
  Status RefreshRemote();
  // One maintenance pass (what the background thread does).
  Status Maintain();

  std::vector<std::string> Tenants() const;
  TenantStats Stats(std::string_view tenant) const;

  // Stops maintenance and shippers, closes the WALs. Idempotent.
  Status Close();

 private:
  struct Impl;
  class Tenant;
  explicit TraceStore(std::unique_ptr<Impl> impl);
  Result<Tenant*> TenantFor(std::string_view tenant);  // opened on first use
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces::store
