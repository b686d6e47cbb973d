#include "traces/module/traces_signal.h"

#include <algorithm>

#include "config/config.h"
#include "config/overrides.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "telemetry/log.h"
#include "traces/api/streaming_querier.h"
#include "traces/api/tempo_api.h"
#include "traces/gateway/otlp_exporter.h"
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
  std::unique_ptr<gateway::OtlpExporter> exporter;   // the gateway role
  std::unique_ptr<gateway::QueueGate> gate;
  // Per-tenant limits: overrides->For(tenant).traces.
  std::shared_ptr<const config::TenantOverrides> overrides;

  Status LoadOverrides() {
    if (overrides) return Status::Ok();
    SL_ASSIGN_OR_RETURN(overrides, config::TenantOverrides::FromConfig(*cfg));
    return Status::Ok();
  }

  // The receivers in front of `sink` on the shared servers.
  Status StartReceivers(ingest::TraceSink* sink) {
    const config::TracesConfig& t = cfg->traces;
    ingest::ReceiverOptions ro;
    ro.multitenancy = cfg->multitenancy_enabled;
    ro.rate_limit_bytes = static_cast<double>(t.ingestion_rate_limit_bytes);
    ro.burst_bytes = static_cast<double>(t.ingestion_burst_size_bytes);
    ro.convert.max_attribute_value_bytes = t.max_attribute_bytes;
    SL_RETURN_IF_ERROR(LoadOverrides());
    ro.limits = [ov = overrides](std::string_view tenant) {
      const config::TracesConfig& c = ov->For(tenant).traces;
      return ingest::TenantLimits{static_cast<double>(c.ingestion_rate_limit_bytes),
                                  static_cast<double>(c.ingestion_burst_size_bytes),
                                  static_cast<size_t>(c.max_attribute_bytes)};
    };
    receiver = std::make_unique<ingest::TracesReceiver>(sink, std::move(ro));
    receiver->RegisterHttp(*router);
    receiver->RegisterGrpc(*grpc);
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
  o.split_window = t.split_window;
  o.split_window_max_ids = static_cast<uint64_t>(t.split_window_max_ids);
  SL_ASSIGN_OR_RETURN(impl_->store, store::TraceStore::Open(std::move(o)));
  std::string tenants;
  for (const auto& n : impl_->store->Tenants()) tenants += (tenants.empty() ? "" : ",") + n;
  log::Info("traces ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status TracesSignal::StartDistributor() {
  if (!impl_->store) return FailedPreconditionError("the traces distributor needs the ingester");
  if (impl_->receiver) {
    return FailedPreconditionError(
        "the traces receivers already run (the gateway and distributor roles cannot share a "
        "process)");
  }
  const config::TracesConfig& t = impl_->cfg->traces;
  ingest::TraceSink* sink = impl_->store.get();
  if (t.sampling_enabled.value_or(false)) {
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
  return impl_->StartReceivers(sink);
}

Status TracesSignal::StartGateway() {
  const config::TracesConfig& t = impl_->cfg->traces;
  if (t.gateway_endpoint.empty()) {
    return FailedPreconditionError(
        "the gateway role needs traces.gateway.endpoint: the OTLP/HTTP base URL to forward "
        "spans to (a Sightline distributor, Tempo or an OTel Collector, e.g. "
        "http://distributor:4318)");
  }
  if (impl_->receiver) {
    return FailedPreconditionError(
        "the traces receivers already run (the gateway and distributor roles cannot share a "
        "process)");
  }
  gateway::ExporterOptions eo;
  eo.endpoint = t.gateway_endpoint;
  for (const std::string& h : t.gateway_headers) {
    size_t eq = h.find_first_of("=:");
    if (eq == 0 || eq == std::string::npos) {
      return InvalidArgumentError("traces.gateway.headers: \"" + h + "\" is not Name=value");
    }
    std::string value = h.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    eo.headers.push_back({h.substr(0, eq), value});
  }
  if (t.gateway_compression != "gzip" && t.gateway_compression != "none") {
    return InvalidArgumentError("traces.gateway.compression: \"" + t.gateway_compression +
                                "\" is not gzip or none");
  }
  eo.gzip = t.gateway_compression == "gzip";
  eo.dir = impl_->cfg->data_dir + "/gateway";
  eo.send_batch_size = static_cast<size_t>(std::max(1, t.gateway_send_batch_size));
  eo.batch_timeout = t.gateway_batch_timeout;
  eo.timeout = t.gateway_timeout;
  eo.queue_size = static_cast<uint64_t>(t.gateway_queue_size);
  eo.queue_max_bytes = t.gateway_queue_max_bytes;
  eo.retry_initial_interval = t.gateway_retry_initial_interval;
  eo.retry_max_interval = t.gateway_retry_max_interval;
  eo.retry_max_elapsed_time = t.gateway_retry_max_elapsed_time;
  SL_ASSIGN_OR_RETURN(impl_->exporter, gateway::OtlpExporter::Open(std::move(eo)));
  impl_->exporter->Start();
  ingest::TraceSink* sink = impl_->exporter.get();
  // Tail sampling is what a gateway is for: on unless explicitly off.
  if (t.sampling_enabled.value_or(true)) {
    SL_ASSIGN_OR_RETURN(auto opts, sampling::OptionsFromConfig(*impl_->cfg));
    size_t n_policies = opts.policies.size();
    impl_->sampler = std::make_unique<sampling::TailSampler>(sink, std::move(opts));
    impl_->sampler->Start();
    impl_->gate = std::make_unique<gateway::QueueGate>(impl_->sampler.get(), impl_->exporter.get());
    sink = impl_->gate.get();
    log::Info("traces tail sampling on",
              {{"decision_wait_ms", std::to_string(t.sampling_decision_wait.count())},
               {"policies", std::to_string(n_policies)}});
  }
  SL_RETURN_IF_ERROR(impl_->StartReceivers(sink));
  log::Info("traces gateway ready", {{"endpoint", t.gateway_endpoint},
                                     {"sampling", impl_->sampler ? "on" : "off"}});
  return Status::Ok();
}

Status TracesSignal::StartQuerier() {
  if (!impl_->store) return FailedPreconditionError("the traces querier needs the ingester");
  api::ApiOptions o;
  o.search_target_bytes_per_job = impl_->cfg->traces.search_target_bytes_per_job;
  o.metrics_max_series =
      static_cast<uint32_t>(std::max(0, impl_->cfg->traces.metrics_max_response_series));
  SL_RETURN_IF_ERROR(impl_->LoadOverrides());
  o.limits = api::QueryLimitsFromConfig(impl_->cfg->traces, impl_->overrides);
  api::RegisterTempoApi(*impl_->router, impl_->store.get(), o);
  api::StreamingQuerierOptions so;
  so.multitenancy = impl_->cfg->multitenancy_enabled;
  so.search_target_bytes_per_job = impl_->cfg->traces.search_target_bytes_per_job;
  so.stream_interval = impl_->cfg->traces.search_streaming_interval;
  so.max_series = o.metrics_max_series;
  so.limits = o.limits;
  impl_->streaming = std::make_unique<api::StreamingQuerier>(impl_->store.get(), so);
  impl_->streaming->Register(*impl_->grpc);
  return Status::Ok();
}

void TracesSignal::Stop() {
  if (!impl_) return;
  if (impl_->generator) impl_->generator->Stop();
  if (impl_->sampler) impl_->sampler->Stop();  // decided traces into the queue
  if (impl_->exporter) impl_->exporter->Stop();
  if (impl_->store) {
    Status s = impl_->store->Close();
    if (!s.ok()) log::Error("closing the trace store failed", {{"err", s.ToString()}});
  }
}

}  // namespace sightline::traces
