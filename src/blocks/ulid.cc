#include "blocks/ulid.h"

#include <chrono>
#include <mutex>
#include <random>

namespace sightline::blocks {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int DecodeChar(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (c == 'I' || c == 'L') return 1;
  if (c == 'O') return 0;
  for (int i = 10; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

}  // namespace

Ulid Ulid::FromParts(uint64_t time_ms, const std::array<uint8_t, 10>& entropy) {
  Ulid u;
  for (int i = 0; i < 6; ++i) u.bytes_[i] = static_cast<uint8_t>(time_ms >> (40 - 8 * i));
  for (int i = 0; i < 10; ++i) u.bytes_[6 + i] = entropy[i];
  return u;
}

uint64_t Ulid::time_ms() const {
  uint64_t t = 0;
  for (int i = 0; i < 6; ++i) t = (t << 8) | bytes_[i];
  return t;
}

bool Ulid::IsZero() const {
  for (uint8_t b : bytes_) {
    if (b != 0) return false;
  }
  return true;
}

std::string Ulid::ToString() const {
  // 128 bits as 26 base32 digits; the first digit carries only 3 bits.
  std::string out(26, '0');
  // Work on a 130-bit big-endian view: process 5 bits at a time from the end.
  unsigned __int128 v = 0;
  for (uint8_t b : bytes_) v = (v << 8) | b;
  for (int i = 25; i >= 0; --i) {
    out[i] = kAlphabet[static_cast<int>(v & 31)];
    v >>= 5;
  }
  return out;
}

Result<Ulid> Ulid::Parse(std::string_view text) {
  if (text.size() != 26) {
    return InvalidArgumentError("ULID \"" + std::string(text) + "\" must be 26 characters");
  }
  unsigned __int128 v = 0;
  for (size_t i = 0; i < 26; ++i) {
    int d = DecodeChar(text[i]);
    if (d < 0) return InvalidArgumentError("ULID \"" + std::string(text) + "\" has an invalid character");
    if (i == 0 && d > 7) return InvalidArgumentError("ULID \"" + std::string(text) + "\" overflows 128 bits");
    v = (v << 5) | static_cast<unsigned>(d);
  }
  Ulid u;
  for (int i = 15; i >= 0; --i) {
    u.bytes_[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return u;
}

Ulid NewUlid() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return NewUlid(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()));
}

Ulid NewUlid(uint64_t now_ms) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  static uint64_t last_ms = 0;
  static std::array<uint8_t, 10> last_entropy{};
  std::lock_guard<std::mutex> lock(mu);
  std::array<uint8_t, 10> e;
  if (now_ms == last_ms) {
    // Same millisecond: increment so ULIDs stay strictly increasing.
    e = last_entropy;
    for (int i = 9; i >= 0; --i) {
      if (++e[i] != 0) break;
    }
  } else {
    uint64_t a = rng(), b = rng();
    for (int i = 0; i < 8; ++i) e[i] = static_cast<uint8_t>(a >> (8 * i));
    e[8] = static_cast<uint8_t>(b);
    e[9] = static_cast<uint8_t>(b >> 8);
    last_ms = now_ms;
  }
  last_entropy = e;
  return Ulid::FromParts(now_ms, e);
}

}  // namespace sightline::blocks
