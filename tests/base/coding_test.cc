#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "base/crc32c.h"
#include "base/status.h"

namespace sightline {
namespace {

TEST(Crc32cTest, KnownValues) {
  // RFC 3720 (iSCSI) appendix B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::Value(ones), 0x62a8ab43u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c::Value(inc), 0x46dd794eu);
  EXPECT_EQ(crc32c::Value("123456789"), 0xe3069283u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::mt19937 rng(1);
  std::string data(1000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  uint32_t whole = crc32c::Value(data);
  for (size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    uint32_t c = crc32c::Extend(0, data.data(), split);
    c = crc32c::Extend(c, data.data() + split, data.size() - split);
    EXPECT_EQ(c, whole) << split;
  }
}

TEST(CodingTest, VarintRoundTrip) {
  std::string buf;
  std::vector<uint64_t> u = {0, 1, 127, 128, 300, 1ull << 35, ~0ull};
  std::vector<int64_t> s = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX};
  for (auto v : u) coding::PutUvarint(buf, v);
  for (auto v : s) coding::PutVarint(buf, v);
  coding::PutFixed32BE(buf, 0xdeadbeef);
  coding::PutFixed64LE(buf, 0x0102030405060708ull);
  coding::PutLengthPrefixed(buf, "hello");
  coding::Reader r(buf);
  for (auto v : u) EXPECT_EQ(r.Uvarint(), v);
  for (auto v : s) EXPECT_EQ(r.Varint(), v);
  EXPECT_EQ(r.Fixed32BE(), 0xdeadbeefu);
  EXPECT_EQ(r.Fixed64LE(), 0x0102030405060708ull);
  EXPECT_EQ(r.LengthPrefixed(), "hello");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(coding::UvarintLength(300), 2);
}

// PutUvarint appends the same bytes as the byte-at-a-time encoding for
// every length (1-10 bytes), after existing content; Uvarint reads them back
// and a failed Reader keeps returning 0, whatever the next byte.
TEST(CodingTest, UvarintEveryLength) {
  for (int bits = 0; bits <= 64; ++bits) {
    for (uint64_t v : {bits == 64 ? ~0ull : (1ull << bits) - 1, bits == 64 ? 0ull : 1ull << bits}) {
      std::string want = "x";
      for (uint64_t t = v; ; t >>= 7) {
        if (t < 0x80) {
          want.push_back(static_cast<char>(t));
          break;
        }
        want.push_back(static_cast<char>(t | 0x80));
      }
      std::string got = "x";
      coding::PutUvarint(got, v);
      EXPECT_EQ(got, want) << v;
      EXPECT_EQ(static_cast<int>(got.size()) - 1, coding::UvarintLength(v)) << v;
      coding::Reader r(std::string_view(got).substr(1));
      EXPECT_EQ(r.Uvarint(), v);
      EXPECT_TRUE(r.ok());
      EXPECT_TRUE(r.empty());
    }
  }
  coding::Reader bad(std::string_view("\x80\x80\x80", 3));
  bad.Bytes(4);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.Uvarint(), 0u);
  coding::Reader after(std::string_view("\x05\x05", 2));
  after.Bytes(3);
  EXPECT_EQ(after.Uvarint(), 0u);  // not 5: the reader already failed
  EXPECT_FALSE(after.ok());
}

TEST(CodingTest, ReaderFailsCleanlyOnTruncationAndOverflow) {
  coding::Reader r(std::string_view("\x80\x80", 2));
  r.Uvarint();
  EXPECT_FALSE(r.ok());
  std::string eleven(11, '\xff');
  coding::Reader o(eleven);
  o.Uvarint();
  EXPECT_FALSE(o.ok());
  coding::Reader l(std::string_view("\x05" "abc", 4));
  EXPECT_EQ(l.LengthPrefixed(), "");
  EXPECT_FALSE(l.ok());
  coding::Reader f(std::string_view("abc", 3));
  f.Fixed32BE();
  EXPECT_FALSE(f.ok());
}

TEST(StatusTest, ResultAndMacros) {
  auto half = [](int x) -> Result<int> {
    if (x % 2) return InvalidArgumentError("odd");
    return x / 2;
  };
  auto quarter = [&](int x) -> Result<int> {
    SL_ASSIGN_OR_RETURN(int h, half(x));
    SL_ASSIGN_OR_RETURN(int q, half(h));
    return q;
  };
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(quarter(6).status().ToString(), "InvalidArgument: odd");
  EXPECT_EQ(NotFoundError("x").Annotate("get a").message(), "get a: x");
}

}  // namespace
}  // namespace sightline
