#include "base/periodic_worker.h"

#include <algorithm>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace sightline {
namespace {

// now() + a huge duration would overflow the clock's representation.
constexpr PeriodicWorker::Duration kMaxDelay = std::chrono::hours(24 * 365);

void SetCurrentThreadName(const std::string& name) {
#if defined(__linux__)
  if (name.empty()) return;
  // The kernel keeps 15 characters plus the NUL; longer names fail with ERANGE.
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
#else
  (void)name;
#endif
}

}  // namespace

PeriodicWorker::PeriodicWorker(std::string name, Duration period, Callback fn, Tag)
    : name_(std::move(name)), period_(period), fn_(std::move(fn)) {}

PeriodicWorker::~PeriodicWorker() { Stop(); }

void PeriodicWorker::Start(std::optional<Duration> first_delay) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this, d = first_delay.value_or(period_)] { Loop(d); });
}

void PeriodicWorker::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void PeriodicWorker::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t PeriodicWorker::runs() const {
  std::lock_guard<std::mutex> l(mu_);
  return runs_;
}

void PeriodicWorker::Loop(Duration first_delay) {
  SetCurrentThreadName(name_);
  Duration delay = first_delay;
  bool wakeable = true;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    delay = std::clamp(delay, Duration::zero(), kMaxDelay);
    cv_.wait_for(l, delay, [&] { return stop_ || (wakeable && woken_); });
    if (stop_) return;
    woken_ = false;  // this run answers every Wake() so far
    l.unlock();
    Next next = fn_();
    l.lock();
    ++runs_;
    delay = next.delay.value_or(period_);
    wakeable = next.wakeable;
  }
}

}  // namespace sightline
