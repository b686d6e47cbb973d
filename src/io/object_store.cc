#include "io/object_store.h"

#include <string>

namespace sightline::io {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is malformed
// (overlong forms, surrogates and code points above U+10FFFF included).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t j) { return static_cast<unsigned char>(s[j]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t j = 1; j < n; ++j) {
    if ((byte(i + j) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + j) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

Status ValidateObjectKey(std::string_view key) {
  auto bad = [&](std::string_view why) {
    // Quote at most a bounded part of the key: it may be huge or binary.
    std::string shown(key.substr(0, 200));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return InvalidArgumentError("invalid object key \"" + shown + "\": " + std::string(why));
  };
  if (key.empty()) return bad("empty");
  if (key.size() > 1024) return bad("longer than 1024 bytes");
  if (key.front() == '/') return bad("starts with '/'");
  if (key.back() == '/') return bad("ends with '/'");
  for (size_t i = 0; i < key.size();) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
    if (c == '\\') return bad("contains a backslash");
    size_t n = Utf8SequenceLength(key, i);
    if (n == 0) return bad("not valid UTF-8");
    i += n;
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view seg = key.substr(start, end - start);
    if (seg.empty()) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' or '..' segment");
    if (seg.size() > 255) return bad("segment longer than 255 bytes");
    if (seg.starts_with(kTempSegmentPrefix))
      return bad("segment uses the reserved prefix .sightline-tmp-");
    start = end + 1;
  }
  return Status::Ok();
}

Status ListAll(ObjectStore& store, std::string_view prefix,
               const std::function<Status(const ObjectInfo&)>& fn) {
  ListOptions opts;
  opts.prefix = std::string(prefix);
  while (true) {
    SL_ASSIGN_OR_RETURN(ListPage page, store.List(opts));
    for (const ObjectInfo& info : page.objects) SL_RETURN_IF_ERROR(fn(info));
    if (page.next_continuation_token.empty()) return Status::Ok();
    opts.continuation_token = std::move(page.next_continuation_token);
  }
}

}  // namespace sightline::io
