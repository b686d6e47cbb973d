#include "traces/generator/metrics_generator.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "base/periodic_worker.h"
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

std::string_view ServiceOf(const Trace& t, uint32_t resource_index) {
  if (resource_index < t.resources.size()) {
    for (const KeyValue& kv : t.resources[resource_index].attributes) {
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

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// A trace id as raw bytes (ids are 16 bytes; shorter ones are zero-padded).
using RawTraceId = std::array<char, 16>;

struct SpanStats {
  uint64_t calls = 0;  // 0: created by a push that has not been applied (yet)
  Hist latency;
  RawTraceId exemplar_trace{};
  size_t exemplar_trace_len = 0;
  double exemplar_value = 0;
  int64_t exemplar_ms = 0;
};

// {service, span_name, span_kind, status_code}; found by SpanKeyView without
// building strings (the ingest hot path).
struct SpanKey {
  std::string service, name;
  int kind = 0, status = 0;
};
struct SpanKeyView {
  std::string_view service, name;
  int kind = 0, status = 0;
};
struct SpanKeyHash {
  using is_transparent = void;
  size_t operator()(const SpanKeyView& k) const {
    size_t h = std::hash<std::string_view>()(k.service);
    h ^= std::hash<std::string_view>()(k.name) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h ^ (static_cast<size_t>(k.kind) << 8 | static_cast<size_t>(k.status));
  }
  size_t operator()(const SpanKey& k) const {
    return (*this)(SpanKeyView{k.service, k.name, k.kind, k.status});
  }
};
struct SpanKeyEq {
  using is_transparent = void;
  static SpanKeyView V(const SpanKey& k) { return {k.service, k.name, k.kind, k.status}; }
  static const SpanKeyView& V(const SpanKeyView& k) { return k; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    const SpanKeyView& x = V(a);
    const SpanKeyView& y = V(b);
    return x.kind == y.kind && x.status == y.status && x.name == y.name && x.service == y.service;
  }
};

struct EdgeStats {
  uint64_t total = 0, failed = 0;
  Hist server, client;
};

// Trace id + span id (client side) or trace id + parent span id (server
// side), raw bytes, zero-padded.
using EdgeKey = std::array<char, 24>;
EdgeKey MakeEdgeKey(std::string_view trace_id, std::string_view span_id) {
  EdgeKey k{};
  std::memcpy(k.data(), trace_id.data(), std::min<size_t>(trace_id.size(), 16));
  std::memcpy(k.data() + 16, span_id.data(), std::min<size_t>(span_id.size(), 8));
  return k;
}

struct HalfEdge {
  const std::string* service = nullptr;  // interned in TenantState::services
  double seconds = 0;
  bool failed = false;
  int64_t seen_ms = 0;
};

// Pending half edges by key: open addressing with linear probing and
// backward-shift deletion, entries inline. Up to max_pending_edges of them
// are looked up for every client and server span: one cache line per
// lookup, no allocation per insert (a node-based map cost ~5% of the
// server's ingest CPU here).
class EdgeTable {
 public:
  static constexpr size_t kNone = SIZE_MAX;

  size_t Find(const EdgeKey& k) const {
    if (size_ == 0) return kNone;
    const size_t mask = slots_.size() - 1;
    for (size_t i = Home(k) & mask;; i = (i + 1) & mask) {
      if (!slots_[i].used) return kNone;
      if (slots_[i].key == k) return i;
    }
  }
  HalfEdge& At(size_t i) { return slots_[i].value; }
  void Put(const EdgeKey& k, const HalfEdge& v) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    const size_t mask = slots_.size() - 1;
    size_t i = Home(k) & mask;
    for (; slots_[i].used; i = (i + 1) & mask) {
      if (slots_[i].key == k) {
        slots_[i].value = v;
        return;
      }
    }
    slots_[i] = Slot{k, v, true};
    ++size_;
  }
  void EraseAt(size_t i) {
    const size_t mask = slots_.size() - 1;
    size_t j = i;
    slots_[i].used = false;
    for (;;) {
      j = (j + 1) & mask;
      if (!slots_[j].used) break;
      // The entry at j stays unless the hole at i lies between its home
      // slot and j (cyclically).
      const size_t home = Home(slots_[j].key) & mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      slots_[j].used = false;
      i = j;
    }
    --size_;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    EdgeKey key{};
    HalfEdge value;
    bool used = false;
  };
  static size_t Home(const EdgeKey& k) {
    uint64_t a, b;
    std::memcpy(&a, k.data() + 8, 8);
    std::memcpy(&b, k.data() + 16, 8);
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return static_cast<size_t>(x ^ (x >> 31));
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.used) Put(s.key, s.value);
    }
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

struct TenantState {
  std::unordered_map<SpanKey, SpanStats, SpanKeyHash, SpanKeyEq> spans;
  std::unordered_set<std::string, StringViewHash, std::equal_to<>> services_set;
  // client, server (interned service names)
  std::map<std::pair<const std::string*, const std::string*>, EdgeStats> edges;
  EdgeTable pending_clients;  // trace id + span id
  EdgeTable pending_servers;  // trace id + parent id
  std::deque<std::pair<EdgeKey, bool>> pending_order;                  // key, is_client

  const std::string* Intern(std::string_view service) {
    auto it = services_set.find(service);
    if (it == services_set.end()) it = services_set.emplace(service).first;
    return &*it;
  }
};

// One span of a push, resolved against the tenant's state before the push
// (pointers into node-based maps stay valid) and applied after it succeeded.
struct Observation {
  SpanStats* stats;
  const std::string* service;
  double seconds;
  int64_t end_ms;
  RawTraceId trace_id;
  uint8_t trace_id_len;
  uint8_t edge;  // 0: none, 1: client side, 2: server side
  bool failed;
  EdgeKey edge_key;
};

}  // namespace

struct MetricsGenerator::Impl {
  ingest::TraceSink* next;
  metrics::Appendable* out;
  GeneratorOptions o;
  std::mutex mu;
  std::map<std::string, TenantState, std::less<>> tenants;

  std::mutex loop_mu;
  bool stopped = false;                    // guarded by loop_mu
  std::unique_ptr<PeriodicWorker> worker;  // set once by Start, under loop_mu

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

  // Under mu: one span's observation; finds (or creates, with no calls) its
  // series. Both Resolve overloads (model spans, span views) come here.
  Observation Observe(TenantState& ts, const std::string* service, std::string_view trace_id,
                      std::string_view name, int kind, int status_code, uint64_t start_unix_nano,
                      uint64_t end_unix_nano, std::string_view span_id,
                      std::string_view parent_span_id) {
    Observation ob;
    auto it = ts.spans.find(SpanKeyView{*service, name, kind, status_code});
    if (it == ts.spans.end()) {
      it = ts.spans.emplace(SpanKey{*service, std::string(name), kind, status_code}, SpanStats{})
               .first;
    }
    ob.stats = &it->second;
    ob.service = service;
    ob.seconds = end_unix_nano > start_unix_nano
                     ? static_cast<double>(end_unix_nano - start_unix_nano) / 1e9
                     : 0;
    ob.end_ms = static_cast<int64_t>(end_unix_nano / 1000000);
    ob.trace_id_len = static_cast<uint8_t>(std::min<size_t>(trace_id.size(), 16));
    std::memcpy(ob.trace_id.data(), trace_id.data(), ob.trace_id_len);
    ob.failed = status_code == 2;
    ob.edge = 0;
    if (kind == 3 || kind == 4) {  // client, producer
      ob.edge = 1;
      ob.edge_key = MakeEdgeKey(trace_id, span_id);
    } else if ((kind == 2 || kind == 5) && !parent_span_id.empty()) {
      ob.edge = 2;
      ob.edge_key = MakeEdgeKey(trace_id, parent_span_id);
    }
    return ob;
  }

  // Under mu: finds (or creates, with no calls) the series of every span.
  void Resolve(TenantState& ts, const std::vector<Trace>& traces, std::vector<Observation>* out) {
    std::vector<const std::string*> services;
    for (const Trace& t : traces) {
      services.assign(t.resources.size() + 1, nullptr);
      for (const Span& s : t.spans) {
        uint32_t ri = s.resource_index < t.resources.size()
                          ? s.resource_index
                          : static_cast<uint32_t>(t.resources.size());
        const std::string*& service = services[ri];
        if (service == nullptr) service = ts.Intern(ServiceOf(t, ri));
        out->push_back(Observe(ts, service, t.trace_id, s.name, s.kind, s.status_code,
                               s.start_unix_nano, s.end_unix_nano, s.span_id, s.parent_span_id));
      }
    }
  }

  // Resolve for encoded traces: the same observations from the span views.
  void Resolve(TenantState& ts, const ingest::EncodedTraces& traces,
               std::vector<Observation>* out) {
    const std::string_view* last_service = nullptr;
    const std::string* service = nullptr;
    for (size_t ti = 0; ti < traces.size(); ++ti) {
      const std::string_view trace_id = traces.trace_id(ti);
      const auto& e = traces.traces[ti];
      for (uint32_t i = e.first_span; i < e.first_span + e.num_spans; ++i) {
        const ingest::SpanView& s = traces.spans[i];
        // Spans of one resource share the view: intern once per run.
        if (last_service == nullptr || last_service->data() != s.service.data() ||
            last_service->size() != s.service.size()) {
          service = ts.Intern(s.service);
          last_service = &s.service;
        }
        out->push_back(Observe(ts, service, trace_id, s.name, s.kind, s.status_code,
                               s.start_unix_nano, s.end_unix_nano, s.span_id, s.parent_span_id));
      }
    }
  }

  // Under mu: counts the observations of a push that succeeded.
  void Apply(TenantState& ts, const std::vector<Observation>& obs, int64_t now) {
    for (const Observation& ob : obs) {
      SpanStats& st = *ob.stats;
      ++st.calls;
      st.latency.Observe(o.latency_buckets, ob.seconds);
      st.exemplar_trace = ob.trace_id;
      st.exemplar_trace_len = ob.trace_id_len;
      st.exemplar_value = ob.seconds;
      st.exemplar_ms = ob.end_ms;
      if (ob.edge == 0) continue;
      HalfEdge half{ob.service, ob.seconds, ob.failed, now};
      if (ob.edge == 1) {
        if (size_t i = ts.pending_servers.Find(ob.edge_key); i != EdgeTable::kNone) {
          Edge(ts, half, ts.pending_servers.At(i));
          ts.pending_servers.EraseAt(i);
        } else {
          ts.pending_clients.Put(ob.edge_key, half);
          ts.pending_order.emplace_back(ob.edge_key, true);
        }
      } else {
        if (size_t i = ts.pending_clients.Find(ob.edge_key); i != EdgeTable::kNone) {
          Edge(ts, ts.pending_clients.At(i), half);
          ts.pending_clients.EraseAt(i);
        } else {
          ts.pending_servers.Put(ob.edge_key, half);
          ts.pending_order.emplace_back(ob.edge_key, false);
        }
      }
    }
    // Expire unpaired halves (the other side never came, or was sampled out).
    while (!ts.pending_order.empty()) {
      auto& [key, is_client] = ts.pending_order.front();
      EdgeTable& m = is_client ? ts.pending_clients : ts.pending_servers;
      const size_t i = m.Find(key);
      bool too_many = ts.pending_clients.size() + ts.pending_servers.size() > o.max_pending_edges;
      if (i != EdgeTable::kNone && now - m.At(i).seen_ms < o.edge_wait.count() && !too_many) break;
      if (i != EdgeTable::kNone && (now - m.At(i).seen_ms >= o.edge_wait.count() || too_many)) {
        m.EraseAt(i);
      }
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
  // What the spans count towards is resolved before the push (the traces
  // are handed over to `next`), and counted once it succeeded; refused
  // traces (limits) are not counted when the whole push fails. No copy of
  // the traces: this is the ingest hot path.
  std::vector<Observation> obs;
  size_t n = 0;
  for (const Trace& t : traces) n += t.spans.size();
  obs.reserve(n);
  TenantState* ts;
  {
    std::lock_guard<std::mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it == m.tenants.end()) it = m.tenants.emplace(std::string(tenant), TenantState{}).first;
    ts = &it->second;  // tenants are never removed
    m.Resolve(*ts, traces, &obs);
  }
  Status s = m.next->Push(tenant, std::move(traces), result);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(m.mu);
  m.Apply(*ts, obs, m.Now());
  return Status::Ok();
}

Status MetricsGenerator::PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                                     ingest::PushResult* result) {
  Impl& m = *impl_;
  std::vector<Observation> obs;
  obs.reserve(traces.spans.size());
  TenantState* ts;
  {
    std::lock_guard<std::mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it == m.tenants.end()) it = m.tenants.emplace(std::string(tenant), TenantState{}).first;
    ts = &it->second;
    m.Resolve(*ts, traces, &obs);
  }
  Status s = m.next->PushEncoded(tenant, traces, result);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(m.mu);
  m.Apply(*ts, obs, m.Now());
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
  for (auto& entry : m.tenants) {
    const std::string& tenant = entry.first;
    TenantState& ts = entry.second;  // plain references: lambdas capture them
    auto app = m.out->NewAppender(tenant);
    Status s = [&]() -> Status {
      SL_RETURN_IF_ERROR(app->UpdateMetadata(
          "traces_spanmetrics_calls_total", {"counter", "Spans, by service, name, kind and status.", ""}));
      SL_RETURN_IF_ERROR(app->UpdateMetadata(
          "traces_spanmetrics_latency", {"histogram", "Span durations in seconds.", "seconds"}));
      for (const auto& span_entry : ts.spans) {
        const auto& key = span_entry.first;
        const auto& st = span_entry.second;
        if (st.calls == 0) continue;  // resolved by a push not applied (yet)
        std::vector<tsdb::Label> base = {{"service", key.service},
                                         {"span_name", key.name},
                                         {"span_kind", KindName(key.kind)},
                                         {"status_code", StatusName(key.status)}};
        const std::string exemplar_trace =
            IdToHex(std::string_view(st.exemplar_trace.data(), st.exemplar_trace_len));
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
              if (bucket != ex_bucket || exemplar_trace.empty()) return;
              metrics::Exemplar e;
              e.labels = tsdb::Labels::FromStrings({"trace_id", exemplar_trace});
              e.value = st.exemplar_value;
              e.timestamp_ms = st.exemplar_ms;
              e.has_timestamp = true;
              Status es = app->AppendExemplar(ref, labels, e);
              if (!es.ok()) ex_status = es;  // out-of-order exemplars are not fatal
            }));
        (void)ex_status;
      }
      for (const auto& [key, e] : ts.edges) {
        std::vector<tsdb::Label> base = {{"client", *key.first}, {"server", *key.second}};
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
  std::lock_guard<std::mutex> l(m.loop_mu);
  if (m.worker != nullptr || m.stopped) return;
  m.worker = std::make_unique<PeriodicWorker>("span-metrics", m.o.collection_interval, [this] {
    Status s = Collect();
    if (!s.ok()) log::Warn("metrics from traces", {{"err", s.ToString()}});
  });
  m.worker->Start();
}

void MetricsGenerator::Stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.loop_mu);
    if (m.stopped) return;
    m.stopped = true;  // from here on, Start() creates no worker
  }
  if (m.worker == nullptr) return;
  m.worker->Stop();
  (void)Collect();  // what arrived since the last collection
}

}  // namespace sightline::traces::generator
