#include "traces/sampling/tail_sampler.h"

#include <re2/re2.h>

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

#include "base/periodic_worker.h"
#include "config/config.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "traces/sampling/policy_yaml.h"
#include "traces/store/codec.h"

namespace sightline::traces::sampling {

namespace {

enum class Decision { kNotSampled, kSampled, kInvertNotSampled, kInvertSampled };

bool IsSampled(Decision d) { return d == Decision::kSampled || d == Decision::kInvertSampled; }

// FNV-1a 64 over the salt then the trace id bytes, as the collector's
// probabilistic policy hashes.
uint64_t Fnv1a(std::string_view salt, std::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (std::string_view part : {salt, id}) {
    for (unsigned char c : part) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  return h;
}

// MaxUint64 * ratio rounded to 64 significant bits, then truncated: what
// the collector computes with a 64-bit big.Float (x87 long double has the
// same 64-bit significand).
uint64_t Threshold(double ratio) {
  if (ratio <= 0) return 0;
  if (ratio >= 1) return UINT64_MAX;
  long double t = static_cast<long double>(UINT64_MAX) * static_cast<long double>(ratio);
  if (t >= 18446744073709551615.0L) return UINT64_MAX;
  return static_cast<uint64_t>(t);
}

// A policy with its compiled regexes and mutable state (rate limits).
struct PolicyState {
  const Policy* p;
  std::vector<std::unique_ptr<RE2>> regexes;
  std::vector<PolicyState> subs;
  uint64_t threshold = 0;  // probabilistic
  double tokens = 0;       // rate_limiting
  int64_t last_ms = -1;
  int64_t second = -1;
  int64_t spans_this_second = 0;
  std::vector<int64_t> sub_spans_this_second;  // composite
  telemetry::Counter* sampled = nullptr;
  telemetry::Counter* not_sampled = nullptr;
};

Status Build(const Policy& p, PolicyState* st) {
  st->p = &p;
  if (p.type == PolicyType::kStringAttribute && p.enabled_regex_matching) {
    for (const auto& v : p.values) {
      auto re = std::make_unique<RE2>(v, RE2::Quiet);
      if (!re->ok()) {
        return InvalidArgumentError("tail sampling policy " + p.name + ": bad regex \"" + v +
                                    "\": " + re->error());
      }
      st->regexes.push_back(std::move(re));
    }
  }
  if (p.type == PolicyType::kAnd || p.type == PolicyType::kComposite) {
    if (p.sub_policies.empty()) {
      return InvalidArgumentError("tail sampling policy " + p.name + " needs sub policies");
    }
    st->subs.resize(p.sub_policies.size());
    for (size_t i = 0; i < p.sub_policies.size(); ++i) {
      SL_RETURN_IF_ERROR(Build(p.sub_policies[i], &st->subs[i]));
    }
    st->sub_spans_this_second.assign(p.sub_policies.size(), 0);
  }
  if (p.type == PolicyType::kProbabilistic) {
    if (p.sampling_percentage < 0 || p.sampling_percentage > 100) {
      return InvalidArgumentError("tail sampling policy " + p.name +
                                  ": sampling_percentage must be within 0..100");
    }
    st->threshold = Threshold(p.sampling_percentage / 100.0);
  }
  return Status::Ok();
}

// Visits every attribute of a span and of its resource.
template <typename F>
bool AnyAttr(const Trace& t, const std::string& key, F match) {
  for (const Span& s : t.spans) {
    for (const KeyValue& kv : s.attributes) {
      if (kv.key == key && match(kv.value)) return true;
    }
  }
  for (const Resource& r : t.resources) {
    for (const KeyValue& kv : r.attributes) {
      if (kv.key == key && match(kv.value)) return true;
    }
  }
  return false;
}

Decision Evaluate(PolicyState& st, const Trace& t, int64_t now_ms) {
  const Policy& p = *st.p;
  switch (p.type) {
    case PolicyType::kAlwaysSample:
      return Decision::kSampled;
    case PolicyType::kStatusCode:
      for (const Span& s : t.spans) {
        for (int c : p.status_codes) {
          if (s.status_code == c) return Decision::kSampled;
        }
      }
      return Decision::kNotSampled;
    case PolicyType::kLatency: {
      auto [lo, hi] = store::TraceTimeRange(t);
      int64_t ms = static_cast<int64_t>((hi - lo) / 1000000);
      // The collector's bounds: [threshold, ∞) without an upper bound,
      // (threshold, upper] with one.
      bool in = p.upper_threshold_ms == 0
                    ? ms >= p.threshold_ms
                    : ms > p.threshold_ms && ms <= p.upper_threshold_ms;
      return in ? Decision::kSampled : Decision::kNotSampled;
    }
    case PolicyType::kStringAttribute: {
      bool matched = AnyAttr(t, p.key, [&](const AttributeValue& v) {
        const auto* s = std::get_if<std::string>(&v.v);
        if (!s) return false;
        if (p.enabled_regex_matching) {
          for (const auto& re : st.regexes) {
            if (RE2::PartialMatch(*s, *re)) return true;
          }
          return false;
        }
        for (const auto& want : p.values) {
          if (*s == want) return true;
        }
        return false;
      });
      if (p.invert_match) return matched ? Decision::kInvertNotSampled : Decision::kInvertSampled;
      return matched ? Decision::kSampled : Decision::kNotSampled;
    }
    case PolicyType::kNumericAttribute: {
      bool matched = AnyAttr(t, p.key, [&](const AttributeValue& v) {
        const auto* i = std::get_if<int64_t>(&v.v);
        return i && *i >= p.min_value && *i <= p.max_value;
      });
      if (p.invert_match) return matched ? Decision::kInvertNotSampled : Decision::kInvertSampled;
      return matched ? Decision::kSampled : Decision::kNotSampled;
    }
    case PolicyType::kBooleanAttribute: {
      bool matched = AnyAttr(t, p.key, [&](const AttributeValue& v) {
        const auto* b = std::get_if<bool>(&v.v);
        return b && *b == p.bool_value;
      });
      if (p.invert_match) return matched ? Decision::kInvertNotSampled : Decision::kInvertSampled;
      return matched ? Decision::kSampled : Decision::kNotSampled;
    }
    case PolicyType::kProbabilistic: {
      static const std::string kDefaultSalt = "default-hash-seed";
      const std::string& salt = p.hash_salt.empty() ? kDefaultSalt : p.hash_salt;
      return Fnv1a(salt, t.trace_id) <= st.threshold ? Decision::kSampled : Decision::kNotSampled;
    }
    case PolicyType::kRateLimiting: {
      // The collector's token bucket: spans_per_second refill, a burst of
      // twice that, full at the start; a trace takes one token per span.
      const double rate = static_cast<double>(p.spans_per_second);
      const double burst = 2 * rate;
      if (st.last_ms < 0) {
        st.tokens = burst;
      } else if (now_ms > st.last_ms) {
        st.tokens = std::min(burst, st.tokens + rate * static_cast<double>(now_ms - st.last_ms) / 1000.0);
      }
      st.last_ms = now_ms;
      double n = static_cast<double>(t.spans.size());
      if (n <= st.tokens) {
        st.tokens -= n;
        return Decision::kSampled;
      }
      return Decision::kNotSampled;
    }
    case PolicyType::kSpanCount: {
      int64_t n = static_cast<int64_t>(t.spans.size());
      return n >= p.min_spans && (p.max_spans == 0 || n <= p.max_spans) ? Decision::kSampled
                                                                         : Decision::kNotSampled;
    }
    case PolicyType::kAnd: {
      for (auto& sub : st.subs) {
        if (!IsSampled(Evaluate(sub, t, now_ms))) return Decision::kNotSampled;
      }
      return Decision::kSampled;
    }
    case PolicyType::kComposite: {
      int64_t sec = now_ms / 1000;
      if (sec != st.second) {
        st.second = sec;
        std::fill(st.sub_spans_this_second.begin(), st.sub_spans_this_second.end(), 0);
      }
      int64_t n = static_cast<int64_t>(t.spans.size());
      for (size_t i = 0; i < st.subs.size(); ++i) {
        if (!IsSampled(Evaluate(st.subs[i], t, now_ms))) continue;
        double pct = p.rate_allocation_percent.empty()
                         ? 100.0 / static_cast<double>(st.subs.size())
                         : (i < p.rate_allocation_percent.size() ? p.rate_allocation_percent[i] : 0);
        int64_t budget = static_cast<int64_t>(p.max_total_spans_per_second * pct / 100.0);
        int64_t if_sampled = st.sub_spans_this_second[i] + n;
        if (if_sampled <= budget && if_sampled <= p.max_total_spans_per_second) {
          st.sub_spans_this_second[i] = if_sampled;
          return Decision::kSampled;
        }
        // The first sub policy that samples decides; over its share the
        // trace is not sampled (its count is left for smaller traces).
        return Decision::kNotSampled;
      }
      return Decision::kNotSampled;
    }
  }
  return Decision::kNotSampled;
}

struct Pending {
  std::string tenant;
  Trace trace;
  int64_t first_ms = 0;
};

}  // namespace

Result<SamplerOptions> OptionsFromConfig(const config::TracesConfig& c) {
  SamplerOptions o;
  o.decision_wait = c.sampling_decision_wait;
  if (c.sampling_num_traces <= 0) {
    return InvalidArgumentError("traces.sampling.num_traces must be positive");
  }
  o.num_traces = static_cast<size_t>(c.sampling_num_traces);
  if (c.sampling_keep_errors) {
    Policy p;
    p.name = "errors";
    p.type = PolicyType::kStatusCode;
    p.status_codes = {2};
    o.policies.push_back(p);
  }
  if (c.sampling_latency_threshold.count() > 0) {
    Policy p;
    p.name = "slow";
    p.type = PolicyType::kLatency;
    p.threshold_ms = c.sampling_latency_threshold.count();
    o.policies.push_back(p);
  }
  if (!c.sampling_attribute_values.empty()) {
    Policy p;
    p.name = "critical";
    p.type = PolicyType::kStringAttribute;
    p.key = c.sampling_attribute_key;
    p.values = c.sampling_attribute_values;
    o.policies.push_back(p);
  }
  if (c.sampling_percentage > 0) {
    Policy p;
    p.name = "probabilistic";
    p.type = PolicyType::kProbabilistic;
    p.sampling_percentage = c.sampling_percentage;
    o.policies.push_back(p);
  }
  if (c.sampling_spans_per_second > 0) {
    Policy p;
    p.name = "rate_limit";
    p.type = PolicyType::kRateLimiting;
    p.spans_per_second = c.sampling_spans_per_second;
    o.policies.push_back(p);
  }
  return o;
}

Result<SamplerOptions> OptionsFromConfig(const config::Config& cfg) {
  SL_ASSIGN_OR_RETURN(SamplerOptions o, OptionsFromConfig(cfg.traces));
  SL_ASSIGN_OR_RETURN(auto policies, ParsePoliciesYaml(cfg.file_text, cfg.config_file));
  if (policies) o.policies = std::move(*policies);
  // Regexes and shares are checked now, not at the first trace.
  for (const Policy& p : o.policies) {
    PolicyState st;
    SL_RETURN_IF_ERROR(Build(p, &st));
  }
  return o;
}

struct TailSampler::Impl {
  ingest::TraceSink* next;
  SamplerOptions o;
  std::vector<PolicyState> states;
  Status build;

  mutable std::mutex mu;
  std::unordered_map<std::string, Pending> pending;  // tenant '\0' trace id
  std::deque<std::string> order;                     // arrival order of pending keys
  std::unordered_map<std::string, bool> decided;
  std::deque<std::string> decided_order;
  std::vector<std::pair<std::string, std::vector<Trace>>> retry;

  telemetry::Family<telemetry::Counter>* per_policy;
  telemetry::Family<telemetry::Counter>* global;
  telemetry::Family<telemetry::Counter>* late;
  telemetry::Gauge* on_memory;

  std::mutex loop_mu;
  bool stopped = false;                    // guarded by loop_mu
  std::unique_ptr<PeriodicWorker> worker;  // set once by Start, under loop_mu

  int64_t Now() const {
    if (o.now_ms) return o.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Remember(const std::string& key, bool sampled) {
    auto [it, inserted] = decided.insert_or_assign(key, sampled);
    if (inserted) decided_order.push_back(key);
    while (decided_order.size() > o.decision_cache_size) {
      decided.erase(decided_order.front());
      decided_order.pop_front();
    }
  }

  // Under mu: decides `key` and moves the trace to `out` when sampled.
  void Decide(const std::string& key, int64_t now,
              std::map<std::string, std::vector<Trace>>* out) {
    auto it = pending.find(key);
    if (it == pending.end()) return;
    bool any_sampled = false, any_not = false, any_invert_not = false, any_invert_yes = false;
    for (auto& st : states) {
      Decision d = Evaluate(st, it->second.trace, now);
      per_policy->WithLabels({st.p->name, IsSampled(d) ? "true" : "false"}).Inc();
      switch (d) {
        case Decision::kSampled: any_sampled = true; break;
        case Decision::kNotSampled: any_not = true; break;
        case Decision::kInvertNotSampled: any_invert_not = true; break;
        case Decision::kInvertSampled: any_invert_yes = true; break;
      }
    }
    // The collector's rule: InvertNotSampled wins, then Sampled, then
    // InvertSampled unless some policy said NotSampled.
    bool sampled = !any_invert_not && (any_sampled || (any_invert_yes && !any_not));
    global->WithLabels({sampled ? "true" : "false"}).Inc();
    Remember(key, sampled);
    if (sampled) (*out)[it->second.tenant].push_back(std::move(it->second.trace));
    pending.erase(it);
  }

  Status Forward(std::map<std::string, std::vector<Trace>> batches) {
    Status first;
    for (auto& [tenant, traces] : batches) {
      ingest::PushResult pr;
      std::vector<Trace> copy = traces;
      Status s = next->Push(tenant, std::move(traces), &pr);
      if (!s.ok()) {
        if (first.ok()) first = s;
        std::lock_guard<std::mutex> l(mu);
        retry.emplace_back(tenant, std::move(copy));
      }
    }
    return first;
  }
};

TailSampler::TailSampler(ingest::TraceSink* next, SamplerOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.next = next;
  m.o = std::move(options);
  m.states.resize(m.o.policies.size());
  for (size_t i = 0; i < m.o.policies.size(); ++i) {
    Status s = Build(m.o.policies[i], &m.states[i]);
    if (!s.ok() && m.build.ok()) m.build = s;
  }
  if (!m.build.ok()) log::Error("tail sampling policies", {{"err", m.build.ToString()}});
  telemetry::Registry& reg = m.o.registry ? *m.o.registry : telemetry::Registry::Default();
  m.per_policy = &reg.AddCounter("otelcol_processor_tail_sampling_count_traces_sampled",
                                 "Traces sampled or not, per policy.", {"policy", "sampled"});
  m.global = &reg.AddCounter("otelcol_processor_tail_sampling_global_count_traces_sampled",
                             "Final sampling decisions.", {"sampled"});
  m.late = &reg.AddCounter("otelcol_processor_tail_sampling_sampling_late_spans_total",
                           "Spans that arrived after their trace's decision.", {"sampled"});
  m.on_memory = &reg.AddGauge("otelcol_processor_tail_sampling_sampling_traces_on_memory",
                              "Traces waiting for a decision.")
                     .Get();
}

TailSampler::~TailSampler() { Stop(); }

Status TailSampler::Push(std::string_view tenant, std::vector<Trace> traces,
                         ingest::PushResult* result) {
  Impl& m = *impl_;
  if (!m.build.ok()) return m.build;
  std::vector<Trace> forward_now;
  std::map<std::string, std::vector<Trace>> evicted;
  {
    std::lock_guard<std::mutex> l(m.mu);
    int64_t now = m.Now();
    for (Trace& t : traces) {
      std::string key = std::string(tenant) + '\0' + t.trace_id;
      if (auto d = m.decided.find(key); d != m.decided.end()) {
        m.late->WithLabels({d->second ? "true" : "false"}).Inc(static_cast<double>(t.spans.size()));
        if (d->second) forward_now.push_back(std::move(t));
        continue;
      }
      auto [it, inserted] = m.pending.try_emplace(key);
      if (inserted) {
        it->second.tenant = std::string(tenant);
        it->second.first_ms = now;
        m.order.push_back(key);
      }
      store::MergeTrace(std::move(t), &it->second.trace, false);
    }
    // Over num_traces: decide the oldest early.
    while (m.pending.size() > m.o.num_traces && !m.order.empty()) {
      std::string key = std::move(m.order.front());
      m.order.pop_front();
      m.Decide(key, now, &evicted);
    }
    m.on_memory->Set(static_cast<double>(m.pending.size()));
  }
  Status s;
  if (!forward_now.empty()) s = m.next->Push(tenant, std::move(forward_now), result);
  if (!evicted.empty()) (void)m.Forward(std::move(evicted));
  return s;
}

Status TailSampler::Tick() {
  Impl& m = *impl_;
  std::map<std::string, std::vector<Trace>> out;
  {
    std::lock_guard<std::mutex> l(m.mu);
    for (auto& [tenant, traces] : m.retry) {
      auto& dst = out[tenant];
      for (auto& t : traces) dst.push_back(std::move(t));
    }
    m.retry.clear();
    int64_t now = m.Now();
    while (!m.order.empty()) {
      auto it = m.pending.find(m.order.front());
      if (it != m.pending.end() && it->second.first_ms + m.o.decision_wait.count() > now) break;
      std::string key = std::move(m.order.front());
      m.order.pop_front();
      m.Decide(key, now, &out);
    }
    m.on_memory->Set(static_cast<double>(m.pending.size()));
  }
  if (out.empty()) return Status::Ok();
  return m.Forward(std::move(out));
}

Status TailSampler::Flush() {
  Impl& m = *impl_;
  std::map<std::string, std::vector<Trace>> out;
  {
    std::lock_guard<std::mutex> l(m.mu);
    int64_t now = m.Now();
    while (!m.order.empty()) {
      std::string key = std::move(m.order.front());
      m.order.pop_front();
      m.Decide(key, now, &out);
    }
    for (auto& [tenant, traces] : m.retry) {
      auto& dst = out[tenant];
      for (auto& t : traces) dst.push_back(std::move(t));
    }
    m.retry.clear();
  }
  if (out.empty()) return Status::Ok();
  return m.Forward(std::move(out));
}

void TailSampler::Start() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.loop_mu);
  if (m.worker != nullptr || m.stopped) return;
  m.worker = std::make_unique<PeriodicWorker>("tail-sampling", m.o.tick_interval, [this] {
    Status s = Tick();
    if (!s.ok()) log::Warn("tail sampling: forwarding failed, retrying", {{"err", s.ToString()}});
  });
  m.worker->Start();
}

void TailSampler::Stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.loop_mu);
    if (m.stopped) return;
    m.stopped = true;  // from here on, Start() creates no worker
  }
  if (m.worker != nullptr) m.worker->Stop();
  Status s = Flush();
  if (!s.ok()) log::Error("tail sampling: final flush failed", {{"err", s.ToString()}});
}

size_t TailSampler::pending() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->pending.size();
}

}  // namespace sightline::traces::sampling
