#include "base/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace sightline {

namespace {

RateLimit Normalize(RateLimit l) {
  if (l.rate > 0 && l.burst < l.rate) l.burst = l.rate;
  return l;
}

}  // namespace

TokenBucket::TokenBucket(RateLimit limit, int64_t now_ns)
    : limit_(Normalize(limit)), tokens_(limit_.burst), last_ns_(now_ns) {}

void TokenBucket::Refill(int64_t now_ns) {
  if (now_ns <= last_ns_) return;
  double elapsed = static_cast<double>(now_ns - last_ns_) / 1e9;
  tokens_ = std::min(limit_.burst, tokens_ + elapsed * limit_.rate);
  last_ns_ = now_ns;
}

bool TokenBucket::AllowN(double n, int64_t now_ns) {
  if (limit_.rate <= 0) return true;
  Refill(now_ns);
  if (n > tokens_) return false;
  tokens_ -= n;
  return true;
}

double TokenBucket::WaitSeconds(double n, int64_t now_ns) {
  if (limit_.rate <= 0) return 0;
  if (n > limit_.burst) return std::numeric_limits<double>::infinity();
  Refill(now_ns);
  if (n <= tokens_) return 0;
  return (n - tokens_) / limit_.rate;
}

RateLimiter::RateLimiter(LimitFn limit_for_key, ClockFn clock)
    : limit_fn_(std::move(limit_for_key)), clock_(std::move(clock)) {}

int64_t RateLimiter::Now() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool RateLimiter::AllowN(std::string_view key, double n) {
  RateLimit limit = Normalize(limit_fn_(key));
  if (limit.rate <= 0) return true;
  int64_t now = Now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    it = buckets_.emplace(std::string(key), TokenBucket(limit, now)).first;
  } else if (!(it->second.limit() == limit)) {
    it->second = TokenBucket(limit, now);
  }
  return it->second.AllowN(n, now);
}

int RateLimiter::RetryAfterSeconds(std::string_view key, double n) {
  RateLimit limit = Normalize(limit_fn_(key));
  if (limit.rate <= 0) return 1;
  int64_t now = Now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 1;
  // A request larger than the burst never fits whole: tell the sender to
  // come back once the bucket is full again (it should split the request).
  double wait = it->second.WaitSeconds(std::min(n, limit.burst), now);
  if (!std::isfinite(wait)) wait = limit.burst / limit.rate;
  return std::max(1, static_cast<int>(std::ceil(wait)));
}

}  // namespace sightline
