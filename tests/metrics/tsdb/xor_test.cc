#include "metrics/tsdb/chunkenc/xor.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace sightline::tsdb::chunkenc {
namespace {

struct S {
  int64_t t;
  uint64_t bits;
};

std::string Hex(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

XorChunk Encode(const std::vector<S>& samples) {
  XorChunk c;
  for (const S& s : samples) EXPECT_TRUE(c.Append(s.t, std::bit_cast<double>(s.bits)).ok());
  return c;
}

std::vector<S> Decode(std::string_view bytes, Status* status = nullptr) {
  std::vector<S> out;
  XorIterator it(bytes);
  while (it.Next()) out.push_back({it.t(), it.v_bits()});
  if (status != nullptr) {
    *status = it.status();
  } else {
    EXPECT_TRUE(it.status().ok()) << it.status().ToString();
  }
  return out;
}

void ExpectRoundTrip(const std::vector<S>& in) {
  XorChunk c = Encode(in);
  EXPECT_EQ(c.NumSamples(), static_cast<int>(in.size()));
  std::vector<S> out = Decode(c.Bytes());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t, in[i].t) << "sample " << i;
    EXPECT_EQ(out[i].bits, in[i].bits) << "sample " << i;
  }
}

uint64_t B(double v) { return std::bit_cast<uint64_t>(v); }

// Derived by hand from the format (tsdb/docs/format/chunks.md and the
// bucket rules of Prometheus's xorAppender), not from our encoder:
//   (1000, 1.0), (2000, 1.0), (3005, 2.0)
//   00 03                    sample count
//   d0 0f                    varint(1000) = uvarint(zigzag 2000)
//   3f f0 00 00 00 00 00 00  1.0
//   e8 07                    uvarint(delta 1000)
//   then bits: 0 (value unchanged)
//              10 00000000000101 (dod 5, 14-bit bucket)
//              1 1 00001 001011 11111111111 (xor 0x7ff0..: new window,
//                 leading 1, 11 significant bits, value 0x7ff)
//              0000000 padding
//   = 01000000 00000010 11100001 00101111 11111111 10000000
//   = 40 02 e1 2f ff 80
TEST(XorChunkTest, GoldenBytesForThreeSamples) {
  XorChunk c = Encode({{1000, B(1.0)}, {2000, B(1.0)}, {3005, B(2.0)}});
  EXPECT_EQ(Hex(c.Bytes()), "0003d00f3ff0000000000000e8074002e12fff80");
}

// One sample: count, varint timestamp, raw value bits. Negative timestamps
// are zigzag varints: -1 -> 01.
TEST(XorChunkTest, GoldenBytesForOneNegativeSample) {
  XorChunk c = Encode({{-1, kStaleNaNBits}});
  EXPECT_EQ(Hex(c.Bytes()), "0001017ff0000000000002");
}

// A negative dod in the 17-bit bucket, by hand:
//   (0, 0.0), (100, 0.0), (-8992, 0.0): delta 100, then -9092, so
//   dod = -9192, below the 14-bit bucket's -8191.
//   00 03 | 00 | 00 x8 | 64 | bits: 0 (value unchanged)
//   110 + low 17 bits of -9192 (131072 - 9192 = 121880 = 1 1101 1100 0001 1000)
//   0 (value unchanged), 2 padding bits:
//   01101110 11100000 11000000 = 6e e0 c0
TEST(XorChunkTest, GoldenBytesForNegative17BitDod) {
  XorChunk c = Encode({{0, B(0.0)}, {100, B(0.0)}, {-8992, B(0.0)}});
  EXPECT_EQ(Hex(c.Bytes()), std::string("0003") + "00" + "0000000000000000" + "64" + "6ee0c0");
}

// A reused leading/trailing window, by hand:
//   (0, 1.0), (1, 3.0), (2, 2.0)
//   1.0 ^ 3.0 = 0x7ff8000000000000: new window '11', leading 1 (00001),
//     12 significant bits (001100), 0xfff (111111111111)
//   dod 0: '0'
//   3.0 ^ 2.0 = 0x0008000000000000: leading 12 >= 1, trailing 51 >= 51,
//     so '10' + the 12 window bits 000000000001
//   = 11000010 01100111 11111111 10100000 00000001 = c2 67 ff a0 01
TEST(XorChunkTest, GoldenBytesForReusedWindow) {
  XorChunk c = Encode({{0, B(1.0)}, {1, B(3.0)}, {2, B(2.0)}});
  EXPECT_EQ(Hex(c.Bytes()), std::string("0003") + "00" + "3ff0000000000000" + "01" + "c267ffa001");
}

TEST(XorChunkTest, RoundTripSpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<S> in = {
      {-1000, B(0.0)},
      {-999, B(-0.0)},  // sign bit must survive
      {0, B(inf)},
      {1, B(-inf)},
      {2, std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN())},
      {3, kStaleNaNBits},
      {4, 0x7ff8dead0000beefull},  // NaN with a payload
      {5, B(std::numeric_limits<double>::denorm_min())},
      {6, B(std::numeric_limits<double>::max())},
      {7, B(std::numeric_limits<double>::lowest())},
      {8, B(1.0)},
      {9, B(1.0)},
      {10, kStaleNaNBits},
      {11, kStaleNaNBits},
  };
  ExpectRoundTrip(in);
}

TEST(XorChunkTest, RoundTripTimestampBucketBoundaries) {
  // Each dod at and around the edges of the 14/17/20-bit buckets, which
  // are asymmetric: -(2^(n-1) - 1) .. 2^(n-1).
  std::vector<int64_t> dods = {0,
                               1,
                               -1,
                               8191,
                               8192,
                               8193,
                               -8191,
                               -8192,
                               -8193,
                               65535,
                               65536,
                               65537,
                               -65535,
                               -65536,
                               -65537,
                               524287,
                               524288,
                               524289,
                               -524287,
                               -524288,
                               -524289,
                               1 << 30,
                               -(1 << 30),
                               int64_t{1} << 40,
                               -(int64_t{1} << 40)};
  for (int64_t dod : dods) {
    SCOPED_TRACE(dod);
    // delta1 = 1000; delta2 = 1000 + dod; then back to dod 0.
    std::vector<S> in = {{1'700'000'000'000, B(1)}, {1'700'000'001'000, B(2)}};
    int64_t delta = 1000 + dod;
    in.push_back({in.back().t + delta, B(3)});
    in.push_back({in.back().t + delta, B(3)});
    in.push_back({in.back().t + delta - dod, B(4)});
    ExpectRoundTrip(in);
  }
}

// The bucket chosen for each dod decides the chunk size: check exact sizes
// for runs of alternating +d/-d dods (all values equal, 1 bit each).
TEST(XorChunkTest, BucketWidthsMatchPrometheus) {
  struct Case {
    int64_t d;     // alternating dods +d, -d, ...
    int bits_pos;  // bits for +d
    int bits_neg;  // bits for -d
  };
  std::vector<Case> cases = {
      {8192, 2 + 14, 3 + 17},  // +8192 fits 14 bits, -8192 does not
      {8191, 2 + 14, 2 + 14},   {65536, 3 + 17, 4 + 20},
      {524288, 4 + 20, 4 + 64}, {524289, 4 + 64, 4 + 64},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.d);
    XorChunk chunk;
    // Deltas 10'000'000, then +d, -d alternating: dods +d, -d, +d ...
    int64_t t = 0;
    int64_t delta = 10'000'000;
    ASSERT_TRUE(chunk.Append(t, 0).ok());
    t += delta;
    ASSERT_TRUE(chunk.Append(t, 0).ok());
    int bits = 16 + 8 * 1 /* varint(0) */ + 64 + 8 * 4 /* uvarint(1e7) */ + 1;
    for (int i = 0; i < 100; ++i) {
      int64_t dod = (i % 2 == 0) ? c.d : -c.d;
      delta += dod;
      t += delta;
      ASSERT_TRUE(chunk.Append(t, 0).ok());
      bits += ((i % 2 == 0) ? c.bits_pos : c.bits_neg) + 1;
    }
    EXPECT_EQ(chunk.Bytes().size(), static_cast<size_t>((bits + 7) / 8));
  }
}

TEST(XorChunkTest, RoundTripExtremeTimestamps) {
  ExpectRoundTrip({{std::numeric_limits<int64_t>::min(), B(1)},
                   {std::numeric_limits<int64_t>::max(), B(2)},
                   {0, B(3)},
                   {std::numeric_limits<int64_t>::min(), B(4)}});
  ExpectRoundTrip(
      {{-5'000'000'000'000, B(1)}, {-4'999'999'985'000, B(2)}, {-4'999'999'970'000, B(3)}});
}

TEST(XorChunkTest, RoundTrip120RealisticSamples) {
  std::mt19937_64 rng(42);
  std::vector<S> in;
  int64_t t = 1'700'000'000'000;
  double counter = 0;
  for (int i = 0; i < 120; ++i) {
    t += 15'000 + static_cast<int64_t>(rng() % 21) - 10;
    counter += static_cast<double>(rng() % 100);
    in.push_back({t, B(counter)});
  }
  ExpectRoundTrip(in);
  XorChunk c = Encode(in);
  // A jittery counter compresses far below 16 bytes/sample.
  EXPECT_LT(c.Bytes().size(), 120u * 6);
}

TEST(XorChunkTest, RoundTripRandomValues) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<S> in;
    int64_t t = static_cast<int64_t>(rng());
    int n = 1 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0:
          t += 1;
          break;
        case 1:
          t += static_cast<int64_t>(rng() % 100000);
          break;
        case 2:
          t -= static_cast<int64_t>(rng() % 1000);
          break;
        default:
          t = static_cast<int64_t>(rng());
          break;
      }
      uint64_t bits =
          (rng() % 3 == 0) ? (in.empty() ? 0 : in.back().bits ^ (rng() & 0xff00)) : rng();
      in.push_back({t, bits});
    }
    ExpectRoundTrip(in);
  }
}

TEST(XorChunkTest, SeekAndAt) {
  XorChunk c = Encode({{10, B(1)}, {20, B(2)}, {30, B(3)}});
  XorIterator it(c.Bytes());
  ASSERT_TRUE(it.Seek(15));
  EXPECT_EQ(it.At(), std::make_pair(int64_t{20}, 2.0));
  ASSERT_TRUE(it.Seek(20));  // stays
  EXPECT_EQ(it.t(), 20);
  ASSERT_TRUE(it.Seek(5));  // never goes back
  EXPECT_EQ(it.t(), 20);
  ASSERT_TRUE(it.Seek(30));
  EXPECT_EQ(it.t(), 30);
  EXPECT_FALSE(it.Seek(31));
  EXPECT_TRUE(it.status().ok());

  XorIterator empty(XorChunk().Bytes());
  EXPECT_FALSE(empty.Next());
  EXPECT_FALSE(empty.Seek(0));
  EXPECT_TRUE(empty.status().ok());
}

TEST(XorChunkTest, FromBytesContinuesTheStreamExactly) {
  std::mt19937_64 rng(3);
  std::vector<S> in;
  int64_t t = 1000;
  for (int i = 0; i < 50; ++i) {
    t += 1000 + static_cast<int64_t>(rng() % 50);
    in.push_back({t, B(static_cast<double>(rng() % 1000) / 8)});
  }
  for (size_t split : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{17}, size_t{49}}) {
    SCOPED_TRACE(split);
    XorChunk first = Encode(std::vector<S>(in.begin(), in.begin() + split));
    auto resumed = XorChunk::FromBytes(std::string(first.Bytes()));
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    for (size_t i = split; i < in.size(); ++i) {
      ASSERT_TRUE(resumed->Append(in[i].t, std::bit_cast<double>(in[i].bits)).ok());
    }
    EXPECT_EQ(Hex(resumed->Bytes()), Hex(Encode(in).Bytes()));
    EXPECT_EQ(resumed->MinTime(), in.front().t);
    EXPECT_EQ(resumed->MaxTime(), in.back().t);
  }
}

TEST(XorChunkTest, FullChunkRefusesMoreSamples) {
  XorChunk c;
  for (int i = 0; i < kMaxSamplesPerChunk; ++i) ASSERT_TRUE(c.Append(i, 1).ok());
  EXPECT_EQ(c.NumSamples(), 65535);
  EXPECT_EQ(c.Append(70000, 1).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Decode(c.Bytes()).size(), 65535u);
}

TEST(XorChunkTest, TruncatedChunksFailCleanly) {
  std::vector<S> in;
  for (int i = 0; i < 120; ++i) in.push_back({i * 15000 + (i % 3), B(i * 1.5)});
  XorChunk c = Encode(in);
  std::string full(c.Bytes());
  for (size_t n = 0; n < full.size(); ++n) {
    Status st;
    std::vector<S> out = Decode(std::string_view(full).substr(0, n), &st);
    EXPECT_FALSE(st.ok()) << "prefix of " << n << " bytes decoded fully";
    EXPECT_EQ(st.code(), StatusCode::kDataLoss);
    EXPECT_LT(out.size(), in.size());
    EXPECT_FALSE(XorChunk::FromBytes(full.substr(0, n)).ok());
  }
}

TEST(XorChunkTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    Status st;
    Decode(junk, &st);
    XorIterator it(junk);
    it.Seek(static_cast<int64_t>(rng()));
    (void)XorChunk::FromBytes(junk);
  }
}

}  // namespace
}  // namespace sightline::tsdb::chunkenc
