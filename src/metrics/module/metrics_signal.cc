#include "metrics/module/metrics_signal.h"

#include "config/config.h"
#include "config/version.h"  // generated
#include "metrics/api/prometheus_api.h"
#include "metrics/promql/engine.h"
#include "metrics/ingest/otlp_metrics.h"
#include "metrics/ingest/remote_write.h"
#include "metrics/tsdb/db_multi_tenant.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "telemetry/log.h"

namespace sightline::metrics {

namespace {

// The TSDB's exemplars and metadata, as the HTTP API asks for them.
class DbMetadataSource final : public api::MetadataSource {
 public:
  explicit DbMetadataSource(tsdb::MultiTenantDB* db) : db_(db) {}

  Result<std::vector<api::ExemplarSeries>> QueryExemplars(
      std::string_view tenant, int64_t mint_ms, int64_t maxt_ms,
      const std::vector<std::vector<promql::Matcher>>& selectors) override {
    SL_ASSIGN_OR_RETURN(auto series, db_->QueryExemplars(tenant, mint_ms, maxt_ms, selectors));
    std::vector<api::ExemplarSeries> out;
    out.reserve(series.size());
    for (auto& s : series) out.push_back({std::move(s.series_labels), std::move(s.exemplars)});
    return out;
  }

  Result<std::map<std::string, std::vector<MetricMetadata>>> Metadata(
      std::string_view tenant, const std::string& metric, int limit, int) override {
    return db_->Metadata(tenant, metric, limit);
  }

 private:
  tsdb::MultiTenantDB* db_;
};

}  // namespace

struct MetricsSignal::Impl {
  const config::Config* cfg;
  net::Router* router;
  net::GrpcServer* grpc;
  std::unique_ptr<tsdb::MultiTenantDB> db;
  std::unique_ptr<ingest::OtlpMetricsGrpcService> otlp_grpc;
  std::unique_ptr<DbMetadataSource> metadata;
  std::unique_ptr<promql::Engine> engine;
};

MetricsSignal::MetricsSignal(const config::Config* cfg, net::Router* router, net::GrpcServer* grpc)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->router = router;
  impl_->grpc = grpc;
}

MetricsSignal::~MetricsSignal() { Stop(); }

Status MetricsSignal::StartIngester(io::ObjectStore* store) {
  tsdb::MultiTenantDBOptions o;
  const config::MetricsConfig& mc = impl_->cfg->metrics;
  o.data_dir = impl_->cfg->data_dir;
  o.store = store;
  o.tenant_defaults.head.chunk_range_ms = mc.block_duration.count();
  o.tenant_defaults.head.ooo_window_ms = mc.out_of_order_window.count();
  o.tenant_defaults.local_retention_ms = mc.local_retention.count();
  o.tenant_defaults.ship_interval = mc.ship_interval;
  for (const auto& kv : mc.external_labels) {
    size_t eq = kv.find('=');  // validated by config::Finalize
    o.tenant_defaults.external_labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  SL_ASSIGN_OR_RETURN(impl_->db, tsdb::MultiTenantDB::Open(std::move(o)));
  std::string tenants;
  for (const auto& t : impl_->db->Tenants()) tenants += (tenants.empty() ? "" : ",") + t;
  log::Info("metrics ingester ready", {{"tenants", tenants}});
  return Status::Ok();
}

Status MetricsSignal::StartDistributor() {
  if (!impl_->db) return FailedPreconditionError("the metrics distributor needs the ingester");
  ingest::IngestOptions o;
  o.multitenancy = impl_->cfg->multitenancy_enabled;
  ingest::RegisterRemoteWrite(*impl_->router, impl_->db.get(), o);
  ingest::RegisterOtlpMetricsHttp(*impl_->router, impl_->db.get(), o);
  impl_->otlp_grpc = ingest::RegisterOtlpMetricsGrpc(*impl_->grpc, impl_->db.get(), o);
  return Status::Ok();
}

Status MetricsSignal::StartQuerier() {
  if (!impl_->db) return FailedPreconditionError("the metrics querier needs the ingester");
  impl_->metadata = std::make_unique<DbMetadataSource>(impl_->db.get());
  const config::MetricsConfig& mc = impl_->cfg->metrics;
  bool v2 = mc.promql_compat == "v2";
  promql::EngineOptions eo = v2 ? promql::EngineOptions::Prometheus2() : promql::EngineOptions{};
  eo.lookback_delta_ms = mc.lookback_delta.count();
  eo.timeout = mc.query_timeout;
  eo.max_samples = static_cast<int64_t>(mc.query_max_samples);
  impl_->engine = std::make_unique<promql::Engine>(eo);
  api::ApiOptions o;
  o.max_query_range = mc.max_query_range;
  // What Prometheus 2.x accepts as a label name in /label/<name>/values, and
  // the version it reports (Grafana adapts its queries to it).
  o.utf8_label_names = !v2;
  if (v2) o.version = "2.42.0";
  o.config_yaml = config::ToYaml(*impl_->cfg);
  api::RegisterPrometheusApi(*impl_->router, impl_->db.get(), impl_->metadata.get(),
                             impl_->engine.get(), o);
  return Status::Ok();
}

void MetricsSignal::Stop() {
  if (impl_ && impl_->db) {
    Status s = impl_->db->Close();
    if (!s.ok()) log::Error("closing the metrics TSDB failed", {{"err", s.ToString()}});
    impl_->db.reset();
  }
}

}  // namespace sightline::metrics
