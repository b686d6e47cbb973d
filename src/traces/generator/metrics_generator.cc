#include "traces/generator/metrics_generator.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "metrics/storage/storage.h"
#include "telemetry/log.h"
#include "traces/ingest/ids.h"

namespace sightline::traces::generator {

namespace {

const char* KindName(int k) {
  switch (k) {
    case 1: return "SPAN_KIND_INTERNAL";
    case 2: return "SPAN_KIND_SERVER";
    case 3: return "SPAN_KIND_CLIENT";
    case 4: return "SPAN_KIND_PRODUCER";
    case 5: return "SPAN_KIND_CONSUMER";
    default: return "SPAN_KIND_UNSPECIFIED";
  }
}

const char* StatusName(int s) {
  switch (s) {
    case 1: return "STATUS_CODE_OK";
    case 2: return "STATUS_CODE_ERROR";
    default: return "STATUS_CODE_UNSET";
  }
}

std::string ServiceOf(const Trace& t, const Span& s) {
  if (s.resource_index < t.resources.size()) {
    for (const KeyValue& kv : t.resources[s.resource_index].attributes) {
      if (kv.key == "service.name") {
        if (const auto* v = std::get_if<std::string>(&kv.value.v)) return *v;
      }
    }
  }
  return "unknown_service";
}

struct Hist {
  std::vector<uint64_t> counts;  // per bucket, not cumulative; last = +Inf
  double sum = 0;
  uint64_t count = 0;
  void Observe(const std::vector<double>& bounds, double v) {
    if (counts.empty()) counts.assign(bounds.size() + 1, 0);
    size_t i = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
    ++counts[i];
    sum += v;
    ++count;
  }
};

struct SpanStats {
  uint64_t calls = 0;
  Hist latency;
  std::string exemplar_trace;
  double exemplar_value = 0;
  int64_t exemplar_ms = 0;
};

struct EdgeStats {
  uint64_t total = 0, failed = 0;
  Hist server, client;
};

struct HalfEdge {
  std::string service;
  double seconds = 0;
  bool failed = false;
  int64_t seen_ms = 0;
};

struct TenantState {
  // service, span_name, kind, status
  std::map<std::tuple<std::string, std::string, std::string, std::string>, SpanStats> spans;
  std::map<std::pair<std::string, std::string>, EdgeStats> edges;  // client, server
  std::unordered_map<std::string, HalfEdge> pending_clients;       // trace id + span id
  std::unordered_map<std::string, HalfEdge> pending_servers;       // trace id + parent id
  std::deque<std::pair<std::string, bool>> pending_order;          // key, is_client
  std::map<std::tuple<std::string, std::string, std::string, std::string>, uint64_t> refs;
};

}  // namespace

struct MetricsGenerator::Impl {
  ingest::TraceSink* next;
  metrics::Appendable* out;
  GeneratorOptions o;
  std::mutex mu;
  std::map<std::string, TenantState, std::less<>> tenants;

  std::mutex loop_mu;
  std::condition_variable loop_cv;
  bool stop = false;
  std::thread thread;

  int64_t Now() const {
    if (o.now_ms) return o.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void Edge(TenantState& ts, const HalfEdge& client, const HalfEdge& server) {
    EdgeStats& e = ts.edges[{client.service, server.service}];
    ++e.total;
    if (client.failed || server.failed) ++e.failed;
    e.server.Observe(o.graph_buckets, server.seconds);
    e.client.Observe(o.graph_buckets, client.seconds);
  }

  void Observe(TenantState& ts, const Trace& t, int64_t now) {
    for (const Span& s : t.spans) {
      std::string service = ServiceOf(t, s);
      double secs = s.end_unix_nano > s.start_unix_nano
                        ? static_cast<double>(s.end_unix_nano - s.start_unix_nano) / 1e9
                        : 0;
      SpanStats& st = ts.spans[{service, s.name, KindName(s.kind), StatusName(s.status_code)}];
      ++st.calls;
      st.latency.Observe(o.latency_buckets, secs);
      st.exemplar_trace = IdToHex(t.trace_id);
      st.exemplar_value = secs;
      st.exemplar_ms = static_cast<int64_t>(s.end_unix_nano / 1000000);

      HalfEdge half{service, secs, s.status_code == 2, now};
      if (s.kind == 3 || s.kind == 4) {  // client, producer
        std::string key = t.trace_id + s.span_id;
        if (auto it = ts.pending_servers.find(key); it != ts.pending_servers.end()) {
          Edge(ts, half, it->second);
          ts.pending_servers.erase(it);
        } else {
          ts.pending_clients[key] = half;
          ts.pending_order.emplace_back(key, true);
        }
      } else if ((s.kind == 2 || s.kind == 5) && !s.parent_span_id.empty()) {
        std::string key = t.trace_id + s.parent_span_id;
        if (auto it = ts.pending_clients.find(key); it != ts.pending_clients.end()) {
          Edge(ts, it->second, half);
          ts.pending_clients.erase(it);
        } else {
          ts.pending_servers[key] = half;
          ts.pending_order.emplace_back(key, false);
        }
      }
    }
    // Expire unpaired halves (the other side never came, or was sampled out).
    while (!ts.pending_order.empty()) {
      auto& [key, is_client] = ts.pending_order.front();
      auto& m = is_client ? ts.pending_clients : ts.pending_servers;
      auto it = m.find(key);
      bool too_many = ts.pending_clients.size() + ts.pending_servers.size() > o.max_pending_edges;
      if (it != m.end() && now - it->second.seen_ms < o.edge_wait.count() && !too_many) break;
      if (it != m.end() && (now - it->second.seen_ms >= o.edge_wait.count() || too_many)) m.erase(it);
      ts.pending_order.pop_front();
    }
  }
};

MetricsGenerator::MetricsGenerator(ingest::TraceSink* next, metrics::Appendable* out,
                                   GeneratorOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->next = next;
  impl_->out = out;
  impl_->o = std::move(options);
  std::sort(impl_->o.latency_buckets.begin(), impl_->o.latency_buckets.end());
  std::sort(impl_->o.graph_buckets.begin(), impl_->o.graph_buckets.end());
}

MetricsGenerator::~MetricsGenerator() { Stop(); }

Status MetricsGenerator::Push(std::string_view tenant, std::vector<Trace> traces,
                              ingest::PushResult* result) {
  Impl& m = *impl_;
  // Count a copy of what goes on; refused traces (limits) are not counted
  // when the whole push fails.
  std::vector<Trace> copy = traces;
  Status s = m.next->Push(tenant, std::move(traces), result);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(m.mu);
  auto it = m.tenants.find(tenant);
  if (it == m.tenants.end()) it = m.tenants.emplace(std::string(tenant), TenantState{}).first;
  int64_t now = m.Now();
  for (const Trace& t : copy) m.Observe(it->second, t, now);
  return Status::Ok();
}

namespace {

std::string Le(double b) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", b);
  return buf;
}

Status AppendHist(metrics::Appender& app, const std::string& name,
                  std::vector<tsdb::Label> base, const std::vector<double>& bounds,
                  const Hist& h, int64_t now,
                  const std::function<void(const tsdb::Labels&, uint64_t ref, size_t bucket)>& on_bucket = nullptr) {
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cum += i < h.counts.size() ? h.counts[i] : 0;
    auto l = base;
    l.push_back({"__name__", name + "_bucket"});
    l.push_back({"le", i < bounds.size() ? Le(bounds[i]) : "+Inf"});
    SL_ASSIGN_OR_RETURN(auto labels, tsdb::Labels::FromUnsorted(std::move(l)));
    SL_ASSIGN_OR_RETURN(uint64_t ref, app.Append(0, labels, now, static_cast<double>(cum)));
    if (on_bucket) on_bucket(labels, ref, i);
  }
  auto s = base;
  s.push_back({"__name__", name + "_sum"});
  SL_ASSIGN_OR_RETURN(auto sl, tsdb::Labels::FromUnsorted(std::move(s)));
  SL_RETURN_IF_ERROR(app.Append(0, sl, now, h.sum).status());
  auto c = base;
  c.push_back({"__name__", name + "_count"});
  SL_ASSIGN_OR_RETURN(auto cl, tsdb::Labels::FromUnsorted(std::move(c)));
  return app.Append(0, cl, now, static_cast<double>(h.count)).status();
}

}  // namespace

Status MetricsGenerator::Collect() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.mu);
  int64_t now = m.Now();
  Status first;
  for (auto& [tenant, ts] : m.tenants) {
    auto app = m.out->NewAppender(tenant);
    Status s = [&]() -> Status {
      SL_RETURN_IF_ERROR(app->UpdateMetadata(
          "traces_spanmetrics_calls_total", {"counter", "Spans, by service, name, kind and status.", ""}));
      SL_RETURN_IF_ERROR(app->UpdateMetadata(
          "traces_spanmetrics_latency", {"histogram", "Span durations in seconds.", "seconds"}));
      for (const auto& [key, st] : ts.spans) {
        const auto& [service, name, kind, status] = key;
        std::vector<tsdb::Label> base = {{"service", service}, {"span_name", name},
                                         {"span_kind", kind}, {"status_code", status}};
        auto calls = base;
        calls.push_back({"__name__", "traces_spanmetrics_calls_total"});
        SL_ASSIGN_OR_RETURN(auto cl, tsdb::Labels::FromUnsorted(std::move(calls)));
        SL_RETURN_IF_ERROR(app->Append(0, cl, now, static_cast<double>(st.calls)).status());
        size_t ex_bucket = std::lower_bound(m.o.latency_buckets.begin(), m.o.latency_buckets.end(),
                                            st.exemplar_value) -
                           m.o.latency_buckets.begin();
        Status ex_status;
        SL_RETURN_IF_ERROR(AppendHist(
            *app, "traces_spanmetrics_latency", base, m.o.latency_buckets, st.latency, now,
            [&](const tsdb::Labels& labels, uint64_t ref, size_t bucket) {
              if (bucket != ex_bucket || st.exemplar_trace.empty()) return;
              metrics::Exemplar e;
              e.labels = tsdb::Labels::FromStrings({"trace_id", st.exemplar_trace});
              e.value = st.exemplar_value;
              e.timestamp_ms = st.exemplar_ms;
              e.has_timestamp = true;
              Status es = app->AppendExemplar(ref, labels, e);
              if (!es.ok()) ex_status = es;  // out-of-order exemplars are not fatal
            }));
        (void)ex_status;
      }
      for (const auto& [key, e] : ts.edges) {
        std::vector<tsdb::Label> base = {{"client", key.first}, {"server", key.second}};
        auto total = base;
        total.push_back({"__name__", "traces_service_graph_request_total"});
        SL_ASSIGN_OR_RETURN(auto tl, tsdb::Labels::FromUnsorted(std::move(total)));
        SL_RETURN_IF_ERROR(app->Append(0, tl, now, static_cast<double>(e.total)).status());
        auto failed = base;
        failed.push_back({"__name__", "traces_service_graph_request_failed_total"});
        SL_ASSIGN_OR_RETURN(auto fl, tsdb::Labels::FromUnsorted(std::move(failed)));
        SL_RETURN_IF_ERROR(app->Append(0, fl, now, static_cast<double>(e.failed)).status());
        SL_RETURN_IF_ERROR(AppendHist(*app, "traces_service_graph_request_server_seconds", base,
                                      m.o.graph_buckets, e.server, now));
        SL_RETURN_IF_ERROR(AppendHist(*app, "traces_service_graph_request_client_seconds", base,
                                      m.o.graph_buckets, e.client, now));
      }
      return app->Commit();
    }();
    if (!s.ok()) {
      app->Rollback();
      if (first.ok()) first = s.Annotate("metrics from traces for tenant " + tenant);
    }
  }
  return first;
}

void MetricsGenerator::Start() {
  Impl& m = *impl_;
  if (m.thread.joinable()) return;
  m.thread = std::thread([this] {
    Impl& m = *impl_;
    std::unique_lock<std::mutex> l(m.loop_mu);
    while (!m.stop) {
      m.loop_cv.wait_for(l, m.o.collection_interval);
      if (m.stop) break;
      l.unlock();
      Status s = Collect();
      if (!s.ok()) log::Warn("metrics from traces", {{"err", s.ToString()}});
      l.lock();
    }
  });
}

void MetricsGenerator::Stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.loop_mu);
    if (m.stop) return;
    m.stop = true;
    m.loop_cv.notify_all();
  }
  if (m.thread.joinable()) {
    m.thread.join();
    (void)Collect();
  }
}

}  // namespace sightline::traces::generator
