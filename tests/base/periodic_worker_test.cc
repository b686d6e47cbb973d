#include "base/periodic_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace sightline {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Generous: a loaded CI machine (ASan, 2 cores) must not fail a correct
// worker. Tests only wait this long when the worker is broken.
constexpr auto kTimeout = std::chrono::seconds(20);
constexpr milliseconds kHour = std::chrono::hours(1);

// Records the start and end times of every run and lets a test wait for N.
class Recorder {
 public:
  void Begin() {
    std::lock_guard<std::mutex> l(mu_);
    starts_.push_back(Clock::now());
    cv_.notify_all();
  }
  void End() {
    std::lock_guard<std::mutex> l(mu_);
    ends_.push_back(Clock::now());
    cv_.notify_all();
  }
  // True once `n` runs have ended (false on timeout).
  bool WaitEnded(size_t n, std::chrono::nanoseconds timeout = kTimeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return ends_.size() >= n; });
  }
  bool WaitStarted(size_t n, std::chrono::nanoseconds timeout = kTimeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return starts_.size() >= n; });
  }
  size_t started() {
    std::lock_guard<std::mutex> l(mu_);
    return starts_.size();
  }
  // The start and end times of the runs so far.
  std::pair<std::vector<Clock::time_point>, std::vector<Clock::time_point>> times() {
    std::lock_guard<std::mutex> l(mu_);
    return {starts_, ends_};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> starts_;
  std::vector<Clock::time_point> ends_;
};

// A gate a callback can block on until the test opens it.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(PeriodicWorkerTest, HonoursThePeriodBetweenRuns) {
  const milliseconds period(30);
  Recorder rec;
  PeriodicWorker w("pw-test", period, [&] {
    rec.Begin();
    rec.End();
  });
  const auto started = Clock::now();
  w.Start();
  ASSERT_TRUE(rec.WaitEnded(4));
  w.Stop();
  auto [starts, ends] = rec.times();
  // The first run waits one period; each next one a period after the last ended.
  EXPECT_GE(starts[0] - started, period);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_GE(starts[i] - ends[i - 1], period) << "run " << i;
  }
  EXPECT_EQ(w.runs(), starts.size());
}

TEST(PeriodicWorkerTest, FirstDelayZeroRunsAtOnce) {
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&] {
    rec.Begin();
    rec.End();
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitEnded(1));
  // The next run is an hour away.
  EXPECT_FALSE(rec.WaitStarted(2, milliseconds(100)));
}

TEST(PeriodicWorkerTest, WakeRunsSoon) {
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&] {
    rec.Begin();
    rec.End();
  });
  w.Start();
  EXPECT_FALSE(rec.WaitStarted(1, milliseconds(50)));  // an hour to wait
  w.Wake();
  ASSERT_TRUE(rec.WaitEnded(1));
  w.Wake();
  ASSERT_TRUE(rec.WaitEnded(2));
  // Each Wake() is answered once; then the period applies again.
  EXPECT_FALSE(rec.WaitStarted(3, milliseconds(100)));
}

TEST(PeriodicWorkerTest, WakeDuringARunRunsAgainAfterIt) {
  Recorder rec;
  Gate gate;
  PeriodicWorker w("pw-test", kHour, [&] {
    rec.Begin();
    if (rec.started() == 1) gate.Pass();
    rec.End();
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitStarted(1));
  w.Wake();
  w.Wake();  // several wakes before the next run are one
  gate.Open();
  ASSERT_TRUE(rec.WaitEnded(2));
  EXPECT_FALSE(rec.WaitStarted(3, milliseconds(100)));
}

TEST(PeriodicWorkerTest, WakeBeforeStartMakesTheFirstRunImmediate) {
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&] {
    rec.Begin();
    rec.End();
  });
  w.Wake();
  w.Start();
  ASSERT_TRUE(rec.WaitEnded(1));
}

TEST(PeriodicWorkerTest, StopWaitsForTheRunningCallback) {
  std::atomic<bool> finished{false};
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&] {
    rec.Begin();
    std::this_thread::sleep_for(milliseconds(100));
    finished = true;
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitStarted(1));
  const auto before = Clock::now();
  w.Stop();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(w.runs(), 1u);
  // And it did not wait for the hour-long period.
  EXPECT_LT(Clock::now() - before, std::chrono::seconds(10));
}

TEST(PeriodicWorkerTest, StopInterruptsTheWait) {
  PeriodicWorker w("pw-test", kHour, [] {});
  w.Start();
  const auto before = Clock::now();
  w.Stop();
  EXPECT_LT(Clock::now() - before, std::chrono::seconds(10));
  EXPECT_EQ(w.runs(), 0u);
}

TEST(PeriodicWorkerTest, StopBeforeStartAndTwiceIsHarmless) {
  Recorder rec;
  PeriodicWorker w("pw-test", milliseconds(5), [&] {
    rec.Begin();
    rec.End();
  });
  w.Stop();
  w.Stop();
  EXPECT_EQ(rec.started(), 0u);
  w.Start(milliseconds(0));
  w.Start(milliseconds(0));  // already running: no second thread
  ASSERT_TRUE(rec.WaitEnded(2));
  w.Stop();
  w.Stop();
  const size_t n = rec.started();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(rec.started(), n) << "a run started after Stop() returned";
  // Start after Stop runs again.
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitEnded(n + 1));
  w.Stop();
}

TEST(PeriodicWorkerTest, StopFromManyThreadsAtOnce) {
  PeriodicWorker w("pw-test", milliseconds(1), [] {});
  w.Start();
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { w.Stop(); });
  for (auto& t : ts) t.join();
}

TEST(PeriodicWorkerTest, CallbackDelayReplacesThePeriod) {
  const milliseconds retry(40);
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&]() -> PeriodicWorker::Next {
    rec.Begin();
    rec.End();
    // Fail twice (retry soon), then succeed (back to the period).
    if (rec.started() <= 2) return PeriodicWorker::Next::After(retry);
    return PeriodicWorker::Next::Period();
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitEnded(3));
  auto [starts, ends] = rec.times();
  EXPECT_GE(starts[1] - ends[0], retry);
  EXPECT_GE(starts[2] - ends[1], retry);
  EXPECT_FALSE(rec.WaitStarted(4, milliseconds(100)));
}

TEST(PeriodicWorkerTest, UnwakeableBackoffIgnoresWake) {
  const milliseconds backoff(150);
  Recorder rec;
  PeriodicWorker w("pw-test", kHour, [&]() -> PeriodicWorker::Next {
    rec.Begin();
    rec.End();
    if (rec.started() == 1) return PeriodicWorker::Next::After(backoff, false);
    return PeriodicWorker::Next::After(kHour, true);
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitEnded(1));
  w.Wake();  // ignored: the backoff holds
  ASSERT_TRUE(rec.WaitEnded(2));
  auto [starts, ends] = rec.times();
  EXPECT_GE(starts[1] - ends[0], backoff);
  // A wakeable delay is cut short by Wake().
  w.Wake();
  ASSERT_TRUE(rec.WaitEnded(3));
}

TEST(PeriodicWorkerTest, StopDuringUnwakeableBackoffIsPrompt) {
  PeriodicWorker w("pw-test", kHour, [] { return PeriodicWorker::Next::After(kHour, false); });
  w.Start(milliseconds(0));
  while (w.runs() == 0) std::this_thread::sleep_for(milliseconds(1));
  const auto before = Clock::now();
  w.Stop();
  EXPECT_LT(Clock::now() - before, std::chrono::seconds(10));
}

TEST(PeriodicWorkerTest, DestructionStopsAndWaits) {
  std::atomic<int> runs{0};
  std::atomic<bool> in_run{false};
  {
    PeriodicWorker w("pw-test", milliseconds(1), [&] {
      in_run = true;
      std::this_thread::sleep_for(milliseconds(5));
      ++runs;
      in_run = false;
    });
    w.Start(milliseconds(0));
    while (runs.load() < 2) std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_FALSE(in_run.load());
  const int n = runs.load();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), n);
}

#if defined(__linux__)
TEST(PeriodicWorkerTest, NamesItsThread) {
  std::mutex mu;
  std::string name;
  Recorder rec;
  PeriodicWorker w("a-rather-long-worker-name", kHour, [&] {
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    {
      std::lock_guard<std::mutex> l(mu);
      name = buf;
    }
    rec.Begin();
    rec.End();
  });
  w.Start(milliseconds(0));
  ASSERT_TRUE(rec.WaitEnded(1));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(name, "a-rather-long-w");  // cut to 15 characters
}
#endif

}  // namespace
}  // namespace sightline
