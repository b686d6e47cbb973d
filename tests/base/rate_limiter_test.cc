#include "base/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

namespace sightline {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(TokenBucketTest, StartsFullAndRefillsAtRate) {
  TokenBucket b({.rate = 10, .burst = 20}, 0);
  EXPECT_TRUE(b.AllowN(20, 0));
  EXPECT_FALSE(b.AllowN(1, 0));
  EXPECT_FALSE(b.AllowN(6, kSec / 2));  // 5 tokens after 0.5 s
  EXPECT_TRUE(b.AllowN(5, kSec / 2));
  EXPECT_TRUE(b.AllowN(20, 10 * kSec));  // capped at the burst
  EXPECT_FALSE(b.AllowN(1, 10 * kSec));
}

TEST(TokenBucketTest, RequestLargerThanBurstNeverFits) {
  TokenBucket b({.rate = 10, .burst = 20}, 0);
  EXPECT_FALSE(b.AllowN(21, 100 * kSec));
  EXPECT_EQ(b.tokens(), 20);  // a refused request takes nothing
  EXPECT_TRUE(std::isinf(b.WaitSeconds(21, 100 * kSec)));
  EXPECT_TRUE(b.AllowN(15, 100 * kSec));
  EXPECT_DOUBLE_EQ(b.WaitSeconds(10, 100 * kSec), 0.5);
}

TEST(TokenBucketTest, BurstBelowRateIsRaisedAndZeroRateIsUnlimited) {
  TokenBucket b({.rate = 100, .burst = 0}, 0);
  EXPECT_TRUE(b.AllowN(100, 0));
  EXPECT_FALSE(b.AllowN(1, 0));
  TokenBucket unlimited({.rate = 0, .burst = 0}, 0);
  EXPECT_TRUE(unlimited.AllowN(1e12, 0));
}

TEST(RateLimiterTest, PerKeyBucketsAndLimitChanges) {
  int64_t now = 0;
  RateLimit a{.rate = 1, .burst = 2};
  RateLimiter rl(
      [&](std::string_view key) { return key == "a" ? a : RateLimit{.rate = 0, .burst = 0}; },
      [&] { return now; });
  EXPECT_TRUE(rl.AllowN("a", 2));
  EXPECT_FALSE(rl.AllowN("a", 1));
  EXPECT_EQ(rl.RetryAfterSeconds("a", 1), 1);
  EXPECT_EQ(rl.RetryAfterSeconds("a", 2), 2);
  EXPECT_TRUE(rl.AllowN("b", 1e9));  // unlimited key
  now += kSec;
  EXPECT_TRUE(rl.AllowN("a", 1));
  a = {.rate = 5, .burst = 5};  // a new limit starts a full bucket
  EXPECT_TRUE(rl.AllowN("a", 5));
  EXPECT_FALSE(rl.AllowN("a", 1));
}

TEST(RateLimiterTest, ConcurrentCallersNeverOverspend) {
  RateLimiter rl([](std::string_view) { return RateLimit{.rate = 1e-9, .burst = 1000}; },
                 [] { return int64_t{0}; });
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) admitted += rl.AllowN("t", 1) ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
}

}  // namespace
}  // namespace sightline
