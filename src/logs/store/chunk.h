// Chunk blocks of the log store (docs/formats/logs-block.md): the unit a
// query decompresses. Two encodings exist:
//
//   v1 (blocks of format "logs-v1"): one zstd frame (level 3) over
//      `count (dts line metadata)*` — row by row, see codec.h.
//   v2 (format "logs-v2", written now): columnar. A one-byte version (0x02),
//      the entry count, then four columns — timestamps (delta-of-delta
//      varints), line lengths, structured metadata (per-block dictionary of
//      strings + per-entry id pairs) and the lines concatenated — each its
//      own zstd frame (level and long-distance matching configurable).
//
// The first byte tells them apart (a zstd frame starts with 0x28), so a
// reader never needs the block's format.
//
// ChunkView decodes either form into the same columnar, reusable buffers:
// lines are string_views into one decompressed lines column, so a query can
// search the whole column with memmem and touch only the entries that hit.
//
// Errors: DataLoss on anything malformed (never reads past its input, and
// never allocates more than kMaxChunkRawBytes per column).
// Thread-safety: ChunkEncoder and ChunkView are single-threaded objects;
// use one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/logql/storage.h"

namespace sightline::logs::store {

inline constexpr size_t kMaxChunkRawBytes = 64u << 20;

// Level 9 by default: on the benchmark corpus (docs/benchmarks.md) it gives
// 11.5x at ~46 MB/s per core of cut time; level 19 adds 7% for 40x the CPU,
// and long-distance matching changes nothing for 256 KiB chunk blocks (it
// only finds matches farther back than zstd's window).
struct ChunkEncodeOptions {
  int zstd_level = 9;              // 1..22
  bool long_distance = false;      // ZSTD_c_enableLongDistanceMatching
  int window_log = 0;              // 0: zstd's choice for the level
};

// Compresses chunk blocks; keeps one zstd context across calls.
class ChunkEncoder {
 public:
  explicit ChunkEncoder(ChunkEncodeOptions options = {});
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Appends the v2 encoding of entries[0..n) (time order) to `out`.
  Status Encode(const Entry* const* entries, size_t n, std::string* out);

  // Bytes of each column before compression, summed over every Encode call
  // (for reports): timestamps, lengths, metadata, lines.
  const uint64_t* raw_column_bytes() const { return raw_cols_; }
  const uint64_t* compressed_column_bytes() const { return comp_cols_; }

 private:
  Status Compress(std::string_view in, std::string* out);
  ChunkEncodeOptions o_;
  void* cctx_ = nullptr;  // ZSTD_CCtx
  std::string col_[4];
  std::string comp_;
  uint64_t raw_cols_[4] = {0, 0, 0, 0};
  uint64_t comp_cols_[4] = {0, 0, 0, 0};
};

class ChunkView {
 public:
  ChunkView();
  ~ChunkView();
  ChunkView(const ChunkView&) = delete;
  ChunkView& operator=(const ChunkView&) = delete;

  // Decodes a chunk block (v1 or v2), replacing the previous content but
  // keeping the buffers.
  Status Decode(std::string_view data);
  // Releases the buffers (an idle iterator should not hold 256 KiB+).
  void Release();

  size_t size() const { return ts_.size(); }
  int64_t ts(size_t i) const { return ts_[i]; }
  std::string_view line(size_t i) const {
    return std::string_view(lines_.data() + off_[i], off_[i + 1] - off_[i]);
  }
  // Every line of the block back to back (line(i) is [off(i), off(i+1))).
  std::string_view lines() const { return std::string_view(lines_.data(), off_.back()); }
  uint32_t off(size_t i) const { return off_[i]; }
  // The size()+1 line offsets (off(0) .. off(size())).
  const uint32_t* offsets() const { return off_.data(); }
  // The entry whose line holds byte `pos` of lines() (pos < lines().size()).
  size_t EntryAt(size_t pos) const;
  // The first entry with ts >= t.
  size_t LowerBound(int64_t t) const;

  bool has_metadata(size_t i) const;
  // Sets `out` to entry i's structured metadata (empty if the column is
  // corrupt: see metadata_status()).
  void Metadata(size_t i, Labels* out) const;
  // The metadata column is decoded on first use; its error, if any.
  const Status& metadata_status() const { return md_status_; }

 private:
  Status DecodeV1(std::string_view data);
  Status DecodeV2(std::string_view data);
  Status Inflate(std::string_view frame, size_t raw_len, std::string* out);
  Status DecodeMetadata() const;

  void* dctx_ = nullptr;  // ZSTD_DCtx
  std::vector<int64_t> ts_;
  std::vector<uint32_t> off_{0};  // size()+1 line offsets into lines_
  std::string lines_;
  std::string scratch_;           // ts / lengths columns
  // Metadata column, decoded lazily (the accessors are const).
  uint8_t md_codec_ = 0;
  size_t md_raw_len_ = 0;
  bool md_present_ = false;
  mutable bool md_pending_ = false;
  mutable Status md_status_ = Status::Ok();
  mutable std::string md_frame_;                // stored bytes until decoded
  mutable std::string md_raw_;                  // dictionary strings live here
  mutable std::vector<std::string_view> dict_;
  mutable std::vector<uint32_t> md_off_;        // size()+1 offsets into md_ids_ (pairs)
  mutable std::vector<uint32_t> md_ids_;        // name id, value id, ...
};

}  // namespace sightline::logs::store
