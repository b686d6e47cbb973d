// ShardedScan: the traceql::ShardedTraceSource of one query over one
// tenant's store (TraceStore::PlanScan): a snapshot of the head and the
// blocks that overlap the query's time range, as shards.
//
// Shard order: the head first, then blocks newest first (by max time, then
// ULID). A trace may be split over shards (spans that arrived after a cut):
// when the plan is made, the sorted trace ids of every shard are merged to
// find the ids present in more than one; such a trace is assembled from all
// its parts in the plan (in shard order) the first time one of its parts is
// met, and never passed again. Other traces are passed as their shard holds
// them. Either way a trace is passed only when it starts in the range.
//
// Thread-safety: not thread-safe (one query). Holds the block readers, so
// blocks stay readable while the plan lives.
#pragma once

#include <memory>
#include <vector>

#include "traces/model.h"
#include "traces/store/block.h"
#include "traces/traceql/storage.h"

namespace sightline::traces::store {

// `head`: decoded head traces (one per id); `blocks`: the blocks in range.
std::unique_ptr<ShardedTraceSource> NewShardedScan(
    uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<Trace> head,
    std::vector<std::shared_ptr<BlockReader>> blocks);

}  // namespace sightline::traces::store
