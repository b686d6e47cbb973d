#include "traces/ingest/receiver.h"

#include <grpcpp/grpcpp.h>

#include <google/protobuf/arena.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "base/rate_limiter.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "net/otlp_http.h"
#include "net/tenant.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/metrics.h"
#include "traces/ingest/otlp_wire.h"
#include "traces/ingest/zipkin.h"

namespace sightline::traces::ingest {

namespace coltrace = opentelemetry::proto::collector::trace::v1;

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

}  // namespace

// TraceService/Export with the request as raw bytes (grpc::ByteBuffer):
// they go through ExportBody, i.e. the wire decoder of otlp_wire.h, instead
// of gRPC deserializing a heap-allocated ExportTraceServiceRequest first
// (that and its destruction were half of the server's CPU on this path).
// Same method name and messages on the wire as the generated service.
class TraceGrpcService final : public grpc::Service {
 public:
  explicit TraceGrpcService(TracesReceiver* r) : r_(r) {
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        grpc::internal::RpcMethod::NORMAL_RPC,
        new grpc::internal::RpcMethodHandler<TraceGrpcService, grpc::ByteBuffer, grpc::ByteBuffer>(
            [](TraceGrpcService* service, grpc::ServerContext* ctx, const grpc::ByteBuffer* req,
               grpc::ByteBuffer* resp) { return service->Export(ctx, req, resp); },
            this)));
  }

  grpc::Status Export(grpc::ServerContext* ctx, const grpc::ByteBuffer* req,
                      grpc::ByteBuffer* resp) {
    std::optional<std::string_view> org;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("x-scope-orgid"); it != md.end()) {
      org = std::string_view(it->second.data(), it->second.size());
    }
    Result<std::string> tenant = net::ResolveTenant(org, r_->options().multitenancy);
    if (!tenant.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, tenant.status().message());
    }
    std::vector<grpc::Slice> slices;
    if (!req->Dump(&slices).ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the request bytes");
    }
    std::string body;
    std::string_view bytes;
    if (slices.size() == 1) {
      bytes = std::string_view(reinterpret_cast<const char*>(slices[0].begin()), slices[0].size());
    } else {
      body.reserve(req->Length());
      for (const auto& sl : slices) body.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      bytes = body;
    }
    coltrace::ExportTraceServiceResponse out;
    Status s = r_->ExportBody(*tenant, bytes, /*json=*/false, &out);
    if (s.ok()) {
      std::string wire = out.SerializeAsString();
      grpc::Slice slice(wire);
      *resp = grpc::ByteBuffer(&slice, 1);
      return grpc::Status::OK;
    }
    if (s.code() == StatusCode::kInvalidArgument) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    }
    StatusCode code =
        s.code() == StatusCode::kResourceExhausted ? s.code() : StatusCode::kUnavailable;
    return grpc::Status(static_cast<grpc::StatusCode>(code), s.message(),
                        net::OtlpGrpcErrorDetails(code, s.message(),
                                                  r_->options().retry_after_seconds));
  }

 private:
  TracesReceiver* r_;
};

struct TracesReceiver::Impl {
  TraceSink* sink;
  ReceiverOptions options;
  RateLimiter limiter;
  telemetry::Family<telemetry::Counter>* spans_received;
  telemetry::Family<telemetry::Counter>* bytes_received;
  telemetry::Family<telemetry::Counter>* discarded;
  telemetry::Family<telemetry::Counter>* truncated;
  std::unique_ptr<TraceGrpcService> grpc;

  Impl(TraceSink* s, ReceiverOptions o)
      : sink(s),
        options(std::move(o)),
        limiter([this](std::string_view tenant) {
          TenantLimits l = LimitsFor(tenant);
          return RateLimit{l.rate_limit_bytes, l.burst_bytes};
        },
                MakeClock()) {
    telemetry::Registry& reg =
        options.registry ? *options.registry : telemetry::Registry::Default();
    spans_received = &reg.AddCounter("tempo_distributor_spans_received_total",
                                     "Spans received by the distributor.", {"tenant"});
    bytes_received = &reg.AddCounter("tempo_distributor_bytes_received_total",
                                     "Request bytes received by the distributor.", {"tenant"});
    discarded = &reg.AddCounter("tempo_discarded_spans_total",
                                "Spans refused, by reason (rate_limited, trace_too_large, "
                                "invalid_id).",
                                {"tenant", "reason"});
    truncated = &reg.AddCounter("tempo_distributor_attributes_truncated_total",
                                "Attribute values cut to the attribute length limit.",
                                {"tenant"});
  }

  TenantLimits LimitsFor(std::string_view tenant) const {
    if (options.limits) return options.limits(tenant);
    return TenantLimits{options.rate_limit_bytes, options.burst_bytes,
                        options.convert.max_attribute_value_bytes};
  }

  RateLimiter::ClockFn MakeClock() const {
    if (!options.now_ms) return nullptr;
    auto f = options.now_ms;
    return [f] { return f() * 1000000; };
  }
};

TracesReceiver::TracesReceiver(TraceSink* sink, ReceiverOptions options)
    : impl_(std::make_unique<Impl>(sink, std::move(options))) {}

TracesReceiver::~TracesReceiver() = default;

const ReceiverOptions& TracesReceiver::options() const { return impl_->options; }

// What a receiver hands over, model traces or encoded ones.
struct TracesReceiver::Counts {
  uint64_t spans = 0, rejected_spans = 0, truncated_values = 0;
  const std::vector<std::string>* messages = nullptr;
};

Status TracesReceiver::AccountAndPush(std::string_view tenant, const Counts& c, bool empty,
                                      size_t wire_bytes, PushResult* result,
                                      const std::function<Status(PushResult*)>& push) {
  Impl& m = *impl_;
  const std::string t(tenant);
  m.bytes_received->WithLabels({t}).Inc(static_cast<double>(wire_bytes));
  m.spans_received->WithLabels({t}).Inc(static_cast<double>(c.spans + c.rejected_spans));
  if (c.truncated_values > 0) {
    m.truncated->WithLabels({t}).Inc(static_cast<double>(c.truncated_values));
  }
  if (c.rejected_spans > 0) {
    m.discarded->WithLabels({t, "invalid_id"}).Inc(static_cast<double>(c.rejected_spans));
  }
  result->refused_spans = c.rejected_spans;
  result->messages = *c.messages;
  if (!m.limiter.AllowN(tenant, static_cast<double>(wire_bytes))) {
    m.discarded->WithLabels({t, "rate_limited"}).Inc(static_cast<double>(c.spans));
    TenantLimits l = m.LimitsFor(tenant);
    return ResourceExhaustedError(
        "RATE_LIMITED: ingestion rate limit (" + std::to_string(int64_t(l.rate_limit_bytes)) +
        " bytes/s, burst " + std::to_string(int64_t(l.burst_bytes)) +
        ") exceeded for tenant " + t + " while adding " + std::to_string(wire_bytes) + " bytes");
  }
  if (empty) return Status::Ok();
  PushResult pr;
  Status s = push(&pr);
  if (!s.ok()) return s;
  if (pr.refused_spans > 0) {
    m.discarded->WithLabels({t, "trace_too_large"}).Inc(static_cast<double>(pr.refused_spans));
  }
  result->refused_spans += pr.refused_spans;
  result->messages.insert(result->messages.end(), pr.messages.begin(), pr.messages.end());
  return Status::Ok();
}

Status TracesReceiver::PushConverted(std::string_view tenant, ConvertResult converted,
                                     size_t wire_bytes, PushResult* result) {
  Counts c{converted.spans, converted.rejected_spans, converted.truncated_values,
           &converted.messages};
  return AccountAndPush(tenant, c, converted.traces.empty(), wire_bytes, result,
                        [&](PushResult* pr) {
                          return impl_->sink->Push(tenant, std::move(converted.traces), pr);
                        });
}

Status TracesReceiver::PushEncoded(std::string_view tenant, const EncodeResult& encoded,
                                   size_t wire_bytes, PushResult* result) {
  Counts c{encoded.spans, encoded.rejected_spans, encoded.truncated_values, &encoded.messages};
  return AccountAndPush(tenant, c, encoded.traces.empty(), wire_bytes, result,
                        [&](PushResult* pr) {
                          return impl_->sink->PushEncoded(tenant, encoded.traces, pr);
                        });
}

Status TracesReceiver::Export(std::string_view tenant, const coltrace::ExportTraceServiceRequest& req,
                              size_t wire_bytes, coltrace::ExportTraceServiceResponse* response) {
  ConvertOptions co = impl_->options.convert;
  if (impl_->options.limits) {
    co.max_attribute_value_bytes = impl_->options.limits(tenant).max_attribute_value_bytes;
  }
  ConvertResult c = TracesFromOtlp(req, co);
  PushResult pr;
  SL_RETURN_IF_ERROR(PushConverted(tenant, std::move(c), wire_bytes, &pr));
  if (pr.refused_spans > 0 || !pr.messages.empty()) {
    auto* ps = response->mutable_partial_success();
    ps->set_rejected_spans(static_cast<int64_t>(pr.refused_spans));
    ps->set_error_message(Join(pr.messages));
  }
  return Status::Ok();
}

Status TracesReceiver::ExportBody(std::string_view tenant, std::string_view body, bool json,
                                  coltrace::ExportTraceServiceResponse* response) {
  ConvertOptions co = impl_->options.convert;
  if (impl_->options.limits) {
    co.max_attribute_value_bytes = impl_->options.limits(tenant).max_attribute_value_bytes;
  }
  if (!json) {
    // Straight from the wire bytes to the store's record encoding
    // (otlp_wire.h); what it does not handle goes the protobuf way below,
    // which then decides.
    Result<EncodeResult> c = EncodeOtlpWire(body, co);
    if (c.ok()) {
      PushResult pr;
      SL_RETURN_IF_ERROR(PushEncoded(tenant, *c, body.size(), &pr));
      if (pr.refused_spans > 0 || !pr.messages.empty()) {
        auto* ps = response->mutable_partial_success();
        ps->set_rejected_spans(static_cast<int64_t>(pr.refused_spans));
        ps->set_error_message(Join(pr.messages));
      }
      return Status::Ok();
    }
  }
  // The decoded request lives in an arena: one block instead of a malloc
  // and free per span, attribute and value. The first block is sized for a
  // typical batch (the SDKs send ~512 spans at most).
  google::protobuf::ArenaOptions ao;
  ao.start_block_size = std::clamp<size_t>(body.size() * 4, 4096, 1 << 20);
  ao.max_block_size = 4 << 20;
  google::protobuf::Arena arena(ao);
  auto* msg = google::protobuf::Arena::CreateMessage<coltrace::ExportTraceServiceRequest>(&arena);
  SL_RETURN_IF_ERROR(net::ParseOtlpBody(
      body, json ? net::OtlpEncoding::kJson : net::OtlpEncoding::kProtobuf, msg));
  if (json) {
    for (auto& rs : *msg->mutable_resource_spans()) {
      for (auto& ss : *rs.mutable_scope_spans()) {
        for (auto& sp : *ss.mutable_spans()) {
          net::FixOtlpJsonId(sp.mutable_trace_id(), 16);
          net::FixOtlpJsonId(sp.mutable_span_id(), 8);
          net::FixOtlpJsonId(sp.mutable_parent_span_id(), 8);
          for (auto& l : *sp.mutable_links()) {
            net::FixOtlpJsonId(l.mutable_trace_id(), 16);
            net::FixOtlpJsonId(l.mutable_span_id(), 8);
          }
        }
      }
    }
  }
  // Export must not fail with InvalidArgument for a decoded request (the
  // caller maps that code to "does not decode").
  return Export(tenant, *msg, body.size(), response);
}

void TracesReceiver::RegisterHttp(net::Router& router) {
  net::RouteOptions ro;
  ro.name = "otlp_v1_traces";
  router.Handle(
      "POST", "/v1/traces",
      [this](net::HttpRequest& req, net::HttpResponse& resp) {
        std::string_view ct = req.Header("Content-Type").value_or("");
        net::OtlpEncoding enc = net::OtlpEncodingOf(ct);
        if (enc == net::OtlpEncoding::kUnsupported) {
          resp.Text(415, "unsupported Content-Type \"" + std::string(ct) + "\": want " +
                             std::string(net::kOtlpProtobuf) + " or " +
                             std::string(net::kOtlpJson) + "\n");
          return;
        }
        coltrace::ExportTraceServiceResponse out;
        Status s = ExportBody(req.tenant(), req.body(), enc == net::OtlpEncoding::kJson, &out);
        if (s.code() == StatusCode::kInvalidArgument) {
          net::WriteOtlpError(resp, 400, StatusCode::kInvalidArgument, s.message(), enc, 0);
          return;
        }
        if (s.ok()) {
          net::WriteOtlpResponse(resp, out, enc);
        } else if (s.code() == StatusCode::kResourceExhausted) {
          net::WriteOtlpError(resp, 429, s.code(), s.message(), enc,
                              impl_->options.retry_after_seconds);
        } else {
          net::WriteOtlpError(resp, 503, StatusCode::kUnavailable, "storage error: " + s.message(),
                              enc, impl_->options.retry_after_seconds);
        }
      },
      ro);

  ro.name = "zipkin_spans";
  router.Handle(
      "POST", "/api/v2/spans",
      [this](net::HttpRequest& req, net::HttpResponse& resp) {
        std::string_view ct = req.Header("Content-Type").value_or("application/json");
        if (ct.find("json") == std::string_view::npos) {
          resp.Text(415, "unsupported Content-Type \"" + std::string(ct) +
                             "\": Zipkin v2 spans must be application/json\n");
          return;
        }
        ConvertOptions co = impl_->options.convert;
        if (impl_->options.limits) {
          co.max_attribute_value_bytes = impl_->options.limits(req.tenant()).max_attribute_value_bytes;
        }
        auto c = TracesFromZipkinJson(req.body(), co);
        if (!c.ok()) {
          resp.Text(400, c.status().message() + "\n");
          return;
        }
        PushResult pr;
        Status s = PushConverted(req.tenant(), std::move(c).value(), req.body().size(), &pr);
        if (s.ok()) {
          resp.status = 202;
          if (pr.refused_spans > 0) {
            resp.SetHeader("Content-Type", "text/plain; charset=utf-8");
            resp.body = std::to_string(pr.refused_spans) + " spans refused: " +
                        Join(pr.messages) + "\n";
          }
          return;
        }
        if (s.code() == StatusCode::kResourceExhausted) {
          resp.SetHeader("Retry-After", std::to_string(impl_->options.retry_after_seconds));
          resp.Text(429, s.message() + "\n");
        } else {
          resp.SetHeader("Retry-After", std::to_string(impl_->options.retry_after_seconds));
          resp.Text(503, "storage error: " + s.message() + "\n");
        }
      },
      ro);
}

void TracesReceiver::RegisterGrpc(net::GrpcServer& server) {
  impl_->grpc = std::make_unique<TraceGrpcService>(this);
  server.RegisterService(impl_->grpc.get(), coltrace::TraceService::service_full_name());
}

}  // namespace sightline::traces::ingest
