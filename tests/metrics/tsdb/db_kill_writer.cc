// A child process for db_kill_test: ingests into the metrics storage with
// block cuts running in the background, and prints every acknowledged batch
// ("ack <thread> <batch>") after its Commit returned OK, until it is killed.
//
//   tsdb_db_kill_writer <data_dir> <first_batch> <threads>
//
// Batch b of thread k: series {__name__="kill_test", thread="k", s="0".."49"}
// at t = kT0 + b * 60s with value b.
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics/tsdb/db_multi_tenant.h"

namespace {

constexpr int64_t kT0 = 1'699'999'200'000;
constexpr int kSeries = 50;

}  // namespace

int main(int argc, char** argv) {
  using namespace sightline;  // NOLINT
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <data_dir> <first_batch> <threads>\n", argv[0]);
    return 2;
  }
  const long first = std::atol(argv[2]);
  const int threads = std::atoi(argv[3]);
  tsdb::MultiTenantDBOptions o;
  o.data_dir = argv[1];
  o.tenant_defaults.head.stripes = 64;
  o.tenant_defaults.wal_segment_size = 1 << 20;
  o.tenant_defaults.local_retention_ms = 0;  // no store: keep every block
  o.maintenance_interval = std::chrono::milliseconds(100);
  auto db = tsdb::MultiTenantDB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::mutex out_mu;
  std::vector<std::thread> ts;
  for (int k = 0; k < threads; ++k) {
    ts.emplace_back([&, k] {
      std::vector<uint64_t> refs(kSeries, 0);
      for (long b = first;; ++b) {
        auto app = (*db)->NewAppender("anonymous");
        for (int i = 0; i < kSeries; ++i) {
          auto r =
              app->Append(refs[i],
                          tsdb::Labels::FromStrings({"__name__", "kill_test", "thread",
                                                     std::to_string(k), "s", std::to_string(i)}),
                          kT0 + b * 60'000, static_cast<double>(b));
          if (!r.ok()) {
            std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          refs[i] = *r;
        }
        Status st = app->Commit();
        if (!st.ok()) {
          std::fprintf(stderr, "commit: %s\n", st.ToString().c_str());
          std::exit(1);
        }
        std::lock_guard<std::mutex> l(out_mu);
        std::printf("ack %d %ld\n", k, b);
        std::fflush(stdout);
      }
    });
  }
  for (auto& t : ts) t.join();
  return 0;
}
