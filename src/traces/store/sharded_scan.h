// ShardedScan: the traceql::ShardedTraceSource of one query over one
// tenant's store (TraceStore::PlanScan): a snapshot of the head and the
// blocks that overlap the query's time range, as shards.
//
// Shard order: the head first, then blocks newest first (by max time, then
// ULID). A trace may be split over shards (spans that arrived after a cut):
// when the plan is made, the split traces are found from the blocks' split
// links (index version 3, in memory) and the head's known splits, and, for
// blocks of older index versions only, by merging their sorted ids with the
// head's; such a trace is assembled from all its parts in the plan (in
// shard order; block parts read without id pages, BlockReader::FindPart)
// the first time one of its parts is met, and never passed again. Other
// traces are passed as their shard holds them. Either way a trace is passed
// only when it starts in the range.
//
// Thread-safety: not thread-safe (one query). Holds the block readers, so
// blocks stay readable while the plan lives.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blocks/ulid.h"
#include "traces/model.h"
#include "traces/store/block.h"
#include "traces/traceql/storage.h"

namespace sightline::traces::store {

// A head trace that continues blocks: its id and the blocks holding its
// other parts (SplitWindow::Holders at plan time).
using HeadSplit = std::pair<std::string, std::vector<blocks::Ulid>>;

// `head`: decoded head traces (one per id); `blocks`: the blocks in range;
// `head_splits`: head traces known to continue blocks.
//
// Split traces are found without reading blocks' ids when every block has
// an index of version 3: a block's split links (block.h SplitLinks, in
// memory) name the earlier blocks holding the other parts of its traces,
// chains (C continues B continues A) are joined by trace id, and the head's
// are given as `head_splits`. Blocks of older index versions have no links:
// their ids (and the head's) are read and merged as before. A trace split
// outside the store's window (SplitWindow) is not found: its parts are
// passed as separate traces (Tempo's behaviour; results are combined by
// trace id, traceql/combine.h).
std::unique_ptr<ShardedTraceSource> NewShardedScan(
    uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<Trace> head,
    std::vector<std::shared_ptr<BlockReader>> blocks, std::vector<HeadSplit> head_splits = {});

// The trace ids of one tenant's recently cut blocks, as 8-byte
// fingerprints in a flat hash table (~24 bytes per id), so that:
//   - a cut finds which of its traces continue earlier blocks (Links: one
//     hash probe per trace) and writes them as the new block's SplitLinks;
//   - a search plan finds which head traces continue blocks (Holders).
// A block stays in the window `window_ms` after its cut, or until the
// window holds more than `max_ids` ids: then the oldest blocks leave early
// (counted: shrunk_blocks()). A fingerprint collision links a trace to a
// block that does not hold it: the plan then reads that block's row group
// for nothing (never a wrong answer).
//
// Thread-safety: every method may be called concurrently.
class SplitWindow {
 public:
  SplitWindow(int64_t window_ms, uint64_t max_ids);

  static uint64_t Fingerprint(std::string_view trace_id);

  // The links of `traces` (a cut's) to the window's blocks: for an id held
  // by window block B, B and B's own links for that id (so chains survive
  // blocks leaving the window). Sorted. `fps` gets the ids' fingerprints,
  // in order, for Add.
  SplitLinks Links(const std::vector<BlockTrace>& traces, std::vector<uint64_t>* fps) const;
  // The blocks holding other parts of head trace `id` (empty: none known).
  std::vector<blocks::Ulid> Holders(std::string_view id) const;
  // Holders of each of `head`'s traces that has some (one lock for all).
  std::vector<HeadSplit> HeadSplits(const std::vector<Trace>& head) const;
  // Adds a cut block (`cut_ms`: when it was cut, ascending across calls)
  // with its ids' fingerprints; blocks past the window or the cap leave.
  void Add(std::shared_ptr<const BlockReader> block, int64_t cut_ms,
           const std::vector<uint64_t>& fps, int64_t now_ms);
  // Blocks cut before now_ms - window_ms leave the window.
  void Expire(int64_t now_ms);

  int64_t window_ms() const { return window_ms_; }
  uint64_t ids() const;             // fingerprints held for live blocks
  size_t blocks() const;            // blocks in the window
  uint64_t shrunk_blocks() const;   // blocks that left early (max_ids)
  size_t MemoryBytes() const;

 private:
  struct Block {
    std::shared_ptr<const BlockReader> reader;
    int64_t cut_ms = 0;
    uint64_t ids = 0;
  };
  // The live block holding `fp` (the newest), or nullptr. Lock held.
  const Block* Probe(uint64_t fp) const;
  void DropOldest();         // lock held
  void Insert(uint64_t fp, uint32_t seq);  // lock held

  const int64_t window_ms_;
  const uint64_t max_ids_;
  mutable std::shared_mutex mu_;
  std::deque<Block> blocks_;  // oldest first; blocks_[i] has seq first_seq_ + i
  uint32_t first_seq_ = 0;
  uint64_t live_ids_ = 0;
  uint64_t shrunk_ = 0;
  // Open addressing, linear probing: key 0 is empty; values are seqs.
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  uint64_t used_ = 0;  // slots taken (live or not)
};

}  // namespace sightline::traces::store
