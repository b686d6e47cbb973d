// The traces signal inside one Sightline process: which parts run for which
// role, and how they are wired to the shared servers and object store.
//
//   ingester     the trace store (WAL + head + blocks + shipper) under
//                <data.dir>/traces/<tenant>, shipping to traces/<tenant>/
//   distributor  OTLP traces (/v1/traces, gRPC TraceService) and Zipkin
//                (/api/v2/spans) → metrics from traces (span metrics and
//                service graph into the metrics store, when given one) →
//                tail sampling (traces.sampling.enabled) → the ingester
//   gateway      an OTel Collector gateway (docs/api-tempo.md "Gateway"):
//                the same receivers (routes, ports, per-tenant limits) →
//                tail sampling (on unless traces.sampling.enabled is false)
//                → a persistent queue on the WAL under <data.dir>/gateway →
//                OTLP/HTTP to traces.gateway.endpoint. No store, no querier;
//                it cannot share a process with the distributor.
//   querier      the Tempo HTTP API over the ingester's data, and Tempo's
//                streaming gRPC querier (tempopb.StreamingQuerier) on the
//                gRPC server (reachable on the HTTP port too, via h2c)
//
// In one process the distributor and querier talk to the local ingester
// directly; scale-out (hash ring, remote ingesters) is a later step.
//
// Per-tenant limits: the distributor's rate/burst and attribute length and
// the store's max_bytes_per_trace are read per request from the shared
// config::TenantOverrides (`overrides: {<tenant>: {traces: {limits: ...}}}`).
// Tail-sampling policies come from `traces.sampling.policies`
// (sampling/policy_yaml.h); a bad list fails StartDistributor.
//
// Lifecycle: Start* from the module manager in dependency order, before the
// servers listen (routes and gRPC services must be registered first); Stop
// after the servers drained. Not thread-safe; main thread only.
#pragma once

#include <memory>

#include "base/status.h"

namespace sightline::config {
struct Config;
}
namespace sightline::io {
class ObjectStore;
}
namespace sightline::metrics {
class Appendable;
}
namespace sightline::net {
class Router;
class GrpcServer;
}  // namespace sightline::net

namespace sightline::traces {

class TracesSignal {
 public:
  TracesSignal(const config::Config* cfg, net::Router* router, net::GrpcServer* grpc);
  ~TracesSignal();
  TracesSignal(const TracesSignal&) = delete;
  TracesSignal& operator=(const TracesSignal&) = delete;

  // Where metrics from traces go (the metrics ingester); call before
  // StartDistributor. Null (the default): no metrics from traces.
  void SetMetricsAppendable(metrics::Appendable* appendable);

  // `store` may be null (no shipping).
  Status StartIngester(io::ObjectStore* store);
  Status StartDistributor();
  Status StartQuerier();
  // The gateway role; FailedPrecondition without traces.gateway.endpoint
  // or with the distributor in the same process.
  Status StartGateway();
  // Flushes pending sampling decisions, closes the store (WAL synced,
  // shippers stopped). Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::traces
