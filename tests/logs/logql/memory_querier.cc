#include "memory_querier.h"

#include <algorithm>
#include <set>

namespace sightline::logs::logql::testing {
namespace {

class VecIterator : public StreamIterator {
 public:
  VecIterator(Labels l, std::vector<Entry> e) : labels_(std::move(l)), entries_(std::move(e)) {}
  const Labels& labels() const override { return labels_; }
  bool Next() override {
    if (pos_ >= entries_.size()) return false;
    cur_ = &entries_[pos_++];
    return true;
  }
  const Entry& entry() const override { return *cur_; }
  Status status() const override { return Status::Ok(); }

 private:
  Labels labels_;
  std::vector<Entry> entries_;
  size_t pos_ = 0;
  const Entry* cur_ = nullptr;
};

}  // namespace

void MemoryLogQuerier::Add(const Labels& stream, Entry e) {
  Stream& s = streams_[stream];
  s.labels = stream;
  if (!s.entries.empty() && e.timestamp_ns < s.entries.back().timestamp_ns) s.sorted = false;
  s.entries.push_back(std::move(e));
}

std::vector<const MemoryLogQuerier::Stream*> MemoryLogQuerier::Match(
    const std::vector<Matcher>& matchers, int64_t start_ns, int64_t end_ns) {
  std::vector<const Stream*> out;
  for (auto& [l, s] : streams_) {
    if (!s.sorted) {
      std::stable_sort(s.entries.begin(), s.entries.end(),
                       [](const Entry& a, const Entry& b) { return a.timestamp_ns < b.timestamp_ns; });
      s.sorted = true;
    }
    bool ok = true;
    for (const auto& m : matchers) {
      if (!m.Matches(l.Get(m.name()))) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    bool any = false;
    for (const auto& e : s.entries) {
      if (e.timestamp_ns >= start_ns && e.timestamp_ns < end_ns) {
        any = true;
        break;
      }
    }
    if (any) out.push_back(&s);
  }
  return out;
}

Result<std::vector<std::unique_ptr<StreamIterator>>> MemoryLogQuerier::SelectLogs(
    const SelectLogsParams& p) {
  hints_.push_back(p.line_contains);
  label_trace_ids_.push_back(p.label_trace_id.value_or(""));
  std::vector<std::unique_ptr<StreamIterator>> out;
  for (const Stream* s : Match(p.matchers, p.start_ns, p.end_ns)) {
    std::vector<Entry> es;
    for (const auto& e : s->entries) {
      if (e.timestamp_ns >= p.start_ns && e.timestamp_ns < p.end_ns) es.push_back(e);
    }
    if (p.direction == Direction::kBackward) std::reverse(es.begin(), es.end());
    out.push_back(std::make_unique<VecIterator>(s->labels, std::move(es)));
  }
  return out;
}

Result<std::vector<Labels>> MemoryLogQuerier::Series(const std::vector<Matcher>& matchers,
                                                     int64_t start_ns, int64_t end_ns) {
  std::vector<Labels> out;
  for (const Stream* s : Match(matchers, start_ns, end_ns)) out.push_back(s->labels);
  return out;
}

Result<std::vector<std::string>> MemoryLogQuerier::LabelNames(const std::vector<Matcher>& matchers,
                                                              int64_t start_ns, int64_t end_ns) {
  std::set<std::string> names;
  for (const Stream* s : Match(matchers, start_ns, end_ns)) {
    for (const auto& l : s->labels) names.insert(l.name);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<std::vector<std::string>> MemoryLogQuerier::LabelValues(const std::string& name,
                                                               const std::vector<Matcher>& matchers,
                                                               int64_t start_ns, int64_t end_ns) {
  std::set<std::string> vals;
  for (const Stream* s : Match(matchers, start_ns, end_ns)) {
    if (s->labels.Has(name)) vals.insert(std::string(s->labels.Get(name)));
  }
  return std::vector<std::string>(vals.begin(), vals.end());
}

}  // namespace sightline::logs::logql::testing
