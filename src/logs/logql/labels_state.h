// LabelsState: the labels of one log entry while a pipeline runs over it
// (Loki's LabelsBuilder). Every label remembers where it came from (the
// stream, structured metadata, or a parser / label_format), which decides
// name clashes and how log query results categorise labels:
//
//   - the plain name goes to the highest-precedence source:
//       stream > structured metadata > parsed;
//   - a value that loses the name is kept under `<name>_extracted`, where a
//     parsed value wins over structured metadata.
//
// Also holds the entry's __error__ and __error_details__.
//
// Thread-safety: single-threaded scratch state, reused from entry to entry.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logs/logql/storage.h"

namespace sightline::logs::logql {

inline constexpr std::string_view kErrorLabel = "__error__";
inline constexpr std::string_view kErrorDetailsLabel = "__error_details__";

enum class LabelSource { kStream, kStructuredMetadata, kParsed };

class LabelsState {
 public:
  struct Item {
    std::string name;
    std::string value;
    LabelSource source = LabelSource::kStream;
  };

  // Starts a new entry: the stream's labels plus its structured metadata.
  void Reset(const Labels& stream, const Labels& structured_metadata);

  // The value of `name` (also __error__ / __error_details__ when set).
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  // Adds a label found by a parser, renaming it to `<name>_extracted` when
  // the stream or structured metadata already has `name`. A later parser
  // overwrites an earlier parser's value.
  void AddParsed(std::string_view name, std::string_view value);
  // Sets a label (label_format): replaces the value in place, keeping its
  // source, or adds it as parsed.
  void Set(std::string_view name, std::string_view value);
  void Del(std::string_view name);

  bool HasErr() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& error_details() const { return error_details_; }
  void SetErr(std::string_view e) { error_.assign(e); }
  void SetErrDetails(std::string_view d) { error_details_.assign(d); }
  void ClearErr() {
    error_.clear();
    error_details_.clear();
  }

  const std::vector<Item>& items() const { return items_; }
  // Keeps only the items for which keep(item) is true (drop / keep stages).
  template <typename Fn>
  void Filter(Fn&& keep) {
    size_t w = 0;
    for (size_t r = 0; r < items_.size(); ++r) {
      if (keep(items_[r])) {
        if (w != r) std::swap(items_[w], items_[r]);
        ++w;
      }
    }
    items_.resize(w);
  }

  // All labels, sorted, with __error__ / __error_details__ when set.
  Labels Build() const;
  // Only the labels of one source (no error labels).
  Labels BuildSource(LabelSource source) const;
  // Parsed labels plus the error labels (categorize-labels' "parsed").
  Labels BuildParsedWithErrors() const;

 private:
  Item* Find(std::string_view name);
  const Item* Find(std::string_view name) const;

  std::vector<Item> items_;
  std::string error_;
  std::string error_details_;
};

}  // namespace sightline::logs::logql
