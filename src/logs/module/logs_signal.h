// The logs signal inside one Sightline process (the Loki part of the seed):
//
//   ingester     the log store (store/log_store.h): per tenant a head + WAL
//                under <data.dir>/logs/<tenant>, blocks cut periodically
//                and shipped to logs/<tenant>/ in the object store
//   distributor  Loki push (/loki/api/v1/push) and OTLP logs (/v1/logs,
//                gRPC LogsService) with Loki's limits, into the ingester
//   querier      the Loki HTTP API over the ingester's data and the LogQL
//                engine
//
// In one process the distributor and querier use the local ingester
// directly; scale-out is a later step.
//
// Lifecycle: Start* from the module manager in dependency order, before the
// servers listen; Stop after the servers drained (cuts the heads, ships,
// closes the WALs). Not thread-safe; main thread only.
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
class GrpcServer;
}  // namespace sightline::net

namespace sightline::logs {

class LogsSignal {
 public:
  LogsSignal(const config::Config* cfg, net::Router* router, net::GrpcServer* grpc);
  ~LogsSignal();
  LogsSignal(const LogsSignal&) = delete;
  LogsSignal& operator=(const LogsSignal&) = delete;

  // `store` may be null (no shipping).
  Status StartIngester(io::ObjectStore* store);
  Status StartDistributor();
  Status StartQuerier();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::logs
