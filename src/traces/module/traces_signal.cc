#include "traces/module/traces_signal.h"

#include <algorithm>

#include "config/config.h"
#include "config/overrides.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "telemetry/log.h"
#include "traces/api/streaming_querier.h"
#include "traces/api/tempo_api.h"
#include "traces/generator/metrics_generator.h"
#include "traces/ingest/receiver.h"
#include "traces/sampling/tail_sampler.h"
#include "traces/store/store.h"

namespace sightline::traces {

struct TracesSignal::Impl {
  const config::Config* cfg;
  net::Router* router;
  net::GrpcServer* grpc;
  std::unique_ptr<store::TraceStore> store;
  metrics::Appendable* metrics_out = nullptr;
  std::unique_ptr<sampling::TailSampler> sampler;
  std::unique_ptr<generator::MetricsGenerator> generator;
  std::unique_ptr<ingest::TracesReceiver> receiver;
  std::unique_ptr<api::StreamingQuerier> streaming;  // tempopb.StreamingQuerier
  // Per-tenant limits: overrides->For(tenant).traces.
  std::shared_ptr<const config::TenantOverrides> overrides;

  Status LoadOverrides() {
    if (overrides) return Status::Ok();
    SL_ASSIGN_OR_RETURN(overrides, config::TenantOverrides::FromConfig(*cfg));
    return Status::Ok();
  }
};

TracesSignal::TracesSignal(const config::Config* cfg, net::Router* router, net::GrpcServer* grpc)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->router = router;
  impl_->grpc = grpc;
}

TracesSignal::~TracesSignal() { Stop(); }

void TracesSignal::SetMetricsAppendable(metrics::Appendable* appendable) {
  impl_->metrics_out = appendable;
}

Status TracesSignal::StartIngester(io::ObjectStore* object_store) {
  const config::TracesConfig& t = impl_->cfg->traces;
  store::StoreOptions o;
  o.data_dir = impl_->cfg->data_dir;
  o.store = object_store;
  o.max_bytes_per_trace = t.max_bytes_per_trace;
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  o.max_bytes_per_trace_for = [ov = impl_->overrides](std::string_view tenant) {
    return ov->For(tenant).traces.max_bytes_per_trace;
  };
  o.max_block_duration = t.max_block_duration;
  o.max_block_bytes = t.max_block_bytes;
  o.ship_interval = t.ship_interval;
  o.local_retention = t.local_retention;
  o.blocklist_poll = t.blocklist_poll;
  o.id_page_cache_bytes = t.id_page_cache_bytes;
  SL_ASSIGN_OR_RETURN(impl_->store, store::TraceStore::Open(std::move(o)));
  std::string tenants;
  for (const auto& n : impl_->store->Tenants()) tenants += (tenants.empty() ? "" : ",") + n;
  log::Info("traces ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status TracesSignal::StartDistributor() {
  if (!impl_->store) return FailedPreconditionError("the traces distributor needs the ingester");
  const config::TracesConfig& t = impl_->cfg->traces;
  ingest::TraceSink* sink = impl_->store.get();
  if (t.sampling_enabled) {
    SL_ASSIGN_OR_RETURN(auto opts, sampling::OptionsFromConfig(*impl_->cfg));
    size_t n_policies = opts.policies.size();
    impl_->sampler = std::make_unique<sampling::TailSampler>(sink, std::move(opts));
    impl_->sampler->Start();
    sink = impl_->sampler.get();
    log::Info("traces tail sampling on",
              {{"decision_wait_ms", std::to_string(t.sampling_decision_wait.count())},
               {"policies", std::to_string(n_policies)}});
  }
  if (t.generator_enabled && impl_->metrics_out != nullptr) {
    generator::GeneratorOptions go;
    go.collection_interval = t.generator_collection_interval;
    impl_->generator =
        std::make_unique<generator::MetricsGenerator>(sink, impl_->metrics_out, std::move(go));
    impl_->generator->Start();
    sink = impl_->generator.get();
  }
  ingest::ReceiverOptions ro;
  ro.multitenancy = impl_->cfg->multitenancy_enabled;
  ro.rate_limit_bytes = static_cast<double>(t.ingestion_rate_limit_bytes);
  ro.burst_bytes = static_cast<double>(t.ingestion_burst_size_bytes);
  ro.convert.max_attribute_value_bytes = t.max_attribute_bytes;
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  ro.limits = [ov = impl_->overrides](std::string_view tenant) {
    const config::TracesConfig& c = ov->For(tenant).traces;
    return ingest::TenantLimits{static_cast<double>(c.ingestion_rate_limit_bytes),
                                static_cast<double>(c.ingestion_burst_size_bytes),
                                static_cast<size_t>(c.max_attribute_bytes)};
  };
  impl_->receiver = std::make_unique<ingest::TracesReceiver>(sink, std::move(ro));
  impl_->receiver->RegisterHttp(*impl_->router);
  impl_->receiver->RegisterGrpc(*impl_->grpc);
  return Status::Ok();
}

Status TracesSignal::StartQuerier() {
  if (!impl_->store) return FailedPreconditionError("the traces querier needs the ingester");
  api::ApiOptions o;
  o.search_target_bytes_per_job = impl_->cfg->traces.search_target_bytes_per_job;
  o.metrics_max_series =
      static_cast<uint32_t>(std::max(0, impl_->cfg->traces.metrics_max_response_series));
  api::RegisterTempoApi(*impl_->router, impl_->store.get(), o);
  api::StreamingQuerierOptions so;
  so.multitenancy = impl_->cfg->multitenancy_enabled;
  so.search_target_bytes_per_job = impl_->cfg->traces.search_target_bytes_per_job;
  so.stream_interval = impl_->cfg->traces.search_streaming_interval;
  so.max_series = o.metrics_max_series;
  impl_->streaming = std::make_unique<api::StreamingQuerier>(impl_->store.get(), so);
  impl_->streaming->Register(*impl_->grpc);
  return Status::Ok();
}

void TracesSignal::Stop() {
  if (!impl_) return;
  if (impl_->generator) impl_->generator->Stop();
  if (impl_->sampler) impl_->sampler->Stop();
  if (impl_->store) {
    Status s = impl_->store->Close();
    if (!s.ok()) log::Error("closing the trace store failed", {{"err", s.ToString()}});
  }
}

}  // namespace sightline::traces
