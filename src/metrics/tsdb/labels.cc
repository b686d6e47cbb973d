#include "metrics/tsdb/labels.h"

// For XXH64_state_t on the stack.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cassert>

namespace sightline::tsdb {

namespace {

bool NameLess(const Label& a, const Label& b) { return a.name < b.name; }

}  // namespace

Result<Labels> Labels::FromUnsorted(std::vector<Label> labels) {
  std::sort(labels.begin(), labels.end(), NameLess);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].name.empty()) return InvalidArgumentError("label with an empty name");
    if (i > 0 && labels[i].name == labels[i - 1].name) {
      return InvalidArgumentError("label name \"" + labels[i].name + "\" repeats");
    }
  }
  return Labels(std::move(labels));
}

Labels Labels::FromSortedUnchecked(std::vector<Label> labels) {
#ifndef NDEBUG
  for (size_t i = 1; i < labels.size(); ++i) assert(labels[i - 1].name < labels[i].name);
#endif
  return Labels(std::move(labels));
}

Labels Labels::FromStrings(std::initializer_list<std::string_view> name_value_pairs) {
  assert(name_value_pairs.size() % 2 == 0);
  LabelsBuilder b;
  for (auto it = name_value_pairs.begin(); it != name_value_pairs.end(); it += 2) {
    b.Set(*it, *(it + 1));
  }
  return b.Build();
}

std::string_view Labels::Get(std::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(std::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  return it != labels_.end() && it->name == name;
}

uint64_t Labels::Hash() const {
  static constexpr char kSep = '\xff';
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  for (const Label& l : labels_) {
    XXH64_update(&state, l.name.data(), l.name.size());
    XXH64_update(&state, &kSep, 1);
    XXH64_update(&state, l.value.data(), l.value.size());
    XXH64_update(&state, &kSep, 1);
  }
  return XXH64_digest(&state);
}

std::string Labels::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (i > 0) out += ", ";
    out += labels_[i].name;
    out += '=';
    out += GoQuote(labels_[i].value);
  }
  out += '}';
  return out;
}

int Labels::Compare(const Labels& a, const Labels& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = a.labels_[i].name.compare(b.labels_[i].name); c != 0) return c < 0 ? -1 : 1;
    if (int c = a.labels_[i].value.compare(b.labels_[i].value); c != 0) return c < 0 ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

void LabelsBuilder::Reset(const Labels& base) { labels_ = base.items(); }

LabelsBuilder& LabelsBuilder::Set(std::string_view name, std::string_view value) {
  if (value.empty()) return Del(name);
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) {
    it->value.assign(value);
  } else {
    labels_.insert(it, Label{std::string(name), std::string(value)});
  }
  return *this;
}

LabelsBuilder& LabelsBuilder::Del(std::string_view name) {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) labels_.erase(it);
  return *this;
}

std::string_view LabelsBuilder::Get(std::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) return it->value;
  return {};
}

Labels LabelsBuilder::Build() const {
  std::vector<Label> out;
  out.reserve(labels_.size());
  for (const Label& l : labels_) {
    if (!l.name.empty()) out.push_back(l);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Go's utf8.DecodeRuneInString: returns the rune and its width, or
// (0xFFFD, 1) for an invalid encoding (overlong, surrogate, > U+10FFFF,
// truncated).
std::pair<uint32_t, int> DecodeRune(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  uint8_t c0 = b(0);
  if (c0 < 0x80) return {c0, 1};
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  if (c0 >= 0xC2 && c0 <= 0xDF && cont(1)) return {((c0 & 0x1Fu) << 6) | (b(1) & 0x3Fu), 2};
  if (c0 >= 0xE0 && c0 <= 0xEF && cont(1) && cont(2)) {
    uint32_t r = ((c0 & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (r >= 0x800 && (r < 0xD800 || r > 0xDFFF)) return {r, 3};
  }
  if (c0 >= 0xF0 && c0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    uint32_t r =
        ((c0 & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (r >= 0x10000 && r <= 0x10FFFF) return {r, 4};
  }
  return {0xFFFD, 1};
}

// An approximation of Go's unicode.IsPrint that is exact for ASCII and
// Latin-1 and covers the common non-printing runes (separators, format
// characters, noncharacters) above it.
bool IsPrint(uint32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r < 0x7F) return true;
  if (r < 0xA1 || r == 0xAD) return false;  // C1 controls, NBSP, soft hyphen
  if (r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
      (r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF) {
    return false;
  }
  if ((r & 0xFFFE) == 0xFFFE) return false;      // noncharacters
  if (r >= 0xE000 && r <= 0xF8FF) return false;  // private use
  if (r >= 0xFFF9 && r <= 0xFFFB) return false;  // interlinear annotation
  return true;
}

void AppendUtf8(std::string& out, uint32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

}  // namespace

std::string GoQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  while (!s.empty()) {
    auto [r, width] = DecodeRune(s);
    if (width == 1 && r == 0xFFFD) {
      uint8_t c = static_cast<uint8_t>(s[0]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      s.remove_prefix(1);
      continue;
    }
    s.remove_prefix(width);
    if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
      continue;
    }
    if (IsPrint(r)) {
      AppendUtf8(out, r);
      continue;
    }
    switch (r) {
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (r < 0x20 || r == 0x7F) {
      out += "\\x";
      out += kHex[r >> 4];
      out += kHex[r & 15];
    } else if (r < 0x10000) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(r >> shift) & 15];
    } else {
      out += "\\U";
      for (int shift = 28; shift >= 0; shift -= 4) out += kHex[(r >> shift) & 15];
    }
  }
  out += '"';
  return out;
}

}  // namespace sightline::tsdb
