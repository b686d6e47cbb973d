// The bytes of one WAL segment file: 32 KiB pages of fragments, each with a
// 7-byte header (type|flags, length, CRC32C). docs/formats/wal.md is the
// specification; this is its implementation, shared by the WAL writer, the
// replayer and the checkpointer, and usable by tools and tests that need to
// read or produce segments directly.
//
// Thread-safety: the free functions are pure; a SegmentReader is used by one
// thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"

namespace sightline::wal {

inline constexpr uint64_t kPageSize = 32 * 1024;
inline constexpr uint64_t kHeaderSize = 7;
// A larger record is refused by Append (InvalidArgument) and, when found on
// disk, is treated as corruption.
inline constexpr uint64_t kMaxRecordSize = uint64_t{1} << 30;

// Fragment types (low 3 bits of the first header byte).
enum FragmentType : uint8_t {
  kPageTerm = 0,  // zero padding to the end of the page
  kFull = 1,
  kFirst = 2,
  kMiddle = 3,
  kLast = 4,
};
inline constexpr uint8_t kTypeMask = 0x07;
inline constexpr uint8_t kSnappyFlag = 0x08;  // the record was snappy-compressed (block format)
inline constexpr uint8_t kZstdFlag = 0x10;    // the record was zstd-compressed

// "00000042". Segment files and checkpoint segment files use it.
std::string SegmentName(uint32_t index);
// Parses an 8-digit (or longer) decimal name; nullopt for anything else.
std::optional<uint32_t> ParseSegmentName(std::string_view name);
// "checkpoint.00000042"; the temporary form adds ".tmp".
std::string CheckpointName(uint32_t index);
// Parses "checkpoint.NNNNNNNN" (not the ".tmp" form).
std::optional<uint32_t> ParseCheckpointName(std::string_view name);

// Where a record of `size` payload bytes starting at segment offset `offset`
// ends, including the zero padding written when fewer than kHeaderSize bytes
// would remain in the page.
uint64_t EncodedEnd(uint64_t offset, uint64_t size);

// Appends `record` (already compressed if `flags` says so) framed as it
// must be written at segment offset `*offset`; advances `*offset`. Adds the
// number of pages completed by this record to `*completed_pages` if given.
// Returns the offset of the record's first fragment (after any padding).
uint64_t EncodeRecord(std::string_view record, uint8_t flags, uint64_t* offset, std::string* out,
                      uint64_t* completed_pages = nullptr);

// The pieces of framed records, for a gathering write (writev): views of
// the records' own bytes (not copied), of fragment headers kept in
// `headers` (stable addresses) and of static zero padding. Valid while the
// records and this object are.
struct GatherBuffer {
  std::deque<std::array<char, kHeaderSize>> headers;
  std::vector<std::string_view> pieces;
  uint64_t bytes = 0;  // sum of the pieces' sizes

  void Clear() {
    headers.clear();
    pieces.clear();
    bytes = 0;
  }
};

// EncodeRecord's framing, into `out` as pieces: the same bytes, in order,
// as EncodeRecord would append to a string.
uint64_t EncodeRecordGather(std::string_view record, uint8_t flags, uint64_t* offset,
                            GatherBuffer* out, uint64_t* completed_pages = nullptr);

// Zero padding that completes the page `offset` is in (nothing at a page
// boundary). Written when a segment is closed, so that closed segments are a
// whole number of pages.
uint64_t PagePadding(uint64_t offset);

// Reads the records of one segment file in order, validating every byte.
class SegmentReader {
 public:
  // `file` must outlive the reader.
  explicit SegmentReader(const io::RandomAccessFile* file);

  enum class Outcome {
    kRecord,   // *record / *offset are set
    kEnd,      // clean end of the file
    kTorn,     // the file ends inside a record or inside a page of zeros
    kCorrupt,  // a checksum, length, type or padding error
    kIoError,  // the Env failed; status() says why
  };
  // The view stays valid until the next call.
  Outcome Next(std::string_view* record, uint64_t* offset);

  // End of the last complete record (or of the padding after it): where a
  // repair truncates the file.
  uint64_t good_offset() const { return good_offset_; }
  uint64_t file_size() const { return size_; }
  // Offset of the bad byte(s) and what is wrong, after kTorn / kCorrupt.
  uint64_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }
  const Status& status() const { return status_; }

 private:
  Outcome Fail(Outcome kind, uint64_t offset, std::string what);
  // Makes bytes [pos, pos + n) available in chunk_; false at EOF/error.
  bool Load(uint64_t pos, uint64_t n);

  const io::RandomAccessFile* file_;
  uint64_t size_;
  uint64_t pos_ = 0;  // next byte to parse
  uint64_t good_offset_ = 0;
  uint64_t error_offset_ = 0;
  std::string error_;
  Status status_;

  std::string scratch_;
  std::string_view chunk_;  // bytes [chunk_start_, chunk_start_ + chunk_.size())
  uint64_t chunk_start_ = 0;

  std::string assembled_;  // fragments of a record spanning pages
  std::string decompressed_;
};

}  // namespace sightline::wal
