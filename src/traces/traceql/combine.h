// Combining search results by trace id, as Tempo's query frontend does.
//
// A store finds the parts of a trace split over its head and blocks by the
// split links of recent cuts (store/sharded_scan.h) and evaluates such a
// trace whole. A trace split wider apart than that window is evaluated part
// by part, each part a trace of its own: its results then share a trace id
// and are combined here into one, as Tempo combines the results of blocks
// searched separately (approximate, as in Tempo, for trace-level intrinsics,
// structural operators, `&&` across spansets and pipelines):
//   - root service / root span name: the first part's that has the root;
//   - start: the earliest; duration: latest end − earliest start;
//   - spansets with the same by() values are one spanset: spans merged (a
//     span id once, earliest first, at most `spss`), matched counts added;
//     other spansets are appended;
//   - service stats: span and error counts added per service.
//
// Thread-safety: plain functions over values.
#pragma once

#include <cstdint>
#include <vector>

#include "traces/traceql/engine.h"

namespace sightline::traces::traceql {

// Folds `part` (same trace id) into `into`. spss: spans kept per spanset
// (0: 3, the default).
void CombineSearchResult(TraceSearchResult* into, const TraceSearchResult& part, uint32_t spss);

// One result per trace id: later results with an id seen before are folded
// into the first (which keeps its position). Returns how many were folded.
size_t CombineByTraceId(std::vector<TraceSearchResult>* results, uint32_t spss);

}  // namespace sightline::traces::traceql
