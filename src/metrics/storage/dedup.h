// HA deduplication at query time (Thanos Query's --query.replica-label).
//
// Two or more Prometheus replicas scrape the same targets and differ only in
// a replica label (e.g. replica="a" / "b"). A dedup Querier wraps the
// querier over all their data: series that are equal once the replica
// labels are removed are merged into one series without the replica labels.
//
// Merging uses Thanos's penalty algorithm, so that the result switches
// replicas only across real gaps rather than interleaving two scrape
// schedules (which would double the apparent sample rate):
//  - both replicas are positioned at the first sample after the last one
//    emitted, each plus its penalty; the earlier sample is emitted (replica
//    A on equal timestamps);
//  - the replica not picked gets a penalty of twice the gap between the
//    sample just emitted and the one before (5000 ms when there is no
//    previous sample); the picked one's penalty is reset;
//  - when one replica is exhausted, the other continues alone.
// More than two replicas are chained: dedup(dedup(r1, r2), r3) in label
// order of the replica labels.
//
// LabelNames omits the replica labels and LabelValues of a replica label is
// empty, as in Thanos Query with dedup (the API's dedup=false reads the
// storage beneath, which shows them). Matchers are passed through unchanged
// (a matcher on a replica label selects that replica).
//
// Thread-safety and lifetimes follow storage.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "metrics/storage/storage.h"

namespace sightline::metrics {

// Returns `inner` itself when `replica_labels` is empty.
std::unique_ptr<Querier> NewDedupQuerier(std::unique_ptr<Querier> inner,
                                         std::vector<std::string> replica_labels);

// The penalty-based merge of two replicas' iterators (exposed for tests).
std::unique_ptr<SeriesIterator> NewDedupIterator(std::unique_ptr<SeriesIterator> a,
                                                 std::unique_ptr<SeriesIterator> b);

// A Queryable whose queriers are `inner`'s wrapped by NewDedupQuerier.
class DedupQueryable final : public Queryable {
 public:
  // `inner` must outlive this object.
  DedupQueryable(Queryable* inner, std::vector<std::string> replica_labels)
      : inner_(inner), replica_labels_(std::move(replica_labels)) {}
  Result<std::unique_ptr<Querier>> NewQuerier(std::string_view tenant, int64_t mint,
                                              int64_t maxt) override;

 private:
  Queryable* inner_;
  std::vector<std::string> replica_labels_;
};

}  // namespace sightline::metrics
