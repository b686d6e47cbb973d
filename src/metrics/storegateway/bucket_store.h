// BucketStore: one tenant's metrics blocks in the object store, queryable
// (Thanos's store gateway BucketStore, inside the querier process).
//
//   metrics/<tenant>/<ULID>/meta.json   a block exists once this exists
//   metrics/<tenant>/<ULID>/index       read in place with ranged reads; an
//                                       index-header built from it on first
//                                       use is kept in
//                                       <local_dir>/<ULID>/index-header
//                                       (atomic rename; reused after a
//                                       restart, rebuilt when corrupt)
//   metrics/<tenant>/<ULID>/chunks/...  read in place through object files
//                                       and the shared page cache
//
// Sync() lists the tenant's prefix, reads meta.json of blocks it has not
// seen, skips blocks without meta.json (uploads in progress) and forgets
// blocks that vanished (their local index-headers are removed; queriers
// still holding one keep reading it until they finish). The first Sync
// also deletes whole-index copies of the old layout (<ULID>/index).
//
// Querier(mint, maxt, exclude) answers over the blocks overlapping
// [mint, maxt] (time pruning) that are not in `exclude` (blocks the local
// DB still has). On each Select, blocks whose external labels (meta.json
// thanos.labels) cannot match the matchers are skipped without being
// loaded (label pruning); the others are loaded (index-header built if
// needed) and queried with tsdb::NewBlockQuerier over a lazy IndexReader,
// their series carrying the block's external labels, merged with
// tsdb::NewMergeQuerier (newest block first on equal timestamps). Before
// that, the postings, series entries and (for Select) chunk pages the
// query will read are fetched with coalesced ranged reads into the index
// and page caches (docs/store-gateway.md).
//
// Metrics (Registry given in the options): thanos_blocks_meta_syncs_total,
// thanos_blocks_meta_sync_failures_total, thanos_bucket_store_blocks_loaded,
// thanos_bucket_store_block_loads_total,
// thanos_bucket_store_block_load_failures_total,
// sightline_bucket_store_blocks_queried_total{outcome="queried"|"pruned"}.
//
// Thread-safety: Sync, Querier and the accessors may run concurrently from
// any threads. A Querier is single-threaded (storage.h) and may outlive a
// Sync that dropped its blocks, but not the BucketStore.
//
// Errors: Sync returns the store's listing error (the known blocks are
// kept). A block that fails to load fails the Select that needed it
// (err()), and is retried by the next query.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "blocks/meta.h"
#include "blocks/ulid.h"
#include "metrics/storage/storage.h"

namespace sightline::io {
class Env;
class ObjectStore;
class PageCache;
}  // namespace sightline::io
namespace sightline::telemetry {
class Registry;
}
namespace sightline::tsdb {
class IndexCache;
}

namespace sightline::storegateway {

struct BucketStoreOptions {
  io::ObjectStore* store = nullptr;  // required
  io::Env* env = nullptr;            // nullptr: io::Env::Default()
  std::string tenant;
  // Object prefix of the tenant's blocks; empty: blocks::TenantPrefix("metrics", tenant).
  std::string prefix;
  // Local index-headers: <local_dir>/<ULID>/index-header. Required.
  std::string local_dir;
  io::PageCache* page_cache = nullptr;     // chunk pages; nullptr: no caching
  tsdb::IndexCache* index_cache = nullptr;  // postings/series; nullptr: none
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
};

class BucketStore {
 public:
  explicit BucketStore(BucketStoreOptions options);
  ~BucketStore();
  BucketStore(const BucketStore&) = delete;
  BucketStore& operator=(const BucketStore&) = delete;

  Status Sync();

  std::unique_ptr<metrics::Querier> Querier(int64_t mint, int64_t maxt,
                                            std::set<blocks::Ulid> exclude = {});

  // Known blocks, sorted by ULID.
  std::vector<blocks::BlockMeta> Blocks() const;
  // Blocks whose index is loaded.
  int LoadedBlocks() const;
  const std::string& tenant() const { return options_.tenant; }

  struct Block;  // internal

 private:
  struct Metrics;
  BucketStoreOptions options_;
  std::unique_ptr<Metrics> metrics_;
  mutable std::mutex mu_;
  std::map<blocks::Ulid, std::shared_ptr<Block>> blocks_;
  std::atomic<bool> legacy_checked_{false};  // old-layout index copies removed
};

}  // namespace sightline::storegateway
