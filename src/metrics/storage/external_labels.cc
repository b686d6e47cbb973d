#include "metrics/storage/external_labels.h"

#include <algorithm>
#include <deque>

namespace sightline::metrics {

namespace {

class RelabeledSeries final : public Series {
 public:
  RelabeledSeries(const Series* inner, Labels labels)
      : inner_(inner), labels_(std::move(labels)) {}
  const Labels& labels() const override { return labels_; }
  std::unique_ptr<SeriesIterator> Iterator() const override { return inner_->Iterator(); }

 private:
  const Series* inner_;
  Labels labels_;
};

class ListSeriesSet final : public SeriesSet {
 public:
  ListSeriesSet(std::vector<const Series*> series, Status err, std::vector<std::string> warnings)
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

class ExternalLabelsQuerier final : public Querier {
 public:
  ExternalLabelsQuerier(std::unique_ptr<Querier> inner, Labels fixed)
      : inner_(std::move(inner)), fixed_(std::move(fixed)) {}

  std::unique_ptr<SeriesSet> Select(bool sorted, const SelectHints* hints,
                                    const std::vector<promql::Matcher>& matchers) override {
    std::vector<promql::Matcher> rest;
    if (!Split(matchers, &rest)) return std::make_unique<ListSeriesSet>(
        std::vector<const Series*>{}, Status::Ok(), std::vector<std::string>{});
    std::unique_ptr<SeriesSet> set = inner_->Select(sorted, hints, rest);
    std::vector<const Series*> out;
    while (set->Next()) {
      const Series& s = set->At();
      owned_.emplace_back(&s, WithFixedLabels(s.labels(), fixed_));
      out.push_back(&owned_.back());
    }
    if (sorted) {
      std::stable_sort(out.begin(), out.end(), [](const Series* a, const Series* b) {
        return a->labels() < b->labels();
      });
    }
    Status err = set->err();
    std::vector<std::string> warnings = set->warnings();
    sets_.push_back(std::move(set));
    return std::make_unique<ListSeriesSet>(std::move(out), std::move(err), std::move(warnings));
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    std::vector<promql::Matcher> rest;
    if (!Split(matchers, &rest)) return std::vector<std::string>{};
    if (!fixed_.Has(name)) return inner_->LabelValues(name, rest);
    // The fixed value, if any series matches at all.
    SL_ASSIGN_OR_RETURN(std::vector<std::string> names, inner_->LabelNames(rest));
    if (names.empty()) return std::vector<std::string>{};
    return std::vector<std::string>{std::string(fixed_.Get(name))};
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    std::vector<promql::Matcher> rest;
    if (!Split(matchers, &rest)) return std::vector<std::string>{};
    SL_ASSIGN_OR_RETURN(std::vector<std::string> names, inner_->LabelNames(rest));
    if (names.empty()) return names;
    for (const Label& l : fixed_) names.push_back(l.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

 private:
  // Drops matchers on fixed labels into `rest`'s complement; false when one
  // of them rejects the fixed value.
  bool Split(const std::vector<promql::Matcher>& matchers, std::vector<promql::Matcher>* rest) {
    for (const promql::Matcher& m : matchers) {
      if (fixed_.Has(m.name())) {
        if (!m.Matches(fixed_.Get(m.name()))) return false;
      } else {
        rest->push_back(m);
      }
    }
    return true;
  }

  std::unique_ptr<Querier> inner_;
  Labels fixed_;
  std::deque<RelabeledSeries> owned_;  // stable addresses
  std::vector<std::unique_ptr<SeriesSet>> sets_;
};

}  // namespace

Labels WithFixedLabels(const Labels& series, const Labels& fixed) {
  std::vector<Label> out;
  out.reserve(series.size() + fixed.size());
  auto a = series.begin();
  auto b = fixed.begin();
  while (a != series.end() || b != fixed.end()) {
    if (b == fixed.end() || (a != series.end() && a->name < b->name)) {
      out.push_back(*a++);
    } else if (a == series.end() || b->name < a->name) {
      out.push_back(*b++);
    } else {
      out.push_back(*b++);  // the fixed label wins
      ++a;
    }
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

bool FixedLabelsCanMatch(const Labels& fixed, const std::vector<promql::Matcher>& matchers) {
  for (const promql::Matcher& m : matchers) {
    if (fixed.Has(m.name()) && !m.Matches(fixed.Get(m.name()))) return false;
  }
  return true;
}

std::unique_ptr<Querier> NewExternalLabelsQuerier(std::unique_ptr<Querier> inner, Labels fixed) {
  if (fixed.empty()) return inner;
  return std::make_unique<ExternalLabelsQuerier>(std::move(inner), std::move(fixed));
}

}  // namespace sightline::metrics
