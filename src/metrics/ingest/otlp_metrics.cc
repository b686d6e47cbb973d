#include "metrics/ingest/otlp_metrics.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <utility>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metrics/ingest/batch_writer.h"
#include "metrics/ingest/otlp_translator.h"
#include "net/grpc_server.h"
#include "net/grpc_status.h"
#include "net/tenant.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "telemetry/log.h"

namespace sightline::metrics::ingest {

namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace otlpmetrics = opentelemetry::proto::metrics::v1;

namespace {

constexpr std::string_view kProtobuf = "application/x-protobuf";
constexpr std::string_view kJson = "application/json";

enum class Encoding { kProtobuf, kJson, kUnsupported };

Encoding EncodingOf(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (net::EqualsIgnoreCase(media, kProtobuf)) return Encoding::kProtobuf;
  if (net::EqualsIgnoreCase(media, kJson)) return Encoding::kJson;
  return Encoding::kUnsupported;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Base64Std(std::string_view in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  return out;
}

// OTLP/JSON writes trace and span ids as hex, where the protobuf JSON
// mapping expects base64. Hex digits are base64 digits too, so the parser
// decoded the 32 (16) hex characters as base64 into 24 (12) bytes; encoding
// those again gives back the exact hex text, which we then decode. Ids sent
// as base64 (16 and 8 bytes) are left alone.
void FixJsonId(std::string* id, size_t want_bytes) {
  if (id->size() != want_bytes * 3 / 2) return;
  std::string hex = Base64Std(*id);
  if (hex.size() != want_bytes * 2) return;
  std::string out(want_bytes, '\0');
  for (size_t i = 0; i < want_bytes; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  *id = std::move(out);
}

template <typename Points>
void FixExemplarIds(Points* points) {
  for (auto& p : *points) {
    for (auto& e : *p.mutable_exemplars()) {
      FixJsonId(e.mutable_trace_id(), 16);
      FixJsonId(e.mutable_span_id(), 8);
    }
  }
}

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

bool Serialize(const google::protobuf::Message& m, Encoding enc, std::string* out) {
  if (enc == Encoding::kJson) {
    return google::protobuf::util::MessageToJsonString(m, out).ok();
  }
  return m.SerializeToString(out);
}

// An OTLP/HTTP error answer: google.rpc.Status in the request's encoding.
void ErrorResponse(net::HttpResponse& response, int http_status, StatusCode code,
                   const std::string& message, Encoding enc, int retry_after_seconds) {
  google::rpc::Status st;
  st.set_code(static_cast<int>(code));
  st.set_message(message);
  if (retry_after_seconds > 0) {
    google::rpc::RetryInfo ri;
    ri.mutable_retry_delay()->set_seconds(retry_after_seconds);
    st.add_details()->PackFrom(ri);
    response.SetHeader("Retry-After", std::to_string(retry_after_seconds));
  }
  response.status = http_status;
  std::string body;
  if (enc == Encoding::kUnsupported || !Serialize(st, enc, &body)) {
    response.Text(http_status, message + "\n");
    return;
  }
  response.SetHeader("Content-Type", std::string(enc == Encoding::kJson ? kJson : kProtobuf));
  response.body = std::move(body);
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
    CountRequest(metrics_.get(), kProtocolOtlp, result);
    return Status::Ok();
  }
  CountRequest(metrics_.get(), kProtocolOtlp, "failed");
  return s;
}

void OtlpMetricsReceiver::ServeHttp(const net::HttpRequest& request,
                                    net::HttpResponse& response) const {
  std::string_view content_type = request.Header("Content-Type").value_or("");
  Encoding enc = EncodingOf(content_type);
  if (enc == Encoding::kUnsupported) {
    CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
    response.Text(415, "unsupported Content-Type \"" + std::string(content_type) + "\": want " +
                           std::string(kProtobuf) + " or " + std::string(kJson) + "\n");
    return;
  }
  google::protobuf::Arena arena;
  auto* req =
      google::protobuf::Arena::CreateMessage<colmetrics::ExportMetricsServiceRequest>(&arena);
  if (enc == Encoding::kProtobuf) {
    if (!req->ParseFromString(request.body())) {
      CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
      ErrorResponse(response, 400, StatusCode::kInvalidArgument,
                    "cannot decode OTLP request: body is not an ExportMetricsServiceRequest "
                    "protobuf message",
                    enc, 0);
      return;
    }
  } else {
    google::protobuf::util::JsonParseOptions jo;
    jo.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(request.body(), req, jo);
    if (!st.ok()) {
      CountRequest(metrics_.get(), kProtocolOtlp, "invalid");
      ErrorResponse(response, 400, StatusCode::kInvalidArgument,
                    "cannot decode OTLP/JSON request: " + std::string(st.message()), enc, 0);
      return;
    }
    FixJsonIds(req);
  }

  colmetrics::ExportMetricsServiceResponse resp;
  Status s = Export(request.tenant(), *req, &resp);
  if (s.ok()) {
    std::string body;
    Serialize(resp, enc, &body);
    response.status = 200;
    response.SetHeader("Content-Type", std::string(enc == Encoding::kJson ? kJson : kProtobuf));
    response.body = std::move(body);
    return;
  }
  if (s.code() == StatusCode::kResourceExhausted) {
    ErrorResponse(response, 429, s.code(), s.message(), enc, options_.retry_after_seconds);
  } else {
    ErrorResponse(response, 503, StatusCode::kUnavailable, "storage error: " + s.message(), enc,
                  options_.retry_after_seconds);
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
    StatusCode code =
        s.code() == StatusCode::kResourceExhausted ? s.code() : StatusCode::kUnavailable;
    // OTLP clients retry RESOURCE_EXHAUSTED only with a RetryInfo.
    google::rpc::Status details;
    details.set_code(static_cast<int>(code));
    details.set_message(s.message());
    google::rpc::RetryInfo ri;
    ri.mutable_retry_delay()->set_seconds(receiver_.options().retry_after_seconds);
    details.add_details()->PackFrom(ri);
    return grpc::Status(static_cast<grpc::StatusCode>(code), s.message(),
                        details.SerializeAsString());
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
