#include "metrics/tsdb/chunks/chunks.h"

#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "base/crc32c.h"
#include "io/mem_env.h"

namespace sightline::tsdb {
namespace {

using chunkenc::Encoding;

std::string ChunkData(int i) {
  chunkenc::XorChunk c;
  for (int k = 0; k <= i % 40; ++k) EXPECT_TRUE(c.Append(1000 * k + i, k * 0.5 + i).ok());
  return std::string(c.Bytes());
}

TEST(ChunksTest, WriteReadRoundTripAndLayout) {
  io::MemEnv env;
  auto w = ChunkWriter::Create(&env, "/b/chunks");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 100; ++i) {
    auto ref = (*w)->Write(Encoding::kXor, ChunkData(i));
    ASSERT_TRUE(ref.ok());
    refs.push_back(*ref);
  }
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_EQ(refs[0], MakeChunkRef(0, 8));  // right after the 8-byte header

  auto file = env.ReadFile("/b/chunks/000001");
  ASSERT_TRUE(file.ok());
  // Header: magic, version 1, three zero bytes.
  EXPECT_EQ(file->substr(0, 8), std::string("\x85\xBD\x40\xDD\x01\x00\x00\x00", 8));
  // First chunk: uvarint length, encoding byte, data, CRC32C(encoding+data).
  std::string d0 = ChunkData(0);
  std::string want;
  coding::PutUvarint(want, d0.size());
  want += '\x01';
  want += d0;
  coding::PutFixed32BE(want, crc32c::Value(want.data() + 1, want.size() - 1));
  EXPECT_EQ(file->substr(8, want.size()), want);

  auto r = ChunkReader::Open(&env, "/b/chunks");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string scratch;
  for (int i = 0; i < 100; ++i) {
    auto c = (*r)->Read(refs[i], &scratch);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->encoding, Encoding::kXor);
    EXPECT_EQ(c->data, ChunkData(i));
  }
}

TEST(ChunksTest, CutsSegmentsAtTheConfiguredSize) {
  io::MemEnv env;
  auto w = ChunkWriter::Create(&env, "/c", 1000);
  ASSERT_TRUE(w.ok());
  std::vector<ChunkRef> refs;
  std::string big(3000, 'x');  // larger than a segment: gets one of its own
  for (int i = 0; i < 200; ++i) {
    auto ref = (*w)->Write(Encoding::kXor, i == 50 ? big : ChunkData(i));
    ASSERT_TRUE(ref.ok());
    refs.push_back(*ref);
  }
  ASSERT_TRUE((*w)->Close().ok());
  auto children = env.GetChildren("/c");
  ASSERT_TRUE(children.ok());
  ASSERT_GT(children->size(), 5u);
  for (size_t i = 0; i < children->size(); ++i) {
    EXPECT_EQ((*children)[i], SegmentFileName(static_cast<uint32_t>(i)));
    auto size = env.GetFileSize("/c/" + (*children)[i]);
    ASSERT_TRUE(size.ok());
    if (*size > 1000) {
      EXPECT_GT(*size, 3000u);  // only the big chunk's segment
    }
  }
  EXPECT_EQ(ChunkRefOffset(refs[50]), 8u);
  auto r = ChunkReader::Open(&env, "/c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->num_segments(), children->size());
  std::string scratch;
  for (int i = 0; i < 200; ++i) {
    auto c = (*r)->Read(refs[i], &scratch);
    ASSERT_TRUE(c.ok()) << i << ": " << c.status().ToString();
    EXPECT_EQ(c->data, i == 50 ? big : ChunkData(i));
  }
  EXPECT_EQ(ChunkRefSegment(refs.back()), children->size() - 1);
}

TEST(ChunksTest, BadRefsAndCorruptionAreErrors) {
  io::MemEnv env;
  auto w = ChunkWriter::Create(&env, "/c");
  ASSERT_TRUE(w.ok());
  auto ref = (*w)->Write(Encoding::kXor, ChunkData(7));
  ASSERT_TRUE(ref.ok());
  ASSERT_TRUE((*w)->Close().ok());
  std::string good = *env.ReadFile("/c/000001");

  auto r = ChunkReader::Open(&env, "/c");
  ASSERT_TRUE(r.ok());
  std::string scratch;
  EXPECT_EQ((*r)->Read(MakeChunkRef(1, 8), &scratch).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ((*r)->Read(MakeChunkRef(0, 0), &scratch).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ((*r)->Read(MakeChunkRef(0, 1 << 30), &scratch).status().code(), StatusCode::kDataLoss);
  // Every offset inside the file either decodes to a CRC-valid chunk (only
  // the real one) or fails.
  for (uint32_t off = 0; off < good.size() + 2; ++off) {
    auto c = (*r)->Read(MakeChunkRef(0, off), &scratch);
    if (off == 8) {
      EXPECT_TRUE(c.ok());
    } else {
      EXPECT_FALSE(c.ok()) << off;
    }
  }

  // Flip each byte of the chunk in turn: the CRC (or length) catches it.
  for (size_t i = 8; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    ASSERT_TRUE(env.WriteFileAtomic("/c/000001", bad).ok());
    auto r2 = ChunkReader::Open(&env, "/c");
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ((*r2)->Read(*ref, &scratch).status().code(), StatusCode::kDataLoss) << i;
  }
  // Truncation.
  for (size_t n = 8; n < good.size(); ++n) {
    ASSERT_TRUE(env.WriteFileAtomic("/c/000001", good.substr(0, n)).ok());
    auto r2 = ChunkReader::Open(&env, "/c");
    ASSERT_TRUE(r2.ok());
    EXPECT_FALSE((*r2)->Read(*ref, &scratch).ok()) << n;
  }
  // Bad headers fail Open.
  for (size_t i = 0; i < 5; ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    ASSERT_TRUE(env.WriteFileAtomic("/c/000001", bad).ok());
    EXPECT_EQ(ChunkReader::Open(&env, "/c").status().code(), StatusCode::kDataLoss) << i;
  }
  ASSERT_TRUE(env.WriteFileAtomic("/c/000001", good.substr(0, 5)).ok());
  EXPECT_EQ(ChunkReader::Open(&env, "/c").status().code(), StatusCode::kDataLoss);
}

TEST(ChunksTest, ReaderIgnoresNonNumberedFilesAndOrdersNumerically) {
  io::MemEnv env;
  auto w = ChunkWriter::Create(&env, "/c", 100);
  ASSERT_TRUE(w.ok());
  std::vector<ChunkRef> refs;
  for (int i = 0; i < 30; ++i) refs.push_back(*(*w)->Write(Encoding::kXor, ChunkData(i)));
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE(env.WriteFileAtomic("/c/README", "not a segment").ok());
  auto r = ChunkReader::Open(&env, "/c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string scratch;
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*r)->Read(refs[i], &scratch)->data, ChunkData(i));
}

}  // namespace
}  // namespace sightline::tsdb
