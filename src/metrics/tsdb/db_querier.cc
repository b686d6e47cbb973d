#include "metrics/tsdb/db_querier.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "metrics/tsdb/head_postings.h"

namespace sightline::tsdb {

namespace {

class VectorIterator final : public metrics::SeriesIterator {
 public:
  VectorIterator(std::vector<Sample> samples, Status err)
      : samples_(std::move(samples)), err_(std::move(err)) {}

  bool Next() override {
    if (!started_) {
      started_ = true;
      i_ = 0;
    } else if (i_ < samples_.size()) {
      ++i_;
    }
    return i_ < samples_.size();
  }
  bool Seek(int64_t t) override {
    if (!started_) {
      started_ = true;
      i_ = 0;
    }
    if (i_ < samples_.size() && samples_[i_].t >= t) return true;
    auto it = std::lower_bound(samples_.begin() + static_cast<ptrdiff_t>(i_), samples_.end(), t,
                               [](const Sample& s, int64_t ts) { return s.t < ts; });
    i_ = static_cast<size_t>(it - samples_.begin());
    return i_ < samples_.size();
  }
  int64_t t() const override { return samples_[i_].t; }
  double v() const override { return samples_[i_].v; }
  Status err() const override { return err_; }

 private:
  std::vector<Sample> samples_;
  Status err_;
  size_t i_ = 0;
  bool started_ = false;
};

class StatusSeriesSet final : public metrics::SeriesSet {
 public:
  explicit StatusSeriesSet(Status s) : status_(std::move(s)) {}
  bool Next() override { return false; }
  const metrics::Series& At() const override { std::abort(); }
  Status err() const override { return status_; }

 private:
  Status status_;
};

// --- one block ---

class BlockSeries final : public metrics::Series {
 public:
  BlockSeries(const BlockReader* b, SeriesRef ref, Labels l, std::vector<ChunkMeta> chunks,
              int64_t mint, int64_t maxt)
      : b_(b),
        ref_(ref),
        labels_(std::move(l)),
        chunks_(std::move(chunks)),
        mint_(mint),
        maxt_(maxt) {}
  const Labels& labels() const override { return labels_; }
  std::unique_ptr<metrics::SeriesIterator> Iterator() const override {
    std::vector<Sample> out;
    Status st = b_->ReadSamples(ref_, chunks_, mint_, maxt_, &out);
    return std::make_unique<VectorIterator>(std::move(out), std::move(st));
  }

 private:
  const BlockReader* b_;
  SeriesRef ref_;
  Labels labels_;
  std::vector<ChunkMeta> chunks_;
  int64_t mint_, maxt_;
};

template <typename S>
class OwnedSeriesSet final : public metrics::SeriesSet {
 public:
  explicit OwnedSeriesSet(std::vector<S> series) : series_(std::move(series)) {}
  bool Next() override {
    if (next_ >= series_.size()) return false;
    ++next_;
    return true;
  }
  const metrics::Series& At() const override { return series_[next_ - 1]; }

 private:
  std::vector<S> series_;
  size_t next_ = 0;
};

class BlockQuerier final : public metrics::Querier {
 public:
  BlockQuerier(std::shared_ptr<const BlockReader> b, int64_t mint, int64_t maxt)
      : b_(std::move(b)), mint_(mint), maxt_(maxt) {}

  std::unique_ptr<metrics::SeriesSet> Select(
      bool sorted, const metrics::SelectHints* hints,
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<BlockSeries> out;
    Status st = ForEachSelected(matchers, [&](SeriesRef ref, Labels& l, std::vector<ChunkMeta>& c) {
      out.emplace_back(b_.get(), ref, std::move(l), std::move(c), mint_, maxt_);
    });
    if (!st.ok()) return ErrorSeriesSet(st);
    // Index order is label order: already sorted.
    return std::make_unique<OwnedSeriesSet<BlockSeries>>(std::move(out));
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::string> out;
    if (matchers.empty()) {
      for (std::string_view v : b_->index().LabelValues(name)) out.emplace_back(v);
      return out;
    }
    std::set<std::string> seen;
    SL_RETURN_IF_ERROR(
        ForEachSelected(matchers, [&](SeriesRef, Labels& l, std::vector<ChunkMeta>&) {
          std::string_view v = l.Get(name);
          if (!v.empty()) seen.emplace(v);
        }));
    out.assign(seen.begin(), seen.end());
    return out;
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::string> out;
    if (matchers.empty()) {
      for (std::string_view n : b_->index().LabelNames()) out.emplace_back(n);
      return out;
    }
    std::set<std::string> seen;
    SL_RETURN_IF_ERROR(
        ForEachSelected(matchers, [&](SeriesRef, Labels& l, std::vector<ChunkMeta>&) {
          for (const Label& x : l) seen.insert(x.name);
        }));
    out.assign(seen.begin(), seen.end());
    return out;
  }

 private:
  template <typename Fn>
  Status ForEachSelected(const std::vector<promql::Matcher>& matchers, Fn fn) {
    BlockIndexView view(b_->index());
    std::vector<uint64_t> refs = SelectPostings(view, matchers);
    SL_RETURN_IF_ERROR(view.status());
    Labels l;
    std::vector<ChunkMeta> chunks;
    for (uint64_t ref : refs) {
      chunks.clear();
      SL_RETURN_IF_ERROR(b_->index().Series(ref, &l, &chunks));
      std::erase_if(chunks,
                    [&](const ChunkMeta& c) { return c.max_time < mint_ || c.min_time > maxt_; });
      if (chunks.empty()) continue;
      fn(ref, l, chunks);
    }
    return Status::Ok();
  }

  std::shared_ptr<const BlockReader> b_;
  int64_t mint_, maxt_;
};

// --- merging ---

// k-way merge by timestamp; on equal timestamps the first iterator wins.
class MergeIterator final : public metrics::SeriesIterator {
 public:
  explicit MergeIterator(std::vector<std::unique_ptr<metrics::SeriesIterator>> its)
      : its_(std::move(its)), valid_(its_.size(), false) {}

  bool Next() override {
    if (!started_) {
      started_ = true;
      for (size_t i = 0; i < its_.size(); ++i) valid_[i] = its_[i]->Next();
    } else {
      for (size_t i = 0; i < its_.size(); ++i) {
        if (valid_[i] && its_[i]->t() == t_) valid_[i] = its_[i]->Next();
      }
    }
    return Pick();
  }
  bool Seek(int64_t t) override {
    if (started_ && cur_ >= 0 && t_ >= t) return true;
    const bool was_started = started_;
    started_ = true;
    for (size_t i = 0; i < its_.size(); ++i) {
      if (!was_started || valid_[i]) valid_[i] = its_[i]->Seek(t);
    }
    return Pick();
  }
  int64_t t() const override { return t_; }
  double v() const override { return v_; }
  Status err() const override {
    for (const auto& it : its_) {
      if (Status s = it->err(); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  bool Pick() {
    cur_ = -1;
    for (size_t i = 0; i < its_.size(); ++i) {
      if (valid_[i] && (cur_ < 0 || its_[i]->t() < t_)) {
        cur_ = static_cast<int>(i);
        t_ = its_[i]->t();
      }
    }
    if (cur_ < 0) return false;
    v_ = its_[cur_]->v();
    return true;
  }

  std::vector<std::unique_ptr<metrics::SeriesIterator>> its_;
  std::vector<bool> valid_;
  bool started_ = false;
  int cur_ = -1;
  int64_t t_ = 0;
  double v_ = 0;
};

class MergedSeries final : public metrics::Series {
 public:
  explicit MergedSeries(std::vector<const metrics::Series*> parts) : parts_(std::move(parts)) {}
  const Labels& labels() const override { return parts_[0]->labels(); }
  std::unique_ptr<metrics::SeriesIterator> Iterator() const override {
    std::vector<std::unique_ptr<metrics::SeriesIterator>> its;
    its.reserve(parts_.size());
    for (const metrics::Series* p : parts_) its.push_back(p->Iterator());
    return std::make_unique<MergeIterator>(std::move(its));
  }

 private:
  std::vector<const metrics::Series*> parts_;
};

class MergeSeriesSet final : public metrics::SeriesSet {
 public:
  explicit MergeSeriesSet(std::vector<std::unique_ptr<metrics::SeriesSet>> sets)
      : sets_(std::move(sets)) {
    // Drain every source (their Series stay valid while the sets live), then
    // merge the sorted lists.
    std::vector<std::vector<const metrics::Series*>> lists(sets_.size());
    for (size_t i = 0; i < sets_.size(); ++i) {
      while (sets_[i]->Next()) lists[i].push_back(&sets_[i]->At());
      if (Status s = sets_[i]->err(); !s.ok() && err_.ok()) err_ = s;
      for (std::string& w : sets_[i]->warnings()) warnings_.push_back(std::move(w));
    }
    std::vector<size_t> pos(lists.size(), 0);
    for (;;) {
      const Labels* min = nullptr;
      for (size_t i = 0; i < lists.size(); ++i) {
        if (pos[i] < lists[i].size() && (min == nullptr || lists[i][pos[i]]->labels() < *min)) {
          min = &lists[i][pos[i]]->labels();
        }
      }
      if (min == nullptr) break;
      std::vector<const metrics::Series*> parts;
      for (size_t i = 0; i < lists.size(); ++i) {
        if (pos[i] < lists[i].size() && lists[i][pos[i]]->labels() == *min)
          parts.push_back(lists[i][pos[i]++]);
      }
      if (parts.size() == 1) {
        out_.push_back(parts[0]);
      } else {
        owned_.push_back(std::make_unique<MergedSeries>(std::move(parts)));
        out_.push_back(owned_.back().get());
      }
    }
  }

  bool Next() override {
    if (!err_.ok() || next_ >= out_.size()) return false;
    ++next_;
    return true;
  }
  const metrics::Series& At() const override { return *out_[next_ - 1]; }
  Status err() const override { return err_; }
  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  std::vector<std::unique_ptr<metrics::SeriesSet>> sets_;
  std::vector<std::unique_ptr<MergedSeries>> owned_;
  std::vector<const metrics::Series*> out_;
  size_t next_ = 0;
  Status err_;
  std::vector<std::string> warnings_;
};

std::vector<std::string> UnionSorted(std::vector<std::vector<std::string>> lists) {
  std::vector<std::string> out;
  for (auto& l : lists) {
    for (auto& s : l) out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

class MergeQuerier final : public metrics::Querier {
 public:
  explicit MergeQuerier(std::vector<std::unique_ptr<metrics::Querier>> qs) : qs_(std::move(qs)) {}

  std::unique_ptr<metrics::SeriesSet> Select(
      bool sorted, const metrics::SelectHints* hints,
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::unique_ptr<metrics::SeriesSet>> sets;
    sets.reserve(qs_.size());
    for (auto& q : qs_) sets.push_back(q->Select(true, hints, matchers));
    return std::make_unique<MergeSeriesSet>(std::move(sets));
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::vector<std::string>> lists;
    for (auto& q : qs_) {
      SL_ASSIGN_OR_RETURN(auto l, q->LabelValues(name, matchers));
      lists.push_back(std::move(l));
    }
    return UnionSorted(std::move(lists));
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<std::vector<std::string>> lists;
    for (auto& q : qs_) {
      SL_ASSIGN_OR_RETURN(auto l, q->LabelNames(matchers));
      lists.push_back(std::move(l));
    }
    return UnionSorted(std::move(lists));
  }

 private:
  std::vector<std::unique_ptr<metrics::Querier>> qs_;
};

class EmptyQuerier final : public metrics::Querier {
 public:
  std::unique_ptr<metrics::SeriesSet> Select(bool, const metrics::SelectHints*,
                                             const std::vector<promql::Matcher>&) override {
    return std::make_unique<StatusSeriesSet>(Status::Ok());
  }
  Result<std::vector<std::string>> LabelValues(const std::string&,
                                               const std::vector<promql::Matcher>&) override {
    return std::vector<std::string>{};
  }
  Result<std::vector<std::string>> LabelNames(const std::vector<promql::Matcher>&) override {
    return std::vector<std::string>{};
  }
};

}  // namespace

std::unique_ptr<metrics::SeriesSet> ErrorSeriesSet(Status status) {
  return std::make_unique<StatusSeriesSet>(std::move(status));
}

std::unique_ptr<metrics::Querier> NewBlockQuerier(std::shared_ptr<const BlockReader> block,
                                                  int64_t mint, int64_t maxt) {
  return std::make_unique<BlockQuerier>(std::move(block), mint, maxt);
}

std::unique_ptr<metrics::Querier> NewMergeQuerier(
    std::vector<std::unique_ptr<metrics::Querier>> queriers) {
  if (queriers.empty()) return std::make_unique<EmptyQuerier>();
  if (queriers.size() == 1) return std::move(queriers[0]);
  return std::make_unique<MergeQuerier>(std::move(queriers));
}

}  // namespace sightline::tsdb
