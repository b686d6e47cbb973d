// MultiTenantDB: the metrics storage of the ingester, one DB (db.h) per
// tenant under <data_dir>/metrics/<tenant>/, implementing the storage
// interfaces (Appendable for the ingest paths, Queryable for PromQL and the
// HTTP API). Tenants never see each other's data: each has its own WAL,
// head, blocks, shipper (to metrics/<tenant>/ in the object store) and
// series limit.
//
// Life:
//   auto db = MultiTenantDB::Open(options);   // opens (replays) every tenant dir
//   db->NewAppender("team-a") ...              // creates a tenant on first write
//   db->NewQuerier("team-a", mint, maxt) ...   // unknown tenant: empty results
//   db->Close();                               // stops maintenance and shippers,
//                                              // flushes and closes every WAL
// A background thread (unless disabled) cuts blocks and applies local
// retention: every maintenance_interval, and at once when a commit leaves a
// head ready for a cut. It also refreshes each tenant's series limit from
// max_series_for_tenant, so limit changes apply without a restart.
//
// Tenant IDs follow Cortex/Mimir's rules (at most 150 characters from
// [a-zA-Z0-9!-_.*'()], not "." or ".."); anything else is InvalidArgument
// (from NewQuerier, and from every call of the appender NewAppender returns).
//
// Thread-safety: every method may be called concurrently; Close must not
// race with the others. Appenders and queriers must be destroyed before the
// MultiTenantDB (after Close they fail or see data as of Close).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/periodic_worker.h"
#include "metrics/storage/storage.h"
#include "metrics/tsdb/db.h"

namespace sightline::tsdb {

struct MultiTenantDBOptions {
  io::Env* env = nullptr;  // nullptr: io::Env::Default()
  std::string data_dir;    // tenants live in <data_dir>/metrics/<tenant>
  // Blocks are shipped to <store>/metrics/<tenant>/ (nullptr: no shipping).
  io::ObjectStore* store = nullptr;
  // Everything else each tenant's DB gets (dir, tenant, store and the
  // series limit are filled in per tenant).
  DBOptions tenant_defaults;
  // Per-tenant series limit (0: none); nullptr: tenant_defaults.head.max_series.
  std::function<uint64_t(std::string_view tenant)> max_series_for_tenant;
  // Background maintenance (block cuts, retention, limits).
  bool run_maintenance = true;
  std::chrono::milliseconds maintenance_interval{std::chrono::minutes(1)};
  // A further read source per tenant (e.g. the store gateway), merged after
  // the head and local blocks; nullptr: none.
  std::function<Result<std::unique_ptr<metrics::Querier>>(std::string_view tenant, int64_t mint,
                                                          int64_t maxt)>
      extra_querier;
};

class MultiTenantDB final : public metrics::Appendable, public metrics::Queryable {
 public:
  static Result<std::unique_ptr<MultiTenantDB>> Open(MultiTenantDBOptions options);
  ~MultiTenantDB() override;  // Close(), logging a failure

  // metrics::Appendable: creates the tenant if needed. Failures (bad tenant
  // ID, I/O error opening its DB, closed) come back from every call of the
  // returned appender.
  std::unique_ptr<metrics::Appender> NewAppender(std::string_view tenant) override;
  // metrics::Queryable: an unknown tenant gets a querier that selects nothing.
  Result<std::unique_ptr<metrics::Querier>> NewQuerier(std::string_view tenant, int64_t mint,
                                                       int64_t maxt) override;

  // For the HTTP API (query_exemplars, metadata).
  Result<std::vector<ExemplarSeries>> QueryExemplars(
      std::string_view tenant, int64_t mint, int64_t maxt,
      const std::vector<std::vector<promql::Matcher>>& selectors);
  Result<std::map<std::string, std::vector<metrics::MetricMetadata>>> Metadata(
      std::string_view tenant, std::string_view metric, int limit);

  // The tenant's DB, creating it; InvalidArgument for a bad tenant ID.
  Result<DB*> GetOrCreate(std::string_view tenant);
  // nullptr when the tenant has no DB.
  DB* Get(std::string_view tenant) const;
  std::vector<std::string> Tenants() const;

  // One maintenance pass over every tenant (what the background thread
  // does); returns the first error.
  Status MaintainAll();

  // Stops the maintenance thread, then closes every tenant's DB (their
  // objects live until the destructor). Idempotent.
  Status Close();

 private:
  explicit MultiTenantDB(MultiTenantDBOptions options);
  Status Init();
  DBOptions OptionsFor(std::string_view tenant);
  void Wake();  // maintenance soon

  MultiTenantDBOptions options_;
  io::Env* env_;
  std::string root_;  // <data_dir>/metrics

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<DB>, std::less<>> dbs_;
  bool closed_ = false;
  std::mutex create_mu_;  // serializes tenant creation (DB::Open does I/O)

  PeriodicWorker worker_;  // MaintainAll(); last: it stops before what that uses goes
};

// OK if `tenant` is a valid tenant ID (see above).
Status ValidateTenantId(std::string_view tenant);

}  // namespace sightline::tsdb
