// Test-only child process for wal_crash_test: opens the WAL in argv[1]
// (kAlways), replays it, then appends numbered records "<n>|<filler>" from
// argv[2] (the first number) on, printing "ack <n>" after each Append
// returned OK, until it is killed. With argv[3] = threads > 1, several
// threads append concurrently (numbers are then taken from one counter and
// printed when acknowledged).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wal/wal.h"

using sightline::wal::Wal;
using sightline::wal::WalOptions;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <wal dir> <first number> [threads]\n", argv[0]);
    return 2;
  }
  WalOptions o;
  o.dir = argv[1];
  o.segment_size = 8 * 32 * 1024;  // small, so that rollovers happen too
  int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  auto wal = Wal::Open(o);
  if (!wal.ok()) {
    std::fprintf(stderr, "open: %s\n", wal.status().ToString().c_str());
    return 1;
  }
  sightline::Status s =
      (*wal)->Replay([](std::string_view, auto) { return sightline::Status::Ok(); });
  if (!s.ok()) {
    std::fprintf(stderr, "replay: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::atomic<long> next{std::atol(argv[2])};
  std::mutex out_mu;
  auto run = [&] {
    while (true) {
      long n = next.fetch_add(1);
      std::string rec = std::to_string(n) + "|";
      rec.append(static_cast<size_t>(n % 3000), static_cast<char>('a' + n % 26));
      auto pos = (*wal)->Append(rec);
      if (!pos.ok()) {
        std::fprintf(stderr, "append: %s\n", pos.status().ToString().c_str());
        std::exit(1);
      }
      std::lock_guard<std::mutex> l(out_mu);
      std::printf("ack %ld\n", n);
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
}
