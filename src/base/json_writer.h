// A streaming JSON writer for API responses and metadata files. Appends to a
// std::string with no intermediate tree; commas are placed automatically.
// Numbers: integers exactly; doubles in the shortest form that round-trips
// (NaN/Inf are not JSON: write them as strings where a protocol says so).
//
// Misuse (a value where a key is expected, unbalanced End*) is a programming
// error caught by assert in debug builds.
//
//   JsonWriter w;
//   w.BeginObject().Key("status").String("success").Key("n").Int(3).EndObject();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline {

class JsonWriter {
 public:
  JsonWriter() = default;
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);  // NaN/Inf written as null
  // A protobuf double/float field as proto3's JSON mapping writes it (what
  // Tempo's and other Go services' jsonpb answers carry): NaN and the
  // infinities as the strings "NaN", "Infinity", "-Infinity".
  JsonWriter& ProtoDouble(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-encoded JSON as one value.
  JsonWriter& Raw(std::string_view json);

  // The document so far (when writing to the internal buffer).
  const std::string& str() const { return *out_; }
  std::string Take() { return std::move(*out_); }

 private:
  void BeforeValue();

  std::string own_;
  std::string* out_ = &own_;
  // One entry per open container: true once it holds an element.
  std::vector<bool> has_elements_;
  bool after_key_ = false;
};

// Appends `s` as a JSON string literal (with quotes) to `out`. Invalid UTF-8
// bytes are replaced by U+FFFD so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace sightline
