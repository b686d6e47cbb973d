// StoreGateway: the metrics blocks of every tenant in the object store, as
// the querier reads them (the store-gateway role, in-process).
//
// Owns one BucketStore per tenant (bucket_store.h), the shared chunk page
// cache (io::PageCache, "metrics-chunks") and the shared index cache
// (tsdb::LruIndexCache, thanos_store_index_cache_*). Start() syncs every
// tenant found under metrics/ once (failures are logged, not fatal: the
// object store may come up later) and then a background thread re-syncs
// every sync_interval. A tenant first seen at query time is synced on the
// spot, so a query never waits a full interval for a new tenant.
//
// Local state: <data_dir>/store-gateway/<tenant>/<ULID>/index-header.
//
// Thread-safety: every method may be called concurrently; Stop() must not
// race with Start(). Queriers must be destroyed before the StoreGateway.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "base/periodic_worker.h"
#include "base/status.h"
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
class LruIndexCache;
}

namespace sightline::storegateway {

class BucketStore;

struct StoreGatewayOptions {
  io::ObjectStore* store = nullptr;  // required
  io::Env* env = nullptr;            // nullptr: io::Env::Default()
  std::string data_dir;              // local state under <data_dir>/store-gateway
  std::chrono::milliseconds sync_interval{std::chrono::minutes(1)};
  uint64_t index_cache_bytes = 256ull << 20;
  uint64_t chunk_cache_bytes = 256ull << 20;
  // false: no background thread (tests call SyncAll).
  bool run_sync_loop = true;
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
};

class StoreGateway {
 public:
  static Result<std::unique_ptr<StoreGateway>> Start(StoreGatewayOptions options);
  ~StoreGateway();  // Stop()
  StoreGateway(const StoreGateway&) = delete;
  StoreGateway& operator=(const StoreGateway&) = delete;

  // Lists the tenants and syncs each; returns the first error.
  Status SyncAll();

  // The tenant's blocks overlapping [mint, maxt] other than `exclude`.
  Result<std::unique_ptr<metrics::Querier>> Querier(std::string_view tenant, int64_t mint,
                                                    int64_t maxt,
                                                    std::set<blocks::Ulid> exclude = {});

  // nullptr for a tenant not seen yet.
  BucketStore* Tenant(std::string_view tenant);
  io::PageCache& page_cache() { return *page_cache_; }
  tsdb::LruIndexCache& index_cache() { return *index_cache_; }

  void Stop();

 private:
  explicit StoreGateway(StoreGatewayOptions options);
  Result<BucketStore*> GetOrCreate(std::string_view tenant, bool* created);

  StoreGatewayOptions options_;
  std::unique_ptr<io::PageCache> page_cache_;
  std::unique_ptr<tsdb::LruIndexCache> index_cache_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<BucketStore>, std::less<>> tenants_;

  PeriodicWorker worker_;  // SyncAll() every sync_interval; last: stops first
};

}  // namespace sightline::storegateway
