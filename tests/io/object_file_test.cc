#include "io/object_file.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "telemetry/metrics.h"

namespace sightline::io {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

PageCacheOptions Opts(telemetry::Registry* reg, uint64_t capacity, size_t page = 512) {
  PageCacheOptions o;
  o.registry = reg;
  o.capacity_bytes = capacity;
  o.page_size = page;
  o.name = "test";
  return o;
}

TEST(ObjectFileTest, ReadsAnyRangeAcrossPages) {
  MemoryObjectStore store;
  const std::string data = Pattern(5000);
  ASSERT_TRUE(store.Put("b/chunks/000001", data).ok());
  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 1 << 20));
  auto f = OpenObjectFile(&store, "b/chunks/000001", &cache);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->Size(), 5000u);
  std::string scratch;
  for (auto [off, n] : std::vector<std::pair<uint64_t, size_t>>{
           {0, 1}, {0, 512}, {511, 2}, {100, 3000}, {4990, 100}, {0, 5000}, {1024, 512}}) {
    auto r = (*f)->Read(off, n, &scratch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    size_t want = std::min<size_t>(n, data.size() - off);
    EXPECT_EQ(std::string(*r), data.substr(off, want)) << off << "+" << n;
  }
  auto end = (*f)->Read(5000, 10, &scratch);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
  auto past = (*f)->Read(5001, 1, &scratch);
  EXPECT_EQ(past.status().code(), StatusCode::kOutOfRange);
}

TEST(ObjectFileTest, PrefetchCoalescesRangesAndLaterReadsHitTheCache) {
  MemoryObjectStore mem;
  FaultyObjectStore store(&mem);
  const std::string data = Pattern(100 * 512);  // 100 pages of 512
  ASSERT_TRUE(mem.Put("seg", data).ok());
  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 1 << 20));
  // Pages 1, 2 (a range across them), 5, 60 and 99 (clamped at the end).
  std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {700, 400}, {5 * 512 + 10, 20}, {60 * 512, 1}, {99 * 512 + 500, 1000}, {60 * 512 + 3, 2}};
  auto st = PrefetchObjectRanges(&store, "seg", &cache, data.size(), ranges, /*max_gap=*/1024);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  // Runs: pages 1-5 (gaps of 2 pages <= 1024 bytes), 60, 99.
  EXPECT_EQ(st->requests, 3u);
  EXPECT_EQ(store.calls(kFaultGetRange), 3u);
  EXPECT_EQ(st->bytes, 5u * 512 + 512 + 512);
  EXPECT_EQ(cache.pages(), 7u);
  // Reads through an object file on the same store and cache: no request.
  auto f = OpenObjectFile(&store, "seg", &cache, data.size());
  ASSERT_TRUE(f.ok());
  std::string scratch;
  for (auto [off, n] : ranges) {
    auto r = (*f)->Read(off, n, &scratch);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::string(*r), data.substr(off, std::min<uint64_t>(n, data.size() - off)));
  }
  EXPECT_EQ(store.calls(kFaultGetRange), 3u);
  // Already cached: nothing fetched. No gap allowed: one request per page.
  EXPECT_EQ(PrefetchObjectRanges(&store, "seg", &cache, data.size(), ranges, 1024)->requests, 0u);
  PageCache other(Opts(&reg, 1 << 20));
  EXPECT_EQ(PrefetchObjectRanges(&store, "seg", &other, data.size(), ranges, 0)->requests, 4u);
  // More than half the cache: skipped; no cache: nothing; errors surface.
  PageCache small(Opts(&reg, 4 * 512));
  EXPECT_EQ(PrefetchObjectRanges(&store, "seg", &small, data.size(), ranges, 1024)->requests, 0u);
  EXPECT_EQ(PrefetchObjectRanges(&store, "seg", nullptr, data.size(), ranges)->requests, 0u);
  PageCache third(Opts(&reg, 1 << 20));
  store.FailNext(kFaultGetRange, 1, StatusCode::kPermissionDenied);
  EXPECT_EQ(PrefetchObjectRanges(&store, "seg", &third, data.size(), ranges).status().code(),
            StatusCode::kPermissionDenied);
  // An object shorter than promised: an error (the store's, or DataLoss).
  EXPECT_FALSE(
      PrefetchObjectRanges(&store, "seg", &third, data.size() + 4096, {{data.size(), 10}}).ok());
  EXPECT_EQ(
      PrefetchObjectRanges(&store, "seg", &third, data.size() + 4096, {{data.size() - 10, 20}})
          .status()
          .code(),
      StatusCode::kDataLoss);
}

TEST(ObjectFileTest, CacheAccountsHitsAndBytesAndEvicts) {
  MemoryObjectStore store;
  const std::string data = Pattern(4096);  // 8 pages of 512
  ASSERT_TRUE(store.Put("o", data).ok());
  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 4 * 512));  // room for 4 pages
  auto f = OpenObjectFile(&store, "o", &cache, data.size());
  ASSERT_TRUE(f.ok());
  std::string scratch;
  ASSERT_TRUE((*f)->Read(0, 1024, &scratch).ok());  // pages 0,1: 2 misses
  EXPECT_EQ(cache.requests(), 2u);
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.size_bytes(), 1024u);
  ASSERT_TRUE((*f)->Read(10, 600, &scratch).ok());  // pages 0,1 again: 2 hits
  EXPECT_EQ(cache.requests(), 4u);
  EXPECT_EQ(cache.hits(), 2u);
  ASSERT_TRUE((*f)->Read(1024, 2048, &scratch).ok());  // pages 2..5: evicts 0,1
  EXPECT_EQ(cache.size_bytes(), 4u * 512);
  EXPECT_EQ(cache.pages(), 4u);
  ASSERT_TRUE((*f)->Read(0, 1, &scratch).ok());  // page 0 was evicted: miss
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(std::string(scratch), data.substr(0, 1));

  std::string text = reg.Expose();
  EXPECT_NE(text.find("sightline_object_page_cache_requests_total{cache=\"test\"} 9"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sightline_object_page_cache_hits_total{cache=\"test\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("sightline_object_page_cache_bytes{cache=\"test\"} 2048"), std::string::npos);
}

TEST(ObjectFileTest, CachedPagesAreNotFetchedAgain) {
  MemoryObjectStore mem;
  FaultyObjectStore store(&mem);
  const std::string data = Pattern(3000);
  ASSERT_TRUE(mem.Put("o", data).ok());
  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 1 << 20));
  auto f = OpenObjectFile(&store, "o", &cache);
  ASSERT_TRUE(f.ok());
  std::string scratch;
  ASSERT_TRUE((*f)->Read(0, 3000, &scratch).ok());
  EXPECT_EQ(store.calls(kFaultGetRange), 1u);  // one ranged read for the run
  // The store now fails every read, but the cache has every page.
  store.FailNext(kFaultReads, 100);
  auto r = (*f)->Read(700, 1500, &scratch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(std::string(*r), data.substr(700, 1500));
  // A second file on the same object shares the pages.
  auto g = OpenObjectFile(&store, "o", &cache, data.size());
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE((*g)->Read(2999, 1, &scratch).ok());
}

TEST(ObjectFileTest, StoreErrorsSurface) {
  MemoryObjectStore mem;
  FaultyObjectStore store(&mem);
  ASSERT_TRUE(mem.Put("o", Pattern(2000)).ok());
  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 1 << 20));

  auto missing = OpenObjectFile(&store, "nope", &cache);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  store.FailNext(kFaultHead, 1, StatusCode::kUnavailable);
  EXPECT_EQ(OpenObjectFile(&store, "o", &cache).status().code(), StatusCode::kUnavailable);

  auto f = OpenObjectFile(&store, "o", &cache);
  ASSERT_TRUE(f.ok());
  std::string scratch;
  store.FailNext(kFaultGetRange, 1, StatusCode::kPermissionDenied);
  EXPECT_EQ((*f)->Read(0, 10, &scratch).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(cache.pages(), 0u);  // nothing cached from a failed read
  EXPECT_TRUE((*f)->Read(0, 10, &scratch).ok());

  // The object shrank behind our back: DataLoss, not garbage.
  ASSERT_TRUE(mem.Put("o", Pattern(100)).ok());
  auto r = (*f)->Read(1500, 10, &scratch);
  EXPECT_FALSE(r.ok());
}

TEST(ObjectFileTest, WorksWithoutCacheAndConcurrently) {
  MemoryObjectStore store;
  const std::string data = Pattern(20000);
  ASSERT_TRUE(store.Put("o", data).ok());
  auto nocache = OpenObjectFile(&store, "o", nullptr);
  ASSERT_TRUE(nocache.ok());
  std::string scratch;
  auto r = (*nocache)->Read(123, 4567, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(*r), data.substr(123, 4567));

  telemetry::Registry reg;
  PageCache cache(Opts(&reg, 8 * 1024));  // smaller than the object: constant eviction
  auto f = OpenObjectFile(&store, "o", &cache);
  ASSERT_TRUE(f.ok());
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string s;
      for (int i = 0; i < 200; ++i) {
        uint64_t off = static_cast<uint64_t>((i * 997 + t * 131) % 19000);
        auto x = (*f)->Read(off, 900, &s);
        if (!x.ok() || std::string(*x) != data.substr(off, 900)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(cache.size_bytes(), 8u * 1024);
}

}  // namespace
}  // namespace sightline::io
