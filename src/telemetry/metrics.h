// Self-metrics: counters, gauges and histograms with labels, exposed in the
// Prometheus text format 0.0.4 at /metrics.
//
// A Registry owns metric families; a family owns one child per label-value
// tuple. Children live as long as the registry, so a reference obtained from
// WithLabels() may be cached and used from any thread without locking:
// updates are lock-free atomics. Registering a name twice with the same type
// and label names returns the existing family (servers started several times
// in one test process share it); a conflicting registration aborts, since it
// is a programming error.
//
// Names follow Prometheus conventions; the series the seed's runbook queries
// use the upstream names (DESIGN.md §7).
#pragma once

#include <atomic>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::telemetry {

class Counter {
 public:
  void Inc(double delta = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta);
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;      // without +Inf
    std::vector<uint64_t> cumulative;       // one per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// Default request-latency buckets (Prometheus client default).
std::vector<double> DefaultBuckets();
std::vector<double> ExponentialBuckets(double start, double factor, int count);

template <typename M>
class Family {
 public:
  // Returns the child for these label values (in the order of the family's
  // label names); creates it on first use. Wrong arity aborts.
  M& WithLabels(std::initializer_list<std::string_view> values);
  M& WithLabels(std::span<const std::string> values);
  // Only for families without labels.
  M& Get() { return WithLabels(std::span<const std::string>{}); }

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        buckets_(std::move(buckets)) {}

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;

  void Write(std::string& out) const;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry served at /metrics.
  static Registry& Default();

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names = {},
                                  std::vector<double> buckets = DefaultBuckets());

  // A callback that writes whole families in exposition format when
  // /metrics is scraped (for values that are cheaper to read than to track,
  // e.g. process_resident_memory_bytes). Must be thread-safe.
  void AddCollector(std::function<void(std::string& out)> collect);

  // Text format 0.0.4, families sorted by name.
  std::string Expose() const;

 private:
  struct Entry {
    MetricType type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> families_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// Formats a sample value as Prometheus does (shortest round-trip, +Inf, -Inf, NaN).
std::string FormatValue(double v);
// Escapes a label value for the text format (backslash, quote, newline).
std::string EscapeLabelValue(std::string_view v);

}  // namespace sightline::telemetry
