// Bit streams for the chunk encodings: a writer that appends bits
// most-significant first to a std::string (Prometheus's bstream, bit for
// bit: a partial last byte is zero-padded), and a bounds-checked reader.
// Both are on the ingest and query hot paths: whole-word loads and stores.
//
// The reader never reads outside its input: running off the end sets a
// sticky failure (ok() == false) and returns zeros.
//
// Thread-safety: values; one thread at a time.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sightline::tsdb::chunkenc {

// Writes bits into a std::string in place. The string is a buffer: its
// size is capacity, not content; the caller tracks the bit length. The
// constructor makes sure there is room for `max_bits` more bits plus 8
// bytes of zeros (so that every write is one 8-byte load/OR/store), growing
// the buffer geometrically. Writing more than `max_bits` is a bug (checked
// in debug builds).
class BitWriter {
 public:
  // Continues `*out` (not owned) after its first `bit_len` bits. Every bit
  // of `*out` past `bit_len` must be zero.
  BitWriter(std::string* out, uint64_t bit_len, size_t max_bits) : out_(out), pos_(bit_len) {
    limit_ = bit_len + max_bits;
    size_t need = static_cast<size_t>((limit_ + 7) / 8) + 8;
    if (out_->size() < need) out_->resize(std::max(need, 2 * out_->size()), '\0');
    data_ = reinterpret_cast<uint8_t*>(out_->data());
  }

  void WriteBit(bool bit) {
    assert(pos_ < limit_);
    if (bit) data_[pos_ >> 3] |= static_cast<uint8_t>(0x80u >> (pos_ & 7));
    ++pos_;
  }

  // Writes the low `nbits` (0..64) bits of `v`, most significant first.
  void WriteBits(uint64_t v, int nbits) {
    if (nbits > 32) {
      Put(v >> 32, nbits - 32);
      nbits = 32;
    }
    Put(v, nbits);
  }

  void WriteByte(uint8_t b) { Put(b, 8); }

  uint64_t bit_len() const { return pos_; }

 private:
  // nbits <= 32, so with up to 7 bits of offset the write fits one 64-bit
  // big-endian word.
  void Put(uint64_t v, int nbits) {
    if (nbits <= 0) return;
    assert(pos_ + static_cast<uint64_t>(nbits) <= limit_);
    v &= (uint64_t{1} << nbits) - 1;
    uint8_t* p = data_ + (pos_ >> 3);
    int off = static_cast<int>(pos_ & 7);
    uint64_t w;
    std::memcpy(&w, p, 8);
    w = __builtin_bswap64(w) | (v << (64 - off - nbits));
    w = __builtin_bswap64(w);
    std::memcpy(p, &w, 8);
    pos_ += static_cast<uint64_t>(nbits);
  }

  std::string* out_;
  uint8_t* data_;
  uint64_t pos_;
  uint64_t limit_;
};

class BitReader {
 public:
  BitReader() = default;
  explicit BitReader(std::string_view in)
      : data_(reinterpret_cast<const uint8_t*>(in.data())), size_bits_(uint64_t{in.size()} * 8) {}

  bool ok() const { return ok_; }
  uint64_t position() const { return pos_; }

  bool ReadBit() {
    if (pos_ >= size_bits_) {
      ok_ = false;
      return false;
    }
    bool bit = (data_[pos_ >> 3] >> (7 - (pos_ & 7))) & 1;
    ++pos_;
    return bit;
  }

  // Reads `nbits` (0..64) bits, most significant first.
  uint64_t ReadBits(int nbits) {
    if (nbits == 0) return 0;
    if (!ok_ || size_bits_ - pos_ < static_cast<uint64_t>(nbits) || pos_ > size_bits_) {
      ok_ = false;
      return 0;
    }
    uint64_t byte = pos_ >> 3;
    int shift = static_cast<int>(pos_ & 7);
    uint64_t size_bytes = size_bits_ >> 3;
    uint64_t w;
    if (byte + 8 <= size_bytes) {
      uint64_t raw;
      std::memcpy(&raw, data_ + byte, 8);
      w = __builtin_bswap64(raw);
    } else {
      w = 0;
      for (uint64_t i = 0; i < 8; ++i) {
        w <<= 8;
        if (byte + i < size_bytes) w |= data_[byte + i];
      }
    }
    if (shift != 0) {
      w <<= shift;
      if (nbits > 64 - shift && byte + 8 < size_bytes)
        w |= uint64_t{data_[byte + 8]} >> (8 - shift);
    }
    pos_ += static_cast<uint64_t>(nbits);
    return w >> (64 - nbits);
  }

  uint8_t ReadByte() { return static_cast<uint8_t>(ReadBits(8)); }

  // Go's binary.ReadUvarint over the bit stream (bytes need not be
  // aligned). At most 10 bytes; overflow fails the stream.
  uint64_t ReadUvarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      uint8_t b = ReadByte();
      if (!ok_) return 0;
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
  int64_t ReadVarint() {
    uint64_t u = ReadUvarint();
    return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
  }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_bits_ = 0;
  uint64_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sightline::tsdb::chunkenc
