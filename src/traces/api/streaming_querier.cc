// The only translation unit that includes the generated tempopb gRPC code.
#include "traces/api/streaming_querier.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "net/grpc_server.h"
#include "net/grpc_status.h"
#include "net/tenant.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "telemetry/metrics.h"
#include "tempo/tempo.grpc.pb.h"
#include "traces/api/api_util.h"
#include "traces/api/tempo_search.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/store/store.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::api {

namespace {

namespace tql = traceql;

constexpr uint64_t kNanosPerSecond = 1'000'000'000ull;
constexpr uint64_t kNanosPerMilli = 1'000'000ull;

// ------------------------------------------------------------ conversions

template <typename Repeated>
void AddKeyValues(const std::vector<KeyValue>& kvs, Repeated* out) {
  for (const auto& kv : kvs) ingest::AttributeToOtlp(kv, out->Add());
}

void ToProto(const tql::SpanSetResult& ss, tempopb::SpanSet* out) {
  for (const auto& sp : ss.spans) {
    auto* s = out->add_spans();
    s->set_span_id(sp.span_id);
    s->set_name(sp.name);
    s->set_start_time_unix_nano(sp.start_unix_nano);
    s->set_duration_nanos(sp.duration_nanos);
    AddKeyValues(sp.attributes, s->mutable_attributes());
  }
  out->set_matched(ss.matched);
  AddKeyValues(ss.attributes, out->mutable_attributes());
}

// Progress accounting as the HTTP API reports it (`done` false: the
// metrics calls' first message, before their one job ran).
void SetMetrics(const tql::SearchMetrics& m, bool done, tempopb::SearchMetrics* out) {
  out->set_inspected_traces(static_cast<uint32_t>(m.inspected_traces));
  out->set_inspected_bytes(m.inspected_bytes);
  out->set_inspected_spans(m.inspected_spans);
  out->set_total_jobs(m.total_jobs);
  out->set_completed_jobs(done ? m.completed_jobs : 0);
  out->set_total_blocks(m.total_blocks);
  out->set_total_block_bytes(m.total_block_bytes);
}

struct StreamMetrics {
  telemetry::Family<telemetry::Counter>* searches;
  telemetry::Counter* jobs;
  StreamMetrics() {
    auto& r = telemetry::Registry::Default();
    searches = &r.AddCounter("sightline_traces_streaming_searches_total",
                             "Streamed searches (tempopb.StreamingQuerier/Search) by outcome.",
                             {"outcome"});
    jobs = &r.AddCounter("sightline_traces_streaming_search_jobs_total",
                         "Search jobs scanned and streamed by the streaming querier.", {})
                .WithLabels({});
  }
};

void SetDone(tempopb::MetadataMetrics* out) {
  out->set_total_jobs(1);
  out->set_completed_jobs(1);
}

void AddTraces(const std::vector<tql::TraceSearchResult>& traces, tempopb::SearchResponse* out) {
  for (const auto& t : traces) {
    auto* m = out->add_traces();
    m->set_trace_id(t.trace_id);
    m->set_root_service_name(t.root_service_name);
    m->set_root_trace_name(t.root_trace_name);
    m->set_start_time_unix_nano(t.start_unix_nano);
    m->set_duration_ms(t.duration_ms);
    if (!t.span_sets.empty()) {
      ToProto(t.span_sets[0], m->mutable_span_set());
      for (const auto& ss : t.span_sets) ToProto(ss, m->add_span_sets());
    }
    for (const auto& st : t.service_stats) {
      auto& s = (*m->mutable_service_stats())[st.service];
      s.set_span_count(st.span_count);
      s.set_error_count(st.error_count);
    }
  }
}

void ToProto(const tql::MetricsResponse& r, tempopb::QueryRangeResponse* out) {
  for (const auto& s : r.series) {
    auto* ts = out->add_series();
    AddKeyValues(s.labels, ts->mutable_labels());
    for (const auto& p : s.samples) {
      auto* sample = ts->add_samples();
      sample->set_timestamp_ms(p.timestamp_ms);
      sample->set_value(p.value);
    }
    ts->set_prom_labels(s.prom_labels);
    for (const auto& e : s.exemplars) {
      auto* ex = ts->add_exemplars();
      AddKeyValues(e.labels, ex->mutable_labels());
      ex->set_value(e.value);
      ex->set_timestamp_ms(e.timestamp_ms);
    }
  }
  SetMetrics(r.metrics, /*done=*/true, out->mutable_metrics());
}

bool SameExemplar(const tql::Exemplar& a, const tql::Exemplar& b) {
  if (a.timestamp_ms != b.timestamp_ms || a.value != b.value ||
      a.labels.size() != b.labels.size()) {
    return false;
  }
  for (size_t i = 0; i < a.labels.size(); ++i) {
    const auto* x = std::get_if<std::string>(&a.labels[i].value.v);
    const auto* y = std::get_if<std::string>(&b.labels[i].value.v);
    if (a.labels[i].key != b.labels[i].key || !x || !y || *x != *y) return false;
  }
  return true;
}

// What `cur` adds to `prev` (both sorted by prom_labels): series that are
// new, and for known series the samples that are new or changed and the
// exemplars that are new — Tempo's streamed diff for query_range. Series
// that disappear (a topk or filter on partial data) cannot be expressed;
// Tempo has the same limit.
std::vector<tql::MetricsSeries> DiffSeries(const std::vector<tql::MetricsSeries>& prev,
                                           const std::vector<tql::MetricsSeries>& cur) {
  std::map<std::string_view, const tql::MetricsSeries*> old;
  for (const auto& s : prev) old[s.prom_labels] = &s;
  std::vector<tql::MetricsSeries> out;
  for (const auto& s : cur) {
    auto it = old.find(s.prom_labels);
    if (it == old.end()) {
      out.push_back(s);
      continue;
    }
    const tql::MetricsSeries& p = *it->second;
    tql::MetricsSeries d;
    std::map<int64_t, double> before;
    for (const auto& smp : p.samples) before[smp.timestamp_ms] = smp.value;
    for (const auto& smp : s.samples) {
      auto b = before.find(smp.timestamp_ms);
      if (b == before.end() || b->second != smp.value) d.samples.push_back(smp);
    }
    for (const auto& e : s.exemplars) {
      bool seen = false;
      for (const auto& pe : p.exemplars) seen = seen || SameExemplar(e, pe);
      if (!seen) d.exemplars.push_back(e);
    }
    if (d.samples.empty() && d.exemplars.empty()) continue;
    d.labels = s.labels;
    d.prom_labels = s.prom_labels;
    out.push_back(std::move(d));
  }
  return out;
}

// What `cur` changes in `prev` (both sorted by prom_labels): series that
// are new or whose value changed, with their current value (Tempo sends
// an instant query's progress as its query_range diff translated).
std::vector<tql::InstantSeries> DiffInstant(const std::vector<tql::InstantSeries>& prev,
                                            const std::vector<tql::InstantSeries>& cur) {
  std::map<std::string_view, double> old;
  for (const auto& s : prev) old[s.prom_labels] = s.value;
  std::vector<tql::InstantSeries> out;
  for (const auto& s : cur) {
    auto it = old.find(s.prom_labels);
    if (it == old.end() || it->second != s.value) out.push_back(s);
  }
  return out;
}

void ToProto(const std::vector<tql::InstantSeries>& series, const tql::SearchMetrics& m,
             tempopb::QueryInstantResponse* out) {
  for (const auto& s : series) {
    auto* is = out->add_series();
    AddKeyValues(s.labels, is->mutable_labels());
    is->set_value(s.value);
    is->set_prom_labels(s.prom_labels);
  }
  SetMetrics(m, /*done=*/true, out->mutable_metrics());
}

// Tempo's query-frontend cadence: progress goes out when a job completes
// and at least `interval` has passed since the previous message.
class Cadence {
 public:
  explicit Cadence(std::chrono::milliseconds interval)
      : interval_(interval), last_(std::chrono::steady_clock::now()) {}
  bool Due() const { return std::chrono::steady_clock::now() - last_ >= interval_; }
  void Sent() { last_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_;
};

// Tempo: the request's max_series when set and within the limit, else the
// limit (0: none).
uint32_t EffectiveMaxSeries(uint32_t requested, uint32_t limit) {
  if (limit > 0 && (requested == 0 || requested > limit)) return limit;
  return requested;
}

// The legacy `tags` map as the logfmt text TagsToTraceQL reads (sorted by
// key: map order on the wire is unspecified).
std::string TagsToLogfmt(const google::protobuf::Map<std::string, std::string>& tags) {
  std::map<std::string, std::string> sorted(tags.begin(), tags.end());
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out += ' ';
    out += k;
    out += "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

uint64_t SecondsToNanos(uint32_t s) { return static_cast<uint64_t>(s) * kNanosPerSecond; }

// ---------------------------------------------------------------- service

class Service final : public tempopb::StreamingQuerier::Service {
 public:
  Service(store::TraceStore* store, StreamingQuerierOptions options)
      : store_(store), options_(options) {}

  grpc::Status Search(grpc::ServerContext* ctx, const tempopb::SearchRequest* req,
                      grpc::ServerWriter<tempopb::SearchResponse>* writer) override {
    std::string tenant;
    if (grpc::Status s = Tenant(ctx, &tenant); !s.ok()) return s;
    tql::SearchRequest sr;
    sr.start_unix_nano = SecondsToNanos(req->start());
    sr.end_unix_nano = SecondsToNanos(req->end());
    sr.limit = req->limit();
    sr.spans_per_span_set = req->spans_per_span_set();
    sr.min_duration_nano = req->min_duration_ms() * kNanosPerMilli;
    sr.max_duration_nano = req->max_duration_ms() * kNanosPerMilli;
    sr.query = req->query();
    if (sr.query.empty() && !req->tags().empty()) {
      auto q = tql::TagsToTraceQL(TagsToLogfmt(req->tags()));
      if (!q.ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "invalid tags: " + q.status().message());
      }
      sr.query = *q;
    }
    if (sr.query.empty()) sr.query = "{}";
    // Tempo's frontend limits, as the HTTP API checks them.
    if (auto parsed = tql::Parse(sr.query); !parsed.ok()) return net::ToGrpcStatus(parsed.status());
    if (std::string e = CheckSearchRange(options_.limits, tenant, sr.start_unix_nano,
                                         sr.end_unix_nano);
        !e.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e);
    }
    if (std::string e = options_.limits.CheckSpansPerSpanSet(sr.spans_per_span_set); !e.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e);
    }
    // Jobs as Tempo's frontend cuts them; after each, the traces it found
    // (a diff: each trace is sent once) and the cumulative metrics.
    auto plan = store_->PlanScan(tenant, sr.start_unix_nano, sr.end_unix_nano);
    if (!plan.ok()) return net::ToGrpcStatus(plan.status());
    tql::SearchJobOptions jo;
    jo.target_bytes_per_job = options_.search_target_bytes_per_job;
    // Traces found since the last message; sent on the cadence, the rest
    // with the final message (completed_jobs == total_jobs).
    std::vector<tql::TraceSearchResult> pending;
    Cadence cadence(options_.stream_interval);
    auto send = [&](const tql::SearchMetrics& m) {
      tempopb::SearchResponse out;
      std::stable_sort(pending.begin(), pending.end(),
                       [](const auto& a, const auto& b) { return a.start_unix_nano > b.start_unix_nano; });
      AddTraces(pending, &out);
      pending.clear();
      SetMetrics(m, /*done=*/true, out.mutable_metrics());
      cadence.Sent();
      return !ctx->IsCancelled() && writer->Write(out);
    };
    auto on_job = [&](tql::SearchProgress& p) {
      metrics_.jobs->Inc();
      // A trace sent again (its parts combined) replaces its pending copy.
      for (auto& t : p.traces) {
        auto same = std::find_if(pending.begin(), pending.end(),
                                 [&](const auto& o) { return o.trace_id == t.trace_id; });
        if (same != pending.end()) {
          *same = std::move(t);
        } else {
          pending.push_back(std::move(t));
        }
      }
      if (ctx->IsCancelled()) return false;
      const bool last = p.metrics.completed_jobs >= p.metrics.total_jobs;
      if (last || !cadence.Due()) return true;
      return send(p.metrics);
    };
    auto r = tql::SearchJobs(**plan, sr, jo, on_job, [ctx] { return ctx->IsCancelled(); });
    if (!r.ok()) {
      const bool cancelled = r.status().code() == StatusCode::kCancelled;
      metrics_.searches->WithLabels({cancelled ? "cancelled" : "error"}).Inc();
      return cancelled ? Cancelled() : net::ToGrpcStatus(r.status());
    }
    if (!send(r->metrics)) {
      metrics_.searches->WithLabels({"cancelled"}).Inc();
      return Cancelled();
    }
    metrics_.searches->WithLabels({"ok"}).Inc();
    return grpc::Status::OK;
  }

  grpc::Status SearchTags(grpc::ServerContext* ctx, const tempopb::SearchTagsRequest* req,
                          grpc::ServerWriter<tempopb::SearchTagsResponse>* writer) override {
    std::vector<tql::TagScope> scopes;
    if (grpc::Status s = Tags(ctx, *req, &scopes); !s.ok()) return s;
    // The v1 list: span and resource names together, as the HTTP API.
    std::set<std::string> names;
    for (const auto& s : scopes) {
      if (s.name == "span" || s.name == "resource") names.insert(s.tags.begin(), s.tags.end());
    }
    tempopb::SearchTagsResponse out;
    for (const auto& n : names) out.add_tag_names(n);
    SetDone(out.mutable_metrics());
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
  }

  grpc::Status SearchTagsV2(grpc::ServerContext* ctx, const tempopb::SearchTagsRequest* req,
                            grpc::ServerWriter<tempopb::SearchTagsV2Response>* writer) override {
    std::vector<tql::TagScope> scopes;
    if (grpc::Status s = Tags(ctx, *req, &scopes); !s.ok()) return s;
    tempopb::SearchTagsV2Response out;
    for (const auto& s : scopes) {
      auto* scope = out.add_scopes();
      scope->set_name(s.name);
      for (const auto& t : s.tags) scope->add_tags(t);
    }
    SetDone(out.mutable_metrics());
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
  }

  grpc::Status SearchTagValues(
      grpc::ServerContext* ctx, const tempopb::SearchTagValuesRequest* req,
      grpc::ServerWriter<tempopb::SearchTagValuesResponse>* writer) override {
    std::vector<tql::TagValue> values;
    if (grpc::Status s = TagValues(ctx, *req, /*v2=*/false, &values); !s.ok()) return s;
    tempopb::SearchTagValuesResponse out;
    for (const auto& v : values) out.add_tag_values(v.value);
    SetDone(out.mutable_metrics());
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
  }

  grpc::Status SearchTagValuesV2(
      grpc::ServerContext* ctx, const tempopb::SearchTagValuesRequest* req,
      grpc::ServerWriter<tempopb::SearchTagValuesV2Response>* writer) override {
    std::vector<tql::TagValue> values;
    if (grpc::Status s = TagValues(ctx, *req, /*v2=*/true, &values); !s.ok()) return s;
    tempopb::SearchTagValuesV2Response out;
    for (const auto& v : values) {
      auto* tv = out.add_tag_values();
      tv->set_type(v.type);
      tv->set_value(v.value);
    }
    SetDone(out.mutable_metrics());
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
  }

  grpc::Status MetricsQueryRange(grpc::ServerContext* ctx, const tempopb::QueryRangeRequest* req,
                                 grpc::ServerWriter<tempopb::QueryRangeResponse>* writer) override {
    std::string tenant;
    if (grpc::Status s = Tenant(ctx, &tenant); !s.ok()) return s;
    tql::MetricsRequest mr;
    if (grpc::Status s = MetricsBase(req->query(), req->start(), req->end(), &mr); !s.ok()) {
      return s;
    }
    mr.step_nano = req->step();
    mr.exemplars = options_.limits.Exemplars(req->exemplars());
    mr.max_series = EffectiveMaxSeries(req->max_series(), options_.max_series);
    mr.max_duration_nano = options_.limits.MetricsMaxDuration(tenant);
    // Jobs as for Search; after each, what changed since the previous
    // message (new series, new or changed samples and exemplars: Tempo's
    // diff), with cumulative metrics.
    auto range = tql::MetricsScanRange(mr);
    if (!range.ok()) return net::ToGrpcStatus(range.status());
    auto plan = store_->PlanScan(tenant, range->first, range->second);
    if (!plan.ok()) return net::ToGrpcStatus(plan.status());
    tql::SearchJobOptions jo;
    jo.target_bytes_per_job = options_.search_target_bytes_per_job;
    return StreamMetricsJobs<tempopb::QueryRangeResponse, tql::MetricsSeries>(
        ctx, writer, mr.max_series,
        [&](const auto& on_job, const auto& cancelled) {
          return tql::MetricsQueryRangeJobs(**plan, mr, jo, on_job, cancelled);
        },
        [](const std::vector<tql::MetricsSeries>& prev,
           const std::vector<tql::MetricsSeries>& series, const tql::SearchMetrics& m,
           tempopb::QueryRangeResponse* out) {
          tql::MetricsResponse diff;
          diff.series = DiffSeries(prev, series);
          diff.metrics = m;
          ToProto(diff, out);
        });
  }

  grpc::Status MetricsQueryInstant(
      grpc::ServerContext* ctx, const tempopb::QueryInstantRequest* req,
      grpc::ServerWriter<tempopb::QueryInstantResponse>* writer) override {
    std::string tenant;
    if (grpc::Status s = Tenant(ctx, &tenant); !s.ok()) return s;
    tql::MetricsRequest mr;
    if (grpc::Status s = MetricsBase(req->query(), req->start(), req->end(), &mr); !s.ok()) {
      return s;
    }
    mr.max_series = options_.max_series;  // QueryInstantRequest has no max_series
    mr.max_duration_nano = options_.limits.MetricsMaxDuration(tenant);
    // The jobs of query_range with one step over [start, end); progress as
    // the series new or changed since the last message, on the cadence.
    auto range = tql::MetricsInstantScanRange(mr);
    if (!range.ok()) return net::ToGrpcStatus(range.status());
    auto plan = store_->PlanScan(tenant, range->first, range->second);
    if (!plan.ok()) return net::ToGrpcStatus(plan.status());
    tql::SearchJobOptions jo;
    jo.target_bytes_per_job = options_.search_target_bytes_per_job;
    return StreamMetricsJobs<tempopb::QueryInstantResponse, tql::InstantSeries>(
        ctx, writer, mr.max_series,
        [&](const auto& on_job, const auto& cancelled) {
          return tql::MetricsQueryInstantJobs(**plan, mr, jo, on_job, cancelled);
        },
        [](const std::vector<tql::InstantSeries>& prev,
           const std::vector<tql::InstantSeries>& series, const tql::SearchMetrics& m,
           tempopb::QueryInstantResponse* out) { ToProto(DiffInstant(prev, series), m, out); });
  }

 private:
  // A metrics query's jobs streamed as Tempo's frontend does: on the
  // cadence, what changed since the previous message (`encode` writes the
  // diff of `series` against `prev` with the cumulative metrics), marked
  // PARTIAL when max_series cut the answer; the last message always goes.
  // `run(on_job, cancelled)` runs the jobs and returns the final answer.
  template <typename Response, typename Series, typename Run, typename Encode>
  grpc::Status StreamMetricsJobs(grpc::ServerContext* ctx, grpc::ServerWriter<Response>* writer,
                                 uint32_t max_series, Run run, Encode encode) {
    std::vector<Series> prev;  // as of the last message
    Cadence cadence(options_.stream_interval);
    auto send = [&](const std::vector<Series>& series, const tql::SearchMetrics& m,
                    bool partial) {
      Response out;
      encode(prev, series, m, &out);
      if (partial) {
        out.set_status(tempopb::PARTIAL);
        out.set_message(tql::MaxSeriesMessage(max_series));
      }
      prev = series;
      cadence.Sent();
      return !ctx->IsCancelled() && writer->Write(out);
    };
    auto r = run(
        [&](auto& p) {
          if (ctx->IsCancelled()) return false;
          return !cadence.Due() || send(p.series, p.metrics, p.partial);
        },
        [ctx] { return ctx->IsCancelled(); });
    if (!r.ok()) {
      return r.status().code() == StatusCode::kCancelled ? Cancelled()
                                                         : net::ToGrpcStatus(r.status());
    }
    return send(r->series, r->metrics, r->partial) ? grpc::Status::OK : Cancelled();
  }

  static grpc::Status Cancelled() {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }

  grpc::Status Tenant(grpc::ServerContext* ctx, std::string* tenant) const {
    std::optional<std::string_view> org;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("x-scope-orgid"); it != md.end()) {
      org = std::string_view(it->second.data(), it->second.size());
    }
    auto t = net::ResolveTenant(org, options_.multitenancy);
    if (!t.ok()) return net::ToGrpcStatus(t.status());
    *tenant = std::move(t).value();
    return grpc::Status::OK;
  }

  // start/end in Unix ns, defaulted as the HTTP API defaults them.
  static grpc::Status MetricsBase(const std::string& query, uint64_t start, uint64_t end,
                                  tql::MetricsRequest* mr) {
    if (query.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "missing query: a TraceQL metrics query");
    }
    mr->query = query;
    mr->start_unix_nano = start;
    mr->end_unix_nano = end;
    DefaultMetricsRange(&mr->start_unix_nano, &mr->end_unix_nano);
    return grpc::Status::OK;
  }

  grpc::Status Tags(grpc::ServerContext* ctx, const tempopb::SearchTagsRequest& req,
                    std::vector<tql::TagScope>* out) {
    std::string tenant;
    if (grpc::Status s = Tenant(ctx, &tenant); !s.ok()) return s;
    tql::TagNamesRequest tr;
    tr.scope = req.scope();
    tr.query = req.query();
    tr.start_unix_nano = SecondsToNanos(req.start());
    tr.end_unix_nano = SecondsToNanos(req.end());
    tr.limit = req.max_tags_per_scope();
    auto source = store_->Source(tenant);
    auto r = tql::TagNames(*source, tr);
    if (!r.ok()) return net::ToGrpcStatus(r.status());
    *out = std::move(r).value();
    return grpc::Status::OK;
  }

  grpc::Status TagValues(grpc::ServerContext* ctx, const tempopb::SearchTagValuesRequest& req,
                         bool v2, std::vector<tql::TagValue>* out) {
    std::string tenant;
    if (grpc::Status s = Tenant(ctx, &tenant); !s.ok()) return s;
    if (req.tag_name().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing tag name");
    }
    tql::TagValuesRequest tr;
    // v1 names are unscoped attributes, as on /api/search/tag/<t>/values.
    tr.tag = v2 ? req.tag_name() : "." + req.tag_name();
    tr.query = req.query();
    tr.start_unix_nano = SecondsToNanos(req.start());
    tr.end_unix_nano = SecondsToNanos(req.end());
    tr.limit = req.max_tag_values();
    auto source = store_->Source(tenant);
    auto r = tql::TagValues(*source, tr);
    if (!r.ok()) return net::ToGrpcStatus(r.status());
    *out = std::move(r).value();
    return grpc::Status::OK;
  }

  store::TraceStore* store_;
  StreamingQuerierOptions options_;
  StreamMetrics metrics_;
};

}  // namespace

struct StreamingQuerier::Impl {
  Impl(store::TraceStore* store, StreamingQuerierOptions options) : service(store, options) {}
  Service service;
};

StreamingQuerier::StreamingQuerier(store::TraceStore* store, StreamingQuerierOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {}

StreamingQuerier::~StreamingQuerier() = default;

void StreamingQuerier::Register(net::GrpcServer& server) {
  server.RegisterService(&impl_->service, tempopb::StreamingQuerier::service_full_name());
}

}  // namespace sightline::traces::api
