// Trace blocks: immutable files holding the traces cut from a tenant's head
// (format "traces-v1", specified in docs/formats/traces-block.md).
//
//   <ULID>/data       row groups: [zstd string dictionary][zstd traces]
//   <ULID>/index      per row group: offsets, counts, time range; the sorted
//                     trace ids (find-by-id by binary search)
//   <ULID>/bloom      bloom filter over the trace ids (1% false positives)
//   <ULID>/meta.json  blocks::BlockMeta, written last
//
// WriteBlock builds a block in a local directory; BlockReader reads one
// through BlockFiles, either a local directory or an object-store prefix
// (index and bloom are read once and kept; data is read by range).
//
// Thread-safety: BlockReader is immutable after Open; Find and Scan may be
// called concurrently. BlockFiles implementations must be thread-safe.
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

struct BlockWriteOptions {
  // Uncompressed trace bytes per row group: what a find-by-id decompresses.
  size_t row_group_bytes = 256 << 10;
  // 1: the cut runs on the ingest path's CPU; level 3 saves ~2% of bytes
  // (32.3 vs 32.9 B/span, BM_BlockCut) for ~15% more cut CPU.
  int zstd_level = 1;
  double bloom_false_positive = 0.01;
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

class BlockReader {
 public:
  // Reads and checks index and bloom. DataLoss when they are corrupt.
  static Result<std::unique_ptr<BlockReader>> Open(std::unique_ptr<BlockFiles> files,
                                                   blocks::BlockMeta meta);
  ~BlockReader();

  const blocks::BlockMeta& meta() const { return meta_; }
  bool MayContain(std::string_view trace_id) const;
  // The block's part of the trace, or nullopt.
  Result<std::optional<Trace>> Find(std::string_view trace_id) const;
  // Calls fn for every trace of the row groups that may match `params`
  // (time range of the row group; hints against the row group's string
  // dictionary). Time and hints are not checked per trace: the caller does.
  // fn returns false to stop; then Scan returns OK too.
  Status Scan(const ScanParams& params, const std::function<bool(Trace&&)>& fn,
              bool* stopped = nullptr) const;
  size_t num_traces() const { return ids_.size() / 16; }
  // The block's trace ids, 16 bytes each, ascending (kept in memory).
  std::string_view sorted_ids() const { return ids_; }

  struct RowGroup {
    uint64_t offset = 0, dict_len = 0, data_len = 0;
    uint64_t num_traces = 0, num_spans = 0;
    uint64_t min_start = 0, max_end = 0;
    uint64_t first_trace = 0;  // index of its first trace in the sorted ids
  };

 private:
  BlockReader() = default;
  Result<std::vector<std::string>> ReadDict(const RowGroup& rg) const;
  static Result<std::vector<std::string>> ParseDict(std::string_view compressed);
  Status ReadTraces(const RowGroup& rg, const std::vector<std::string>& dict,
                    const std::function<bool(std::string_view id, std::string_view rec)>& fn) const;

  std::unique_ptr<BlockFiles> files_;
  blocks::BlockMeta meta_;
  std::vector<RowGroup> row_groups_;
  std::string ids_;  // sorted, 16 bytes each
  std::string bloom_;
  uint32_t bloom_k_ = 0;
};

}  // namespace sightline::traces::store
