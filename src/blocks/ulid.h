// ULID: the identity of every block of every signal (as in Prometheus, Thanos,
// Loki's and Tempo's block stores). 48 bits of milliseconds since the epoch
// then 80 random bits, written as 26 characters of Crockford base32, so that
// names sort by creation time.
//
// Thread-safety: Ulid is a value. NewUlid() may be called from any thread;
// within one process, ULIDs made in the same millisecond are strictly
// increasing (the random part is incremented), so sort order is creation
// order.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline::blocks {

class Ulid {
 public:
  Ulid() = default;  // all zero

  static Ulid FromParts(uint64_t time_ms, const std::array<uint8_t, 10>& entropy);
  // Parses the 26-character form (case-insensitive; I, L, O accepted as 1, 1, 0
  // per Crockford). InvalidArgument for anything else.
  static Result<Ulid> Parse(std::string_view text);

  uint64_t time_ms() const;
  std::string ToString() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  bool IsZero() const;

  friend bool operator==(const Ulid&, const Ulid&) = default;
  friend auto operator<=>(const Ulid& a, const Ulid& b) { return a.bytes_ <=> b.bytes_; }

 private:
  std::array<uint8_t, 16> bytes_{};
};

// A new ULID for `now_ms` (default: the wall clock).
Ulid NewUlid();
Ulid NewUlid(uint64_t now_ms);

}  // namespace sightline::blocks
