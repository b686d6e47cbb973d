// XOR chunks: Prometheus's float sample encoding (chunkenc.EncXOR, a
// variant of Facebook's Gorilla), byte-for-byte identical to what
// Prometheus 2.x writes, so chunks move between the two unchanged.
//
// Layout (docs/formats/metrics-block.md, Prometheus tsdb/docs/format/
// chunks.md): a 2-byte big-endian sample count, then a bit stream:
//   sample 0: timestamp as zigzag varint bytes, value as 64 raw bits;
//   sample 1: timestamp delta as uvarint bytes, value XOR-encoded;
//   sample n: timestamp delta-of-delta in a bucket '0' | '10'+14 bits |
//             '110'+17 | '1110'+20 | '1111'+64, value XOR-encoded
//             (control bit 0: equal; '10': reuse leading/trailing window;
//             '11' + 5 bits leading zeros + 6 bits significant bits).
// Values are carried as raw IEEE-754 bits, so NaN payloads (Prometheus's
// staleness marker 0x7ff0000000000002) survive bit for bit.
//
// Thread-safety: XorChunk is a value with one writer at a time. An
// XorIterator reads a byte view it does not own: the bytes must outlive it
// and must not be appended to meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "metrics/tsdb/chunkenc/bstream.h"

namespace sightline::tsdb::chunkenc {

// The encoding byte stored before each chunk in a chunk segment file.
enum class Encoding : uint8_t {
  kNone = 0,
  kXor = 1,
  kHistogram = 2,
  kFloatHistogram = 3,
};
std::string_view EncodingName(Encoding e);

// Prometheus's head cuts a chunk at this many samples.
inline constexpr int kSamplesPerChunk = 120;
// The sample count is a uint16.
inline constexpr int kMaxSamplesPerChunk = 65535;

// Prometheus's staleness marker (value.StaleNaN).
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ull;

class XorChunk {
 public:
  XorChunk();  // empty: the 2-byte zero count

  // Adopts encoded bytes (e.g. read from a segment file) and, so that more
  // samples can be appended, replays them to restore the appender state.
  // DataLoss if the bytes do not decode.
  static Result<XorChunk> FromBytes(std::string bytes);

  // Appends a sample. Timestamps should increase (the encoding accepts any
  // order, as Prometheus's does; readers expect increasing). Returns
  // ResourceExhausted when the chunk already holds kMaxSamplesPerChunk.
  Status Append(int64_t t, double v);

  int NumSamples() const;
  // The encoded chunk, as stored after the encoding byte. Valid until the
  // next Append.
  std::string_view Bytes() const {
    return std::string_view(bytes_.data(), static_cast<size_t>((bit_len_ + 7) / 8));
  }
  // Asks the CPU to load the bytes the next Append reads and writes (the
  // count in the header and the end): for loops that append to many chunks
  // in turn (WAL replay).
  void Prefetch() const {
    __builtin_prefetch(bytes_.data(), 1);
    __builtin_prefetch(bytes_.data() + bit_len_ / 8, 1);
  }
  // First and last timestamp appended (undefined when empty).
  int64_t MinTime() const { return min_t_; }
  int64_t MaxTime() const { return t_; }

 private:
  void WriteValue(BitWriter& w, uint64_t vbits);

  std::string bytes_;      // a buffer: zeros past bit_len_
  uint64_t bit_len_ = 16;  // bits used in bytes_, header included
  int64_t min_t_ = 0;
  int64_t t_ = 0;
  uint64_t v_ = 0;  // bits of the previous value
  uint64_t t_delta_ = 0;
  uint8_t leading_ = 0xff;  // 0xff: no window yet
  uint8_t trailing_ = 0;
};

// Walks the samples of an XOR chunk. Garbage input ends iteration with a
// DataLoss status, never a crash or an out-of-bounds read.
class XorIterator {
 public:
  explicit XorIterator(std::string_view chunk_bytes);

  // Advances to the next sample; false at the end or on error (status()).
  bool Next();
  // Advances to the first sample with timestamp >= t (staying put if the
  // current one already qualifies); false if there is none.
  bool Seek(int64_t t);

  int64_t t() const { return t_; }
  double v() const;
  uint64_t v_bits() const { return v_; }
  std::pair<int64_t, double> At() const { return {t_, v()}; }

  int num_total() const { return num_total_; }
  // OK, or DataLoss describing where decoding failed.
  const Status& status() const { return status_; }

 private:
  friend class XorChunk;
  bool Fail(const char* what);

  BitReader br_;
  int num_total_ = 0;
  int num_read_ = 0;
  int64_t t_ = 0;
  uint64_t v_ = 0;
  uint64_t t_delta_ = 0;
  uint8_t leading_ = 0;
  uint8_t trailing_ = 0;
  Status status_;
};

}  // namespace sightline::tsdb::chunkenc
