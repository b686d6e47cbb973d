// IndexWriter: writes a Prometheus TSDB index file, format v2, that
// Prometheus 2.x and promtool read as their own.
//
// Call order (as Prometheus's index.Writer):
//   1. AddSymbol() for every label name and value the series will use, in
//      strictly increasing byte order;
//   2. AddSeries() for every series, in strictly increasing Labels::Compare
//      order, each with its chunk metas (time-ordered, non-overlapping,
//      refs never decreasing across the whole file);
//   3. Close(): writes the label indices, the postings lists (the
//      all-series list under the key ("", "") first, then one per label
//      pair), the label offset table, the postings offset table and the
//      table of contents, then syncs.
// Postings are collected in memory as 12 bytes per (series, label) pair and
// written at Close.
//
// Thread-safety: single-threaded.
//
// Errors: InvalidArgument for calls out of order or in the wrong sequence
// (unsorted symbols or series, a label whose name or value is not a symbol,
// overlapping chunks); ResourceExhausted when the file would exceed the
// format's 32-bit fields (64 GiB of series, 4 GiB symbol table); I/O errors
// from the Env. After an error the file is incomplete and should be removed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "metrics/tsdb/chunks/chunks.h"
#include "metrics/tsdb/index/format.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

class IndexWriter {
 public:
  static Result<std::unique_ptr<IndexWriter>> Create(io::Env* env, const std::string& path);
  ~IndexWriter();

  Status AddSymbol(std::string_view symbol);
  // Returns the series' ID (its offset / 16), the value postings hold.
  Result<SeriesRef> AddSeries(const Labels& labels, std::span<const ChunkMeta> chunks);
  Status Close();

  uint64_t num_series() const { return num_series_; }

 private:
  struct Posting {
    uint32_t name;
    uint32_t value;
    uint32_t series;
  };

  explicit IndexWriter(std::unique_ptr<io::WritableFile> file) : file_(std::move(file)) {}
  Status Write(std::string_view data);
  Status Pad(uint64_t alignment);
  Status FinishSymbols();
  // Writes `len <4b> | content | crc <4b>`.
  Status WriteSection(std::string_view content);
  // The symbol's index, or -1.
  int64_t SymbolIndex(std::string_view s) const;

  std::unique_ptr<io::WritableFile> file_;
  uint64_t pos_ = 0;
  IndexToc toc_;
  bool symbols_done_ = false;
  bool closed_ = false;
  Status failed_;

  std::vector<std::string> symbols_;
  Labels last_series_;
  ChunkRef last_chunk_ref_ = 0;
  uint64_t num_series_ = 0;
  std::vector<uint32_t> all_series_;
  std::vector<Posting> postings_;
  std::string buf_;
};

}  // namespace sightline::tsdb
