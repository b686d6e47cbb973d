// A recording Appendable for the ingest tests: keeps every committed sample,
// exemplar and metadata entry per tenant, and lets a test inject per-sample
// errors (by series and timestamp) and commit errors.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/storage/storage.h"

namespace sightline::metrics::testing {

struct RecordedSample {
  std::string tenant;
  Labels labels;
  int64_t t = 0;
  double v = 0;
};

struct RecordedExemplar {
  std::string tenant;
  uint64_t ref = 0;
  Labels series;
  Exemplar exemplar;
};

class FakeAppendable : public Appendable {
 public:
  // Decides the result of one Append: OK to accept, an error to refuse.
  using SampleHook = std::function<Status(const Labels&, int64_t t, double v)>;

  std::unique_ptr<Appender> NewAppender(std::string_view tenant) override;

  void set_sample_hook(SampleHook h) {
    std::lock_guard<std::mutex> l(mu_);
    hook_ = std::move(h);
  }
  void set_commit_error(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    commit_error_ = std::move(s);
  }

  std::vector<RecordedSample> samples() const {
    std::lock_guard<std::mutex> l(mu_);
    return samples_;
  }
  std::vector<RecordedExemplar> exemplars() const {
    std::lock_guard<std::mutex> l(mu_);
    return exemplars_;
  }
  std::map<std::string, MetricMetadata> metadata() const {
    std::lock_guard<std::mutex> l(mu_);
    return metadata_;
  }
  int commits() const {
    std::lock_guard<std::mutex> l(mu_);
    return commits_;
  }
  int rollbacks() const {
    std::lock_guard<std::mutex> l(mu_);
    return rollbacks_;
  }
  // Committed series, as "name{labels...}" strings (Labels::ToString), sorted.
  std::vector<std::string> SeriesStrings() const;
  // The committed samples of the series whose ToString() is `series`.
  std::vector<RecordedSample> SamplesOf(const std::string& series) const;

 private:
  class FakeAppender;
  mutable std::mutex mu_;
  SampleHook hook_;
  Status commit_error_;
  std::vector<RecordedSample> samples_;
  std::vector<RecordedExemplar> exemplars_;
  std::map<std::string, MetricMetadata> metadata_;
  std::map<std::string, uint64_t> refs_;
  int commits_ = 0;
  int rollbacks_ = 0;
};

// Duplicate and out-of-order detection like the TSDB head, for tests that
// want realistic per-sample errors: a sample older than the series' last one
// is "out of order sample", the same timestamp with another value is
// "duplicate sample for timestamp".
FakeAppendable::SampleHook HeadLikeHook();

inline bool BitEqual(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

}  // namespace sightline::metrics::testing
