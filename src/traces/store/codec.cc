#include "traces/store/codec.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

// Inlined: the dictionary hashes every string of a cut, most of them short.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/coding.h"

namespace sightline::traces::store {

namespace {

using coding::PutUvarint;
using coding::PutVarint;

struct Encoder {
  StringDict* dict;
  std::string* out;

  void Str(std::string_view s) {
    if (dict) {
      PutUvarint(*out, dict->Add(s));
    } else {
      coding::PutLengthPrefixed(*out, s);
    }
  }
  void Raw(std::string_view s, size_t n) {
    // Fixed-size ids; shorter/longer ids (never produced by ingest) are
    // padded/cut so that the layout stays fixed.
    const size_t k = std::min(s.size(), n);
    out->append(s.data(), k);
    if (k < n) out->append(n - k, '\0');
  }
  void Value(const AttributeValue& v) {
    if (const auto* s = std::get_if<std::string>(&v.v)) {
      out->push_back(static_cast<char>(v.is_bytes ? kBytes : kString));
      Str(*s);
    } else if (const auto* b = std::get_if<bool>(&v.v)) {
      out->push_back(static_cast<char>(*b ? kTrue : kFalse));
    } else if (const auto* i = std::get_if<int64_t>(&v.v)) {
      out->push_back(static_cast<char>(kInt));
      PutVarint(*out, *i);
    } else if (const auto* d = std::get_if<double>(&v.v)) {
      out->push_back(static_cast<char>(kDouble));
      uint64_t bits;
      std::memcpy(&bits, d, 8);
      coding::PutFixed64LE(*out, bits);
    } else if (const auto* a = std::get_if<ArrayValue>(&v.v)) {
      out->push_back(static_cast<char>(kArray));
      PutUvarint(*out, a->size());
      for (const auto& e : *a) Value(e);
    } else if (const auto* kv = std::get_if<KeyValueList>(&v.v)) {
      out->push_back(static_cast<char>(kKvList));
      Attrs(*kv);
    } else {
      out->push_back(static_cast<char>(kEmpty));
    }
  }
  void Attrs(const std::vector<KeyValue>& attrs) {
    PutUvarint(*out, attrs.size());
    for (const KeyValue& kv : attrs) {
      Str(kv.key);
      Value(kv.value);
    }
  }
};

struct Decoder {
  coding::Reader r;
  const std::vector<std::string_view>* dict;
  bool bad = false;
  int depth = 0;

  std::string Str() {
    if (dict) {
      uint64_t i = r.Uvarint();
      if (!r.ok() || i >= dict->size()) {
        bad = true;
        return {};
      }
      return std::string((*dict)[i]);
    }
    return std::string(r.LengthPrefixed());
  }
  uint64_t Count() {
    uint64_t n = r.Uvarint();
    // Every element takes at least one byte: a larger count is garbage.
    if (n > r.remaining()) {
      bad = true;
      return 0;
    }
    return n;
  }
  AttributeValue Value() {
    AttributeValue v;
    uint8_t tag = r.Byte();
    switch (tag) {
      case kEmpty:
        break;
      case kString:
        v.v = Str();
        break;
      case kBytes:
        v.v = Str();
        v.is_bytes = true;
        break;
      case kFalse:
        v.v = false;
        break;
      case kTrue:
        v.v = true;
        break;
      case kInt:
        v.v = r.Varint();
        break;
      case kDouble: {
        uint64_t bits = r.Fixed64LE();
        double d;
        std::memcpy(&d, &bits, 8);
        v.v = d;
        break;
      }
      case kArray: {
        if (++depth > 64) {
          bad = true;
          break;
        }
        ArrayValue a;
        uint64_t n = Count();
        for (uint64_t i = 0; i < n && !bad && r.ok(); ++i) a.push_back(Value());
        v.v = std::move(a);
        --depth;
        break;
      }
      case kKvList: {
        if (++depth > 64) {
          bad = true;
          break;
        }
        v.v = Attrs();
        --depth;
        break;
      }
      default:
        bad = true;
    }
    return v;
  }
  std::vector<KeyValue> Attrs() {
    std::vector<KeyValue> out;
    uint64_t n = Count();
    out.reserve(n);
    for (uint64_t i = 0; i < n && !bad && r.ok(); ++i) {
      KeyValue kv;
      kv.key = Str();
      kv.value = Value();
      out.push_back(std::move(kv));
    }
    return out;
  }
  bool ok() const { return !bad && r.ok(); }
};

}  // namespace

namespace {

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The two words that determine a string of up to 16 bytes (with its
// length): overlapping loads of its first and last 8 (or 4) bytes, or its
// first, middle and last byte under 4 bytes.
inline void ShortWords(const char* p, size_t n, uint64_t* a, uint64_t* b) {
  if (n >= 8) {
    *a = Load64(p);
    *b = Load64(p + n - 8);
  } else if (n >= 4) {
    *a = Load32(p);
    *b = Load32(p + n - 4);
  } else if (n > 0) {
    *a = static_cast<uint64_t>(static_cast<uint8_t>(p[0])) |
         static_cast<uint64_t>(static_cast<uint8_t>(p[n >> 1])) << 8 |
         static_cast<uint64_t>(static_cast<uint8_t>(p[n - 1])) << 16;
    *b = 0;
  } else {
    *a = *b = 0;
  }
}

// A multiply-fold of the two words (wyhash's short-input mix).
inline uint64_t HashWords(uint64_t a, uint64_t b, size_t n) {
  const unsigned __int128 m = static_cast<unsigned __int128>(a ^ 0xa0761d6478bd642full ^ n) *
                              (b ^ 0xe7037ed1a0b428dbull);
  return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

}  // namespace

inline uint32_t StringDict::AddInline(std::string_view s) {
  if (slots_.empty()) Rehash(1024);
  const size_t n = s.size();
  uint64_t a = 0, b = 0, h;
  if (n <= 16) {
    ShortWords(s.data(), n, &a, &b);
    h = HashWords(a, b, n);
  } else {
    h = XXH3_64bits(s.data(), n);
  }
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>(h) & mask;
  for (;; i = (i + 1) & mask) {
    const uint64_t v = slots_[i];
    if (v == 0) break;
    if ((v & 0xFFFFFFFF00000000ull) == tag) {
      const uint32_t idx = static_cast<uint32_t>(v) - 1;
      const Entry& e = entries_[idx];
      if (e.len == n) {
        if (n <= 16) {
          if (e.a == a && e.b == b) return idx;
        } else if (std::memcmp(arena_.data() + e.offset, s.data(), n) == 0) {
          return idx;
        }
      }
    }
  }
  return Insert(s, a, b, tag, i);
}

uint32_t StringDict::Add(std::string_view s) { return AddInline(s); }

uint32_t StringDict::Insert(std::string_view s, uint64_t a, uint64_t b, uint64_t tag, size_t i) {
  const uint32_t idx = static_cast<uint32_t>(entries_.size());
  entries_.push_back(Entry{a, b, arena_.size(), static_cast<uint32_t>(s.size())});
  arena_.append(s.data(), s.size());
  slots_[i] = tag | (idx + 1);
  if (entries_.size() * 2 > slots_.size()) Rehash(slots_.size() * 2);
  return idx;
}

void StringDict::Rehash(size_t n) {
  slots_.assign(n, 0);
  const size_t mask = n - 1;
  for (uint32_t idx = 0; idx < entries_.size(); ++idx) {
    const Entry& e = entries_[idx];
    const uint64_t h = e.len <= 16 ? HashWords(e.a, e.b, e.len)
                                   : XXH3_64bits(arena_.data() + e.offset, e.len);
    size_t i = static_cast<size_t>(h) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (h & 0xFFFFFFFF00000000ull) | (idx + 1);
  }
}

std::vector<std::string_view> StringDict::strings() const {
  std::vector<std::string_view> v;
  v.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) v.push_back(at(i));
  return v;
}

void StringDict::AppendTo(std::string* out) const {
  PutUvarint(*out, entries_.size());
  // The strings are back to back in the arena: one length and one run of
  // bytes each.
  out->reserve(out->size() + arena_.size() + 2 * entries_.size() + 8);
  for (const Entry& e : entries_) {
    PutUvarint(*out, e.len);
    out->append(arena_.data() + e.offset, e.len);
  }
}

void StringDict::Clear() {
  entries_.clear();
  arena_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
  for (Piece& p : pieces_) p.raw.clear();
  piece_hits_ = piece_misses_ = 0;
}

char* StringDict::Scratch(size_t n) {
  if (scratch_size_ < n) {
    scratch_size_ = std::max(n, scratch_size_ * 2);
    scratch_ = std::make_unique<char[]>(scratch_size_);
  }
  return scratch_.get();
}

const std::string* StringDict::FindPiece(PieceKind kind, std::string_view raw) {
  if (pieces_.empty() || raw.empty()) {
    ++piece_misses_;
    return nullptr;
  }
  const uint64_t h = XXH3_64bits_withSeed(raw.data(), raw.size(), static_cast<uint64_t>(kind));
  const Piece& p = pieces_[h % kPieces];
  if (p.hash != h || p.kind != kind || p.raw != raw) {
    ++piece_misses_;
    return nullptr;
  }
  ++piece_hits_;
  return &p.transcoded;
}

void StringDict::AddPiece(PieceKind kind, std::string_view raw, std::string_view transcoded) {
  if (raw.empty()) return;
  if (pieces_.empty()) pieces_.resize(kPieces);
  const uint64_t h = XXH3_64bits_withSeed(raw.data(), raw.size(), static_cast<uint64_t>(kind));
  Piece& p = pieces_[h % kPieces];
  p.hash = h;
  p.kind = kind;
  p.raw.assign(raw);
  p.transcoded.assign(transcoded);
}

std::pair<uint64_t, uint64_t> TraceTimeRange(const Trace& t) {
  if (t.spans.empty()) return {0, 0};
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const Span& s : t.spans) {
    lo = std::min(lo, s.start_unix_nano);
    hi = std::max(hi, std::max(s.end_unix_nano, s.start_unix_nano));
  }
  return {lo, hi};
}

void EncodeTrace(const Trace& t, StringDict* dict, std::string* out) {
  Encoder e{dict, out};
  e.Raw(t.trace_id, 16);
  uint64_t base = TraceTimeRange(t).first;
  PutUvarint(*out, base);
  PutUvarint(*out, t.resources.size());
  for (const Resource& r : t.resources) {
    e.Attrs(r.attributes);
    PutUvarint(*out, r.dropped_attributes_count);
    e.Str(r.schema_url);
  }
  PutUvarint(*out, t.scopes.size());
  for (const Scope& s : t.scopes) {
    e.Str(s.name);
    e.Str(s.version);
    e.Attrs(s.attributes);
    PutUvarint(*out, s.dropped_attributes_count);
    e.Str(s.schema_url);
  }
  PutUvarint(*out, t.spans.size());
  for (const Span& s : t.spans) {
    e.Raw(s.span_id, 8);
    if (s.parent_span_id.empty()) {
      out->push_back(0);
    } else {
      out->push_back(1);
      e.Raw(s.parent_span_id, 8);
    }
    e.Str(s.trace_state);
    PutUvarint(*out, s.flags);
    e.Str(s.name);
    PutUvarint(*out, static_cast<uint64_t>(s.kind));
    PutUvarint(*out, s.start_unix_nano - base);
    PutVarint(*out, static_cast<int64_t>(s.end_unix_nano - s.start_unix_nano));
    e.Attrs(s.attributes);
    PutUvarint(*out, s.dropped_attributes_count);
    PutUvarint(*out, s.events.size());
    for (const Event& ev : s.events) {
      PutVarint(*out, static_cast<int64_t>(ev.time_unix_nano - s.start_unix_nano));
      e.Str(ev.name);
      e.Attrs(ev.attributes);
      PutUvarint(*out, ev.dropped_attributes_count);
    }
    PutUvarint(*out, s.dropped_events_count);
    PutUvarint(*out, s.links.size());
    for (const Link& l : s.links) {
      coding::PutLengthPrefixed(*out, l.trace_id);
      coding::PutLengthPrefixed(*out, l.span_id);
      e.Str(l.trace_state);
      e.Attrs(l.attributes);
      PutUvarint(*out, l.dropped_attributes_count);
      PutUvarint(*out, l.flags);
    }
    PutUvarint(*out, s.dropped_links_count);
    PutUvarint(*out, static_cast<uint64_t>(s.status_code));
    e.Str(s.status_message);
    PutUvarint(*out, s.resource_index);
    PutUvarint(*out, s.scope_index);
  }
}

Status DecodeTrace(std::string_view in, const std::vector<std::string_view>* dict, Trace* t) {
  Decoder d{coding::Reader(in), dict};
  t->trace_id = std::string(d.r.Bytes(16));
  uint64_t base = d.r.Uvarint();
  uint64_t nr = d.Count();
  t->resources.resize(nr);
  for (Resource& r : t->resources) {
    r.attributes = d.Attrs();
    r.dropped_attributes_count = static_cast<uint32_t>(d.r.Uvarint());
    r.schema_url = d.Str();
    if (!d.ok()) break;
  }
  uint64_t ns = d.ok() ? d.Count() : 0;
  t->scopes.resize(ns);
  for (Scope& s : t->scopes) {
    s.name = d.Str();
    s.version = d.Str();
    s.attributes = d.Attrs();
    s.dropped_attributes_count = static_cast<uint32_t>(d.r.Uvarint());
    s.schema_url = d.Str();
    if (!d.ok()) break;
  }
  uint64_t nspans = d.ok() ? d.Count() : 0;
  t->spans.resize(nspans);
  for (Span& s : t->spans) {
    s.span_id = std::string(d.r.Bytes(8));
    if (d.r.Byte() == 1) s.parent_span_id = std::string(d.r.Bytes(8));
    s.trace_state = d.Str();
    s.flags = static_cast<uint32_t>(d.r.Uvarint());
    s.name = d.Str();
    s.kind = static_cast<int>(d.r.Uvarint());
    s.start_unix_nano = base + d.r.Uvarint();
    s.end_unix_nano = s.start_unix_nano + static_cast<uint64_t>(d.r.Varint());
    s.attributes = d.Attrs();
    s.dropped_attributes_count = static_cast<uint32_t>(d.r.Uvarint());
    uint64_t ne = d.Count();
    s.events.resize(ne);
    for (Event& ev : s.events) {
      ev.time_unix_nano = s.start_unix_nano + static_cast<uint64_t>(d.r.Varint());
      ev.name = d.Str();
      ev.attributes = d.Attrs();
      ev.dropped_attributes_count = static_cast<uint32_t>(d.r.Uvarint());
      if (!d.ok()) break;
    }
    s.dropped_events_count = static_cast<uint32_t>(d.r.Uvarint());
    uint64_t nl = d.Count();
    s.links.resize(nl);
    for (Link& l : s.links) {
      l.trace_id = std::string(d.r.LengthPrefixed());
      l.span_id = std::string(d.r.LengthPrefixed());
      l.trace_state = d.Str();
      l.attributes = d.Attrs();
      l.dropped_attributes_count = static_cast<uint32_t>(d.r.Uvarint());
      l.flags = static_cast<uint32_t>(d.r.Uvarint());
      if (!d.ok()) break;
    }
    s.dropped_links_count = static_cast<uint32_t>(d.r.Uvarint());
    s.status_code = static_cast<int>(d.r.Uvarint());
    s.status_message = d.Str();
    s.resource_index = static_cast<uint32_t>(d.r.Uvarint());
    s.scope_index = static_cast<uint32_t>(d.r.Uvarint());
    if (!d.ok()) break;
    if (s.resource_index >= t->resources.size() || s.scope_index >= t->scopes.size()) {
      return DataLossError("trace record: span refers to a missing resource or scope");
    }
  }
  if (!d.ok()) return DataLossError("malformed trace record");
  if (!d.r.empty()) return DataLossError("trailing bytes after a trace record");
  return Status::Ok();
}

size_t TraceBytes(const Trace& t) {
  std::string buf;
  EncodeTrace(t, nullptr, &buf);
  return buf.size();
}

void MergeTrace(Trace from, Trace* into, bool dedup) {
  if (into->trace_id.empty()) into->trace_id = from.trace_id;
  if (into->spans.empty() && into->resources.empty() && into->scopes.empty()) {
    std::string id = std::move(into->trace_id);
    *into = std::move(from);
    if (into->trace_id.empty()) into->trace_id = std::move(id);
    return;
  }
  std::unordered_set<std::string_view> have;
  if (dedup) {
    have.reserve(into->spans.size());
    for (const Span& s : into->spans) have.insert(s.span_id);
  }
  uint32_t roff = static_cast<uint32_t>(into->resources.size());
  uint32_t soff = static_cast<uint32_t>(into->scopes.size());
  std::vector<bool> used_r(from.resources.size()), used_s(from.scopes.size());
  std::vector<Span> added;
  for (Span& s : from.spans) {
    if (dedup && have.count(s.span_id)) continue;
    if (s.resource_index < used_r.size()) used_r[s.resource_index] = true;
    if (s.scope_index < used_s.size()) used_s[s.scope_index] = true;
    added.push_back(std::move(s));
  }
  if (added.empty()) return;
  // Only the resources and scopes the new spans use are appended.
  std::vector<uint32_t> rmap(from.resources.size()), smap(from.scopes.size());
  for (size_t i = 0; i < from.resources.size(); ++i) {
    if (!used_r[i]) continue;
    rmap[i] = roff++;
    into->resources.push_back(std::move(from.resources[i]));
  }
  for (size_t i = 0; i < from.scopes.size(); ++i) {
    if (!used_s[i]) continue;
    smap[i] = soff++;
    into->scopes.push_back(std::move(from.scopes[i]));
  }
  for (Span& s : added) {
    s.resource_index = s.resource_index < rmap.size() ? rmap[s.resource_index] : 0;
    s.scope_index = s.scope_index < smap.size() ? smap[s.scope_index] : 0;
    into->spans.push_back(std::move(s));
  }
}

// ------------------------------------------------------------ TranscodeTrace

namespace {

// Walks the inline encoding with coding::Reader's rules (Go's Uvarint, at
// most 10 bytes, overflow an error; lengths and counts bounded by what is
// left). With kOut, writes what it walked again at `w`, strings as indexes
// into `dict` and everything else verbatim. The caller makes room: the
// output of a walk is at most 5 times its input (every string takes at
// least one byte and becomes a uvarint32 index; everything else is copied),
// also on malformed input (only consumed bytes are written).
template <bool kOut>
struct Transcoder {
  const char* p;
  const char* end;
  StringDict* dict = nullptr;
  char* w = nullptr;
  bool bad = false;
  int depth = 0;

  Transcoder(std::string_view in, StringDict* d = nullptr, char* out = nullptr)
      : p(in.data()), end(in.data() + in.size()), dict(d), w(out) {}

  bool ok() const { return !bad; }
  bool empty() const { return p == end; }
  const char* pos() const { return p; }
  size_t remaining() const { return static_cast<size_t>(end - p); }

  uint64_t ReadU() {
    if (!bad && p != end && static_cast<uint8_t>(*p) < 0x80) return static_cast<uint8_t>(*p++);
    return ReadULong();
  }
  [[gnu::noinline]] uint64_t ReadULong() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (bad || p == end) {
        bad = true;
        return 0;
      }
      const uint8_t b = static_cast<uint8_t>(*p++);
      if (shift == 63 && b > 1) {
        bad = true;
        return 0;
      }
      v |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) return v;
    }
    bad = true;
    return 0;
  }
  void Put(const char* from, size_t n) {
    if constexpr (kOut) {
      std::memcpy(w, from, n);
      w += n;
    }
  }
  void PutU(uint64_t v) {
    if constexpr (kOut) {
      while (v >= 0x80) {
        *w++ = static_cast<char>(v | 0x80);
        v >>= 7;
      }
      *w++ = static_cast<char>(v);
    }
  }
  // A uvarint copied as it is.
  void U() {
    if (!bad && p != end && static_cast<uint8_t>(*p) < 0x80) {
      if constexpr (kOut) *w++ = *p;
      ++p;
      return;
    }
    // Longer ones: find the last byte (Go's rules: at most 10 bytes, the
    // 10th at most 1) and copy them without decoding.
    if (bad) return;
    const size_t lim = std::min<size_t>(10, remaining());
    size_t k = 0;
    while (k < lim && (static_cast<uint8_t>(p[k]) & 0x80)) ++k;
    if (k == lim || (k == 9 && static_cast<uint8_t>(p[9]) > 1)) {
      bad = true;
      return;
    }
    Put(p, k + 1);
    p += k + 1;
  }
  uint8_t Byte() {
    if (bad || p == end) {
      bad = true;
      return 0;
    }
    if constexpr (kOut) *w++ = *p;
    return static_cast<uint8_t>(*p++);
  }
  void Fixed(size_t n) {
    if (bad || remaining() < n) {
      bad = true;
      return;
    }
    Put(p, n);
    p += n;
  }
  void LengthPrefixed() {
    const char* from = p;
    const uint64_t n = ReadU();
    if (bad || n > remaining()) {
      bad = true;
      return;
    }
    p += n;
    Put(from, static_cast<size_t>(p - from));
  }
  void Str() {
    const uint64_t n = ReadU();
    if (bad || n > remaining()) {
      bad = true;
      return;
    }
    if constexpr (kOut) {
      uint32_t idx = dict->AddInline(std::string_view(p, n));
      if (idx < 0x80) {
        *w++ = static_cast<char>(idx);
      } else {
        PutU(idx);
      }
    }
    p += n;
  }
  uint64_t Count() {
    const char* from = p;
    const uint64_t n = ReadU();
    if (bad || n > remaining()) {
      bad = true;
      return 0;
    }
    Put(from, static_cast<size_t>(p - from));
    return n;
  }
  void Value() {
    switch (Byte()) {
      case kEmpty:
      case kFalse:
      case kTrue:
        break;
      case kString:
      case kBytes:
        Str();
        break;
      case kInt:
        U();  // a zigzag varint: the same bytes
        break;
      case kDouble:
        Fixed(8);
        break;
      case kArray: {
        if (++depth > 64) {
          bad = true;
          break;
        }
        uint64_t n = Count();
        for (uint64_t i = 0; i < n && ok(); ++i) Value();
        --depth;
        break;
      }
      case kKvList:
        if (++depth > 64) {
          bad = true;
          break;
        }
        Attrs();
        --depth;
        break;
      default:
        bad = true;
    }
  }
  void Attrs() {
    uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok(); ++i) {
      Str();
      // String and int values (nearly all of them) without Value's switch.
      if (!bad && p != end) {
        const uint8_t tag = static_cast<uint8_t>(*p);
        if (tag == kString || tag == kBytes) {
          if constexpr (kOut) *w++ = *p;
          ++p;
          Str();
          continue;
        }
        if (tag == kInt) {
          if constexpr (kOut) *w++ = *p;
          ++p;
          U();
          continue;
        }
      }
      Value();
    }
  }

  // The parts of the encoding, in EncodeTrace's order.
  void Resource() {
    if constexpr (kOut) {
      Memoized(true);
    } else {
      ResourceWalk();
    }
  }
  void Scope() {
    if constexpr (kOut) {
      Memoized(false);
    } else {
      ScopeWalk();
    }
  }
  void ResourceWalk() {
    Attrs();
    U();
    Str();
  }
  void ScopeWalk() {
    Str();
    Str();
    Attrs();
    U();
    Str();
  }
  void Walk(bool resource) { resource ? ResourceWalk() : ScopeWalk(); }
  // A resource or scope through the dictionary's piece cache: the piece's
  // extent is found by a walk without output (no lookups), then its
  // transcoding is copied from the cache, or made and cached.
  void Memoized(bool resource) {
    if (!dict->PiecesUseful()) {
      Walk(resource);
      return;
    }
    const char* from = p;
    Transcoder<false> scan(std::string_view(p, remaining()));
    scan.Walk(resource);
    if (!scan.ok()) {
      bad = true;
      return;
    }
    const std::string_view raw(from, static_cast<size_t>(scan.p - from));
    p = scan.p;
    const auto kind = resource ? StringDict::PieceKind::kResource : StringDict::PieceKind::kScope;
    if (const std::string* hit = dict->FindPiece(kind, raw)) {
      Put(hit->data(), hit->size());
      return;
    }
    char* mark = w;
    Transcoder<true> t(raw, dict, w);
    t.Walk(resource);
    if (!t.ok() || !t.empty()) {
      bad = true;
      return;
    }
    w = t.w;
    dict->AddPiece(kind, raw, std::string_view(mark, static_cast<size_t>(w - mark)));
  }
  // A span from its id to its kind (before the start time).
  void SpanHead() {
    Fixed(8);
    if (Byte() == 1) Fixed(8);
    Str();  // trace_state
    U();    // flags
    Str();  // name
    U();    // kind
  }
  // A span from its duration to its status message (the start time before
  // it, the resource and scope indexes after it).
  void SpanTail() {
    U();  // duration, zigzag
    Attrs();
    U();
    uint64_t ne = Count();
    for (uint64_t i = 0; i < ne && ok(); ++i) {
      U();  // time relative to the span start, zigzag
      Str();
      Attrs();
      U();
    }
    U();
    uint64_t nl = Count();
    for (uint64_t i = 0; i < nl && ok(); ++i) {
      LengthPrefixed();  // trace id
      LengthPrefixed();  // span id
      Str();
      Attrs();
      U();
      U();
    }
    U();    // dropped links
    U();    // status code
    Str();  // status message
  }
  // The duration that starts the tail, without consuming it.
  int64_t PeekVarint() {
    Transcoder<false> peek(std::string_view(p, remaining()));
    return coding::UnZigZag(peek.ReadU());
  }
};

struct SpanPos {
  std::string_view head, tail;
  uint64_t start = 0, end = 0;
  uint32_t ri = 0, si = 0;
};

struct PartPos {
  std::string_view id;
  std::vector<std::string_view> resources, scopes;
  std::vector<SpanPos> spans;
};

// Where each piece of one inline record is (DecodeTrace's checks).
Status IndexPart(std::string_view rec, PartPos* p) {
  Transcoder<false> t(rec);
  if (t.remaining() < 16) return DataLossError("malformed trace record");
  p->id = std::string_view(t.p, 16);
  t.p += 16;
  const uint64_t base = t.ReadU();
  auto piece = [&](auto walk) {
    const char* from = t.pos();
    walk();
    return std::string_view(from, static_cast<size_t>(t.pos() - from));
  };
  uint64_t nr = t.Count();
  for (uint64_t i = 0; i < nr && t.ok(); ++i) p->resources.push_back(piece([&] { t.Resource(); }));
  uint64_t ns = t.ok() ? t.Count() : 0;
  for (uint64_t i = 0; i < ns && t.ok(); ++i) p->scopes.push_back(piece([&] { t.Scope(); }));
  uint64_t nspans = t.ok() ? t.Count() : 0;
  p->spans.reserve(nspans);
  for (uint64_t i = 0; i < nspans && t.ok(); ++i) {
    SpanPos s;
    s.head = piece([&] { t.SpanHead(); });
    s.start = base + t.ReadU();
    s.end = s.start + static_cast<uint64_t>(t.PeekVarint());
    s.tail = piece([&] { t.SpanTail(); });
    s.ri = static_cast<uint32_t>(t.ReadU());
    s.si = static_cast<uint32_t>(t.ReadU());
    if (!t.ok()) break;
    if (s.ri >= p->resources.size() || s.si >= p->scopes.size()) {
      return DataLossError("trace record: span refers to a missing resource or scope");
    }
    p->spans.push_back(s);
  }
  if (!t.ok()) return DataLossError("malformed trace record");
  if (!t.empty()) return DataLossError("trailing bytes after a trace record");
  return Status::Ok();
}

// The common case, a trace that arrived in one record: one walk, copying
// it with strings re-pointed (its base, counts and indexes stay valid) to
// `w` (room for 5 × rec.size() bytes). nullptr for anything unusual
// (errors, a base that is not the earliest start): the general path
// decides. Otherwise the end of the output.
char* TranscodeSingle(std::string_view rec, StringDict* dict, char* w, TraceSummary* summary) {
  Transcoder<true> t(rec, dict, w);
  t.Fixed(16);
  const char* p = t.pos();
  const uint64_t base = t.ReadU();
  if (!t.ok()) return nullptr;
  t.Put(p, static_cast<size_t>(t.pos() - p));
  const uint64_t nr = t.Count();
  for (uint64_t i = 0; i < nr && t.ok(); ++i) t.Resource();
  const uint64_t ns = t.ok() ? t.Count() : 0;
  for (uint64_t i = 0; i < ns && t.ok(); ++i) t.Scope();
  const uint64_t nspans = t.ok() ? t.Count() : 0;
  uint64_t min_delta = UINT64_MAX, hi = 0;
  for (uint64_t i = 0; i < nspans && t.ok(); ++i) {
    t.SpanHead();
    p = t.pos();
    const uint64_t delta = t.ReadU();
    if (!t.ok()) return nullptr;
    t.Put(p, static_cast<size_t>(t.pos() - p));
    const uint64_t start = base + delta;
    const uint64_t end = start + static_cast<uint64_t>(t.PeekVarint());
    t.SpanTail();
    p = t.pos();
    const uint64_t ri = t.ReadU();
    const uint64_t si = t.ReadU();
    if (!t.ok()) return nullptr;
    t.Put(p, static_cast<size_t>(t.pos() - p));
    if (ri >= nr || si >= ns) return nullptr;
    min_delta = std::min(min_delta, delta);
    hi = std::max(hi, std::max(end, start));
  }
  if (!t.ok() || !t.empty()) return nullptr;
  if (nspans == 0 ? base != 0 : min_delta != 0) return nullptr;
  *summary = TraceSummary{nspans, nspans == 0 ? 0 : base, hi};
  return t.w;
}

}  // namespace

Status TranscodeTrace(const std::vector<std::string_view>& parts, StringDict* dict,
                      std::string* out, TraceSummary* summary) {
  if (parts.size() == 1) {
    // Output written to the dictionary's scratch, then appended once.
    char* buf = dict->Scratch(5 * parts[0].size() + 16);
    if (char* w = TranscodeSingle(parts[0], dict, buf, summary)) {
      out->append(buf, static_cast<size_t>(w - buf));
      return Status::Ok();
    }
  }
  std::vector<PartPos> pos(parts.size());
  size_t in_bytes = 0, in_spans = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    SL_RETURN_IF_ERROR(IndexPart(parts[i], &pos[i]));
    in_bytes += parts[i].size();
    in_spans += pos[i].spans.size();
  }
  // MergeTrace(dedup=false), part by part: into an empty trace a part goes
  // whole; otherwise its spans are appended with the resources and scopes
  // they use (in order), indexes remapped.
  struct MergedSpan {
    const SpanPos* s;
    uint32_t ri, si;
  };
  std::vector<std::string_view> resources, scopes;
  std::vector<MergedSpan> spans;
  std::vector<uint32_t> rmap, smap;
  for (const PartPos& p : pos) {
    if (spans.empty() && resources.empty() && scopes.empty()) {
      resources = p.resources;
      scopes = p.scopes;
      for (const SpanPos& s : p.spans) spans.push_back({&s, s.ri, s.si});
      continue;
    }
    if (p.spans.empty()) continue;
    rmap.assign(p.resources.size(), UINT32_MAX);
    smap.assign(p.scopes.size(), UINT32_MAX);
    for (const SpanPos& s : p.spans) {
      rmap[s.ri] = 0;
      smap[s.si] = 0;
    }
    for (size_t i = 0; i < rmap.size(); ++i) {
      if (rmap[i] == UINT32_MAX) continue;
      rmap[i] = static_cast<uint32_t>(resources.size());
      resources.push_back(p.resources[i]);
    }
    for (size_t i = 0; i < smap.size(); ++i) {
      if (smap[i] == UINT32_MAX) continue;
      smap[i] = static_cast<uint32_t>(scopes.size());
      scopes.push_back(p.scopes[i]);
    }
    for (const SpanPos& s : p.spans) spans.push_back({&s, rmap[s.ri], smap[s.si]});
  }
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const MergedSpan& m : spans) {
    lo = std::min(lo, m.s->start);
    hi = std::max(hi, std::max(m.s->end, m.s->start));
  }
  if (spans.empty()) lo = 0;
  *summary = TraceSummary{spans.size(), lo, hi};

  // The first part's id (parts are of one trace; DecodeTrace reads 16 bytes).
  if (pos.empty()) return DataLossError("a trace without records");
  // Room: every piece at most 5× its bytes; per span a start (10) and two
  // indexes (5 each); the id, base and three counts.
  char* const buf = dict->Scratch(5 * in_bytes + 20 * in_spans + 64);
  Transcoder<true> o(std::string_view(), dict, buf);
  o.Put(pos[0].id.data(), pos[0].id.size());
  o.PutU(lo);
  bool ok = true;
  auto write = [&](std::string_view piece, auto walk) {
    Transcoder<true> t(piece, dict, o.w);
    walk(t);
    o.w = t.w;
    ok &= t.ok();
  };
  o.PutU(resources.size());
  for (std::string_view r : resources) write(r, [](Transcoder<true>& t) { t.Resource(); });
  o.PutU(scopes.size());
  for (std::string_view s : scopes) write(s, [](Transcoder<true>& t) { t.Scope(); });
  o.PutU(spans.size());
  for (const MergedSpan& m : spans) {
    write(m.s->head, [](Transcoder<true>& t) { t.SpanHead(); });
    o.PutU(m.s->start - lo);
    write(m.s->tail, [](Transcoder<true>& t) { t.SpanTail(); });
    o.PutU(m.ri);
    o.PutU(m.si);
  }
  // The pieces were walked once already: this cannot fail.
  if (!ok) return DataLossError("trace record: transcoding failed");
  out->append(buf, static_cast<size_t>(o.w - buf));
  return Status::Ok();
}

}  // namespace sightline::traces::store
