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

uint32_t StringDict::Add(std::string_view s) {
  if (slots_.empty()) Rehash(1024);
  const uint64_t h = XXH3_64bits(s.data(), s.size());
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>(h) & mask;
  for (;; i = (i + 1) & mask) {
    const uint64_t v = slots_[i];
    if (v == 0) break;
    if ((v & 0xFFFFFFFF00000000ull) == tag) {
      const uint32_t idx = static_cast<uint32_t>(v) - 1;
      if (strings_[idx] == s) return idx;
    }
  }
  const uint32_t idx = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  slots_[i] = tag | (idx + 1);
  if (strings_.size() * 2 > slots_.size()) Rehash(slots_.size() * 2);
  return idx;
}

void StringDict::Rehash(size_t n) {
  slots_.assign(n, 0);
  const size_t mask = n - 1;
  for (uint32_t idx = 0; idx < strings_.size(); ++idx) {
    const std::string& s = strings_[idx];
    const uint64_t h = XXH3_64bits(s.data(), s.size());
    size_t i = static_cast<size_t>(h) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (h & 0xFFFFFFFF00000000ull) | (idx + 1);
  }
}

void StringDict::Clear() {
  strings_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
  for (Piece& p : pieces_) p.raw.clear();
  piece_hits_ = piece_misses_ = 0;
}

const std::string* StringDict::FindPiece(std::string_view raw) {
  if (pieces_.empty() || raw.empty()) {
    ++piece_misses_;
    return nullptr;
  }
  const uint64_t h = XXH3_64bits(raw.data(), raw.size());
  const Piece& p = pieces_[h % kPieces];
  if (p.hash != h || p.raw != raw) {
    ++piece_misses_;
    return nullptr;
  }
  ++piece_hits_;
  return &p.transcoded;
}

void StringDict::AddPiece(std::string_view raw, std::string_view transcoded) {
  if (raw.empty()) return;
  if (pieces_.empty()) pieces_.resize(kPieces);
  const uint64_t h = XXH3_64bits(raw.data(), raw.size());
  Piece& p = pieces_[h % kPieces];
  p.hash = h;
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

// Walks the inline encoding; with `out`, writes what it walked again, with
// strings as indexes into `dict` and everything else verbatim.
struct Transcoder {
  coding::Reader r;
  StringDict* dict = nullptr;
  std::string* out = nullptr;
  bool bad = false;
  int depth = 0;

  const char* pos() const { return r.rest().data(); }
  void CopyFrom(const char* from) {
    if (!out || !r.ok()) return;
    const size_t n = static_cast<size_t>(pos() - from);
    if (n == 1) {
      out->push_back(*from);  // most varints and tags: no append call
    } else {
      out->append(from, n);
    }
  }
  void U() {
    const char* p = pos();
    r.Uvarint();
    CopyFrom(p);
  }
  void Fixed(size_t n) {
    const char* p = pos();
    r.Bytes(n);
    CopyFrom(p);
  }
  void LengthPrefixed() {
    const char* p = pos();
    r.LengthPrefixed();
    CopyFrom(p);
  }
  void Str() {
    std::string_view s = r.LengthPrefixed();
    if (!r.ok()) {
      bad = true;
      return;
    }
    if (out) PutUvarint(*out, dict->Add(s));
  }
  uint64_t Count() {
    const char* p = pos();
    uint64_t n = r.Uvarint();
    if (n > r.remaining()) {
      bad = true;
      return 0;
    }
    CopyFrom(p);
    return n;
  }
  void Value() {
    const char* p = pos();
    uint8_t tag = r.Byte();
    CopyFrom(p);
    switch (tag) {
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
      Value();
    }
  }
  bool ok() const { return !bad && r.ok(); }

  // The parts of the encoding, in EncodeTrace's order.
  void Resource() { Memoized(&Transcoder::ResourceWalk); }
  void Scope() { Memoized(&Transcoder::ScopeWalk); }
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
  // `walk` through the dictionary's piece cache: the piece's extent is
  // found by a walk without output (no lookups), then its transcoding is
  // copied from the cache, or made and cached.
  void Memoized(void (Transcoder::*walk)()) {
    if (!out || !dict->PiecesUseful()) {
      (this->*walk)();
      return;
    }
    const char* from = pos();
    std::string* o = out;
    out = nullptr;
    (this->*walk)();
    out = o;
    if (!ok()) return;
    const std::string_view raw(from, static_cast<size_t>(pos() - from));
    if (const std::string* hit = dict->FindPiece(raw)) {
      out->append(*hit);
      return;
    }
    const size_t mark = out->size();
    Transcoder t{coding::Reader(raw), dict, out};
    (t.*walk)();
    if (!t.ok() || !t.r.empty()) {
      bad = true;
      return;
    }
    dict->AddPiece(raw, std::string_view(*out).substr(mark));
  }
  // A span from its id to its kind (before the start time).
  void SpanHead() {
    Fixed(8);
    const char* p = pos();
    uint8_t has_parent = r.Byte();
    CopyFrom(p);
    if (has_parent == 1) Fixed(8);
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
  Transcoder t{coding::Reader(rec)};
  p->id = t.r.Bytes(16);
  const uint64_t base = t.r.Uvarint();
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
    s.start = base + t.r.Uvarint();
    {
      coding::Reader peek(t.r.rest());
      s.end = s.start + static_cast<uint64_t>(peek.Varint());
    }
    s.tail = piece([&] { t.SpanTail(); });
    s.ri = static_cast<uint32_t>(t.r.Uvarint());
    s.si = static_cast<uint32_t>(t.r.Uvarint());
    if (!t.ok()) break;
    if (s.ri >= p->resources.size() || s.si >= p->scopes.size()) {
      return DataLossError("trace record: span refers to a missing resource or scope");
    }
    p->spans.push_back(s);
  }
  if (!t.ok()) return DataLossError("malformed trace record");
  if (!t.r.empty()) return DataLossError("trailing bytes after a trace record");
  return Status::Ok();
}

// The common case, a trace that arrived in one record: one walk, copying
// it with strings re-pointed (its base, counts and indexes stay valid).
// False, with `out` to be cut back by the caller, for anything unusual
// (errors, a base that is not the earliest start): the general path decides.
bool TranscodeSingle(std::string_view rec, StringDict* dict, std::string* out,
                     TraceSummary* summary) {
  Transcoder t{coding::Reader(rec), dict, out};
  t.Fixed(16);
  const char* p = t.pos();
  const uint64_t base = t.r.Uvarint();
  t.CopyFrom(p);
  const uint64_t nr = t.Count();
  for (uint64_t i = 0; i < nr && t.ok(); ++i) t.Resource();
  const uint64_t ns = t.ok() ? t.Count() : 0;
  for (uint64_t i = 0; i < ns && t.ok(); ++i) t.Scope();
  const uint64_t nspans = t.ok() ? t.Count() : 0;
  uint64_t min_delta = UINT64_MAX, hi = 0;
  for (uint64_t i = 0; i < nspans && t.ok(); ++i) {
    t.SpanHead();
    p = t.pos();
    const uint64_t delta = t.r.Uvarint();
    t.CopyFrom(p);
    const uint64_t start = base + delta;
    uint64_t end;
    {
      coding::Reader peek(t.r.rest());
      end = start + static_cast<uint64_t>(peek.Varint());
    }
    t.SpanTail();
    p = t.pos();
    const uint64_t ri = t.r.Uvarint();
    const uint64_t si = t.r.Uvarint();
    t.CopyFrom(p);
    if (ri >= nr || si >= ns) return false;
    min_delta = std::min(min_delta, delta);
    hi = std::max(hi, std::max(end, start));
  }
  if (!t.ok() || !t.r.empty()) return false;
  if (nspans == 0 ? base != 0 : min_delta != 0) return false;
  *summary = TraceSummary{nspans, nspans == 0 ? 0 : base, hi};
  return true;
}

}  // namespace

Status TranscodeTrace(const std::vector<std::string_view>& parts, StringDict* dict,
                      std::string* out, TraceSummary* summary) {
  if (parts.size() == 1) {
    const size_t mark = out->size();
    if (TranscodeSingle(parts[0], dict, out, summary)) return Status::Ok();
    out->resize(mark);
  }
  std::vector<PartPos> pos(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) SL_RETURN_IF_ERROR(IndexPart(parts[i], &pos[i]));
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
  out->append(pos[0].id.data(), pos[0].id.size());
  PutUvarint(*out, lo);
  auto write = [&](std::string_view piece, auto walk) {
    Transcoder t{coding::Reader(piece), dict, out};
    walk(t);
    return t.ok();
  };
  bool ok = true;
  PutUvarint(*out, resources.size());
  for (std::string_view r : resources) ok &= write(r, [](Transcoder& t) { t.Resource(); });
  PutUvarint(*out, scopes.size());
  for (std::string_view s : scopes) ok &= write(s, [](Transcoder& t) { t.Scope(); });
  PutUvarint(*out, spans.size());
  for (const MergedSpan& m : spans) {
    ok &= write(m.s->head, [](Transcoder& t) { t.SpanHead(); });
    PutUvarint(*out, m.s->start - lo);
    ok &= write(m.s->tail, [](Transcoder& t) { t.SpanTail(); });
    PutUvarint(*out, m.ri);
    PutUvarint(*out, m.si);
  }
  // The pieces were walked once already: this cannot fail.
  if (!ok) return DataLossError("trace record: transcoding failed");
  return Status::Ok();
}

}  // namespace sightline::traces::store
