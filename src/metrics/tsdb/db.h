// DB: one tenant's metrics TSDB on local disk (Prometheus's tsdb.DB plus the
// Thanos sidecar's shipping):
//
//   <dir>/wal/                 the head's write-ahead log (docs/formats/metrics-wal.md)
//   <dir>/blocks/<ULID>/       blocks cut from the head, Prometheus TSDB format
//   <dir>/blocks/shipper.json  which blocks are in the object store
//
// Open loads the blocks, replays the WAL into the head (samples before the
// newest block's end are dropped: they are in the block) and starts the
// shipper. When the head spans more than 1.5 x block_range, CutBlocks writes
// [head min, end of its block range) as a block (meta.json carries the
// Thanos section: external labels, source "sidecar"), truncates the head,
// checkpoints the WAL and wakes the shipper, which uploads the block to
// `<remote_prefix><ULID>/` (meta.json last, retried with backoff, resumed
// after a restart). ApplyLocalRetention deletes local blocks that ended more
// than local_retention before the newest one, but only once the shipper has
// uploaded them (always, without a store).
//
// Crash safety: a block appears atomically (WriteBlock); the head is
// truncated only after the block is on disk and visible to queriers; a crash
// between the block and the checkpoint replays WAL samples that the block
// already holds, and replay drops them (they are below the block's end).
//
// Thread-safety: NewAppender, NewQuerier, QueryExemplars, Metadata and the
// accessors may be called concurrently from any thread; CutBlocks,
// ApplyLocalRetention and Maintain serialize among themselves. Appenders and
// queriers must be destroyed before Close. A querier must not be held by the
// thread that runs CutBlocks (the cut waits for older queriers).
//
// Errors: Open fails on I/O errors (Env, WAL); a block that does not open is
// logged and left alone (not loaded, not deleted). CutBlocks returns the
// first failure (the head keeps its data; the next call retries).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "blocks/shipper.h"
#include "io/env.h"
#include "metrics/storage/storage.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/head.h"
#include "wal/wal.h"

namespace sightline::io {
class ObjectStore;
}

namespace sightline::tsdb {

struct DBOptions {
  io::Env* env = nullptr;  // nullptr: io::Env::Default()
  std::string dir;         // <data_dir>/metrics/<tenant>; created if missing
  std::string tenant = "anonymous";

  // Head: block range (chunk_range_ms), out-of-order window, exemplars,
  // series limit, stripes. wal / metrics / on_compactable are set by the DB.
  HeadOptions head;

  // WAL (prometheus_tsdb_wal_* metrics).
  uint64_t wal_segment_size = 128ull << 20;
  wal::SyncPolicy wal_sync_policy = wal::SyncPolicy::kAlways;
  std::chrono::milliseconds wal_sync_interval{10};
  wal::Compression wal_compression = wal::Compression::kSnappy;

  // Blocks: external labels for meta.json's Thanos section (cluster,
  // replica, ...), and how long local blocks are kept (0: forever) once
  // uploaded.
  std::map<std::string, std::string> external_labels;
  int64_t local_retention_ms = 6 * 3600 * 1000;

  // Shipping: nullptr store disables it. remote_prefix defaults to
  // blocks::TenantPrefix("metrics", tenant).
  io::ObjectStore* store = nullptr;
  std::string remote_prefix;
  std::chrono::milliseconds ship_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds ship_min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds ship_max_backoff{std::chrono::minutes(5)};

  // Self-metrics go to this registry (nullptr: Registry::Default()).
  telemetry::Registry* registry = nullptr;
  // Called when a commit leaves the head ready for a cut (e.g. to wake a
  // maintenance loop). Must be cheap and must not call into the DB.
  std::function<void()> on_compactable;
};

// A block on local disk, as the DB lists it.
struct LocalBlock {
  blocks::BlockMeta meta;
  std::string dir;
  bool uploaded = false;
};

class DB {
 public:
  static Result<std::unique_ptr<DB>> Open(DBOptions options);
  ~DB();  // Close(), logging a failure
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;

  // Storage interfaces for this tenant.
  std::unique_ptr<metrics::Appender> NewAppender();
  // Head and local blocks overlapping [mint, maxt], merged.
  Result<std::unique_ptr<metrics::Querier>> NewQuerier(int64_t mint, int64_t maxt);
  Result<std::vector<ExemplarSeries>> QueryExemplars(
      int64_t mint, int64_t maxt, const std::vector<std::vector<promql::Matcher>>& selectors);
  std::map<std::string, std::vector<metrics::MetricMetadata>> Metadata(std::string_view metric,
                                                                       int limit) const;

  // Cuts every block the head allows; returns how many were written.
  Result<int> CutBlocks();
  // Deletes uploaded local blocks beyond local retention; returns how many.
  Result<int> ApplyLocalRetention();
  // CutBlocks + ApplyLocalRetention + self-metrics refresh.
  Status Maintain();

  // Stops the shipper (finishing an upload in progress), closes the WAL
  // (flush + sync). Later appends fail. Idempotent.
  Status Close();

  Head& head() { return *head_; }
  const std::string& tenant() const { return options_.tenant; }
  const std::string& dir() const { return options_.dir; }
  std::string blocks_dir() const;
  std::vector<LocalBlock> Blocks() const;
  // Nullptr without a store.
  blocks::Shipper* shipper() { return shipper_.get(); }

 private:
  explicit DB(DBOptions options);
  Status Init();
  Status LoadBlocks();
  Status CutBlock(int64_t mint, int64_t maxt);

  DBOptions options_;
  io::Env* env_;
  std::unique_ptr<TsdbMetrics> metrics_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<Head> head_;
  std::unique_ptr<blocks::Shipper> shipper_;

  std::mutex cut_mu_;  // one cut / retention pass at a time
  mutable std::shared_mutex blocks_mu_;
  // Sorted by min_time. Shared with queriers that still read them.
  std::vector<std::shared_ptr<const BlockReader>> blocks_;
  std::mutex close_mu_;
  bool closed_ = false;
};

}  // namespace sightline::tsdb
