// Segment: the in-memory form of a set of profiles of one tenant — the head
// being written, and every block once loaded (a block file is a serialized
// Segment, docs/formats/profiles-block.md).
//
// What it holds, so that a profile's symbols and stacks cost almost nothing
// once seen:
//   - a SymbolTable per service (service_name label): strings, functions,
//     mappings and locations, each stored once;
//   - stack traces stored once per service as a parent-pointer tree
//     (StackNode{parent, location}); a sample refers to its leaf node;
//   - Series: one label set (service_name, user labels, __name__,
//     __profile_type__) and its profiles over time, each a list of
//     (stack, value[, span id]) samples.
//
// Profile types are named name:sample_type:sample_unit:period_type:period_unit
// (process_cpu:cpu:nanoseconds:cpu:nanoseconds), as in Pyroscope.
//
// Thread-safety: none. The head wraps its Segment in a lock; a loaded block
// is never mutated after Parse() and may be read from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sightline::profiles {

// Sorted by name, names unique.
using Labels = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kServiceNameLabel = "service_name";
inline constexpr std::string_view kMetricNameLabel = "__name__";
inline constexpr std::string_view kProfileTypeLabel = "__profile_type__";

// "" when absent.
std::string_view LabelValue(const Labels& labels, std::string_view name);
// Sorts and removes duplicate names (the last value wins).
void NormalizeLabels(Labels* labels);
// {a="1", b="2"} with Go-style quoting.
std::string LabelsToString(const Labels& labels);

// name:sample_type:sample_unit:period_type:period_unit.
struct ProfileType {
  std::string name, sample_type, sample_unit, period_type, period_unit;
  std::string Id() const;
  static Result<ProfileType> Parse(std::string_view id);
};

class SymbolTable {
 public:
  struct Function {
    uint32_t name = 0;  // string ids
    uint32_t system_name = 0;
    uint32_t filename = 0;
    int64_t start_line = 0;
  };
  struct Mapping {
    uint64_t memory_start = 0, memory_limit = 0, file_offset = 0;
    uint32_t filename = 0, build_id = 0;
  };
  struct Line {
    uint32_t function = 0;
    int64_t line = 0;
  };
  struct Location {
    uint32_t mapping = 0;  // 0: none; else mapping index + 1
    uint64_t address = 0;
    std::vector<Line> lines;  // innermost inlined function first
  };
  struct StackNode {
    uint32_t parent = 0;    // 0: the root
    uint32_t location = 0;  // location index (unused for node 0)
  };

  SymbolTable();

  uint32_t String(std::string_view s);
  uint32_t AddFunction(const Function& f);
  uint32_t AddMapping(const Mapping& m);
  uint32_t AddLocation(const Location& l);
  // The node for `location` called from `parent` (0: a root frame).
  uint32_t StackChild(uint32_t parent, uint32_t location);

  const std::string& string(uint32_t id) const { return strings_[id]; }
  const std::vector<std::string>& strings() const { return strings_; }
  const std::vector<Function>& functions() const { return functions_; }
  const std::vector<Mapping>& mappings() const { return mappings_; }
  const std::vector<Location>& locations() const { return locations_; }
  const std::vector<StackNode>& nodes() const { return nodes_; }

  void Serialize(std::string* out) const;
  Status Parse(std::string_view* in);
  size_t MemoryBytes() const;

 private:
  void RebuildIndexes();

  std::vector<std::string> strings_;  // [0] = ""
  std::vector<Function> functions_;
  std::vector<Mapping> mappings_;
  std::vector<Location> locations_;
  std::vector<StackNode> nodes_;  // [0] = root
  std::unordered_map<std::string, uint32_t> string_ids_;
  std::unordered_map<std::string, uint32_t> function_ids_;  // key: encoded fields
  std::unordered_map<std::string, uint32_t> mapping_ids_;
  std::unordered_map<std::string, uint32_t> location_ids_;
  std::unordered_map<uint64_t, uint32_t> node_ids_;  // parent << 32 | location
};

// One profile of one series: its samples at one time.
struct ProfileEntry {
  int64_t time_ms = 0;
  std::vector<uint32_t> stacks;  // leaf stack nodes
  std::vector<int64_t> values;   // one per stack
  // Empty, or one per stack: the pprof span_id label as a number (0: none).
  std::vector<uint64_t> span_ids;
};

struct Series {
  Labels labels;             // includes service_name, __name__, __profile_type__
  std::string profile_type;  // ProfileType::Id()
  std::string service;
  const SymbolTable* symbols = nullptr;  // owned by the segment
  std::vector<ProfileEntry> entries;     // sorted by time_ms once Finish()ed
};

class Segment {
 public:
  Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  SymbolTable* Symbols(const std::string& service);
  // Finds or creates the series with these (normalized) labels.
  Series* GetOrCreateSeries(const Labels& labels, const std::string& profile_type,
                            const std::string& service);
  void NoteProfile(int64_t time_ms);

  const std::vector<std::unique_ptr<Series>>& series() const { return series_; }
  const std::map<std::string, std::unique_ptr<SymbolTable>>& symbol_tables() const {
    return symbols_;
  }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  uint64_t num_profiles() const { return num_profiles_; }
  uint64_t num_samples() const;
  bool empty() const { return num_profiles_ == 0; }

  // Sorts entries by time (queries binary-search them).
  void Finish();

  // The block file body (uncompressed); see docs/formats/profiles-block.md.
  std::string Serialize() const;
  static Result<std::unique_ptr<Segment>> Parse(std::string_view data);

 private:
  std::map<std::string, std::unique_ptr<SymbolTable>> symbols_;
  std::vector<std::unique_ptr<Series>> series_;
  std::unordered_map<std::string, Series*> series_by_key_;
  int64_t min_time_ = INT64_MAX;
  int64_t max_time_ = INT64_MIN;
  uint64_t num_profiles_ = 0;
};

}  // namespace sightline::profiles
