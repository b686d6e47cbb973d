#include "metrics/tsdb/index/index_reader.h"

#include <algorithm>

#include "base/coding.h"
#include "base/crc32c.h"

namespace sightline::tsdb {

namespace {

Status Corrupt(const std::string& what) { return DataLossError("index: " + what); }

// BuildHeader's first read: the last 16 KiB of the index.
constexpr uint64_t kHeaderTailRead = 16 * 1024;

// Parses the `len <4b> | content | crc <4b>` section that starts `buf`
// (which holds at least up to the end of the section, or is `avail` long);
// `off` is for messages. OutOfRange (with *need set) when `buf` is too
// short but `more` says the file has the bytes.
Result<std::string_view> ParseSection(std::string_view buf, uint64_t off, const char* what,
                                      uint64_t* need = nullptr, bool more = false) {
  if (buf.size() < 8) {
    if (more && need != nullptr) {
      *need = 8;
      return OutOfRangeError("short");
    }
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + " is out of bounds");
  }
  uint64_t len = coding::LoadFixed32BE(buf.data());
  if (buf.size() - 8 < len) {
    if (more && need != nullptr) {
      *need = len + 8;
      return OutOfRangeError("short");
    }
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + ": length " +
                   std::to_string(len) + " runs past the end of the file");
  }
  std::string_view content = buf.substr(4, len);
  uint32_t want = coding::LoadFixed32BE(buf.data() + 4 + len);
  if (crc32c::Value(content) != want) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + ": checksum mismatch");
  }
  return content;
}

Status ParseToc(std::string_view toc, uint64_t limit, IndexToc* out) {
  if (toc.size() != kIndexTocSize) return Corrupt("table of contents truncated");
  if (crc32c::Value(toc.data(), 48) != coding::LoadFixed32BE(toc.data() + 48)) {
    return Corrupt("table of contents checksum mismatch");
  }
  coding::Reader tr(toc);
  out->symbols = tr.Fixed64BE();
  out->series = tr.Fixed64BE();
  out->label_indices = tr.Fixed64BE();
  out->label_indices_table = tr.Fixed64BE();
  out->postings = tr.Fixed64BE();
  out->postings_table = tr.Fixed64BE();
  for (uint64_t off : {out->symbols, out->series, out->label_indices, out->label_indices_table,
                       out->postings, out->postings_table}) {
    if (off > limit) return Corrupt("table of contents points past the end of the file");
  }
  return Status::Ok();
}

Status CheckMagic(std::string_view head, int* version) {
  if (head.size() < kIndexHeaderSize) return Corrupt("file too short for its header");
  if (uint32_t m = coding::LoadFixed32BE(head.data()); m != kIndexMagic) {
    return Corrupt("invalid magic number " + std::to_string(m));
  }
  *version = static_cast<uint8_t>(head[4]);
  if (*version == kIndexFormatV1) {
    return UnimplementedError("index: format v1 (Prometheus < 2.0) is not supported");
  }
  if (*version != kIndexFormatV2) {
    return Corrupt("unknown index file version " + std::to_string(*version));
  }
  return Status::Ok();
}

// One postings offset table entry at `*pos` of `pot`; advances *pos.
bool NextPotEntry(std::string_view pot, uint32_t* pos, std::string_view* name,
                  std::string_view* value, uint64_t* off) {
  if (*pos >= pot.size()) return false;
  coding::Reader r(pot.substr(*pos));
  uint64_t keys = r.Uvarint();
  *name = r.LengthPrefixed();
  *value = r.LengthPrefixed();
  *off = r.Uvarint();
  if (!r.ok() || keys != 2) return false;
  *pos = static_cast<uint32_t>(pot.size() - r.remaining());
  return true;
}

Result<std::vector<SeriesRef>> DecodePostingsList(std::string_view p) {
  std::vector<SeriesRef> out;
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

// [start, end) ranges of one file merged when closer than `max_gap`; each
// merged range lists the indexes of the items it covers.
struct Span {
  uint64_t start, end;
  std::vector<size_t> items;
};
std::vector<Span> Coalesce(std::vector<std::pair<uint64_t, uint64_t>> ranges, uint64_t max_gap) {
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ranges[a].first < ranges[b].first; });
  std::vector<Span> out;
  for (size_t i : order) {
    auto [s, e] = ranges[i];
    if (!out.empty() && s <= out.back().end + max_gap) {
      out.back().end = std::max(out.back().end, e);
    } else {
      out.push_back(Span{s, e, {}});
    }
    out.back().items.push_back(i);
  }
  return out;
}

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

Result<std::unique_ptr<IndexReader>> IndexReader::OpenLazy(
    io::Env* env, const std::string& header_path, std::unique_ptr<io::RandomAccessFile> index,
    LazyIndexOptions options) {
  if (index == nullptr) return InvalidArgumentError("index: lazy reader needs the index file");
  std::unique_ptr<IndexReader> r(new IndexReader());
  SL_ASSIGN_OR_RETURN(r->file_, env->NewRandomAccessFile(header_path));
  uint64_t size = r->file_->Size();
  SL_ASSIGN_OR_RETURN(r->data_, r->file_->Read(0, static_cast<size_t>(size), &r->owned_));
  if (r->data_.size() != size) return Corrupt(header_path + ": short read");
  r->remote_ = std::move(index);
  r->lazy_options_ = options;
  Status s = r->InitHeader();
  if (!s.ok()) return s.Annotate(header_path);
  return r;
}

Result<std::unique_ptr<IndexReader>> IndexReader::FromHeaderBytes(
    std::string header, std::unique_ptr<io::RandomAccessFile> index, LazyIndexOptions options) {
  if (index == nullptr) return InvalidArgumentError("index: lazy reader needs the index file");
  std::unique_ptr<IndexReader> r(new IndexReader());
  r->owned_ = std::move(header);
  r->data_ = r->owned_;
  r->remote_ = std::move(index);
  r->lazy_options_ = options;
  SL_RETURN_IF_ERROR(r->InitHeader());
  return r;
}

Result<std::string> IndexReader::BuildHeader(const io::RandomAccessFile& index) {
  const uint64_t size = index.Size();
  if (size < kIndexHeaderSize + kIndexTocSize) {
    return Corrupt("file of " + std::to_string(size) + " bytes is too short");
  }
  const uint64_t limit = size - kIndexTocSize;
  // The first read takes the tail of the index: the TOC, and for small
  // indexes the postings offset table just before it (one read fewer).
  const uint64_t tail_start = size - std::min<uint64_t>(size, kHeaderTailRead);
  std::string scratch;
  SL_ASSIGN_OR_RETURN(std::string_view tail,
                      index.Read(tail_start, static_cast<size_t>(size - tail_start), &scratch));
  if (tail.size() != size - tail_start) return Corrupt("short read of the table of contents");
  std::string_view toc_bytes = tail.substr(tail.size() - kIndexTocSize);
  IndexToc toc;
  SL_RETURN_IF_ERROR(ParseToc(toc_bytes, limit, &toc));
  if (toc.symbols < kIndexHeaderSize || toc.series < toc.symbols + 8 ||
      toc.postings_table > limit) {
    return Corrupt("table of contents is inconsistent");
  }

  // Header and symbol table: [0, toc.series).
  std::string head_scratch;
  SL_ASSIGN_OR_RETURN(std::string_view head,
                      index.Read(0, static_cast<size_t>(toc.series), &head_scratch));
  if (head.size() != toc.series) return Corrupt("short read of the symbol table");
  int version = 0;
  SL_RETURN_IF_ERROR(CheckMagic(head, &version));
  SL_ASSIGN_OR_RETURN(std::string_view syms,
                      ParseSection(head.substr(toc.symbols), toc.symbols, "symbol table"));

  // Postings offset table: [toc.postings_table, limit).
  std::string pot_scratch;
  std::string_view pot_raw;
  if (toc.postings_table >= tail_start) {
    pot_raw = tail.substr(toc.postings_table - tail_start, limit - toc.postings_table);
  } else {
    SL_ASSIGN_OR_RETURN(
        pot_raw, index.Read(toc.postings_table, static_cast<size_t>(limit - toc.postings_table),
                            &pot_scratch));
  }
  SL_ASSIGN_OR_RETURN(std::string_view pot,
                      ParseSection(pot_raw, toc.postings_table, "postings offset table"));

  std::string out;
  out.reserve(kIndexHeaderFixedSize + syms.size() + pot.size() + 16);
  coding::PutFixed32BE(out, kIndexHeaderFileMagic);
  out.push_back(static_cast<char>(kIndexHeaderFileV1));
  out.push_back(static_cast<char>(version));
  coding::PutFixed64BE(out, size);
  out.append(toc_bytes.data(), 48);
  const uint64_t syms_off = kIndexHeaderFixedSize;
  const uint64_t pot_off = syms_off + 8 + syms.size();
  coding::PutFixed64BE(out, syms_off);
  coding::PutFixed64BE(out, pot_off);
  coding::PutFixed32BE(out, crc32c::Value(out));
  out.append(head.data() + toc.symbols, 8 + syms.size());
  out.append(pot_raw.data(), 8 + pot.size());
  return out;
}

Result<std::string_view> IndexReader::Section(uint64_t off, const char* what) const {
  if (off > data_.size()) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + " is out of bounds");
  }
  return ParseSection(data_.substr(off), off, what);
}

Result<std::string_view> IndexReader::RemoteSection(uint64_t off, uint64_t end,
                                                    std::string* scratch, const char* what) const {
  const uint64_t limit = index_size_ - kIndexTocSize;
  if (off >= limit || limit - off < 8) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) + " is out of bounds");
  }
  end = std::clamp<uint64_t>(end, off + 8, limit);
  SL_ASSIGN_OR_RETURN(std::string_view buf,
                      remote_->Read(off, static_cast<size_t>(end - off), scratch));
  uint64_t need = 0;
  auto r = ParseSection(buf, off, what, &need, /*more=*/end < limit);
  if (r.ok() || r.status().code() != StatusCode::kOutOfRange) return r;
  // The guess was short (e.g. a writer that orders postings differently).
  if (need > limit - off) {
    return Corrupt(std::string(what) + " at offset " + std::to_string(off) +
                   " runs past the end of the file");
  }
  SL_ASSIGN_OR_RETURN(buf, remote_->Read(off, static_cast<size_t>(need), scratch));
  return ParseSection(buf, off, what);
}

Status IndexReader::Init() {
  uint64_t size = data_.size();
  index_size_ = size;
  if (size < kIndexHeaderSize + kIndexTocSize) {
    return Corrupt("file of " + std::to_string(size) + " bytes is too short");
  }
  SL_RETURN_IF_ERROR(CheckMagic(data_, &version_));
  uint64_t limit = size - kIndexTocSize;
  SL_RETURN_IF_ERROR(ParseToc(data_.substr(limit), limit, &toc_));
  SL_ASSIGN_OR_RETURN(std::string_view syms, Section(toc_.symbols, "symbol table"));
  SL_ASSIGN_OR_RETURN(std::string_view pot, Section(toc_.postings_table, "postings offset table"));
  return InitTables(syms, toc_.symbols + 4, pot, limit, 1);
}

Status IndexReader::InitHeader() {
  const uint64_t size = data_.size();
  if (size < kIndexHeaderFixedSize) return Corrupt("index-header too short");
  if (crc32c::Value(data_.data(), kIndexHeaderFixedSize - 4) !=
      coding::LoadFixed32BE(data_.data() + kIndexHeaderFixedSize - 4)) {
    return Corrupt("index-header checksum mismatch");
  }
  coding::Reader r(data_);
  if (r.Fixed32BE() != kIndexHeaderFileMagic) return Corrupt("index-header: bad magic number");
  if (uint8_t v = r.Byte(); v != kIndexHeaderFileV1) {
    return Corrupt("index-header: unknown version " + std::to_string(v));
  }
  version_ = r.Byte();
  if (version_ != kIndexFormatV2) {
    return Corrupt("index-header: unknown index version " + std::to_string(version_));
  }
  index_size_ = r.Fixed64BE();
  if (index_size_ != remote_->Size()) {
    return Corrupt("index-header describes an index of " + std::to_string(index_size_) +
                   " bytes, the index has " + std::to_string(remote_->Size()));
  }
  if (index_size_ < kIndexHeaderSize + kIndexTocSize) return Corrupt("index too short");
  const uint64_t limit = index_size_ - kIndexTocSize;
  std::string toc_bytes(data_.substr(14, 48));
  coding::PutFixed32BE(toc_bytes, crc32c::Value(toc_bytes));
  SL_RETURN_IF_ERROR(ParseToc(toc_bytes, limit, &toc_));
  r.Skip(48);
  uint64_t syms_off = r.Fixed64BE();
  uint64_t pot_off = r.Fixed64BE();
  SL_ASSIGN_OR_RETURN(std::string_view syms, Section(syms_off, "symbol table"));
  SL_ASSIGN_OR_RETURN(std::string_view pot, Section(pot_off, "postings offset table"));
  postings_end_ = toc_.label_indices_table > toc_.postings ? toc_.label_indices_table : limit;
  series_end_ = toc_.label_indices > toc_.series ? toc_.label_indices : toc_.postings;
  if (series_end_ < toc_.series) series_end_ = limit;
  return InitTables(syms, syms_off + 4, pot, limit,
                    std::max<uint32_t>(1, lazy_options_.sample_stride));
}

Status IndexReader::InitTables(std::string_view syms, uint64_t syms_base, std::string_view pot,
                               uint64_t offset_limit, uint32_t stride) {
  // Symbol table.
  if (syms.size() < 4) return Corrupt("symbol table too short");
  uint32_t count = coding::LoadFixed32BE(syms.data());
  // Every symbol takes at least one byte: a larger count is corrupt (and
  // must not drive a huge allocation).
  if (count > syms.size() - 4) return Corrupt("symbol table count exceeds its size");
  symbols_base_ = syms_base;
  symbol_stride_ = stride;
  num_symbols_ = count;
  symbol_offsets_.reserve(count / stride + 1);
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
    if (i % stride == 0) symbol_offsets_.push_back(off);
  }

  // Postings offset table: name/value pairs in sorted order.
  if (pot.size() < 4) return Corrupt("postings offset table too short");
  pot_ = pot.substr(4);
  uint32_t entries = coding::LoadFixed32BE(pot.data());
  uint32_t pos = 0;
  uint32_t in_name = 0;  // entries of the current name so far
  ValueEntry last{};     // the previous entry, kept as a sample if it ends its name
  for (uint32_t i = 0; i < entries; ++i) {
    uint32_t start = pos;
    std::string_view name, value;
    uint64_t off = 0;
    if (!NextPotEntry(pot_, &pos, &name, &value, &off)) {
      coding::Reader probe(pot_.substr(std::min<size_t>(start, pot_.size())));
      if (start < pot_.size() && probe.Uvarint() != 2 && probe.ok()) {
        return Corrupt("unexpected number of keys in postings offset table");
      }
      return Corrupt("postings offset table truncated at entry " + std::to_string(i));
    }
    if (off >= offset_limit) return Corrupt("postings offset table entry points past the end");
    if (names_.empty() || names_.back().name != name) {
      if (!names_.empty() && name < names_.back().name) {
        return Corrupt("postings offset table is not sorted by label name");
      }
      if (!names_.empty() && names_.back().samples.back().pos != last.pos) {
        names_.back().samples.push_back(last);
      }
      names_.push_back(NameEntry{name, {}, 0});
      in_name = 0;
    } else if (value <= last.value) {
      return Corrupt("postings offset table is not sorted by label value");
    }
    last = ValueEntry{value, off, start};
    if (in_name % stride == 0) names_.back().samples.push_back(last);
    names_.back().end_pos = pos;
    ++in_name;
  }
  if (!names_.empty() && names_.back().samples.back().pos != last.pos) {
    names_.back().samples.push_back(last);
  }
  return Status::Ok();
}

Result<std::string_view> IndexReader::Symbol(uint32_t ref) const {
  if (ref >= num_symbols_) {
    return Corrupt("unknown symbol " + std::to_string(ref) + " (" + std::to_string(num_symbols_) +
                   " symbols)");
  }
  // Bounds were checked when the table was scanned at Open.
  coding::Reader r(data_.substr(symbols_base_ + symbol_offsets_[ref / symbol_stride_]));
  for (uint32_t skip = ref % symbol_stride_; skip > 0; --skip) r.LengthPrefixed();
  return r.LengthPrefixed();
}

std::vector<std::string_view> IndexReader::Symbols() const {
  std::vector<std::string_view> out;
  out.reserve(num_symbols_);
  if (num_symbols_ == 0) return out;
  coding::Reader r(data_.substr(symbols_base_ + symbol_offsets_[0]));
  for (uint32_t i = 0; i < num_symbols_; ++i) out.push_back(r.LengthPrefixed());
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
  const NameEntry* e = FindName(name);
  if (e == nullptr) return out;
  if (symbol_stride_ == 1) {  // local: every entry is in memory
    out.reserve(e->samples.size());
    for (const ValueEntry& v : e->samples) out.push_back(v.value);
    return out;
  }
  // Lazy: decode the name's entries from the mapped header (validated at
  // open).
  uint32_t pos = e->samples.front().pos;
  std::string_view n, v;
  uint64_t off;
  while (pos < e->end_pos && NextPotEntry(pot_, &pos, &n, &v, &off)) out.push_back(v);
  return out;
}

std::optional<IndexReader::Located> IndexReader::Locate(std::string_view name,
                                                        std::string_view value) const {
  const NameEntry* e = FindName(name);
  if (e == nullptr) return std::nullopt;
  // The last sample not after `value`.
  auto it = std::upper_bound(e->samples.begin(), e->samples.end(), value,
                             [](std::string_view x, const ValueEntry& v) { return x < v.value; });
  if (it == e->samples.begin()) return std::nullopt;
  --it;
  const bool want_next = lazy();
  if (it->value == value && !want_next) return Located{it->offset, 0};
  const uint32_t stop = (it + 1) != e->samples.end() ? (it + 1)->pos : e->end_pos;
  uint32_t pos = it->pos;
  std::string_view n, v;
  uint64_t off;
  while (pos <= stop && NextPotEntry(pot_, &pos, &n, &v, &off)) {
    if (v == value && n == name) {
      Located l{off, postings_end_};
      uint64_t next_off;
      if (NextPotEntry(pot_, &pos, &n, &v, &next_off)) l.next = next_off;
      return l;
    }
    if (n != name || v > value) break;
  }
  return std::nullopt;
}

Result<std::vector<SeriesRef>> IndexReader::Postings(std::string_view name,
                                                     std::string_view value) const {
  if (cache_ == nullptr) return DecodePostings(name, value);
  if (lazy()) {
    // Prefetched (and counted) by PrefetchPostings?
    if (auto hit = cache_->PeekPostings(cache_scope_, name, value)) return *hit;
  }
  if (auto hit = cache_->FetchPostings(cache_scope_, name, value)) return *hit;
  SL_ASSIGN_OR_RETURN(std::vector<SeriesRef> out, DecodePostings(name, value));
  cache_->StorePostings(cache_scope_, name, value,
                        std::make_shared<const std::vector<SeriesRef>>(out));
  return out;
}

Status IndexReader::Series(SeriesRef ref, Labels* labels, std::vector<ChunkMeta>* chunks) const {
  if (cache_ == nullptr) return DecodeSeries(ref, labels, chunks);
  std::shared_ptr<const CachedSeries> hit;
  if (lazy()) hit = cache_->PeekSeries(cache_scope_, ref);
  if (hit == nullptr) hit = cache_->FetchSeries(cache_scope_, ref);
  if (hit != nullptr) {
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
  std::optional<Located> at = Locate(name, value);
  if (!at) return std::vector<SeriesRef>{};
  if (!lazy()) {
    SL_ASSIGN_OR_RETURN(std::string_view p, Section(at->offset, "postings list"));
    return DecodePostingsList(p);
  }
  std::string scratch;
  SL_ASSIGN_OR_RETURN(std::string_view p,
                      RemoteSection(at->offset, at->next, &scratch, "postings list"));
  return DecodePostingsList(p);
}

Status IndexReader::PrefetchPostings(
    std::span<const std::pair<std::string, std::string>> keys) const {
  if (!lazy() || cache_ == nullptr) return Status::Ok();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<const std::pair<std::string, std::string>*> wanted;
  for (const auto& k : keys) {
    if (cache_->FetchPostings(cache_scope_, k.first, k.second) != nullptr) continue;
    std::optional<Located> at = Locate(k.first, k.second);
    if (!at) {  // absent: remember that too
      cache_->StorePostings(cache_scope_, k.first, k.second,
                            std::make_shared<const std::vector<SeriesRef>>());
      continue;
    }
    ranges.emplace_back(at->offset, std::max(at->next, at->offset + 8));
    wanted.push_back(&k);
  }
  const uint64_t limit = index_size_ - kIndexTocSize;
  std::string scratch;
  for (const Span& s : Coalesce(ranges, lazy_options_.max_gap_bytes)) {
    const uint64_t end = std::min(s.end, limit);
    if (s.start >= end) return Corrupt("postings list out of bounds");
    SL_ASSIGN_OR_RETURN(std::string_view buf,
                        remote_->Read(s.start, static_cast<size_t>(end - s.start), &scratch));
    for (size_t i : s.items) {
      const uint64_t off = ranges[i].first;
      Result<std::string_view> p =
          off - s.start <= buf.size()
              ? ParseSection(buf.substr(off - s.start, ranges[i].second - off), off,
                             "postings list", nullptr, false)
              : Result<std::string_view>(Corrupt("postings list out of bounds"));
      std::string more;
      if (!p.ok() && p.status().code() == StatusCode::kDataLoss) {
        // Maybe the guessed end was short: read it on its own.
        p = RemoteSection(off, ranges[i].second, &more, "postings list");
      }
      if (!p.ok()) return p.status();
      SL_ASSIGN_OR_RETURN(std::vector<SeriesRef> list, DecodePostingsList(*p));
      cache_->StorePostings(cache_scope_, wanted[i]->first, wanted[i]->second,
                            std::make_shared<const std::vector<SeriesRef>>(std::move(list)));
    }
  }
  return Status::Ok();
}

Status IndexReader::CheckSeriesRef(SeriesRef ref) const {
  if (ref > index_size_ / kSeriesAlignment) {
    return Corrupt("series " + std::to_string(ref) + " is out of bounds");
  }
  if (lazy()) {
    uint64_t off = ref * kSeriesAlignment;
    if (off < toc_.series || off >= series_end_) {
      return Corrupt("series " + std::to_string(ref) + " is out of bounds");
    }
  }
  return Status::Ok();
}

Status IndexReader::DecodeSeries(SeriesRef ref, Labels* labels,
                                 std::vector<ChunkMeta>* chunks) const {
  SL_RETURN_IF_ERROR(CheckSeriesRef(ref));
  uint64_t off = ref * kSeriesAlignment;
  if (!lazy()) return DecodeSeriesEntry(ref, data_.substr(off), labels, chunks);
  std::string scratch;
  size_t n = static_cast<size_t>(
      std::min<uint64_t>(std::max<size_t>(lazy_options_.series_size_guess, 16), series_end_ - off));
  SL_ASSIGN_OR_RETURN(std::string_view buf, remote_->Read(off, n, &scratch));
  uint64_t need = 0;
  Status s = DecodeSeriesEntry(ref, buf, labels, chunks, &need);
  if (s.code() != StatusCode::kOutOfRange) return s;
  if (need > series_end_ - off) {
    return Corrupt("series " + std::to_string(ref) + ": entry runs past the end of the file");
  }
  SL_ASSIGN_OR_RETURN(buf, remote_->Read(off, static_cast<size_t>(need), &scratch));
  return DecodeSeriesEntry(ref, buf, labels, chunks);
}

Status IndexReader::PrefetchSeries(std::span<const SeriesRef> refs) const {
  if (!lazy() || cache_ == nullptr) return Status::Ok();
  std::vector<SeriesRef> missing;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  const uint64_t guess = std::max<size_t>(lazy_options_.series_size_guess, 16);
  for (SeriesRef ref : refs) {
    if (cache_->FetchSeries(cache_scope_, ref) != nullptr) continue;
    SL_RETURN_IF_ERROR(CheckSeriesRef(ref));
    uint64_t off = ref * kSeriesAlignment;
    missing.push_back(ref);
    ranges.emplace_back(off, std::min(off + guess, series_end_));
  }
  std::string scratch;
  for (const Span& s : Coalesce(ranges, lazy_options_.max_gap_bytes)) {
    SL_ASSIGN_OR_RETURN(std::string_view buf,
                        remote_->Read(s.start, static_cast<size_t>(s.end - s.start), &scratch));
    for (size_t i : s.items) {
      const SeriesRef ref = missing[i];
      const uint64_t off = ranges[i].first;
      auto entry = std::make_shared<CachedSeries>();
      uint64_t need = 0;
      Status st = off - s.start <= buf.size()
                      ? DecodeSeriesEntry(ref, buf.substr(off - s.start), &entry->labels,
                                          &entry->chunks, &need)
                      : Corrupt("series " + std::to_string(ref) + " is out of bounds");
      if (st.code() == StatusCode::kOutOfRange) {  // longer than the guess
        st = DecodeSeries(ref, &entry->labels, &entry->chunks);
      }
      SL_RETURN_IF_ERROR(st);
      cache_->StoreSeries(cache_scope_, ref, std::move(entry));
    }
  }
  return Status::Ok();
}

Status IndexReader::DecodeSeriesEntry(SeriesRef ref, std::string_view buf, Labels* labels,
                                      std::vector<ChunkMeta>* chunks, uint64_t* need) const {
  coding::Reader r(buf);
  uint64_t len = r.Uvarint();
  if (!r.ok() || len > r.remaining() || r.remaining() - len < 4) {
    if (need != nullptr && lazy()) {
      // Is it just that `buf` holds only a guess? (varints are <= 10 bytes)
      coding::Reader again(buf.substr(0, std::min<size_t>(buf.size(), 10)));
      uint64_t l2 = again.Uvarint();
      if (again.ok()) {
        *need = (std::min<size_t>(buf.size(), 10) - again.remaining()) + l2 + 4;
        if (*need > buf.size()) return OutOfRangeError("series entry longer than read");
      }
    }
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
