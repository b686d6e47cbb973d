#include "metrics/storegateway/store_gateway.h"

#include <algorithm>

#include "blocks/bucket.h"
#include "io/env.h"
#include "io/object_file.h"
#include "io/object_store.h"
#include "metrics/storegateway/bucket_store.h"
#include "metrics/tsdb/db_multi_tenant.h"
#include "metrics/tsdb/index/index_cache.h"
#include "telemetry/log.h"

namespace sightline::storegateway {

StoreGateway::StoreGateway(StoreGatewayOptions options)
    : options_(std::move(options)), worker_("store-gateway", options_.sync_interval, [this] {
        if (Status s = SyncAll(); !s.ok()) {
          log::Warn("store gateway: sync failed", {{"err", s.ToString()}});
        }
      }) {
  if (options_.env == nullptr) options_.env = io::Env::Default();
  io::PageCacheOptions po;
  po.capacity_bytes = options_.chunk_cache_bytes;
  po.registry = options_.registry;
  po.name = "metrics-chunks";
  page_cache_ = std::make_unique<io::PageCache>(po);
  tsdb::LruIndexCacheOptions ico;
  ico.max_size_bytes = options_.index_cache_bytes;
  ico.registry = options_.registry;
  index_cache_ = std::make_unique<tsdb::LruIndexCache>(ico);
}

Result<std::unique_ptr<StoreGateway>> StoreGateway::Start(StoreGatewayOptions options) {
  if (options.store == nullptr) return InvalidArgumentError("store gateway: no object store");
  if (options.data_dir.empty()) return InvalidArgumentError("store gateway: no data dir");
  std::unique_ptr<StoreGateway> g(new StoreGateway(std::move(options)));
  SL_RETURN_IF_ERROR(
      g->options_.env->CreateDirs(io::JoinPath(g->options_.data_dir, "store-gateway")));
  if (Status s = g->SyncAll(); !s.ok()) {
    log::Warn("store gateway: initial sync failed; retrying in the background",
              {{"err", s.ToString()}});
  }
  if (g->options_.run_sync_loop) g->worker_.Start();
  return g;
}

StoreGateway::~StoreGateway() { Stop(); }

void StoreGateway::Stop() { worker_.Stop(); }

Result<BucketStore*> StoreGateway::GetOrCreate(std::string_view tenant, bool* created) {
  *created = false;
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = tenants_.find(tenant); it != tenants_.end()) return it->second.get();
  SL_RETURN_IF_ERROR(tsdb::ValidateTenantId(tenant));
  BucketStoreOptions o;
  o.store = options_.store;
  o.env = options_.env;
  o.tenant = std::string(tenant);
  o.local_dir = io::JoinPath(io::JoinPath(options_.data_dir, "store-gateway"), o.tenant);
  o.page_cache = page_cache_.get();
  o.index_cache = index_cache_.get();
  o.registry = options_.registry;
  std::string key = o.tenant;  // o is moved from below
  auto [it, ok] = tenants_.emplace(std::move(key), std::make_unique<BucketStore>(std::move(o)));
  *created = true;
  return it->second.get();
}

Status StoreGateway::SyncAll() {
  SL_ASSIGN_OR_RETURN(std::vector<std::string> tenants,
                      blocks::ListTenants(*options_.store, "metrics"));
  Status first;
  for (const std::string& t : tenants) {
    if (!tsdb::ValidateTenantId(t).ok()) continue;
    bool created = false;
    SL_ASSIGN_OR_RETURN(BucketStore * bs, GetOrCreate(t, &created));
    if (Status s = bs->Sync(); !s.ok() && first.ok()) first = s;
  }
  // Tenants that were seen at query time but have no folder (yet) are
  // synced too, so their blocks appear as soon as they are uploaded.
  std::vector<BucketStore*> others;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [name, bs] : tenants_) {
      if (std::find(tenants.begin(), tenants.end(), name) == tenants.end()) {
        others.push_back(bs.get());
      }
    }
  }
  for (BucketStore* bs : others) {
    if (Status s = bs->Sync(); !s.ok() && first.ok()) first = s;
  }
  return first;
}

Result<std::unique_ptr<metrics::Querier>> StoreGateway::Querier(std::string_view tenant,
                                                                int64_t mint, int64_t maxt,
                                                                std::set<blocks::Ulid> exclude) {
  bool created = false;
  SL_ASSIGN_OR_RETURN(BucketStore * bs, GetOrCreate(tenant, &created));
  if (created) {
    if (Status s = bs->Sync(); !s.ok()) {
      log::Warn("store gateway: sync of a new tenant failed",
                {{"tenant", tenant}, {"err", s.ToString()}});
    }
  }
  return bs->Querier(mint, maxt, std::move(exclude));
}

BucketStore* StoreGateway::Tenant(std::string_view tenant) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second.get();
}

}  // namespace sightline::storegateway
