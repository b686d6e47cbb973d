// Queriers over the pieces of one tenant's TSDB, and the querier that merges
// them (Prometheus's storage.NewMergeQuerier): the DB combines the head with
// its local blocks; a later source (blocks in the object store, through the
// store gateway) is one more Querier in the list.
//
// Merging: every source is asked for a sorted SeriesSet; series with equal
// labels from several sources become one series whose samples are merged by
// timestamp (on equal timestamps the earlier source in the list wins, so put
// the freshest first). LabelNames / LabelValues are unions. An error from
// any source fails the Select (err()); warnings are passed on.
//
// Series returned by these SeriesSets stay valid for the set's lifetime
// (after Next()), as Prometheus's engine assumes; MergeQuerier requires the
// same of its sources.
//
// Thread-safety: queriers are single-threaded objects (storage.h).
#pragma once

#include <memory>
#include <vector>

#include "metrics/storage/storage.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/head_postings.h"

namespace sightline::tsdb {

// The SelectPostings adapter (head_postings.h) over a block's index, local
// or lazy; remembers the first read error in status().
class BlockIndexView {
 public:
  explicit BlockIndexView(const IndexReader& ix) : ix_(ix) {}

  std::vector<uint64_t> All() { return Take(ix_.AllPostings()); }
  std::vector<uint64_t> Equal(std::string_view name, std::string_view value) {
    return Take(ix_.Postings(name, value));
  }
  template <typename Pred>
  std::vector<uint64_t> Values(std::string_view name, Pred pred) {
    std::vector<std::vector<uint64_t>> lists;
    for (std::string_view v : ix_.LabelValues(name)) {
      if (pred(v)) lists.push_back(Take(ix_.Postings(name, v)));
    }
    return MergePostings(std::move(lists));
  }
  const Status& status() const { return status_; }

 private:
  std::vector<uint64_t> Take(Result<std::vector<SeriesRef>> r) {
    if (!r.ok()) {
      if (status_.ok()) status_ = r.status();
      return {};
    }
    return std::move(r).value();
  }

  const IndexReader& ix_;
  Status status_;
};

// A querier over one block on local disk for [mint, maxt]. The block is
// shared with the DB: it stays open while the querier lives, even if local
// retention removes it meanwhile.
std::unique_ptr<metrics::Querier> NewBlockQuerier(std::shared_ptr<const BlockReader> block,
                                                  int64_t mint, int64_t maxt);

// Merges `queriers` (order = priority on equal timestamps). One querier is
// returned as is; none gives a querier that selects nothing.
std::unique_ptr<metrics::Querier> NewMergeQuerier(
    std::vector<std::unique_ptr<metrics::Querier>> queriers);

// A SeriesSet that fails with `status` (e.g. a source that cannot be read).
std::unique_ptr<metrics::SeriesSet> ErrorSeriesSet(Status status);

}  // namespace sightline::tsdb
