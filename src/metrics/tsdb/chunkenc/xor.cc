#include "metrics/tsdb/chunkenc/xor.h"

#include <bit>
#include <cstring>

#include "base/coding.h"

namespace sightline::tsdb::chunkenc {

std::string_view EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kNone:
      return "none";
    case Encoding::kXor:
      return "XOR";
    case Encoding::kHistogram:
      return "histogram";
    case Encoding::kFloatHistogram:
      return "floathistogram";
  }
  return "unknown";
}

namespace {

// Whether x fits the signed nbits bucket as Prometheus defines it:
// -(2^(n-1) - 1) <= x <= 2^(n-1). The asymmetry matters: the bit pattern
// of -2^(n-1) decodes as +2^(n-1).
bool BitRange(int64_t x, int nbits) {
  int64_t half = int64_t{1} << (nbits - 1);
  return -(half - 1) <= x && x <= half;
}

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

constexpr size_t kMaxBitsPerSample = 160;

// Go's binary.PutUvarint, byte by byte into the bit stream.
void WriteUvarint(BitWriter& w, uint64_t v) {
  while (v >= 0x80) {
    w.WriteByte(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  w.WriteByte(static_cast<uint8_t>(v));
}

}  // namespace

// Room for a typical 120-sample chunk, as Prometheus's NewXORChunk.
XorChunk::XorChunk() : bytes_(128, '\0') {}

int XorChunk::NumSamples() const {
  return (static_cast<uint8_t>(bytes_[0]) << 8) | static_cast<uint8_t>(bytes_[1]);
}

Result<XorChunk> XorChunk::FromBytes(std::string bytes) {
  XorIterator it(bytes);
  while (it.Next()) {
  }
  if (!it.status().ok()) return it.status();
  XorChunk c;
  int n = it.num_total();
  if (n > 0) {
    // Drop anything after the last sample and clear the padding bits, so
    // that appending continues the stream exactly where it ended.
    uint64_t end_bits = it.br_.position();
    size_t keep = 2 + static_cast<size_t>((end_bits + 7) / 8);
    bytes.resize(keep);
    c.bit_len_ = 16 + end_bits;
    if (int free = static_cast<int>((8 - end_bits % 8) % 8); free > 0) {
      bytes.back() = static_cast<char>(static_cast<uint8_t>(bytes.back()) &
                                       static_cast<uint8_t>(0xff << free));
    }
    XorIterator first(bytes);
    first.Next();
    c.min_t_ = first.t();
    c.t_ = it.t_;
    c.v_ = it.v_;
    c.t_delta_ = it.t_delta_;
    c.leading_ = it.leading_;
    c.trailing_ = it.trailing_;
  } else {
    bytes.resize(2);
  }
  c.bytes_ = std::move(bytes);
  return c;
}

Status XorChunk::Append(int64_t t, double v) {
  int num = NumSamples();
  if (num >= kMaxSamplesPerChunk) {
    return ResourceExhaustedError("XOR chunk is full (65535 samples)");
  }
  // At most 10 varint bytes + 64 bits, or 68 timestamp + 77 value bits.
  BitWriter w(&bytes_, bit_len_, kMaxBitsPerSample);
  uint64_t vbits = Bits(v);
  uint64_t t_delta = 0;
  if (num == 0) {
    WriteUvarint(w, coding::ZigZag(t));
    w.WriteBits(vbits, 64);
    min_t_ = t;
  } else {
    // Wrapping arithmetic, as Go's: the format is defined on the bits.
    t_delta = static_cast<uint64_t>(t) - static_cast<uint64_t>(t_);
    if (num == 1) {
      WriteUvarint(w, t_delta);
    } else {
      int64_t dod = static_cast<int64_t>(t_delta - t_delta_);
      uint64_t u = static_cast<uint64_t>(dod);
      if (dod == 0) {
        w.WriteBit(false);
      } else if (BitRange(dod, 14)) {
        w.WriteBits(0b10, 2);
        w.WriteBits(u, 14);
      } else if (BitRange(dod, 17)) {
        w.WriteBits(0b110, 3);
        w.WriteBits(u, 17);
      } else if (BitRange(dod, 20)) {
        w.WriteBits(0b1110, 4);
        w.WriteBits(u, 20);
      } else {
        w.WriteBits(0b1111, 4);
        w.WriteBits(u, 64);
      }
    }
    WriteValue(w, vbits);
  }
  bit_len_ = w.bit_len();
  t_ = t;
  v_ = vbits;
  t_delta_ = t_delta;
  ++num;
  bytes_[0] = static_cast<char>(num >> 8);
  bytes_[1] = static_cast<char>(num);
  return Status::Ok();
}

void XorChunk::WriteValue(BitWriter& w, uint64_t vbits) {
  uint64_t delta = vbits ^ v_;
  if (delta == 0) {
    w.WriteBit(false);
    return;
  }
  w.WriteBit(true);
  uint8_t lead = static_cast<uint8_t>(std::countl_zero(delta));
  uint8_t trail = static_cast<uint8_t>(std::countr_zero(delta));
  // 5 bits hold the leading count: clamp, as Prometheus does.
  if (lead >= 32) lead = 31;
  if (leading_ != 0xff && lead >= leading_ && trail >= trailing_) {
    w.WriteBit(false);
    w.WriteBits(delta >> trailing_, 64 - leading_ - trailing_);
  } else {
    leading_ = lead;
    trailing_ = trail;
    w.WriteBit(true);
    w.WriteBits(lead, 5);
    // 64 significant bits are written as 0 (6 bits) and read back as 64.
    int sigbits = 64 - lead - trail;
    w.WriteBits(static_cast<uint64_t>(sigbits), 6);
    w.WriteBits(delta >> trail, sigbits);
  }
}

XorIterator::XorIterator(std::string_view chunk_bytes) {
  if (chunk_bytes.size() < 2) {
    Fail("XOR chunk shorter than its 2-byte header");
    return;
  }
  num_total_ = (static_cast<uint8_t>(chunk_bytes[0]) << 8) | static_cast<uint8_t>(chunk_bytes[1]);
  br_ = BitReader(chunk_bytes.substr(2));
  leading_ = 0xff;
}

bool XorIterator::Fail(const char* what) {
  if (status_.ok()) {
    status_ = DataLossError(std::string("XOR chunk: ") + what + " (sample " +
                            std::to_string(num_read_) + " of " + std::to_string(num_total_) + ")");
  }
  num_read_ = num_total_;
  return false;
}

double XorIterator::v() const { return std::bit_cast<double>(v_); }

bool XorIterator::Next() {
  if (!status_.ok() || num_read_ >= num_total_) return false;
  if (num_read_ == 0) {
    t_ = br_.ReadVarint();
    v_ = br_.ReadBits(64);
    if (!br_.ok()) return Fail("truncated first sample");
    ++num_read_;
    return true;
  }
  if (num_read_ == 1) {
    t_delta_ = br_.ReadUvarint();
    if (!br_.ok()) return Fail("truncated timestamp delta");
  } else {
    int d = 0;
    for (int i = 0; i < 4; ++i) {
      d <<= 1;
      if (!br_.ReadBit()) break;
      d |= 1;
    }
    int sz = 0;
    uint64_t dod = 0;
    switch (d) {
      case 0b0:
        break;
      case 0b10:
        sz = 14;
        break;
      case 0b110:
        sz = 17;
        break;
      case 0b1110:
        sz = 20;
        break;
      default:
        dod = br_.ReadBits(64);
        break;  // 0b1111
    }
    if (sz != 0) {
      uint64_t bits = br_.ReadBits(sz);
      // Negative values come back as large unsigned ones.
      if (bits > (uint64_t{1} << (sz - 1))) bits -= uint64_t{1} << sz;
      dod = bits;
    }
    if (!br_.ok()) return Fail("truncated timestamp");
    t_delta_ += dod;
  }
  t_ = static_cast<int64_t>(static_cast<uint64_t>(t_) + t_delta_);

  // The value.
  if (br_.ReadBit()) {
    if (br_.ReadBit()) {
      uint8_t lead = static_cast<uint8_t>(br_.ReadBits(5));
      int mbits = static_cast<int>(br_.ReadBits(6));
      if (mbits == 0) mbits = 64;
      if (lead + mbits > 64) return Fail("leading zeros plus significant bits exceed 64");
      leading_ = lead;
      trailing_ = static_cast<uint8_t>(64 - lead - mbits);
    } else if (leading_ == 0xff) {
      // Reuse before any window was set: Prometheus's reader starts from a
      // zero window, i.e. 64 significant bits.
      leading_ = 0;
      trailing_ = 0;
    }
    int mbits = 64 - leading_ - trailing_;
    uint64_t bits = br_.ReadBits(mbits);
    v_ ^= bits << trailing_;
  }
  if (!br_.ok()) return Fail("truncated value");
  ++num_read_;
  return true;
}

bool XorIterator::Seek(int64_t t) {
  if (!status_.ok()) return false;
  while (num_read_ == 0 || t > t_) {
    if (!Next()) return false;
  }
  return true;
}

}  // namespace sightline::tsdb::chunkenc
