#include "metrics/ingest/otlp_metrics.h"

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <utility>

#include "metrics/ingest/batch_writer.h"
#include "metrics/ingest/otlp_translator.h"
#include "net/grpc_server.h"
#include "net/grpc_status.h"
#include "net/otlp_http.h"
#include "net/tenant.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "telemetry/log.h"

namespace sightline::metrics::ingest {

namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace otlpmetrics = opentelemetry::proto::metrics::v1;

namespace {

template <typename Points>
void FixExemplarIds(Points* points) {
  for (auto& p : *points) {
    for (auto& e : *p.mutable_exemplars()) {
      net::FixOtlpJsonId(e.mutable_trace_id(), 16);
      net::FixOtlpJsonId(e.mutable_span_id(), 8);
    }
  }
}

// OTLP/JSON exemplar ids are hex (see net::FixOtlpJsonId).
void FixJsonIds(colmetrics::ExportMetricsServiceRequest* req) {
  for (auto& rm : *req->mutable_resource_metrics()) {
    for (auto& sm : *rm.mutable_scope_metrics()) {
      for (auto& m : *sm.mutable_metrics()) {
        switch (m.data_case()) {
          case otlpmetrics::Metric::kGauge:
            FixExemplarIds(m.mutable_gauge()->mutable_data_points());
            break;
          case otlpmetrics::Metric::kSum:
            FixExemplarIds(m.mutable_sum()->mutable_data_points());
            break;
          case otlpmetrics::Metric::kHistogram:
            FixExemplarIds(m.mutable_histogram()->mutable_data_points());
            break;
          case otlpmetrics::Metric::kExponentialHistogram:
            FixExemplarIds(m.mutable_exponential_histogram()->mutable_data_points());
            break;
          default:
            break;
        }
      }
    }
  }
}

std::string JoinMessages(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) {
    if (!out.empty()) out += "; ";
    out += m;
  }
  return out;
}

}  // namespace

OtlpMetricsReceiver::OtlpMetricsReceiver(Appendable* db, IngestOptions options)
    : db_(db),
      options_(std::move(options)),
      metrics_(std::make_unique<IngestMetrics>(options_.registry)) {}

OtlpMetricsReceiver::~OtlpMetricsReceiver() = default;

Status OtlpMetricsReceiver::Export(std::string_view tenant,
                                   const colmetrics::ExportMetricsServiceRequest& request,
                                   colmetrics::ExportMetricsServiceResponse* response) const {
  BatchWriter w(db_, tenant, kProtocolOtlp, options_, metrics_.get());
  OtlpTranslation t = TranslateOtlpMetrics(request, options_.otlp, w);
  Status s = w.Finish();
  std::string_view result = "success";
  if (s.ok() || s.code() == StatusCode::kInvalidArgument ||
      s.code() == StatusCode::kResourceExhausted) {
    if (t.rejected_data_points > 0 || !t.messages.empty()) {
      auto* ps = response->mutable_partial_success();
      ps->set_rejected_data_points(t.rejected_data_points);
      ps->set_error_message(JoinMessages(t.messages));
      if (t.rejected_data_points > 0) result = "partial";
    }
    if (s.code() == StatusCode::kResourceExhausted) {
      CountRequest(metrics_.get(), kProtocolOtlp, "throttled");
      return s;
    }
    // A per-tenant per-series limit (typed, from metrics/limits) is
    // answered 400 / INVALID_ARGUMENT, as Mimir does, instead of a partial
    // success: the sender must change its data, not retry.
    if (s.code() == StatusCode::kInvalidArgument && w.series_limit().has_value()) {
      CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
      return s;
    }
    CountRequest(metrics_.get(), kProtocolOtlp, result);
    return Status::Ok();
  }
  CountRequest(metrics_.get(), kProtocolOtlp, "failed");
  return s;
}

void OtlpMetricsReceiver::ServeHttp(const net::HttpRequest& request,
                                    net::HttpResponse& response) const {
  std::string_view content_type = request.Header("Content-Type").value_or("");
  net::OtlpEncoding enc = net::OtlpEncodingOf(content_type);
  if (enc == net::OtlpEncoding::kUnsupported) {
    CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
    response.Text(415, "unsupported Content-Type \"" + std::string(content_type) + "\": want " +
                           std::string(net::kOtlpProtobuf) + " or " +
                           std::string(net::kOtlpJson) + "\n");
    return;
  }
  google::protobuf::Arena arena;
  auto* req =
      google::protobuf::Arena::CreateMessage<colmetrics::ExportMetricsServiceRequest>(&arena);
  if (Status st = net::ParseOtlpBody(request.body(), enc, req); !st.ok()) {
    CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
    net::WriteOtlpError(response, 400, StatusCode::kInvalidArgument, st.message(), enc, 0);
    return;
  }
  if (enc == net::OtlpEncoding::kJson) FixJsonIds(req);

  colmetrics::ExportMetricsServiceResponse resp;
  Status s = Export(request.tenant(), *req, &resp);
  if (s.ok()) {
    net::WriteOtlpResponse(response, resp, enc);
    return;
  }
  if (s.code() == StatusCode::kResourceExhausted) {
    net::WriteOtlpError(response, 429, s.code(), s.message(), enc, options_.retry_after_seconds);
  } else if (s.code() == StatusCode::kInvalidArgument) {
    net::WriteOtlpError(response, 400, s.code(), s.message(), enc, 0);
  } else {
    net::WriteOtlpError(response, 503, StatusCode::kUnavailable, "storage error: " + s.message(),
                        enc, options_.retry_after_seconds);
  }
}

void RegisterOtlpMetricsHttp(net::Router& router, Appendable* db, const IngestOptions& options) {
  auto receiver = std::make_shared<const OtlpMetricsReceiver>(db, options);
  net::RouteOptions ro;
  ro.name = "otlp_v1_metrics";
  ro.max_body_bytes = options.max_body_bytes;
  router.Handle(
      "POST", "/v1/metrics",
      [receiver](net::HttpRequest& req, net::HttpResponse& resp) {
        receiver->ServeHttp(req, resp);
      },
      ro);
}

class OtlpMetricsGrpcService::Impl final : public colmetrics::MetricsService::Service {
 public:
  Impl(Appendable* db, IngestOptions options) : receiver_(db, std::move(options)) {}

  grpc::Status Export(grpc::ServerContext* ctx, const colmetrics::ExportMetricsServiceRequest* req,
                      colmetrics::ExportMetricsServiceResponse* resp) override {
    std::optional<std::string_view> org;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("x-scope-orgid"); it != md.end()) {
      org = std::string_view(it->second.data(), it->second.size());
    }
    Result<std::string> tenant = net::ResolveTenant(org, receiver_.options().multitenancy);
    if (!tenant.ok()) return net::ToGrpcStatus(tenant.status());
    Status s = receiver_.Export(*tenant, *req, resp);
    if (s.ok()) return grpc::Status::OK;
    if (s.code() == StatusCode::kInvalidArgument) {  // a per-series limit: not retryable
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.message(),
                          net::OtlpGrpcErrorDetails(s.code(), s.message(), 0));
    }
    StatusCode code =
        s.code() == StatusCode::kResourceExhausted ? s.code() : StatusCode::kUnavailable;
    // OTLP clients retry RESOURCE_EXHAUSTED only with a RetryInfo.
    return grpc::Status(static_cast<grpc::StatusCode>(code), s.message(),
                        net::OtlpGrpcErrorDetails(code, s.message(),
                                                  receiver_.options().retry_after_seconds));
  }

 private:
  OtlpMetricsReceiver receiver_;
};

OtlpMetricsGrpcService::OtlpMetricsGrpcService(Appendable* db, IngestOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(options))) {}

OtlpMetricsGrpcService::~OtlpMetricsGrpcService() = default;

std::unique_ptr<OtlpMetricsGrpcService> RegisterOtlpMetricsGrpc(net::GrpcServer& server,
                                                                Appendable* db,
                                                                const IngestOptions& options) {
  auto service = std::make_unique<OtlpMetricsGrpcService>(db, options);
  server.RegisterService(service->impl(), colmetrics::MetricsService::service_full_name());
  return service;
}

}  // namespace sightline::metrics::ingest
