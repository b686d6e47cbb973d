// Trace blocks: immutable files holding the traces cut from a tenant's head
// (format "traces-v1", specified in docs/formats/traces-block.md).
//
//   <ULID>/data       row groups: [zstd string dictionary][zstd traces]
//   <ULID>/index      header (per row group: offsets, counts, time range,
//                     first/last trace id, checksum of its id page; since
//                     version 3 the split links), then the sorted trace
//                     ids as one page per row group
//   <ULID>/bloom      bloom filter over the trace ids (1% false positives)
//   <ULID>/meta.json  blocks::BlockMeta, written last
//
// WriteBlock builds a block in a local directory; BlockReader reads one
// through BlockFiles, either a local directory or an object-store prefix.
// Open reads only the index header (a ranged read) and the bloom and keeps
// them; find-by-id reads the one row group's id page on demand (through an
// optional IdPageCache) and data is read by range. Version-1 indexes (ids
// not paged; docs/formats/traces-block.md) are read whole at open, checked,
// and then served the same way; version-2 indexes (no links) read as
// version 3 with none.
//
// Thread-safety: BlockReader is immutable after Open; Find and Scan may be
// called concurrently. BlockFiles implementations and IdPageCache are
// thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "blocks/meta.h"
#include "traces/model.h"
#include "traces/store/codec.h"
#include "traces/traceql/storage.h"

namespace sightline::io {
class Env;
class ObjectStore;
}  // namespace sightline::io

namespace sightline::traces::store {

inline constexpr std::string_view kBlockFormat = "traces-v1";

// Index version 3: the traces of a block that continue earlier blocks
// (split traces: spans that arrived after those blocks were cut) and the
// earlier blocks holding their other parts. The cut fills it from the ids
// of the blocks it cut recently (store.cc); it is kept in memory with the
// index header and read by search plans (sharded_scan.h) instead of every
// block's ids. Thread-safety: a value; const methods may run concurrently.
struct SplitLinks {
  struct Entry {
    char id[16] = {};
    uint32_t begin = 0, end = 0;  // [begin, end) in refs
  };
  std::vector<blocks::Ulid> blocks;  // the earlier blocks referenced
  std::vector<Entry> entries;        // ascending by id once Sort() ran
  std::vector<uint32_t> refs;        // indices into `blocks`

  // Adds trace `id` (16 bytes) continuing `earlier` (not empty).
  void Add(std::string_view id, const std::vector<blocks::Ulid>& earlier);
  // Sorts the entries by id (Find and the writer need it).
  void Sort();
  // The earlier blocks of `id` (binary search); empty when none.
  std::vector<blocks::Ulid> Find(std::string_view id) const;
  bool empty() const { return entries.empty(); }
  size_t MemoryBytes() const;
};

struct BlockWriteOptions {
  // Uncompressed trace bytes per row group: what a find-by-id decompresses.
  size_t row_group_bytes = 256 << 10;
  // 1: the cut runs on the ingest path's CPU; level 3 saves ~2% of bytes
  // (32.3 vs 32.9 B/span, BM_BlockCut) for ~15% more cut CPU.
  int zstd_level = 1;
  // zstd's minimum match length (0: the level's own, 5 at level 1). 4
  // finds the short repeats of dictionary indexes and varints: -1.3% bytes
  // and slightly fewer instructions at level 1 (BM_BlockCutJsSdk).
  int zstd_min_match = 4;
  double bloom_false_positive = 0.01;
  // Index version 3's split links of the block's traces (sorted; not
  // owned, read during the write only). nullptr: none.
  const SplitLinks* links = nullptr;
};

// Writes `traces` (any order; one entry per trace id; not owned) as a new block
// directory under `blocks_dir`, meta.json last, every file synced. Returns
// the block's meta.
Result<blocks::BlockMeta> WriteBlock(io::Env* env, const std::string& blocks_dir,
                                     const std::string& tenant, std::vector<const Trace*> traces,
                                     const BlockWriteOptions& options = {});

// A trace for WriteBlockEncoded: its id (16 bytes) and a function that
// appends its record, strings in the row group's `dict`, to `out` and
// fills in its summary (the head's cut transcodes its records this way,
// codec.h TranscodeTrace, without building Trace objects).
struct BlockTrace {
  std::string_view trace_id;
  std::function<Status(StringDict* dict, std::string* out, TraceSummary* summary)> encode;
};

// WriteBlock for encoded traces (any order; ids must outlive the call).
Result<blocks::BlockMeta> WriteBlockEncoded(io::Env* env, const std::string& blocks_dir,
                                            const std::string& tenant,
                                            std::vector<BlockTrace> traces,
                                            const BlockWriteOptions& options = {});
// The two above after sorting by id.
Result<blocks::BlockMeta> WriteBlockSorted(io::Env* env, const std::string& blocks_dir,
                                           const std::string& tenant,
                                           const std::vector<BlockTrace>& traces,
                                           const BlockWriteOptions& options);

class BlockFiles {
 public:
  virtual ~BlockFiles() = default;
  virtual Result<std::string> Read(const std::string& name) = 0;
  virtual Result<std::string> ReadRange(const std::string& name, uint64_t offset,
                                        uint64_t length) = 0;
};

std::unique_ptr<BlockFiles> LocalBlockFiles(io::Env* env, std::string dir);
// `prefix` ends with '/': "traces/<tenant>/<ULID>/".
std::unique_ptr<BlockFiles> ObjectStoreBlockFiles(io::ObjectStore* store, std::string prefix);

// A bounded LRU of trace-id pages (one row group's sorted ids) shared by
// the BlockReaders of a store. Thread-safe. Capacity 0 caches nothing.
class IdPageCache {
 public:
  explicit IdPageCache(uint64_t capacity_bytes);
  ~IdPageCache();
  IdPageCache(const IdPageCache&) = delete;
  IdPageCache& operator=(const IdPageCache&) = delete;

  // `reader` is BlockReader's unique id (never reused), `page` the row group.
  std::shared_ptr<const std::string> Get(uint64_t reader, uint64_t page);
  // Inserts (replacing), then evicts least recently used pages over capacity.
  // A page larger than the capacity is not kept.
  void Put(uint64_t reader, uint64_t page, std::shared_ptr<const std::string> ids);
  // Drops every page of `reader` (its BlockReader is going away).
  void Forget(uint64_t reader);

  uint64_t bytes() const;
  size_t pages() const;
  uint64_t hits() const;
  uint64_t misses() const;
  uint64_t evictions() const;  // pages dropped to stay under the capacity

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class BlockReader {
 public:
  // Reads and checks the index header and the bloom (a version-1 index is
  // read and checked whole). DataLoss when they are corrupt. `cache` (may
  // be null, not owned) must outlive the reader.
  static Result<std::unique_ptr<BlockReader>> Open(std::unique_ptr<BlockFiles> files,
                                                   blocks::BlockMeta meta,
                                                   IdPageCache* cache = nullptr);
  ~BlockReader();

  const blocks::BlockMeta& meta() const { return meta_; }
  bool MayContain(std::string_view trace_id) const;
  // The block's part of the trace, or nullopt: bloom, then the row group
  // whose [first, last] id range holds the id, its id page (cache or one
  // ranged read of the index), binary search, one ranged read of its data.
  // DataLoss when the id page or the row group is corrupt.
  Result<std::optional<Trace>> Find(std::string_view trace_id) const;
  // Calls fn for every trace of the row groups that may match `params`
  // (time range of the row group; hints against the row group's string
  // dictionary). Time and hints are not checked per trace: the caller does.
  // fn returns false to stop; then Scan returns OK too.
  Status Scan(const ScanParams& params, const std::function<bool(Trace&&)>& fn,
              bool* stopped = nullptr) const;
  // The block's part of a trace known to hold a part here (a split
  // trace): the row group from the header's id ranges, its data read with
  // one ranged read and walked. No bloom, no id page; nullopt when the id
  // is not there after all.
  Result<std::optional<Trace>> FindPart(std::string_view trace_id) const;
  size_t num_traces() const { return num_traces_; }
  // 1, 2 or 3. Version 3 indexes carry split_links(); older ones do not
  // (a search plan reads their ids to find split traces).
  uint8_t index_version() const { return index_version_; }
  const SplitLinks& split_links() const;
  // The block's trace ids, 16 bytes each, ascending: one ranged read of the
  // index's id pages (not kept; not cached), every page checked.
  Result<std::string> ReadSortedIds() const;
  // Id pages read from files by every reader of the process (Find's cache
  // misses, ReadSortedIds' pages): for tests and benchmarks.
  static uint64_t IdPagesRead();
  // Bytes this reader keeps in memory (header, bloom, row-group table).
  size_t MemoryBytes() const;
  size_t num_row_groups() const { return row_groups_.size(); }

  struct RowGroup {
    uint64_t offset = 0, dict_len = 0, data_len = 0;
    uint64_t num_traces = 0, num_spans = 0;
    uint64_t min_start = 0, max_end = 0;
    uint64_t first_trace = 0;  // index of its first trace in the sorted ids
    char first_id[16] = {}, last_id[16] = {};
    uint32_t ids_crc = 0;  // crc32c of its id page
  };
  const std::vector<RowGroup>& row_groups() const { return row_groups_; }

 private:
  BlockReader() = default;
  Status ParseV1(std::string_view body, uint64_t body_offset);
  Status ParseV2Header(std::string_view header, uint8_t version);
  Result<std::optional<Trace>> DecodeAt(const RowGroup& rg, std::string_view trace_id,
                                        uint64_t skip) const;
  Result<std::shared_ptr<const std::string>> IdPage(size_t rg) const;
  Result<std::vector<std::string>> ReadDict(const RowGroup& rg) const;
  static Result<std::vector<std::string>> ParseDict(std::string_view compressed);
  Status ReadTraces(const RowGroup& rg, const std::vector<std::string>& dict,
                    const std::function<bool(std::string_view id, std::string_view rec)>& fn) const;

  std::unique_ptr<BlockFiles> files_;
  blocks::BlockMeta meta_;
  std::vector<RowGroup> row_groups_;
  uint64_t num_traces_ = 0;
  uint64_t pages_offset_ = 0;  // where the id pages start in the index file
  uint64_t id_ = 0;            // unique, the cache's key
  IdPageCache* cache_ = nullptr;
  std::string bloom_;
  uint32_t bloom_k_ = 0;
  uint8_t index_version_ = 0;
  std::unique_ptr<const SplitLinks> links_;  // null: none (most blocks)
};

}  // namespace sightline::traces::store
