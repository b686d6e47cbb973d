// Token-bucket rate limiting, for the per-tenant ingestion limits of every
// signal (metrics samples/s, log bytes/s, spans/s, profile bytes/s).
//
// TokenBucket: `rate` tokens per second refill a bucket holding at most
// `burst` tokens (it starts full). AllowN(n) takes n tokens if the bucket
// holds them and says whether it did: a request is admitted whole or not at
// all, as Cortex/Mimir/Loki's distributors do (a request larger than the
// burst is never admitted). rate <= 0 means unlimited.
//
// RateLimiter: one TokenBucket per key (tenant), with a function giving each
// key's current (rate, burst), consulted on every call so that limit
// changes apply at once (a changed limit resets that key's bucket to full).
//
// Time: a caller-supplied monotonic clock in nanoseconds (for tests); by
// default std::chrono::steady_clock.
//
// Thread-safety: TokenBucket is NOT thread-safe (one owner, or an external
// lock). RateLimiter is thread-safe (a mutex per limiter; the critical
// section is a few arithmetic operations).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace sightline {

struct RateLimit {
  double rate = 0;   // tokens per second; <= 0: unlimited
  double burst = 0;  // bucket size; values below `rate` are raised to it

  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(RateLimit limit, int64_t now_ns);

  // Takes n tokens if available; false (taking nothing) otherwise.
  bool AllowN(double n, int64_t now_ns);
  // Seconds until n tokens will be available (0 if now; +inf if n exceeds
  // the burst, which never fits).
  double WaitSeconds(double n, int64_t now_ns);
  double tokens() const { return tokens_; }
  const RateLimit& limit() const { return limit_; }

 private:
  void Refill(int64_t now_ns);

  RateLimit limit_;
  double tokens_ = 0;
  int64_t last_ns_ = 0;
};

class RateLimiter {
 public:
  using LimitFn = std::function<RateLimit(std::string_view key)>;
  using ClockFn = std::function<int64_t()>;  // monotonic nanoseconds

  explicit RateLimiter(LimitFn limit_for_key, ClockFn clock = nullptr);

  // Takes n tokens from `key`'s bucket; false when over the limit.
  bool AllowN(std::string_view key, double n);
  // `key`'s current limit (from the LimitFn).
  RateLimit Limit(std::string_view key) const { return limit_fn_(key); }
  // Seconds until `key` could admit n (for Retry-After), at least 1.
  int RetryAfterSeconds(std::string_view key, double n);

 private:
  int64_t Now() const;

  LimitFn limit_fn_;
  ClockFn clock_;
  std::mutex mu_;
  std::map<std::string, TokenBucket, std::less<>> buckets_;
};

}  // namespace sightline
