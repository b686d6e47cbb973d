#include "profiles/api/querier_api.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "base/json_writer.h"
#include "net/http.h"
#include "profiles/connect/connect.h"
#include "profiles/query/query.h"
#include "profiles/store/pprof_append.h"
#include "pyroscope/querier/v1/querier.pb.h"
#include "pyroscope/types/v1/types.pb.h"
#include "telemetry/metrics.h"

namespace sightline::profiles {

namespace {

namespace qv1 = querier::v1;
namespace tv1 = types::v1;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Connect requests: 0 means "unset" (Pyroscope then queries recent data).
void FixRange(int64_t* start, int64_t* end) {
  if (*end <= 0) *end = NowMs();
  if (*start <= 0) *start = *end - 3600'000;
}

Result<query::Selection> MakeSelection(const std::string& type, const std::string& selector,
                                       int64_t start, int64_t end) {
  query::Selection sel;
  sel.profile_type = type;
  if (!type.empty()) SL_RETURN_IF_ERROR(ProfileType::Parse(type).status());
  SL_ASSIGN_OR_RETURN(sel.matchers, query::ParseSelector(selector));
  FixRange(&start, &end);
  if (end < start) return InvalidArgumentError("the end of the range is before its start");
  sel.start_ms = start;
  sel.end_ms = end;
  return sel;
}

// Matchers of several selectors, ORed: we take the union of each's result.
Result<std::vector<query::Selection>> Selections(
    const google::protobuf::RepeatedPtrField<std::string>& ms, int64_t start, int64_t end) {
  std::vector<query::Selection> out;
  if (ms.empty()) {
    SL_ASSIGN_OR_RETURN(auto s, MakeSelection("", "", start, end));
    out.push_back(std::move(s));
  }
  for (const auto& m : ms) {
    SL_ASSIGN_OR_RETURN(auto s, MakeSelection("", m, start, end));
    out.push_back(std::move(s));
  }
  return out;
}

void FillFlameGraph(const query::FlameGraph& fg, qv1::FlameGraph* out) {
  for (const auto& n : fg.names) out->add_names(n);
  for (const auto& lv : fg.levels) {
    auto* l = out->add_levels();
    l->mutable_values()->Add(lv.begin(), lv.end());
  }
  out->set_total(fg.total);
  out->set_max_self(fg.max_self);
}

void FillDiff(const query::FlameGraphDiff& d, qv1::FlameGraphDiff* out) {
  for (const auto& n : d.names) out->add_names(n);
  for (const auto& lv : d.levels) {
    auto* l = out->add_levels();
    l->mutable_values()->Add(lv.begin(), lv.end());
  }
  out->set_total(d.total);
  out->set_max_self(d.max_self);
  out->set_leftticks(d.left_ticks);
  out->set_rightticks(d.right_ticks);
}

struct Ctx {
  SegmentSource* src;
  QuerierApiOptions options;
  telemetry::Family<telemetry::Histogram>* duration;
};

template <typename Req, typename Fn>
net::HttpHandler Connect(std::shared_ptr<Ctx> ctx, const char* method, Fn fn) {
  return [ctx, method, fn](net::HttpRequest& req, net::HttpResponse& resp) {
    auto t0 = std::chrono::steady_clock::now();
    Req in;
    Status s = connect::ParseRequest(req, &in);
    if (s.ok()) s = fn(req.tenant(), in, req, resp);
    if (!s.ok()) connect::WriteError(resp, s);
    ctx->duration->WithLabels({method}).Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
}

int64_t MaxNodes(const Ctx* ctx, bool has, int64_t v) {
  if (!has || v <= 0) return ctx->options.default_max_nodes;
  return v;
}

Result<query::Tree> MergeFor(Ctx* ctx, std::string_view tenant,
                             const qv1::SelectMergeStacktracesRequest& r) {
  SL_ASSIGN_OR_RETURN(auto sel,
                      MakeSelection(r.profile_typeid(), r.label_selector(), r.start(), r.end()));
  return query::MergeTree(*ctx->src, tenant, sel);
}

// --- legacy API helpers ---

Result<int64_t> ParseLegacyTime(std::string_view v, int64_t now_ms) {
  if (v.empty() || v == "now") return now_ms;
  if (v.substr(0, 4) == "now-") {
    std::string_view d = v.substr(4);
    if (d.empty()) return InvalidArgumentError("bad relative time");
    char unit = d.back();
    int64_t n = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size() - 1, n);
    if (ec != std::errc() || p != d.data() + d.size() - 1) {
      return InvalidArgumentError(fmt::format("bad relative time \"{}\"", v));
    }
    int64_t mult = unit == 's'   ? 1000
                   : unit == 'm' ? 60'000
                   : unit == 'h' ? 3600'000
                   : unit == 'd' ? 86'400'000
                                 : 0;
    if (mult == 0) return InvalidArgumentError(fmt::format("bad relative time \"{}\"", v));
    return now_ms - n * mult;
  }
  int64_t t = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), t);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return InvalidArgumentError(fmt::format("bad time \"{}\"", v));
  }
  if (t > 100'000'000'000'000) return t / 1000;  // us
  if (t > 100'000'000'000) return t;             // ms
  return t * 1000;
}

// "type{selector}" or legacy "app.cpu{tags}" → profile type + selector.
Status SplitQuery(std::string_view q, std::string* type, std::string* selector) {
  size_t brace = q.find('{');
  std::string head(q.substr(0, brace));
  *selector = brace == std::string_view::npos ? "{}" : std::string(q.substr(brace));
  if (head.find(':') != std::string::npos) {
    *type = head;
    return Status::Ok();
  }
  // Legacy app name: service_name plus a kind suffix.
  std::string app = head, kind = "cpu";
  if (size_t dot = head.rfind('.'); dot != std::string::npos) {
    kind = head.substr(dot + 1);
    app = head.substr(0, dot);
  }
  static const std::map<std::string, std::string> kTypes = {
      {"cpu", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
      {"wall", "wall:wall:nanoseconds:wall:nanoseconds"},
      {"alloc_objects", "memory:alloc_objects:count:space:bytes"},
      {"alloc_space", "memory:alloc_space:bytes:space:bytes"},
      {"inuse_objects", "memory:inuse_objects:count:space:bytes"},
      {"inuse_space", "memory:inuse_space:bytes:space:bytes"},
      {"goroutines", "goroutines:goroutine:count:goroutine:count"},
  };
  auto it = kTypes.find(kind);
  if (it == kTypes.end()) {
    return InvalidArgumentError(fmt::format("query \"{}\": unknown profile kind", q));
  }
  *type = it->second;
  std::string inner = selector->size() >= 2 ? selector->substr(1, selector->size() - 2) : "";
  *selector = fmt::format("{{service_name=\"{}\"{}{}}}", app, inner.empty() ? "" : ",", inner);
  return Status::Ok();
}

std::string Units(const std::string& type) {
  auto pt = ProfileType::Parse(type);
  if (!pt.ok()) return "samples";
  if (pt->sample_unit == "bytes") return "bytes";
  if (pt->name == "goroutines") return "goroutines";
  if (pt->sample_unit == "count" && pt->name == "memory") return "objects";
  if (pt->name == "mutex" || pt->name == "block") {
    return pt->sample_unit == "nanoseconds" ? "lock_nanoseconds" : "lock_samples";
  }
  return "samples";
}

void AppendLevels(std::string& out, const std::vector<std::vector<int64_t>>& levels) {
  out += '[';
  for (size_t i = 0; i < levels.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (size_t j = 0; j < levels[i].size(); ++j) {
      if (j) out += ',';
      out += std::to_string(levels[i][j]);
    }
    out += ']';
  }
  out += ']';
}

void AppendNames(std::string& out, const std::vector<std::string>& names) {
  out += '[';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, names[i]);
  }
  out += ']';
}

Result<std::string> Timeline(Ctx* ctx, std::string_view tenant, const query::Selection& sel) {
  const int64_t range = sel.end_ms - sel.start_ms;
  int64_t step = std::max<int64_t>(10'000, (range / 1000 / 10'000 + 1) * 10'000);
  SL_ASSIGN_OR_RETURN(auto series, query::SelectSeries(*ctx->src, tenant, sel, {}, step,
                                                       query::Aggregation::kSum, 0));
  const int64_t start = sel.start_ms - sel.start_ms % step;
  const int64_t n = (sel.end_ms - start) / step + 1;
  std::vector<double> samples(static_cast<size_t>(std::max<int64_t>(n, 1)), 0);
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      int64_t i = (p.time_ms - start) / step;
      if (i >= 0 && i < static_cast<int64_t>(samples.size())) samples[i] += p.value;
    }
  }
  std::string out = fmt::format("{{\"startTime\":{},\"samples\":[", start / 1000);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{}", static_cast<int64_t>(samples[i]));
  }
  out += fmt::format("],\"durationDelta\":{},\"watermarks\":null}}", step / 1000);
  return out;
}

struct LegacyQuery {
  query::Selection sel;
  std::string type;
  int64_t max_nodes;
};

Result<LegacyQuery> ParseLegacy(Ctx* ctx, const net::HttpRequest& req, const char* q_param,
                                const char* from_param, const char* until_param) {
  LegacyQuery lq;
  std::string selector;
  std::string_view q = req.Param(q_param).value_or("");
  if (q.empty()) return InvalidArgumentError(fmt::format("the {} parameter is required", q_param));
  SL_RETURN_IF_ERROR(SplitQuery(q, &lq.type, &selector));
  const int64_t now = NowMs();
  SL_ASSIGN_OR_RETURN(int64_t from, ParseLegacyTime(req.Param(from_param).value_or("now-1h"), now));
  SL_ASSIGN_OR_RETURN(int64_t until, ParseLegacyTime(req.Param(until_param).value_or("now"), now));
  SL_ASSIGN_OR_RETURN(lq.sel, MakeSelection(lq.type, selector, from, until));
  lq.max_nodes = ctx->options.default_max_nodes;
  if (auto m = req.Param("max-nodes").value_or(req.Param("maxNodes").value_or("")); !m.empty()) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), v);
    if (ec == std::errc() && v > 0) lq.max_nodes = v;
  }
  return lq;
}

void LegacyError(net::HttpResponse& resp, const Status& s) {
  std::string body = "{\"code\":";
  body += std::to_string(net::HttpStatusFromCode(s.code()));
  body += ",\"message\":";
  AppendJsonString(body, s.message());
  body += "}";
  resp.Json(net::HttpStatusFromCode(s.code()), std::move(body));
}

}  // namespace

void RegisterQuerierApi(net::Router& router, SegmentSource* src, QuerierApiOptions options) {
  // Shared by the handlers: lives as long as the router does.
  auto ctx = std::make_shared<Ctx>(Ctx{src, options, nullptr});
  ctx->duration = &telemetry::Registry::Default().AddHistogram(
      "pyroscope_query_duration_seconds", "Time spent answering profile queries.", {"method"},
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  net::RouteOptions o;
  const std::string base = "/querier.v1.QuerierService/";
  auto route = [&](const std::string& method, net::HttpHandler h) {
    o.name = "querier_v1_querierservice_" + method;
    router.Handle("POST", base + method, std::move(h), o);
  };

  route("ProfileTypes", Connect<qv1::ProfileTypesRequest>(
                            ctx, "ProfileTypes",
                            [ctx](std::string_view tenant, const qv1::ProfileTypesRequest& r,
                                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
                              int64_t start = r.start(), end = r.end();
                              FixRange(&start, &end);
                              // Health checks ask for 1-4 s after the epoch: answer quickly.
                              SL_ASSIGN_OR_RETURN(
                                  auto types, query::ProfileTypes(*ctx->src, tenant, start, end));
                              qv1::ProfileTypesResponse out;
                              for (const auto& id : types) {
                                auto pt = ProfileType::Parse(id);
                                if (!pt.ok()) continue;
                                auto* t = out.add_profile_types();
                                t->set_id(id);
                                t->set_name(pt->name);
                                t->set_sample_type(pt->sample_type);
                                t->set_sample_unit(pt->sample_unit);
                                t->set_period_type(pt->period_type);
                                t->set_period_unit(pt->period_unit);
                              }
                              connect::WriteResponse(req, resp, out);
                              return Status::Ok();
                            }));

  route("LabelNames",
        Connect<tv1::LabelNamesRequest>(
            ctx, "LabelNames",
            [ctx](std::string_view tenant, const tv1::LabelNamesRequest& r,
                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
              SL_ASSIGN_OR_RETURN(auto sels, Selections(r.matchers(), r.start(), r.end()));
              std::set<std::string> names;
              for (const auto& sel : sels) {
                SL_ASSIGN_OR_RETURN(auto n, query::LabelNames(*ctx->src, tenant, sel));
                names.insert(n.begin(), n.end());
              }
              tv1::LabelNamesResponse out;
              for (const auto& n : names) out.add_names(n);
              connect::WriteResponse(req, resp, out);
              return Status::Ok();
            }));

  route("LabelValues",
        Connect<tv1::LabelValuesRequest>(
            ctx, "LabelValues",
            [ctx](std::string_view tenant, const tv1::LabelValuesRequest& r,
                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
              if (r.name().empty()) return InvalidArgumentError("name is required");
              SL_ASSIGN_OR_RETURN(auto sels, Selections(r.matchers(), r.start(), r.end()));
              std::set<std::string> values;
              for (const auto& sel : sels) {
                SL_ASSIGN_OR_RETURN(auto v, query::LabelValues(*ctx->src, tenant, sel, r.name()));
                values.insert(v.begin(), v.end());
              }
              tv1::LabelValuesResponse out;
              for (const auto& v : values) out.add_names(v);
              connect::WriteResponse(req, resp, out);
              return Status::Ok();
            }));

  route("Series",
        Connect<qv1::SeriesRequest>(
            ctx, "Series",
            [ctx](std::string_view tenant, const qv1::SeriesRequest& r, const net::HttpRequest& req,
                  net::HttpResponse& resp) -> Status {
              SL_ASSIGN_OR_RETURN(auto sels, Selections(r.matchers(), r.start(), r.end()));
              std::vector<std::string> names(r.label_names().begin(), r.label_names().end());
              std::set<Labels> sets;
              for (const auto& sel : sels) {
                SL_ASSIGN_OR_RETURN(auto v, query::Series(*ctx->src, tenant, sel, names));
                sets.insert(v.begin(), v.end());
              }
              qv1::SeriesResponse out;
              for (const auto& ls : sets) {
                auto* l = out.add_labels_set();
                for (const auto& [n, v] : ls) {
                  auto* p = l->add_labels();
                  p->set_name(n);
                  p->set_value(v);
                }
              }
              connect::WriteResponse(req, resp, out);
              return Status::Ok();
            }));

  route("SelectMergeStacktraces",
        Connect<qv1::SelectMergeStacktracesRequest>(
            ctx, "SelectMergeStacktraces",
            [ctx](std::string_view tenant, const qv1::SelectMergeStacktracesRequest& r,
                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
              if (r.format() == qv1::PROFILE_FORMAT_TREE) {
                return UnimplementedError("format PROFILE_FORMAT_TREE is not supported");
              }
              SL_ASSIGN_OR_RETURN(auto tree, MergeFor(ctx.get(), tenant, r));
              qv1::SelectMergeStacktracesResponse out;
              FillFlameGraph(
                  query::ToFlameGraph(tree, MaxNodes(ctx.get(), r.has_max_nodes(), r.max_nodes())),
                  out.mutable_flamegraph());
              connect::WriteResponse(req, resp, out);
              return Status::Ok();
            }));

  route(
      "SelectMergeSpanProfile",
      Connect<qv1::SelectMergeSpanProfileRequest>(
          ctx, "SelectMergeSpanProfile",
          [ctx](std::string_view tenant, const qv1::SelectMergeSpanProfileRequest& r,
                const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
            SL_ASSIGN_OR_RETURN(auto sel, MakeSelection(r.profile_typeid(), r.label_selector(),
                                                        r.start(), r.end()));
            sel.span_ids.emplace();
            for (const auto& id : r.span_selector()) {
              uint64_t v = ParseSpanId(id);
              if (v == 0) {
                return InvalidArgumentError(fmt::format("span id \"{}\" is not 16 hex digits", id));
              }
              sel.span_ids->insert(v);
            }
            SL_ASSIGN_OR_RETURN(auto tree, query::MergeTree(*ctx->src, tenant, sel));
            qv1::SelectMergeSpanProfileResponse out;
            FillFlameGraph(
                query::ToFlameGraph(tree, MaxNodes(ctx.get(), r.has_max_nodes(), r.max_nodes())),
                out.mutable_flamegraph());
            connect::WriteResponse(req, resp, out);
            return Status::Ok();
          }));

  route("SelectMergeProfile",
        Connect<qv1::SelectMergeProfileRequest>(
            ctx, "SelectMergeProfile",
            [ctx](std::string_view tenant, const qv1::SelectMergeProfileRequest& r,
                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
              SL_ASSIGN_OR_RETURN(auto sel, MakeSelection(r.profile_typeid(), r.label_selector(),
                                                          r.start(), r.end()));
              if (sel.profile_type.empty())
                return InvalidArgumentError("profile_typeID is required");
              SL_ASSIGN_OR_RETURN(std::string pprof, query::MergeProfile(*ctx->src, tenant, sel));
              perftools::profiles::Profile p;
              if (!p.ParseFromString(pprof)) return InternalError("merged profile does not parse");
              connect::WriteResponse(req, resp, p);
              return Status::Ok();
            }));

  route("SelectSeries",
        Connect<qv1::SelectSeriesRequest>(
            ctx, "SelectSeries",
            [ctx](std::string_view tenant, const qv1::SelectSeriesRequest& r,
                  const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
              SL_ASSIGN_OR_RETURN(auto sel, MakeSelection(r.profile_typeid(), r.label_selector(),
                                                          r.start(), r.end()));
              if (!(r.step() >= 0) || !std::isfinite(r.step())) {
                return InvalidArgumentError("step must be a positive number of seconds");
              }
              int64_t step_ms = static_cast<int64_t>(r.step() * 1000);
              std::vector<std::string> group_by(r.group_by().begin(), r.group_by().end());
              auto agg = r.has_aggregation() &&
                                 r.aggregation() == tv1::TIME_SERIES_AGGREGATION_TYPE_AVERAGE
                             ? query::Aggregation::kAverage
                             : query::Aggregation::kSum;
              SL_ASSIGN_OR_RETURN(
                  auto series, query::SelectSeries(*ctx->src, tenant, sel, group_by, step_ms, agg,
                                                   r.has_limit() ? r.limit() : 0));
              qv1::SelectSeriesResponse out;
              for (const auto& s : series) {
                auto* os = out.add_series();
                for (const auto& [n, v] : s.labels) {
                  auto* l = os->add_labels();
                  l->set_name(n);
                  l->set_value(v);
                }
                for (const auto& p : s.points) {
                  auto* op = os->add_points();
                  op->set_timestamp(p.time_ms);
                  op->set_value(p.value);
                }
              }
              connect::WriteResponse(req, resp, out);
              return Status::Ok();
            }));

  route("Diff", Connect<qv1::DiffRequest>(
                    ctx, "Diff",
                    [ctx](std::string_view tenant, const qv1::DiffRequest& r,
                          const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
                      SL_ASSIGN_OR_RETURN(auto left, MergeFor(ctx.get(), tenant, r.left()));
                      SL_ASSIGN_OR_RETURN(auto right, MergeFor(ctx.get(), tenant, r.right()));
                      int64_t max_nodes =
                          MaxNodes(ctx.get(), r.left().has_max_nodes(), r.left().max_nodes());
                      qv1::DiffResponse out;
                      FillDiff(query::Diff(left, right, max_nodes), out.mutable_flamegraph());
                      connect::WriteResponse(req, resp, out);
                      return Status::Ok();
                    }));

  route(
      "GetProfileStats",
      Connect<tv1::GetProfileStatsRequest>(
          ctx, "GetProfileStats",
          [ctx](std::string_view tenant, const tv1::GetProfileStatsRequest&,
                const net::HttpRequest& req, net::HttpResponse& resp) -> Status {
            int64_t oldest = INT64_MAX, newest = INT64_MIN;
            SL_RETURN_IF_ERROR(ctx->src->View(tenant, INT64_MIN, INT64_MAX, [&](const Segment& s) {
              if (s.empty()) return;
              oldest = std::min(oldest, s.min_time());
              newest = std::max(newest, s.max_time());
            }));
            tv1::GetProfileStatsResponse out;
            out.set_data_ingested(newest != INT64_MIN);
            if (newest != INT64_MIN) {
              out.set_oldest_profile_time(oldest);
              out.set_newest_profile_time(newest);
            }
            connect::WriteResponse(req, resp, out);
            return Status::Ok();
          }));

  // --- legacy JSON API ---
  o.name = "pyroscope_render";
  router.Handle(
      "GET,POST", "/pyroscope/render",
      [ctx](net::HttpRequest& req, net::HttpResponse& resp) {
        auto lq = ParseLegacy(ctx.get(), req, "query", "from", "until");
        if (!lq.ok()) return LegacyError(resp, lq.status());
        auto tree = query::MergeTree(*ctx->src, req.tenant(), lq->sel);
        if (!tree.ok()) return LegacyError(resp, tree.status());
        auto fg = query::ToFlameGraph(*tree, lq->max_nodes);
        auto timeline = Timeline(ctx.get(), req.tenant(), lq->sel);
        if (!timeline.ok()) return LegacyError(resp, timeline.status());
        std::string out = "{\"version\":1,\"flamebearer\":{\"names\":";
        AppendNames(out, fg.names);
        out += ",\"levels\":";
        AppendLevels(out, fg.levels);
        out += fmt::format(",\"numTicks\":{},\"maxSelf\":{}}}", fg.total, fg.max_self);
        out +=
            ",\"metadata\":{\"format\":\"single\",\"spyName\":\"\",\"sampleRate\":100,\"units\":";
        AppendJsonString(out, Units(lq->type));
        out += ",\"name\":";
        AppendJsonString(out, lq->type);
        out += "},\"timeline\":" + *timeline + ",\"groups\":null,\"heatmap\":null}";
        resp.Json(200, std::move(out));
      },
      o);

  o.name = "pyroscope_render_diff";
  router.Handle(
      "GET,POST", "/pyroscope/render-diff",
      [ctx](net::HttpRequest& req, net::HttpResponse& resp) {
        auto left = ParseLegacy(ctx.get(), req, "leftQuery", "leftFrom", "leftUntil");
        if (!left.ok()) return LegacyError(resp, left.status());
        auto right = ParseLegacy(ctx.get(), req, "rightQuery", "rightFrom", "rightUntil");
        if (!right.ok()) return LegacyError(resp, right.status());
        auto lt = query::MergeTree(*ctx->src, req.tenant(), left->sel);
        if (!lt.ok()) return LegacyError(resp, lt.status());
        auto rt = query::MergeTree(*ctx->src, req.tenant(), right->sel);
        if (!rt.ok()) return LegacyError(resp, rt.status());
        auto d = query::Diff(*lt, *rt, left->max_nodes);
        std::string out = "{\"version\":1,\"flamebearer\":{\"names\":";
        AppendNames(out, d.names);
        out += ",\"levels\":";
        AppendLevels(out, d.levels);
        out += fmt::format(",\"numTicks\":{},\"maxSelf\":{}}}", d.total, d.max_self);
        out +=
            ",\"metadata\":{\"format\":\"double\",\"spyName\":\"\",\"sampleRate\":100,\"units\":";
        AppendJsonString(out, Units(left->type));
        out += ",\"name\":";
        AppendJsonString(out, left->type);
        out += fmt::format("}},\"leftTicks\":{},\"rightTicks\":{}", d.left_ticks, d.right_ticks);
        auto tl = Timeline(ctx.get(), req.tenant(), right->sel);
        if (!tl.ok()) return LegacyError(resp, tl.status());
        out += ",\"timeline\":" + *tl + "}";
        resp.Json(200, std::move(out));
      },
      o);

  auto legacy_labels = [ctx](net::HttpRequest& req, net::HttpResponse& resp, bool values) {
    const int64_t now = NowMs();
    auto from = ParseLegacyTime(req.Param("from").value_or("now-1h"), now);
    auto until = ParseLegacyTime(req.Param("until").value_or("now"), now);
    if (!from.ok()) return LegacyError(resp, from.status());
    if (!until.ok()) return LegacyError(resp, until.status());
    std::string type, selector = "{}";
    if (auto q = req.Param("query"); q && !q->empty()) {
      Status s = SplitQuery(*q, &type, &selector);
      if (!s.ok()) return LegacyError(resp, s);
    }
    auto sel = MakeSelection(type, selector, *from, *until);
    if (!sel.ok()) return LegacyError(resp, sel.status());
    std::string label(req.Param("label").value_or(""));
    if (values && label.empty())
      return LegacyError(resp, InvalidArgumentError("label is required"));
    auto r = values ? query::LabelValues(*ctx->src, req.tenant(), *sel, label)
                    : query::LabelNames(*ctx->src, req.tenant(), *sel);
    if (!r.ok()) return LegacyError(resp, r.status());
    std::string out;
    AppendNames(out, *r);
    resp.Json(200, std::move(out));
  };
  o.name = "pyroscope_label_values";
  router.Handle(
      "GET", "/pyroscope/label-values",
      [legacy_labels](net::HttpRequest& req, net::HttpResponse& resp) {
        legacy_labels(req, resp, true);
      },
      o);
  o.name = "pyroscope_labels";
  router.Handle(
      "GET", "/pyroscope/labels",
      [legacy_labels](net::HttpRequest& req, net::HttpResponse& resp) {
        legacy_labels(req, resp, false);
      },
      o);
}

}  // namespace sightline::profiles
