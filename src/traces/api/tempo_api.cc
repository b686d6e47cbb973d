#include "traces/api/tempo_api.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>

#include "config/config.h"
#include "config/overrides.h"
#include "config/version.h"  // generated
#include "net/http.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "tempo/tempo.pb.h"
#include "traces/api/api_util.h"
#include "traces/api/tempo_search.h"
#include "traces/ingest/ids.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/store/store.h"

namespace sightline::traces::api {

namespace {

namespace otlp = opentelemetry::proto::trace::v1;

bool WantsProtobuf(const net::HttpRequest& req) {
  for (std::string_view a : req.headers().GetAll("Accept")) {
    if (a.find("application/protobuf") != std::string_view::npos ||
        a.find("application/x-protobuf") != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

void TraceById(store::TraceStore* store, bool v2, net::HttpRequest& req,
               net::HttpResponse& resp) {
  std::string_view hex = req.PathParam("id");
  auto id = HexToId(hex, 16);
  if (!id || IsZeroId(*id)) {
    BadRequest(resp, "invalid trace id \"" + std::string(hex) +
                         "\": want up to 32 hexadecimal digits");
    return;
  }
  uint64_t start, end;
  if (!ReadTimeRange(req, resp, &start, &end)) return;
  auto trace = store->FindTraceById(req.tenant(), *id, start, end);
  if (!trace.ok()) {
    resp.Text(500, "error finding trace: " + trace.status().message() + "\n");
    return;
  }
  if (!trace->has_value()) {
    resp.Text(404, "trace not found\n");
    return;
  }
  otlp::TracesData td;
  ingest::TraceToOtlp(**trace, &td);
  if (WantsProtobuf(req)) {
    resp.status = 200;
    resp.SetHeader("Content-Type", "application/protobuf");
    if (v2) {
      tempopb::TraceByIDResponse out;
      out.mutable_trace()->mutable_resource_spans()->Swap(td.mutable_resource_spans());
      resp.body = out.SerializeAsString();
    } else {
      tempopb::Trace out;
      out.mutable_resource_spans()->Swap(td.mutable_resource_spans());
      resp.body = out.SerializeAsString();
    }
    return;
  }
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(td, &json).ok()) {
    resp.Text(500, "cannot render the trace as JSON\n");
    return;
  }
  // TracesData renders as {"resourceSpans":[...]}: the shape of
  // tempopb.Trace in v2; v1 names the field "batches".
  constexpr std::string_view kKey = "{\"resourceSpans\":";
  if (!v2 && json.compare(0, kKey.size(), kKey) == 0) {
    json = "{\"batches\":" + json.substr(kKey.size());
  }
  resp.Json(200, v2 ? "{\"trace\":" + json + "}" : json);
}

}  // namespace

void RegisterTempoApi(net::Router& router, store::TraceStore* store, const ApiOptions& options) {
  telemetry::Registry& reg = options.registry ? *options.registry : telemetry::Registry::Default();
  auto* durations = &reg.AddHistogram("tempo_request_duration_seconds",
                                      "Time (in seconds) spent serving HTTP requests.",
                                      {"method", "route", "status_code", "ws"});
  net::RouteOptions ro;
  ro.duration_histogram = durations;

  ro.name = "api_echo";
  ro.tenant = false;
  router.Handle("GET", "/api/echo",
                [](net::HttpRequest&, net::HttpResponse& resp) { resp.Text(200, "echo"); }, ro);
  ro.name = "api_status_buildinfo";
  std::string version = options.tempo_version;
  router.Handle(
      "GET", "/api/status/buildinfo",
      [version](net::HttpRequest&, net::HttpResponse& resp) {
        JsonWriter w;
        w.BeginObject()
            .Key("version").String(version)
            .Key("revision").String(std::string("sightline-") + kRevision)
            .Key("branch").String("")
            .Key("buildUser").String("")
            .Key("buildDate").String("")
            .Key("goVersion").String("")
            .EndObject();
        resp.Json(200, w.Take());
      },
      ro);
  ro.tenant = true;

  ro.name = "api_traces_traceid";
  router.Handle("GET", "/api/traces/{id}",
                [store](net::HttpRequest& req, net::HttpResponse& resp) {
                  TraceById(store, false, req, resp);
                },
                ro);
  ro.name = "api_v2_traces_traceid";
  router.Handle("GET", "/api/v2/traces/{id}",
                [store](net::HttpRequest& req, net::HttpResponse& resp) {
                  TraceById(store, true, req, resp);
                },
                ro);

  SearchApiOptions so;
  so.target_bytes_per_job = options.search_target_bytes_per_job;
  so.max_series = options.metrics_max_series;
  so.limits = options.limits;
  RegisterTempoSearchApi(router, store, ro, so);
}

QueryLimits QueryLimitsFromConfig(const config::TracesConfig& t,
                                  std::shared_ptr<const config::TenantOverrides> overrides) {
  auto nanos = [](std::chrono::milliseconds d) {
    return d.count() > 0 ? static_cast<uint64_t>(d.count()) * 1'000'000 : 0;
  };
  QueryLimits l;
  l.metrics_max_duration_nano = nanos(t.metrics_max_duration);
  l.metrics_max_exemplars = static_cast<uint32_t>(std::max(0, t.metrics_max_exemplars));
  l.search_max_duration_nano = nanos(t.search_max_duration);
  l.max_spans_per_span_set = static_cast<uint32_t>(std::max(0, t.search_max_spans_per_span_set));
  if (overrides) {
    l.metrics_max_duration_for = [overrides, nanos](std::string_view tenant) {
      return nanos(overrides->For(tenant).traces.max_metrics_duration);
    };
    l.search_max_duration_for = [overrides, nanos](std::string_view tenant) {
      return nanos(overrides->For(tenant).traces.max_search_duration);
    };
  }
  return l;
}

}  // namespace sightline::traces::api
