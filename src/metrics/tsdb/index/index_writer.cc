#include "metrics/tsdb/index/index_writer.h"

#include <algorithm>

#include "base/coding.h"
#include "base/crc32c.h"

namespace sightline::tsdb {

Result<std::unique_ptr<IndexWriter>> IndexWriter::Create(io::Env* env, const std::string& path) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<io::WritableFile> f, env->NewWritableFile(path));
  std::unique_ptr<IndexWriter> w(new IndexWriter(std::move(f)));
  std::string header;
  coding::PutFixed32BE(header, kIndexMagic);
  header.push_back(static_cast<char>(kIndexFormatV2));
  SL_RETURN_IF_ERROR(w->Write(header));
  w->toc_.symbols = w->pos_;
  return w;
}

IndexWriter::~IndexWriter() = default;

Status IndexWriter::Write(std::string_view data) {
  Status s = file_->Append(data);
  if (!s.ok()) {
    failed_ = s;
    return s;
  }
  pos_ += data.size();
  return Status::Ok();
}

Status IndexWriter::Pad(uint64_t alignment) {
  uint64_t rem = pos_ % alignment;
  if (rem == 0) return Status::Ok();
  static constexpr char kZeros[16] = {};
  return Write(std::string_view(kZeros, alignment - rem));
}

Status IndexWriter::WriteSection(std::string_view content) {
  if (content.size() > 0xffffffffu) {
    return ResourceExhaustedError("index section of " + std::to_string(content.size()) +
                                  " bytes exceeds the format's 4-byte length");
  }
  std::string len;
  coding::PutFixed32BE(len, static_cast<uint32_t>(content.size()));
  SL_RETURN_IF_ERROR(Write(len));
  SL_RETURN_IF_ERROR(Write(content));
  std::string crc;
  coding::PutFixed32BE(crc, crc32c::Value(content));
  return Write(crc);
}

Status IndexWriter::AddSymbol(std::string_view symbol) {
  if (!failed_.ok()) return failed_;
  if (symbols_done_) return InvalidArgumentError("index: AddSymbol after AddSeries");
  if (!symbols_.empty() && symbol <= symbols_.back()) {
    return InvalidArgumentError("index: symbol \"" + std::string(symbol) +
                                "\" out of order (symbols must be sorted and unique)");
  }
  symbols_.emplace_back(symbol);
  return Status::Ok();
}

int64_t IndexWriter::SymbolIndex(std::string_view s) const {
  auto it = std::lower_bound(symbols_.begin(), symbols_.end(), s,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it == symbols_.end() || *it != s) return -1;
  return it - symbols_.begin();
}

Status IndexWriter::FinishSymbols() {
  symbols_done_ = true;
  if (symbols_.size() > 0xffffffffu) return ResourceExhaustedError("index: too many symbols");
  std::string content;
  coding::PutFixed32BE(content, static_cast<uint32_t>(symbols_.size()));
  for (const std::string& s : symbols_) coding::PutLengthPrefixed(content, s);
  SL_RETURN_IF_ERROR(WriteSection(content));
  toc_.series = pos_;
  return Status::Ok();
}

Result<SeriesRef> IndexWriter::AddSeries(const Labels& labels, std::span<const ChunkMeta> chunks) {
  if (!failed_.ok()) return failed_;
  if (closed_) return FailedPreconditionError("index writer is closed");
  if (!symbols_done_) SL_RETURN_IF_ERROR(FinishSymbols());
  if (Labels::Compare(labels, last_series_) <= 0) {
    return InvalidArgumentError("index: out-of-order series added with label set " +
                                labels.ToString() + ", last label set " + last_series_.ToString());
  }
  ChunkRef last_ref = last_chunk_ref_;
  int64_t last_maxt = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkMeta& c = chunks[i];
    if (c.ref < last_ref) {
      return InvalidArgumentError("index: unsorted chunk reference " + std::to_string(c.ref) +
                                  ", previous " + std::to_string(last_ref));
    }
    last_ref = c.ref;
    if (i > 0 && c.min_time <= last_maxt) {
      return InvalidArgumentError("index: chunk minT " + std::to_string(c.min_time) +
                                  " is not higher than previous chunk maxT " +
                                  std::to_string(last_maxt));
    }
    if (c.max_time < c.min_time) {
      return InvalidArgumentError("index: chunk maxT " + std::to_string(c.max_time) +
                                  " is less than minT " + std::to_string(c.min_time));
    }
    last_maxt = c.max_time;
  }

  SL_RETURN_IF_ERROR(Pad(kSeriesAlignment));
  uint64_t id = pos_ / kSeriesAlignment;
  if (id > 0xffffffffu) {
    return ResourceExhaustedError("index: series offset exceeds 64 GiB (4-byte series IDs)");
  }
  uint32_t sid = static_cast<uint32_t>(id);

  buf_.clear();
  coding::PutUvarint(buf_, labels.size());
  size_t postings_mark = postings_.size();
  for (const Label& l : labels) {
    if (l.name.empty()) {
      postings_.resize(postings_mark);
      return InvalidArgumentError("index: series " + labels.ToString() +
                                  " has a label with an empty name");
    }
    int64_t n = SymbolIndex(l.name);
    int64_t v = SymbolIndex(l.value);
    if (n < 0 || v < 0) {
      postings_.resize(postings_mark);
      return InvalidArgumentError("index: symbol entry for \"" + (n < 0 ? l.name : l.value) +
                                  "\" does not exist");
    }
    coding::PutUvarint(buf_, static_cast<uint64_t>(n));
    coding::PutUvarint(buf_, static_cast<uint64_t>(v));
    postings_.push_back(Posting{static_cast<uint32_t>(n), static_cast<uint32_t>(v), sid});
  }
  coding::PutUvarint(buf_, chunks.size());
  if (!chunks.empty()) {
    // Deltas in wrapping arithmetic, as Go computes them.
    const ChunkMeta& c0 = chunks[0];
    coding::PutVarint(buf_, c0.min_time);
    coding::PutUvarint(buf_,
                       static_cast<uint64_t>(c0.max_time) - static_cast<uint64_t>(c0.min_time));
    coding::PutUvarint(buf_, c0.ref);
    uint64_t t0 = static_cast<uint64_t>(c0.max_time);
    uint64_t ref0 = c0.ref;
    for (size_t i = 1; i < chunks.size(); ++i) {
      const ChunkMeta& c = chunks[i];
      coding::PutUvarint(buf_, static_cast<uint64_t>(c.min_time) - t0);
      coding::PutUvarint(buf_,
                         static_cast<uint64_t>(c.max_time) - static_cast<uint64_t>(c.min_time));
      t0 = static_cast<uint64_t>(c.max_time);
      coding::PutVarint(buf_, static_cast<int64_t>(c.ref - ref0));
      ref0 = c.ref;
    }
  }
  std::string entry;
  entry.reserve(buf_.size() + 14);
  coding::PutUvarint(entry, buf_.size());
  entry += buf_;
  coding::PutFixed32BE(entry, crc32c::Value(buf_));
  Status s = Write(entry);
  if (!s.ok()) {
    postings_.resize(postings_mark);
    return s;
  }

  last_series_ = labels;
  last_chunk_ref_ = last_ref;
  all_series_.push_back(sid);
  ++num_series_;
  return SeriesRef{sid};
}

Status IndexWriter::Close() {
  if (closed_) return FailedPreconditionError("index writer is closed");
  closed_ = true;
  if (!failed_.ok()) return failed_;
  if (!symbols_done_) SL_RETURN_IF_ERROR(FinishSymbols());

  // Group the (name, value, series) triples; series IDs were appended in
  // increasing order, and the sort keeps them so within a group.
  std::sort(postings_.begin(), postings_.end(), [](const Posting& a, const Posting& b) {
    if (a.name != b.name) return a.name < b.name;
    if (a.value != b.value) return a.value < b.value;
    return a.series < b.series;
  });

  // Label indices: one per label name, listing its values' symbol refs.
  // Prometheus 2.42 still writes them although v2 readers use the postings
  // offset table instead; we write them so that older tools find them.
  toc_.label_indices = pos_;
  struct NameOffset {
    uint32_t name;
    uint64_t offset;
  };
  std::vector<NameOffset> label_index_offsets;
  for (size_t i = 0; i < postings_.size();) {
    uint32_t name = postings_[i].name;
    std::string content;
    coding::PutFixed32BE(content, 1);  // number of names
    coding::PutFixed32BE(content, 0);  // number of entries, patched below
    uint32_t n = 0;
    for (; i < postings_.size() && postings_[i].name == name; ++i) {
      if (n == 0 || postings_[i].value != postings_[i - 1].value) {
        coding::PutFixed32BE(content, postings_[i].value);
        ++n;
      }
    }
    content[4] = static_cast<char>(n >> 24);
    content[5] = static_cast<char>(n >> 16);
    content[6] = static_cast<char>(n >> 8);
    content[7] = static_cast<char>(n);
    SL_RETURN_IF_ERROR(Pad(4));
    label_index_offsets.push_back(NameOffset{name, pos_});
    SL_RETURN_IF_ERROR(WriteSection(content));
  }

  // Postings: all series first, then each label pair in order.
  toc_.postings = pos_;
  SL_RETURN_IF_ERROR(Pad(4));
  std::string offset_table;  // postings offset table entries
  uint32_t offset_entries = 0;
  auto write_postings = [&](std::string_view name, std::string_view value, size_t n,
                            auto&& id_at) -> Status {
    SL_RETURN_IF_ERROR(Pad(4));
    coding::PutUvarint(offset_table, 2);
    coding::PutLengthPrefixed(offset_table, name);
    coding::PutLengthPrefixed(offset_table, value);
    coding::PutUvarint(offset_table, pos_);
    ++offset_entries;
    std::string content;
    content.reserve(4 + 4 * n);
    coding::PutFixed32BE(content, static_cast<uint32_t>(n));
    for (size_t k = 0; k < n; ++k) coding::PutFixed32BE(content, id_at(k));
    return WriteSection(content);
  };
  SL_RETURN_IF_ERROR(
      write_postings("", "", all_series_.size(), [&](size_t k) { return all_series_[k]; }));
  for (size_t i = 0; i < postings_.size();) {
    size_t j = i;
    while (j < postings_.size() && postings_[j].name == postings_[i].name &&
           postings_[j].value == postings_[i].value) {
      ++j;
    }
    SL_RETURN_IF_ERROR(write_postings(symbols_[postings_[i].name], symbols_[postings_[i].value],
                                      j - i, [&](size_t k) { return postings_[i + k].series; }));
    i = j;
  }

  // Label offset table.
  toc_.label_indices_table = pos_;
  {
    std::string content;
    coding::PutFixed32BE(content, static_cast<uint32_t>(label_index_offsets.size()));
    for (const NameOffset& e : label_index_offsets) {
      coding::PutUvarint(content, 1);
      coding::PutLengthPrefixed(content, symbols_[e.name]);
      coding::PutUvarint(content, e.offset);
    }
    SL_RETURN_IF_ERROR(WriteSection(content));
  }

  // Postings offset table.
  toc_.postings_table = pos_;
  {
    std::string content;
    coding::PutFixed32BE(content, offset_entries);
    content += offset_table;
    SL_RETURN_IF_ERROR(WriteSection(content));
  }

  std::string toc;
  coding::PutFixed64BE(toc, toc_.symbols);
  coding::PutFixed64BE(toc, toc_.series);
  coding::PutFixed64BE(toc, toc_.label_indices);
  coding::PutFixed64BE(toc, toc_.label_indices_table);
  coding::PutFixed64BE(toc, toc_.postings);
  coding::PutFixed64BE(toc, toc_.postings_table);
  coding::PutFixed32BE(toc, crc32c::Value(toc));
  SL_RETURN_IF_ERROR(Write(toc));
  SL_RETURN_IF_ERROR(file_->Sync());
  return file_->Close();
}

}  // namespace sightline::tsdb
