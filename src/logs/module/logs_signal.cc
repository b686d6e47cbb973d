#include "logs/module/logs_signal.h"

#include "config/config.h"
#include "logs/api/loki_api.h"
#include "logs/ingest/distributor.h"
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
  std::unique_ptr<store::LogStore> store;
  std::unique_ptr<ingest::Distributor> distributor;
  std::unique_ptr<ingest::OtlpLogsGrpcService> otlp_grpc;
  std::unique_ptr<logql::Engine> engine;
  telemetry::Family<telemetry::Histogram>* durations = nullptr;
};

namespace {

telemetry::Family<telemetry::Histogram>* Durations() {
  return &telemetry::Registry::Default().AddHistogram(
      "loki_request_duration_seconds", "Time (in seconds) spent serving HTTP requests.",
      {"method", "route", "status_code", "ws"});
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
  SL_ASSIGN_OR_RETURN(impl_->store, store::LogStore::Open(std::move(o)));
  std::string tenants;
  for (const auto& t : impl_->store->Tenants()) tenants += (tenants.empty() ? "" : ",") + t;
  log::Info("logs ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status LogsSignal::StartDistributor() {
  if (!impl_->store) return FailedPreconditionError("the logs distributor needs the ingester");
  const auto& lc = impl_->cfg->logs;
  auto ns = [](std::chrono::milliseconds d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  };
  ingest::DistributorOptions o;
  o.multitenancy = impl_->cfg->multitenancy_enabled;
  auto& L = o.limits;
  L.max_line_size = lc.max_line_size;
  L.reject_old_samples = lc.reject_old_samples;
  L.reject_old_samples_max_age_ns = ns(lc.reject_old_samples_max_age);
  L.creation_grace_period_ns = ns(lc.creation_grace_period);
  L.max_label_names_per_series = lc.max_label_names_per_series;
  L.max_label_name_length = lc.max_label_name_length;
  L.max_label_value_length = lc.max_label_value_length;
  L.ingestion_rate_bytes = lc.ingestion_rate_bytes;
  L.ingestion_burst_bytes = lc.ingestion_burst_bytes;
  L.per_stream_rate_bytes = lc.per_stream_rate_bytes;
  L.per_stream_burst_bytes = lc.per_stream_burst_bytes;
  L.max_structured_metadata_bytes = lc.max_structured_metadata_bytes;
  L.max_structured_metadata_entries = lc.max_structured_metadata_entries;
  impl_->distributor = std::make_unique<ingest::Distributor>(impl_->store.get(), std::move(o));
  if (!impl_->durations) impl_->durations = Durations();
  ingest::RegisterDistributorRoutes(*impl_->router, impl_->distributor.get(), impl_->durations);
  impl_->otlp_grpc = ingest::RegisterOtlpLogsGrpc(*impl_->grpc, impl_->distributor.get());
  return Status::Ok();
}

Status LogsSignal::StartQuerier() {
  if (!impl_->store) return FailedPreconditionError("the logs querier needs the ingester");
  const auto& lc = impl_->cfg->logs;
  logql::EngineOptions eo;
  eo.max_series = static_cast<size_t>(lc.max_query_series);
  eo.max_entries_limit = static_cast<size_t>(lc.max_entries_limit_per_query);
  eo.timeout = lc.query_timeout;
  impl_->engine = std::make_unique<logql::Engine>(eo);
  api::ApiOptions ao;
  ao.max_query_length_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(lc.max_query_length).count();
  ao.max_entries_limit = lc.max_entries_limit_per_query;
  if (!impl_->durations) impl_->durations = Durations();
  ao.duration = impl_->durations;
  store::LogStore* st = impl_->store.get();
  api::RegisterLokiApi(
      *impl_->router, [st](std::string_view tenant) { return st->Querier(tenant); },
      impl_->engine.get(), ao);
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
