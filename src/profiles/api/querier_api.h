// The profiles querier's HTTP API, as Grafana's Pyroscope data source and
// Pyroscope's own UI call it (docs/api-pyroscope.md):
//
//   Connect (POST, application/proto or application/json),
//   /querier.v1.QuerierService/<Method>:
//     ProfileTypes, LabelNames, LabelValues, Series, SelectMergeStacktraces,
//     SelectMergeSpanProfile, SelectMergeProfile, SelectSeries, Diff,
//     GetProfileStats
//   Legacy JSON: GET /pyroscope/render (flamebearer "single" + timeline),
//     /pyroscope/render-diff ("double"), /pyroscope/label-values,
//     /pyroscope/labels (label names).
//
// Times: Connect requests carry ms; legacy from/until accept "now-1h",
// "now", unix seconds or ms. Every query observes
// pyroscope_query_duration_seconds{method}.
//
// Thread-safety: handlers run concurrently; the source must allow it.
#pragma once

#include "profiles/store/profile_db.h"

namespace sightline::net {
class Router;
}

namespace sightline::profiles {

struct QuerierApiOptions {
  int64_t default_max_nodes = 16384;
};

// `src` must outlive the server.
void RegisterQuerierApi(net::Router& router, SegmentSource* src, QuerierApiOptions options = {});

}  // namespace sightline::profiles
