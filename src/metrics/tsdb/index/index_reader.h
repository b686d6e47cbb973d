// IndexReader: reads a Prometheus TSDB index file, format v2 (what
// Prometheus 2.x writes and IndexWriter writes).
//
// Open() checks the header, the table of contents, the symbol table and
// the postings offset table (CRCs, bounds, sort order) and keeps the file
// mapped (or, for small files, read into memory). Each later lookup checks
// the CRC and bounds of the section it decodes. Nothing read from the file
// is trusted: a corrupt or truncated index yields DataLoss, never a crash
// or a read outside the file.
//
// Memory: 4 bytes per symbol plus one entry (two views and an offset) per
// label pair; strings are views into the file, not copies.
//
// Thread-safety: immutable after Open; every method may be called
// concurrently. Returned string_views point into the reader and stay valid
// while it lives.
//
// Errors: NotFound / I/O errors from the Env when opening; DataLoss for a
// malformed file; Unimplemented for the v1 format (pre-2.0 Prometheus).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "metrics/tsdb/chunks/chunks.h"
#include "metrics/tsdb/index/format.h"
#include "metrics/tsdb/index/index_cache.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

class IndexReader {
 public:
  static Result<std::unique_ptr<IndexReader>> Open(io::Env* env, const std::string& path);
  // Reads an index held in memory (tests, fuzzing, object-store caches).
  static Result<std::unique_ptr<IndexReader>> FromBytes(std::string data);
  ~IndexReader();

  int version() const { return version_; }
  const IndexToc& toc() const { return toc_; }
  uint64_t size() const { return data_.size(); }

  uint32_t num_symbols() const { return static_cast<uint32_t>(symbol_offsets_.size()); }
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
    uint64_t offset;
  };
  struct NameEntry {
    std::string_view name;
    std::vector<ValueEntry> values;
  };

  IndexReader() = default;
  Status Init();
  // The content of the `len <4b> | content | crc <4b>` section at `off`,
  // CRC-checked.
  Result<std::string_view> Section(uint64_t off, const char* what) const;
  const NameEntry* FindName(std::string_view name) const;
  Result<std::vector<SeriesRef>> DecodePostings(std::string_view name,
                                                std::string_view value) const;
  Status DecodeSeries(SeriesRef ref, Labels* labels, std::vector<ChunkMeta>* chunks) const;

  std::unique_ptr<io::RandomAccessFile> file_;
  std::string owned_;
  std::string_view data_;
  int version_ = 0;
  IndexToc toc_;
  std::vector<uint32_t> symbol_offsets_;  // relative to symbols_base_
  uint64_t symbols_base_ = 0;
  std::vector<NameEntry> names_;  // sorted by name
  IndexCache* cache_ = nullptr;
  std::string cache_scope_;
};

}  // namespace sightline::tsdb
