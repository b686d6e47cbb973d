#include "profiles/store/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "base/coding.h"

namespace sightline::profiles {

namespace {

constexpr uint32_t kSegmentMagic = 0x50524F46;  // "PROF"
constexpr uint32_t kSegmentVersion = 1;

void PutString(std::string* out, std::string_view s) { coding::PutLengthPrefixed(*out, s); }

std::string SeriesKey(const Labels& labels) {
  std::string key;
  for (const auto& [n, v] : labels) {
    coding::PutLengthPrefixed(key, n);
    coding::PutLengthPrefixed(key, v);
  }
  return key;
}

void GoQuote(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    if (c == '\n') {
      out->append("\\n");
      continue;
    }
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

std::string_view LabelValue(const Labels& labels, std::string_view name) {
  for (const auto& [n, v] : labels) {
    if (n == name) return v;
  }
  return {};
}

void NormalizeLabels(Labels* labels) {
  std::stable_sort(labels->begin(), labels->end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Labels out;
  out.reserve(labels->size());
  for (auto& l : *labels) {
    if (!out.empty() && out.back().first == l.first) {
      out.back().second = std::move(l.second);
    } else {
      out.push_back(std::move(l));
    }
  }
  *labels = std::move(out);
}

std::string LabelsToString(const Labels& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ", ";
    out += labels[i].first;
    out += '=';
    GoQuote(&out, labels[i].second);
  }
  out += '}';
  return out;
}

std::string ProfileType::Id() const {
  return fmt::format("{}:{}:{}:{}:{}", name, sample_type, sample_unit, period_type, period_unit);
}

Result<ProfileType> ProfileType::Parse(std::string_view id) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t c = id.find(':', start);
    parts.emplace_back(id.substr(start, c == std::string_view::npos ? id.npos : c - start));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  if (parts.size() != 5) {
    return InvalidArgumentError(fmt::format(
        "profile type must be of the form <name>:<type>:<unit>:<period_type>:<period_unit>, got "
        "\"{}\"",
        id));
  }
  return ProfileType{parts[0], parts[1], parts[2], parts[3], parts[4]};
}

// --- SymbolTable ---

SymbolTable::SymbolTable() {
  strings_.push_back("");
  string_ids_.emplace("", 0);
  nodes_.push_back({0, 0});
}

uint32_t SymbolTable::String(std::string_view s) {
  auto it = string_ids_.find(std::string(s));
  if (it != string_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  string_ids_.emplace(strings_.back(), id);
  return id;
}

uint32_t SymbolTable::AddFunction(const Function& f) {
  std::string key;
  coding::PutUvarint(key, f.name);
  coding::PutUvarint(key, f.system_name);
  coding::PutUvarint(key, f.filename);
  coding::PutVarint(key, f.start_line);
  auto [it, inserted] = function_ids_.emplace(std::move(key), functions_.size());
  if (inserted) functions_.push_back(f);
  return it->second;
}

uint32_t SymbolTable::AddMapping(const Mapping& m) {
  std::string key;
  coding::PutUvarint(key, m.memory_start);
  coding::PutUvarint(key, m.memory_limit);
  coding::PutUvarint(key, m.file_offset);
  coding::PutUvarint(key, m.filename);
  coding::PutUvarint(key, m.build_id);
  auto [it, inserted] = mapping_ids_.emplace(std::move(key), mappings_.size());
  if (inserted) mappings_.push_back(m);
  return it->second;
}

uint32_t SymbolTable::AddLocation(const Location& l) {
  std::string key;
  coding::PutUvarint(key, l.mapping);
  // Symbolized locations are identified by their frames: addresses differ
  // between processes of the same binary (ASLR) and would defeat dedup.
  coding::PutUvarint(key, l.lines.empty() ? l.address : 0);
  for (const auto& line : l.lines) {
    coding::PutUvarint(key, line.function);
    coding::PutVarint(key, line.line);
  }
  auto [it, inserted] = location_ids_.emplace(std::move(key), locations_.size());
  if (inserted) locations_.push_back(l);
  return it->second;
}

uint32_t SymbolTable::StackChild(uint32_t parent, uint32_t location) {
  uint64_t key = (uint64_t{parent} << 32) | location;
  auto [it, inserted] = node_ids_.emplace(key, nodes_.size());
  if (inserted) nodes_.push_back({parent, location});
  return it->second;
}

void SymbolTable::Serialize(std::string* out) const {
  coding::PutUvarint(*out, strings_.size());
  for (const auto& s : strings_) PutString(out, s);
  coding::PutUvarint(*out, functions_.size());
  for (const auto& f : functions_) {
    coding::PutUvarint(*out, f.name);
    coding::PutUvarint(*out, f.system_name);
    coding::PutUvarint(*out, f.filename);
    coding::PutVarint(*out, f.start_line);
  }
  coding::PutUvarint(*out, mappings_.size());
  for (const auto& m : mappings_) {
    coding::PutUvarint(*out, m.memory_start);
    coding::PutUvarint(*out, m.memory_limit);
    coding::PutUvarint(*out, m.file_offset);
    coding::PutUvarint(*out, m.filename);
    coding::PutUvarint(*out, m.build_id);
  }
  coding::PutUvarint(*out, locations_.size());
  for (const auto& l : locations_) {
    coding::PutUvarint(*out, l.mapping);
    coding::PutUvarint(*out, l.address);
    coding::PutUvarint(*out, l.lines.size());
    for (const auto& line : l.lines) {
      coding::PutUvarint(*out, line.function);
      coding::PutVarint(*out, line.line);
    }
  }
  // Nodes: parent as a delta back from the node's own id (parents come
  // first), which keeps most deltas to one byte.
  coding::PutUvarint(*out, nodes_.size());
  for (size_t i = 1; i < nodes_.size(); ++i) {
    coding::PutUvarint(*out, i - nodes_[i].parent);
    coding::PutUvarint(*out, nodes_[i].location);
  }
}

Status SymbolTable::Parse(std::string_view* in) {
  coding::Reader r(*in);
  auto bad = [](const char* what) {
    return DataLossError(fmt::format("profiles segment: bad symbol table ({})", what));
  };
  uint64_t n = r.Uvarint();
  if (!r.ok() || n == 0 || n > r.remaining() + 1) return bad("strings");
  strings_.clear();
  strings_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) strings_.emplace_back(r.LengthPrefixed());
  n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return bad("functions");
  functions_.resize(n);
  for (auto& f : functions_) {
    f.name = static_cast<uint32_t>(r.Uvarint());
    f.system_name = static_cast<uint32_t>(r.Uvarint());
    f.filename = static_cast<uint32_t>(r.Uvarint());
    f.start_line = r.Varint();
    if (f.name >= strings_.size() || f.system_name >= strings_.size() ||
        f.filename >= strings_.size()) {
      return bad("function string");
    }
  }
  n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return bad("mappings");
  mappings_.resize(n);
  for (auto& m : mappings_) {
    m.memory_start = r.Uvarint();
    m.memory_limit = r.Uvarint();
    m.file_offset = r.Uvarint();
    m.filename = static_cast<uint32_t>(r.Uvarint());
    m.build_id = static_cast<uint32_t>(r.Uvarint());
    if (m.filename >= strings_.size() || m.build_id >= strings_.size()) return bad("mapping");
  }
  n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return bad("locations");
  locations_.resize(n);
  for (auto& l : locations_) {
    l.mapping = static_cast<uint32_t>(r.Uvarint());
    l.address = r.Uvarint();
    uint64_t lines = r.Uvarint();
    if (!r.ok() || lines > r.remaining() || l.mapping > mappings_.size()) return bad("location");
    l.lines.resize(lines);
    for (auto& line : l.lines) {
      line.function = static_cast<uint32_t>(r.Uvarint());
      line.line = r.Varint();
      if (line.function >= functions_.size()) return bad("line");
    }
  }
  n = r.Uvarint();
  if (!r.ok() || n == 0 || n > r.remaining() + 1) return bad("nodes");
  nodes_.assign(1, {0, 0});
  nodes_.reserve(n);
  for (uint64_t i = 1; i < n; ++i) {
    uint64_t delta = r.Uvarint();
    uint64_t loc = r.Uvarint();
    if (!r.ok() || delta == 0 || delta > i || loc >= locations_.size()) return bad("node");
    nodes_.push_back({static_cast<uint32_t>(i - delta), static_cast<uint32_t>(loc)});
  }
  if (!r.ok()) return bad("truncated");
  *in = r.rest();
  RebuildIndexes();
  return Status::Ok();
}

void SymbolTable::RebuildIndexes() {
  // Blocks are read-only, but a parsed segment may also be the head after a
  // restart in tests; keep the indexes consistent either way.
  string_ids_.clear();
  for (uint32_t i = 0; i < strings_.size(); ++i) string_ids_.emplace(strings_[i], i);
  function_ids_.clear();
  auto fns = std::move(functions_);
  functions_.clear();
  for (const auto& f : fns) AddFunction(f);
  auto maps = std::move(mappings_);
  mappings_.clear();
  for (const auto& m : maps) AddMapping(m);
  auto locs = std::move(locations_);
  locations_.clear();
  for (const auto& l : locs) AddLocation(l);
  node_ids_.clear();
  for (uint32_t i = 1; i < nodes_.size(); ++i) {
    node_ids_.emplace((uint64_t{nodes_[i].parent} << 32) | nodes_[i].location, i);
  }
}

size_t SymbolTable::MemoryBytes() const {
  size_t b = 0;
  for (const auto& s : strings_) b += s.size() + sizeof(std::string);
  b += functions_.size() * sizeof(Function) + mappings_.size() * sizeof(Mapping);
  for (const auto& l : locations_) b += sizeof(Location) + l.lines.size() * sizeof(Line);
  b += nodes_.size() * sizeof(StackNode);
  return b;
}

// --- Segment ---

SymbolTable* Segment::Symbols(const std::string& service) {
  auto& t = symbols_[service];
  if (!t) t = std::make_unique<SymbolTable>();
  return t.get();
}

Series* Segment::GetOrCreateSeries(const Labels& labels, const std::string& profile_type,
                                   const std::string& service) {
  std::string key = SeriesKey(labels);
  auto it = series_by_key_.find(key);
  if (it != series_by_key_.end()) return it->second;
  auto s = std::make_unique<Series>();
  s->labels = labels;
  s->profile_type = profile_type;
  s->service = service;
  s->symbols = Symbols(service);
  Series* raw = s.get();
  series_.push_back(std::move(s));
  series_by_key_.emplace(std::move(key), raw);
  return raw;
}

void Segment::NoteProfile(int64_t time_ms) {
  min_time_ = std::min(min_time_, time_ms);
  max_time_ = std::max(max_time_, time_ms);
  ++num_profiles_;
}

uint64_t Segment::num_samples() const {
  uint64_t n = 0;
  for (const auto& s : series_) {
    for (const auto& e : s->entries) n += e.stacks.size();
  }
  return n;
}

void Segment::Finish() {
  for (auto& s : series_) {
    std::stable_sort(
        s->entries.begin(), s->entries.end(),
        [](const ProfileEntry& a, const ProfileEntry& b) { return a.time_ms < b.time_ms; });
  }
}

std::string Segment::Serialize() const {
  std::string out;
  coding::PutFixed32BE(out, kSegmentMagic);
  coding::PutUvarint(out, kSegmentVersion);
  coding::PutVarint(out, min_time_);
  coding::PutVarint(out, max_time_);
  coding::PutUvarint(out, num_profiles_);
  std::map<const SymbolTable*, uint32_t> table_index;
  coding::PutUvarint(out, symbols_.size());
  for (const auto& [service, table] : symbols_) {
    table_index[table.get()] = static_cast<uint32_t>(table_index.size());
    PutString(&out, service);
    table->Serialize(&out);
  }
  coding::PutUvarint(out, series_.size());
  for (const auto& s : series_) {
    coding::PutUvarint(out, table_index[s->symbols]);
    PutString(&out, s->profile_type);
    coding::PutUvarint(out, s->labels.size());
    for (const auto& [n, v] : s->labels) {
      PutString(&out, n);
      PutString(&out, v);
    }
    coding::PutUvarint(out, s->entries.size());
    int64_t prev_t = 0;
    for (const auto& e : s->entries) {
      coding::PutVarint(out, e.time_ms - prev_t);
      prev_t = e.time_ms;
      coding::PutUvarint(out, e.stacks.size());
      coding::PutUvarint(out, e.span_ids.empty() ? 0 : 1);
      for (size_t i = 0; i < e.stacks.size(); ++i) {
        coding::PutUvarint(out, e.stacks[i]);
        coding::PutVarint(out, e.values[i]);
        if (!e.span_ids.empty()) coding::PutUvarint(out, e.span_ids[i]);
      }
    }
  }
  return out;
}

Result<std::unique_ptr<Segment>> Segment::Parse(std::string_view data) {
  auto bad = [](const std::string& what) { return DataLossError("profiles segment: " + what); };
  coding::Reader r(data);
  if (r.Fixed32BE() != kSegmentMagic || !r.ok()) return bad("bad magic");
  uint64_t version = r.Uvarint();
  if (version != kSegmentVersion) return bad(fmt::format("unknown version {}", version));
  auto seg = std::make_unique<Segment>();
  seg->min_time_ = r.Varint();
  seg->max_time_ = r.Varint();
  seg->num_profiles_ = r.Uvarint();
  uint64_t tables = r.Uvarint();
  if (!r.ok() || tables > r.remaining()) return bad("bad symbol table count");
  std::vector<SymbolTable*> by_index;
  for (uint64_t i = 0; i < tables; ++i) {
    std::string service(r.LengthPrefixed());
    if (!r.ok()) return bad("truncated");
    SymbolTable* t = seg->Symbols(service);
    std::string_view rest = r.rest();
    SL_RETURN_IF_ERROR(t->Parse(&rest));
    r = coding::Reader(rest);
    by_index.push_back(t);
  }
  uint64_t nseries = r.Uvarint();
  if (!r.ok() || nseries > r.remaining()) return bad("bad series count");
  for (uint64_t i = 0; i < nseries; ++i) {
    uint64_t ti = r.Uvarint();
    if (!r.ok() || ti >= by_index.size()) return bad("bad symbol table index");
    std::string type(r.LengthPrefixed());
    uint64_t nl = r.Uvarint();
    if (!r.ok() || nl > r.remaining()) return bad("bad labels");
    Labels labels;
    for (uint64_t j = 0; j < nl; ++j) {
      std::string n(r.LengthPrefixed());
      std::string v(r.LengthPrefixed());
      labels.emplace_back(std::move(n), std::move(v));
    }
    std::string service(LabelValue(labels, kServiceNameLabel));
    auto s = std::make_unique<Series>();
    s->labels = std::move(labels);
    s->profile_type = std::move(type);
    s->service = std::move(service);
    s->symbols = by_index[ti];
    const size_t num_nodes = by_index[ti]->nodes().size();
    uint64_t ne = r.Uvarint();
    if (!r.ok() || ne > r.remaining()) return bad("bad entry count");
    s->entries.resize(ne);
    int64_t prev_t = 0;
    for (auto& e : s->entries) {
      e.time_ms = prev_t + r.Varint();
      prev_t = e.time_ms;
      uint64_t n = r.Uvarint();
      bool spans = r.Uvarint() != 0;
      if (!r.ok() || n > r.remaining()) return bad("bad sample count");
      e.stacks.resize(n);
      e.values.resize(n);
      if (spans) e.span_ids.resize(n);
      for (uint64_t k = 0; k < n; ++k) {
        e.stacks[k] = static_cast<uint32_t>(r.Uvarint());
        e.values[k] = r.Varint();
        if (spans) e.span_ids[k] = r.Uvarint();
        if (e.stacks[k] >= num_nodes) return bad("stack out of range");
      }
    }
    if (!r.ok()) return bad("truncated series");
    Series* raw = s.get();
    seg->series_.push_back(std::move(s));
    seg->series_by_key_.emplace(SeriesKey(raw->labels), raw);
  }
  if (!r.ok()) return bad("truncated");
  return seg;
}

}  // namespace sightline::profiles
