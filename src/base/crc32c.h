// CRC-32C (Castagnoli), the checksum of the Prometheus TSDB formats (index,
// chunks, WAL records) and of our own WAL and block files. Uses the SSE4.2
// instruction when the CPU has it, a table otherwise; same results either way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sightline::crc32c {

// Extends `crc` (a previous result, or 0 to start) with `data`.
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

}  // namespace sightline::crc32c
