#include "metrics/ingest/fake_appendable.h"

#include <algorithm>
#include <set>
#include <utility>

namespace sightline::metrics::testing {

class FakeAppendable::FakeAppender : public Appender {
 public:
  FakeAppender(FakeAppendable* db, std::string tenant) : db_(db), tenant_(std::move(tenant)) {}

  Result<uint64_t> Append(uint64_t ref, const Labels& labels, int64_t t_ms, double v) override {
    SampleHook hook;
    {
      std::lock_guard<std::mutex> l(db_->mu_);
      hook = db_->hook_;
    }
    if (hook) {
      Status s = hook(labels, t_ms, v);
      if (!s.ok()) return s;
    }
    pending_.push_back(RecordedSample{tenant_, labels, t_ms, v});
    std::lock_guard<std::mutex> l(db_->mu_);
    uint64_t& r = db_->refs_[labels.ToString()];
    if (r == 0) r = db_->refs_.size();
    if (ref != 0 && ref != r) return InternalError("wrong series ref passed back");
    return r;
  }

  Status AppendExemplar(uint64_t ref, const Labels& labels, const Exemplar& e) override {
    pending_exemplars_.push_back(RecordedExemplar{tenant_, ref, labels, e});
    return Status::Ok();
  }

  Status UpdateMetadata(const std::string& metric_family, const MetricMetadata& m) override {
    pending_metadata_.emplace_back(metric_family, m);
    return Status::Ok();
  }

  Status Commit() override {
    std::lock_guard<std::mutex> l(db_->mu_);
    if (!db_->commit_error_.ok()) return db_->commit_error_;
    ++db_->commits_;
    for (auto& s : pending_) db_->samples_.push_back(std::move(s));
    for (auto& e : pending_exemplars_) db_->exemplars_.push_back(std::move(e));
    for (auto& [k, m] : pending_metadata_) db_->metadata_[k] = m;
    return Status::Ok();
  }

  void Rollback() override {
    std::lock_guard<std::mutex> l(db_->mu_);
    ++db_->rollbacks_;
  }

 private:
  FakeAppendable* db_;
  std::string tenant_;
  std::vector<RecordedSample> pending_;
  std::vector<RecordedExemplar> pending_exemplars_;
  std::vector<std::pair<std::string, MetricMetadata>> pending_metadata_;
};

std::unique_ptr<Appender> FakeAppendable::NewAppender(std::string_view tenant) {
  return std::make_unique<FakeAppender>(this, std::string(tenant));
}

std::vector<std::string> FakeAppendable::SeriesStrings() const {
  std::set<std::string> s;
  for (const RecordedSample& r : samples()) s.insert(r.labels.ToString());
  return {s.begin(), s.end()};
}

std::vector<RecordedSample> FakeAppendable::SamplesOf(const std::string& series) const {
  std::vector<RecordedSample> out;
  for (const RecordedSample& r : samples()) {
    if (r.labels.ToString() == series) out.push_back(r);
  }
  return out;
}

FakeAppendable::SampleHook HeadLikeHook() {
  auto last = std::make_shared<std::map<std::string, std::pair<int64_t, double>>>();
  auto mu = std::make_shared<std::mutex>();
  return [last, mu](const Labels& ls, int64_t t, double v) -> Status {
    std::lock_guard<std::mutex> l(*mu);
    auto [it, inserted] = last->emplace(ls.ToString(), std::make_pair(t, v));
    if (inserted) return Status::Ok();
    if (t < it->second.first) return InvalidArgumentError("out of order sample");
    if (t == it->second.first) {
      if (BitEqual(v, it->second.second)) return Status::Ok();
      return InvalidArgumentError("duplicate sample for timestamp");
    }
    it->second = {t, v};
    return Status::Ok();
  };
}

}  // namespace sightline::metrics::testing
