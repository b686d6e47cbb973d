// PeriodicWorker: one background thread that runs a callback again and again,
// a fixed period apart, until stopped. It is the single implementation of the
// "std::thread + mutex + condition_variable + wait_for(period, stop) + join"
// loop that every signal's maintenance, sync, cut and retention work needs.
//
// Timing: the delay is counted from the END of one run to the start of the
// next (a slow run never causes runs to pile up). The first run happens
// `first_delay` after Start(first_delay) (default: one period; 0: at once).
// The callback chooses the next delay by what it returns:
//   - Next::Period()            : the fixed period (what a void callback gets);
//   - Next::After(d)            : `d` instead (e.g. a retry sooner or later);
//   - Next::After(d, /*wakeable=*/false): `d`, and Wake() does not cut it
//     short — a backoff after a failure that a burst of notifications must not
//     defeat (Stop() still does).
// Delays are capped at one year; a delay <= 0 runs again at once.
//
// Wake(): the next run starts soon (at once if the worker is waiting, or right
// after the run in progress ends), unless the current delay is not wakeable. A
// Wake() is satisfied by any run that starts after it; several Wake() calls
// before that run are one. Wake() before Start() makes the first run immediate.
//
// Thread-safety: every method may be called from any thread. The callback
// never runs concurrently with itself (one thread runs it). Stop() and the
// destructor must not be called from inside the callback (they would wait for
// the callback to return).
//
// Lifecycle: constructing starts nothing; Start() starts the thread (no-op if
// it is running). Stop() is idempotent, may be called before Start(), wakes
// the thread, and returns only after the run in progress (if any) finished
// and the thread was joined; no run starts after Stop() returns. Start() after
// Stop() starts a new thread. The destructor calls Stop(). An owner whose
// callback uses the owner's members must Stop() the worker (or declare it
// after those members, so that it is destroyed first) before they go away.
//
// The optional `name` names the thread (pthread_setname_np; Linux keeps 15
// characters, longer names are cut) so that `top -H`, perf and gdb show which
// loop a thread is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace sightline {

class PeriodicWorker {
 public:
  using Duration = std::chrono::milliseconds;

  // When the callback wants to run next.
  struct Next {
    static Next Period() { return Next{}; }
    static Next After(Duration delay, bool wakeable = true) { return Next{delay, wakeable}; }

    std::optional<Duration> delay;  // nullopt: the fixed period
    bool wakeable = true;           // false: Wake() does not shorten `delay`
  };

  // `name` names the thread; `period` is the fixed delay between runs; `fn`
  // returns Next, or void (then every delay is the period).
  template <typename F>
  PeriodicWorker(std::string name, Duration period, F fn)
      : PeriodicWorker(std::move(name), period, Adapt(std::move(fn)), Tag{}) {}

  ~PeriodicWorker();

  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Starts the thread; the first run comes `first_delay` later (nullopt: one
  // period; zero: at once). No-op if the thread is running.
  void Start(std::optional<Duration> first_delay = std::nullopt);
  void Wake();
  void Stop();

  // How many runs have completed (for tests and debugging).
  uint64_t runs() const;

 private:
  struct Tag {};
  using Callback = std::function<Next()>;

  template <typename F>
  static Callback Adapt(F fn) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      return [fn = std::move(fn)]() mutable {
        fn();
        return Next::Period();
      };
    } else {
      return Callback(std::move(fn));
    }
  }

  PeriodicWorker(std::string name, Duration period, Callback fn, Tag);
  void Loop(Duration first_delay);

  const std::string name_;
  const Duration period_;
  Callback fn_;

  std::mutex lifecycle_mu_;  // serializes Start/Stop; held across join
  std::thread thread_;       // guarded by lifecycle_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  uint64_t runs_ = 0;   // guarded by mu_
};

}  // namespace sightline
