#include "traces/api/tempo_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include "net/http.h"
#include "traces/api/api_util.h"
#include "traces/store/store.h"
#include "traces/traceql/ast.h"  // FormatDuration (Go's Duration.String)
#include "traces/traceql/engine.h"

namespace sightline::traces::api {

namespace {

namespace tql = traceql;

// StatusCode → HTTP for engine errors: bad queries 400, limits 400 (as
// Tempo answers too-large metrics queries), store errors 500.
void EngineError(net::HttpResponse& resp, const Status& s) {
  if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kResourceExhausted) {
    resp.Text(400, s.message() + "\n");
  } else {
    resp.Text(500, s.message() + "\n");
  }
}

bool ReadUint(const net::HttpRequest& req, net::HttpResponse& resp, std::string_view name,
              uint32_t* out) {
  auto v = req.Param(name);
  if (!v || v->empty()) return true;
  uint64_t n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9' || n > 1'000'000'000) {
      BadRequest(resp, "invalid " + std::string(name) + " \"" + std::string(*v) +
                           "\": want a non-negative integer");
      return false;
    }
    n = n * 10 + (c - '0');
  }
  *out = static_cast<uint32_t>(n);
  return true;
}

bool ReadDuration(const net::HttpRequest& req, net::HttpResponse& resp, std::string_view name,
                  uint64_t* out) {
  auto v = req.Param(name);
  if (!v || v->empty()) return true;
  auto d = ParseGoDurationNanos(*v);
  if (!d.ok()) {
    BadRequest(resp, "invalid " + std::string(name) + ": " + d.status().message());
    return false;
  }
  *out = *d;
  return true;
}

void WriteSpanSet(JsonWriter& w, const tql::SpanSetResult& ss) {
  w.BeginObject().Key("spans").BeginArray();
  for (const auto& sp : ss.spans) {
    // Tempo's jsonpb leaves out empty strings and zeros.
    w.BeginObject().Key("spanID").String(sp.span_id);
    if (!sp.name.empty()) w.Key("name").String(sp.name);
    w.Key("startTimeUnixNano").String(std::to_string(sp.start_unix_nano));
    if (sp.duration_nanos) w.Key("durationNanos").String(std::to_string(sp.duration_nanos));
    if (!sp.attributes.empty()) {
      w.Key("attributes").BeginArray();
      for (const auto& kv : sp.attributes) WriteKeyValue(w, kv);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray().Key("matched").Uint(ss.matched);
  if (!ss.attributes.empty()) {
    w.Key("attributes").BeginArray();
    for (const auto& kv : ss.attributes) WriteKeyValue(w, kv);
    w.EndArray();
  }
  w.EndObject();
}

void WriteMetrics(JsonWriter& w, const tql::SearchMetrics& m) {
  w.Key("metrics").BeginObject()
      .Key("inspectedTraces").Uint(m.inspected_traces)
      .Key("inspectedBytes").String(std::to_string(m.inspected_bytes))
      .Key("inspectedSpans").String(std::to_string(m.inspected_spans))
      .Key("completedJobs").Uint(m.completed_jobs)
      .Key("totalJobs").Uint(m.total_jobs);
  if (m.total_blocks > 0) {
    w.Key("totalBlocks").Uint(m.total_blocks)
        .Key("totalBlockBytes").String(std::to_string(m.total_block_bytes));
  }
  w.EndObject();
}

}  // namespace

std::string CheckSearchRange(const QueryLimits& limits, std::string_view tenant,
                             uint64_t start_unix_nano, uint64_t end_unix_nano) {
  const uint64_t max = limits.SearchMaxDuration(tenant);
  if (max == 0 || end_unix_nano <= start_unix_nano || end_unix_nano - start_unix_nano <= max) {
    return {};
  }
  return "range specified by start and end exceeds " +
         tql::FormatDuration(static_cast<int64_t>(max)) +
         ". received start=" + std::to_string(start_unix_nano / 1'000'000'000) +
         " end=" + std::to_string(end_unix_nano / 1'000'000'000);
}

namespace {

void Search(store::TraceStore* store, uint64_t target_bytes_per_job, const QueryLimits& limits,
            net::HttpRequest& req, net::HttpResponse& resp) {
  tql::SearchRequest sr;
  if (!ReadTimeRange(req, resp, &sr.start_unix_nano, &sr.end_unix_nano)) return;
  if (!ReadUint(req, resp, "limit", &sr.limit) || !ReadUint(req, resp, "spss", &sr.spans_per_span_set) ||
      !ReadDuration(req, resp, "minDuration", &sr.min_duration_nano) ||
      !ReadDuration(req, resp, "maxDuration", &sr.max_duration_nano)) {
    return;
  }
  // As Tempo: an explicit limit must be positive; maxDuration >= minDuration.
  if (auto l = req.Param("limit"); l && !l->empty() && sr.limit == 0) {
    BadRequest(resp, "invalid limit: must be a positive number");
    return;
  }
  if (sr.min_duration_nano && sr.max_duration_nano && sr.min_duration_nano > sr.max_duration_nano) {
    BadRequest(resp, "invalid maxDuration: must be greater than minDuration");
    return;
  }
  std::string q(req.Param("q").value_or(""));
  if (q.empty()) {
    std::string tags(req.Param("tags").value_or(""));
    if (!tags.empty()) {
      auto t = tql::TagsToTraceQL(tags);
      if (!t.ok()) {
        BadRequest(resp, "invalid tags: " + t.status().message());
        return;
      }
      q = *t;
    }
  }
  if (!q.empty()) sr.query = q;
  // Tempo's frontend: the range and spss limits, after the query parses.
  if (auto parsed = tql::Parse(sr.query); !parsed.ok()) {
    EngineError(resp, parsed.status());
    return;
  }
  if (std::string e = CheckSearchRange(limits, req.tenant(), sr.start_unix_nano, sr.end_unix_nano);
      !e.empty()) {
    BadRequest(resp, e);
    return;
  }
  if (std::string e = limits.CheckSpansPerSpanSet(sr.spans_per_span_set); !e.empty()) {
    BadRequest(resp, e);
    return;
  }
  // The same jobs as the streaming querier's Search, so both answer alike.
  auto plan = store->PlanScan(req.tenant(), sr.start_unix_nano, sr.end_unix_nano);
  if (!plan.ok()) {
    EngineError(resp, plan.status());
    return;
  }
  tql::SearchJobOptions jo;
  jo.target_bytes_per_job = target_bytes_per_job;
  auto r = tql::SearchJobs(**plan, sr, jo);
  if (!r.ok()) {
    EngineError(resp, r.status());
    return;
  }
  JsonWriter w;
  w.BeginObject().Key("traces").BeginArray();
  for (const auto& t : r->traces) {
    w.BeginObject()
        .Key("traceID").String(t.trace_id)
        .Key("rootServiceName").String(t.root_service_name);
    if (!t.root_trace_name.empty()) w.Key("rootTraceName").String(t.root_trace_name);
    w.Key("startTimeUnixNano").String(std::to_string(t.start_unix_nano));
    if (t.duration_ms) w.Key("durationMs").Uint(t.duration_ms);  // jsonpb omits 0
    if (!t.span_sets.empty()) {
      w.Key("spanSet");
      WriteSpanSet(w, t.span_sets[0]);
      w.Key("spanSets").BeginArray();
      for (const auto& ss : t.span_sets) WriteSpanSet(w, ss);
      w.EndArray();
    }
    if (!t.service_stats.empty()) {
      w.Key("serviceStats").BeginObject();
      for (const auto& st : t.service_stats) {
        w.Key(st.service).BeginObject().Key("spanCount").Uint(st.span_count);
        if (st.error_count > 0) w.Key("errorCount").Uint(st.error_count);
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  WriteMetrics(w, r->metrics);
  w.EndObject();
  resp.Json(200, w.Take());
}

void TagNames(store::TraceStore* store, bool v2, net::HttpRequest& req, net::HttpResponse& resp) {
  tql::TagNamesRequest tr;
  if (!ReadTimeRange(req, resp, &tr.start_unix_nano, &tr.end_unix_nano)) return;
  if (!ReadUint(req, resp, "limit", &tr.limit)) return;
  tr.scope = std::string(req.Param("scope").value_or(""));
  tr.query = std::string(req.Param("q").value_or(""));
  auto source = store->Source(req.tenant());
  auto r = tql::TagNames(*source, tr);
  if (!r.ok()) {
    EngineError(resp, r.status());
    return;
  }
  JsonWriter w;
  w.BeginObject();
  if (v2) {
    w.Key("scopes").BeginArray();
    for (const auto& s : *r) {
      w.BeginObject().Key("name").String(s.name).Key("tags").BeginArray();
      for (const auto& t : s.tags) w.String(t);
      w.EndArray().EndObject();
    }
    w.EndArray();
  } else {
    std::set<std::string> names;
    for (const auto& s : *r) {
      if (s.name == "span" || s.name == "resource") names.insert(s.tags.begin(), s.tags.end());
    }
    w.Key("tagNames").BeginArray();
    for (const auto& n : names) w.String(n);
    w.EndArray();
  }
  w.EndObject();
  resp.Json(200, w.Take());
}

void TagValues(store::TraceStore* store, bool v2, net::HttpRequest& req, net::HttpResponse& resp) {
  tql::TagValuesRequest tr;
  if (!ReadTimeRange(req, resp, &tr.start_unix_nano, &tr.end_unix_nano)) return;
  if (!ReadUint(req, resp, "limit", &tr.limit)) return;
  std::string tag(req.PathParam("tag"));
  tr.tag = v2 ? tag : "." + tag;
  tr.query = std::string(req.Param("q").value_or(""));
  auto source = store->Source(req.tenant());
  auto r = tql::TagValues(*source, tr);
  if (!r.ok()) {
    EngineError(resp, r.status());
    return;
  }
  JsonWriter w;
  w.BeginObject().Key("tagValues").BeginArray();
  for (const auto& v : *r) {
    if (v2) {
      w.BeginObject().Key("type").String(v.type).Key("value").String(v.value).EndObject();
    } else {
      w.String(v.value);
    }
  }
  w.EndArray().EndObject();
  resp.Json(200, w.Take());
}

// q (or Prometheus-style query), start, end, since (default 1h: start =
// min(end, now) - since when start is left out), and for ranges step
// (seconds or a duration; default DefaultQueryRangeStep) and exemplars.
bool ReadMetricsRequest(net::HttpRequest& req, net::HttpResponse& resp, bool range,
                        uint32_t max_series, const QueryLimits& limits,
                        tql::MetricsRequest* mr) {
  if (!ReadTimeRange(req, resp, &mr->start_unix_nano, &mr->end_unix_nano)) return false;
  std::string_view q = req.Param("q").value_or("");
  if (q.empty()) q = req.Param("query").value_or("");
  mr->query = std::string(q);
  if (mr->query.empty()) {
    BadRequest(resp, "missing q: a TraceQL metrics query");
    return false;
  }
  uint64_t since = kDefaultMetricsSince;
  if (!ReadDuration(req, resp, "since", &since)) return false;
  if (range) {
    if (!ReadDuration(req, resp, "step", &mr->step_nano)) return false;
    if (auto st = req.Param("step"); st && !st->empty() && mr->step_nano == 0) {
      BadRequest(resp, "step must be greater than 0");  // Tempo's message
      return false;
    }
    if (!ReadUint(req, resp, "exemplars", &mr->exemplars)) return false;
    mr->exemplars = limits.Exemplars(mr->exemplars);  // Tempo 2.7: 0 means the limit
  }
  DefaultMetricsRange(&mr->start_unix_nano, &mr->end_unix_nano, since);
  mr->max_series = max_series;
  mr->max_duration_nano = limits.MetricsMaxDuration(req.tenant());
  return true;
}

void WritePartial(JsonWriter& w, bool partial, const std::string& message) {
  if (!partial) return;  // COMPLETE is protobuf's zero value: not written
  w.Key("status").String("PARTIAL").Key("message").String(message);
}

void WriteLabels(JsonWriter& w, const std::vector<KeyValue>& labels) {
  w.Key("labels").BeginArray();
  for (const auto& kv : labels) WriteKeyValue(w, kv);
  w.EndArray();
}

// Plans the scan of `range` for the request's tenant and runs `jobs(source,
// job options)` over it; on any error answers as the engine's errors are
// answered and returns nothing.
template <typename Answer, typename Range, typename Jobs>
std::optional<Answer> PlanAndRunJobs(store::TraceStore* store, const SearchApiOptions& options,
                                     net::HttpRequest& req, net::HttpResponse& resp,
                                     const Range& range, Jobs jobs) {
  if (!range.ok()) {
    EngineError(resp, range.status());
    return std::nullopt;
  }
  auto plan = store->PlanScan(req.tenant(), range->first, range->second);
  if (!plan.ok()) {
    EngineError(resp, plan.status());
    return std::nullopt;
  }
  tql::SearchJobOptions jo;
  jo.target_bytes_per_job = options.target_bytes_per_job;
  auto r = jobs(**plan, jo);
  if (!r.ok()) {
    EngineError(resp, r.status());
    return std::nullopt;
  }
  return std::move(r).value();
}

void MetricsRange(store::TraceStore* store, const SearchApiOptions& options, net::HttpRequest& req,
                  net::HttpResponse& resp) {
  tql::MetricsRequest mr;
  if (!ReadMetricsRequest(req, resp, /*range=*/true, options.max_series, options.limits, &mr)) {
    return;
  }
  // The same jobs as the streaming querier's MetricsQueryRange.
  auto r = PlanAndRunJobs<tql::MetricsResponse>(
      store, options, req, resp, tql::MetricsScanRange(mr),
      [&](auto& source, const tql::SearchJobOptions& jo) {
        return tql::MetricsQueryRangeJobs(source, mr, jo);
      });
  if (!r) return;
  JsonWriter w;
  w.BeginObject().Key("series").BeginArray();
  for (const auto& s : r->series) {
    w.BeginObject();
    WriteLabels(w, s.labels);
    w.Key("samples").BeginArray();
    for (const auto& p : s.samples) {
      w.BeginObject().Key("timestampMs").String(std::to_string(p.timestamp_ms)).Key("value").ProtoDouble(p.value).EndObject();
    }
    w.EndArray();
    if (!s.exemplars.empty()) {
      w.Key("exemplars").BeginArray();
      for (const auto& e : s.exemplars) {
        w.BeginObject();
        WriteLabels(w, e.labels);
        w.Key("value").ProtoDouble(e.value).Key("timestampMs").String(std::to_string(e.timestamp_ms));
        w.EndObject();
      }
      w.EndArray();
    }
    w.Key("promLabels").String(s.prom_labels);
    w.EndObject();
  }
  w.EndArray();
  WriteMetrics(w, r->metrics);
  WritePartial(w, r->partial, r->message);
  w.EndObject();
  resp.Json(200, w.Take());
}

// Tempo >= 2.7: one step over [start, end), through the same jobs as
// query_range (and the streaming querier's MetricsQueryInstant).
void MetricsInstant(store::TraceStore* store, const SearchApiOptions& options,
                    net::HttpRequest& req, net::HttpResponse& resp) {
  tql::MetricsRequest mr;
  if (!ReadMetricsRequest(req, resp, /*range=*/false, options.max_series, options.limits, &mr)) {
    return;
  }
  auto r = PlanAndRunJobs<tql::InstantResponse>(
      store, options, req, resp, tql::MetricsInstantScanRange(mr),
      [&](auto& source, const tql::SearchJobOptions& jo) {
        return tql::MetricsQueryInstantJobs(source, mr, jo);
      });
  if (!r) return;
  JsonWriter w;
  w.BeginObject().Key("series").BeginArray();
  for (const auto& s : r->series) {
    w.BeginObject();
    WriteLabels(w, s.labels);
    w.Key("value").ProtoDouble(s.value).Key("promLabels").String(s.prom_labels);
    w.EndObject();
  }
  w.EndArray();
  WriteMetrics(w, r->metrics);
  WritePartial(w, r->partial, r->message);
  w.EndObject();
  resp.Json(200, w.Take());
}

}  // namespace

void RegisterTempoSearchApi(net::Router& router, store::TraceStore* store,
                            const net::RouteOptions& base, const SearchApiOptions& options) {
  net::RouteOptions ro = base;
  ro.name = "api_search";
  router.Handle("GET", "/api/search",
                [store, options](net::HttpRequest& q, net::HttpResponse& r) {
                  Search(store, options.target_bytes_per_job, options.limits, q, r);
                },
                ro);
  ro.name = "api_search_tags";
  router.Handle("GET", "/api/search/tags",
                [store](net::HttpRequest& q, net::HttpResponse& r) { TagNames(store, false, q, r); },
                ro);
  ro.name = "api_v2_search_tags";
  router.Handle("GET", "/api/v2/search/tags",
                [store](net::HttpRequest& q, net::HttpResponse& r) { TagNames(store, true, q, r); },
                ro);
  ro.name = "api_search_tag_values";
  router.Handle("GET", "/api/search/tag/{tag}/values",
                [store](net::HttpRequest& q, net::HttpResponse& r) { TagValues(store, false, q, r); },
                ro);
  ro.name = "api_v2_search_tag_values";
  router.Handle("GET", "/api/v2/search/tag/{tag}/values",
                [store](net::HttpRequest& q, net::HttpResponse& r) { TagValues(store, true, q, r); },
                ro);
  ro.name = "api_metrics_query_range";
  router.Handle("GET", "/api/metrics/query_range",
                [store, options](net::HttpRequest& q, net::HttpResponse& r) {
                  MetricsRange(store, options, q, r);
                },
                ro);
  ro.name = "api_metrics_query";
  router.Handle("GET", "/api/metrics/query",
                [store, options](net::HttpRequest& q, net::HttpResponse& r) {
                  MetricsInstant(store, options, q, r);
                },
                ro);
}

}  // namespace sightline::traces::api
