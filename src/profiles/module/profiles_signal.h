// The profiles signal inside one Sightline process (Pyroscope's job):
//
//   ingester     ProfileDB (WAL + head + blocks + shipper) under
//                <data.dir>/profiles/<tenant>, shipping to profiles/<tenant>/
//   distributor  /ingest, /pyroscope/ingest, /push.v1.PusherService/Push with
//                Pyroscope's validation and per-tenant limits
//   querier      /querier.v1.QuerierService/* (Connect) and the legacy
//                /pyroscope/render, /pyroscope/render-diff, label endpoints
//   self-profile with profiles.self_profile.enabled (off by default), the
//                distributor stores Sightline's own CPU profile (the
//                /debug/pprof/profile profiler) every interval into the
//                profiles.self_profile.tenant tenant ("self")
//
// In one process the distributor and querier use the local ingester
// directly. Lifecycle as MetricsSignal: Start* before the servers listen,
// Stop after they drained. Not thread-safe; main thread only.
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
  // Closes the store (WAL synced, shippers stopped). Idempotent.
  void Stop();

  ProfileDB* db();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::profiles
