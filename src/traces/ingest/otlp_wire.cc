#include "traces/ingest/otlp_wire.h"

#include <cstring>
#include <optional>
#include <set>
#include <unordered_map>

#include "traces/ingest/ids.h"

// Field numbers from the OTLP protos (proto/opentelemetry/...); the comments
// name the field.
namespace sightline::traces::ingest {

namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

constexpr int kMaxDepth = 64;

bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII fast path, 8 bytes at a time.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, surrogates, beyond U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

// A cursor over one message's bytes. Every method returns false on
// malformed input.
class Wire {
 public:
  explicit Wire(std::string_view b)
      : p_(reinterpret_cast<const uint8_t*>(b.data())), end_(p_ + b.size()) {}

  bool Done() const { return p_ >= end_; }

  bool Varint(uint64_t* v) {
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

struct Parser {
  const ConvertOptions& options;
  uint64_t truncated = 0;

  void Cut(std::string* s) {
    if (options.max_attribute_value_bytes > 0 && s->size() > options.max_attribute_value_bytes) {
      TruncateUtf8(s, options.max_attribute_value_bytes);
      ++truncated;
    }
  }

  // A proto3 `string` field: valid UTF-8 or the protobuf path decides.
  static bool Str(Wire& w, std::string* out) {
    std::string_view s;
    if (!w.Len(&s) || !ValidUtf8(s)) return false;
    out->assign(s.data(), s.size());
    return true;
  }
  static bool Bytes(Wire& w, std::string* out) {
    std::string_view s;
    if (!w.Len(&s)) return false;
    out->assign(s.data(), s.size());
    return true;
  }
  static bool U32(Wire& w, uint32_t* out) {
    uint64_t v;
    if (!w.Varint(&v)) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }
  static bool Enum(Wire& w, int* out) {
    uint64_t v;
    if (!w.Varint(&v)) return false;
    *out = static_cast<int32_t>(v);
    return true;
  }

  bool Value(std::string_view b, AttributeValue* out, int depth) {
    if (depth > kMaxDepth) return false;
    Wire w(b);
    bool seen = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f >= 1 && f <= 7) {
        if (seen) return false;  // a oneof set twice: protobuf's rules decide
        seen = true;
      }
      std::string_view sub;
      uint64_t u;
      switch (f) {
        case 1:  // string_value
        case 7: {  // bytes_value
          if (wt != kLen) break;
          std::string s;
          if (!(f == 1 ? Str(w, &s) : Bytes(w, &s))) return false;
          Cut(&s);
          out->v = std::move(s);
          out->is_bytes = f == 7;
          continue;
        }
        case 2:  // bool_value
          if (wt != kVarint) break;
          if (!w.Varint(&u)) return false;
          out->v = u != 0;
          continue;
        case 3:  // int_value
          if (wt != kVarint) break;
          if (!w.Varint(&u)) return false;
          out->v = static_cast<int64_t>(u);
          continue;
        case 4: {  // double_value
          if (wt != kFixed64) break;
          if (!w.Fixed64(&u)) return false;
          double d;
          std::memcpy(&d, &u, 8);
          out->v = d;
          continue;
        }
        case 5: {  // array_value: ArrayValue{repeated AnyValue values = 1}
          if (wt != kLen || !w.Len(&sub)) return false;
          ArrayValue arr;
          Wire a(sub);
          while (!a.Done()) {
            uint32_t af;
            int awt;
            if (!a.Tag(&af, &awt)) return false;
            if (af == 1 && awt == kLen) {
              std::string_view e;
              if (!a.Len(&e)) return false;
              arr.emplace_back();
              if (!Value(e, &arr.back(), depth + 1)) return false;
            } else if (!a.Skip(awt)) {
              return false;
            }
          }
          out->v = std::move(arr);
          continue;
        }
        case 6: {  // kvlist_value: KeyValueList{repeated KeyValue values = 1}
          if (wt != kLen || !w.Len(&sub)) return false;
          KeyValueList kvs;
          if (!Attrs(sub, 1, &kvs, depth + 1)) return false;
          out->v = std::move(kvs);
          continue;
        }
        default:
          break;
      }
      // Unknown field, or a known one with another wire type (protobuf
      // keeps those as unknown fields too).
      if (f >= 1 && f <= 7) return false;
      if (!w.Skip(wt)) return false;
    }
    return true;
  }

  // KeyValue{string key = 1; AnyValue value = 2}.
  bool KV(std::string_view b, KeyValue* out, int depth) {
    Wire w(b);
    bool value_seen = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!Str(w, &out->key)) return false;
      } else if (f == 2 && wt == kLen) {
        std::string_view v;
        if (value_seen || !w.Len(&v)) return false;  // a repeated message: merged by protobuf
        value_seen = true;
        if (!Value(v, &out->value, depth + 1)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // Reads one length-delimited KeyValue at `w` and appends it to `out`.
  bool AppendKV(Wire& w, std::vector<KeyValue>* out, int depth) {
    std::string_view kv;
    if (!w.Len(&kv)) return false;
    out->emplace_back();
    return KV(kv, &out->back(), depth);
  }

  // Appends the KeyValues of `field` of message `b` (other fields ignored).
  bool Attrs(std::string_view b, uint32_t field, std::vector<KeyValue>* out, int depth) {
    if (depth > kMaxDepth) return false;
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == field && wt == kLen) {
        if (!AppendKV(w, out, depth)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // Resource{repeated KeyValue attributes = 1; uint32 dropped = 2;
  // repeated EntityRef entity_refs = 3}.
  bool ParseResource(std::string_view b, Resource* r) {
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!AppendKV(w, &r->attributes, 0)) return false;
      } else if (f == 2 && wt == kVarint) {
        if (!U32(w, &r->dropped_attributes_count)) return false;
      } else if (f == 3) {
        return false;  // entity refs hold strings protobuf validates
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // InstrumentationScope{name = 1; version = 2; attributes = 3; dropped = 4}.
  bool ParseScope(std::string_view b, Scope* s) {
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!Str(w, &s->name)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!Str(w, &s->version)) return false;
      } else if (f == 3 && wt == kLen) {
        if (!AppendKV(w, &s->attributes, 0)) return false;
      } else if (f == 4 && wt == kVarint) {
        if (!U32(w, &s->dropped_attributes_count)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  bool ParseEvent(std::string_view b, Event* e) {
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kFixed64) {
        if (!w.Fixed64(&e->time_unix_nano)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!Str(w, &e->name)) return false;
      } else if (f == 3 && wt == kLen) {
        if (!AppendKV(w, &e->attributes, 0)) return false;
      } else if (f == 4 && wt == kVarint) {
        if (!U32(w, &e->dropped_attributes_count)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  bool ParseLink(std::string_view b, Link* l) {
    Wire w(b);
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      if (f == 1 && wt == kLen) {
        if (!Bytes(w, &l->trace_id)) return false;
      } else if (f == 2 && wt == kLen) {
        if (!Bytes(w, &l->span_id)) return false;
      } else if (f == 3 && wt == kLen) {
        if (!Str(w, &l->trace_state)) return false;
      } else if (f == 4 && wt == kLen) {
        if (!AppendKV(w, &l->attributes, 0)) return false;
      } else if (f == 5 && wt == kVarint) {
        if (!U32(w, &l->dropped_attributes_count)) return false;
      } else if (f == 6 && wt == kFixed32) {
        if (!w.Fixed32(&l->flags)) return false;
      } else if (!w.Skip(wt)) {
        return false;
      }
    }
    return true;
  }

  // Span fields except the ids (read by the caller first).
  bool ParseSpan(std::string_view b, Span* s, std::string* trace_id, std::string* parent) {
    Wire w(b);
    bool status_seen = false;
    while (!w.Done()) {
      uint32_t f;
      int wt;
      if (!w.Tag(&f, &wt)) return false;
      bool ok = true;
      switch (f) {
        case 1: if (wt != kLen) goto unknown; ok = Bytes(w, trace_id); break;
        case 2: if (wt != kLen) goto unknown; ok = Bytes(w, &s->span_id); break;
        case 3: if (wt != kLen) goto unknown; ok = Str(w, &s->trace_state); break;
        case 4: if (wt != kLen) goto unknown; ok = Bytes(w, parent); break;
        case 5: if (wt != kLen) goto unknown; ok = Str(w, &s->name); break;
        case 6: if (wt != kVarint) goto unknown; ok = Enum(w, &s->kind); break;
        case 7: if (wt != kFixed64) goto unknown; ok = w.Fixed64(&s->start_unix_nano); break;
        case 8: if (wt != kFixed64) goto unknown; ok = w.Fixed64(&s->end_unix_nano); break;
        case 9: {
          if (wt != kLen) goto unknown;
          ok = AppendKV(w, &s->attributes, 0);
          break;
        }
        case 10: if (wt != kVarint) goto unknown; ok = U32(w, &s->dropped_attributes_count); break;
        case 11: {
          if (wt != kLen) goto unknown;
          std::string_view e;
          if (!w.Len(&e)) return false;
          s->events.emplace_back();
          ok = ParseEvent(e, &s->events.back());
          break;
        }
        case 12: if (wt != kVarint) goto unknown; ok = U32(w, &s->dropped_events_count); break;
        case 13: {
          if (wt != kLen) goto unknown;
          std::string_view l;
          if (!w.Len(&l)) return false;
          s->links.emplace_back();
          ok = ParseLink(l, &s->links.back());
          break;
        }
        case 14: if (wt != kVarint) goto unknown; ok = U32(w, &s->dropped_links_count); break;
        case 15: {  // Status{string message = 2; StatusCode code = 3}
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
              ok = Str(sw, &s->status_message);
            } else if (sf == 3 && swt == kVarint) {
              ok = Enum(sw, &s->status_code);
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
};

// Reads the singular message `field` and the string `schema_field` of a
// message whose other fields are handled by the caller's second pass.
bool Header(std::string_view b, uint32_t field, std::string_view* msg, bool* has_msg,
            std::string* schema_url) {
  Wire w(b);
  *has_msg = false;
  while (!w.Done()) {
    uint32_t f;
    int wt;
    if (!w.Tag(&f, &wt)) return false;
    if (f == field && wt == kLen) {
      if (*has_msg || !w.Len(msg)) return false;  // repeated: merged by protobuf
      *has_msg = true;
    } else if (f == 3 && wt == kLen) {
      if (!Parser::Str(w, schema_url)) return false;
    } else if (!w.Skip(wt)) {
      return false;
    }
  }
  return true;
}

Status NotHandled() { return InvalidArgumentError("not handled by the wire converter"); }

}  // namespace

Result<ConvertResult> TracesFromOtlpWire(std::string_view body, const ConvertOptions& options) {
  ConvertResult result;
  Parser parser{options};
  std::unordered_map<std::string, size_t> by_id;
  std::set<std::string> messages;

  Wire req(body);
  while (!req.Done()) {
    uint32_t f;
    int wt;
    if (!req.Tag(&f, &wt)) return NotHandled();
    if (f != 1 || wt != kLen) {
      if (!req.Skip(wt)) return NotHandled();
      continue;
    }
    std::string_view rs;  // ResourceSpans{resource = 1; scope_spans = 2; schema_url = 3}
    if (!req.Len(&rs)) return NotHandled();
    std::string_view resource_bytes;
    bool has_resource;
    std::string rs_schema;
    if (!Header(rs, 1, &resource_bytes, &has_resource, &rs_schema)) return NotHandled();
    // As TracesFromOtlp: each trace gets its own copy of the resource (and
    // scope) the first time one of its spans uses it.
    std::optional<Resource> resource;
    std::unordered_map<size_t, uint32_t> resource_index;
    Wire rw(rs);
    while (!rw.Done()) {
      if (!rw.Tag(&f, &wt)) return NotHandled();
      if (f != 2 || wt != kLen) {
        if (!rw.Skip(wt)) return NotHandled();
        continue;
      }
      std::string_view ss;  // ScopeSpans{scope = 1; spans = 2; schema_url = 3}
      if (!rw.Len(&ss)) return NotHandled();
      std::string_view scope_bytes;
      bool has_scope;
      std::string ss_schema;
      if (!Header(ss, 1, &scope_bytes, &has_scope, &ss_schema)) return NotHandled();
      std::optional<Scope> scope;
      std::unordered_map<size_t, uint32_t> scope_index;
      Wire sw(ss);
      std::string trace_id, parent;
      while (!sw.Done()) {
        if (!sw.Tag(&f, &wt)) return NotHandled();
        if (f != 2 || wt != kLen) {
          if (!sw.Skip(wt)) return NotHandled();
          continue;
        }
        std::string_view sp;
        if (!sw.Len(&sp)) return NotHandled();
        Span s;
        trace_id.clear();
        parent.clear();
        const uint64_t truncated = parser.truncated;
        if (!parser.ParseSpan(sp, &s, &trace_id, &parent)) return NotHandled();
        // A rejected span's values are not counted as truncated (the
        // protobuf path never converts them).
        if (trace_id.size() != 16 || IsZeroId(trace_id)) {
          parser.truncated = truncated;
          ++result.rejected_spans;
          messages.insert("span with an invalid trace id (want 16 bytes, not all zero)");
          continue;
        }
        if (s.span_id.size() != 8 || IsZeroId(s.span_id)) {
          parser.truncated = truncated;
          ++result.rejected_spans;
          messages.insert("span with an invalid span id (want 8 bytes, not all zero)");
          continue;
        }
        auto [it, inserted] = by_id.try_emplace(trace_id, result.traces.size());
        if (inserted) {
          result.traces.emplace_back();
          result.traces.back().trace_id = trace_id;
        }
        size_t ti = it->second;
        Trace& t = result.traces[ti];
        auto ri = resource_index.find(ti);
        if (ri == resource_index.end()) {
          if (!resource) {
            resource.emplace();
            if (has_resource && !parser.ParseResource(resource_bytes, &*resource)) {
              return NotHandled();
            }
            resource->schema_url = rs_schema;
          }
          t.resources.push_back(*resource);
          ri = resource_index.emplace(ti, static_cast<uint32_t>(t.resources.size() - 1)).first;
        }
        auto si = scope_index.find(ti);
        if (si == scope_index.end()) {
          if (!scope) {
            scope.emplace();
            if (has_scope && !parser.ParseScope(scope_bytes, &*scope)) return NotHandled();
            scope->schema_url = ss_schema;
          }
          t.scopes.push_back(*scope);
          si = scope_index.emplace(ti, static_cast<uint32_t>(t.scopes.size() - 1)).first;
        }
        if (parent.size() == 8 && !IsZeroId(parent)) s.parent_span_id = parent;
        s.resource_index = ri->second;
        s.scope_index = si->second;
        t.spans.push_back(std::move(s));
        ++result.spans;
      }
      // A scope whose spans were all rejected was never parsed: it must
      // still be valid for the protobuf path to accept the request.
      if (!scope && has_scope) {
        Scope unused;
        uint64_t truncated = parser.truncated;
        if (!parser.ParseScope(scope_bytes, &unused)) return NotHandled();
        parser.truncated = truncated;
      }
    }
    if (!resource && has_resource) {
      Resource unused;
      uint64_t truncated = parser.truncated;
      if (!parser.ParseResource(resource_bytes, &unused)) return NotHandled();
      parser.truncated = truncated;
    }
  }
  // Truncations are counted as TracesFromOtlp does: the resource and scope
  // once per ResourceSpans/ScopeSpans with accepted spans.
  result.truncated_values = parser.truncated;
  result.messages.assign(messages.begin(), messages.end());
  return result;
}

}  // namespace sightline::traces::ingest
