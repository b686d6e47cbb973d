// The profiles signal inside one Sightline process (Pyroscope's job):
//
//   ingester     ProfileDB (WAL + head + blocks + shipper) under
//                <data.dir>/profiles/<tenant>, shipping to profiles/<tenant>/
//   distributor  /ingest, /pyroscope/ingest, /push.v1.PusherService/Push with
//                Pyroscope's validation and per-tenant limits (profiles.limits,
//                overridable per tenant under `overrides`)
//   querier      /querier.v1.QuerierService/* (Connect) and the legacy
//                /pyroscope/render, /pyroscope/render-diff, label endpoints
//   scraper      (roles `scraper` and `agent`) pprof targets of
//                profiles.scrape_configs (src/profiles/scrape),
//                and the self-profile: with profiles.self_profile.enabled (on
//                by default) Sightline's own CPU profile (the profiler behind
//                /debug/pprof/profile) is taken for `duration` every
//                `interval` and stored in tenant profiles.self_profile.tenant
//                ("self") as service_name="sightline"; its targets at
//                GET /profiles/api/v1/targets (Prometheus's targets shape)
//
// In one process the distributor, scraper and querier use the local
// ingester directly. The `agent` role without a local ingester pushes what
// it scrapes to profiles.remote_write.url (scrape/remote_push.h). Lifecycle as MetricsSignal:
// Start* before the servers listen, Stop after they drained. Not thread-safe; main thread only.
#pragma once

#include <memory>

#include "base/status.h"

namespace sightline::config {
struct Config;
}
namespace sightline::io {
class ObjectStore;
}
namespace sightline::net {
class Router;
}

namespace sightline::profiles {

class ProfileDB;

class ProfilesSignal {
 public:
  ProfilesSignal(const config::Config* cfg, net::Router* router);
  ~ProfilesSignal();
  ProfilesSignal(const ProfilesSignal&) = delete;
  ProfilesSignal& operator=(const ProfilesSignal&) = delete;

  // `store` may be null (no shipping).
  Status StartIngester(io::ObjectStore* store);
  Status StartDistributor();
  Status StartQuerier();
  // Reads profiles.scrape_configs from the config file. Stores into the
  // local ingester when StartIngester ran, else pushes to
  // profiles.remote_write.url (FailedPrecondition without one). Idempotent.
  Status StartScraper();
  // Closes the store (WAL synced, shippers stopped). Idempotent.
  void Stop();

  ProfileDB* db();

 private:
  void RegisterTargetsRoute();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::profiles
