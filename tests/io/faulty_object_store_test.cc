// FaultyObjectStore: injected errors (deterministic and seeded-random),
// latency, torn uploads, and thread-safety.
#include "io/faulty_object_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "harness/harness.h"
#include "io/memory_object_store.h"

namespace sightline::io {
namespace {

TEST(FaultyObjectStoreTest, PassesThroughWithoutFaults) {
  MemoryObjectStore mem;
  FaultyObjectStore faulty(&mem);
  ASSERT_TRUE(faulty.Put("k", "v").ok());
  auto got = faulty.Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "v");
  EXPECT_EQ(faulty.injected(), 0u);
  EXPECT_EQ(faulty.calls(kFaultPut), 1u);
  EXPECT_EQ(faulty.calls(kFaultGet), 1u);
  EXPECT_EQ(faulty.Describe(), "faulty(memory)");
}

TEST(FaultyObjectStoreTest, FailNextIsExactAndPerOperation) {
  MemoryObjectStore mem;
  FaultyObjectStore faulty(&mem);
  faulty.FailNext(kFaultPut, 2, StatusCode::kUnavailable);
  faulty.FailNext(kFaultGet | kFaultHead, 1, StatusCode::kDeadlineExceeded);

  Status s = faulty.Put("k", "v");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("injected fault"), std::string::npos) << s.message();
  EXPECT_EQ(mem.ObjectCount(), 0u);  // the failed call never reached the store
  EXPECT_EQ(faulty.Put("k", "v").code(), StatusCode::kUnavailable);
  EXPECT_TRUE(faulty.Put("k", "v").ok());  // third attempt succeeds
  EXPECT_EQ(mem.ObjectCount(), 1u);

  EXPECT_TRUE(faulty.List({}).ok());  // not selected
  EXPECT_EQ(faulty.Head("k").status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(faulty.Get("k").ok());
  EXPECT_EQ(faulty.injected(), 3u);
}

TEST(FaultyObjectStoreTest, ProbabilisticErrorsAreSeededAndReproducible) {
  auto run = [](uint64_t seed) {
    MemoryObjectStore mem;
    FaultOptions opts;
    opts.seed = seed;
    opts.error_probability = 0.3;
    opts.error_ops = kFaultGet;
    FaultyObjectStore faulty(&mem, opts);
    EXPECT_TRUE(faulty.Put("k", "v").ok());  // uploads not selected
    std::string pattern;
    for (int i = 0; i < 200; ++i) pattern += faulty.Get("k").ok() ? '.' : 'X';
    return pattern;
  };
  std::string a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto failures = std::count(a.begin(), a.end(), 'X');
  EXPECT_GT(failures, 30);  // ~60 expected
  EXPECT_LT(failures, 100);
}

TEST(FaultyObjectStoreTest, TornTruncatedUploadStoresHalfAndFails) {
  MemoryObjectStore mem;
  FaultyObjectStore faulty(&mem);
  faulty.TearNext(1, TornUpload::kTruncated);
  Status s = faulty.Put("blk/chunk", "0123456789");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  auto stored = mem.Get("blk/chunk");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, "01234");
  // The next upload is whole.
  ASSERT_TRUE(faulty.Put("blk/chunk", "0123456789").ok());
  EXPECT_EQ(*mem.Get("blk/chunk"), "0123456789");
}

TEST(FaultyObjectStoreTest, TornAfterWriteStoresAllButReportsFailure) {
  MemoryObjectStore mem;
  FaultyObjectStore faulty(&mem);
  faulty.TearNext(1, TornUpload::kWrittenThenError);
  sightline::testing::TempDir tmp;
  sightline::testing::WriteFile(tmp.Join("f"), "file content");
  EXPECT_FALSE(faulty.PutFile("k", tmp.Join("f")).ok());
  EXPECT_EQ(*mem.Get("k"), "file content");

  faulty.TearNext(1, TornUpload::kTruncated);
  EXPECT_FALSE(faulty.PutFile("k2", tmp.Join("f")).ok());
  EXPECT_EQ(*mem.Get("k2"), "file c");
  EXPECT_EQ(faulty.injected(), 2u);
}

TEST(FaultyObjectStoreTest, ProbabilisticTornUploads) {
  MemoryObjectStore mem;
  FaultOptions opts;
  opts.torn_probability = 1.0;
  opts.torn_kind = TornUpload::kTruncated;
  FaultyObjectStore faulty(&mem, opts);
  EXPECT_FALSE(faulty.Put("a", "abcd").ok());
  EXPECT_EQ(*mem.Get("a"), "ab");
  faulty.Clear();
  EXPECT_TRUE(faulty.Put("a", "abcd").ok());
}

TEST(FaultyObjectStoreTest, AddsLatencyToSelectedOps) {
  MemoryObjectStore mem;
  FaultOptions opts;
  opts.latency = std::chrono::milliseconds(30);
  opts.latency_ops = kFaultGet;
  FaultyObjectStore faulty(&mem, opts);
  ASSERT_TRUE(faulty.Put("k", "v").ok());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(faulty.Get("k").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

// A retry loop like the shipper's proves the object lands despite faults.
TEST(FaultyObjectStoreTest, ConcurrentCallersRetryUntilDurable) {
  MemoryObjectStore mem;
  FaultOptions opts;
  opts.error_probability = 0.5;
  opts.torn_probability = 0.2;
  FaultyObjectStore faulty(&mem, opts);
  constexpr int kThreads = 8, kKeys = 25;
  std::atomic<int> attempts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeys; ++k) {
        std::string key = "t" + std::to_string(t) + "/" + std::to_string(k);
        std::string value(100 + k, static_cast<char>('a' + t));
        while (true) {
          ++attempts;
          if (!faulty.Put(key, value).ok()) continue;
          auto got = faulty.Get(key);
          if (got.ok() && *got == value) break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mem.ObjectCount(), static_cast<size_t>(kThreads * kKeys));
  EXPECT_GT(faulty.injected(), 0u);
  EXPECT_GT(attempts.load(), kThreads * kKeys);
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeys; ++k) {
      auto got = mem.Get("t" + std::to_string(t) + "/" + std::to_string(k));
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(*got, std::string(100 + k, static_cast<char>('a' + t)));
    }
  }
}

}  // namespace
}  // namespace sightline::io
