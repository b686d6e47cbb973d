// Metrics blocks on local disk: the Prometheus TSDB block directory
//   <ULID>/meta.json  index  chunks/000001...  tombstones
// written so that Prometheus, promtool and Thanos read it as their own, and
// read back whether we or Prometheus wrote it (docs/formats/
// metrics-block.md).
//
// WriteBlock builds the block in "<dir>/<ULID>.tmp", writing chunks, index,
// tombstones and finally meta.json, syncs it, and renames it to
// "<dir>/<ULID>" (then syncs <dir>): the block appears complete or not at
// all. On failure the temporary directory is removed.
//
// Thread-safety: WriteBlock may run concurrently for different ULIDs. A
// BlockReader is immutable after Open and safe for concurrent use.
//
// Errors: InvalidArgument for input that breaks the contract below
// (unsorted series, timestamps not increasing or outside the block range);
// DataLoss for a block that does not decode; I/O errors from the Env.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "blocks/meta.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "metrics/tsdb/chunkenc/xor.h"
#include "metrics/tsdb/chunks/chunks.h"
#include "metrics/tsdb/index/index_reader.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

struct Sample {
  int64_t t = 0;  // ms since the epoch
  double v = 0;

  friend bool operator==(const Sample&, const Sample&) = default;
};

// A chunk already encoded (e.g. cut by the in-memory head).
struct EncodedChunk {
  int64_t min_time = 0;  // first sample's timestamp
  int64_t max_time = 0;  // last sample's timestamp
  chunkenc::Encoding encoding = chunkenc::Encoding::kXor;
  std::string data;
};

// One series of a block: its labels and either raw samples (strictly
// increasing timestamps; cut into XOR chunks of samples_per_chunk) or
// encoded chunks (time-ordered, non-overlapping). A series with neither is
// skipped, as Prometheus's compactor skips series without chunks.
struct SeriesInput {
  Labels labels;
  std::vector<Sample> samples;
  std::vector<EncodedChunk> chunks;
};

struct WriteBlockOptions {
  // The block's range [min_time, max_time) in ms. When both are 0 it is
  // derived from the data: first sample to last sample + 1.
  int64_t min_time = 0;
  int64_t max_time = 0;
  // Copied into meta.json: compaction level/sources/parents, Thanos labels,
  // downsample resolution, source, and the Sightline section. ulid,
  // minTime, maxTime, stats and version are set by WriteBlock.
  blocks::BlockMeta meta;
  // Zero: a new ULID.
  blocks::Ulid ulid;
  uint64_t segment_size = kDefaultSegmentSize;
  int samples_per_chunk = chunkenc::kSamplesPerChunk;
};

// Writes a block of `series` (sorted by Labels::Compare, no duplicates)
// into `dir` and returns its ULID.
Result<blocks::Ulid> WriteBlock(io::Env* env, const std::string& dir,
                                std::span<const SeriesInput> series,
                                const WriteBlockOptions& options = {});

// A deleted time range [min_time, max_time] (inclusive) of one series.
struct TombstoneInterval {
  int64_t min_time = 0;
  int64_t max_time = 0;
};
using Tombstones = std::map<SeriesRef, std::vector<TombstoneInterval>>;

// The tombstones file: magic 0x0130BA30, version 1, entries, CRC32C.
std::string EncodeTombstones(const Tombstones& t);
Result<Tombstones> DecodeTombstones(std::string_view file);

class BlockReader {
 public:
  // Opens "<block_dir>" (meta.json, index, chunks/, tombstones). A missing
  // tombstones file means none.
  static Result<std::unique_ptr<BlockReader>> Open(io::Env* env, const std::string& block_dir);
  // A block assembled from parts opened elsewhere: the store gateway reads
  // the index from a local copy and the chunks from the object store.
  // `meta` must be version 1; `name` (e.g. the object prefix) is for errors.
  static Result<std::unique_ptr<BlockReader>> FromParts(blocks::BlockMeta meta,
                                                        std::unique_ptr<IndexReader> index,
                                                        std::unique_ptr<ChunkReader> chunks,
                                                        Tombstones tombstones = {},
                                                        std::string name = "");
  ~BlockReader();

  const blocks::BlockMeta& meta() const { return meta_; }
  const IndexReader& index() const { return *index_; }
  const ChunkReader& chunks() const { return *chunks_; }
  const Tombstones& tombstones() const { return tombstones_; }

  // Appends to `out` the samples of series `ref`'s `chunks` with
  // timestamps in [mint, maxt] that no tombstone deletes. Unimplemented for
  // histogram chunks.
  Status ReadSamples(SeriesRef ref, std::span<const ChunkMeta> chunks, int64_t mint, int64_t maxt,
                     std::vector<Sample>* out) const;

  // Calls `fn` for every series in index (label) order with its samples in
  // [mint, maxt], skipping series left with none. Stops at the first error,
  // including one returned by `fn`.
  using SeriesFn = std::function<Status(const Labels&, std::span<const Sample>)>;
  Status ForEachSeries(const SeriesFn& fn, int64_t mint = std::numeric_limits<int64_t>::min(),
                       int64_t maxt = std::numeric_limits<int64_t>::max()) const;

 private:
  BlockReader() = default;
  std::string dir_;
  blocks::BlockMeta meta_;
  std::unique_ptr<IndexReader> index_;
  std::unique_ptr<ChunkReader> chunks_;
  Tombstones tombstones_;
};

}  // namespace sightline::tsdb
