// Labels: the identity of a metrics series, as in Prometheus's
// model/labels.
//
// A Labels value is a set of (name, value) pairs sorted by name with unique,
// non-empty names. Series order everywhere in the TSDB (index series
// section, postings, block series lists) is Compare() order, which is
// Prometheus's labels.Compare, so blocks we write sort like Prometheus's.
// Hash() is Prometheus's labels.Hash (xxHash64 over name 0xff value 0xff
// ...), so hashes agree across the two implementations.
//
// Empty values: Prometheus treats a label with an empty value as absent.
// LabelsBuilder drops them; the Labels factories keep what they are given
// (the caller decides), but the index writer rejects empty names.
//
// Thread-safety: values; copy freely. A LabelsBuilder is single-threaded.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sightline::tsdb {

struct Label {
  std::string name;
  std::string value;

  friend bool operator==(const Label&, const Label&) = default;
};

class Labels {
 public:
  Labels() = default;

  // Sorts by name. InvalidArgument if a name repeats or is empty.
  static Result<Labels> FromUnsorted(std::vector<Label> labels);
  // Caller guarantees sorted, unique, non-empty names (checked in debug
  // builds only). For decoders that verified order themselves.
  static Labels FromSortedUnchecked(std::vector<Label> labels);
  // Convenience for tests and literals: {"__name__", "up", "job", "x"}.
  // Sorts; a repeated name keeps the last value.
  static Labels FromStrings(std::initializer_list<std::string_view> name_value_pairs);

  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  const Label& operator[](size_t i) const { return labels_[i]; }
  std::vector<Label>::const_iterator begin() const { return labels_.begin(); }
  std::vector<Label>::const_iterator end() const { return labels_.end(); }
  const std::vector<Label>& items() const { return labels_; }

  // The value of `name`, or "" when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;

  // Prometheus labels.Hash.
  uint64_t Hash() const;
  // {a="b", c="d"} with values quoted like Go's strconv.Quote, as
  // Prometheus's Labels.String() prints them.
  std::string ToString() const;

  // <0, 0, >0 like Prometheus labels.Compare: pairwise by name then value;
  // a prefix sorts first.
  static int Compare(const Labels& a, const Labels& b);

  friend bool operator==(const Labels& a, const Labels& b) { return a.labels_ == b.labels_; }
  friend bool operator<(const Labels& a, const Labels& b) { return Compare(a, b) < 0; }

 private:
  explicit Labels(std::vector<Label> labels) : labels_(std::move(labels)) {}
  std::vector<Label> labels_;
};

// Builds a Labels from a base set plus edits (relabeling, adding external
// labels). Setting an empty value deletes the label, as in Prometheus.
class LabelsBuilder {
 public:
  LabelsBuilder() = default;
  explicit LabelsBuilder(const Labels& base) { Reset(base); }

  void Reset(const Labels& base);
  LabelsBuilder& Set(std::string_view name, std::string_view value);
  LabelsBuilder& Del(std::string_view name);
  std::string_view Get(std::string_view name) const;
  // The result, sorted. Empty names are dropped.
  Labels Build() const;

 private:
  std::vector<Label> labels_;  // kept sorted by name
};

// Go's strconv.Quote for `s` (double quotes, \n \t \" \\ escapes, \xNN for
// invalid UTF-8 and control bytes, \u for non-printable runes).
std::string GoQuote(std::string_view s);

}  // namespace sightline::tsdb
