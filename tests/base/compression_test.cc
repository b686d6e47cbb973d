#include "base/compression.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>
#include <vector>

namespace sightline {
namespace {

constexpr Codec kAllCodecs[] = {Codec::kNone, Codec::kGzip, Codec::kDeflate, Codec::kSnappy,
                                Codec::kZstd};
constexpr Codec kRealCodecs[] = {Codec::kGzip, Codec::kDeflate, Codec::kSnappy, Codec::kZstd};

std::string TextPayload(size_t n) {
  std::string s;
  while (s.size() < n)
    s += "up{job=\"api\",instance=\"10.0.0." + std::to_string(s.size() % 97) + "\"} 1\n";
  s.resize(n);
  return s;
}

std::string RandomPayload(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

long MaxRssKiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// gzip of `total` zero bytes, built streaming so that the input never exists.
std::string GzipOfZeros(size_t total) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string zeros(1 << 20, '\0');
  std::string out;
  char buf[1 << 16];
  size_t left = total;
  for (;;) {
    size_t n = std::min(left, zeros.size());
    left -= n;
    zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
    zs.avail_in = static_cast<uInt>(n);
    int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      rc = deflate(&zs, flush);
      out.append(buf, sizeof(buf) - zs.avail_out);
    } while (zs.avail_out == 0);
    if (flush == Z_FINISH) {
      EXPECT_EQ(rc, Z_STREAM_END);
      break;
    }
  }
  deflateEnd(&zs);
  return out;
}

// Must run first in this binary: ru_maxrss only grows.
TEST(CompressionTest, AGzipBombIsRefusedWithoutAllocatingIt) {
  std::string bomb = GzipOfZeros(size_t{256} << 20);
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  long before = MaxRssKiB();
  auto r = Decompress(Codec::kGzip, bomb, size_t{1} << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  long grown_mib = (MaxRssKiB() - before) / 1024;
  EXPECT_LT(grown_mib, 32) << "decompressing a 256 MiB bomb with a 1 MiB cap grew RSS by "
                           << grown_mib << " MiB";
}

TEST(CompressionTest, RoundTripsEveryCodec) {
  std::vector<std::string> payloads = {"", "x", TextPayload(100 * 1000), RandomPayload(70000, 1),
                                       std::string(3 << 20, 'a')};
  for (Codec c : kAllCodecs) {
    for (const std::string& p : payloads) {
      auto compressed = Compress(c, p);
      ASSERT_TRUE(compressed.ok()) << CodecName(c);
      auto back = Decompress(c, *compressed, p.size());
      ASSERT_TRUE(back.ok()) << CodecName(c) << " size " << p.size() << ": "
                             << back.status().ToString();
      EXPECT_EQ(*back, p) << CodecName(c);
    }
  }
}

TEST(CompressionTest, LimitIsExact) {
  std::string p = TextPayload(50000);
  for (Codec c : kAllCodecs) {
    auto compressed = Compress(c, p);
    ASSERT_TRUE(compressed.ok());
    EXPECT_TRUE(Decompress(c, *compressed, p.size()).ok()) << CodecName(c);
    auto over = Decompress(c, *compressed, p.size() - 1);
    ASSERT_FALSE(over.ok()) << CodecName(c);
    EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted) << CodecName(c);
  }
}

TEST(CompressionTest, ZeroLimitAcceptsOnlyEmptyOutput) {
  for (Codec c : kAllCodecs) {
    auto empty = Compress(c, "");
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(Decompress(c, *empty, 0).ok()) << CodecName(c);
    auto one = Compress(c, "a");
    EXPECT_EQ(Decompress(c, *one, 0).status().code(), StatusCode::kResourceExhausted)
        << CodecName(c);
  }
}

TEST(CompressionTest, ExpandingCodecsStopAtTheCap) {
  std::string big(64 << 20, '\0');
  for (Codec c : kRealCodecs) {
    auto compressed = Compress(c, big, 1);
    ASSERT_TRUE(compressed.ok());
    auto r = Decompress(c, *compressed, 1 << 20);
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << CodecName(c);
  }
}

TEST(CompressionTest, SnappyLengthHeaderIsCheckedFirst) {
  // Varint 0x80 0x80 0x80 0x80 0x04 = 1 GiB, followed by almost nothing.
  std::string lying("\x80\x80\x80\x80\x04\x00", 6);
  auto r = Decompress(Codec::kSnappy, lying, 1 << 20);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  // Claims 100 bytes but holds garbage.
  std::string garbage("\x64\xff\xff\xff\xff", 5);
  EXPECT_EQ(Decompress(Codec::kSnappy, garbage, 1 << 20).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CompressionTest, ZstdStreamingFrameWithoutContentSize) {
  // Streaming compression leaves the frame content size unset.
  std::string payload = TextPayload(300000);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string out(ZSTD_compressBound(payload.size()), '\0');
  ZSTD_inBuffer in{payload.data(), payload.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  // Feeding with e_continue first keeps the size unknown to the encoder.
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_continue)));
  ASSERT_EQ(in.pos, in.size);
  ZSTD_inBuffer none{nullptr, 0, 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &ob, &none, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  out.resize(ob.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  auto r = Decompress(Codec::kZstd, out, payload.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, payload);
  EXPECT_EQ(Decompress(Codec::kZstd, out, 1000).status().code(), StatusCode::kResourceExhausted);
}

TEST(CompressionTest, ConcatenatedGzipMembersAndZstdFrames) {
  for (Codec c : {Codec::kGzip, Codec::kZstd}) {
    std::string joined = *Compress(c, "hello ") + *Compress(c, "world");
    auto r = Decompress(c, joined, 100);
    ASSERT_TRUE(r.ok()) << CodecName(c) << ": " << r.status().ToString();
    EXPECT_EQ(*r, "hello world");
  }
}

TEST(CompressionTest, RawDeflateIsAcceptedAsDeflate) {
  std::string payload = TextPayload(20000);
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, payload.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(payload.data());
  zs.avail_in = static_cast<uInt>(payload.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  auto r = Decompress(Codec::kDeflate, out, payload.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, payload);
}

TEST(CompressionTest, MalformedTruncatedAndTrailingInputIsInvalid) {
  std::string payload = TextPayload(40000);
  for (Codec c : kRealCodecs) {
    std::string good = *Compress(c, payload);
    std::string truncated = good.substr(0, good.size() / 2);
    EXPECT_EQ(Decompress(c, truncated, 1 << 20).status().code(), StatusCode::kInvalidArgument)
        << CodecName(c) << " truncated";
    EXPECT_EQ(Decompress(c, RandomPayload(500, 7), 1 << 20).status().code(),
              StatusCode::kInvalidArgument)
        << CodecName(c) << " random";
    if (c != Codec::kSnappy) {  // a snappy block has no end marker
      EXPECT_EQ(Decompress(c, good + "garbage!", 1 << 20).status().code(),
                StatusCode::kInvalidArgument)
          << CodecName(c) << " trailing";
    }
  }
  EXPECT_EQ(Decompress(Codec::kGzip, "", 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Decompress(Codec::kZstd, "", 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Decompress(Codec::kSnappy, "", 10).status().code(), StatusCode::kInvalidArgument);
}

TEST(CompressionTest, CodecFromContentEncoding) {
  EXPECT_EQ(*CodecFromContentEncoding(""), Codec::kNone);
  EXPECT_EQ(*CodecFromContentEncoding("identity"), Codec::kNone);
  EXPECT_EQ(*CodecFromContentEncoding("gzip"), Codec::kGzip);
  EXPECT_EQ(*CodecFromContentEncoding(" GZip "), Codec::kGzip);
  EXPECT_EQ(*CodecFromContentEncoding("x-gzip"), Codec::kGzip);
  EXPECT_EQ(*CodecFromContentEncoding("deflate"), Codec::kDeflate);
  EXPECT_EQ(*CodecFromContentEncoding("snappy"), Codec::kSnappy);
  EXPECT_EQ(*CodecFromContentEncoding("zstd"), Codec::kZstd);
  EXPECT_EQ(*CodecFromContentEncoding("identity, gzip"), Codec::kGzip);
  EXPECT_EQ(CodecFromContentEncoding("br").status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(CodecFromContentEncoding("gzip, zstd").status().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace sightline
