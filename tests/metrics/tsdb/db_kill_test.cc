// kill -9 during sustained ingest (with background block cuts): every batch
// the writer acknowledged must be queryable after reopening, three rounds in
// a row on the same data directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness/harness.h"
#include "head_test_util.h"
#include "metrics/tsdb/db_multi_tenant.h"

namespace sightline::tsdb {
namespace {

using namespace testutil;  // NOLINT

constexpr int64_t kT0 = 1'699'999'200'000;
constexpr int kSeries = 50;
constexpr int kThreads = 2;

// (thread, batch) pairs from full "ack" lines.
std::set<std::pair<int, long>> Acked(const std::string& output) {
  std::set<std::pair<int, long>> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // the last line may be cut by the kill
    int k;
    long b;
    if (std::sscanf(line.c_str(), "ack %d %ld", &k, &b) == 2) out.insert({k, b});
  }
  return out;
}

bool WaitForOutput(testing::Process& p, size_t min_acks, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Acked(p.Output()).size() >= min_acks) return true;
    if (!p.Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(DbKillTest, AcknowledgedBatchesSurviveKill9) {
  testing::TempDir tmp;
  const std::string dir = tmp.Join("data");
  long next = 0;
  std::set<std::pair<int, long>> all_acked;
  for (int round = 0; round < 3; ++round) {
    auto p = testing::Process::Start(
        {DB_KILL_WRITER, dir, std::to_string(next), std::to_string(kThreads)});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE(WaitForOutput(**p, 50, std::chrono::seconds(60))) << (*p)->Output().substr(0, 4000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 200 * round));
    (*p)->Signal(SIGKILL);
    (*p)->Wait(std::chrono::seconds(30));
    std::set<std::pair<int, long>> acked = Acked((*p)->Output());
    ASSERT_FALSE(acked.empty());
    long max_batch = next;
    for (const auto& a : acked) max_batch = std::max(max_batch, a.second);
    all_acked.insert(acked.begin(), acked.end());

    MultiTenantDBOptions o;
    o.data_dir = dir;
    o.run_maintenance = false;
    auto db = MultiTenantDB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    Selection got;
    {
      auto q = (*db)->NewQuerier("anonymous", kT0, kT0 + (max_batch + 2000) * 60'000);
      ASSERT_TRUE(q.ok());
      got = ReadAll(**q, {Eq("__name__", "kill_test")});
    }
    ASSERT_TRUE(got.error.empty()) << got.error;
    // series -> timestamps present with the right value
    size_t missing = 0;
    for (const auto& [k, b] : all_acked) {
      for (int i = 0; i < kSeries; ++i) {
        std::string key = "{__name__=\"kill_test\", s=\"" + std::to_string(i) + "\", thread=\"" +
                          std::to_string(k) + "\"}";
        const auto& samples = got.series[key];
        const int64_t t = kT0 + b * 60'000;
        auto it = std::lower_bound(samples.begin(), samples.end(), BitsSample{t, 0});
        if (it == samples.end() || it->first != t ||
            it->second != std::bit_cast<uint64_t>(static_cast<double>(b))) {
          ++missing;
        }
      }
    }
    EXPECT_EQ(missing, 0u) << "round " << round << ": acknowledged samples lost";
    ASSERT_TRUE((*db)->Close().ok());
    // Unacknowledged batches may or may not be there; start well after them.
    next = max_batch + 1000;
  }
  EXPECT_GT(all_acked.size(), 150u);
}

}  // namespace
}  // namespace sightline::tsdb
