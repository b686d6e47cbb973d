#include "metrics/tsdb/db_multi_tenant.h"

#include "metrics/tsdb/db_querier.h"
#include "telemetry/log.h"

namespace sightline::tsdb {

namespace {

constexpr size_t kMaxTenantIdLength = 150;

class ErrorAppender final : public metrics::Appender {
 public:
  explicit ErrorAppender(Status s) : s_(std::move(s)) {}
  Result<uint64_t> Append(uint64_t, const Labels&, int64_t, double) override { return s_; }
  Status AppendExemplar(uint64_t, const Labels&, const metrics::Exemplar&) override { return s_; }
  Status UpdateMetadata(const std::string&, const metrics::MetricMetadata&) override { return s_; }
  Status Commit() override { return s_; }
  void Rollback() override {}

 private:
  Status s_;
};

}  // namespace

Status ValidateTenantId(std::string_view tenant) {
  if (tenant.empty()) return InvalidArgumentError("empty tenant ID");
  if (tenant.size() > kMaxTenantIdLength) {
    return InvalidArgumentError("tenant ID is longer than " + std::to_string(kMaxTenantIdLength) +
                                " characters");
  }
  if (tenant == "." || tenant == "..")
    return InvalidArgumentError("tenant ID cannot be \".\" or \"..\"");
  for (char c : tenant) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '!' || c == '-' || c == '_' || c == '.' || c == '*' || c == '\'' ||
                    c == '(' || c == ')';
    if (!ok) {
      return InvalidArgumentError("tenant ID \"" + std::string(tenant) +
                                  "\" contains unsupported character '" + std::string(1, c) + "'");
    }
  }
  return Status::Ok();
}

MultiTenantDB::MultiTenantDB(MultiTenantDBOptions options)
    : options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : io::Env::Default()),
      root_(io::JoinPath(options_.data_dir, "metrics")),
      worker_("tsdb-maintain", options_.maintenance_interval, [this] {
        if (Status s = MaintainAll(); !s.ok()) {
          log::Error("metrics storage maintenance", {{"err", s.ToString()}});
        }
      }) {}

MultiTenantDB::~MultiTenantDB() {
  if (Status s = Close(); !s.ok()) log::Error("closing metrics storage", {{"err", s.ToString()}});
}

Result<std::unique_ptr<MultiTenantDB>> MultiTenantDB::Open(MultiTenantDBOptions options) {
  if (options.data_dir.empty()) return InvalidArgumentError("metrics storage: no data directory");
  std::unique_ptr<MultiTenantDB> db(new MultiTenantDB(std::move(options)));
  SL_RETURN_IF_ERROR(db->Init());
  return db;
}

DBOptions MultiTenantDB::OptionsFor(std::string_view tenant) {
  DBOptions o = options_.tenant_defaults;
  o.env = env_;
  o.dir = io::JoinPath(root_, std::string(tenant));
  o.tenant = std::string(tenant);
  o.store = options_.store;
  o.remote_prefix.clear();
  if (options_.max_series_for_tenant) o.head.max_series = options_.max_series_for_tenant(tenant);
  o.on_compactable = [this] { Wake(); };
  return o;
}

Status MultiTenantDB::Init() {
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env_, root_));
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, env_->GetChildren(root_));
  for (const std::string& name : children) {
    if (!ValidateTenantId(name).ok()) {
      log::Warn("ignoring a directory that is not a tenant", {{"dir", io::JoinPath(root_, name)}});
      continue;
    }
    SL_ASSIGN_OR_RETURN(std::unique_ptr<DB> db, DB::Open(OptionsFor(name)));
    std::unique_lock<std::shared_mutex> l(mu_);
    dbs_.emplace(name, std::move(db));
  }
  log::Info("metrics storage opened",
            {{"dir", root_}, {"tenants", static_cast<uint64_t>(dbs_.size())}});
  if (options_.run_maintenance) {
    worker_.Start();
    Wake();  // cut what replay left compactable
  }
  return Status::Ok();
}

DB* MultiTenantDB::Get(std::string_view tenant) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = dbs_.find(tenant);
  return it == dbs_.end() ? nullptr : it->second.get();
}

Result<DB*> MultiTenantDB::GetOrCreate(std::string_view tenant) {
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_) return UnavailableError("metrics storage is closed");
    auto it = dbs_.find(tenant);
    if (it != dbs_.end()) return it->second.get();
  }
  SL_RETURN_IF_ERROR(ValidateTenantId(tenant));
  std::lock_guard<std::mutex> cl(create_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = dbs_.find(tenant);
    if (it != dbs_.end()) return it->second.get();
  }
  SL_ASSIGN_OR_RETURN(std::unique_ptr<DB> db, DB::Open(OptionsFor(tenant)));
  DB* raw = db.get();
  std::unique_lock<std::shared_mutex> l(mu_);
  if (closed_) return UnavailableError("metrics storage is closed");
  dbs_.emplace(std::string(tenant), std::move(db));
  log::Info("metrics tenant created", {{"tenant", tenant}});
  return raw;
}

std::vector<std::string> MultiTenantDB::Tenants() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [name, db] : dbs_) out.push_back(name);
  return out;
}

std::unique_ptr<metrics::Appender> MultiTenantDB::NewAppender(std::string_view tenant) {
  Result<DB*> db = GetOrCreate(tenant);
  if (!db.ok()) return std::make_unique<ErrorAppender>(db.status());
  return (*db)->NewAppender();
}

Result<std::unique_ptr<metrics::Querier>> MultiTenantDB::NewQuerier(std::string_view tenant,
                                                                    int64_t mint, int64_t maxt) {
  SL_RETURN_IF_ERROR(ValidateTenantId(tenant));
  std::vector<std::unique_ptr<metrics::Querier>> qs;
  if (DB* db = Get(tenant); db != nullptr) {
    SL_ASSIGN_OR_RETURN(std::unique_ptr<metrics::Querier> q, db->NewQuerier(mint, maxt));
    qs.push_back(std::move(q));
  }
  if (options_.extra_querier) {
    SL_ASSIGN_OR_RETURN(std::unique_ptr<metrics::Querier> q,
                        options_.extra_querier(tenant, mint, maxt));
    if (q != nullptr) qs.push_back(std::move(q));
  }
  return NewMergeQuerier(std::move(qs));
}

Result<std::vector<ExemplarSeries>> MultiTenantDB::QueryExemplars(
    std::string_view tenant, int64_t mint, int64_t maxt,
    const std::vector<std::vector<promql::Matcher>>& selectors) {
  SL_RETURN_IF_ERROR(ValidateTenantId(tenant));
  DB* db = Get(tenant);
  if (db == nullptr) return std::vector<ExemplarSeries>{};
  return db->QueryExemplars(mint, maxt, selectors);
}

Result<std::map<std::string, std::vector<metrics::MetricMetadata>>> MultiTenantDB::Metadata(
    std::string_view tenant, std::string_view metric, int limit) {
  SL_RETURN_IF_ERROR(ValidateTenantId(tenant));
  DB* db = Get(tenant);
  if (db == nullptr) return std::map<std::string, std::vector<metrics::MetricMetadata>>{};
  return db->Metadata(metric, limit);
}

Status MultiTenantDB::MaintainAll() {
  std::vector<DB*> dbs;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::Ok();
    for (const auto& [name, db] : dbs_) dbs.push_back(db.get());
  }
  Status first;
  for (DB* db : dbs) {
    if (options_.max_series_for_tenant) {
      db->head().SetMaxSeries(options_.max_series_for_tenant(db->tenant()));
    }
    Status s = db->Maintain();
    if (!s.ok() && first.ok()) first = s.Annotate("tenant " + db->tenant());
  }
  return first;
}

void MultiTenantDB::Wake() { worker_.Wake(); }

Status MultiTenantDB::Close() {
  worker_.Stop();
  std::vector<std::pair<std::string, DB*>> dbs;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::Ok();
    closed_ = true;
    // The DB objects stay until the destructor, so that a querier or
    // appender destroyed after Close still finds its head.
    for (auto& [name, db] : dbs_) dbs.emplace_back(name, db.get());
  }
  Status first;
  for (auto& [name, db] : dbs) {
    Status s = db->Close();
    if (!s.ok() && first.ok()) first = s.Annotate("tenant " + name);
  }
  return first;
}

}  // namespace sightline::tsdb
