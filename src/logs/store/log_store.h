// The log store: per tenant, an in-memory head of streams backed by the
// shared WAL (src/wal), cut periodically into immutable blocks
// (log_block.h) that blocks::Shipper uploads to logs/<tenant>/<ULID>/.
// Queries (LogQuerier) read the head, the local blocks and the blocks in the
// object store.
//
//   <data_dir>/<tenant>/wal/             WAL segments (docs/formats/logs-wal.md)
//   <data_dir>/<tenant>/blocks/<ULID>/   cut blocks; shipper.json
//
// Durability: Append returns after the accepted entries are in the WAL
// (group commit, fsync by default). A cut writes the block (meta.json last)
// and only then drops the WAL segments it covers; the block's meta records
// the first segment not covered ("walSegment"), so a crash between the two
// does not replay entries twice. Open() replays the WAL into the head.
//
// Reading: SelectLogs returns lazy per-stream iterators that decode one
// chunk block at a time into reused buffers (chunk.h), skip chunk blocks
// outside the time range, search the block's concatenated lines for the
// `line_contains` hints before materialising any entry, and stop at `limit`.
// Chunk blocks of the object store are read through a shared page cache
// (chunk_cache_bytes).
//
// Retention (Loki's compactor retention_period, per tenant): blocks whose
// newest entry is older than now - retention are hidden from queries at
// once, and deleted from the object store (meta.json first) and from local
// disk by the pass every retention_interval once they are also older than
// retention_delete_delay beyond that.
//
// Ingest rules applied here: an entry older than its stream's newest entry
// minus out_of_order_window is refused ("too_far_behind"); a new stream
// beyond max_streams_per_tenant is refused ("stream_limit").
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/periodic_worker.h"
#include "base/status.h"
#include "logs/logql/storage.h"
#include "logs/store/appender.h"
#include "logs/store/log_block.h"

namespace sightline::io {
class Env;
class ObjectStore;
class PageCache;
}  // namespace sightline::io

namespace sightline::logs::store {

struct LogStoreOptions {
  std::string data_dir;               // <data.dir>/logs
  io::Env* env = nullptr;             // nullptr: Env::Default()
  io::ObjectStore* store = nullptr;   // nullptr: no shipping, local blocks only
  int64_t out_of_order_window_ns = 3600ll * 1'000'000'000;
  int max_streams_per_tenant = 0;     // 0: unlimited
  // Per-tenant values of the two limits above (logs.limits through the
  // shared `overrides:`), resolved when a tenant's store opens. nullptr:
  // the values above for every tenant.
  struct TenantLimits {
    int64_t out_of_order_window_ns = 3600ll * 1'000'000'000;
    int max_streams_per_tenant = 0;
  };
  std::function<TenantLimits(std::string_view tenant)> tenant_limits;
  std::chrono::milliseconds cut_interval{std::chrono::hours(1)};
  // A head larger than this (line + metadata bytes) is cut at once.
  uint64_t max_head_bytes = 512ull << 20;
  std::chrono::milliseconds ship_interval{std::chrono::seconds(30)};
  // How long uploaded blocks stay on local disk (0: removed once uploaded).
  std::chrono::milliseconds local_retention{std::chrono::hours(2)};
  // How often the list of blocks in the object store is refreshed.
  std::chrono::milliseconds remote_list_ttl{std::chrono::seconds(15)};
  bool wal_sync = true;  // false: SyncPolicy::kNone (benchmarks)
  // Chunk block encoding and size for cut blocks (zstd level, long-distance
  // matching; see chunk.h).
  BlockWriteOptions block;
  // Bytes of object-store chunk data kept in memory (0: no cache).
  uint64_t chunk_cache_bytes = 256ull << 20;
  // A tenant's retention period (0: keep forever). nullptr: forever for all.
  std::function<std::chrono::milliseconds(std::string_view tenant)> retention_period;
  std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
  // Loki's retention_delete_delay: a block past its tenant's retention is
  // hidden from queries at once and deleted only once it is this much
  // older (queries already running keep reading it meanwhile).
  std::chrono::milliseconds retention_delete_delay{std::chrono::hours(2)};
  bool background = true;  // run the cut / ship / retention loop
};

class TenantStore;

class LogStore final : public LogAppender {
 public:
  // Opens every tenant found under data_dir (replaying its WAL) and starts
  // the background loop.
  static Result<std::unique_ptr<LogStore>> Open(LogStoreOptions options);
  ~LogStore() override;

  Status Append(std::string_view tenant, std::vector<PushStream>& streams,
                AppendResult* result) override;

  // A querier over one tenant's head and blocks. Creating one for a tenant
  // that has no local data is fine (it may have blocks in the object store).
  Result<std::unique_ptr<LogQuerier>> Querier(std::string_view tenant);

  // Cuts every tenant's head into a block now (tests, shutdown).
  Status CutAll();
  // Uploads pending blocks of every tenant now; returns the first error.
  Status ShipAll();
  // Deletes every tenant's blocks older than its retention period now
  // (local and in the object store, also tenants only found there).
  // Returns how many blocks were deleted.
  Result<int> ApplyRetention();
  // Cuts the heads, uploads what it can, stops the loop and closes the WALs.
  Status Close();

  std::vector<std::string> Tenants() const;
  // The object-store chunk byte cache (nullptr without a store or cache).
  io::PageCache* chunk_cache() const { return chunk_cache_.get(); }

 private:
  explicit LogStore(LogStoreOptions options);
  Result<TenantStore*> GetTenant(std::string_view tenant, bool create);
  // One background pass: cut what is due, local and object-store retention.
  void Tick();

  LogStoreOptions options_;
  std::unique_ptr<io::PageCache> chunk_cache_;
  std::chrono::steady_clock::time_point last_retention_{};
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<TenantStore>, std::less<>> tenants_;
  bool closed_ = false;

  PeriodicWorker worker_;  // last: it stops before what Tick() uses goes
};

}  // namespace sightline::logs::store
