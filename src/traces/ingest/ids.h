// Trace and span ids as text: lowercase hex, the form of OTLP/JSON, Zipkin
// and Tempo's API. Free functions, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sightline::traces {

inline std::string IdToHex(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(id.size() * 2);
  for (unsigned char c : id) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Decodes hex into exactly `want_bytes` bytes. Shorter input is left-padded
// with zeros (Tempo and Zipkin accept 64-bit trace ids, and ids without
// leading zeros); longer or non-hex input gives nullopt.
inline std::optional<std::string> HexToId(std::string_view hex, size_t want_bytes) {
  if (hex.empty() || hex.size() > want_bytes * 2) return std::nullopt;
  std::string padded(want_bytes * 2 - hex.size(), '0');
  padded.append(hex);
  std::string out(want_bytes, '\0');
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < want_bytes; ++i) {
    int hi = val(padded[2 * i]), lo = val(padded[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

inline bool IsZeroId(std::string_view id) {
  for (char c : id) {
    if (c != 0) return false;
  }
  return true;
}

}  // namespace sightline::traces
