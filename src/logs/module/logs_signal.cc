#include "logs/module/logs_signal.h"

#include <map>
#include <string>

#include "config/config.h"
#include "config/overrides.h"
#include "logs/api/loki_api.h"
#include "logs/api/tail.h"
#include "logs/ingest/distributor.h"
#include "logs/ingest/tail_hub.h"
#include "logs/logql/engine.h"
#include "logs/store/log_store.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::logs {

struct LogsSignal::Impl {
  const config::Config* cfg;
  net::Router* router;
  net::GrpcServer* grpc;
  // Per-tenant logs.limits (overrides: <tenant>: {logs: {limits: ...}}).
  std::shared_ptr<const config::TenantOverrides> overrides;
  std::unique_ptr<store::LogStore> store;
  // Between the distributor and the store: feeds /loki/api/v1/tail.
  std::unique_ptr<ingest::TailHub> tail_hub;
  std::unique_ptr<ingest::Distributor> distributor;
  std::unique_ptr<ingest::OtlpLogsGrpcService> otlp_grpc;
  std::unique_ptr<logql::Engine> engine;
  // Engines for tenants whose query limits are overridden.
  std::map<std::string, std::unique_ptr<logql::Engine>, std::less<>> tenant_engines;
  telemetry::Family<telemetry::Histogram>* durations = nullptr;

  Status LoadOverrides() {
    if (overrides) return Status::Ok();
    SL_ASSIGN_OR_RETURN(overrides, config::TenantOverrides::FromConfig(*cfg));
    return Status::Ok();
  }
};

namespace {

telemetry::Family<telemetry::Histogram>* Durations() {
  return &telemetry::Registry::Default().AddHistogram(
      "loki_request_duration_seconds", "Time (in seconds) spent serving HTTP requests.",
      {"method", "route", "status_code", "ws"});
}

int64_t Ns(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

ingest::Limits IngestLimits(const config::LogsConfig& lc) {
  ingest::Limits L;
  L.max_line_size = lc.max_line_size;
  L.reject_old_samples = lc.reject_old_samples;
  L.reject_old_samples_max_age_ns = Ns(lc.reject_old_samples_max_age);
  L.creation_grace_period_ns = Ns(lc.creation_grace_period);
  L.max_label_names_per_series = lc.max_label_names_per_series;
  L.max_label_name_length = lc.max_label_name_length;
  L.max_label_value_length = lc.max_label_value_length;
  L.ingestion_rate_bytes = lc.ingestion_rate_bytes;
  L.ingestion_burst_bytes = lc.ingestion_burst_bytes;
  L.per_stream_rate_bytes = lc.per_stream_rate_bytes;
  L.per_stream_burst_bytes = lc.per_stream_burst_bytes;
  L.max_structured_metadata_bytes = lc.max_structured_metadata_bytes;
  L.max_structured_metadata_entries = lc.max_structured_metadata_entries;
  return L;
}

logql::EngineOptions EngineOptionsOf(const config::LogsConfig& lc) {
  logql::EngineOptions eo;
  eo.max_series = static_cast<size_t>(lc.max_query_series);
  eo.max_entries_limit = static_cast<size_t>(lc.max_entries_limit_per_query);
  eo.timeout = lc.query_timeout;
  return eo;
}

bool SameEngineOptions(const config::LogsConfig& a, const config::LogsConfig& b) {
  return a.max_query_series == b.max_query_series &&
         a.max_entries_limit_per_query == b.max_entries_limit_per_query &&
         a.query_timeout == b.query_timeout;
}

}  // namespace

LogsSignal::LogsSignal(const config::Config* cfg, net::Router* router, net::GrpcServer* grpc)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->router = router;
  impl_->grpc = grpc;
}

LogsSignal::~LogsSignal() { Stop(); }

Status LogsSignal::StartIngester(io::ObjectStore* object_store) {
  const auto& lc = impl_->cfg->logs;
  store::LogStoreOptions o;
  o.data_dir = impl_->cfg->data_dir + "/logs";
  o.store = object_store;
  o.out_of_order_window_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(lc.out_of_order_window).count();
  o.max_streams_per_tenant = lc.max_streams_per_tenant;
  o.cut_interval = lc.block_cut_interval;
  o.ship_interval = lc.ship_interval;
  o.local_retention = lc.local_retention;
  o.block.chunk.zstd_level = lc.chunk_zstd_level;
  o.chunk_cache_bytes = lc.chunk_cache_size;
  o.retention_delete_delay = lc.retention_delete_delay;
  // logs.retention_period, per tenant through overrides (lperf).
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  {
    std::shared_ptr<const config::TenantOverrides> ov = impl_->overrides;
    // logs.limits.max_streams_per_tenant and out_of_order_window per tenant.
    if (!ov->Tenants().empty()) {
      o.tenant_limits = [ov](std::string_view tenant) {
        const auto& tl = ov->For(tenant).logs;
        store::LogStoreOptions::TenantLimits l;
        l.out_of_order_window_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(tl.out_of_order_window).count();
        l.max_streams_per_tenant = tl.max_streams_per_tenant;
        return l;
      };
    }
    bool any = lc.retention_period.count() > 0;
    for (const auto& t : ov->Tenants()) any |= ov->For(t).logs.retention_period.count() > 0;
    if (any) {
      o.retention_period = [ov](std::string_view tenant) {
        return ov->For(tenant).logs.retention_period;
      };
    }
  }
  SL_ASSIGN_OR_RETURN(impl_->store, store::LogStore::Open(std::move(o)));
  impl_->tail_hub = std::make_unique<ingest::TailHub>(impl_->store.get());
  std::string tenants;
  for (const auto& t : impl_->store->Tenants()) tenants += (tenants.empty() ? "" : ",") + t;
  log::Info("logs ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status LogsSignal::StartDistributor() {
  if (!impl_->store) return FailedPreconditionError("the logs distributor needs the ingester");
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  ingest::DistributorOptions o;
  o.multitenancy = impl_->cfg->multitenancy_enabled;
  o.limits = IngestLimits(impl_->cfg->logs);
  std::shared_ptr<const config::TenantOverrides> ov = impl_->overrides;
  if (!ov->Tenants().empty()) {
    o.tenant_limits = [ov](std::string_view tenant) { return IngestLimits(ov->For(tenant).logs); };
  }
  impl_->distributor =
      std::make_unique<ingest::Distributor>(impl_->tail_hub.get(), std::move(o));
  if (!impl_->durations) impl_->durations = Durations();
  ingest::RegisterDistributorRoutes(*impl_->router, impl_->distributor.get(), impl_->durations);
  impl_->otlp_grpc = ingest::RegisterOtlpLogsGrpc(*impl_->grpc, impl_->distributor.get());
  return Status::Ok();
}

Status LogsSignal::StartQuerier() {
  if (!impl_->store) return FailedPreconditionError("the logs querier needs the ingester");
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  const auto& lc = impl_->cfg->logs;
  impl_->engine = std::make_unique<logql::Engine>(EngineOptionsOf(lc));
  std::shared_ptr<const config::TenantOverrides> ov = impl_->overrides;
  for (const std::string& t : ov->Tenants()) {
    const auto& tl = ov->For(t).logs;
    if (!SameEngineOptions(tl, lc)) {
      impl_->tenant_engines.emplace(t, std::make_unique<logql::Engine>(EngineOptionsOf(tl)));
    }
  }
  api::ApiOptions ao;
  ao.max_query_length_ns = Ns(lc.max_query_length);
  ao.max_entries_limit = lc.max_entries_limit_per_query;
  const logql::Engine* base_engine = impl_->engine.get();
  const auto* engines = &impl_->tenant_engines;
  ao.tenant_limits = [ov, base_engine, engines](std::string_view tenant) {
    const auto& tl = ov->For(tenant).logs;
    api::TenantQueryLimits l;
    auto it = engines->find(tenant);
    l.engine = it == engines->end() ? base_engine : it->second.get();
    l.max_query_length_ns = Ns(tl.max_query_length);
    l.max_entries_limit = tl.max_entries_limit_per_query;
    return l;
  };
  if (!impl_->durations) impl_->durations = Durations();
  ao.duration = impl_->durations;
  store::LogStore* st = impl_->store.get();
  api::RegisterLokiApi(
      *impl_->router, [st](std::string_view tenant) { return st->Querier(tenant); },
      impl_->engine.get(), ao);
  api::TailOptions to;
  to.max_concurrent_tail_requests = [ov](std::string_view tenant) {
    return ov->For(tenant).logs.max_concurrent_tail_requests;
  };
  to.tail_max_duration = lc.tail_max_duration;
  to.duration = impl_->durations;
  api::RegisterTailRoute(
      *impl_->router, impl_->tail_hub.get(),
      [st](std::string_view tenant) { return st->Querier(tenant); }, impl_->engine.get(), to);
  return Status::Ok();
}

void LogsSignal::Stop() {
  if (impl_ && impl_->store) {
    Status s = impl_->store->Close();
    if (!s.ok()) log::Error("closing the log store failed", {{"err", s.ToString()}});
    impl_->store.reset();
  }
}

}  // namespace sightline::logs
