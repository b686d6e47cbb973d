// Constants and the table of contents of the Prometheus TSDB index file,
// format version 2 (docs/formats/metrics-block.md; Prometheus
// tsdb/docs/format/index.md). Shared by IndexWriter and IndexReader.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sightline::tsdb {

// A series' ID in a v2 index: its byte offset / 16. Postings lists hold
// these as 4-byte values, so an index may address at most 64 GiB of series.
using SeriesRef = uint64_t;

inline constexpr uint32_t kIndexMagic = 0xBAAAD700;
inline constexpr uint8_t kIndexFormatV1 = 1;
inline constexpr uint8_t kIndexFormatV2 = 2;
inline constexpr size_t kIndexHeaderSize = 5;
inline constexpr size_t kIndexTocSize = 6 * 8 + 4;
inline constexpr uint64_t kSeriesAlignment = 16;

// The index-header file of a lazy IndexReader (store gateway;
// docs/formats/metrics-index-header.md): a fixed part of
// kIndexHeaderFixedSize bytes (magic, version, the index's format version,
// size and TOC, the offsets of the two copied sections, CRC32C), then the
// index's symbol table and postings offset table sections, copied verbatim.
inline constexpr uint32_t kIndexHeaderFileMagic = 0x534C4948;  // "SLIH"
inline constexpr uint8_t kIndexHeaderFileV1 = 1;
inline constexpr size_t kIndexHeaderFixedSize = 4 + 1 + 1 + 8 + 48 + 8 + 8 + 4;

// The byte offsets of the index sections, stored at the end of the file.
struct IndexToc {
  uint64_t symbols = 0;
  uint64_t series = 0;
  uint64_t label_indices = 0;
  uint64_t label_indices_table = 0;
  uint64_t postings = 0;
  uint64_t postings_table = 0;
};

}  // namespace sightline::tsdb
