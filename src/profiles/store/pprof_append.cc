#include "profiles/store/pprof_append.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "pprof/profile.pb.h"

namespace sightline::profiles {

namespace {

const std::string& Str(const perftools::profiles::Profile& p, int64_t i) {
  static const std::string kEmpty;
  if (i < 0 || i >= p.string_table_size()) return kEmpty;
  return p.string_table(static_cast<int>(i));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

uint64_t ParseSpanId(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) return 0;
  uint64_t v = 0;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return 0;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

std::string ProfileNameFor(const perftools::profiles::Profile& p) {
  const std::string period_type = p.has_period_type() ? Str(p, p.period_type().type()) : "";
  for (const auto& st : p.sample_type()) {
    const std::string& t = Str(p, st.type());
    if (t == "cpu") return "process_cpu";
    if (t == "wall") return "wall";
    if (StartsWith(t, "alloc_") || StartsWith(t, "inuse_")) return "memory";
    if (t == "goroutine" || t == "goroutines") return "goroutines";
    if (t == "contentions" || t == "delay") {
      return period_type == "contentions" ? "mutex" : "block";
    }
  }
  if (period_type == "cpu") return "process_cpu";
  if (period_type == "wall") return "wall";
  if (period_type == "space" || period_type == "objects") return "memory";
  if (!period_type.empty()) return period_type;
  if (p.sample_type_size() > 0) return Str(p, p.sample_type(0).type());
  return "unknown";
}

std::vector<ProfileType> ProfileTypesOf(const perftools::profiles::Profile& p,
                                        const std::string& name) {
  std::vector<ProfileType> out;
  std::string pt, pu;
  if (p.has_period_type()) {
    pt = Str(p, p.period_type().type());
    pu = Str(p, p.period_type().unit());
  }
  for (const auto& st : p.sample_type()) {
    out.push_back({name, Str(p, st.type()), Str(p, st.unit()), pt, pu});
  }
  return out;
}

Status CheckPprof(const perftools::profiles::Profile& p) {
  if (p.sample_type_size() == 0) return InvalidArgumentError("profile has no sample types");
  std::unordered_set<uint64_t> functions, mappings, locations;
  for (const auto& f : p.function()) functions.insert(f.id());
  for (const auto& m : p.mapping()) mappings.insert(m.id());
  for (const auto& l : p.location()) {
    if (l.mapping_id() != 0 && !mappings.count(l.mapping_id())) {
      return InvalidArgumentError(
          fmt::format("location {} names unknown mapping {}", l.id(), l.mapping_id()));
    }
    for (const auto& line : l.line()) {
      if (!functions.count(line.function_id())) {
        return InvalidArgumentError(
            fmt::format("location {} names unknown function {}", l.id(), line.function_id()));
      }
    }
    locations.insert(l.id());
  }
  for (const auto& s : p.sample()) {
    if (s.value_size() != p.sample_type_size()) {
      return InvalidArgumentError(fmt::format("sample has {} values for {} sample types",
                                              s.value_size(), p.sample_type_size()));
    }
    for (uint64_t id : s.location_id()) {
      if (!locations.count(id)) {
        return InvalidArgumentError(fmt::format("sample names unknown location {}", id));
      }
    }
  }
  return Status::Ok();
}

Status AppendPprof(Segment* seg, Labels base, const perftools::profiles::Profile& p,
                   int64_t time_ms) {
  NormalizeLabels(&base);
  std::string service(LabelValue(base, kServiceNameLabel));
  std::string name(LabelValue(base, kMetricNameLabel));
  if (name.empty()) name = ProfileNameFor(p);
  const std::vector<ProfileType> types = ProfileTypesOf(p, name);
  if (types.empty()) return InvalidArgumentError("profile has no sample types");

  SymbolTable* sym = seg->Symbols(service);
  // pprof ids → our indexes.
  std::unordered_map<uint64_t, uint32_t> functions, mappings, locations;
  for (const auto& f : p.function()) {
    SymbolTable::Function fn;
    fn.name = sym->String(Str(p, f.name()));
    fn.system_name = sym->String(Str(p, f.system_name()));
    fn.filename = sym->String(Str(p, f.filename()));
    fn.start_line = f.start_line();
    functions[f.id()] = sym->AddFunction(fn);
  }
  for (const auto& m : p.mapping()) {
    SymbolTable::Mapping mp;
    mp.memory_start = m.memory_start();
    mp.memory_limit = m.memory_limit();
    mp.file_offset = m.file_offset();
    mp.filename = sym->String(Str(p, m.filename()));
    mp.build_id = sym->String(Str(p, m.build_id()));
    mappings[m.id()] = sym->AddMapping(mp) + 1;
  }
  for (const auto& l : p.location()) {
    SymbolTable::Location loc;
    if (l.mapping_id() != 0) {
      auto it = mappings.find(l.mapping_id());
      if (it == mappings.end()) {
        return InvalidArgumentError(
            fmt::format("location {} names unknown mapping {}", l.id(), l.mapping_id()));
      }
      loc.mapping = it->second;
    }
    loc.address = l.address();
    for (const auto& line : l.line()) {
      auto it = functions.find(line.function_id());
      if (it == functions.end()) {
        return InvalidArgumentError(
            fmt::format("location {} names unknown function {}", l.id(), line.function_id()));
      }
      loc.lines.push_back({it->second, line.line()});
    }
    if (loc.lines.empty() && loc.address == 0) {
      // An unsymbolized location without an address: keep it distinct by id.
      loc.address = l.id();
    }
    locations[l.id()] = sym->AddLocation(loc);
  }

  // Per series-label-set (from pprof sample labels), one entry per type.
  struct Group {
    std::vector<ProfileEntry> entries;  // one per type
  };
  std::map<Labels, Group> groups;
  std::unordered_map<std::string, uint32_t> stack_cache;  // location ids → node
  std::string stack_key;
  for (const auto& s : p.sample()) {
    if (s.value_size() != static_cast<int>(types.size())) {
      return InvalidArgumentError(
          fmt::format("sample has {} values for {} sample types", s.value_size(), types.size()));
    }
    Labels extra;
    uint64_t span_id = 0;
    for (const auto& l : s.label()) {
      const std::string& key = Str(p, l.key());
      if (key.empty() || l.str() == 0) continue;  // numeric labels are not series labels
      const std::string& value = Str(p, l.str());
      if (key == "span_id") {
        span_id = ParseSpanId(value);
      } else if (key == "trace_id" || key == "profile_id") {
        continue;
      } else {
        extra.emplace_back(key, value);
      }
    }
    stack_key.assign(reinterpret_cast<const char*>(s.location_id().data()),
                     s.location_id_size() * sizeof(uint64_t));
    uint32_t node = 0;
    auto cached = stack_cache.find(stack_key);
    if (cached != stack_cache.end()) {
      node = cached->second;
    } else {
      // location_id is leaf first; the tree grows from the root.
      for (int i = s.location_id_size() - 1; i >= 0; --i) {
        auto it = locations.find(s.location_id(i));
        if (it == locations.end()) {
          return InvalidArgumentError(
              fmt::format("sample names unknown location {}", s.location_id(i)));
        }
        node = sym->StackChild(node, it->second);
      }
      stack_cache.emplace(stack_key, node);
    }
    std::sort(extra.begin(), extra.end());
    Group& g = groups[extra];
    if (g.entries.empty()) g.entries.resize(types.size());
    for (size_t t = 0; t < types.size(); ++t) {
      int64_t v = s.value(static_cast<int>(t));
      if (v == 0) continue;
      ProfileEntry& e = g.entries[t];
      e.stacks.push_back(node);
      e.values.push_back(v);
      if (span_id != 0 || !e.span_ids.empty()) {
        e.span_ids.resize(e.stacks.size() - 1, 0);
        e.span_ids.push_back(span_id);
      }
    }
  }

  seg->NoteProfile(time_ms);
  for (auto& [extra, g] : groups) {
    for (size_t t = 0; t < types.size(); ++t) {
      ProfileEntry& e = g.entries[t];
      if (e.stacks.empty()) continue;
      if (!e.span_ids.empty()) e.span_ids.resize(e.stacks.size(), 0);
      Labels labels = base;
      for (const auto& l : extra) labels.push_back(l);
      const std::string id = types[t].Id();
      labels.emplace_back(std::string(kMetricNameLabel), name);
      labels.emplace_back(std::string(kProfileTypeLabel), id);
      NormalizeLabels(&labels);
      Series* series = seg->GetOrCreateSeries(labels, id, service);
      e.time_ms = time_ms;
      series->entries.push_back(std::move(e));
    }
  }
  return Status::Ok();
}

}  // namespace sightline::profiles
