#include "metrics/storage/dedup.h"

#include <algorithm>
#include <deque>
#include <limits>

namespace sightline::metrics {

namespace {

// Thanos's initial penalty: timestamps are in ms and scrape intervals are
// seconds long, so 5 s keeps a fresh replica from interleaving samples.
constexpr int64_t kInitialPenalty = 5000;
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

class DedupIterator final : public SeriesIterator {
 public:
  DedupIterator(std::unique_ptr<SeriesIterator> a, std::unique_ptr<SeriesIterator> b)
      : a_(std::move(a)), b_(std::move(b)) {}

  bool Next() override {
    if (!started_) {
      started_ = true;
      aok_ = a_->Next();
      bok_ = b_->Next();
    }
    // Advance both past the last sample emitted plus their penalties.
    if (aok_) aok_ = a_->Seek(Add(last_t_, 1 + pen_a_));
    if (bok_) bok_ = b_->Seek(Add(last_t_, 1 + pen_b_));
    if (!aok_) {
      use_a_ = false;
      if (bok_) {
        last_t_ = b_->t();
        pen_b_ = 0;
      }
      return bok_;
    }
    if (!bok_) {
      use_a_ = true;
      last_t_ = a_->t();
      pen_a_ = 0;
      return true;
    }
    const int64_t ta = a_->t();
    const int64_t tb = b_->t();
    use_a_ = ta <= tb;
    if (use_a_) {
      pen_b_ = last_t_ != kNoTime ? 2 * (ta - last_t_) : kInitialPenalty;
      pen_a_ = 0;
      last_t_ = ta;
    } else {
      pen_a_ = last_t_ != kNoTime ? 2 * (tb - last_t_) : kInitialPenalty;
      pen_b_ = 0;
      last_t_ = tb;
    }
    return true;
  }

  // Steps with Next rather than seeking the replicas, so that gaps are seen
  // exactly as a full iteration would see them.
  bool Seek(int64_t t) override {
    if (!started_ || (!aok_ && !bok_)) {
      if (!Next()) return false;
    }
    while (this->t() < t) {
      if (!Next()) return false;
    }
    return true;
  }

  int64_t t() const override { return use_a_ ? a_->t() : b_->t(); }
  double v() const override { return use_a_ ? a_->v() : b_->v(); }
  Status err() const override {
    if (Status s = a_->err(); !s.ok()) return s;
    return b_->err();
  }

 private:
  static int64_t Add(int64_t t, int64_t d) {
    if (t == kNoTime) return kNoTime + d;
    if (d > 0 && t > std::numeric_limits<int64_t>::max() - d) {
      return std::numeric_limits<int64_t>::max();
    }
    return t + d;
  }

  std::unique_ptr<SeriesIterator> a_, b_;
  bool started_ = false;
  bool aok_ = false, bok_ = false;
  bool use_a_ = true;
  int64_t last_t_ = kNoTime;
  int64_t pen_a_ = 0, pen_b_ = 0;
};

class DedupSeries final : public Series {
 public:
  DedupSeries(Labels labels, std::vector<const Series*> replicas)
      : labels_(std::move(labels)), replicas_(std::move(replicas)) {}
  const Labels& labels() const override { return labels_; }
  std::unique_ptr<SeriesIterator> Iterator() const override {
    std::unique_ptr<SeriesIterator> it = replicas_[0]->Iterator();
    for (size_t i = 1; i < replicas_.size(); ++i) {
      it = std::make_unique<DedupIterator>(std::move(it), replicas_[i]->Iterator());
    }
    return it;
  }

 private:
  Labels labels_;
  std::vector<const Series*> replicas_;
};

class ListSet final : public SeriesSet {
 public:
  ListSet(std::vector<const Series*> series, Status err, std::vector<std::string> warnings)
      : series_(std::move(series)), err_(std::move(err)), warnings_(std::move(warnings)) {}
  bool Next() override {
    if (!err_.ok() || next_ >= series_.size()) return false;
    ++next_;
    return true;
  }
  const Series& At() const override { return *series_[next_ - 1]; }
  Status err() const override { return err_; }
  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  std::vector<const Series*> series_;
  size_t next_ = 0;
  Status err_;
  std::vector<std::string> warnings_;
};

class DedupQuerier final : public Querier {
 public:
  DedupQuerier(std::unique_ptr<Querier> inner, std::vector<std::string> replica_labels)
      : inner_(std::move(inner)), replica_labels_(std::move(replica_labels)) {}

  std::unique_ptr<SeriesSet> Select(bool, const SelectHints* hints,
                                    const std::vector<promql::Matcher>& matchers) override {
    std::unique_ptr<SeriesSet> set = inner_->Select(true, hints, matchers);
    struct Item {
      Labels stripped;
      const Series* series;
    };
    std::vector<Item> items;
    while (set->Next()) {
      const Series& s = set->At();
      items.push_back(Item{Strip(s.labels()), &s});
    }
    // Group by the labels without replica labels; within a group keep the
    // replicas in the order of their full labels (replica "a" before "b").
    std::stable_sort(items.begin(), items.end(), [](const Item& x, const Item& y) {
      int c = Labels::Compare(x.stripped, y.stripped);
      if (c != 0) return c < 0;
      return x.series->labels() < y.series->labels();
    });
    std::vector<const Series*> out;
    for (size_t i = 0; i < items.size();) {
      size_t j = i + 1;
      while (j < items.size() && items[j].stripped == items[i].stripped) ++j;
      std::vector<const Series*> replicas;
      for (size_t k = i; k < j; ++k) replicas.push_back(items[k].series);
      owned_.emplace_back(std::move(items[i].stripped), std::move(replicas));
      out.push_back(&owned_.back());
      i = j;
    }
    Status err = set->err();
    std::vector<std::string> warnings = set->warnings();
    sets_.push_back(std::move(set));
    return std::make_unique<ListSet>(std::move(out), std::move(err), std::move(warnings));
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    // Deduplicated series have no replica label (Thanos Query answers the
    // same); dedup=false reads the replicas as stored.
    if (IsReplica(name)) return std::vector<std::string>{};
    return inner_->LabelValues(name, matchers);
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    SL_ASSIGN_OR_RETURN(std::vector<std::string> names, inner_->LabelNames(matchers));
    std::erase_if(names, [&](const std::string& n) { return IsReplica(n); });
    return names;
  }

 private:
  bool IsReplica(std::string_view name) const {
    return std::find(replica_labels_.begin(), replica_labels_.end(), name) !=
           replica_labels_.end();
  }
  Labels Strip(const Labels& l) const {
    bool any = false;
    for (const Label& x : l) any = any || IsReplica(x.name);
    if (!any) return l;
    std::vector<Label> out;
    out.reserve(l.size());
    for (const Label& x : l) {
      if (!IsReplica(x.name)) out.push_back(x);
    }
    return Labels::FromSortedUnchecked(std::move(out));
  }

  std::unique_ptr<Querier> inner_;
  std::vector<std::string> replica_labels_;
  std::deque<DedupSeries> owned_;
  std::vector<std::unique_ptr<SeriesSet>> sets_;
};

}  // namespace

std::unique_ptr<SeriesIterator> NewDedupIterator(std::unique_ptr<SeriesIterator> a,
                                                 std::unique_ptr<SeriesIterator> b) {
  return std::make_unique<DedupIterator>(std::move(a), std::move(b));
}

std::unique_ptr<Querier> NewDedupQuerier(std::unique_ptr<Querier> inner,
                                         std::vector<std::string> replica_labels) {
  if (replica_labels.empty()) return inner;
  return std::make_unique<DedupQuerier>(std::move(inner), std::move(replica_labels));
}

Result<std::unique_ptr<Querier>> DedupQueryable::NewQuerier(std::string_view tenant, int64_t mint,
                                                            int64_t maxt) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Querier> q, inner_->NewQuerier(tenant, mint, maxt));
  return NewDedupQuerier(std::move(q), replica_labels_);
}

}  // namespace sightline::metrics
