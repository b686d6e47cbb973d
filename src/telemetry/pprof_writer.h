// PprofBuilder assembles one pprof Profile (proto/pprof/profile.proto,
// package perftools.profiles) and serializes it, plain or gzipped as pprof
// clients expect on the wire and on disk.
//
// The builder keeps the format's invariants by construction, so callers
// cannot produce a profile that `go tool pprof` or Pyroscope would reject:
//   - string_table[0] is "" and every other string is stored once;
//   - mappings, functions and locations get ids 1, 2, 3... in insertion
//     order; identical functions are stored once (AddFunction dedupes);
//   - a location may only name a mapping and functions already added, and a
//     sample only locations already added, with exactly one value per
//     sample type (AddLocation / AddSample return InvalidArgument otherwise).
// Declare every sample type before the first AddSample.
//
// The wire encoding is written by hand (docs/pprof.md says why) and checked
// against the real protobuf library in tests/telemetry/cpu_profiler_test.cc.
//
// Thread-safety: none; one builder per thread. Serialize() is const and may
// run concurrently with other const calls.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace sightline::telemetry {

class PprofBuilder {
 public:
  struct Mapping {
    uint64_t memory_start = 0;
    uint64_t memory_limit = 0;  // exclusive
    uint64_t file_offset = 0;
    std::string filename;  // path, or "[vdso]"
    std::string build_id;  // lowercase hex; "" when unknown
    bool has_functions = false;
    bool has_filenames = false;
    bool has_line_numbers = false;
    bool has_inline_frames = false;
  };

  struct Line {
    uint64_t function_id = 0;
    int64_t line = 0;
    int64_t column = 0;
  };

  // A sample label: set `str`, or `num` (with an optional `num_unit`).
  struct Label {
    std::string key;
    std::string str;
    int64_t num = 0;
    std::string num_unit;
  };

  PprofBuilder();

  // Returns the string's index in string_table, adding it if new.
  int64_t InternString(std::string_view s);

  void AddSampleType(std::string_view type, std::string_view unit);
  size_t SampleTypeCount() const { return sample_types_.size(); }
  void SetPeriodType(std::string_view type, std::string_view unit);
  void SetPeriod(int64_t period) { period_ = period; }
  void SetTimeNanos(int64_t ns) { time_nanos_ = ns; }
  void SetDurationNanos(int64_t ns) { duration_nanos_ = ns; }
  void SetDefaultSampleType(std::string_view type);
  void SetDropFrames(std::string_view regexp);
  void SetKeepFrames(std::string_view regexp);
  void SetDocUrl(std::string_view url);
  void AddComment(std::string_view comment);

  // Returns the new mapping's id.
  uint64_t AddMapping(const Mapping& mapping);

  // Returns the id of the function with exactly these fields, adding it if
  // new.
  uint64_t AddFunction(std::string_view name, std::string_view system_name,
                       std::string_view filename = "", int64_t start_line = 0);

  // Adds a location; `mapping_id` 0 means unknown. `lines` lists inlined
  // functions innermost first; empty means not symbolized. Returns its id.
  Result<uint64_t> AddLocation(uint64_t mapping_id, uint64_t address,
                               std::span<const Line> lines = {}, bool is_folded = false);

  // Adds a sample; `location_ids` is the stack, leaf first.
  Status AddSample(std::span<const uint64_t> location_ids, std::span<const int64_t> values,
                   std::span<const Label> labels = {});

  // The serialized Profile message.
  std::string Serialize() const;
  // Serialize(), gzipped: what /debug/pprof/* answers and pprof files hold.
  Result<std::string> SerializeGzip() const;

 private:
  struct ValueType {
    int64_t type = 0;
    int64_t unit = 0;
  };
  struct EncodedMapping {
    Mapping m;
    int64_t filename = 0;
    int64_t build_id = 0;
  };
  struct Function {
    int64_t name = 0;
    int64_t system_name = 0;
    int64_t filename = 0;
    int64_t start_line = 0;
  };
  struct Location {
    uint64_t mapping_id = 0;
    uint64_t address = 0;
    std::vector<Line> lines;
    bool is_folded = false;
  };
  struct EncodedLabel {
    int64_t key = 0;
    int64_t str = 0;
    int64_t num = 0;
    int64_t num_unit = 0;
  };
  struct Sample {
    std::vector<uint64_t> location_ids;
    std::vector<int64_t> values;
    std::vector<EncodedLabel> labels;
  };

  std::vector<std::string> strings_;
  std::unordered_map<std::string, int64_t> string_index_;
  std::vector<ValueType> sample_types_;
  std::vector<Sample> samples_;
  std::vector<EncodedMapping> mappings_;  // id = index + 1
  std::vector<Location> locations_;       // id = index + 1
  std::vector<Function> functions_;       // id = index + 1
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, uint64_t> function_ids_;
  int64_t drop_frames_ = 0;
  int64_t keep_frames_ = 0;
  int64_t time_nanos_ = 0;
  int64_t duration_nanos_ = 0;
  bool has_period_type_ = false;
  ValueType period_type_;
  int64_t period_ = 0;
  std::vector<int64_t> comments_;
  int64_t default_sample_type_ = 0;
  int64_t doc_url_ = 0;
};

}  // namespace sightline::telemetry
