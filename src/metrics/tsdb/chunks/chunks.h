// Chunk segment files: the `chunks/` directory of a Prometheus TSDB block.
//
// Each segment file (000001, 000002, ...) is an 8-byte header (magic
// 0x85BD40DD, version 1, 3 zero bytes) followed by chunks, each
//   len <uvarint> | encoding <1 byte> | data <len bytes> | CRC32C <4 bytes>
// where the big-endian CRC-32C covers encoding and data. A chunk is named
// by a ChunkRef = segment index << 32 | byte offset in that segment; the
// segment index is the file's position among the numbered files of the
// directory (000001 is index 0), as Prometheus's reader counts it.
//
// Thread-safety: a ChunkWriter is single-threaded. A ChunkReader is safe for
// concurrent Read()s with distinct scratch buffers.
//
// Errors: I/O errors as the Env reports them; DataLoss for a segment or
// chunk that does not decode (bad magic or version, a ref naming a missing
// segment or an offset outside it, a length running past the file, a CRC
// mismatch).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "metrics/tsdb/chunkenc/xor.h"

namespace sightline::tsdb {

using ChunkRef = uint64_t;

inline ChunkRef MakeChunkRef(uint32_t segment_index, uint32_t offset) {
  return (uint64_t{segment_index} << 32) | offset;
}
inline uint32_t ChunkRefSegment(ChunkRef ref) { return static_cast<uint32_t>(ref >> 32); }
inline uint32_t ChunkRefOffset(ChunkRef ref) { return static_cast<uint32_t>(ref); }

// What the index stores about each chunk of a series: its position and the
// timestamps of its first and last sample (both inclusive).
struct ChunkMeta {
  ChunkRef ref = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;

  friend bool operator==(const ChunkMeta&, const ChunkMeta&) = default;
};

inline constexpr uint32_t kChunksMagic = 0x85BD40DD;
inline constexpr uint8_t kChunksFormatV1 = 1;
inline constexpr size_t kSegmentHeaderSize = 8;
inline constexpr uint64_t kDefaultSegmentSize = uint64_t{512} << 20;
// Offsets are 32 bits, so no segment may be larger.
inline constexpr uint64_t kMaxSegmentSize = uint64_t{1} << 32;

// "000001" for segment index 0.
std::string SegmentFileName(uint32_t index);

class ChunkWriter {
 public:
  // Creates `dir` if needed and starts writing segment 000001 there.
  // `segment_size` (bytes, including the header) is the size past which a
  // new segment is cut; a chunk larger than a segment gets one to itself.
  static Result<std::unique_ptr<ChunkWriter>> Create(io::Env* env, const std::string& dir,
                                                     uint64_t segment_size = kDefaultSegmentSize);
  ~ChunkWriter();

  // Appends one chunk; returns its ref.
  Result<ChunkRef> Write(chunkenc::Encoding encoding, std::string_view data);
  // Syncs and closes the current segment and syncs the directory. The
  // writer is unusable afterwards.
  Status Close();

  uint32_t segments() const { return segment_index_ + (file_ ? 1 : 0); }
  uint64_t bytes_written() const { return total_bytes_; }

 private:
  ChunkWriter(io::Env* env, std::string dir, uint64_t segment_size)
      : env_(env), dir_(std::move(dir)), segment_size_(segment_size) {}
  Status OpenSegment(uint32_t index);
  Status FinishSegment();

  io::Env* env_;
  std::string dir_;
  uint64_t segment_size_;
  std::unique_ptr<io::WritableFile> file_;
  uint32_t segment_index_ = 0;
  uint64_t pos_ = 0;  // in the current segment
  uint64_t total_bytes_ = 0;
  bool closed_ = false;
  std::string buf_;
};

// A chunk as stored: its encoding and bytes. `data` points into the
// reader's mapping or into the caller's scratch buffer.
struct RawChunk {
  chunkenc::Encoding encoding = chunkenc::Encoding::kNone;
  std::string_view data;
};

class ChunkReader {
 public:
  // Opens every numbered file of `dir` (in numeric order) and checks each
  // header. A block with no chunks may have an empty or missing directory.
  static Result<std::unique_ptr<ChunkReader>> Open(io::Env* env, const std::string& dir);
  // Reads segments already opened elsewhere (e.g. object files of a block
  // in the object store), in segment order; `names` (same length) name them
  // in errors. Checks each header.
  static Result<std::unique_ptr<ChunkReader>> FromFiles(
      std::vector<std::unique_ptr<io::RandomAccessFile>> segments, std::vector<std::string> names);
  ~ChunkReader();

  // Reads and CRC-checks the chunk at `ref`. The view stays valid until
  // `scratch` changes or the reader is destroyed.
  Result<RawChunk> Read(ChunkRef ref, std::string* scratch) const;

  size_t num_segments() const { return segments_.size(); }

 private:
  ChunkReader() = default;
  Status AddSegment(std::unique_ptr<io::RandomAccessFile> f, std::string name);
  std::vector<std::unique_ptr<io::RandomAccessFile>> segments_;
  std::vector<std::string> names_;
};

}  // namespace sightline::tsdb
