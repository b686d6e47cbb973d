#include "metrics/tsdb/index/index_reader.h"

#include <algorithm>

#include "base/coding.h"
#include "base/crc32c.h"

namespace sightline::tsdb {

namespace {

Status Corrupt(const std::string& what) { return DataLossError("index: " + what); }

}  // namespace

IndexReader::~IndexReader() = default;

Result<std::unique_ptr<IndexReader>> IndexReader::Open(io::Env* env, const std::string& path) {
  std::unique_ptr<IndexReader> r(new IndexReader());
  SL_ASSIGN_OR_RETURN(r->file_, env->NewRandomAccessFile(path));
  uint64_t size = r->file_->Size();
  SL_ASSIGN_OR_RETURN(r->data_, r->file_->Read(0, static_cast<size_t>(size), &r->owned_));
  if (r->data_.size() != size) return Corrupt(path + ": short read");
  Status s = r->Init();
  if (!s.ok()) return s.Annotate(path);
  return r;
}

Result<std::unique_ptr<IndexReader>> IndexReader::FromBytes(std::string data) {
  std::unique_ptr<IndexReader> r(new IndexReader());
  r->owned_ = std::move(data);
  r->data_ = r->owned_;
  SL_RETURN_IF_ERROR(r->Init());
  return r;
}

Result<std::string_view> IndexReader::Section(uint64_t off, const char* what) const {
  uint64_t size = data_.size();
  if (off > size || size - off < 8) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + " is out of bounds");
  }
  uint64_t len = coding::LoadFixed32BE(data_.data() + off);
  if (size - off - 8 < len) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + ": length " +
                   std::to_string(len) + " runs past the end of the file");
  }
  std::string_view content = data_.substr(off + 4, len);
  uint32_t want = coding::LoadFixed32BE(data_.data() + off + 4 + len);
  if (crc32c::Value(content) != want) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + ": checksum mismatch");
  }
  return content;
}

Status IndexReader::Init() {
  uint64_t size = data_.size();
  if (size < kIndexHeaderSize + kIndexTocSize) {
    return Corrupt("file of " + std::to_string(size) + " bytes is too short");
  }
  if (uint32_t m = coding::LoadFixed32BE(data_.data()); m != kIndexMagic) {
    return Corrupt("invalid magic number " + std::to_string(m));
  }
  version_ = static_cast<uint8_t>(data_[4]);
  if (version_ == kIndexFormatV1) {
    return UnimplementedError("index: format v1 (Prometheus < 2.0) is not supported");
  }
  if (version_ != kIndexFormatV2) {
    return Corrupt("unknown index file version " + std::to_string(version_));
  }

  // Table of contents.
  std::string_view toc = data_.substr(size - kIndexTocSize);
  if (crc32c::Value(toc.data(), 48) != coding::LoadFixed32BE(toc.data() + 48)) {
    return Corrupt("table of contents checksum mismatch");
  }
  coding::Reader tr(toc);
  toc_.symbols = tr.Fixed64BE();
  toc_.series = tr.Fixed64BE();
  toc_.label_indices = tr.Fixed64BE();
  toc_.label_indices_table = tr.Fixed64BE();
  toc_.postings = tr.Fixed64BE();
  toc_.postings_table = tr.Fixed64BE();
  uint64_t limit = size - kIndexTocSize;
  for (uint64_t off : {toc_.symbols, toc_.series, toc_.label_indices, toc_.label_indices_table,
                       toc_.postings, toc_.postings_table}) {
    if (off > limit) return Corrupt("table of contents points past the end of the file");
  }

  // Symbol table.
  SL_ASSIGN_OR_RETURN(std::string_view syms, Section(toc_.symbols, "symbol table"));
  if (syms.size() < 4) return Corrupt("symbol table too short");
  uint32_t count = coding::LoadFixed32BE(syms.data());
  // Every symbol takes at least one byte: a larger count is corrupt (and
  // must not drive a huge allocation).
  if (count > syms.size() - 4) return Corrupt("symbol table count exceeds its size");
  symbols_base_ = toc_.symbols + 4;
  symbol_offsets_.reserve(count);
  coding::Reader sr(syms);
  sr.Skip(4);
  std::string_view prev;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t off = static_cast<uint32_t>(syms.size() - sr.remaining());
    std::string_view s = sr.LengthPrefixed();
    if (!sr.ok()) return Corrupt("symbol table truncated at symbol " + std::to_string(i));
    if (i > 0 && s <= prev)
      return Corrupt("symbol table is not sorted at symbol " + std::to_string(i));
    prev = s;
    symbol_offsets_.push_back(off);
  }

  // Postings offset table: name/value pairs in sorted order.
  SL_ASSIGN_OR_RETURN(std::string_view pot, Section(toc_.postings_table, "postings offset table"));
  if (pot.size() < 4) return Corrupt("postings offset table too short");
  coding::Reader pr(pot);
  uint32_t entries = pr.Fixed32BE();
  for (uint32_t i = 0; i < entries; ++i) {
    uint64_t keys = pr.Uvarint();
    std::string_view name = pr.LengthPrefixed();
    std::string_view value = pr.LengthPrefixed();
    uint64_t off = pr.Uvarint();
    if (!pr.ok()) return Corrupt("postings offset table truncated at entry " + std::to_string(i));
    if (keys != 2) {
      return Corrupt("unexpected number of keys " + std::to_string(keys) +
                     " in postings offset table");
    }
    if (off >= limit) return Corrupt("postings offset table entry points past the end");
    if (names_.empty() || names_.back().name != name) {
      if (!names_.empty() && name < names_.back().name) {
        return Corrupt("postings offset table is not sorted by label name");
      }
      names_.push_back(NameEntry{name, {}});
    } else if (value <= names_.back().values.back().value) {
      return Corrupt("postings offset table is not sorted by label value");
    }
    names_.back().values.push_back(ValueEntry{value, off});
  }
  return Status::Ok();
}

Result<std::string_view> IndexReader::Symbol(uint32_t ref) const {
  if (ref >= symbol_offsets_.size()) {
    return Corrupt("unknown symbol " + std::to_string(ref) + " (" +
                   std::to_string(symbol_offsets_.size()) + " symbols)");
  }
  // Bounds were checked when the table was scanned at Open.
  coding::Reader r(data_.substr(symbols_base_ + symbol_offsets_[ref]));
  return r.LengthPrefixed();
}

std::vector<std::string_view> IndexReader::Symbols() const {
  std::vector<std::string_view> out;
  out.reserve(symbol_offsets_.size());
  for (uint32_t i = 0; i < symbol_offsets_.size(); ++i) out.push_back(*Symbol(i));
  return out;
}

const IndexReader::NameEntry* IndexReader::FindName(std::string_view name) const {
  auto it = std::lower_bound(names_.begin(), names_.end(), name,
                             [](const NameEntry& e, std::string_view n) { return e.name < n; });
  if (it == names_.end() || it->name != name) return nullptr;
  return &*it;
}

std::vector<std::string_view> IndexReader::LabelNames() const {
  std::vector<std::string_view> out;
  for (const NameEntry& e : names_) {
    if (!e.name.empty()) out.push_back(e.name);
  }
  return out;
}

std::vector<std::string_view> IndexReader::LabelValues(std::string_view name) const {
  std::vector<std::string_view> out;
  if (const NameEntry* e = FindName(name)) {
    out.reserve(e->values.size());
    for (const ValueEntry& v : e->values) out.push_back(v.value);
  }
  return out;
}

Result<std::vector<SeriesRef>> IndexReader::Postings(std::string_view name,
                                                     std::string_view value) const {
  if (cache_ == nullptr) return DecodePostings(name, value);
  if (auto hit = cache_->FetchPostings(cache_scope_, name, value)) return *hit;
  SL_ASSIGN_OR_RETURN(std::vector<SeriesRef> out, DecodePostings(name, value));
  cache_->StorePostings(cache_scope_, name, value,
                        std::make_shared<const std::vector<SeriesRef>>(out));
  return out;
}

Status IndexReader::Series(SeriesRef ref, Labels* labels, std::vector<ChunkMeta>* chunks) const {
  if (cache_ == nullptr) return DecodeSeries(ref, labels, chunks);
  if (auto hit = cache_->FetchSeries(cache_scope_, ref)) {
    *labels = hit->labels;
    *chunks = hit->chunks;
    return Status::Ok();
  }
  SL_RETURN_IF_ERROR(DecodeSeries(ref, labels, chunks));
  auto entry = std::make_shared<CachedSeries>();
  entry->labels = *labels;
  entry->chunks = *chunks;
  cache_->StoreSeries(cache_scope_, ref, std::move(entry));
  return Status::Ok();
}

Result<std::vector<SeriesRef>> IndexReader::DecodePostings(std::string_view name,
                                                           std::string_view value) const {
  std::vector<SeriesRef> out;
  const NameEntry* e = FindName(name);
  if (e == nullptr) return out;
  auto it = std::lower_bound(e->values.begin(), e->values.end(), value,
                             [](const ValueEntry& v, std::string_view x) { return v.value < x; });
  if (it == e->values.end() || it->value != value) return out;
  SL_ASSIGN_OR_RETURN(std::string_view p, Section(it->offset, "postings list"));
  if (p.size() < 4) return Corrupt("postings list too short");
  uint64_t n = coding::LoadFixed32BE(p.data());
  if (n * 4 != p.size() - 4) {
    return Corrupt("postings list count " + std::to_string(n) + " does not match its length " +
                   std::to_string(p.size()));
  }
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    SeriesRef ref = coding::LoadFixed32BE(p.data() + 4 + 4 * i);
    if (!out.empty() && ref <= out.back()) return Corrupt("postings list is not sorted");
    out.push_back(ref);
  }
  return out;
}

Status IndexReader::DecodeSeries(SeriesRef ref, Labels* labels,
                                 std::vector<ChunkMeta>* chunks) const {
  uint64_t size = data_.size();
  if (ref > size / kSeriesAlignment) {
    return Corrupt("series " + std::to_string(ref) + " is out of bounds");
  }
  uint64_t off = ref * kSeriesAlignment;
  coding::Reader r(data_.substr(off));
  uint64_t len = r.Uvarint();
  if (!r.ok() || len > r.remaining() || r.remaining() - len < 4) {
    return Corrupt("series " + std::to_string(ref) + ": entry runs past the end of the file");
  }
  std::string_view content = r.rest().substr(0, len);
  uint32_t want = coding::LoadFixed32BE(r.rest().data() + len);
  if (crc32c::Value(content) != want) {
    return Corrupt("series " + std::to_string(ref) + ": checksum mismatch");
  }

  coding::Reader d(content);
  uint64_t nlabels = d.Uvarint();
  // Each label takes at least two bytes.
  if (!d.ok() || nlabels > d.remaining() / 2) {
    return Corrupt("series " + std::to_string(ref) + ": bad label count");
  }
  std::vector<Label> ls;
  ls.reserve(nlabels);
  for (uint64_t i = 0; i < nlabels; ++i) {
    uint64_t n = d.Uvarint();
    uint64_t v = d.Uvarint();
    if (!d.ok() || n > 0xffffffffu || v > 0xffffffffu) {
      return Corrupt("series " + std::to_string(ref) + ": bad label reference");
    }
    SL_ASSIGN_OR_RETURN(std::string_view name, Symbol(static_cast<uint32_t>(n)));
    SL_ASSIGN_OR_RETURN(std::string_view value, Symbol(static_cast<uint32_t>(v)));
    if (name.empty() || (!ls.empty() && name <= ls.back().name)) {
      return Corrupt("series " + std::to_string(ref) + ": labels not sorted or repeated");
    }
    ls.push_back(Label{std::string(name), std::string(value)});
  }

  uint64_t nchunks = d.Uvarint();
  // Each chunk meta takes at least three bytes.
  if (!d.ok() || nchunks > d.remaining() / 3) {
    return Corrupt("series " + std::to_string(ref) + ": bad chunk count");
  }
  chunks->clear();
  chunks->reserve(nchunks);
  uint64_t t0 = 0;
  uint64_t ref0 = 0;
  for (uint64_t i = 0; i < nchunks; ++i) {
    ChunkMeta c;
    if (i == 0) {
      c.min_time = d.Varint();
      c.max_time = static_cast<int64_t>(static_cast<uint64_t>(c.min_time) + d.Uvarint());
      c.ref = d.Uvarint();
    } else {
      c.min_time = static_cast<int64_t>(t0 + d.Uvarint());
      c.max_time = static_cast<int64_t>(static_cast<uint64_t>(c.min_time) + d.Uvarint());
      c.ref = ref0 + static_cast<uint64_t>(d.Varint());
    }
    if (!d.ok()) return Corrupt("series " + std::to_string(ref) + ": truncated chunk metas");
    t0 = static_cast<uint64_t>(c.max_time);
    ref0 = c.ref;
    chunks->push_back(c);
  }
  *labels = Labels::FromSortedUnchecked(std::move(ls));
  return Status::Ok();
}

}  // namespace sightline::tsdb
