#include "telemetry/pprof_writer.h"

#include <utility>

#include "base/compression.h"

namespace sightline::telemetry {
namespace {

// Protobuf wire format, only what profile.proto needs: varints and
// length-delimited fields. proto3 omits scalar fields equal to their default,
// and packs repeated scalars.
enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2 };

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | type);
}

// int64 fields are plain varints of the two's complement (not zigzag).
void PutUint(std::string& out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, v);
}
void PutInt(std::string& out, uint32_t field, int64_t v) {
  PutUint(out, field, static_cast<uint64_t>(v));
}
void PutBool(std::string& out, uint32_t field, bool v) { PutUint(out, field, v ? 1 : 0); }

void PutBytes(std::string& out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out.append(bytes);
}

template <typename T>
void PutPacked(std::string& out, uint32_t field, std::span<const T> values) {
  if (values.empty()) return;
  std::string body;
  for (T v : values) PutVarint(body, static_cast<uint64_t>(v));
  PutBytes(out, field, body);
}

// An embedded message is encoded into its own string first, since the length
// prefix precedes the body; profiles are small enough for the copy.
void PutMessage(std::string& out, uint32_t field, const std::string& body) {
  PutBytes(out, field, body);
}

}  // namespace

PprofBuilder::PprofBuilder() { InternString(""); }

int64_t PprofBuilder::InternString(std::string_view s) {
  auto [it, inserted] =
      string_index_.try_emplace(std::string(s), static_cast<int64_t>(strings_.size()));
  if (inserted) strings_.emplace_back(s);
  return it->second;
}

void PprofBuilder::AddSampleType(std::string_view type, std::string_view unit) {
  sample_types_.push_back({InternString(type), InternString(unit)});
}

void PprofBuilder::SetPeriodType(std::string_view type, std::string_view unit) {
  has_period_type_ = true;
  period_type_ = {InternString(type), InternString(unit)};
}

void PprofBuilder::SetDefaultSampleType(std::string_view type) {
  default_sample_type_ = InternString(type);
}
void PprofBuilder::SetDropFrames(std::string_view regexp) { drop_frames_ = InternString(regexp); }
void PprofBuilder::SetKeepFrames(std::string_view regexp) { keep_frames_ = InternString(regexp); }
void PprofBuilder::SetDocUrl(std::string_view url) { doc_url_ = InternString(url); }
void PprofBuilder::AddComment(std::string_view comment) {
  comments_.push_back(InternString(comment));
}

uint64_t PprofBuilder::AddMapping(const Mapping& mapping) {
  EncodedMapping m{mapping, InternString(mapping.filename), InternString(mapping.build_id)};
  mappings_.push_back(std::move(m));
  return mappings_.size();
}

uint64_t PprofBuilder::AddFunction(std::string_view name, std::string_view system_name,
                                   std::string_view filename, int64_t start_line) {
  Function f{InternString(name), InternString(system_name), InternString(filename), start_line};
  auto key = std::make_tuple(f.name, f.system_name, f.filename, f.start_line);
  auto [it, inserted] = function_ids_.try_emplace(key, functions_.size() + 1);
  if (inserted) functions_.push_back(f);
  return it->second;
}

Result<uint64_t> PprofBuilder::AddLocation(uint64_t mapping_id, uint64_t address,
                                           std::span<const Line> lines, bool is_folded) {
  if (mapping_id > mappings_.size()) {
    return InvalidArgumentError("pprof location names unknown mapping id " +
                                std::to_string(mapping_id));
  }
  for (const Line& line : lines) {
    if (line.function_id == 0 || line.function_id > functions_.size()) {
      return InvalidArgumentError("pprof location line names unknown function id " +
                                  std::to_string(line.function_id));
    }
  }
  locations_.push_back(
      {mapping_id, address, std::vector<Line>(lines.begin(), lines.end()), is_folded});
  return static_cast<uint64_t>(locations_.size());
}

Status PprofBuilder::AddSample(std::span<const uint64_t> location_ids,
                               std::span<const int64_t> values, std::span<const Label> labels) {
  if (values.size() != sample_types_.size()) {
    return InvalidArgumentError("pprof sample has " + std::to_string(values.size()) +
                                " values but the profile declares " +
                                std::to_string(sample_types_.size()) + " sample types");
  }
  for (uint64_t id : location_ids) {
    if (id == 0 || id > locations_.size()) {
      return InvalidArgumentError("pprof sample names unknown location id " + std::to_string(id));
    }
  }
  Sample s;
  s.location_ids.assign(location_ids.begin(), location_ids.end());
  s.values.assign(values.begin(), values.end());
  for (const Label& l : labels) {
    EncodedLabel e;
    e.key = InternString(l.key);
    if (!l.str.empty()) {
      e.str = InternString(l.str);
    } else {
      e.num = l.num;
      if (!l.num_unit.empty()) e.num_unit = InternString(l.num_unit);
    }
    s.labels.push_back(e);
  }
  samples_.push_back(std::move(s));
  return Status::Ok();
}

std::string PprofBuilder::Serialize() const {
  std::string out;
  std::string msg;
  std::string inner;

  auto value_type = [](const ValueType& vt) {
    std::string b;
    PutInt(b, 1, vt.type);
    PutInt(b, 2, vt.unit);
    return b;
  };

  for (const ValueType& vt : sample_types_) PutMessage(out, 1, value_type(vt));

  for (const Sample& s : samples_) {
    msg.clear();
    PutPacked<uint64_t>(msg, 1, s.location_ids);
    PutPacked<int64_t>(msg, 2, s.values);
    for (const EncodedLabel& l : s.labels) {
      inner.clear();
      PutInt(inner, 1, l.key);
      PutInt(inner, 2, l.str);
      PutInt(inner, 3, l.num);
      PutInt(inner, 4, l.num_unit);
      PutMessage(msg, 3, inner);
    }
    PutMessage(out, 2, msg);
  }

  for (size_t i = 0; i < mappings_.size(); ++i) {
    const EncodedMapping& em = mappings_[i];
    msg.clear();
    PutUint(msg, 1, i + 1);
    PutUint(msg, 2, em.m.memory_start);
    PutUint(msg, 3, em.m.memory_limit);
    PutUint(msg, 4, em.m.file_offset);
    PutInt(msg, 5, em.filename);
    PutInt(msg, 6, em.build_id);
    PutBool(msg, 7, em.m.has_functions);
    PutBool(msg, 8, em.m.has_filenames);
    PutBool(msg, 9, em.m.has_line_numbers);
    PutBool(msg, 10, em.m.has_inline_frames);
    PutMessage(out, 3, msg);
  }

  for (size_t i = 0; i < locations_.size(); ++i) {
    const Location& loc = locations_[i];
    msg.clear();
    PutUint(msg, 1, i + 1);
    PutUint(msg, 2, loc.mapping_id);
    PutUint(msg, 3, loc.address);
    for (const Line& line : loc.lines) {
      inner.clear();
      PutUint(inner, 1, line.function_id);
      PutInt(inner, 2, line.line);
      PutInt(inner, 3, line.column);
      PutMessage(msg, 4, inner);
    }
    PutBool(msg, 5, loc.is_folded);
    PutMessage(out, 4, msg);
  }

  for (size_t i = 0; i < functions_.size(); ++i) {
    const Function& f = functions_[i];
    msg.clear();
    PutUint(msg, 1, i + 1);
    PutInt(msg, 2, f.name);
    PutInt(msg, 3, f.system_name);
    PutInt(msg, 4, f.filename);
    PutInt(msg, 5, f.start_line);
    PutMessage(out, 5, msg);
  }

  // Every entry, "" included: indices are positions.
  for (const std::string& s : strings_) PutBytes(out, 6, s);

  PutInt(out, 7, drop_frames_);
  PutInt(out, 8, keep_frames_);
  PutInt(out, 9, time_nanos_);
  PutInt(out, 10, duration_nanos_);
  if (has_period_type_) PutMessage(out, 11, value_type(period_type_));
  PutInt(out, 12, period_);
  PutPacked<int64_t>(out, 13, comments_);
  PutInt(out, 14, default_sample_type_);
  PutInt(out, 15, doc_url_);
  return out;
}

Result<std::string> PprofBuilder::SerializeGzip() const {
  return Compress(Codec::kGzip, Serialize());
}

}  // namespace sightline::telemetry
