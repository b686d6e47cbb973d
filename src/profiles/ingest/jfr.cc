#include "profiles/ingest/jfr.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

namespace sightline::profiles {

namespace {

namespace pp = perftools::profiles;

constexpr size_t kHeaderSize = 68;
constexpr int kMaxDepth = 24;
constexpr int64_t kMetadataTypeId = 0;
constexpr int64_t kConstantPoolTypeId = 1;

// --- byte reader ---

class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end, bool compressed)
      : p_(begin), end_(end), compressed_(compressed) {}

  bool ok() const { return !failed_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* pos() const { return p_; }
  void Fail() {
    failed_ = true;
    p_ = end_;
  }

  uint8_t U8() {
    if (p_ >= end_) {
      Fail();
      return 0;
    }
    return *p_++;
  }
  uint64_t BigEndian(int n) {
    if (remaining() < static_cast<size_t>(n)) {
      Fail();
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | *p_++;
    return v;
  }
  // LEB128 as JFR writes it: 7 bits per byte, the 9th byte carries 8.
  int64_t VarLong() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      uint8_t b = U8();
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return static_cast<int64_t>(v);
    }
    v |= static_cast<uint64_t>(U8()) << 56;
    return static_cast<int64_t>(v);
  }
  int64_t Long() { return compressed_ ? VarLong() : static_cast<int64_t>(BigEndian(8)); }
  int32_t Int() {
    return compressed_ ? static_cast<int32_t>(VarLong()) : static_cast<int32_t>(BigEndian(4));
  }
  int16_t Short() {
    return compressed_ ? static_cast<int16_t>(VarLong()) : static_cast<int16_t>(BigEndian(2));
  }
  uint16_t Char() {
    return compressed_ ? static_cast<uint16_t>(VarLong()) : static_cast<uint16_t>(BigEndian(2));
  }
  // A length that must fit in what remains (each unit at least one byte).
  int64_t Length() {
    int64_t n = Int();
    if (n < 0 || static_cast<uint64_t>(n) > remaining()) {
      Fail();
      return 0;
    }
    return n;
  }
  std::string_view Bytes(size_t n) {
    if (remaining() < n) {
      Fail();
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool compressed_;
  bool failed_ = false;
};

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xe0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

// --- schema (from the metadata event) ---

enum class Prim : uint8_t {
  kObject,
  kBool,
  kChar,
  kByte,
  kShort,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kString,
};

Prim PrimOf(std::string_view name) {
  if (name == "boolean") return Prim::kBool;
  if (name == "char") return Prim::kChar;
  if (name == "byte") return Prim::kByte;
  if (name == "short") return Prim::kShort;
  if (name == "int") return Prim::kInt;
  if (name == "long") return Prim::kLong;
  if (name == "float") return Prim::kFloat;
  if (name == "double") return Prim::kDouble;
  if (name == "java.lang.String") return Prim::kString;
  return Prim::kObject;
}

struct FieldDef {
  std::string name;
  int64_t type = 0;
  bool cp = false;
  bool array = false;
};

struct ClassDef {
  std::string name;
  Prim prim = Prim::kObject;
  std::vector<FieldDef> fields;
  int Field(std::string_view n) const {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == n) return static_cast<int>(i);
    }
    return -1;
  }
};

// --- decoded values: an arena of small nodes ---

enum class Kind : uint8_t { kNull, kInt, kFloat, kStr, kStrRef, kRef, kObj, kArr };

struct Val {
  int64_t i = 0;   // int, float bits, string index, ref key, first child
  uint32_t n = 0;  // children of kObj / kArr
  Kind kind = Kind::kNull;
};

struct MetaElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<MetaElement> children;
  std::string_view Attr(std::string_view k) const {
    for (const auto& [ak, av] : attrs) {
      if (ak == k) return av;
    }
    return {};
  }
};

class ChunkParser {
 public:
  ChunkParser(const uint8_t* chunk, size_t size, bool compressed, size_t max_values)
      : chunk_(chunk), size_(size), compressed_(compressed), max_values_(max_values) {}

  Status ParseMetadata(uint64_t offset);
  Status ParseConstantPools(uint64_t offset);

  // Decodes one value of `type` from `r` into the arena.
  bool ReadValue(Reader& r, int64_t type, bool cp, bool array, int depth, Val* out);

  const ClassDef* Class(int64_t id) const {
    auto it = classes_.find(id);
    return it == classes_.end() ? nullptr : &it->second;
  }
  const std::unordered_map<int64_t, ClassDef>& classes() const { return classes_; }

  // Follows a constant-pool ref of `type`; the value itself otherwise.
  const Val* Resolve(const Val& v, int64_t type) const {
    if (v.kind != Kind::kRef) return &v;
    auto pit = pools_.find(type);
    if (pit == pools_.end()) return nullptr;
    auto it = pit->second.find(v.i);
    return it == pit->second.end() ? nullptr : &vals_[it->second];
  }
  // The field `name` of object `obj` of class `cls` (resolved), or nullptr.
  const Val* Get(const ClassDef& cls, const Val& obj, std::string_view name,
                 const ClassDef** field_class = nullptr) const {
    if (obj.kind != Kind::kObj) return nullptr;
    int f = cls.Field(name);
    if (f < 0 || static_cast<uint32_t>(f) >= obj.n) return nullptr;
    const FieldDef& fd = cls.fields[f];
    if (field_class) *field_class = Class(fd.type);
    if (fd.array) return &vals_[obj.i + f];
    return Resolve(vals_[obj.i + f], fd.type);
  }
  std::string_view Str(const Val* v) const {
    if (!v) return {};
    if (v->kind == Kind::kStr) return strs_[v->i];
    if (v->kind == Kind::kStrRef || v->kind == Kind::kRef) {
      const Val* s = Resolve(Val{v->i, 0, Kind::kRef}, string_type_);
      if (s && s->kind == Kind::kStr) return strs_[s->i];
    }
    return {};
  }
  int64_t Int(const Val* v) const { return v && v->kind == Kind::kInt ? v->i : 0; }
  const Val& At(size_t i) const { return vals_[i]; }

  // Events reuse the arena above the constant pools.
  size_t Mark() const { return vals_.size(); }
  void Release(size_t mark, size_t str_mark) {
    vals_.resize(mark);
    strs_.resize(str_mark);
  }
  size_t StrMark() const { return strs_.size(); }
  // Decoding fails once the arena holds more than `limit` values.
  void SetLimit(size_t limit) { max_values_ = limit; }

  const uint8_t* chunk() const { return chunk_; }
  size_t size() const { return size_; }
  bool compressed() const { return compressed_; }

 private:
  bool ReadElement(Reader& r, const std::vector<std::string>& strings, int depth, MetaElement* out);
  void CollectClasses(const MetaElement& e, int depth);

  const uint8_t* chunk_;
  size_t size_;
  bool compressed_;
  size_t max_values_;
  std::unordered_map<int64_t, ClassDef> classes_;
  int64_t string_type_ = -1;
  std::vector<Val> vals_;
  std::vector<std::string> strs_;
  std::unordered_map<int64_t, std::unordered_map<int64_t, uint32_t>> pools_;  // type → key → val
};

bool ChunkParser::ReadElement(Reader& r, const std::vector<std::string>& strings, int depth,
                              MetaElement* out) {
  if (depth > kMaxDepth) return false;
  auto str = [&](int64_t i, std::string* s) {
    if (i < 0 || static_cast<size_t>(i) >= strings.size()) return false;
    *s = strings[i];
    return true;
  };
  if (!str(r.Int(), &out->name)) return false;
  int64_t nattrs = r.Length();
  for (int64_t i = 0; i < nattrs && r.ok(); ++i) {
    std::pair<std::string, std::string> kv;
    if (!str(r.Int(), &kv.first) || !str(r.Int(), &kv.second)) return false;
    out->attrs.push_back(std::move(kv));
  }
  int64_t nchildren = r.Length();
  for (int64_t i = 0; i < nchildren && r.ok(); ++i) {
    out->children.emplace_back();
    if (!ReadElement(r, strings, depth + 1, &out->children.back())) return false;
  }
  return r.ok();
}

void ChunkParser::CollectClasses(const MetaElement& e, int depth) {
  if (depth > kMaxDepth) return;
  if (e.name == "class") {
    int64_t id = 0;
    std::string_view ids = e.Attr("id");
    if (std::from_chars(ids.data(), ids.data() + ids.size(), id).ec != std::errc()) return;
    ClassDef c;
    c.name = std::string(e.Attr("name"));
    c.prim = PrimOf(c.name);
    for (const auto& f : e.children) {
      if (f.name != "field") continue;
      FieldDef fd;
      fd.name = std::string(f.Attr("name"));
      std::string_view t = f.Attr("class");
      if (std::from_chars(t.data(), t.data() + t.size(), fd.type).ec != std::errc()) continue;
      fd.cp = f.Attr("constantPool") == "true";
      fd.array = !f.Attr("dimension").empty() && f.Attr("dimension") != "0";
      c.fields.push_back(std::move(fd));
    }
    if (c.prim == Prim::kString) string_type_ = id;
    classes_[id] = std::move(c);
    return;
  }
  for (const auto& ch : e.children) CollectClasses(ch, depth + 1);
}

Status ChunkParser::ParseMetadata(uint64_t offset) {
  if (offset < kHeaderSize || offset >= size_) {
    return InvalidArgumentError("JFR chunk: metadata offset out of range");
  }
  Reader r(chunk_ + offset, chunk_ + size_, compressed_);
  int64_t size = r.Int();
  if (size <= 0 || static_cast<uint64_t>(size) > size_ - offset) {
    return InvalidArgumentError("JFR chunk: bad metadata event size");
  }
  Reader m(chunk_ + offset, chunk_ + offset + size, compressed_);
  m.Int();
  if (m.Long() != kMetadataTypeId) {
    return InvalidArgumentError("JFR chunk: the metadata offset does not hold a metadata event");
  }
  m.Long();  // start
  m.Long();  // duration
  m.Long();  // metadata id
  int64_t nstrings = m.Length();
  std::vector<std::string> strings;
  strings.reserve(static_cast<size_t>(nstrings));
  for (int64_t i = 0; i < nstrings && m.ok(); ++i) {
    uint8_t enc = m.U8();
    std::string s;
    switch (enc) {
      case 0:
      case 1:
        break;
      case 3:
      case 5: {
        std::string_view b = m.Bytes(static_cast<size_t>(m.Length()));
        if (enc == 3) {
          s.assign(b);
        } else {
          for (char c : b) AppendUtf8(static_cast<uint8_t>(c), &s);
        }
        break;
      }
      case 4: {
        int64_t n = m.Length();
        for (int64_t k = 0; k < n && m.ok(); ++k) AppendUtf8(m.Char(), &s);
        break;
      }
      default:
        return InvalidArgumentError(
            fmt::format("JFR metadata: unsupported string encoding {}", enc));
    }
    strings.push_back(std::move(s));
  }
  MetaElement root;
  if (!m.ok() || !ReadElement(m, strings, 0, &root)) {
    return InvalidArgumentError("JFR metadata: truncated or malformed element tree");
  }
  CollectClasses(root, 0);
  if (classes_.empty()) return InvalidArgumentError("JFR metadata: no classes");
  return Status::Ok();
}

bool ChunkParser::ReadValue(Reader& r, int64_t type, bool cp, bool array, int depth, Val* out) {
  if (depth > kMaxDepth || vals_.size() > max_values_ || !r.ok()) return false;
  if (array) {
    int64_t n = r.Length();
    if (!r.ok()) return false;
    size_t base = vals_.size();
    vals_.resize(base + static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      Val v;
      if (!ReadValue(r, type, cp, false, depth + 1, &v)) return false;
      vals_[base + k] = v;
    }
    *out = Val{static_cast<int64_t>(base), static_cast<uint32_t>(n), Kind::kArr};
    return true;
  }
  if (cp) {
    *out = Val{r.Long(), 0, Kind::kRef};
    return r.ok();
  }
  const ClassDef* c = Class(type);
  if (!c) return false;
  switch (c->prim) {
    case Prim::kBool:
    case Prim::kByte:
      *out = Val{static_cast<int8_t>(r.U8()), 0, Kind::kInt};
      return r.ok();
    case Prim::kChar:
      *out = Val{r.Char(), 0, Kind::kInt};
      return r.ok();
    case Prim::kShort:
      *out = Val{r.Short(), 0, Kind::kInt};
      return r.ok();
    case Prim::kInt:
      *out = Val{r.Int(), 0, Kind::kInt};
      return r.ok();
    case Prim::kLong:
      *out = Val{r.Long(), 0, Kind::kInt};
      return r.ok();
    case Prim::kFloat: {
      uint32_t bits = static_cast<uint32_t>(r.BigEndian(4));
      float f;
      std::memcpy(&f, &bits, 4);
      double d = f;
      int64_t i;
      std::memcpy(&i, &d, 8);
      *out = Val{i, 0, Kind::kFloat};
      return r.ok();
    }
    case Prim::kDouble:
      *out = Val{static_cast<int64_t>(r.BigEndian(8)), 0, Kind::kFloat};
      return r.ok();
    case Prim::kString: {
      uint8_t enc = r.U8();
      std::string s;
      switch (enc) {
        case 0:
          *out = Val{};
          return r.ok();
        case 1:
          break;
        case 2:
          *out = Val{r.Long(), 0, Kind::kStrRef};
          return r.ok();
        case 3:
          s.assign(r.Bytes(static_cast<size_t>(r.Length())));
          break;
        case 4: {
          int64_t n = r.Length();
          for (int64_t k = 0; k < n && r.ok(); ++k) AppendUtf8(r.Char(), &s);
          break;
        }
        case 5: {
          for (char ch : r.Bytes(static_cast<size_t>(r.Length()))) {
            AppendUtf8(static_cast<uint8_t>(ch), &s);
          }
          break;
        }
        default:
          return false;
      }
      if (!r.ok()) return false;
      strs_.push_back(std::move(s));
      *out = Val{static_cast<int64_t>(strs_.size() - 1), 0, Kind::kStr};
      return true;
    }
    case Prim::kObject: {
      const size_t n = c->fields.size();
      size_t base = vals_.size();
      vals_.resize(base + n);
      for (size_t k = 0; k < n; ++k) {
        const FieldDef& f = c->fields[k];
        Val v;
        if (!ReadValue(r, f.type, f.cp, f.array, depth + 1, &v)) return false;
        vals_[base + k] = v;
      }
      *out = Val{static_cast<int64_t>(base), static_cast<uint32_t>(n), Kind::kObj};
      return true;
    }
  }
  return false;
}

Status ChunkParser::ParseConstantPools(uint64_t offset) {
  int guard = 0;
  while (true) {
    if (offset < kHeaderSize || offset >= size_) {
      return InvalidArgumentError("JFR chunk: constant pool offset out of range");
    }
    if (++guard > 100000) return InvalidArgumentError("JFR chunk: constant pool chain loops");
    Reader r(chunk_ + offset, chunk_ + size_, compressed_);
    int64_t size = r.Int();
    if (size <= 0 || static_cast<uint64_t>(size) > size_ - offset) {
      return InvalidArgumentError("JFR chunk: bad constant pool event size");
    }
    Reader c(chunk_ + offset, chunk_ + offset + size, compressed_);
    c.Int();
    if (c.Long() != kConstantPoolTypeId) {
      return InvalidArgumentError("JFR chunk: constant pool chain points at another event");
    }
    c.Long();  // start
    c.Long();  // duration
    int64_t delta = c.Long();
    c.U8();  // flush / checkpoint type
    int64_t npools = c.Length();
    for (int64_t i = 0; i < npools && c.ok(); ++i) {
      int64_t type = c.Long();
      int64_t count = c.Length();
      const ClassDef* cls = Class(type);
      if (!cls) {
        return InvalidArgumentError(
            fmt::format("JFR constant pool: type {} is not in the metadata", type));
      }
      auto& pool = pools_[type];
      for (int64_t k = 0; k < count && c.ok(); ++k) {
        int64_t key = c.Long();
        Val v;
        if (!ReadValue(c, type, false, false, 0, &v)) {
          return InvalidArgumentError(
              vals_.size() > max_values_
                  ? std::string("JFR constant pool: too many values for the input size")
                  : fmt::format("JFR constant pool: cannot decode a {} constant", cls->name));
        }
        vals_.push_back(v);
        pool[key] = static_cast<uint32_t>(vals_.size() - 1);
      }
    }
    if (!c.ok()) return InvalidArgumentError("JFR constant pool: truncated event");
    if (delta == 0) break;
    int64_t next = static_cast<int64_t>(offset) + delta;
    if (next <= 0 || static_cast<uint64_t>(next) == offset) {
      return InvalidArgumentError("JFR chunk: bad constant pool delta");
    }
    offset = static_cast<uint64_t>(next);
  }
  return Status::Ok();
}

// --- pprof building ---

enum SampleKind {
  kCpu,
  kWall,
  kInTlab,
  kOutTlab,
  kAllocSample,
  kLock,
  kPark,
  kLive,
  kNumKinds,
};

struct KindDef {
  const char* metric;
  std::array<const char*, 4> types;  // type, unit, [type, unit]
  const char* period_type;
  const char* period_unit;
};

constexpr KindDef kKinds[kNumKinds] = {
    {"process_cpu", {"cpu", "nanoseconds", nullptr, nullptr}, "cpu", "nanoseconds"},
    {"wall", {"wall", "nanoseconds", nullptr, nullptr}, "wall", "nanoseconds"},
    {"memory",
     {"alloc_in_new_tlab_objects", "count", "alloc_in_new_tlab_bytes", "bytes"},
     "space",
     "bytes"},
    {"memory",
     {"alloc_outside_tlab_objects", "count", "alloc_outside_tlab_bytes", "bytes"},
     "space",
     "bytes"},
    {"memory", {"alloc_sample_objects", "count", "alloc_sample_bytes", "bytes"}, "space", "bytes"},
    {"mutex", {"contentions", "count", "delay", "nanoseconds"}, "mutex", "count"},
    {"block", {"contentions", "count", "delay", "nanoseconds"}, "block", "count"},
    {"memory", {"live", "count", nullptr, nullptr}, "objects", "count"},
};

struct Builder {
  pp::Profile p;
  std::unordered_map<std::string, int64_t> strings;
  std::unordered_map<std::string, uint64_t> functions;         // name → id
  std::map<std::pair<uint64_t, int64_t>, uint64_t> locations;  // (function, line) → id
  std::unordered_map<std::string, int> samples;                // stack+labels key → index
  int nvalues = 1;

  int64_t Str(std::string_view s) {
    auto [it, inserted] = strings.emplace(std::string(s), p.string_table_size());
    if (inserted) p.add_string_table(std::string(s));
    return it->second;
  }
  uint64_t Location(const std::string& fn, int64_t line) {
    auto [fit, fnew] = functions.emplace(fn, p.function_size() + 1);
    if (fnew) {
      auto* f = p.add_function();
      f->set_id(fit->second);
      f->set_name(Str(fn));
    }
    auto [lit, lnew] = locations.emplace(std::make_pair(fit->second, line), p.location_size() + 1);
    if (lnew) {
      auto* l = p.add_location();
      l->set_id(lit->second);
      l->set_mapping_id(1);
      auto* ln = l->add_line();
      ln->set_function_id(fit->second);
      ln->set_line(line);
    }
    return lit->second;
  }
};

std::unique_ptr<Builder> NewBuilder(SampleKind kind, const JfrOptions& o) {
  auto b = std::make_unique<Builder>();
  const KindDef& d = kKinds[kind];
  b->Str("");
  b->p.set_time_nanos(o.time_nanos);
  b->p.set_duration_nanos(o.duration_nanos);
  auto* m = b->p.add_mapping();
  m->set_id(1);
  m->set_has_functions(true);
  for (int i = 0; i < 4 && d.types[i]; i += 2) {
    auto* st = b->p.add_sample_type();
    st->set_type(b->Str(d.types[i]));
    st->set_unit(b->Str(d.types[i + 1]));
  }
  b->nvalues = b->p.sample_type_size();
  b->p.mutable_period_type()->set_type(b->Str(d.period_type));
  b->p.mutable_period_type()->set_unit(b->Str(d.period_unit));
  return b;
}

// Hidden JVM classes carry per-run suffixes (Foo$$Lambda$17/0x0000000800c0b000);
// drop them so that stacks merge across runs.
std::string NormalizeClassName(std::string_view n) {
  size_t lambda = n.find("$$Lambda$");
  if (lambda != std::string_view::npos) return std::string(n.substr(0, lambda + 9));
  size_t slash = n.find("/0x");
  if (slash != std::string_view::npos) return std::string(n.substr(0, slash));
  return std::string(n);
}

struct LabelsSnapshot {
  std::unordered_map<int64_t, std::vector<std::pair<int64_t, int64_t>>> contexts;
  std::unordered_map<int64_t, std::string> strings;
};

// map<int64, X> entries are messages {1: key, 2: value}.
bool ParseLabelsSnapshot(std::string_view data, LabelsSnapshot* out) {
  using google::protobuf::io::CodedInputStream;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()), static_cast<int>(data.size()));
  while (true) {
    if (in.CurrentPosition() == static_cast<int>(data.size())) return true;
    uint32_t tag = in.ReadTag();
    if (tag == 0) return false;
    uint32_t field = tag >> 3;
    if ((tag & 7) != 2) return false;
    uint32_t len;
    if (!in.ReadVarint32(&len)) return false;
    std::string entry;
    if (!in.ReadString(&entry, static_cast<int>(len))) return false;
    CodedInputStream e(reinterpret_cast<const uint8_t*>(entry.data()),
                       static_cast<int>(entry.size()));
    int64_t key = 0;
    std::string value;
    while (uint32_t t = e.ReadTag()) {
      if (t == (1 << 3)) {
        uint64_t k;
        if (!e.ReadVarint64(&k)) return false;
        key = static_cast<int64_t>(k);
      } else if (t == ((2 << 3) | 2)) {
        uint32_t vl;
        if (!e.ReadVarint32(&vl) || !e.ReadString(&value, static_cast<int>(vl))) return false;
      } else {
        return false;
      }
    }
    if (field == 2) {
      out->strings[key] = std::move(value);
    } else if (field == 1) {
      // Context { map<int64,int64> labels = 1; }
      auto& labels = out->contexts[key];
      CodedInputStream c(reinterpret_cast<const uint8_t*>(value.data()),
                         static_cast<int>(value.size()));
      while (uint32_t t = c.ReadTag()) {
        if (t != ((1 << 3) | 2)) return false;
        uint32_t ml;
        std::string me;
        if (!c.ReadVarint32(&ml) || !c.ReadString(&me, static_cast<int>(ml))) return false;
        CodedInputStream kv(reinterpret_cast<const uint8_t*>(me.data()),
                            static_cast<int>(me.size()));
        uint64_t k = 0, v = 0;
        while (uint32_t tt = kv.ReadTag()) {
          uint64_t x;
          if ((tt & 7) != 0 || !kv.ReadVarint64(&x)) return false;
          if (tt >> 3 == 1) k = x;
          if (tt >> 3 == 2) v = x;
        }
        labels.emplace_back(static_cast<int64_t>(k), static_cast<int64_t>(v));
      }
    }
  }
}

// Parses "10 ms", "20000000" (ns), "1 s" → nanoseconds; 0 if not a duration.
int64_t ParseJfrDuration(std::string_view s) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n <= 0) return 0;
  std::string_view unit = s.substr(p - s.data());
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit.empty() || unit == "ns") return n;
  if (unit == "us") return n * 1000;
  if (unit == "ms") return n * 1'000'000;
  if (unit == "s") return n * 1'000'000'000;
  return 0;
}

class Converter {
 public:
  Converter(const JfrOptions& o, const LabelsSnapshot* labels) : o_(o), labels_(labels) {}

  Status Chunk(const uint8_t* data, size_t size, size_t* consumed);
  void Finish(std::vector<JfrProfile>* out);

 private:
  void AddSample(ChunkParser& cp, SampleKind kind, const ClassDef& ec, const Val& ev, int64_t v0,
                 int64_t v1);
  int64_t Period() const {
    if (o_.sample_rate > 0) return 1'000'000'000 / o_.sample_rate;
    if (setting_period_ns_ > 0) return setting_period_ns_;
    return 10'000'000;
  }

  const JfrOptions& o_;
  const LabelsSnapshot* labels_;
  std::string event_;  // the recording's "event" setting (cpu, itimer, wall)
  int64_t setting_period_ns_ = 0;
  std::array<std::unique_ptr<Builder>, kNumKinds> builders_;
  std::unordered_map<int64_t, std::string> method_names_;  // per chunk
  int chunk_no_ = 0;
  int64_t ticks_per_second_ = 1'000'000'000;

  int64_t TicksToNanos(int64_t ticks) const {
    if (ticks_per_second_ <= 0 || ticks_per_second_ == 1'000'000'000) return ticks;
    return static_cast<int64_t>(static_cast<double>(ticks) * 1e9 /
                                static_cast<double>(ticks_per_second_));
  }
};

void Converter::AddSample(ChunkParser& cp, SampleKind kind, const ClassDef& ec, const Val& ev,
                          int64_t v0, int64_t v1) {
  int f = ec.Field("stackTrace");
  if (f < 0 || static_cast<uint32_t>(f) >= ev.n) return;
  const Val& st_ref = cp.At(ev.i + f);
  if (st_ref.kind != Kind::kRef) return;
  const ClassDef* st_cls = cp.Class(ec.fields[f].type);
  const Val* st = cp.Resolve(st_ref, ec.fields[f].type);
  if (!st_cls || !st) return;
  const ClassDef* frame_cls = nullptr;
  const Val* frames = cp.Get(*st_cls, *st, "frames", &frame_cls);
  if (!frames || frames->kind != Kind::kArr || !frame_cls) return;

  auto& b = builders_[kind];
  if (!b) b = NewBuilder(kind, o_);

  int64_t context_id = cp.Int(cp.Get(ec, ev, "contextId"));
  int64_t span_id = cp.Int(cp.Get(ec, ev, "spanId"));
  std::string key = fmt::format("{}:{}:{}:{}", chunk_no_, st_ref.i, context_id, span_id);
  auto sit = b->samples.find(key);
  if (sit != b->samples.end()) {
    auto* s = b->p.mutable_sample(sit->second);
    s->set_value(0, s->value(0) + v0);
    if (b->nvalues > 1) s->set_value(1, s->value(1) + v1);
    return;
  }
  auto* s = b->p.add_sample();
  for (uint32_t k = 0; k < frames->n; ++k) {
    const Val& fr = cp.At(frames->i + k);
    const ClassDef* method_cls = nullptr;
    int mf = frame_cls->Field("method");
    if (mf < 0 || fr.kind != Kind::kObj || static_cast<uint32_t>(mf) >= fr.n) continue;
    const Val& mref = cp.At(fr.i + mf);
    // -1 when the JVM has no line (native and some generated frames).
    int64_t line = std::max<int64_t>(0, cp.Int(cp.Get(*frame_cls, fr, "lineNumber")));
    auto nit = method_names_.find(mref.i);
    if (nit == method_names_.end()) {
      method_cls = cp.Class(frame_cls->fields[mf].type);
      const Val* m = cp.Resolve(mref, frame_cls->fields[mf].type);
      std::string name;
      if (method_cls && m) {
        const ClassDef* sym_cls = nullptr;
        const Val* msym = cp.Get(*method_cls, *m, "name", &sym_cls);
        std::string_view mname =
            sym_cls && msym ? cp.Str(cp.Get(*sym_cls, *msym, "string")) : std::string_view();
        const ClassDef* class_cls = nullptr;
        const Val* cls = cp.Get(*method_cls, *m, "type", &class_cls);
        std::string_view cname;
        if (class_cls && cls) {
          const ClassDef* csym_cls = nullptr;
          const Val* csym = cp.Get(*class_cls, *cls, "name", &csym_cls);
          if (csym_cls && csym) cname = cp.Str(cp.Get(*csym_cls, *csym, "string"));
        }
        name = cname.empty() ? std::string(mname)
                             : NormalizeClassName(cname) + "." + std::string(mname);
      }
      if (name.empty()) name = "<unknown>";
      nit = method_names_.emplace(mref.i, std::move(name)).first;
    }
    s->add_location_id(b->Location(nit->second, line));
  }
  s->add_value(v0);
  if (b->nvalues > 1) s->add_value(v1);
  if (labels_) {
    auto cit = labels_->contexts.find(context_id);
    if (context_id != 0 && cit != labels_->contexts.end()) {
      for (const auto& [k, v] : cit->second) {
        auto ks = labels_->strings.find(k);
        auto vs = labels_->strings.find(v);
        if (ks == labels_->strings.end() || vs == labels_->strings.end()) continue;
        auto* l = s->add_label();
        l->set_key(b->Str(ks->second));
        l->set_str(b->Str(vs->second));
      }
    }
    if (span_id != 0) {
      auto* l = s->add_label();
      l->set_key(b->Str("span_id"));
      l->set_str(b->Str(fmt::format("{:016x}", static_cast<uint64_t>(span_id))));
    }
  }
  b->samples.emplace(std::move(key), b->p.sample_size() - 1);
}

Status Converter::Chunk(const uint8_t* data, size_t avail, size_t* consumed) {
  if (avail < kHeaderSize || std::memcmp(data, "FLR\0", 4) != 0) {
    return InvalidArgumentError("not a JFR file: missing the FLR chunk magic");
  }
  Reader h(data + 4, data + kHeaderSize, false);
  const uint64_t major = h.BigEndian(2);
  h.BigEndian(2);  // minor
  const uint64_t size = h.BigEndian(8);
  const uint64_t cp_offset = h.BigEndian(8);
  const uint64_t meta_offset = h.BigEndian(8);
  h.BigEndian(8);  // start nanos
  h.BigEndian(8);  // duration nanos
  h.BigEndian(8);  // start ticks
  ticks_per_second_ = static_cast<int64_t>(h.BigEndian(8));
  const uint32_t features = static_cast<uint32_t>(h.BigEndian(4));
  if (major < 1 || major > 2) {
    return InvalidArgumentError(
        fmt::format("JFR version {} is not supported (want 1.x or 2.x)", major));
  }
  if (size < kHeaderSize || size > avail) {
    return InvalidArgumentError(
        fmt::format("JFR chunk size {} does not fit the {} bytes left", size, avail));
  }
  *consumed = size;
  const bool compressed = features & 1;
  ChunkParser cp(data, size, compressed, 2 * size + 65536);
  SL_RETURN_IF_ERROR(cp.ParseMetadata(meta_offset));
  SL_RETURN_IF_ERROR(cp.ParseConstantPools(cp_offset));
  method_names_.clear();
  ++chunk_no_;

  // Event classes by name, for this chunk.
  std::unordered_map<int64_t, int> handled;
  enum {
    kEvExec,
    kEvWallClock,
    kEvNewTlab,
    kEvOutTlab,
    kEvAllocSample,
    kEvMonitor,
    kEvPark,
    kEvLive,
    kEvSetting
  };
  static const std::pair<const char*, int> kEvents[] = {
      {"jdk.ExecutionSample", kEvExec},
      {"profiler.WallClockSample", kEvWallClock},
      {"jdk.ObjectAllocationInNewTLAB", kEvNewTlab},
      {"jdk.ObjectAllocationOutsideTLAB", kEvOutTlab},
      {"jdk.ObjectAllocationSample", kEvAllocSample},
      {"jdk.JavaMonitorEnter", kEvMonitor},
      {"jdk.ThreadPark", kEvPark},
      {"profiler.LiveObject", kEvLive},
      {"jdk.ActiveSetting", kEvSetting},
  };
  int64_t exec_type = -1;
  for (const auto& [id, c] : cp.classes()) {
    for (const auto& [n, k] : kEvents) {
      if (c.name == n) handled[id] = k;
    }
    if (c.name == "jdk.ExecutionSample") exec_type = id;
  }
  const size_t mark = cp.Mark(), str_mark = cp.StrMark();
  size_t pos = kHeaderSize;
  while (pos < size) {
    Reader r(data + pos, data + size, compressed);
    int64_t esize = r.Int();
    if (!r.ok() || esize <= 0 || static_cast<uint64_t>(esize) > size - pos) {
      return InvalidArgumentError(fmt::format("JFR chunk: bad event size at offset {}", pos));
    }
    int64_t type = r.Long();
    if (!r.ok()) return InvalidArgumentError("JFR chunk: truncated event header");
    auto hit = handled.find(type);
    if (type != kMetadataTypeId && type != kConstantPoolTypeId && hit != handled.end()) {
      const ClassDef* ec = cp.Class(type);
      Reader er(r.pos(), data + pos + esize, compressed);
      Val ev;
      // An event may expand to a few values per byte, no more.
      cp.SetLimit(mark + 8 * static_cast<size_t>(esize) + 256);
      if (!cp.ReadValue(er, type, false, false, 0, &ev)) {
        return InvalidArgumentError(
            fmt::format("JFR chunk: cannot decode a {} event at offset {}", ec->name, pos));
      }
      const int64_t period = Period();
      switch (hit->second) {
        case kEvExec: {
          const ClassDef* sc = nullptr;
          const Val* state = cp.Get(*ec, ev, "state", &sc);
          std::string_view state_name;
          if (state && sc) state_name = cp.Str(cp.Get(*sc, *state, "name"));
          if (state_name != "STATE_SLEEPING") AddSample(cp, kCpu, *ec, ev, period, 0);
          if (event_ == "wall") AddSample(cp, kWall, *ec, ev, period, 0);
          break;
        }
        case kEvWallClock: {
          int64_t n = cp.Int(cp.Get(*ec, ev, "samples"));
          AddSample(cp, kWall, *ec, ev, (n > 0 ? n : 1) * period, 0);
          break;
        }
        case kEvNewTlab:
          AddSample(cp, kInTlab, *ec, ev, 1, cp.Int(cp.Get(*ec, ev, "tlabSize")));
          break;
        case kEvOutTlab:
          AddSample(cp, kOutTlab, *ec, ev, 1, cp.Int(cp.Get(*ec, ev, "allocationSize")));
          break;
        case kEvAllocSample:
          AddSample(cp, kAllocSample, *ec, ev, 1, cp.Int(cp.Get(*ec, ev, "weight")));
          break;
        case kEvMonitor:
          AddSample(cp, kLock, *ec, ev, 1, TicksToNanos(cp.Int(cp.Get(*ec, ev, "duration"))));
          break;
        case kEvPark:
          AddSample(cp, kPark, *ec, ev, 1, TicksToNanos(cp.Int(cp.Get(*ec, ev, "duration"))));
          break;
        case kEvLive:
          AddSample(cp, kLive, *ec, ev, 1, 0);
          break;
        case kEvSetting: {
          std::string_view name = cp.Str(cp.Get(*ec, ev, "name"));
          std::string_view value = cp.Str(cp.Get(*ec, ev, "value"));
          if (name == "event") event_ = std::string(value);
          if (name == "period" && cp.Int(cp.Get(*ec, ev, "id")) == exec_type) {
            if (int64_t ns = ParseJfrDuration(value); ns > 0) setting_period_ns_ = ns;
          }
          if (name == "interval" && cp.Int(cp.Get(*ec, ev, "id")) == exec_type) {
            if (int64_t ns = ParseJfrDuration(value); ns > 0) setting_period_ns_ = ns;
          }
          break;
        }
      }
      cp.Release(mark, str_mark);
    }
    pos += static_cast<size_t>(esize);
  }
  return Status::Ok();
}

void Converter::Finish(std::vector<JfrProfile>* out) {
  for (int k = 0; k < kNumKinds; ++k) {
    auto& b = builders_[k];
    if (!b || b->p.sample_size() == 0) continue;
    const int64_t period = k == kCpu || k == kWall ? Period() : 1;
    b->p.set_period(period);
    JfrProfile jp;
    jp.name = kKinds[k].metric;
    jp.profile = std::move(b->p);
    out->push_back(std::move(jp));
  }
}

}  // namespace

Status ParseJfr(std::string_view jfr, std::string_view labels_snapshot, const JfrOptions& options,
                std::vector<JfrProfile>* out) {
  LabelsSnapshot labels;
  const bool has_labels = !labels_snapshot.empty();
  if (has_labels && !ParseLabelsSnapshot(labels_snapshot, &labels)) {
    return InvalidArgumentError("cannot decode the labels part (a LabelsSnapshot protobuf)");
  }
  if (jfr.empty()) return InvalidArgumentError("empty JFR body");
  Converter conv(options, has_labels ? &labels : nullptr);
  const auto* data = reinterpret_cast<const uint8_t*>(jfr.data());
  size_t pos = 0;
  while (pos < jfr.size()) {
    size_t consumed = 0;
    Status s = conv.Chunk(data + pos, jfr.size() - pos, &consumed);
    if (!s.ok()) return s;
    pos += consumed;
  }
  conv.Finish(out);
  return Status::Ok();
}

}  // namespace sightline::profiles
