#include "metrics/storage/memory_storage.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

namespace sightline::metrics {
namespace {

constexpr size_t kChunkSamples = 512;

struct Chunk {
  int64_t t[kChunkSamples];
  double v[kChunkSamples];
};

// One series. `chunks` only grows; chunk contents below `count` never change.
struct MemSeries {
  Labels labels;
  std::vector<std::unique_ptr<Chunk>> chunks;
  size_t count = 0;
  int64_t min_t = 0;
  int64_t max_t = 0;
  double last_v = 0;
  std::vector<Exemplar> exemplars;

  void Append(int64_t t, double v) {
    if (count % kChunkSamples == 0) chunks.push_back(std::make_unique<Chunk>());
    Chunk& c = *chunks.back();
    c.t[count % kChunkSamples] = t;
    c.v[count % kChunkSamples] = v;
    if (count == 0) min_t = t;
    max_t = t;
    last_v = v;
    ++count;
  }
};

bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

// A frozen view of a series' samples in [lo, hi) (indices).
struct Snapshot {
  const Labels* labels = nullptr;
  std::vector<const Chunk*> chunks;
  size_t lo = 0;
  size_t hi = 0;

  int64_t T(size_t i) const { return chunks[i / kChunkSamples]->t[i % kChunkSamples]; }
  double V(size_t i) const { return chunks[i / kChunkSamples]->v[i % kChunkSamples]; }
};

class SnapshotIterator final : public SeriesIterator {
 public:
  explicit SnapshotIterator(const Snapshot* s) : s_(s), pos_(s->lo), started_(false) {}

  bool Next() override {
    if (!started_) {
      started_ = true;
    } else if (pos_ < s_->hi) {
      ++pos_;
    }
    return pos_ < s_->hi;
  }

  bool Seek(int64_t t) override {
    if (!started_) started_ = true;
    if (pos_ >= s_->hi) return false;
    if (s_->T(pos_) >= t) return true;
    // Binary search in (pos_, hi).
    size_t lo = pos_ + 1, hi = s_->hi;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (s_->T(mid) < t) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    pos_ = lo;
    return pos_ < s_->hi;
  }

  int64_t t() const override { return s_->T(pos_); }
  double v() const override { return s_->V(pos_); }

 private:
  const Snapshot* s_;
  size_t pos_;
  bool started_;
};

class SnapshotSeries final : public Series {
 public:
  explicit SnapshotSeries(Snapshot s) : s_(std::move(s)) {}
  const Labels& labels() const override { return *s_.labels; }
  std::unique_ptr<SeriesIterator> Iterator() const override {
    return std::make_unique<SnapshotIterator>(&s_);
  }

 private:
  Snapshot s_;
};

class VectorSeriesSet final : public SeriesSet {
 public:
  explicit VectorSeriesSet(std::vector<const Series*> series) : series_(std::move(series)) {}
  bool Next() override {
    if (next_ >= series_.size()) return false;
    cur_ = next_++;
    return true;
  }
  const Series& At() const override { return *series_[cur_]; }

 private:
  std::vector<const Series*> series_;
  size_t next_ = 0;
  size_t cur_ = 0;
};

bool MatchesAll(const Labels& l, const std::vector<promql::Matcher>& matchers) {
  for (const promql::Matcher& m : matchers) {
    if (!m.Matches(l.Get(m.name()))) return false;
  }
  return true;
}

}  // namespace

struct MemoryStorage::Tenant {
  std::vector<std::unique_ptr<MemSeries>> series;  // Index = ref - 1.
  std::map<Labels, uint32_t> by_labels;            // Sorted, as Select returns them.
  std::unordered_map<std::string, std::map<Labels, uint32_t>> by_name;
  std::map<std::string, MetricMetadata, std::less<>> metadata;
  size_t samples = 0;

  MemSeries* Find(const Labels& l) const {
    auto it = by_labels.find(l);
    return it == by_labels.end() ? nullptr : series[it->second].get();
  }
  uint32_t GetOrCreate(const Labels& l) {
    auto it = by_labels.find(l);
    if (it != by_labels.end()) return it->second;
    auto s = std::make_unique<MemSeries>();
    s->labels = l;
    const uint32_t idx = static_cast<uint32_t>(series.size());
    series.push_back(std::move(s));
    by_labels.emplace(l, idx);
    by_name[std::string(l.Get(promql::kMetricNameLabel))].emplace(l, idx);
    return idx;
  }
};

namespace {

class MemoryQuerier final : public Querier {
 public:
  MemoryQuerier(std::shared_mutex* mu, const MemoryStorage::Tenant* tenant, int64_t mint,
                int64_t maxt)
      : mu_(mu), tenant_(tenant), mint_(mint), maxt_(maxt) {}

  std::unique_ptr<SeriesSet> Select(bool /*sorted*/, const SelectHints* hints,
                                    const std::vector<promql::Matcher>& matchers) override {
    int64_t mint = mint_, maxt = maxt_;
    if (hints != nullptr) {
      mint = std::max(mint, hints->start_ms);
      maxt = std::min(maxt, hints->end_ms);
    }
    std::vector<const Series*> out;
    if (tenant_ == nullptr) return std::make_unique<VectorSeriesSet>(std::move(out));
    std::shared_lock lock(*mu_);
    const std::map<Labels, uint32_t>* candidates = &tenant_->by_labels;
    for (const promql::Matcher& m : matchers) {
      if (m.name() == promql::kMetricNameLabel && m.type() == promql::MatchType::kEqual) {
        auto it = tenant_->by_name.find(m.value());
        if (it == tenant_->by_name.end()) {
          return std::make_unique<VectorSeriesSet>(std::move(out));
        }
        candidates = &it->second;
        break;
      }
    }
    for (const auto& [labels, idx] : *candidates) {
      if (!MatchesAll(labels, matchers)) continue;
      const MemSeries& s = *tenant_->series[idx];
      if (s.count == 0 || s.max_t < mint || s.min_t > maxt) continue;
      Snapshot snap;
      snap.labels = &s.labels;
      snap.chunks.reserve(s.chunks.size());
      for (const auto& c : s.chunks) snap.chunks.push_back(c.get());
      // First index with t >= mint, first index with t > maxt.
      auto lower = [&](int64_t t, bool inclusive) {
        size_t lo = 0, hi = s.count;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          const int64_t mt = snap.T(mid);
          if (inclusive ? mt < t : mt <= t) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        return lo;
      };
      snap.lo = lower(mint, true);
      snap.hi = lower(maxt, false);
      if (snap.lo >= snap.hi) continue;
      owned_.push_back(std::make_unique<SnapshotSeries>(std::move(snap)));
      out.push_back(owned_.back().get());
    }
    return std::make_unique<VectorSeriesSet>(std::move(out));
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::string> out;
    if (tenant_ == nullptr) return out;
    std::shared_lock lock(*mu_);
    for (const auto& [labels, idx] : tenant_->by_labels) {
      if (!InRange(idx) || !MatchesAll(labels, matchers)) continue;
      std::string_view v = labels.Get(name);
      if (!v.empty()) out.emplace_back(v);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::string> out;
    if (tenant_ == nullptr) return out;
    std::shared_lock lock(*mu_);
    for (const auto& [labels, idx] : tenant_->by_labels) {
      if (!InRange(idx) || !MatchesAll(labels, matchers)) continue;
      for (const Label& l : labels) out.push_back(l.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  bool InRange(uint32_t idx) const {
    const MemSeries& s = *tenant_->series[idx];
    return s.count > 0 && s.max_t >= mint_ && s.min_t <= maxt_;
  }

  std::shared_mutex* mu_;
  const MemoryStorage::Tenant* tenant_;
  int64_t mint_;
  int64_t maxt_;
  std::vector<std::unique_ptr<SnapshotSeries>> owned_;
};

}  // namespace

class MemoryStorage::AppenderImpl final : public Appender {
 public:
  AppenderImpl(MemoryStorage* store, std::string tenant)
      : store_(store), tenant_(std::move(tenant)) {}

  Result<uint64_t> Append(uint64_t ref, const Labels& labels, int64_t t_ms, double v) override {
    // Refs are this appender's; one from elsewhere is checked against the
    // labels (an empty label set trusts the ref).
    if (ref == 0 || ref > refs_.size() || (!labels.empty() && refs_[ref - 1].labels != labels)) {
      if (labels.empty()) return InvalidArgumentError("empty labels");
      ref = RefFor(labels);
    }
    PendingSeries& ps = refs_[ref - 1];
    if (ps.has_last) {
      if (t_ms < ps.last_t) return InvalidArgumentError("out of order sample");
      if (t_ms == ps.last_t) {
        if (SameBits(v, ps.last_v)) return ref;
        return InvalidArgumentError("duplicate sample for timestamp");
      }
    }
    ps.has_last = true;
    ps.last_t = t_ms;
    ps.last_v = v;
    samples_.push_back({static_cast<uint32_t>(ref - 1), t_ms, v});
    return ref;
  }

  Status AppendExemplar(uint64_t ref, const Labels& labels, const Exemplar& e) override {
    if (ref == 0 || ref > refs_.size() || (!labels.empty() && refs_[ref - 1].labels != labels)) {
      ref = RefFor(labels);
    }
    exemplars_.push_back({static_cast<uint32_t>(ref - 1), e});
    return Status::Ok();
  }

  Status UpdateMetadata(const std::string& metric_family, const MetricMetadata& m) override {
    metadata_.emplace_back(metric_family, m);
    return Status::Ok();
  }

  Status Commit() override {
    std::unique_lock lock(store_->mu_);
    Tenant* t = store_->GetOrCreateTenant(tenant_);
    std::vector<MemSeries*> series(refs_.size(), nullptr);
    auto resolve = [&](uint32_t r) {
      if (series[r] == nullptr) series[r] = t->series[t->GetOrCreate(refs_[r].labels)].get();
      return series[r];
    };
    for (const PendingSample& p : samples_) {
      MemSeries& s = *resolve(p.ref);
      // Another appender may have committed in between: keep the series
      // ordered by dropping what became out of order.
      if (s.count > 0 && p.t <= s.max_t) continue;
      s.Append(p.t, p.v);
      ++t->samples;
    }
    for (auto& [r, e] : exemplars_) resolve(r)->exemplars.push_back(e);
    for (auto& [family, m] : metadata_) t->metadata[family] = m;
    Rollback();
    return Status::Ok();
  }

  void Rollback() override {
    samples_.clear();
    exemplars_.clear();
    metadata_.clear();
    refs_.clear();
    ref_by_key_.clear();
  }

 private:
  struct PendingSample {
    uint32_t ref;  // Index into refs_.
    int64_t t;
    double v;
  };
  // A series this appender has seen, with its newest sample (committed or
  // pending) for the ordering checks.
  struct PendingSeries {
    Labels labels;
    bool has_last = false;
    int64_t last_t = 0;
    double last_v = 0;
  };

  uint64_t RefFor(const Labels& l) {
    const std::string key = l.ToString();
    auto it = ref_by_key_.find(key);
    if (it != ref_by_key_.end()) return it->second;
    PendingSeries ps;
    ps.labels = l;
    {
      std::shared_lock lock(store_->mu_);
      if (Tenant* t = store_->FindTenant(tenant_)) {
        if (const MemSeries* s = t->Find(l); s != nullptr && s->count > 0) {
          ps.has_last = true;
          ps.last_t = s->max_t;
          ps.last_v = s->last_v;
        }
      }
    }
    refs_.push_back(std::move(ps));
    ref_by_key_.emplace(key, refs_.size());
    return refs_.size();
  }

  MemoryStorage* store_;
  std::string tenant_;
  std::vector<PendingSample> samples_;
  std::vector<std::pair<uint32_t, Exemplar>> exemplars_;
  std::vector<std::pair<std::string, MetricMetadata>> metadata_;
  // Refs are per appender: indices into refs_ (+1).
  std::vector<PendingSeries> refs_;
  std::unordered_map<std::string, uint64_t> ref_by_key_;
};

MemoryStorage::MemoryStorage() = default;
MemoryStorage::~MemoryStorage() = default;

MemoryStorage::Tenant* MemoryStorage::FindTenant(std::string_view tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second.get();
}

MemoryStorage::Tenant* MemoryStorage::GetOrCreateTenant(std::string_view tenant) {
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) return it->second.get();
  auto [ins, _] = tenants_.emplace(std::string(tenant), std::make_unique<Tenant>());
  return ins->second.get();
}

std::unique_ptr<Appender> MemoryStorage::NewAppender(std::string_view tenant) {
  return std::make_unique<AppenderImpl>(this, std::string(tenant));
}

Result<std::unique_ptr<Querier>> MemoryStorage::NewQuerier(std::string_view tenant, int64_t mint,
                                                           int64_t maxt) {
  std::shared_lock lock(mu_);
  // A tenant created later is not visible to this querier; an unknown tenant
  // simply has no data.
  return std::unique_ptr<Querier>(
      std::make_unique<MemoryQuerier>(&mu_, FindTenant(tenant), mint, maxt));
}

void MemoryStorage::Clear() {
  std::unique_lock lock(mu_);
  tenants_.clear();
}

size_t MemoryStorage::NumSeries(std::string_view tenant) const {
  std::shared_lock lock(mu_);
  const Tenant* t = FindTenant(tenant);
  return t == nullptr ? 0 : t->series.size();
}

size_t MemoryStorage::NumSamples(std::string_view tenant) const {
  std::shared_lock lock(mu_);
  const Tenant* t = FindTenant(tenant);
  return t == nullptr ? 0 : t->samples;
}

Result<MetricMetadata> MemoryStorage::Metadata(std::string_view tenant,
                                               const std::string& family) const {
  std::shared_lock lock(mu_);
  const Tenant* t = FindTenant(tenant);
  if (t != nullptr) {
    auto it = t->metadata.find(family);
    if (it != t->metadata.end()) return it->second;
  }
  return NotFoundError("no metadata for " + family);
}

std::vector<Exemplar> MemoryStorage::Exemplars(std::string_view tenant,
                                               const Labels& labels) const {
  std::shared_lock lock(mu_);
  const Tenant* t = FindTenant(tenant);
  if (t == nullptr) return {};
  const MemSeries* s = t->Find(labels);
  return s == nullptr ? std::vector<Exemplar>{} : s->exemplars;
}

}  // namespace sightline::metrics
