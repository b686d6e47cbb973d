// The segment framing (docs/formats/wal.md): exact bytes, page handling, and
// every way the reader must refuse a damaged file.
#include "wal/segment.h"

#include <gtest/gtest.h>

#include <random>

#include "base/crc32c.h"
#include "io/mem_env.h"

namespace sightline::wal {
namespace {

struct Parsed {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  SegmentReader::Outcome end;
  uint64_t good_offset = 0;
  uint64_t error_offset = 0;
  std::string error;
};

Parsed Parse(const std::string& bytes) {
  io::MemEnv env;
  auto f = env.NewWritableFile("/seg");
  EXPECT_TRUE((*f)->Append(bytes).ok());
  auto file = env.NewRandomAccessFile("/seg");
  SegmentReader r(file->get());
  Parsed p;
  std::string_view rec;
  uint64_t off;
  while ((p.end = r.Next(&rec, &off)) == SegmentReader::Outcome::kRecord) {
    p.records.emplace_back(rec);
    p.offsets.push_back(off);
  }
  p.good_offset = r.good_offset();
  p.error_offset = r.error_offset();
  p.error = r.error();
  return p;
}

std::string Encode(const std::vector<std::string>& records,
                   std::vector<uint64_t>* starts = nullptr) {
  std::string out;
  uint64_t off = 0;
  for (const auto& r : records) {
    uint64_t end_expected = EncodedEnd(off, r.size());
    uint64_t start = EncodeRecord(r, 0, &off, &out);
    if (starts) starts->push_back(start);
    EXPECT_EQ(off, end_expected);
    EXPECT_EQ(off, out.size());
  }
  return out;
}

std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

TEST(SegmentNameTest, Names) {
  EXPECT_EQ(SegmentName(0), "00000000");
  EXPECT_EQ(SegmentName(42), "00000042");
  EXPECT_EQ(ParseSegmentName("00000042"), 42u);
  EXPECT_EQ(ParseSegmentName("4294967295"), 4294967295u);
  EXPECT_FALSE(ParseSegmentName("0000042"));
  EXPECT_FALSE(ParseSegmentName("0000004x"));
  EXPECT_FALSE(ParseSegmentName("00000042.tmp"));
  EXPECT_FALSE(ParseSegmentName("4294967296"));
  EXPECT_EQ(CheckpointName(7), "checkpoint.00000007");
  EXPECT_EQ(ParseCheckpointName("checkpoint.00000007"), 7u);
  EXPECT_FALSE(ParseCheckpointName("checkpoint.00000007.tmp"));
}

TEST(SegmentFormatTest, ExactBytesOfAFullRecord) {
  std::string out = Encode({"abc"});
  uint32_t crc = crc32c::Value("abc");
  std::string want = {
      char(kFull), 0,   3,  char(crc >> 24), char(crc >> 16), char(crc >> 8), char(crc),
      'a',         'b', 'c'};
  EXPECT_EQ(out, want);
  EXPECT_EQ(crc, 0x364b3fb7u);
}

TEST(SegmentFormatTest, EmptyRecordIsAHeader) {
  std::string out = Encode({""});
  ASSERT_EQ(out.size(), kHeaderSize);
  EXPECT_EQ(out[0], char(kFull));
  auto p = Parse(out);
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0], "");
  EXPECT_EQ(p.end, SegmentReader::Outcome::kEnd);
}

TEST(SegmentFormatTest, LargeRecordIsFragmentedAcrossPages) {
  std::string big = Bytes(3 * kPageSize, 1);
  std::string out = Encode({"x", big, "y"});
  // FIRST in page 0, MIDDLE in pages 1 and 2, LAST in page 3.
  EXPECT_EQ(static_cast<uint8_t>(out[8]), kFirst);
  EXPECT_EQ(static_cast<uint8_t>(out[kPageSize]), kMiddle);
  EXPECT_EQ(static_cast<uint8_t>(out[2 * kPageSize]), kMiddle);
  EXPECT_EQ(static_cast<uint8_t>(out[3 * kPageSize]), kLast);
  auto p = Parse(out);
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[1], big);
  EXPECT_EQ(p.offsets[1], 8u);
  EXPECT_EQ(p.end, SegmentReader::Outcome::kEnd);
}

TEST(SegmentFormatTest, PageTailsShorterThanAHeaderArePadded) {
  // Leave exactly 0..8 bytes at the end of the first page, then write more.
  for (uint64_t left = 0; left <= 8; ++left) {
    std::string first = Bytes(kPageSize - kHeaderSize - left, 2);
    std::vector<uint64_t> starts;
    std::string out = Encode({first, "next", ""}, &starts);
    if (left < kHeaderSize || left == kHeaderSize) {
      // Padded (for left == 7 because "next" needs a payload byte).
      EXPECT_EQ(starts[1], kPageSize) << left;
    } else {
      EXPECT_EQ(starts[1], kPageSize - left) << left;
    }
    auto p = Parse(out);
    ASSERT_EQ(p.records.size(), 3u) << left;
    EXPECT_EQ(p.records[0], first);
    EXPECT_EQ(p.records[1], "next");
    EXPECT_EQ(p.offsets, starts);
    EXPECT_EQ(p.end, SegmentReader::Outcome::kEnd);
  }
}

TEST(SegmentFormatTest, ManyRandomRecordsRoundTrip) {
  std::mt19937 rng(5);
  std::vector<std::string> recs;
  for (int i = 0; i < 500; ++i) {
    size_t n = rng() % 4 == 0 ? rng() % 100000 : rng() % 300;
    recs.push_back(Bytes(n, i));
  }
  std::vector<uint64_t> starts;
  auto p = Parse(Encode(recs, &starts));
  EXPECT_EQ(p.records, recs);
  EXPECT_EQ(p.offsets, starts);
  EXPECT_EQ(p.end, SegmentReader::Outcome::kEnd);
}

// The gathering form (what the WAL writes with writev) is the same bytes,
// record starts, completed pages and end offsets as the copying one, from
// every offset near a page end and for sizes around the page size.
TEST(SegmentFormatTest, GatherEqualsCopy) {
  std::mt19937 rng(11);
  std::vector<uint64_t> sizes = {0, 1, 2, 6, 7, 8, 100, kPageSize - kHeaderSize - 1,
                                 kPageSize - kHeaderSize, kPageSize - kHeaderSize + 1, kPageSize,
                                 3 * kPageSize + 5, 200000};
  std::vector<uint64_t> starts = {100, 5000, kPageSize + 12345};
  for (uint64_t d = 0; d <= 16; ++d) {
    starts.push_back(kPageSize + d);
    starts.push_back(kPageSize - 1 - d);
    starts.push_back(d);
  }
  for (uint64_t start : starts) {
    for (uint64_t size : sizes) {
      std::string rec = Bytes(size, static_cast<uint32_t>(rng() % 1000));
      uint64_t off_a = start, off_b = start, pages_a = 0, pages_b = 0;
      std::string copy;
      GatherBuffer gather;
      uint64_t sa = EncodeRecord(rec, kSnappyFlag, &off_a, &copy, &pages_a);
      uint64_t sb = EncodeRecordGather(rec, kSnappyFlag, &off_b, &gather, &pages_b);
      std::string joined;
      for (std::string_view p : gather.pieces) joined.append(p);
      ASSERT_EQ(sa, sb) << start << " " << size;
      ASSERT_EQ(off_a, off_b) << start << " " << size;
      ASSERT_EQ(pages_a, pages_b) << start << " " << size;
      ASSERT_EQ(gather.bytes, joined.size());
      ASSERT_TRUE(joined == copy) << start << " " << size;
      // Payload pieces are the record's own bytes, not copies.
      if (size > kPageSize) {
        bool points_into_record = false;
        for (std::string_view p : gather.pieces) {
          if (p.data() >= rec.data() && p.data() < rec.data() + rec.size()) points_into_record = true;
        }
        EXPECT_TRUE(points_into_record);
      }
    }
  }
}

TEST(SegmentFormatTest, PagePadding) {
  EXPECT_EQ(PagePadding(0), 0u);
  EXPECT_EQ(PagePadding(1), kPageSize - 1);
  EXPECT_EQ(PagePadding(kPageSize), 0u);
}

TEST(SegmentReaderTest, TruncationAtEveryOffsetIsTorn) {
  std::string big = Bytes(kPageSize + 100, 3);
  std::string out = Encode({"first", big});
  const uint64_t second = 5 + kHeaderSize;
  for (uint64_t cut = second + 1; cut < out.size(); ++cut) {
    auto p = Parse(out.substr(0, cut));
    ASSERT_EQ(p.records.size(), 1u) << cut;
    EXPECT_EQ(p.end, SegmentReader::Outcome::kTorn) << cut;
    EXPECT_EQ(p.good_offset, second) << cut;
  }
}

TEST(SegmentReaderTest, Corruptions) {
  const std::string base = Encode({"hello", "world"});
  const uint64_t second = 5 + kHeaderSize;
  auto corrupt = [&](uint64_t at, char value) {
    std::string s = base;
    s[at] = value;
    return Parse(s);
  };
  // A payload bit flip.
  auto p = corrupt(second + kHeaderSize + 1, 'X');
  EXPECT_EQ(p.end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.error_offset, second);
  EXPECT_EQ(p.good_offset, second);
  EXPECT_NE(p.error.find("checksum"), std::string::npos);
  // A CRC flip.
  EXPECT_EQ(corrupt(second + 4, 0x55).end, SegmentReader::Outcome::kCorrupt);
  // Unknown type, unknown flag bits.
  EXPECT_EQ(corrupt(second, 5).end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(corrupt(second, char(0x41)).end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(corrupt(second, char(kFull | kSnappyFlag | kZstdFlag)).end,
            SegmentReader::Outcome::kCorrupt);
  // MIDDLE / LAST without FIRST; FIRST followed by FULL.
  EXPECT_EQ(corrupt(0, kMiddle).end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(corrupt(0, kLast).end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(corrupt(0, kFirst).end, SegmentReader::Outcome::kCorrupt);
  // A length that crosses the page.
  auto q = corrupt(1, char(0xff));
  EXPECT_EQ(q.end, SegmentReader::Outcome::kCorrupt);
  EXPECT_NE(q.error.find("page boundary"), std::string::npos);
  // Garbage in page padding.
  std::string padded = base + std::string(PagePadding(base.size()), '\0') + Encode({"p2"});
  padded[base.size() + 100] = 1;
  auto r = Parse(padded);
  EXPECT_EQ(r.end, SegmentReader::Outcome::kCorrupt);
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.error_offset, base.size() + 100);
}

TEST(SegmentReaderTest, ZeroTails) {
  const std::string base = Encode({"hello"});
  // Zeros stopping inside a page: a preallocated / torn tail.
  auto p = Parse(base + std::string(1000, '\0'));
  EXPECT_EQ(p.end, SegmentReader::Outcome::kTorn);
  EXPECT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.good_offset, base.size());
  // Zeros up to the page end: legitimate padding.
  auto q = Parse(base + std::string(PagePadding(base.size()), '\0'));
  EXPECT_EQ(q.end, SegmentReader::Outcome::kEnd);
  EXPECT_EQ(q.good_offset, kPageSize);
  // A whole page of zeros after the padding, then a partial one.
  auto r = Parse(base + std::string(PagePadding(base.size()) + kPageSize + 10, '\0'));
  EXPECT_EQ(r.end, SegmentReader::Outcome::kTorn);
  EXPECT_EQ(r.good_offset, 2 * kPageSize);
}

}  // namespace
}  // namespace sightline::wal
