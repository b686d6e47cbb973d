// Byte-level encodings shared by every on-disk and wire format we write:
// fixed-width big/little endian integers, unsigned/signed (zigzag) varints
// as in protobuf and Go's encoding/binary (the Prometheus TSDB formats use
// Go's), and a bounds-checked reader that never reads past its input.
//
// The Writer appends to a std::string; the Reader consumes a string_view and
// reports truncation/overflow through ok() instead of crashing, so decoders
// fed garbage (fuzzers, torn files) fail cleanly.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sightline::coding {

inline void PutFixed32BE(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}
inline void PutFixed64BE(std::string& out, uint64_t v) {
  PutFixed32BE(out, static_cast<uint32_t>(v >> 32));
  PutFixed32BE(out, static_cast<uint32_t>(v));
}
inline void PutFixed32LE(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out.append(b, 4);
}
inline void PutFixed64LE(std::string& out, uint64_t v) {
  PutFixed32LE(out, static_cast<uint32_t>(v));
  PutFixed32LE(out, static_cast<uint32_t>(v >> 32));
}
// Two or more bytes: assembled on the stack, appended once. Out of line so
// that PutUvarint's one-byte case inlines.
[[gnu::noinline]] inline void PutUvarintLong(std::string& out, uint64_t v) {
  char b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out.append(b, n);
}
inline void PutUvarint(std::string& out, uint64_t v) {
  if (v < 0x80) {  // the common case: one byte
    out.push_back(static_cast<char>(v));
    return;
  }
  PutUvarintLong(out, v);
}
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
inline void PutVarint(std::string& out, int64_t v) { PutUvarint(out, ZigZag(v)); }
inline int UvarintLength(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
// Length as uvarint, then the bytes.
inline void PutLengthPrefixed(std::string& out, std::string_view s) {
  PutUvarint(out, s.size());
  out.append(s.data(), s.size());
}

inline uint32_t LoadFixed32BE(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
inline uint64_t LoadFixed64BE(const char* p) {
  return (uint64_t{LoadFixed32BE(p)} << 32) | LoadFixed32BE(p + 4);
}
inline uint32_t LoadFixed32LE(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 and aarch64 Linux are little endian
}
inline uint64_t LoadFixed64LE(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size(); }
  bool empty() const { return in_.empty(); }
  std::string_view rest() const { return in_; }

  uint8_t Byte() {
    if (!Need(1)) return 0;
    uint8_t b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }
  uint32_t Fixed32BE() {
    if (!Need(4)) return 0;
    uint32_t v = LoadFixed32BE(in_.data());
    in_.remove_prefix(4);
    return v;
  }
  uint64_t Fixed64BE() {
    if (!Need(8)) return 0;
    uint64_t v = LoadFixed64BE(in_.data());
    in_.remove_prefix(8);
    return v;
  }
  uint32_t Fixed32LE() {
    if (!Need(4)) return 0;
    uint32_t v = LoadFixed32LE(in_.data());
    in_.remove_prefix(4);
    return v;
  }
  uint64_t Fixed64LE() {
    if (!Need(8)) return 0;
    uint64_t v = LoadFixed64LE(in_.data());
    in_.remove_prefix(8);
    return v;
  }
  // Go's binary.Uvarint: at most 10 bytes; overflow is an error.
  uint64_t Uvarint() {
    if (ok_ && !in_.empty() && static_cast<uint8_t>(in_[0]) < 0x80) {  // one byte
      const uint8_t b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      return b;
    }
    return UvarintLong();
  }
  // Uvarint's general case, out of line so that the one-byte case inlines.
  [[gnu::noinline]] uint64_t UvarintLong() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (!Need(1)) return 0;
      uint8_t b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      if (shift == 63 && b > 1) {
        ok_ = false;
        return 0;
      }
      v |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) return v;
    }
    ok_ = false;
    return 0;
  }
  int64_t Varint() { return UnZigZag(Uvarint()); }
  std::string_view Bytes(size_t n) {
    if (!Need(n)) return {};
    std::string_view v = in_.substr(0, n);
    in_.remove_prefix(n);
    return v;
  }
  std::string_view LengthPrefixed() {
    uint64_t n = Uvarint();
    if (!ok_) return {};
    return Bytes(n);
  }
  void Skip(size_t n) { Bytes(n); }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace sightline::coding
