#include "metrics/api/prometheus_api.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <functional>
#include <set>
#include <utility>

#include "config/version.h"
#include "metrics/api/prometheus_format.h"
#include "metrics/promql/ast.h"
#include "metrics/promql/go_text.h"
#include "metrics/promql/parser.h"
#include "metrics/promql/printer.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::api {
namespace {

using promql::ErrorType;

// What a handler produces; Write() turns it into Prometheus's envelope.
struct ApiResult {
  std::string data;  // Raw JSON; empty: no "data" member.
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
  ErrorType error_type = ErrorType::kNone;
  std::string error;
};

ApiResult Error(ErrorType type, std::string message) {
  ApiResult r;
  r.error_type = type;
  r.error = std::move(message);
  return r;
}

ApiResult BadData(std::string message) { return Error(ErrorType::kBadData, std::move(message)); }

// invalidParamError of web/api/v1.
ApiResult InvalidParam(const Status& s, std::string_view param) {
  return BadData("invalid parameter \"" + std::string(param) + "\": " + s.message());
}

ApiResult FromStatus(const Status& s) { return Error(promql::ClassifyError(s), s.message()); }

ApiResult Data(std::string json) {
  ApiResult r;
  r.data = std::move(json);
  return r;
}

int HttpCode(ErrorType t) {
  switch (t) {
    case ErrorType::kBadData:
      return 400;
    case ErrorType::kExecution:
      return 422;
    case ErrorType::kTimeout:
    case ErrorType::kCanceled:
      return 503;
    default:
      return 500;
  }
}

void AppendStrings(std::string& out, const std::vector<std::string>& v) {
  out.push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendGoJsonString(out, v[i]);
  }
  out.push_back(']');
}

void Write(const ApiResult& r, net::HttpResponse& resp) {
  std::string body;
  if (r.error_type != ErrorType::kNone) {
    body = "{\"status\":\"error\"";
    if (!r.data.empty()) body += ",\"data\":" + r.data;
    body += ",\"errorType\":";
    AppendGoJsonString(body, promql::ErrorTypeString(r.error_type));
    body += ",\"error\":";
    AppendGoJsonString(body, r.error);
    body.push_back('}');
    resp.Json(HttpCode(r.error_type), std::move(body));
    return;
  }
  body = "{\"status\":\"success\"";
  if (!r.data.empty()) body += ",\"data\":" + r.data;
  if (!r.warnings.empty()) {
    body += ",\"warnings\":";
    AppendStrings(body, r.warnings);
  }
  if (!r.infos.empty()) {
    body += ",\"infos\":";
    AppendStrings(body, r.infos);
  }
  body.push_back('}');
  resp.Json(200, std::move(body));
}

class PrometheusApi : public std::enable_shared_from_this<PrometheusApi> {
 public:
  PrometheusApi(Queryable* storage, MetadataSource* metadata, const promql::Engine* engine,
                ApiOptions options)
      : storage_(storage), metadata_(metadata), engine_(engine), options_(std::move(options)) {}

  void Register(net::Router& router);

 private:
  int64_t Now() const {
    if (options_.now_ms) return options_.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // parseTimeParam: `def` when absent or empty.
  Result<int64_t> TimeParam(const net::HttpRequest& req, std::string_view name, int64_t def) const {
    const auto v = req.FormParam(name);
    if (!v || v->empty()) return def;
    auto t = ParseTimeParam(*v);
    if (!t.ok()) {
      return InvalidArgumentError("invalid time value for '" + std::string(name) +
                                  "': " + t.status().message());
    }
    return t;
  }

  // Shared by /query and /query_range: the `timeout` and `lookback_delta`
  // parameters into QueryOptions.
  std::optional<ApiResult> QueryOpts(const net::HttpRequest& req, promql::QueryOptions* q) const;
  Result<promql::ExprPtr> ParseQuery(std::string_view query) const;
  // Parses match[] values; at least one non-empty matcher per set.
  Result<std::vector<std::vector<promql::Matcher>>> MatchParam(const net::HttpRequest& req) const;
  ApiResult Finish(Result<promql::QueryResult> r, std::string_view query, int64_t limit, bool stats,
                   int64_t elapsed_ns) const;

  // Thanos's `dedup` parameter (strconv.ParseBool; default true): the
  // storage to read; nullptr (with *err set) for an unparsable value.
  Queryable* StorageFor(const net::HttpRequest& req, std::optional<ApiResult>* err) const {
    const auto d = req.FormParam("dedup");
    if (!d || d->empty()) return storage_;
    static constexpr std::string_view kTrue[] = {"1", "t", "T", "true", "TRUE", "True"};
    static constexpr std::string_view kFalse[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (std::string_view t : kTrue) {
      if (*d == t) return storage_;
    }
    for (std::string_view f : kFalse) {
      if (*d == f) {
        return options_.storage_without_dedup != nullptr ? options_.storage_without_dedup
                                                         : storage_;
      }
    }
    *err = BadData("cannot parse parameter dedup: strconv.ParseBool: parsing \"" +
                   std::string(*d) + "\": invalid syntax");
    return nullptr;
  }

  ApiResult Query(const net::HttpRequest& req) const;
  ApiResult QueryRange(const net::HttpRequest& req) const;
  ApiResult Series(const net::HttpRequest& req) const;
  ApiResult LabelNames(const net::HttpRequest& req) const;
  ApiResult LabelValues(const net::HttpRequest& req) const;
  // Shared by /labels and /label/<n>/values: limit, start, end and match[]
  // parameters, the union of `fetch` over every match[] set, sorted.
  using FetchStrings = std::function<Result<std::vector<std::string>>(
      metrics::Querier&, const std::vector<promql::Matcher>&)>;
  ApiResult UnionOverMatchSets(const net::HttpRequest& req, const FetchStrings& fetch) const;
  ApiResult MetricMetadata(const net::HttpRequest& req) const;
  ApiResult QueryExemplars(const net::HttpRequest& req) const;
  ApiResult FormatQuery(const net::HttpRequest& req) const;
  ApiResult BuildInfo() const;

  Queryable* storage_;
  MetadataSource* metadata_;
  const promql::Engine* engine_;
  ApiOptions options_;
};

std::optional<ApiResult> PrometheusApi::QueryOpts(const net::HttpRequest& req,
                                                  promql::QueryOptions* q) const {
  std::chrono::milliseconds timeout = engine_->options().timeout;
  if (options_.query_timeout.count() > 0) timeout = std::min(timeout, options_.query_timeout);
  if (const auto to = req.FormParam("timeout"); to && !to->empty()) {
    auto ns = ParseDurationParamNs(*to);
    if (!ns.ok()) return InvalidParam(ns.status(), "timeout");
    timeout = std::min(timeout, std::chrono::milliseconds(std::max<int64_t>(*ns / 1000000, 0)));
  }
  q->timeout = timeout;
  if (const auto lb = req.FormParam("lookback_delta"); lb && !lb->empty()) {
    auto ns = ParseDurationParamNs(*lb);
    if (!ns.ok()) {
      return BadData("error parsing lookback delta duration: " + ns.status().message());
    }
    // Prometheus treats 0 (and negative) as "the engine's default".
    if (*ns > 0) q->lookback_delta_ms = *ns / 1000000;
  }
  return std::nullopt;
}

Result<promql::ExprPtr> PrometheusApi::ParseQuery(std::string_view query) const {
  SL_ASSIGN_OR_RETURN(promql::ExprPtr expr, promql::ParseExpr(query, engine_->parse_options()));
  SL_RETURN_IF_ERROR(promql::CheckRangeModifierUse(*expr));
  return expr;
}

Result<std::vector<std::vector<promql::Matcher>>> PrometheusApi::MatchParam(
    const net::HttpRequest& req) const {
  std::vector<std::vector<promql::Matcher>> sets;
  for (std::string_view m : req.FormParams("match[]")) {
    SL_ASSIGN_OR_RETURN(auto ms, promql::ParseMetricSelector(m, engine_->parse_options()));
    const bool non_empty =
        std::any_of(ms.begin(), ms.end(), [](const promql::Matcher& x) { return !x.Matches(""); });
    if (!non_empty) {
      return InvalidArgumentError("match[] must contain at least one non-empty matcher");
    }
    sets.push_back(std::move(ms));
  }
  return sets;
}

ApiResult PrometheusApi::Finish(Result<promql::QueryResult> r, std::string_view query,
                                int64_t limit, bool stats, int64_t elapsed_ns) const {
  if (!r.ok()) return FromStatus(r.status());
  promql::QueryResult& res = *r;
  ApiResult out;
  out.warnings = res.annotations.Warnings(query);
  out.infos = res.annotations.Infos(query);
  if (limit > 0) {
    bool truncated = false;
    if (res.type == promql::ValueType::kVector && res.vector.size() > static_cast<size_t>(limit)) {
      res.vector.resize(static_cast<size_t>(limit));
      truncated = true;
    } else if (res.type == promql::ValueType::kMatrix &&
               res.matrix.size() > static_cast<size_t>(limit)) {
      res.matrix.resize(static_cast<size_t>(limit));
      truncated = true;
    }
    if (truncated) out.warnings.push_back("results truncated due to limit");
  }
  AppendQueryData(out.data, res);
  if (stats) {
    // Prometheus's QueryStats shape; only timings are measured here.
    out.data.pop_back();
    const double secs = static_cast<double>(elapsed_ns) / 1e9;
    std::string t;
    AppendGoJsonFloat(t, secs);
    out.data += ",\"stats\":{\"timings\":{\"evalTotalTime\":" + t +
                ",\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":" + t +
                ",\"execQueueTime\":0,\"execTotalTime\":" + t +
                "},\"samples\":{\"totalQueryableSamples\":0,\"peakSamples\":0}}}";
  }
  return out;
}

int64_t ElapsedNs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              since)
      .count();
}

ApiResult PrometheusApi::Query(const net::HttpRequest& req) const {
  auto limit = ParseLimitParam(req.FormParam("limit").value_or(""));
  if (!limit.ok()) return InvalidParam(limit.status(), "limit");
  auto ts = TimeParam(req, "time", Now());
  if (!ts.ok()) return InvalidParam(ts.status(), "time");
  promql::QueryOptions qopts;
  if (auto err = QueryOpts(req, &qopts)) return *err;
  const std::string_view query = req.FormParam("query").value_or("");
  auto expr = ParseQuery(query);
  if (!expr.ok()) return InvalidParam(expr.status(), "query");
  std::optional<ApiResult> dedup_err;
  Queryable* storage = StorageFor(req, &dedup_err);
  if (storage == nullptr) return *dedup_err;
  const auto start = std::chrono::steady_clock::now();
  auto r = engine_->InstantQuery(*storage, req.tenant(), **expr, *ts, qopts);
  return Finish(std::move(r), query, *limit, !req.FormParam("stats").value_or("").empty(),
                ElapsedNs(start));
}

ApiResult PrometheusApi::QueryRange(const net::HttpRequest& req) const {
  auto limit = ParseLimitParam(req.FormParam("limit").value_or(""));
  if (!limit.ok()) return InvalidParam(limit.status(), "limit");
  auto start = ParseTimeParam(req.FormParam("start").value_or(""));
  if (!start.ok()) return InvalidParam(start.status(), "start");
  auto end = ParseTimeParam(req.FormParam("end").value_or(""));
  if (!end.ok()) return InvalidParam(end.status(), "end");
  if (*end < *start) {
    return InvalidParam(InvalidArgumentError("end timestamp must not be before start time"),
                        "end");
  }
  auto step = ParseDurationParamNs(req.FormParam("step").value_or(""));
  if (!step.ok()) return InvalidParam(step.status(), "step");
  if (*step <= 0) {
    return InvalidParam(
        InvalidArgumentError("zero or negative query resolution step widths are not accepted. "
                             "Try a positive integer"),
        "step");
  }
  const __int128 range_ns = static_cast<__int128>(*end - *start) * 1000000;
  if (range_ns / *step > options_.max_points_per_series) {
    return BadData(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
        "resolution (?step=XX)");
  }
  promql::QueryOptions qopts;
  if (auto err = QueryOpts(req, &qopts)) return *err;
  const std::string_view query = req.FormParam("query").value_or("");
  auto expr = ParseQuery(query);
  if (!expr.ok()) return InvalidParam(expr.status(), "query");
  const promql::ValueType type = (*expr)->Type();
  if (type != promql::ValueType::kVector && type != promql::ValueType::kScalar) {
    return InvalidParam(InvalidArgumentError("invalid expression type \"" +
                                             std::string(promql::DocumentedTypeName(type)) +
                                             "\" for range query, must be Scalar or instant "
                                             "Vector"),
                        "query");
  }
  const int64_t max_range_ms = options_.max_query_range.count();
  if (max_range_ms > 0 && *end - *start > max_range_ms) {
    return BadData("the query time range exceeds the limit (query length: " +
                   FormatGoDuration((*end - *start) * 1000000) +
                   ", limit: " + FormatGoDuration(max_range_ms * 1000000) + ")");
  }
  // The engine works in milliseconds; sub-millisecond steps round up to 1ms.
  const int64_t step_ms = std::max<int64_t>(*step / 1000000, 1);
  std::optional<ApiResult> dedup_err;
  Queryable* storage = StorageFor(req, &dedup_err);
  if (storage == nullptr) return *dedup_err;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = engine_->RangeQuery(*storage, req.tenant(), **expr, *start, *end, step_ms, qopts);
  return Finish(std::move(r), query, *limit, !req.FormParam("stats").value_or("").empty(),
                ElapsedNs(t0));
}

// Sorted, de-duplicated label sets of the series matching any of `sets`.
ApiResult PrometheusApi::Series(const net::HttpRequest& req) const {
  if (req.FormParams("match[]").empty()) return BadData("no match[] parameter provided");
  auto limit = ParseLimitParam(req.FormParam("limit").value_or(""));
  if (!limit.ok()) return InvalidParam(limit.status(), "limit");
  auto start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam(start.status(), "start");
  auto end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam(end.status(), "end");
  auto sets = MatchParam(req);
  if (!sets.ok()) return InvalidParam(sets.status(), "match[]");
  int64_t eff_limit = *limit;
  if (options_.max_series > 0 && (eff_limit == 0 || eff_limit > options_.max_series)) {
    eff_limit = options_.max_series;
  }

  std::optional<ApiResult> dedup_err;
  Queryable* storage = StorageFor(req, &dedup_err);
  if (storage == nullptr) return *dedup_err;
  auto q = storage->NewQuerier(req.tenant(), *start, *end);
  if (!q.ok()) return FromStatus(q.status());
  metrics::SelectHints hints;
  hints.start_ms = *start;
  hints.end_ms = *end;
  hints.func = "series";
  std::vector<Labels> all;
  std::vector<std::string> warnings;
  for (const auto& ms : *sets) {
    auto set = (*q)->Select(true, &hints, ms);
    while (set->Next()) all.push_back(set->At().labels());
    if (!set->err().ok()) return FromStatus(set->err());
    for (auto& w : set->warnings()) warnings.push_back(std::move(w));
  }
  const auto less = [](const Labels& a, const Labels& b) { return Labels::Compare(a, b) < 0; };
  if (sets->size() > 1) {
    std::sort(all.begin(), all.end(), less);
    all.erase(
        std::unique(all.begin(), all.end(),
                    [](const Labels& a, const Labels& b) { return Labels::Compare(a, b) == 0; }),
        all.end());
  }
  if (eff_limit > 0 && all.size() > static_cast<size_t>(eff_limit)) {
    all.resize(static_cast<size_t>(eff_limit));
    warnings.push_back("results truncated due to limit");
  }
  ApiResult out;
  out.data = "[";
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out.data.push_back(',');
    AppendLabels(out.data, all[i]);
  }
  out.data.push_back(']');
  out.warnings = std::move(warnings);
  return out;
}

ApiResult StringList(std::vector<std::string> v, int64_t limit) {
  ApiResult out;
  if (limit > 0 && v.size() > static_cast<size_t>(limit)) {
    v.resize(static_cast<size_t>(limit));
    out.warnings.push_back("results truncated due to limit");
  }
  AppendStrings(out.data, v);
  return out;
}

ApiResult PrometheusApi::UnionOverMatchSets(const net::HttpRequest& req,
                                            const FetchStrings& fetch) const {
  auto limit = ParseLimitParam(req.FormParam("limit").value_or(""));
  if (!limit.ok()) return InvalidParam(limit.status(), "limit");
  auto start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam(start.status(), "start");
  auto end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam(end.status(), "end");
  auto sets = MatchParam(req);
  if (!sets.ok()) return InvalidParam(sets.status(), "match[]");
  // With dedup (the default), replica labels are hidden as in Thanos Query.
  std::optional<ApiResult> dedup_err;
  Queryable* storage = StorageFor(req, &dedup_err);
  if (storage == nullptr) return *dedup_err;
  auto q = storage->NewQuerier(req.tenant(), *start, *end);
  if (!q.ok()) return FromStatus(q.status());
  if (sets->empty()) sets->emplace_back();
  std::set<std::string> all;
  for (const auto& ms : *sets) {
    auto r = fetch(**q, ms);
    if (!r.ok()) return FromStatus(r.status());
    all.insert(r->begin(), r->end());
  }
  return StringList({all.begin(), all.end()}, *limit);
}

ApiResult PrometheusApi::LabelNames(const net::HttpRequest& req) const {
  return UnionOverMatchSets(req, [](metrics::Querier& q, const std::vector<promql::Matcher>& ms) {
    return q.LabelNames(ms);
  });
}

bool ValidLabelName(std::string_view name, bool utf8) {
  if (name.empty()) return false;
  return utf8 ? promql::IsValidUtf8(name) : promql::IsLegacyLabelName(name);
}

ApiResult PrometheusApi::LabelValues(const net::HttpRequest& req) const {
  const std::string name(req.PathParam("name"));
  if (!ValidLabelName(name, options_.utf8_label_names)) {
    return BadData("invalid label name: " + promql::QuoteGo(name));
  }
  return UnionOverMatchSets(
      req, [&name](metrics::Querier& q, const std::vector<promql::Matcher>& ms) {
        return q.LabelValues(name, ms);
      });
}

ApiResult PrometheusApi::MetricMetadata(const net::HttpRequest& req) const {
  int64_t limit = -1;
  if (const auto s = req.FormParam("limit"); s && !s->empty()) {
    auto v = ParseLimitParam(s->front() == '-' ? s->substr(1) : *s);
    if (!v.ok()) return BadData("limit must be a number");
    limit = s->front() == '-' ? -*v : *v;
  }
  int64_t limit_per_metric = -1;
  if (const auto s = req.FormParam("limit_per_metric"); s && !s->empty()) {
    auto v = ParseLimitParam(s->front() == '-' ? s->substr(1) : *s);
    if (!v.ok()) return BadData("limit_per_metric must be a number");
    limit_per_metric = s->front() == '-' ? -*v : *v;
  }
  const std::string metric(req.FormParam("metric").value_or(""));
  std::map<std::string, std::vector<metrics::MetricMetadata>> md;
  if (metadata_ != nullptr) {
    auto r = metadata_->Metadata(req.tenant(), metric, static_cast<int>(limit),
                                 static_cast<int>(limit_per_metric));
    if (!r.ok()) return FromStatus(r.status());
    md = std::move(*r);
  }
  ApiResult out;
  out.data = "{";
  int64_t n = 0;
  for (const auto& [family, entries] : md) {
    if (limit >= 0 && n >= limit) break;
    if (!metric.empty() && family != metric) continue;
    if (n++ > 0) out.data.push_back(',');
    AppendGoJsonString(out.data, family);
    out.data += ":[";
    for (size_t i = 0; i < entries.size(); ++i) {
      if (limit_per_metric > 0 && i >= static_cast<size_t>(limit_per_metric)) break;
      if (i > 0) out.data.push_back(',');
      out.data += "{\"type\":";
      AppendGoJsonString(out.data, entries[i].type);
      out.data += ",\"help\":";
      AppendGoJsonString(out.data, entries[i].help);
      out.data += ",\"unit\":";
      AppendGoJsonString(out.data, entries[i].unit);
      out.data.push_back('}');
    }
    out.data.push_back(']');
  }
  out.data.push_back('}');
  return out;
}

void CollectSelectors(const promql::Expr& e, std::vector<std::vector<promql::Matcher>>* out) {
  if (const auto* vs = e.As<promql::VectorSelector>()) out->push_back(vs->matchers);
  for (const promql::Expr* c : promql::Children(e)) CollectSelectors(*c, out);
}

ApiResult PrometheusApi::QueryExemplars(const net::HttpRequest& req) const {
  auto start = TimeParam(req, "start", kMinTimeMs);
  if (!start.ok()) return InvalidParam(start.status(), "start");
  auto end = TimeParam(req, "end", kMaxTimeMs);
  if (!end.ok()) return InvalidParam(end.status(), "end");
  if (*end < *start) return BadData("end timestamp must not be before start timestamp");
  auto expr = ParseQuery(req.FormParam("query").value_or(""));
  if (!expr.ok()) return BadData(expr.status().message());
  std::vector<std::vector<promql::Matcher>> selectors;
  CollectSelectors(**expr, &selectors);
  if (selectors.empty()) return ApiResult{};
  std::vector<ExemplarSeries> res;
  if (metadata_ != nullptr) {
    auto r = metadata_->QueryExemplars(req.tenant(), *start, *end, selectors);
    if (!r.ok()) return FromStatus(r.status());
    res = std::move(*r);
  }
  ApiResult out;
  out.data = "[";
  for (size_t i = 0; i < res.size(); ++i) {
    if (i > 0) out.data.push_back(',');
    out.data += "{\"seriesLabels\":";
    AppendLabels(out.data, res[i].series_labels);
    out.data += ",\"exemplars\":[";
    for (size_t j = 0; j < res[i].exemplars.size(); ++j) {
      const Exemplar& e = res[i].exemplars[j];
      if (j > 0) out.data.push_back(',');
      out.data += "{\"labels\":";
      AppendLabels(out.data, e.labels);
      out.data += ",\"value\":";
      AppendSampleValue(out.data, e.value);
      out.data += ",\"timestamp\":";
      AppendTimestamp(out.data, e.timestamp_ms);
      out.data.push_back('}');
    }
    out.data += "]}";
  }
  out.data.push_back(']');
  return out;
}

ApiResult PrometheusApi::FormatQuery(const net::HttpRequest& req) const {
  auto expr = promql::ParseExpr(req.FormParam("query").value_or(""), engine_->parse_options());
  if (!expr.ok()) return InvalidParam(expr.status(), "query");
  ApiResult out;
  AppendGoJsonString(out.data, promql::PrettyPrint(**expr));
  return out;
}

ApiResult PrometheusApi::BuildInfo() const {
  ApiResult out;
  std::string& d = out.data;
  d = "{\"version\":";
  AppendGoJsonString(d, options_.version);
  d += ",\"revision\":";
  AppendGoJsonString(d, options_.revision.empty() ? std::string(kRevision) : options_.revision);
  d += ",\"branch\":";
  AppendGoJsonString(d, options_.branch);
  d += ",\"buildUser\":";
  AppendGoJsonString(d, options_.build_user);
  d += ",\"buildDate\":";
  AppendGoJsonString(d, options_.build_date);
  d += ",\"goVersion\":";
  AppendGoJsonString(d, options_.go_version);
  d.push_back('}');
  return out;
}

void PrometheusApi::Register(net::Router& router) {
  telemetry::Registry& reg =
      options_.registry != nullptr ? *options_.registry : telemetry::Registry::Default();
  auto* durations = &reg.AddHistogram("prometheus_http_request_duration_seconds",
                                      "Histogram of latencies for HTTP requests.", {"handler"},
                                      {.1, .2, .4, 1, 3, 8, 20, 60, 120});
  auto* requests = &reg.AddCounter("prometheus_http_requests_total", "Counter of HTTP requests.",
                                   {"code", "handler"});

  const auto add = [&](std::string_view pattern, std::function<ApiResult(net::HttpRequest&)> fn) {
    std::string handler(pattern);
    router.Handle(
        "GET,POST", pattern,
        // Each route holds a reference: the API lives as long as the router.
        [self = shared_from_this(), fn = std::move(fn), requests, handler](
            net::HttpRequest& req, net::HttpResponse& resp) {
          Write(fn(req), resp);
          requests->WithLabels({std::to_string(resp.status), handler}).Inc();
        },
        net::RouteOptions{.name = net::RouteNameFromPattern(pattern),
                          .duration_histogram = durations,
                          .duration_labels = net::DurationLabels::kHandler});
  };
  add("/api/v1/query", [this](net::HttpRequest& r) { return Query(r); });
  add("/api/v1/query_range", [this](net::HttpRequest& r) { return QueryRange(r); });
  add("/api/v1/query_exemplars", [this](net::HttpRequest& r) { return QueryExemplars(r); });
  add("/api/v1/format_query", [this](net::HttpRequest& r) { return FormatQuery(r); });
  add("/api/v1/series", [this](net::HttpRequest& r) { return Series(r); });
  add("/api/v1/labels", [this](net::HttpRequest& r) { return LabelNames(r); });
  add("/api/v1/label/{name}/values", [this](net::HttpRequest& r) { return LabelValues(r); });
  add("/api/v1/metadata", [this](net::HttpRequest& r) { return MetricMetadata(r); });
  add("/api/v1/status/buildinfo", [this](net::HttpRequest&) { return BuildInfo(); });
  add("/api/v1/status/config", [this](net::HttpRequest&) {
    ApiResult out;
    out.data = "{\"yaml\":";
    AppendGoJsonString(out.data, options_.config_yaml);
    out.data.push_back('}');
    return out;
  });
  add("/api/v1/targets", [this](net::HttpRequest& r) {
    if (!options_.targets) return Data("{\"activeTargets\":[],\"droppedTargets\":[]}");
    return Data(options_.targets(r.Param("state").value_or("")));
  });
  add("/api/v1/rules", [](net::HttpRequest& req) {
    // No ruler yet: every group list is empty, but the filter is validated
    // as Prometheus does.
    const std::string_view type = req.FormParam("type").value_or("");
    if (!type.empty() && type != "alert" && type != "record") {
      return InvalidParam(
          InvalidArgumentError("not supported value \"" + std::string(type) + "\""), "type");
    }
    return Data("{\"groups\":[]}");
  });
  add("/api/v1/alerts", [](net::HttpRequest&) { return Data("{\"alerts\":[]}"); });
}

}  // namespace

void RegisterPrometheusApi(net::Router& router, Queryable* storage, MetadataSource* metadata,
                           const promql::Engine* engine, const ApiOptions& options) {
  std::make_shared<PrometheusApi>(storage, metadata, engine, options)->Register(router);
}

}  // namespace sightline::metrics::api
