// IndexReader: reads a Prometheus TSDB index file, format v2 (what
// Prometheus 2.x writes and IndexWriter writes).
//
// Two modes behind one interface (so NewBlockQuerier, pruning and
// tombstones work the same over both):
//
//  - Local (Open, FromBytes): the whole index is mapped (or, for small
//    files, read into memory). Open() checks the header, the table of
//    contents, the symbol table and the postings offset table (CRCs,
//    bounds, sort order). Local blocks use this.
//
//  - Lazy (OpenLazy, FromHeaderBytes): for an index that lives in an
//    object store (the store gateway). Only an index-header is local
//    (docs/formats/metrics-index-header.md): the index's TOC, a copy of its
//    symbol table and of its postings offset table, built once by
//    BuildHeader() from two or three ranged reads of the index. In memory the
//    reader keeps every 32nd symbol offset and, per label name, every 32nd
//    postings-offset entry plus the last (Thanos's sampling); entries in
//    between are decoded from the (mapped) header on demand. Postings lists
//    and series entries are read from the index file with ranged reads: a
//    postings list with one read (its end is the next entry's offset), a
//    series entry with a size guess, extended when short. PrefetchPostings
//    and PrefetchSeries fetch many items with coalesced reads into the
//    IndexCache, where the later Postings()/Series() calls find them.
//
// Each lookup checks the CRC and bounds of what it decodes. Nothing read
// from a file is trusted: a corrupt or truncated index (or header) yields
// DataLoss, never a crash or a read outside the file.
//
// Memory (local): 4 bytes per symbol plus one entry per label pair; strings
// are views into the file, not copies. Lazy: 1/32 of that plus the label
// names.
//
// Thread-safety: immutable after construction (SetCache before sharing);
// every method may be called concurrently, including the Prefetch calls.
// Returned string_views point into the reader and stay valid while it
// lives.
//
// Errors: NotFound / I/O errors from the Env or the index file (e.g. the
// object store's Unavailable) as they come; DataLoss for a malformed file;
// Unimplemented for the v1 format (pre-2.0 Prometheus).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "metrics/tsdb/chunks/chunks.h"
#include "metrics/tsdb/index/format.h"
#include "metrics/tsdb/index/index_cache.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

// Tunables of lazy readers.
struct LazyIndexOptions {
  // Ranges closer than this are fetched with one read (Thanos: 512 KiB).
  uint64_t max_gap_bytes = 512 * 1024;
  // First read of a series entry; extended when the entry is longer.
  size_t series_size_guess = 1024;
  // In-memory sampling of the symbol table and postings offset table.
  uint32_t sample_stride = 32;
};

class IndexReader {
 public:
  static Result<std::unique_ptr<IndexReader>> Open(io::Env* env, const std::string& path);
  // Reads an index held in memory (tests, fuzzing, object-store caches).
  static Result<std::unique_ptr<IndexReader>> FromBytes(std::string data);

  // The index-header of `index` (an index file, typically an object file):
  // reads the TOC (with the last 16 KiB of the file), [0, toc.series) and
  // the postings offset table (unless that tail held it) with two or three
  // ranged reads, and validates them.
  static Result<std::string> BuildHeader(const io::RandomAccessFile& index);
  // A lazy reader over the index-header file at `header_path` (mapped when
  // large) and the index file it describes. DataLoss when the header is
  // corrupt or does not describe `index` (its size differs).
  static Result<std::unique_ptr<IndexReader>> OpenLazy(io::Env* env, const std::string& header_path,
                                                       std::unique_ptr<io::RandomAccessFile> index,
                                                       LazyIndexOptions options = {});
  static Result<std::unique_ptr<IndexReader>> FromHeaderBytes(
      std::string header, std::unique_ptr<io::RandomAccessFile> index,
      LazyIndexOptions options = {});
  ~IndexReader();

  bool lazy() const { return remote_ != nullptr; }
  int version() const { return version_; }
  const IndexToc& toc() const { return toc_; }
  // Size of the index file (not of the header).
  uint64_t size() const { return index_size_; }

  uint32_t num_symbols() const { return num_symbols_; }
  // The symbol with index `ref`; DataLoss if out of range.
  Result<std::string_view> Symbol(uint32_t ref) const;
  // Every symbol, sorted.
  std::vector<std::string_view> Symbols() const;

  // Sorted label names that have postings (without the "" all-series key).
  std::vector<std::string_view> LabelNames() const;
  // Sorted values of `name`; empty when the name is absent.
  std::vector<std::string_view> LabelValues(std::string_view name) const;

  // The sorted series IDs of the series with label name=value; empty when
  // the pair is absent. Postings("", "") is every series.
  Result<std::vector<SeriesRef>> Postings(std::string_view name, std::string_view value) const;
  Result<std::vector<SeriesRef>> AllPostings() const { return Postings("", ""); }

  // Decodes the series with ID `ref` (a value from a postings list).
  Status Series(SeriesRef ref, Labels* labels, std::vector<ChunkMeta>* chunks) const;

  // Lazy readers with a cache: fetch the postings lists / series entries
  // not in the cache with coalesced ranged reads and store them there (one
  // counted cache request per item, as Thanos counts; the later Postings()
  // and Series() calls look them up without counting). No-ops for local
  // readers and without a cache. Absent pairs are skipped.
  Status PrefetchPostings(std::span<const std::pair<std::string, std::string>> keys) const;
  Status PrefetchSeries(std::span<const SeriesRef> refs) const;

  // Makes Postings() and Series() consult `cache` (entries scoped by
  // `scope`, e.g. the block ULID) before decoding, and fill it after. Call
  // before the reader is shared between threads; `cache` must outlive the
  // reader. nullptr turns caching off.
  void SetCache(IndexCache* cache, std::string scope) {
    cache_ = cache;
    cache_scope_ = std::move(scope);
  }

 private:
  struct ValueEntry {
    std::string_view value;
    uint64_t offset;  // of the postings list in the index
    uint32_t pos;     // of the entry in the postings offset table content
  };
  struct NameEntry {
    std::string_view name;
    std::vector<ValueEntry> samples;  // every stride-th value and the last
    uint32_t end_pos;                 // past the name's last entry
  };
  struct Located {
    uint64_t offset;
    uint64_t next;  // offset of the following postings list (lazy only)
  };

  IndexReader() = default;
  Status Init();
  Status InitHeader();
  Status InitTables(std::string_view syms, uint64_t syms_base, std::string_view pot,
                    uint64_t offset_limit, uint32_t stride);
  // The content of the `len <4b> | content | crc <4b>` section at `off` of
  // data_, CRC-checked.
  Result<std::string_view> Section(uint64_t off, const char* what) const;
  // The same, read from the index file; `end` is where the section is
  // expected to end at the latest (one read when right).
  Result<std::string_view> RemoteSection(uint64_t off, uint64_t end, std::string* scratch,
                                         const char* what) const;
  const NameEntry* FindName(std::string_view name) const;
  std::optional<Located> Locate(std::string_view name, std::string_view value) const;
  Result<std::vector<SeriesRef>> DecodePostings(std::string_view name,
                                                std::string_view value) const;
  Status DecodeSeries(SeriesRef ref, Labels* labels, std::vector<ChunkMeta>* chunks) const;
  // Series entry at `ref` whose bytes start `buf` (lazy: maybe too short:
  // *need is set to the entry's full length and the call fails with
  // OutOfRange when it is).
  Status DecodeSeriesEntry(SeriesRef ref, std::string_view buf, Labels* labels,
                           std::vector<ChunkMeta>* chunks, uint64_t* need = nullptr) const;
  Status CheckSeriesRef(SeriesRef ref) const;

  std::unique_ptr<io::RandomAccessFile> file_;    // the mapped file (index or header)
  std::unique_ptr<io::RandomAccessFile> remote_;  // lazy: the index file
  LazyIndexOptions lazy_options_;
  std::string owned_;
  std::string_view data_;  // the whole index (local) or the header (lazy)
  uint64_t index_size_ = 0;
  int version_ = 0;
  IndexToc toc_;
  uint32_t num_symbols_ = 0;
  uint32_t symbol_stride_ = 1;
  std::vector<uint32_t> symbol_offsets_;  // of every stride-th symbol, relative to symbols_base_
  uint64_t symbols_base_ = 0;
  std::string_view pot_;          // postings offset table content, after the count
  uint64_t postings_end_ = 0;     // end of the postings lists (lazy)
  uint64_t series_end_ = 0;       // end of the series section (lazy)
  std::vector<NameEntry> names_;  // sorted by name
  IndexCache* cache_ = nullptr;
  std::string cache_scope_;
};

}  // namespace sightline::tsdb
