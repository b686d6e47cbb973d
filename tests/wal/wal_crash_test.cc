// Real crashes: a child process appends with kAlways and is SIGKILLed; every
// record it acknowledged must be in the WAL, whole and in order. Plus a
// compatibility check against a WAL written by the real Prometheus.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "harness/harness.h"
#include "io/env.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "wal/segment.h"
#include "wal/wal.h"

namespace sightline::wal {
namespace {

std::vector<long> Acked(const std::string& output) {
  std::vector<long> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    // A line cut by the kill has no newline: getline still returns it, but
    // then it is the last one and may be partial; only count full lines.
    if (in.eof()) break;
    if (line.rfind("ack ", 0) == 0) out.push_back(std::stol(line.substr(4)));
  }
  return out;
}

bool WaitFor(testing::Process& p, const std::string& what, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p.Output().find(what) != std::string::npos) return true;
    if (!p.Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class WalKillTest : public ::testing::TestWithParam<int> {};

TEST_P(WalKillTest, AcknowledgedRecordsSurviveKill9) {
  const int threads = GetParam();
  testing::TempDir tmp;
  const std::string dir = tmp.Join("wal");
  long next = 0;
  std::set<long> acked_all;
  for (int round = 0; round < 3; ++round) {
    auto p = testing::Process::Start(
        {WAL_CRASH_WRITER, dir, std::to_string(next), std::to_string(threads)});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE(WaitFor(**p, "ready", std::chrono::seconds(30))) << (*p)->Output();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    (*p)->Signal(SIGKILL);
    auto st = (*p)->Wait(std::chrono::seconds(10));
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(WIFSIGNALED(*st)) << (*p)->Output();
    std::vector<long> acked = Acked((*p)->Output());
    ASSERT_GT(acked.size(), 10u) << "the writer made no progress:\n"
                                 << (*p)->Output().substr(0, 2000);
    for (long n : acked) acked_all.insert(n);

    // Reopen: every acknowledged number is there, in order, whole.
    telemetry::Registry registry;
    WalOptions o;
    o.dir = dir;
    o.registry = &registry;
    o.segment_size = 8 * 32 * 1024;
    auto wal = Wal::Open(o);
    ASSERT_TRUE(wal.ok());
    std::vector<long> seen;
    Status s = (*wal)->Replay([&](std::string_view rec, WalPosition) {
      size_t bar = rec.find('|');
      EXPECT_NE(bar, std::string_view::npos);
      long n = std::stol(std::string(rec.substr(0, bar)));
      EXPECT_EQ(rec.size(), bar + 1 + static_cast<size_t>(n % 3000)) << n;
      seen.push_back(n);
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::set<long> seen_set(seen.begin(), seen.end());
    EXPECT_EQ(seen_set.size(), seen.size()) << "duplicates";
    for (long n : acked_all) ASSERT_TRUE(seen_set.count(n)) << "acknowledged " << n << " lost";
    if (threads == 1) {
      // One appender: the numbers are consecutive.
      for (size_t i = 1; i < seen.size(); ++i) ASSERT_EQ(seen[i], seen[i - 1] + 1);
    }
    next = (seen.empty() ? 0 : *std::max_element(seen.begin(), seen.end())) + 1;
    std::printf("round %d: %zu acknowledged, %zu in the WAL, %llu corruptions repaired\n", round,
                acked.size(), seen.size(),
                static_cast<unsigned long long>((*wal)->replay_stats().corruptions));
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, WalKillTest, ::testing::Values(1, 4));

// The framing is Prometheus's: a WAL written by Prometheus 2.42 (snappy
// compression on by default) reads cleanly, and its records carry the
// Prometheus record types.
TEST(PrometheusCompatTest, ReadsAWalWrittenByPrometheus) {
  if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus not installed";
  testing::TempDir tmp;
  int port = testing::FreePort();
  testing::WriteFile(tmp.Join("prometheus.yml"),
                     "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n"
                     "    static_configs:\n      - targets: ['127.0.0.1:" +
                         std::to_string(port) + "']\n");
  auto p =
      testing::Process::Start({"/usr/bin/prometheus", "--config.file=" + tmp.Join("prometheus.yml"),
                               "--storage.tsdb.path=" + tmp.Join("data"),
                               "--storage.tsdb.wal-compression",  // the default, made explicit
                               "--web.listen-address=127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(p.ok());
  const std::string wal_dir = tmp.Join("data/wal");
  // Wait until some samples were scraped and written, then stop it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool scraped = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto size = io::Env::Default()->GetFileSize(wal_dir + "/00000000");
    if (size.ok() && *size > 10000) {
      scraped = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  (*p)->Signal(SIGTERM);
  (*p)->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(scraped) << (*p)->Output().substr(0, 3000);

  auto segs = io::Env::Default()->GetChildren(wal_dir);
  ASSERT_TRUE(segs.ok());
  uint64_t records = 0, series = 0, samples = 0, compressed = 0;
  for (const auto& name : *segs) {
    if (!ParseSegmentName(name)) continue;
    auto file = io::Env::Default()->NewRandomAccessFile(wal_dir + "/" + name);
    ASSERT_TRUE(file.ok());
    auto raw = io::Env::Default()->ReadFile(wal_dir + "/" + name);
    ASSERT_TRUE(raw.ok());
    SegmentReader r(file->get());
    std::string_view rec;
    uint64_t off;
    SegmentReader::Outcome out;
    while ((out = r.Next(&rec, &off)) == SegmentReader::Outcome::kRecord) {
      ++records;
      ASSERT_FALSE(rec.empty());
      compressed += (static_cast<uint8_t>((*raw)[off]) & kSnappyFlag) != 0;
      uint8_t type = static_cast<uint8_t>(rec[0]);  // tsdb/record: 1 series, 2 samples, ...
      EXPECT_GE(type, 1);
      EXPECT_LE(type, 10);
      series += type == 1;
      samples += type == 2;
    }
    EXPECT_EQ(out, SegmentReader::Outcome::kEnd)
        << name << ": " << r.error() << " at " << r.error_offset();
  }
  std::printf("prometheus WAL: %llu records (%llu series, %llu samples, %llu snappy)\n",
              static_cast<unsigned long long>(records), static_cast<unsigned long long>(series),
              static_cast<unsigned long long>(samples),
              static_cast<unsigned long long>(compressed));
  EXPECT_GT(series, 0u);
  EXPECT_GT(samples, 0u);
  EXPECT_GT(compressed, 0u);
}

}  // namespace
}  // namespace sightline::wal
