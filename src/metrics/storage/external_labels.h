// External labels at query time: a Querier wrapper that adds fixed labels
// (Thanos "external labels": cluster, replica, ...) to every series of the
// querier it wraps, as Thanos's sidecar and store gateway present them.
//
// Semantics:
//  - Every series gets every fixed label; a fixed label replaces a series
//    label of the same name (Thanos: external labels win).
//  - A matcher on a fixed label's name is evaluated against the fixed value
//    and removed before the inner querier is asked: if it fails, the result
//    is empty and the inner querier is not asked at all (label pruning).
//  - LabelNames includes the fixed names; LabelValues of a fixed name is
//    its value (when any series matches).
//  - Select(sorted=true) returns series sorted by their new labels (adding
//    labels can change the order, so the wrapper re-sorts).
//
// Thread-safety and lifetimes follow storage.h: single-threaded; the Series
// returned stay valid until the wrapper is destroyed.
#pragma once

#include <memory>
#include <vector>

#include "metrics/storage/storage.h"

namespace sightline::metrics {

// Returns `inner` itself when `fixed` is empty.
std::unique_ptr<Querier> NewExternalLabelsQuerier(std::unique_ptr<Querier> inner, Labels fixed);

// False when some matcher on a name of `fixed` rejects the fixed value, i.e.
// no series carrying `fixed` can match (store gateway label pruning).
bool FixedLabelsCanMatch(const Labels& fixed, const std::vector<promql::Matcher>& matchers);

// `series` with `fixed` set on it (fixed labels replace same-named ones).
Labels WithFixedLabels(const Labels& series, const Labels& fixed);

}  // namespace sightline::metrics
