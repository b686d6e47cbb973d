#include "logs/logql/labels_state.h"

#include <algorithm>

namespace sightline::logs::logql {

void LabelsState::Reset(const Labels& stream, const Labels& structured_metadata) {
  items_.clear();
  error_.clear();
  error_details_.clear();
  for (const auto& l : stream) {
    if (!l.value.empty()) items_.push_back({l.name, l.value, LabelSource::kStream});
  }
  for (const auto& l : structured_metadata) {
    Item* it = Find(l.name);
    if (it != nullptr && it->source == LabelSource::kStream) {
      std::string ext = l.name + "_extracted";
      Item* e = Find(ext);
      if (e != nullptr) {
        e->value = l.value;
      } else {
        items_.push_back({std::move(ext), l.value, LabelSource::kStructuredMetadata});
      }
    } else if (it != nullptr) {
      it->value = l.value;
    } else {
      items_.push_back({l.name, l.value, LabelSource::kStructuredMetadata});
    }
  }
}

LabelsState::Item* LabelsState::Find(std::string_view name) {
  for (auto& it : items_) {
    if (it.name == name) return &it;
  }
  return nullptr;
}

const LabelsState::Item* LabelsState::Find(std::string_view name) const {
  for (const auto& it : items_) {
    if (it.name == name) return &it;
  }
  return nullptr;
}

std::optional<std::string_view> LabelsState::Get(std::string_view name) const {
  if (name == kErrorLabel) {
    if (error_.empty()) return std::nullopt;
    return std::string_view(error_);
  }
  if (name == kErrorDetailsLabel) {
    if (error_details_.empty()) return std::nullopt;
    return std::string_view(error_details_);
  }
  const Item* it = Find(name);
  if (it == nullptr) return std::nullopt;
  return std::string_view(it->value);
}

void LabelsState::AddParsed(std::string_view name, std::string_view value) {
  Item* it = Find(name);
  if (it != nullptr && it->source != LabelSource::kParsed) {
    std::string ext = std::string(name) + "_extracted";
    Item* e = Find(ext);
    if (e != nullptr) {
      e->value.assign(value);
      e->source = LabelSource::kParsed;
    } else {
      items_.push_back({std::move(ext), std::string(value), LabelSource::kParsed});
    }
    return;
  }
  if (it != nullptr) {
    it->value.assign(value);
    return;
  }
  items_.push_back({std::string(name), std::string(value), LabelSource::kParsed});
}

void LabelsState::Set(std::string_view name, std::string_view value) {
  if (name == kErrorLabel) {
    error_.assign(value);
    return;
  }
  if (name == kErrorDetailsLabel) {
    error_details_.assign(value);
    return;
  }
  Item* it = Find(name);
  if (it != nullptr) {
    it->value.assign(value);
    return;
  }
  items_.push_back({std::string(name), std::string(value), LabelSource::kParsed});
}

void LabelsState::Del(std::string_view name) {
  if (name == kErrorLabel) {
    error_.clear();
    return;
  }
  if (name == kErrorDetailsLabel) {
    error_details_.clear();
    return;
  }
  Filter([&](const Item& i) { return i.name != name; });
}

namespace {
Labels Sorted(std::vector<tsdb::Label> v) {
  std::sort(v.begin(), v.end(), [](const tsdb::Label& a, const tsdb::Label& b) {
    return a.name < b.name;
  });
  return Labels::FromSortedUnchecked(std::move(v));
}
}  // namespace

Labels LabelsState::Build() const {
  std::vector<tsdb::Label> v;
  v.reserve(items_.size() + 2);
  for (const auto& it : items_) v.push_back({it.name, it.value});
  if (!error_.empty()) v.push_back({std::string(kErrorLabel), error_});
  if (!error_details_.empty()) v.push_back({std::string(kErrorDetailsLabel), error_details_});
  return Sorted(std::move(v));
}

Labels LabelsState::BuildSource(LabelSource source) const {
  std::vector<tsdb::Label> v;
  for (const auto& it : items_) {
    if (it.source == source) v.push_back({it.name, it.value});
  }
  return Sorted(std::move(v));
}

Labels LabelsState::BuildParsedWithErrors() const {
  std::vector<tsdb::Label> v;
  for (const auto& it : items_) {
    if (it.source == LabelSource::kParsed) v.push_back({it.name, it.value});
  }
  if (!error_.empty()) v.push_back({std::string(kErrorLabel), error_});
  if (!error_details_.empty()) v.push_back({std::string(kErrorDetailsLabel), error_details_});
  return Sorted(std::move(v));
}

}  // namespace sightline::logs::logql
