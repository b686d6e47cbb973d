#include "profiles/module/profiles_signal.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "base/json_writer.h"
#include "config/config.h"
#include "config/overrides.h"
#include "net/http.h"
#include "pprof/profile.pb.h"
#include "profiles/api/querier_api.h"
#include "profiles/ingest/ingest.h"
#include "profiles/scrape/pprof_scrape.h"
#include "profiles/scrape/remote_push.h"
#include "profiles/store/profile_db.h"
#include "telemetry/cpu_profiler.h"
#include "telemetry/log.h"

namespace sightline::profiles {

namespace {

IngestLimits LimitsOf(const config::ProfilesConfig& pc) {
  IngestLimits l;
  l.max_profile_size_bytes = pc.max_profile_size_bytes;
  l.max_samples = pc.max_profile_stacktrace_samples;
  l.max_stack_depth = pc.max_profile_stacktrace_depth;
  l.max_label_names = pc.max_label_names_per_series;
  l.max_label_name_length = pc.max_label_name_length;
  l.max_label_value_length = pc.max_label_value_length;
  l.ingestion_rate_bytes = static_cast<double>(pc.ingestion_rate_bytes);
  l.ingestion_burst_bytes = static_cast<double>(pc.ingestion_burst_bytes);
  return l;
}

}  // namespace

struct ProfilesSignal::Impl {
  const config::Config* cfg;
  net::Router* router;
  std::shared_ptr<const config::TenantOverrides> overrides;
  std::unique_ptr<ProfileDB> db;
  std::unique_ptr<Ingester> ingester;
  bool routes_registered = false;
  std::unique_ptr<scrape::PprofScraper> scraper;
  std::unique_ptr<scrape::RemotePusher> pusher;  // agent without a local ingester
  bool targets_route = false;
  // Ends a self-profile window early on Stop.
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
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
  SL_ASSIGN_OR_RETURN(impl_->overrides, config::TenantOverrides::FromConfig(*impl_->cfg));
  ProfileDBOptions o;
  o.data_dir = impl_->cfg->data_dir;
  o.store = store;
  o.block_duration = pc.block_duration;
  o.ship_interval = pc.ship_interval;
  o.retention = pc.retention;
  o.local_retention = pc.local_retention;
  o.remote_cache_bytes = pc.remote_block_cache_bytes;
  SL_ASSIGN_OR_RETURN(impl_->db, ProfileDB::Open(std::move(o)));
  // Limits per tenant: the base profiles.limits with the tenant's overrides.
  impl_->ingester =
      std::make_unique<Ingester>(impl_->db.get(), [ov = impl_->overrides](std::string_view tenant) {
        return LimitsOf(ov->For(tenant).profiles);
      });
  std::string tenants;
  for (const auto& t : impl_->db->Tenants()) tenants += (tenants.empty() ? "" : ",") + t;
  log::Info("profiles ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status ProfilesSignal::StartDistributor() {
  if (!impl_->db) return FailedPreconditionError("the profiles distributor needs the ingester");
  // Bodies on the wire: room for the largest profile any tenant may send,
  // multipart framing included; the 413 then comes from the decoded size.
  uint64_t max_profile = impl_->cfg->profiles.max_profile_size_bytes;
  for (const auto& t : impl_->overrides->Tenants()) {
    max_profile = std::max(max_profile, impl_->overrides->For(t).profiles.max_profile_size_bytes);
  }
  RegisterIngestRoutes(*impl_->router, impl_->ingester.get(),
                       std::max<uint64_t>(max_profile * 4, 16u << 20));
  impl_->routes_registered = true;
  return Status::Ok();
}

Status ProfilesSignal::StartQuerier() {
  if (!impl_->db) return FailedPreconditionError("the profiles querier needs the ingester");
  QuerierApiOptions o;
  o.default_max_nodes = impl_->cfg->profiles.max_nodes_default;
  RegisterQuerierApi(*impl_->router, impl_->db.get(), o);
  return Status::Ok();
}

Status ProfilesSignal::StartScraper() {
  if (impl_->scraper) return Status::Ok();  // the scraper and agent roles share it
  const auto& cfg = *impl_->cfg;
  if (!impl_->db && cfg.profiles.remote_write_url.empty()) {
    return FailedPreconditionError(
        "the profiles agent runs no local profiles ingester here: set "
        "profiles.remote_write.url to the Sightline or Pyroscope to push scraped profiles to, "
        "or run it with the ingester role");
  }
  const auto& pc = cfg.profiles;
  SL_ASSIGN_OR_RETURN(auto jobs, scrape::ParseScrapeConfigs(
                                     cfg.file_text, cfg.config_file.empty() ? std::string("config")
                                                                            : cfg.config_file));
  std::vector<scrape::ExtraTarget> extra;
  if (pc.self_profile_enabled) {
    if (pc.self_profile_hz < 1 || pc.self_profile_hz > 1000) {
      return InvalidArgumentError(
          fmt::format("profiles.self_profile.hz: {} is outside 1-1000", pc.self_profile_hz));
    }
    if (pc.self_profile_duration.count() <= 0) {
      return InvalidArgumentError("profiles.self_profile.duration must be positive");
    }
    scrape::ExtraTarget self;
    self.target.job = "sightline-self-profile";
    self.target.tenant = pc.self_profile_tenant;
    self.target.profile_name = "process_cpu";
    self.target.delta = true;
    self.target.labels = {{"__name__", "process_cpu"}, {"service_name", "sightline"}};
    self.target.url = "self:/debug/pprof/profile";
    self.target.interval = std::max(pc.self_profile_interval, pc.self_profile_duration);
    self.target.timeout = pc.self_profile_duration;
    const auto duration = pc.self_profile_duration;
    const int hz = pc.self_profile_hz;
    self.fetch = [duration, hz,
                  stopping = impl_->stopping](std::chrono::milliseconds) -> Result<std::string> {
      // A /debug/pprof/profile request holds the profiler: skip this window.
      if (telemetry::CpuProfileInProgress()) {
        return FailedPreconditionError("a CPU profile is already being taken; window skipped");
      }
      auto p = telemetry::CollectCpuProfile(duration, hz, stopping.get());
      if (p.ok() && stopping->load()) return CancelledError("shutting down");
      return p;
    };
    self.first_after = pc.self_profile_first_after;
    extra.push_back(std::move(self));
  }
  RegisterTargetsRoute();
  if (jobs.empty() && extra.empty()) return Status::Ok();
  scrape::ProfileSink sink;
  if (impl_->db) {
    Ingester* ing = impl_->ingester.get();
    sink = [ing](const std::string& tenant, const Labels& labels, perftools::profiles::Profile& p,
                 uint64_t raw_bytes) { return ing->Ingest(tenant, labels, p, 0, raw_bytes); };
  } else {
    scrape::RemotePushOptions ro;
    ro.url = pc.remote_write_url;
    ro.queue_capacity = static_cast<size_t>(std::max(1, pc.remote_write_queue_capacity));
    ro.max_retries = std::max(0, pc.remote_write_max_retries);
    ro.min_backoff = pc.remote_write_min_backoff;
    ro.max_backoff = pc.remote_write_max_backoff;
    ro.timeout = pc.remote_write_timeout;
    SL_ASSIGN_OR_RETURN(impl_->pusher, scrape::RemotePusher::Start(std::move(ro)));
    scrape::RemotePusher* pusher = impl_->pusher.get();
    sink = [pusher](const std::string& tenant, const Labels& labels,
                    perftools::profiles::Profile& p, uint64_t) {
      pusher->Push(tenant, labels, p);
      return Status::Ok();
    };
    log::Info("profiles agent pushing to a remote distributor", {{"url", pc.remote_write_url}});
  }
  scrape::ScraperOptions so;
  so.max_profile_bytes = pc.max_profile_size_bytes;
  log::Info("profiles scraper starting",
            {{"jobs", std::to_string(jobs.size())},
             {"self_profile", pc.self_profile_enabled ? "on" : "off"}});
  SL_ASSIGN_OR_RETURN(impl_->scraper, scrape::PprofScraper::Start(std::move(jobs), std::move(sink),
                                                                  std::move(extra), so));
  return Status::Ok();
}

// GET /profiles/api/v1/targets: the pprof scrape targets, shaped like
// Prometheus's /api/v1/targets (activeTargets with labels, scrapePool,
// scrapeUrl, health, lastError, lastScrape; droppedTargets with their
// discovered labels), plus Sightline's scrapes and profilesStored counts.
void ProfilesSignal::RegisterTargetsRoute() {
  if (impl_->targets_route) return;
  impl_->targets_route = true;
  net::RouteOptions o;
  o.name = "profiles_api_v1_targets";
  o.tenant = false;
  Impl* impl = impl_.get();
  impl_->router->Handle(
      "GET", "/profiles/api/v1/targets",
      [impl](net::HttpRequest&, net::HttpResponse& resp) {
        std::vector<scrape::TargetStatus> active;
        std::vector<Labels> dropped;
        if (impl->scraper) {
          active = impl->scraper->Targets();
          dropped = impl->scraper->DroppedTargets();
        }
        auto labels = [](JsonWriter& w, const Labels& ls) {
          w.BeginObject();
          for (const auto& [n, v] : ls) w.Key(n).String(v);
          w.EndObject();
        };
        JsonWriter w;
        w.BeginObject().Key("status").String("success").Key("data").BeginObject();
        w.Key("activeTargets").BeginArray();
        for (const auto& t : active) {
          w.BeginObject();
          w.Key("labels");
          labels(w, t.labels);
          w.Key("scrapePool").String(t.job);
          w.Key("scrapeUrl").String(t.url);
          w.Key("health").String(t.health);
          w.Key("lastError").String(t.last_error);
          w.Key("lastScrape").Int(t.last_scrape_ms);
          w.Key("scrapes").Uint(t.scrapes);
          w.Key("profilesStored").Uint(t.profiles_stored);
          w.EndObject();
        }
        w.EndArray();
        w.Key("droppedTargets").BeginArray();
        for (const auto& d : dropped) {
          w.BeginObject().Key("discoveredLabels");
          labels(w, d);
          w.EndObject();
        }
        w.EndArray();
        w.EndObject().EndObject();
        resp.Json(200, w.Take());
      },
      o);
}

void ProfilesSignal::Stop() {
  if (!impl_) return;
  impl_->stopping->store(true);
  if (impl_->scraper) impl_->scraper->Stop();
  if (impl_->pusher) impl_->pusher->Stop();
  if (impl_->db) {
    Status s = impl_->db->Close();
    if (!s.ok()) log::Error("closing the profiles store failed", {{"err", s.ToString()}});
  }
}

}  // namespace sightline::profiles
