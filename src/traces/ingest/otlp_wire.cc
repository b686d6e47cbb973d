#include "traces/ingest/otlp_wire.h"

#include <array>
#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <unordered_map>

#include <simdjson.h>

#include "base/coding.h"
#include "traces/ingest/ids.h"
#include "traces/store/codec.h"

// Field numbers from the OTLP protos (proto/opentelemetry/...); the comments
// name the field.
namespace sightline::traces::ingest {

namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

constexpr int kMaxDepth = 64;

// What protobuf accepts in a proto3 string: well-formed UTF-8 (no overlong
// forms, surrogates or code points beyond U+10FFFF). simdjson's SIMD
// validator has exactly these rules. Short strings (most keys and values)
// are checked for ASCII first, 8 bytes at a time: cheaper than the
// validator's dispatch for a few bytes, and ASCII is always valid.
bool ValidUtf8(std::string_view s) {
  const size_t n = s.size();
  const char* p = s.data();
  if (n < 64) {
    auto load8 = [p](size_t i) {
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      return v;
    };
    auto load4 = [p](size_t i) {
      uint32_t v;
      std::memcpy(&v, p + i, 4);
      return v;
    };
    // Overlapping loads cover the tail: every byte is or'ed in at least once.
    uint64_t high = 0;
    if (n >= 8) {
      for (size_t i = 0; i + 8 <= n; i += 8) high |= load8(i);
      high |= load8(n - 8);
    } else if (n >= 4) {
      high = load4(0) | load4(n - 4);
    } else if (n > 0) {
      high = static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) |
             static_cast<unsigned char>(p[n - 1]);
    }
    if ((high & 0x8080808080808080ull) == 0) return true;
  }
  return simdjson::validate_utf8(p, n);
}

// A cursor over one message's bytes. Every method returns false on
// malformed input.
class Wire {
 public:
  explicit Wire(std::string_view b)
      : p_(reinterpret_cast<const uint8_t*>(b.data())), end_(p_ + b.size()) {}

  bool Done() const { return p_ >= end_; }

  bool Varint(uint64_t* v) {
    if (p_ < end_ && *p_ < 0x80) {  // tags and lengths: mostly one byte
      *v = *p_++;
      return true;
    }
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = *p_++;
      r |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Tag(uint32_t* field, int* wire_type) {
    uint64_t t;
    if (!Varint(&t) || t > UINT32_MAX) return false;
    *field = static_cast<uint32_t>(t >> 3);
    *wire_type = static_cast<int>(t & 7);
    return *field != 0;
  }
  bool Len(std::string_view* s) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *s = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    std::memcpy(v, p_, 8);  // little-endian hosts only (x86-64, arm64)
    p_ += 8;
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    std::memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }
  // Skips an unknown field's value (groups are not handled).
  bool Skip(int wire_type) {
    uint64_t u;
    uint32_t f;
    std::string_view s;
    switch (wire_type) {
      case kVarint: return Varint(&u);
      case kFixed64: return Fixed64(&u);
      case kLen: return Len(&s);
      case kFixed32: return Fixed32(&f);
      default: return false;
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status NotHandled() { return InvalidArgumentError("not handled by the wire converter"); }

}  // namespace

// The walk over the request: each part is written in the record encoding
// of store/codec.h as it is read. A span's record needs its trace's earliest start and the indexes
// of its resource and scope in the trace's tables, so spans are written
// into a scratch buffer in two pieces around the start time and assembled
// per trace at the end; a resource or scope is written once per
// ResourceSpans/ScopeSpans and copied into each trace that uses it.

namespace {

using coding::PutUvarint;

// The size TruncateUtf8 cuts `s` to.
size_t CutSize(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

bool StrView(Wire& w, std::string_view* out) { return w.Len(out) && ValidUtf8(*out); }

// Counts the length-delimited occurrences of `field` in message `b`; false
// on malformed bytes.
bool CountField(std::string_view b, uint32_t field, uint64_t* n) {
  Wire w(b);
  *n = 0;
  while (!w.Done()) {
    uint32_t f;
    int wt;
    if (!w.Tag(&f, &wt)) return false;
    if (f == field && wt == kLen) {
      std::string_view s;
      if (!w.Len(&s)) return false;
      ++*n;
    } else if (!w.Skip(wt)) {
      return false;
    }
  }
  return true;
}

// HeaderView: Header without copying the schema url.
bool HeaderView(std::string_view b, std::string_view* msg, bool* has_msg,
                std::string_view* schema_url) {
  Wire w(b);
  *has_msg = false;
  while (!w.Done()) {
    uint32_t f;
    int wt;
    if (!w.Tag(&f, &wt)) return false;
    if (f == 1 && wt == kLen) {
      if (*has_msg || !w.Len(msg)) return false;
      *has_msg = true;
    } else if (f == 3 && wt == kLen) {
      if (!StrView(w, schema_url)) return false;
    } else if (!w.Skip(wt)) {
      return false;
    }
  }
  return true;
}

// A span's scalar fields (first pass over its bytes; last occurrence wins
// as in protobuf) and how many attributes, events and links it has.
struct SpanFields {
  std::string_view trace_id, span_id, trace_state, parent, name, status_message;
  int kind = 0, status_code = 0;
  uint32_t flags = 0, dropped_attributes = 0, dropped_events = 0, dropped_links = 0;
  uint64_t start = 0, end = 0;
  uint64_t attributes = 0, events = 0, links = 0;
};

bool ReadU32(Wire& w, uint32_t* out) {
  uint64_t v;
  if (!w.Varint(&v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}
bool ReadEnum(Wire& w, int* out) {
  uint64_t v;
  if (!w.Varint(&v)) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

// A Span's fields, kept as views into the body.
bool ReadSpanFields(std::string_view b, SpanFields* s) {
  Wire w(b);
  bool status_seen = false;
  std::string_view skip;
  while (!w.Done()) {
    uint32_t f;
    int wt;
    if (!w.Tag(&f, &wt)) return false;
    bool ok = true;
    switch (f) {
      case 1: if (wt != kLen) goto unknown; ok = w.Len(&s->trace_id); break;
      case 2: if (wt != kLen) goto unknown; ok = w.Len(&s->span_id); break;
      case 3: if (wt != kLen) goto unknown; ok = StrView(w, &s->trace_state); break;
      case 4: if (wt != kLen) goto unknown; ok = w.Len(&s->parent); break;
      case 5: if (wt != kLen) goto unknown; ok = StrView(w, &s->name); break;
      case 6: if (wt != kVarint) goto unknown; ok = ReadEnum(w, &s->kind); break;
      case 7: if (wt != kFixed64) goto unknown; ok = w.Fixed64(&s->start); break;
      case 8: if (wt != kFixed64) goto unknown; ok = w.Fixed64(&s->end); break;
      case 9: if (wt != kLen) goto unknown; ok = w.Len(&skip); ++s->attributes; break;
      case 10: if (wt != kVarint) goto unknown; ok = ReadU32(w, &s->dropped_attributes); break;
      case 11: if (wt != kLen) goto unknown; ok = w.Len(&skip); ++s->events; break;
      case 12: if (wt != kVarint) goto unknown; ok = ReadU32(w, &s->dropped_events); break;
      case 13: if (wt != kLen) goto unknown; ok = w.Len(&skip); ++s->links; break;
      case 14: if (wt != kVarint) goto unknown; ok = ReadU32(w, &s->dropped_links); break;
      case 15: {
        if (wt != kLen) goto unknown;
        std::string_view st;
        if (status_seen || !w.Len(&st)) return false;
        status_seen = true;
        Wire sw(st);
        while (ok && !sw.Done()) {
          uint32_t sf;
          int swt;
          if (!sw.Tag(&sf, &swt)) return false;
          if (sf == 2 && swt == kLen) {
            ok = StrView(sw, &s->status_message);
          } else if (sf == 3 && swt == kVarint) {
            ok = ReadEnum(sw, &s->status_code);
          } else {
            ok = sw.Skip(swt);
          }
        }
        break;
      }
      case 16: if (wt != kFixed32) goto unknown; ok = w.Fixed32(&s->flags); break;
      default:
      unknown:
        ok = w.Skip(wt);
        break;
    }
    if (!ok) return false;
  }
  return true;
}

// A string or bytes value as stored (after the length limit).
struct StrOut {
  std::string_view v;
  bool set = false;
};

// The encoder's scratch output: an append-only byte buffer whose single
// bytes and varints are plain stores after one capacity check (no
// std::string::push_back call per byte, no zero-filling when it grows).
class Out {
 public:
  size_t size() const { return n_; }
  const char* data() const { return p_.get(); }
  void Reserve(size_t k) {
    if (k > cap_ - n_) Grow(k);
  }
  void Byte(char c) {
    Reserve(1);
    p_[n_++] = c;
  }
  void Append(const char* d, size_t k) {
    Reserve(k);
    if (k > 0) std::memcpy(p_.get() + n_, d, k);
    n_ += k;
  }
  void Zeros(size_t k) {
    Reserve(k);
    std::memset(p_.get() + n_, 0, k);
    n_ += k;
  }
  void Uvarint(uint64_t v) {
    Reserve(10);
    char* q = p_.get() + n_;
    while (v >= 0x80) {
      *q++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *q++ = static_cast<char>(v);
    n_ = static_cast<size_t>(q - p_.get());
  }
  void Varint(int64_t v) { Uvarint(coding::ZigZag(v)); }
  void Fixed64(uint64_t v) {  // little endian: x86-64 and arm64 hosts
    Reserve(8);
    std::memcpy(p_.get() + n_, &v, 8);
    n_ += 8;
  }
  void LengthPrefixed(std::string_view v) {
    Uvarint(v.size());
    Append(v.data(), v.size());
  }
  void Truncate(size_t n) { n_ = n; }

 private:
  void Grow(size_t k) {
    const size_t cap = std::max(cap_ * 2, n_ + k + 256);
    std::unique_ptr<char[]> q(new char[cap]);
    if (n_ > 0) std::memcpy(q.get(), p_.get(), n_);
    p_ = std::move(q);
    cap_ = cap;
  }

  std::unique_ptr<char[]> p_;
  size_t cap_ = 0, n_ = 0;
};

// Writes parts of a request in the record encoding into `out`.
struct Writer {
  const ConvertOptions& options;
  uint64_t truncated = 0;
  Out* out = nullptr;

  void Str(std::string_view s) { out->LengthPrefixed(s); }
  void Tag(store::ValueTag t) { out->Byte(static_cast<char>(t)); }

  // An AnyValue.
  bool Value(std::string_view b, int depth, StrOut* str) {
    if (depth > kMaxDepth) return false;
    Wire w(b);
    bool seen = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f >= 1 && f <= 7) {
        if (seen) return false;
        seen = true;
      }
      std::string_view sub;
      uint64_t u;
      switch (f) {
        case 1:    // string_value
        case 7: {  // bytes_value
          if (wt != kLen) break;
          std::string_view v;
          if (!(f == 1 ? StrView(w, &v) : w.Len(&v))) return false;
          const size_t max = options.max_attribute_value_bytes;
          if (max > 0 && v.size() > max) {
            v = v.substr(0, CutSize(v, max));
            ++truncated;
          }
          Tag(f == 1 ? store::kString : store::kBytes);
          Str(v);
          if (str) *str = StrOut{v, true};
          continue;
        }
        case 2:  // bool_value
          if (wt != kVarint) break;
          if (!w.Varint(&u)) return false;
          Tag(u != 0 ? store::kTrue : store::kFalse);
          continue;
        case 3:  // int_value
          if (wt != kVarint) break;
          if (!w.Varint(&u)) return false;
          Tag(store::kInt);
          out->Varint(static_cast<int64_t>(u));
          continue;
        case 4:  // double_value
          if (wt != kFixed64) break;
          if (!w.Fixed64(&u)) return false;
          Tag(store::kDouble);
          out->Fixed64(u);
          continue;
        case 5: {  // array_value
          if (wt != kLen || !w.Len(&sub)) return false;
          uint64_t n;
          if (!CountField(sub, 1, &n)) return false;
          Tag(store::kArray);
          out->Uvarint(n);
          Wire a(sub);
          while (!a.Done()) {
            uint32_t af;
            int awt;
            if (!a.Tag(&af, &awt)) return false;
            if (af == 1 && awt == kLen) {
              std::string_view e;
              if (!a.Len(&e) || !Value(e, depth + 1, nullptr)) return false;
            } else if (!a.Skip(awt)) {
              return false;
            }
          }
          continue;
        }
        case 6: {  // kvlist_value
          if (wt != kLen || !w.Len(&sub)) return false;
          Tag(store::kKvList);
          if (!Attrs(sub, 1, depth + 1)) return false;
          continue;
        }
        default:
          break;
      }
      if (f >= 1 && f <= 7) return false;
      if (!w.Skip(wt)) return false;
    }
    if (!seen) Tag(store::kEmpty);
    return true;
  }

  // A KeyValue: the key (last one wins), then the value.
  bool KV(std::string_view b, int depth, std::string_view* key_out, StrOut* str) {
    Wire w(b);
    std::string_view key, value;
    bool value_seen = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!StrView(w, &key)) return false;
      } else if (f == 2 && wt == kLen) {
        if (value_seen || !w.Len(&value)) return false;
        value_seen = true;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    Str(key);
    if (key_out) *key_out = key;
    if (!value_seen) {
      Tag(store::kEmpty);
      return true;
    }
    return Value(value, depth + 1, str);
  }

  // The `n` length-delimited KeyValues of `field` of message `b`: the
  // count, then each. `service` (optional) gets the first service.name
  // with a string value (the generator's ServiceOf).
  bool KVs(std::string_view b, uint32_t field, int depth, uint64_t n,
           std::string_view* service = nullptr) {
    out->Uvarint(n);
    if (n == 0) return true;
    Wire w(b);
    bool found = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == field && wt == kLen) {
        std::string_view kv, key;
        StrOut str;
        if (!w.Len(&kv) || !KV(kv, depth, &key, &str)) return false;
        if (service && !found && str.set && key == "service.name") {
          *service = str.v;
          found = true;
        }
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // Repeated KeyValue attributes.
  bool Attrs(std::string_view b, uint32_t field, int depth) {
    if (depth > kMaxDepth) return false;
    uint64_t n;
    if (!CountField(b, field, &n)) return false;
    return KVs(b, field, depth, n);
  }

  // A Resource and its schema url.
  bool Resource(std::string_view b, std::string_view schema_url, std::string_view* service) {
    Wire w(b);
    uint64_t n = 0;
    uint32_t dropped = 0;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        std::string_view kv;
        if (!w.Len(&kv)) return false;
        ++n;
      } else if (f == 2 && wt == kVarint) {
        if (!ReadU32(w, &dropped)) return false;
      } else if (f == 3) {
        return false;  // entity refs hold strings protobuf validates
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    if (!KVs(b, 1, 0, n, service)) return false;
    out->Uvarint(dropped);
    Str(schema_url);
    return true;
  }

  // An InstrumentationScope and its schema url.
  bool Scope(std::string_view b, std::string_view schema_url) {
    Wire w(b);
    std::string_view name, version;
    uint64_t n = 0;
    uint32_t dropped = 0;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!StrView(w, &name)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!StrView(w, &version)) return false;
      } else if (f == 3 && wt == kLen) {
        std::string_view kv;
        if (!w.Len(&kv)) return false;
        ++n;
      } else if (f == 4 && wt == kVarint) {
        if (!ReadU32(w, &dropped)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    Str(name);
    Str(version);
    if (!KVs(b, 3, 0, n)) return false;
    out->Uvarint(dropped);
    Str(schema_url);
    return true;
  }

  // A Span.Event.
  bool Event(std::string_view b, uint64_t span_start) {
    Wire w(b);
    uint64_t time = 0, n = 0;
    std::string_view name;
    uint32_t dropped = 0;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kFixed64) {
        if (!w.Fixed64(&time)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!StrView(w, &name)) return false;
      } else if (f == 3 && wt == kLen) {
        std::string_view kv;
        if (!w.Len(&kv)) return false;
        ++n;
      } else if (f == 4 && wt == kVarint) {
        if (!ReadU32(w, &dropped)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    out->Varint(static_cast<int64_t>(time - span_start));
    Str(name);
    if (!KVs(b, 3, 0, n)) return false;
    out->Uvarint(dropped);
    return true;
  }

  // A Span.Link.
  bool Link(std::string_view b) {
    Wire w(b);
    std::string_view trace_id, span_id, trace_state;
    uint64_t n = 0;
    uint32_t dropped = 0, flags = 0;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!w.Len(&trace_id)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!w.Len(&span_id)) return false;
      } else if (f == 3 && wt == kLen) {
        if (!StrView(w, &trace_state)) return false;
      } else if (f == 4 && wt == kLen) {
        std::string_view kv;
        if (!w.Len(&kv)) return false;
        ++n;
      } else if (f == 5 && wt == kVarint) {
        if (!ReadU32(w, &dropped)) return false;
      } else if (f == 6 && wt == kFixed32) {
        if (!w.Fixed32(&flags)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    out->LengthPrefixed(trace_id);
    out->LengthPrefixed(span_id);
    Str(trace_state);
    if (!KVs(b, 4, 0, n)) return false;
    out->Uvarint(dropped);
    out->Uvarint(flags);
    return true;
  }

  // Repeated message `field` of span `b` (`n` of them), each through `fn`.
  template <class Fn>
  bool Each(std::string_view b, uint32_t field, uint64_t n, Fn fn) {
    out->Uvarint(n);
    if (n == 0) return true;
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == field && wt == kLen) {
        std::string_view m;
        if (!w.Len(&m) || !fn(m)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // The span's record without its start time and its resource and scope
  // indexes: the bytes before the start end at *split, the rest follows.
  bool Span(std::string_view b, const SpanFields& s, size_t* split) {
    // Ids of rejected spans may have any size: written padded (the bytes
    // are dropped with the span).
    const size_t k = std::min<size_t>(s.span_id.size(), 8);
    out->Append(s.span_id.data(), k);
    if (k < 8) out->Zeros(8 - k);
    if (s.parent.size() == 8 && !IsZeroId(s.parent)) {
      out->Byte(1);
      out->Append(s.parent.data(), 8);
    } else {
      out->Byte(0);
    }
    Str(s.trace_state);
    out->Uvarint(s.flags);
    Str(s.name);
    out->Uvarint(static_cast<uint64_t>(s.kind));
    *split = out->size();
    out->Varint(static_cast<int64_t>(s.end - s.start));
    if (!KVs(b, 9, 0, s.attributes)) return false;
    out->Uvarint(s.dropped_attributes);
    if (!Each(b, 11, s.events, [&](std::string_view e) { return Event(e, s.start); })) {
      return false;
    }
    out->Uvarint(s.dropped_events);
    if (!Each(b, 13, s.links, [&](std::string_view l) { return Link(l); })) return false;
    out->Uvarint(s.dropped_links);
    out->Uvarint(static_cast<uint64_t>(s.status_code));
    Str(s.status_message);
    return true;
  }
};

using RawId = std::array<char, 16>;
struct RawIdHash {
  size_t operator()(const RawId& k) const {
    uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    return static_cast<size_t>(a ^ (b * 0x9e3779b97f4a7c15ull));
  }
};

constexpr uint32_t kNone = UINT32_MAX;

struct SpanRec {
  uint32_t offset, split, end;  // the span's pieces in the scratch buffer
  uint64_t start;
  uint32_t ri, si;     // in the trace's tables
  uint32_t resource;   // global resource number (its service)
  uint32_t next;       // the trace's next span, or kNone
  SpanView view;
};

struct TraceAcc {
  RawId id;
  std::vector<uint32_t> resources, scopes;  // global numbers
  uint32_t first = kNone, last = kNone, n = 0;
  uint64_t min_start = UINT64_MAX;
  uint32_t rs = kNone, ss = kNone;  // the ResourceSpans/ScopeSpans of ri/si
  uint32_t ri = 0, si = 0;
};

struct Part {
  size_t offset, size;
};

}  // namespace

Result<EncodeResult> EncodeOtlpWire(std::string_view body, const ConvertOptions& options) {
  EncodeResult result;
  Writer wr{options};
  Out spans_buf, tables;
  spans_buf.Reserve(body.size());
  std::vector<SpanRec> recs;
  std::vector<TraceAcc> traces;
  std::unordered_map<RawId, uint32_t, RawIdHash> by_id;
  std::vector<Part> resources, scopes;
  std::vector<std::string_view> services;
  std::set<std::string> messages;
  uint32_t rs_number = 0, ss_number = 0;

  Wire req(body);
  while (!req.Done()) {
    uint32_t f;
    int wt;
    if (!req.Tag(&f, &wt)) return NotHandled();
    if (f != 1 || wt != kLen) {
      if (!req.Skip(wt)) return NotHandled();
      continue;
    }
    std::string_view rs;
    if (!req.Len(&rs)) return NotHandled();
    std::string_view resource_bytes, rs_schema;
    bool has_resource;
    if (!HeaderView(rs, &resource_bytes, &has_resource, &rs_schema)) return NotHandled();
    uint32_t resource = kNone;  // global number once written
    auto write_resource = [&]() -> bool {
      wr.out = &tables;
      size_t off = tables.size();
      std::string_view service = "unknown_service";
      if (!wr.Resource(has_resource ? resource_bytes : std::string_view(), rs_schema, &service)) {
        return false;
      }
      resources.push_back({off, tables.size() - off});
      services.push_back(service);
      resource = static_cast<uint32_t>(resources.size() - 1);
      return true;
    };
    const uint32_t this_rs = rs_number++;
    Wire rw(rs);
    while (!rw.Done()) {
      if (!rw.Tag(&f, &wt)) return NotHandled();
      if (f != 2 || wt != kLen) {
        if (!rw.Skip(wt)) return NotHandled();
        continue;
      }
      std::string_view ss;
      if (!rw.Len(&ss)) return NotHandled();
      std::string_view scope_bytes, ss_schema;
      bool has_scope;
      if (!HeaderView(ss, &scope_bytes, &has_scope, &ss_schema)) return NotHandled();
      uint32_t scope = kNone;
      auto write_scope = [&]() -> bool {
        wr.out = &tables;
        size_t off = tables.size();
        if (!wr.Scope(has_scope ? scope_bytes : std::string_view(), ss_schema)) return false;
        scopes.push_back({off, tables.size() - off});
        scope = static_cast<uint32_t>(scopes.size() - 1);
        return true;
      };
      const uint32_t this_ss = ss_number++;
      Wire sw(ss);
      while (!sw.Done()) {
        if (!sw.Tag(&f, &wt)) return NotHandled();
        if (f != 2 || wt != kLen) {
          if (!sw.Skip(wt)) return NotHandled();
          continue;
        }
        std::string_view sp;
        if (!sw.Len(&sp)) return NotHandled();
        SpanFields fields;
        if (!ReadSpanFields(sp, &fields)) return NotHandled();
        const uint64_t truncated = wr.truncated;
        const size_t offset = spans_buf.size();
        size_t split;
        wr.out = &spans_buf;
        if (!wr.Span(sp, fields, &split)) return NotHandled();
        if (fields.trace_id.size() != 16 || IsZeroId(fields.trace_id)) {
          wr.truncated = truncated;
          spans_buf.Truncate(offset);
          ++result.rejected_spans;
          messages.insert("span with an invalid trace id (want 16 bytes, not all zero)");
          continue;
        }
        if (fields.span_id.size() != 8 || IsZeroId(fields.span_id)) {
          wr.truncated = truncated;
          spans_buf.Truncate(offset);
          ++result.rejected_spans;
          messages.insert("span with an invalid span id (want 8 bytes, not all zero)");
          continue;
        }
        RawId id;
        std::memcpy(id.data(), fields.trace_id.data(), 16);
        auto [it, inserted] = by_id.try_emplace(id, static_cast<uint32_t>(traces.size()));
        if (inserted) {
          traces.emplace_back();
          traces.back().id = id;
        }
        TraceAcc& t = traces[it->second];
        if (t.rs != this_rs) {
          if (resource == kNone && !write_resource()) return NotHandled();
          t.resources.push_back(resource);
          t.rs = this_rs;
          t.ri = static_cast<uint32_t>(t.resources.size() - 1);
        }
        if (t.ss != this_ss) {
          if (scope == kNone && !write_scope()) return NotHandled();
          t.scopes.push_back(scope);
          t.ss = this_ss;
          t.si = static_cast<uint32_t>(t.scopes.size() - 1);
        }
        SpanRec r;
        r.offset = static_cast<uint32_t>(offset);
        r.split = static_cast<uint32_t>(split);
        r.end = static_cast<uint32_t>(spans_buf.size());
        r.start = fields.start;
        r.ri = t.ri;
        r.si = t.si;
        r.resource = resource;
        r.next = kNone;
        r.view.name = fields.name;
        r.view.span_id = fields.span_id;
        if (fields.parent.size() == 8 && !IsZeroId(fields.parent)) {
          r.view.parent_span_id = fields.parent;
        }
        r.view.kind = fields.kind;
        r.view.status_code = fields.status_code;
        r.view.start_unix_nano = fields.start;
        r.view.end_unix_nano = fields.end;
        const uint32_t ri = static_cast<uint32_t>(recs.size());
        recs.push_back(r);
        if (t.last == kNone) {
          t.first = ri;
        } else {
          recs[t.last].next = ri;
        }
        t.last = ri;
        ++t.n;
        t.min_start = std::min(t.min_start, fields.start);
        ++result.spans;
      }
      // A scope whose spans were all rejected must still be valid.
      if (scope == kNone && has_scope) {
        const uint64_t truncated = wr.truncated;
        const size_t size = tables.size();
        if (!write_scope()) return NotHandled();
        tables.Truncate(size);
        scopes.pop_back();
        wr.truncated = truncated;
      }
    }
    if (resource == kNone && has_resource) {
      const uint64_t truncated = wr.truncated;
      const size_t size = tables.size();
      if (!write_resource()) return NotHandled();
      tables.Truncate(size);
      resources.pop_back();
      services.pop_back();
      wr.truncated = truncated;
    }
  }

  // Each trace's record: id, earliest start, its resources and scopes, its
  // spans with their start relative to the earliest.
  EncodedTraces& et = result.traces;
  // An upper bound: per span at most 3 varints more, per trace an id and
  // 4 varints.
  size_t bytes = 11 + spans_buf.size() + recs.size() * 30;
  for (const TraceAcc& t : traces) {
    bytes += 16 + 50;
    for (uint32_t r : t.resources) bytes += resources[r].size;
    for (uint32_t s : t.scopes) bytes += scopes[s].size;
  }
  // Offsets are 32-bit: a request that would encode to 4 GiB (a huge
  // resource copied into each of many traces) goes the model way.
  if (bytes > UINT32_MAX || spans_buf.size() > UINT32_MAX) return NotHandled();
  std::string& buf = et.buffer;
  buf.reserve(bytes);
  et.traces.reserve(traces.size());
  et.spans.reserve(recs.size());
  // The buffer is the store's WAL record of all the traces (encoded.h).
  buf.push_back(static_cast<char>(kWalTracesRecord));
  PutUvarint(buf, traces.size());
  for (const TraceAcc& t : traces) {
    // The record's size first, for its length prefix.
    size_t size = 16 + coding::UvarintLength(t.min_start) +
                  coding::UvarintLength(t.resources.size()) +
                  coding::UvarintLength(t.scopes.size()) + coding::UvarintLength(t.n);
    for (uint32_t r : t.resources) size += resources[r].size;
    for (uint32_t s : t.scopes) size += scopes[s].size;
    for (uint32_t i = t.first; i != kNone; i = recs[i].next) {
      const SpanRec& r = recs[i];
      size += (r.end - r.offset) + coding::UvarintLength(r.start - t.min_start) +
              coding::UvarintLength(r.ri) + coding::UvarintLength(r.si);
    }
    PutUvarint(buf, size);
    EncodedTraces::Entry e;
    e.offset = static_cast<uint32_t>(buf.size());
    e.first_span = static_cast<uint32_t>(et.spans.size());
    e.num_spans = t.n;
    buf.append(t.id.data(), 16);
    PutUvarint(buf, t.min_start);
    PutUvarint(buf, t.resources.size());
    for (uint32_t r : t.resources) {
      buf.append(tables.data() + resources[r].offset, resources[r].size);
    }
    PutUvarint(buf, t.scopes.size());
    for (uint32_t s : t.scopes) buf.append(tables.data() + scopes[s].offset, scopes[s].size);
    PutUvarint(buf, t.n);
    for (uint32_t i = t.first; i != kNone; i = recs[i].next) {
      const SpanRec& r = recs[i];
      buf.append(spans_buf.data() + r.offset, r.split - r.offset);
      PutUvarint(buf, r.start - t.min_start);
      buf.append(spans_buf.data() + r.split, r.end - r.split);
      PutUvarint(buf, r.ri);
      PutUvarint(buf, r.si);
      et.spans.push_back(r.view);
      et.spans.back().service = services[r.resource];
    }
    e.size = static_cast<uint32_t>(buf.size() - e.offset);
    if (e.size != size) return InternalError("wire encoder: a trace record's size was mispredicted");
    et.traces.push_back(e);
  }
  et.framed = true;
  result.truncated_values = wr.truncated;
  result.messages.assign(messages.begin(), messages.end());
  return result;
}

}  // namespace sightline::traces::ingest
