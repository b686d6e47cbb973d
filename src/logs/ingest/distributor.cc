#include "logs/ingest/distributor.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "base/compression.h"
#include "logs/ingest/otlp_logs.h"
#include "logs/ingest/push.h"
#include "net/grpc_server.h"
#include "net/grpc_status.h"
#include "net/otlp_http.h"
#include "net/tenant.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::logs::ingest {

namespace colllogs = opentelemetry::proto::collector::logs::v1;

struct Distributor::Metrics {
  explicit Metrics(telemetry::Registry& r)
      : bytes_received(r.AddCounter("loki_distributor_bytes_received_total",
                                    "The total number of uncompressed bytes received per tenant.",
                                    {"tenant"})),
        lines_received(r.AddCounter("loki_distributor_lines_received_total",
                                    "The total number of lines received per tenant.",
                                    {"tenant"})),
        discarded_samples(r.AddCounter("loki_discarded_samples_total",
                                       "The total number of samples that were discarded.",
                                       {"reason", "tenant"})),
        discarded_bytes(r.AddCounter("loki_discarded_bytes_total",
                                     "The total number of bytes that were discarded.",
                                     {"reason", "tenant"})) {}
  telemetry::Family<telemetry::Counter>& bytes_received;
  telemetry::Family<telemetry::Counter>& lines_received;
  telemetry::Family<telemetry::Counter>& discarded_samples;
  telemetry::Family<telemetry::Counter>& discarded_bytes;
};

Distributor::Distributor(LogAppender* appender, DistributorOptions options)
    : appender_(appender),
      options_(std::move(options)),
      validator_(options_.limits, options_.tenant_limits),
      metrics_(std::make_unique<Metrics>(options_.registry ? *options_.registry
                                                           : telemetry::Registry::Default())) {
  if (!options_.now_ns) {
    options_.now_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Distributor::~Distributor() = default;

Status Distributor::Push(std::string_view tenant, std::vector<PushStream> streams,
                         PushOutcome* outcome) {
  std::string t(tenant);
  int64_t bytes = 0, lines = 0;
  for (const auto& st : streams) {
    lines += static_cast<int64_t>(st.entries.size());
    for (const auto& e : st.entries) bytes += EntryBytes(e);
  }
  metrics_->bytes_received.WithLabels({t}).Inc(static_cast<double>(bytes));
  metrics_->lines_received.WithLabels({t}).Inc(static_cast<double>(lines));

  ValidationReport rep = validator_.Validate(tenant, streams, options_.now_ns());
  outcome->total_entries = rep.total_entries;
  outcome->rate_limited = rep.rate_limited;
  outcome->rejections = std::move(rep.rejections);
  Status s = Status::Ok();
  if (!streams.empty()) {
    AppendResult ar;
    s = appender_->Append(tenant, streams, &ar);
    if (s.ok()) {
      outcome->accepted_entries = ar.accepted_entries;
      for (auto& r : ar.rejections) outcome->rejections.push_back(std::move(r));
    }
  }
  // Over the stream limit Loki answers 429 (retry later), not 400: the
  // stream may fit once others go idle. What the push kept is not stored
  // twice by the retry (the store drops entries identical to one it holds).
  for (const auto& r : outcome->rejections) {
    if (r.reason == "stream_limit") outcome->rate_limited = true;
  }
  for (const auto& r : outcome->rejections) {
    metrics_->discarded_samples.WithLabels({r.reason, t}).Inc(static_cast<double>(r.entries));
    metrics_->discarded_bytes.WithLabels({r.reason, t}).Inc(static_cast<double>(r.bytes));
  }
  return s;
}

void Distributor::ServeLokiPush(const net::HttpRequest& request, net::HttpResponse& response) {
  std::string_view ct = request.Header("Content-Type").value_or("");
  std::string_view media = ct.substr(0, ct.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  Result<std::vector<PushStream>> streams = InvalidArgumentError("");
  if (net::EqualsIgnoreCase(media, "application/json")) {
    streams = DecodePushJson(request.body());
  } else if (media.empty() || net::EqualsIgnoreCase(media, "application/x-protobuf") ||
             net::EqualsIgnoreCase(media, "application/octet-stream")) {
    size_t max = options_.max_body_bytes ? options_.max_body_bytes : (256u << 20);
    auto raw = Decompress(Codec::kSnappy, request.body(), max);
    if (!raw.ok()) {
      if (raw.status().code() == StatusCode::kResourceExhausted) {
        response.Text(413, "request body too large after decompression\n");
        return;
      }
      // A client that declared Content-Encoding: snappy had the body
      // decompressed by the server already.
      streams = DecodePushProto(request.body());
      if (!streams.ok()) {
        response.Text(400, "error decompressing push request: " + raw.status().message() + "\n");
        return;
      }
    } else {
      streams = DecodePushProto(*raw);
    }
  } else {
    response.Text(415, "unsupported Content-Type \"" + std::string(ct) +
                           "\": want application/json or application/x-protobuf\n");
    return;
  }
  if (!streams.ok()) {
    response.Text(400, streams.status().message() + "\n");
    return;
  }
  PushOutcome out;
  Status s = Push(request.tenant(), std::move(streams).value(), &out);
  if (!s.ok()) {
    log::Warn("logs push failed", {{"tenant", request.tenant()}, {"err", s.ToString()}});
    response.SetHeader("Retry-After", std::to_string(options_.retry_after_seconds));
    response.Text(503, "storage error: " + s.message() + "\n");
    return;
  }
  if (out.rejections.empty()) {
    response.status = 204;
    return;
  }
  std::string text = RejectionText(request.tenant(), out.rejections, out.total_entries);
  if (out.rate_limited) {
    response.SetHeader("Retry-After", std::to_string(options_.retry_after_seconds));
    response.Text(429, text);
  } else {
    response.Text(400, text);
  }
}

namespace {

void FixIds(colllogs::ExportLogsServiceRequest* req) {
  for (auto& rl : *req->mutable_resource_logs()) {
    for (auto& sl : *rl.mutable_scope_logs()) {
      for (auto& r : *sl.mutable_log_records()) {
        net::FixOtlpJsonId(r.mutable_trace_id(), 16);
        net::FixOtlpJsonId(r.mutable_span_id(), 8);
      }
    }
  }
}

std::string JoinRejections(const std::vector<Rejection>& rejections) {
  std::string out;
  for (const auto& r : rejections) {
    if (!out.empty()) out += "; ";
    out += r.message;
  }
  return out;
}

}  // namespace

void Distributor::ServeOtlpHttp(const net::HttpRequest& request, net::HttpResponse& response) {
  std::string_view ct = request.Header("Content-Type").value_or("");
  net::OtlpEncoding enc = net::OtlpEncodingOf(ct);
  if (enc == net::OtlpEncoding::kUnsupported) {
    response.Text(415, "unsupported Content-Type \"" + std::string(ct) + "\": want " +
                           std::string(net::kOtlpProtobuf) + " or " +
                           std::string(net::kOtlpJson) + "\n");
    return;
  }
  colllogs::ExportLogsServiceRequest req;
  Status ps = net::ParseOtlpBody(request.body(), enc, &req);
  if (!ps.ok()) {
    net::WriteOtlpError(response, 400, StatusCode::kInvalidArgument, ps.message(), enc, 0);
    return;
  }
  if (enc == net::OtlpEncoding::kJson) FixIds(&req);
  PushOutcome out;
  Status s = Push(request.tenant(), TranslateOtlpLogs(req, options_.now_ns()), &out);
  if (!s.ok()) {
    net::WriteOtlpError(response, 503, StatusCode::kUnavailable, "storage error: " + s.message(),
                        enc, options_.retry_after_seconds);
    return;
  }
  if (out.rate_limited) {
    net::WriteOtlpError(response, 429, StatusCode::kResourceExhausted,
                        JoinRejections(out.rejections), enc, options_.retry_after_seconds);
    return;
  }
  colllogs::ExportLogsServiceResponse resp;
  if (!out.rejections.empty()) {
    int64_t n = 0;
    for (const auto& r : out.rejections) n += r.entries;
    resp.mutable_partial_success()->set_rejected_log_records(n);
    resp.mutable_partial_success()->set_error_message(JoinRejections(out.rejections));
  }
  net::WriteOtlpResponse(response, resp, enc);
}

void RegisterDistributorRoutes(net::Router& router, Distributor* d,
                               telemetry::Family<telemetry::Histogram>* duration) {
  net::RouteOptions ro;
  ro.max_body_bytes = d->options().max_body_bytes;
  ro.duration_histogram = duration;
  auto push = [d](net::HttpRequest& req, net::HttpResponse& resp) { d->ServeLokiPush(req, resp); };
  ro.name = "loki_api_v1_push";
  router.Handle("POST", "/loki/api/v1/push", push, ro);
  ro.name = "api_prom_push";
  router.Handle("POST", "/api/prom/push", push, ro);
  ro.name = "otlp_v1_logs";
  router.Handle(
      "POST", "/v1/logs",
      [d](net::HttpRequest& req, net::HttpResponse& resp) { d->ServeOtlpHttp(req, resp); }, ro);
  ro.name = "otlp_v1_logs";
  router.Handle(
      "POST", "/otlp/v1/logs",
      [d](net::HttpRequest& req, net::HttpResponse& resp) { d->ServeOtlpHttp(req, resp); }, ro);
}

class OtlpLogsGrpcService::Impl final : public colllogs::LogsService::Service {
 public:
  explicit Impl(Distributor* d) : d_(d) {}

  grpc::Status Export(grpc::ServerContext* ctx, const colllogs::ExportLogsServiceRequest* req,
                      colllogs::ExportLogsServiceResponse* resp) override {
    std::optional<std::string_view> org;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("x-scope-orgid"); it != md.end()) {
      org = std::string_view(it->second.data(), it->second.size());
    }
    Result<std::string> tenant = net::ResolveTenant(org, d_->options().multitenancy);
    if (!tenant.ok()) return net::ToGrpcStatus(tenant.status());
    PushOutcome out;
    Status s = d_->Push(*tenant, TranslateOtlpLogs(*req, d_->options().now_ns()), &out);
    int retry = d_->options().retry_after_seconds;
    if (!s.ok()) {
      std::string msg = "storage error: " + s.message();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, msg,
                          net::OtlpGrpcErrorDetails(StatusCode::kUnavailable, msg, retry));
    }
    if (out.rate_limited) {
      std::string msg = JoinRejections(out.rejections);
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, msg,
                          net::OtlpGrpcErrorDetails(StatusCode::kResourceExhausted, msg, retry));
    }
    if (!out.rejections.empty()) {
      int64_t n = 0;
      for (const auto& r : out.rejections) n += r.entries;
      resp->mutable_partial_success()->set_rejected_log_records(n);
      resp->mutable_partial_success()->set_error_message(JoinRejections(out.rejections));
    }
    return grpc::Status::OK;
  }

 private:
  Distributor* d_;
};

OtlpLogsGrpcService::OtlpLogsGrpcService(Distributor* d) : impl_(std::make_unique<Impl>(d)) {}
OtlpLogsGrpcService::~OtlpLogsGrpcService() = default;

std::unique_ptr<OtlpLogsGrpcService> RegisterOtlpLogsGrpc(net::GrpcServer& server,
                                                          Distributor* d) {
  auto service = std::make_unique<OtlpLogsGrpcService>(d);
  server.RegisterService(service->impl(), colllogs::LogsService::service_full_name());
  return service;
}

}  // namespace sightline::logs::ingest
