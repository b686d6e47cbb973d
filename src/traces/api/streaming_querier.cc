// The only translation unit that includes the generated tempopb gRPC code.
#include "traces/api/streaming_querier.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "net/grpc_server.h"
#include "net/grpc_status.h"
#include "net/tenant.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "tempo/tempo.grpc.pb.h"
#include "traces/api/api_util.h"
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

// The one-job progress accounting the HTTP API reports too.
void SetMetrics(const tql::SearchMetrics& m, bool done, tempopb::SearchMetrics* out) {
  out->set_inspected_traces(static_cast<uint32_t>(m.inspected_traces));
  out->set_inspected_bytes(m.inspected_bytes);
  out->set_inspected_spans(m.inspected_spans);
  out->set_total_jobs(1);
  out->set_completed_jobs(done ? 1 : 0);
}

void SetDone(tempopb::MetadataMetrics* out) {
  out->set_total_jobs(1);
  out->set_completed_jobs(1);
}

void ToProto(const tql::SearchResponse& r, tempopb::SearchResponse* out) {
  for (const auto& t : r.traces) {
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
  SetMetrics(r.metrics, /*done=*/true, out->mutable_metrics());
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

void ToProto(const tql::InstantResponse& r, tempopb::QueryInstantResponse* out) {
  for (const auto& s : r.series) {
    auto* is = out->add_series();
    AddKeyValues(s.labels, is->mutable_labels());
    is->set_value(s.value);
    is->set_prom_labels(s.prom_labels);
  }
  SetMetrics(r.metrics, /*done=*/true, out->mutable_metrics());
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
    tempopb::SearchResponse progress;
    SetMetrics({}, /*done=*/false, progress.mutable_metrics());
    if (!writer->Write(progress)) return Cancelled();
    auto source = store_->Source(tenant);
    auto r = tql::Search(*source, sr);
    if (!r.ok()) return net::ToGrpcStatus(r.status());
    tempopb::SearchResponse out;
    ToProto(*r, &out);
    if (!writer->Write(out)) return Cancelled();
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
    mr.exemplars = req->exemplars();
    tempopb::QueryRangeResponse progress;
    SetMetrics({}, /*done=*/false, progress.mutable_metrics());
    if (!writer->Write(progress)) return Cancelled();
    auto source = store_->Source(tenant);
    auto r = tql::MetricsQueryRange(*source, mr);
    if (!r.ok()) return net::ToGrpcStatus(r.status());
    tempopb::QueryRangeResponse out;
    ToProto(*r, &out);
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
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
    tempopb::QueryInstantResponse progress;
    SetMetrics({}, /*done=*/false, progress.mutable_metrics());
    if (!writer->Write(progress)) return Cancelled();
    auto source = store_->Source(tenant);
    auto r = tql::MetricsQueryInstant(*source, mr);
    if (!r.ok()) return net::ToGrpcStatus(r.status());
    tempopb::QueryInstantResponse out;
    ToProto(*r, &out);
    return writer->Write(out) ? grpc::Status::OK : Cancelled();
  }

 private:
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
