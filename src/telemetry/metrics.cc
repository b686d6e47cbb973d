#include "telemetry/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sightline::telemetry {
namespace {

void AtomicAdd(std::atomic<double>& a, double delta) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + delta, std::memory_order_relaxed)) {
  }
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "telemetry: %s\n", what.c_str());
  std::abort();
}

void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void WriteHeader(std::string& out, const std::string& name, const std::string& help,
                 std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += EscapeHelp(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

void Counter::Inc(double delta) {
  if (delta < 0) return;  // counters never go down
  AtomicAdd(value_, delta);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  if (!bounds_.empty() && std::isinf(bounds_.back())) bounds_.pop_back();
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = acc;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The +Inf bucket and _count must agree even under concurrent observations.
  s.count = acc;
  return s;
}

std::vector<double> DefaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> b;
  b.reserve(count);
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

template <typename M>
M& Family<M>::WithLabels(std::initializer_list<std::string_view> values) {
  std::vector<std::string> v(values.begin(), values.end());
  return WithLabels(std::span<const std::string>(v));
}

template <typename M>
M& Family<M>::WithLabels(std::span<const std::string> values) {
  if (values.size() != label_names_.size()) {
    Die(fmt::format("metric {} wants {} label values, got {}", name_, label_names_.size(),
                    values.size()));
  }
  std::vector<std::string> key(values.begin(), values.end());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<M> child;
  if constexpr (std::is_same_v<M, Histogram>) {
    child = std::make_unique<M>(buckets_);
  } else {
    child = std::make_unique<M>();
  }
  M& ref = *child;
  children_.emplace(std::move(key), std::move(child));
  return ref;
}

template <>
void Family<Counter>::Write(std::string& out) const {
  WriteHeader(out, name_, help_, "counter");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, c] : children_) {
    out += name_;
    AppendLabels(out, label_names_, values);
    out += ' ';
    out += FormatValue(c->Value());
    out += '\n';
  }
}

template <>
void Family<Gauge>::Write(std::string& out) const {
  WriteHeader(out, name_, help_, "gauge");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, g] : children_) {
    out += name_;
    AppendLabels(out, label_names_, values);
    out += ' ';
    out += FormatValue(g->Value());
    out += '\n';
  }
}

template <>
void Family<Histogram>::Write(std::string& out) const {
  WriteHeader(out, name_, help_, "histogram");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, h] : children_) {
    Histogram::Snapshot s = h->Read();
    for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
      out += name_;
      out += "_bucket";
      std::string le = i < s.upper_bounds.size() ? FormatValue(s.upper_bounds[i]) : "+Inf";
      AppendLabels(out, label_names_, values, "le", le);
      out += ' ';
      out += std::to_string(s.cumulative[i]);
      out += '\n';
    }
    out += name_;
    out += "_sum";
    AppendLabels(out, label_names_, values);
    out += ' ';
    out += FormatValue(s.sum);
    out += '\n';
    out += name_;
    out += "_count";
    AppendLabels(out, label_names_, values);
    out += ' ';
    out += std::to_string(s.count);
    out += '\n';
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry& Registry::Default() {
  static Registry* r = new Registry();  // never destroyed: used until exit
  return *r;
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != MetricType::kCounter ||
        it->second.counter->label_names_ != label_names) {
      Die("metric " + name + " registered twice with different type or labels");
    }
    return *it->second.counter;
  }
  Entry e{MetricType::kCounter, nullptr, nullptr, nullptr};
  e.counter.reset(new Family<Counter>(name, std::move(help), std::move(label_names), {}));
  auto& ref = *e.counter;
  families_.emplace(std::move(name), std::move(e));
  return ref;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != MetricType::kGauge ||
        it->second.gauge->label_names_ != label_names) {
      Die("metric " + name + " registered twice with different type or labels");
    }
    return *it->second.gauge;
  }
  Entry e{MetricType::kGauge, nullptr, nullptr, nullptr};
  e.gauge.reset(new Family<Gauge>(name, std::move(help), std::move(label_names), {}));
  auto& ref = *e.gauge;
  families_.emplace(std::move(name), std::move(e));
  return ref;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != MetricType::kHistogram ||
        it->second.histogram->label_names_ != label_names) {
      Die("metric " + name + " registered twice with different type or labels");
    }
    return *it->second.histogram;
  }
  for (const auto& l : label_names) {
    if (l == "le") Die("histogram " + name + " may not use label name le");
  }
  Entry e{MetricType::kHistogram, nullptr, nullptr, nullptr};
  e.histogram.reset(
      new Family<Histogram>(name, std::move(help), std::move(label_names), std::move(buckets)));
  auto& ref = *e.histogram;
  families_.emplace(std::move(name), std::move(e));
  return ref;
}

void Registry::AddCollector(std::function<void(std::string& out)> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Expose() const {
  std::string out;
  std::vector<std::function<void(std::string&)>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, e] : families_) {
      switch (e.type) {
        case MetricType::kCounter: e.counter->Write(out); break;
        case MetricType::kGauge: e.gauge->Write(out); break;
        case MetricType::kHistogram: e.histogram->Write(out); break;
      }
    }
    collectors = collectors_;
  }
  for (const auto& c : collectors) c(out);
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Shortest representation that round-trips, like Go's strconv 'g' -1.
  return fmt::format("{}", v);
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace sightline::telemetry
