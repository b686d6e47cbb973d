#include "profiles/module/profiles_signal.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/config.h"
#include "net/http.h"
#include "pprof/profile.pb.h"
#include "profiles/api/querier_api.h"
#include "profiles/ingest/ingest.h"
#include "profiles/store/profile_db.h"
#include "telemetry/cpu_profiler.h"
#include "telemetry/log.h"

namespace sightline::profiles {

struct ProfilesSignal::Impl {
  const config::Config* cfg;
  net::Router* router;
  std::unique_ptr<ProfileDB> db;
  std::unique_ptr<Ingester> ingester;

  // Self-profiling (profiles.self_profile.*).
  std::thread self_thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;

  void SelfProfileLoop() {
    const auto& pc = cfg->profiles;
    std::unique_lock<std::mutex> l(mu);
    while (!cv.wait_for(l, pc.self_profile_interval, [&] { return stop; })) {
      l.unlock();
      if (!telemetry::CpuProfileInProgress()) {
        auto gz = telemetry::CollectCpuProfile(pc.self_profile_duration);
        perftools::profiles::Profile p;
        Status s = gz.ok() ? DecodePprof(*gz, 64u << 20, &p) : gz.status();
        if (s.ok()) {
          s = ingester->Ingest(pc.self_profile_tenant,
                               {{"service_name", "sightline"}, {"pyroscope_spy", "sightline"}}, p,
                               0, gz->size());
        }
        if (!s.ok()) log::Warn("self-profile failed", {{"err", s.ToString()}});
      }
      l.lock();
    }
  }
};

ProfilesSignal::ProfilesSignal(const config::Config* cfg, net::Router* router)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->router = router;
}

ProfilesSignal::~ProfilesSignal() { Stop(); }

ProfileDB* ProfilesSignal::db() { return impl_->db.get(); }

Status ProfilesSignal::StartIngester(io::ObjectStore* store) {
  const auto& pc = impl_->cfg->profiles;
  ProfileDBOptions o;
  o.data_dir = impl_->cfg->data_dir;
  o.store = store;
  o.block_duration = pc.block_duration;
  o.ship_interval = pc.ship_interval;
  SL_ASSIGN_OR_RETURN(impl_->db, ProfileDB::Open(std::move(o)));
  std::string tenants;
  for (const auto& t : impl_->db->Tenants()) tenants += (tenants.empty() ? "" : ",") + t;
  log::Info("profiles ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status ProfilesSignal::StartDistributor() {
  if (!impl_->db) return FailedPreconditionError("the profiles distributor needs the ingester");
  const auto& pc = impl_->cfg->profiles;
  IngestLimits l;
  l.max_profile_size_bytes = pc.max_profile_size_bytes;
  l.max_samples = pc.max_profile_stacktrace_samples;
  l.max_stack_depth = pc.max_profile_stacktrace_depth;
  l.max_label_names = pc.max_label_names_per_series;
  l.max_label_name_length = pc.max_label_name_length;
  l.max_label_value_length = pc.max_label_value_length;
  l.ingestion_rate_bytes = static_cast<double>(pc.ingestion_rate_bytes);
  l.ingestion_burst_bytes = static_cast<double>(pc.ingestion_burst_bytes);
  impl_->ingester = RegisterIngest(*impl_->router, impl_->db.get(), l);
  if (pc.self_profile_enabled) {
    impl_->self_thread = std::thread([impl = impl_.get()] { impl->SelfProfileLoop(); });
  }
  return Status::Ok();
}

Status ProfilesSignal::StartQuerier() {
  if (!impl_->db) return FailedPreconditionError("the profiles querier needs the ingester");
  QuerierApiOptions o;
  o.default_max_nodes = impl_->cfg->profiles.max_nodes_default;
  RegisterQuerierApi(*impl_->router, impl_->db.get(), o);
  return Status::Ok();
}

void ProfilesSignal::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->self_thread.joinable()) impl_->self_thread.join();
  if (impl_->db) {
    Status s = impl_->db->Close();
    if (!s.ok()) log::Error("closing the profiles store failed", {{"err", s.ToString()}});
  }
}

}  // namespace sightline::profiles
