#include "base/heap.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace sightline {
namespace {

TEST(HeapTest, ReleaseKeepsLiveMemoryIntact) {
  std::vector<std::unique_ptr<char[]>> keep;
  for (int i = 0; i < 64; ++i) {
    keep.push_back(std::make_unique<char[]>(64 * 1024));
    std::memset(keep.back().get(), i, 64 * 1024);
  }
  // Free every other block, then give free pages back.
  for (size_t i = 0; i < keep.size(); i += 2) keep[i].reset();
  ReleaseFreeHeapMemory();
  for (size_t i = 1; i < keep.size(); i += 2) {
    for (size_t j = 0; j < 64 * 1024; j += 4096) {
      ASSERT_EQ(keep[i][j], static_cast<char>(i)) << "block " << i;
    }
  }
}

#if defined(SIGHTLINE_TEST_JEMALLOC)

TEST(HeapTest, JemallocIsFoundAndPurgesFreedPages) {
  ASSERT_TRUE(HeapIsJemalloc());
  auto before = ReadHeapStats();
  ASSERT_TRUE(before.has_value());
  EXPECT_GT(before->allocated, 0u);
  EXPECT_GE(before->resident, before->active);

  // 64 MiB in blocks below jemalloc's oversize threshold (8 MiB; larger
  // ones are returned at once): what a replay's buffers look like.
  constexpr size_t kBig = 64u << 20, kBlock = 256u << 10;
  {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (size_t i = 0; i < kBig / kBlock; ++i) {
      blocks.push_back(std::make_unique<char[]>(kBlock));
      std::memset(blocks.back().get(), 1, kBlock);  // resident
    }
    auto during = ReadHeapStats();
    ASSERT_TRUE(during.has_value());
    EXPECT_GE(during->allocated, before->allocated + kBig * 9 / 10);
  }
  // Freed, but jemalloc keeps the pages (dirty) until its decay time.
  auto freed = ReadHeapStats();
  ReleaseFreeHeapMemory();
  auto after = ReadHeapStats();
  ASSERT_TRUE(freed.has_value() && after.has_value());
  EXPECT_LT(after->resident + kBig / 2, freed->resident)
      << "resident " << freed->resident << " -> " << after->resident;
}

#else

TEST(HeapTest, WithoutJemallocThereAreNoStats) {
  EXPECT_FALSE(HeapIsJemalloc());
  EXPECT_FALSE(ReadHeapStats().has_value());
}

#endif

}  // namespace
}  // namespace sightline
