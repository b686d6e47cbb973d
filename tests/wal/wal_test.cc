// The WAL: round trips, rollover, group commit, torn tails, corruption,
// crash simulation with FaultEnv, checkpoints, write failures, metrics.
#include "wal/wal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "io/fault_env.h"
#include "io/mem_env.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::wal {
namespace {

using io::FaultEnv;
using io::MemEnv;

constexpr char kDir[] = "/data/wal";

// A record that names itself: "<id>|<filler>", filler derived from id, so
// that a replayed record can be checked whole.
std::string Rec(const std::string& id, size_t size) {
  std::string r = id + "|";
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(id)));
  while (r.size() < size) r.push_back(static_cast<char>('a' + rng() % 26));
  return r;
}
bool Intact(std::string_view rec) {
  size_t bar = rec.find('|');
  if (bar == std::string_view::npos) return false;
  return Rec(std::string(rec.substr(0, bar)), rec.size()) == rec;
}
std::string IdOf(std::string_view rec) { return std::string(rec.substr(0, rec.find('|'))); }
// Short, comparable stand-ins for records (gtest would print whole records).
std::vector<std::string> Ids(const std::vector<std::string>& recs) {
  std::vector<std::string> out;
  for (const auto& r : recs) {
    out.push_back(IdOf(r).substr(0, 40) + "/" + std::to_string(r.size()) + "/" +
                  std::to_string(std::hash<std::string>()(r) % 1000000));
  }
  return out;
}

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override { log::SetSinkForTesting(&log_); }
  void TearDown() override { log::SetSinkForTesting(nullptr); }

  WalOptions Options(io::Env* env, uint64_t segment_size = 4 * kPageSize) {
    WalOptions o;
    o.dir = kDir;
    o.env = env;
    o.segment_size = segment_size;
    o.registry = &registry_;
    return o;
  }
  std::unique_ptr<Wal> OpenWal(const WalOptions& o) {
    auto w = Wal::Open(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  // Replays everything; records and positions.
  std::vector<std::string> ReplayAll(Wal& wal, std::vector<WalPosition>* positions = nullptr) {
    std::vector<std::string> out;
    Status s = wal.Replay([&](std::string_view rec, WalPosition pos) {
      out.emplace_back(rec);
      if (positions) positions->push_back(pos);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  std::vector<std::string> Reopen(const WalOptions& o) {
    auto wal = OpenWal(o);
    if (!wal) return {};
    return ReplayAll(*wal);
  }
  double Metric(const std::string& name) {
    std::string text = registry_.Expose();
    std::string key = "\n" + name + " ";
    size_t at = ("\n" + text).find(key);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size() - 1));
  }

  telemetry::Registry registry_;
  std::string log_;
};

TEST_F(WalTest, RoundTripRandomSizesAndPositions) {
  MemEnv env;
  auto o = Options(&env);
  std::vector<std::string> written;
  std::vector<WalPosition> positions;
  {
    auto wal = OpenWal(o);
    ASSERT_TRUE(wal);
    EXPECT_TRUE(ReplayAll(*wal).empty());
    std::mt19937 rng(1);
    for (int i = 0; i < 400; ++i) {
      size_t size = rng() % 10 == 0 ? rng() % (6 * kPageSize) : rng() % 2000;  // some > a segment
      if (i % 50 == 0) size = 0;
      std::string r = size == 0 ? "" : Rec(std::to_string(i), size);
      auto pos = wal->Append(r);
      ASSERT_TRUE(pos.ok()) << pos.status().ToString();
      written.push_back(r);
      positions.push_back(*pos);
    }
    // A multi-record Append returns its first position; records stay together.
    std::vector<std::string> group = {Rec("g1", 100), Rec("g2", 70000), Rec("g3", 5)};
    std::vector<std::string_view> views(group.begin(), group.end());
    auto pos = wal->Append(views);
    ASSERT_TRUE(pos.ok());
    for (auto& g : group) written.push_back(g);
    positions.push_back(*pos);
    ASSERT_TRUE(wal->Close().ok());
  }
  auto wal = OpenWal(o);
  std::vector<WalPosition> got_pos;
  auto got = ReplayAll(*wal, &got_pos);
  ASSERT_EQ(got.size(), written.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == written[i]) << i;
  for (size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(got_pos[i], positions[i]) << i;
  EXPECT_GT(positions.back().segment, 5u);
  EXPECT_EQ(wal->replay_stats().records, written.size());
  EXPECT_EQ(wal->replay_stats().corruptions, 0u);
}

TEST_F(WalTest, SegmentsRollOverAndAreWholePages) {
  MemEnv env;
  auto o = Options(&env);
  auto wal = OpenWal(o);
  ASSERT_TRUE(wal);
  ASSERT_TRUE(wal->Replay([](auto, auto) { return Status::Ok(); }).ok());
  EXPECT_EQ(wal->CurrentSegment(), 0u);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(wal->Append(Rec(std::to_string(i), 1000)).ok());
  auto segs = wal->Segments();
  ASSERT_TRUE(segs.ok());
  ASSERT_GE(segs->size(), 3u);
  for (size_t i = 0; i + 1 < segs->size(); ++i) {
    EXPECT_EQ((*segs)[i], i);
    uint64_t size = *env.GetFileSize(std::string(kDir) + "/" + SegmentName((*segs)[i]));
    EXPECT_EQ(size % kPageSize, 0u);
    EXPECT_LE(size, o.segment_size);
  }
  EXPECT_EQ(wal->CurrentSegment(), segs->back());
  auto next = wal->NextSegment();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, segs->back() + 1);
  auto pos = wal->Append("after roll");
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, (WalPosition{*next, 0, false}));
  EXPECT_EQ(Metric("prometheus_tsdb_wal_segment_current"), *next);
}

TEST_F(WalTest, EachOpenWritesNewSegmentsAndReplayKeepsOrder) {
  MemEnv env;
  auto o = Options(&env);
  std::vector<std::string> all;
  for (int run = 0; run < 4; ++run) {
    auto wal = OpenWal(o);
    EXPECT_EQ(Ids(ReplayAll(*wal)), Ids(all));
    for (int i = 0; i < 10; ++i) {
      all.push_back(Rec(std::to_string(run) + "." + std::to_string(i), 50));
      ASSERT_TRUE(wal->Append(all.back()).ok());
    }
    EXPECT_EQ(wal->CurrentSegment(), static_cast<uint32_t>(run));
  }
  // An open that appends nothing leaves no segment; an empty segment is reused.
  { auto wal = OpenWal(o); }
  ASSERT_TRUE(env.NewWritableFile(std::string(kDir) + "/00000004").ok());
  auto wal = OpenWal(o);
  EXPECT_EQ(Ids(ReplayAll(*wal)), Ids(all));
  ASSERT_TRUE(wal->Append("x").ok());
  EXPECT_EQ(wal->CurrentSegment(), 4u);
}

TEST_F(WalTest, ConcurrentAppendsAreReplayedExactlyOnce) {
  testing::TempDir tmp;  // the real disk, with kAlways
  WalOptions o = Options(io::Env::Default(), 16 * kPageSize);
  o.dir = tmp.Join("wal");
  constexpr int kThreads = 8, kPerThread = 300;
  {
    auto wal = OpenWal(o);
    ASSERT_TRUE(wal);
    ReplayAll(*wal);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(t);
        for (int i = 0; i < kPerThread; ++i) {
          std::string id = std::to_string(t) + ":" + std::to_string(i);
          if (i % 7 == 0) {  // multi-record appends too
            std::string a = Rec(id + "a", rng() % 3000), b = Rec(id + "b", 10);
            std::string_view v[] = {a, b};
            if (!wal->Append(v).ok()) ++failures;
          } else if (!wal->Append(Rec(id, rng() % 3000 + 8)).ok()) {
            ++failures;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
  }
  auto got = Reopen(o);
  std::map<int, int> next;  // thread -> next expected index
  std::set<std::string> seen;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(Intact(got[i])) << i;
    std::string id = IdOf(got[i]);
    ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
    int t = std::stoi(id.substr(0, id.find(':')));
    std::string rest = id.substr(id.find(':') + 1);
    int idx = std::stoi(rest);
    if (rest.back() == 'b') {
      // Directly after its "a" twin.
      ASSERT_GT(i, 0u);
      EXPECT_EQ(IdOf(got[i - 1]), id.substr(0, id.size() - 1) + "a");
      continue;
    }
    EXPECT_EQ(idx, next[t]) << id;
    next[t] = idx + 1;
  }
  EXPECT_EQ(got.size(),
            static_cast<size_t>(kThreads * kPerThread + kThreads * (kPerThread / 7 + 1)));
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

TEST_F(WalTest, GroupCommitBatchesSyncs) {
  MemEnv mem;
  FaultEnv env(&mem);
  env.SetSyncDelay(std::chrono::milliseconds(2));  // a disk-like fsync
  auto o = Options(&env, 64 * kPageSize);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  // One appender: one sync per append.
  uint64_t before = env.sync_count();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(wal->Append(Rec("s" + std::to_string(i), 100)).ok());
  EXPECT_EQ(env.sync_count() - before, 20u);

  constexpr int kThreads = 8, kPerThread = 50;
  before = env.sync_count();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(wal->Append(Rec(std::to_string(t) + ":" + std::to_string(i), 100)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t syncs = env.sync_count() - before;
  std::printf("group commit: %d appends, %llu fsyncs\n", kThreads * kPerThread,
              static_cast<unsigned long long>(syncs));
  EXPECT_LT(syncs, static_cast<uint64_t>(kThreads * kPerThread / 3));
  EXPECT_EQ(Metric("prometheus_tsdb_wal_records_appended_total"), 20 + kThreads * kPerThread);
}

TEST_F(WalTest, BatchPolicyWaitsForTheIntervalSync) {
  MemEnv mem;
  FaultEnv env(&mem);
  auto o = Options(&env);
  o.sync_policy = SyncPolicy::kBatch;
  o.sync_interval = std::chrono::milliseconds(20);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(wal->Append(Rec(std::to_string(t) + ":" + std::to_string(i), 100)).ok());
        // Acknowledged means synced.
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // At most one fsync per interval (plus the first, immediate one).
  EXPECT_LE(env.sync_count(), secs / 0.020 + 2);
  EXPECT_EQ(env.UnsyncedBytes(), 0u);
  ASSERT_TRUE(env.SimulateCrash().ok());
  wal.reset();
  env.Restart();
  EXPECT_EQ(Reopen(o).size(), 40u);
}

TEST_F(WalTest, BatchWaitersDoNotHangAfterFailedWrites) {
  // A kBatch Append waiting for its fsync when later writes fail (and the
  // cut back fails too: the disk is gone) must return, not wait forever.
  MemEnv mem;
  FaultEnv env(&mem);
  auto o = Options(&env);
  o.sync_policy = SyncPolicy::kBatch;
  o.sync_interval = std::chrono::milliseconds(300);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  ASSERT_TRUE(wal->Append("first").ok());  // synced at once: none was due
  std::atomic<bool> done{false};
  Status waiter_status;
  std::thread waiter([&] {
    waiter_status = wal->Append("pending").status();
    done = true;
  });
  while (env.append_count() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(env.SimulateCrash().ok());
  EXPECT_FALSE(wal->Append("b").ok());  // write fails
  EXPECT_FALSE(wal->Append("c").ok());  // the cut back fails
  for (int i = 0; i < 500 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(done.load()) << "a kBatch waiter hangs";
  wal.reset();  // fails any waiter still there, so that join returns
  waiter.join();
  EXPECT_FALSE(waiter_status.ok());
  env.Restart();
}

// Appends `n` records, closes; returns them.
std::vector<std::string> Fill(Wal& wal, int n, size_t size, const std::string& prefix = "r") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Rec(prefix + std::to_string(i), size));
    EXPECT_TRUE(wal.Append(out.back()).ok());
  }
  return out;
}

TEST_F(WalTest, TornTailAtEveryOffsetOfTheLastRecord) {
  // Build a WAL whose last segment ends with a multi-fragment record.
  MemEnv pristine;
  auto o = Options(&pristine);
  std::vector<std::string> records;
  WalPosition last_pos;
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    records = Fill(*wal, 5, 3000);
    records.push_back(Rec("last", kPageSize + 500));  // crosses a page
    auto pos = wal->Append(records.back());
    ASSERT_TRUE(pos.ok());
    last_pos = *pos;
  }
  const std::string seg = std::string(kDir) + "/" + SegmentName(last_pos.segment);
  const std::string content = *pristine.ReadFile(seg);
  ASSERT_EQ(content.size() % kPageSize, 0u);  // Close padded it
  const uint64_t record_end = last_pos.offset + kHeaderSize * 2 + records.back().size();

  int step_checked = 0;
  // Every offset near the record's start, its page boundary and its end;
  // every 37th in between.
  auto near = [&](uint64_t cut) {
    return cut < last_pos.offset + 64 || cut + 64 > record_end ||
           (cut + 64 > kPageSize && cut < kPageSize + 64);
  };
  for (uint64_t cut = last_pos.offset; cut <= record_end + 100; cut += near(cut) ? 1 : 37) {
    MemEnv env;
    ASSERT_TRUE(env.CreateDirs(kDir).ok());
    auto f = env.NewWritableFile(seg);
    ASSERT_TRUE((*f)->Append(std::string_view(content).substr(0, cut)).ok());
    auto oc = Options(&env);
    const double corruptions_before = Metric("prometheus_tsdb_wal_corruptions_total");
    auto wal = OpenWal(oc);
    auto got = ReplayAll(*wal);
    const bool complete = cut >= record_end;
    ASSERT_EQ(got.size(), complete ? records.size() : records.size() - 1) << cut;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(got[i] == records[i]) << cut;
    const bool torn = cut > last_pos.offset && !complete;
    const bool zero_tail = complete && cut > record_end;  // padding cut short
    EXPECT_EQ(wal->replay_stats().corruptions, (torn || zero_tail) ? 1u : 0u) << cut;
    EXPECT_EQ(Metric("prometheus_tsdb_wal_corruptions_total") - corruptions_before,
              (torn || zero_tail) ? 1 : 0);
    if (torn) {
      EXPECT_EQ(*env.GetFileSize(seg), last_pos.offset) << cut;
      EXPECT_NE(log_.find("bytes_dropped=" + std::to_string(cut - last_pos.offset)),
                std::string::npos)
          << cut;
    }
    // The server "starts": appends continue and survive another replay.
    ASSERT_TRUE(wal->Append("after-repair-1").ok());
    ASSERT_TRUE(wal->Append("after-repair-2").ok());
    ASSERT_TRUE(wal->Close().ok());
    auto again = Reopen(oc);
    ASSERT_EQ(again.size(), got.size() + 2) << cut;
    EXPECT_EQ(again.back(), "after-repair-2");
    ++step_checked;
    log_.clear();
  }
  EXPECT_GT(step_checked, 200);
}

TEST_F(WalTest, GarbageAndZerosAppendedToTheTail) {
  struct Case {
    std::string name;
    std::string tail;
    bool corrupt;
  };
  std::mt19937 rng(9);
  std::string random(5000, '\0');
  for (auto& c : random) c = static_cast<char>(rng());
  std::vector<Case> cases = {
      {"random", random, true},
      {"zeros", std::string(3000, '\0'), true},
      {"one-byte", std::string(1, '\x01'), true},
      {"header-only", std::string("\x01\x00\x10\x00\x00\x00\x00", 7), true},
  };
  for (const auto& c : cases) {
    MemEnv env;
    auto o = Options(&env, 16 * kPageSize);
    std::vector<std::string> records;
    {
      auto wal = OpenWal(o);
      ReplayAll(*wal);
      records = Fill(*wal, 20, 700);
    }
    const std::string seg = std::string(kDir) + "/00000000";
    // Close() padded the page; cut the padding away to get a mid-page tail,
    // as a crash leaves it.
    std::string content = *env.ReadFile(seg);
    content.resize(20 * (700 + kHeaderSize));
    auto f = env.NewWritableFile(seg);
    ASSERT_TRUE((*f)->Append(content + c.tail).ok());
    auto wal = OpenWal(o);
    auto got = ReplayAll(*wal);
    EXPECT_EQ(Ids(got), Ids(records)) << c.name;
    EXPECT_EQ(wal->replay_stats().corruptions, c.corrupt ? 1u : 0u) << c.name;
    EXPECT_EQ(*env.GetFileSize(seg), content.size()) << c.name;
    EXPECT_NE(log_.find("level=warn"), std::string::npos) << c.name;
    ASSERT_TRUE(wal->Append("more").ok());
    ASSERT_TRUE(wal->Close().ok());
    auto again = Reopen(o);
    ASSERT_EQ(again.size(), records.size() + 1) << c.name;
    EXPECT_EQ(again.back(), "more");
    log_.clear();
  }
}

TEST_F(WalTest, CorruptionInAnOldSegmentStopsReplayThere) {
  for (bool repair : {false, true}) {
    MemEnv env;
    auto o = Options(&env);
    o.repair = repair;
    std::vector<std::string> records;
    {
      auto wal = OpenWal(o);
      ReplayAll(*wal);
      records = Fill(*wal, 200, 1500);
    }
    auto segs = *Wal::Open(o).value()->Segments();
    ASSERT_GE(segs.size(), 3u);
    // Flip a payload byte of the 10th record of segment 0 (records are
    // 1500 + 7 bytes; the first page holds 21 of them).
    const std::string seg0 = std::string(kDir) + "/00000000";
    std::string content = *env.ReadFile(seg0);
    const uint64_t victim = 9 * (1500 + kHeaderSize);
    content[victim + kHeaderSize + 100] ^= 0x20;
    ASSERT_TRUE((*env.NewWritableFile(seg0))->Append(content).ok());

    auto wal = OpenWal(o);
    std::vector<std::string> got;
    Status s = wal->Replay([&](std::string_view rec, WalPosition) {
      got.emplace_back(rec);
      return Status::Ok();
    });
    ASSERT_EQ(got.size(), 9u);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == records[i]) << i;
    EXPECT_EQ(wal->replay_stats().corruptions, 1u);
    EXPECT_NE(wal->replay_stats().corruption.find("checksum"), std::string::npos);
    if (!repair) {
      EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
      EXPECT_EQ(*wal->Segments(), segs);  // nothing touched
      continue;
    }
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(wal->replay_stats().removed_segments, segs.size() - 1);
    EXPECT_EQ(*wal->Segments(), std::vector<uint32_t>{0});
    EXPECT_EQ(*env.GetFileSize(seg0), victim);
    EXPECT_NE(log_.find("level=error"), std::string::npos);
    EXPECT_NE(log_.find("segments_discarded=" + std::to_string(segs.size() - 1)),
              std::string::npos);
    ASSERT_TRUE(wal->Append("new").ok());
    EXPECT_EQ(wal->CurrentSegment(), 1u);
    ASSERT_TRUE(wal->Close().ok());
    auto again = Reopen(o);
    ASSERT_EQ(again.size(), 10u);
    EXPECT_EQ(again.back(), "new");
  }
}

TEST_F(WalTest, MissingMiddleSegmentIsCorruption) {
  MemEnv env;
  auto o = Options(&env);
  std::vector<std::string> records;
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    records = Fill(*wal, 200, 1500);
  }
  ASSERT_TRUE(env.RemoveFile(std::string(kDir) + "/00000001").ok());
  auto wal = OpenWal(o);
  auto got = ReplayAll(*wal);
  EXPECT_EQ(wal->replay_stats().corruptions, 1u);
  EXPECT_NE(wal->replay_stats().corruption.find("00000001"), std::string::npos);
  ASSERT_FALSE(got.empty());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == records[i]) << i;
  EXPECT_EQ(*wal->Segments(), std::vector<uint32_t>{0});
}

TEST_F(WalTest, CallbackErrorStopsReplay) {
  MemEnv env;
  auto o = Options(&env);
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    Fill(*wal, 10, 10);
  }
  auto wal = OpenWal(o);
  int n = 0;
  Status s = wal->Replay([&](std::string_view, WalPosition) {
    return ++n == 3 ? InvalidArgumentError("bad record") : Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(n, 3);
}

TEST_F(WalTest, ContractViolations) {
  MemEnv env;
  auto o = Options(&env);
  o.segment_size = 1000;
  EXPECT_EQ(Wal::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(&env);
  auto wal = OpenWal(o);
  EXPECT_EQ(wal->Checkpoint(0, [](auto) { return true; }).code(),
            StatusCode::kFailedPrecondition);  // before Replay
  ASSERT_TRUE(wal->Append("x").ok());          // implicit tail check
  EXPECT_EQ(wal->Replay([](auto, auto) { return Status::Ok(); }).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(wal->Checkpoint(0, [](auto) { return true; }).code(),
            StatusCode::kFailedPrecondition);  // segment 0 is being written
  EXPECT_EQ(wal->RemoveSegmentsBefore(1).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(wal->Close().ok());
  ASSERT_TRUE(wal->Close().ok());
  EXPECT_EQ(wal->Append("y").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(WalTest, ImplicitTailRepairWithoutReplay) {
  MemEnv env;
  auto o = Options(&env);
  {
    auto wal = OpenWal(o);
    Fill(*wal, 3, 100);
  }
  // A torn tail, then a process that appends without replaying.
  std::string seg = std::string(kDir) + "/00000000";
  std::string content = env.ReadFile(seg)->substr(0, 3 * 107 + 50);
  ASSERT_TRUE((*env.NewWritableFile(seg))->Append(content).ok());
  {
    auto wal = OpenWal(o);
    ASSERT_TRUE(wal->Append("fresh").ok());
    EXPECT_EQ(wal->replay_stats().corruptions, 1u);
  }
  auto got = Reopen(o);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.back(), "fresh");
}

// ---------------------------------------------------------------------------
// Crash simulation: every acknowledged Append survives; others may vanish but
// never half-appear.

struct CrashRun {
  SyncPolicy policy;
  bool torn;
};

class WalCrashTest : public WalTest, public ::testing::WithParamInterface<CrashRun> {};

TEST_P(WalCrashTest, AcknowledgedAppendsSurviveACrash) {
  const CrashRun run = GetParam();
  MemEnv mem;
  FaultEnv env(&mem);
  auto o = Options(&env, 8 * kPageSize);
  o.sync_policy = run.policy;
  o.sync_interval = std::chrono::milliseconds(2);
  constexpr int kThreads = 4;
  std::map<int, int> acked;  // thread -> highest acknowledged index, over all rounds
  for (int t = 0; t < kThreads; ++t) acked[t] = -1;
  std::map<int, int> next_index;
  for (int t = 0; t < kThreads; ++t) next_index[t] = 0;

  for (int round = 0; round < 6; ++round) {
    auto wal = OpenWal(o);
    ASSERT_TRUE(wal);
    // Replay: each thread's records form a gap-free prefix that includes
    // every acknowledged one.
    std::map<int, int> last_seen;
    for (int t = 0; t < kThreads; ++t) last_seen[t] = -1;
    Status s = wal->Replay([&](std::string_view rec, WalPosition) {
      EXPECT_TRUE(Intact(rec)) << "half-written record";
      std::string id = IdOf(rec);
      int t = std::stoi(id.substr(0, id.find(':')));
      int i = std::stoi(id.substr(id.find(':') + 1));
      EXPECT_EQ(i, last_seen[t] + 1) << "gap or duplicate for thread " << t;
      last_seen[t] = i;
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int t = 0; t < kThreads; ++t) {
      if (run.policy != SyncPolicy::kNone) {
        ASSERT_GE(last_seen[t], acked[t]) << "round " << round << " thread " << t;
      }
      next_index[t] = last_seen[t] + 1;
      acked[t] = last_seen[t];
    }
    // Write from several threads; crash at a random moment.
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::mutex acked_mu;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(round * 100 + t);
        for (int i = next_index[t]; !stop.load(); ++i) {
          std::string r = Rec(std::to_string(t) + ":" + std::to_string(i), rng() % 5000 + 10);
          if (!wal->Append(r).ok()) break;  // the filesystem went down
          std::lock_guard<std::mutex> l(acked_mu);
          acked[t] = i;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + round * 7));
    ASSERT_TRUE(
        env.SimulateCrash({.torn_tail = run.torn, .seed = static_cast<uint64_t>(round)}).ok());
    stop = true;
    for (auto& th : threads) th.join();
    wal.reset();  // the dead process's Close fails: the env is down
    env.Restart();
    if (run.policy == SyncPolicy::kNone) {
      for (int t = 0; t < kThreads; ++t) acked[t] = -1;  // nothing promised
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, WalCrashTest,
                         ::testing::Values(CrashRun{SyncPolicy::kAlways, false},
                                           CrashRun{SyncPolicy::kAlways, true},
                                           CrashRun{SyncPolicy::kBatch, true},
                                           CrashRun{SyncPolicy::kNone, true}),
                         [](const auto& info) {
                           const char* p = info.param.policy == SyncPolicy::kAlways  ? "Always"
                                           : info.param.policy == SyncPolicy::kBatch ? "Batch"
                                                                                     : "None";
                           return std::string(p) + (info.param.torn ? "Torn" : "Clean");
                         });

// ---------------------------------------------------------------------------
// Write failures.

TEST_F(WalTest, FailedWritesAreCutBackAndLaterAppendsWork) {
  MemEnv mem;
  FaultEnv env(&mem);
  env.SetPartialWrites(true);
  auto o = Options(&env);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  std::vector<std::string> ok_records;
  for (int i = 0; i < 30; ++i) {
    std::string r = Rec("w" + std::to_string(i), 3000);
    if (i % 5 == 1) env.FailNext(FaultEnv::Op::kAppend, 1);  // short write + ENOSPC
    if (i % 5 == 3) env.FailNext(FaultEnv::Op::kSync, 1, InternalError("EIO"));  // fsync error
    auto pos = wal->Append(r);
    if (i % 5 == 1 || i % 5 == 3) {
      EXPECT_FALSE(pos.ok()) << i;
    } else {
      ASSERT_TRUE(pos.ok()) << i << " " << pos.status().ToString();
      ok_records.push_back(r);
    }
  }
  EXPECT_EQ(Metric("prometheus_tsdb_wal_writes_failed_total"), 12);
  // Disk full for a while.
  env.FailNext(FaultEnv::Op::kAppend, 1000);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(wal->Append(Rec("full" + std::to_string(i), 100)).status().code(),
              StatusCode::kResourceExhausted);
  }
  env.ClearFaults();
  ok_records.push_back("space again");
  ASSERT_TRUE(wal->Append(ok_records.back()).ok());
  ASSERT_TRUE(wal->Close().ok());
  // The failed records were cut back: exactly the acknowledged ones remain.
  EXPECT_EQ(Ids(Reopen(o)), Ids(ok_records));
  EXPECT_NE(log_.find("WAL segment cut back after a failed write"), std::string::npos);
}

TEST_F(WalTest, FailedSegmentCreationIsRetried) {
  MemEnv mem;
  FaultEnv env(&mem);
  auto o = Options(&env, kPageSize);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  ASSERT_TRUE(wal->Append(Rec("a", 20000)).ok());
  env.FailNext(FaultEnv::Op::kCreate, 1);
  EXPECT_FALSE(wal->Append(Rec("b", 20000)).ok());  // needs a new segment
  ASSERT_TRUE(wal->Append(Rec("c", 20000)).ok());
  ASSERT_TRUE(wal->Close().ok());
  // "b" never reached the disk.
  EXPECT_EQ(Ids(Reopen(o)), Ids({Rec("a", 20000), Rec("c", 20000)}));
}

// ---------------------------------------------------------------------------
// Checkpoints.

TEST_F(WalTest, CheckpointKeepsSelectedRecordsAndDropsSegments) {
  MemEnv env;
  auto o = Options(&env);
  auto keep = [](std::string_view r) { return r.substr(0, 4) == "keep"; };
  std::vector<std::string> expected;
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    for (int i = 0; i < 100; ++i) {
      std::string r = Rec((i % 3 == 0 ? "keep" : "drop") + std::to_string(i), 5000);
      ASSERT_TRUE(wal->Append(r).ok());
      if (keep(r)) expected.push_back(r);
    }
    auto upto = wal->NextSegment();
    ASSERT_TRUE(upto.ok());
    ASSERT_GE(*upto, 3u);
    std::vector<std::string> later;
    for (int i = 0; i < 5; ++i) {
      later.push_back(Rec("drop-but-later" + std::to_string(i), 10));
      ASSERT_TRUE(wal->Append(later.back()).ok());
    }
    ASSERT_TRUE(wal->Checkpoint(*upto - 1, keep).ok());
    for (auto& l : later) expected.push_back(l);
    EXPECT_EQ(*wal->Segments(), std::vector<uint32_t>{*upto});
    EXPECT_TRUE(env.FileExists(std::string(kDir) + "/" + CheckpointName(*upto - 1)));
    EXPECT_TRUE(wal->Checkpoint(*upto - 1, keep).ok());  // again: a no-op
  }
  auto wal = OpenWal(o);
  std::vector<WalPosition> pos;
  auto got = ReplayAll(*wal, &pos);
  EXPECT_EQ(Ids(got), Ids(expected));
  EXPECT_TRUE(pos.front().in_checkpoint);
  EXPECT_FALSE(pos.back().in_checkpoint);
  EXPECT_TRUE(wal->replay_stats().checkpoint.has_value());
  EXPECT_EQ(Metric("prometheus_tsdb_wal_checkpoint_creations_total"), 1);

  // A second checkpoint builds on the first and replaces it.
  const uint32_t first_ckpt = *wal->replay_stats().checkpoint;
  ASSERT_TRUE(wal->Append(Rec("keep-new", 10)).ok());
  expected.push_back(Rec("keep-new", 10));
  auto next = wal->NextSegment();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(wal->Checkpoint(*next - 1, keep).ok());
  EXPECT_FALSE(env.FileExists(std::string(kDir) + "/" + CheckpointName(first_ckpt)));
  ASSERT_TRUE(wal->Close().ok());
  std::vector<std::string> want;
  for (auto& e : expected) {
    if (keep(e)) want.push_back(e);
  }
  EXPECT_EQ(Ids(Reopen(o)), Ids(want));
}

TEST_F(WalTest, CrashDuringCheckpointIsCleanedUp) {
  MemEnv mem;
  FaultEnv env(&mem);
  auto o = Options(&env);
  auto keep_even = [](std::string_view r) { return (r[1] - '0') % 2 == 0; };
  std::vector<std::string> all;
  std::vector<WalPosition> positions;
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    for (int i = 0; i < 60; ++i) {
      all.push_back(Rec("r" + std::to_string(i % 10) + "-" + std::to_string(i), 5000));
      auto pos = wal->Append(all.back());
      ASSERT_TRUE(pos.ok());
      positions.push_back(*pos);
    }
    ASSERT_TRUE(wal->NextSegment().ok());
  }
  ASSERT_GE(positions.back().segment, 2u);
  const std::string ckpt_dir = std::string(kDir) + "/" + CheckpointName(1);

  // 1. The machine dies while the checkpoint is being built.
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    int calls = 0;
    Status s = wal->Checkpoint(1, [&](std::string_view r) {
      if (++calls == 5) {
        EXPECT_TRUE(env.SimulateCrash().ok());
      }
      return keep_even(r);
    });
    EXPECT_FALSE(s.ok());
    wal.reset();
    env.Restart();
    auto again = OpenWal(o);
    EXPECT_EQ(Ids(ReplayAll(*again)), Ids(all));
  }
  // 2. A temporary checkpoint directory left behind is removed at open.
  ASSERT_TRUE(env.CreateDirs(ckpt_dir + ".tmp").ok());
  ASSERT_TRUE(env.WriteFileAtomic(ckpt_dir + ".tmp/00000000", "garbage").ok());
  {
    auto wal = OpenWal(o);
    EXPECT_FALSE(env.FileExists(ckpt_dir + ".tmp"));
    EXPECT_EQ(Ids(ReplayAll(*wal)), Ids(all));
    // 3. A failed rename: the checkpoint fails cleanly.
    env.FailNext(FaultEnv::Op::kRename, 1);
    EXPECT_FALSE(wal->Checkpoint(1, keep_even).ok());
    EXPECT_FALSE(env.FileExists(ckpt_dir + ".tmp"));
    EXPECT_FALSE(env.FileExists(ckpt_dir));
    EXPECT_EQ(Metric("prometheus_tsdb_wal_checkpoint_creations_failed_total"), 2);
  }
  // 4. The process dies after the rename, before deleting covered segments
  // (simulated by putting them back): the next open finishes the job and
  // replay does not see those records twice.
  std::map<uint32_t, std::string> saved;
  for (uint32_t seg : {0u, 1u}) {
    saved[seg] = *env.ReadFile(std::string(kDir) + "/" + SegmentName(seg));
  }
  {
    auto wal = OpenWal(o);
    ReplayAll(*wal);
    ASSERT_TRUE(wal->Checkpoint(1, keep_even).ok());
    EXPECT_FALSE(env.FileExists(std::string(kDir) + "/00000000"));
  }
  for (auto& [seg, content] : saved) {
    ASSERT_TRUE(env.WriteFileAtomic(std::string(kDir) + "/" + SegmentName(seg), content).ok());
  }
  std::vector<std::string> want;
  for (size_t i = 0; i < all.size(); ++i) {
    if (positions[i].segment > 1 || keep_even(all[i])) want.push_back(all[i]);
  }
  auto wal = OpenWal(o);
  EXPECT_FALSE(env.FileExists(std::string(kDir) + "/00000000"));
  EXPECT_EQ(Ids(ReplayAll(*wal)), Ids(want));
  // And a crash right after a successful checkpoint keeps it.
  ASSERT_TRUE(env.SimulateCrash().ok());
  wal.reset();
  env.Restart();
  EXPECT_EQ(Ids(Reopen(o)), Ids(want));
}

TEST_F(WalTest, RemoveSegmentsBefore) {
  MemEnv env;
  auto o = Options(&env);
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  Fill(*wal, 300, 1500);
  uint32_t cur = wal->CurrentSegment();
  ASSERT_GE(cur, 2u);
  ASSERT_TRUE(wal->RemoveSegmentsBefore(2).ok());
  auto segs = *wal->Segments();
  EXPECT_EQ(segs.front(), 2u);
  EXPECT_EQ(Metric("prometheus_tsdb_wal_truncations_total"), 1);
  ASSERT_TRUE(wal->Close().ok());
  auto got = Reopen(o);
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(Intact(got.front()), true);
}

TEST_F(WalTest, CompressionRoundTrips) {
  for (auto c : {Compression::kSnappy, Compression::kZstd}) {
    MemEnv env;
    auto o = Options(&env);
    o.compression = c;
    std::vector<std::string> records;
    {
      auto wal = OpenWal(o);
      ReplayAll(*wal);
      for (int i = 0; i < 50; ++i) {
        records.push_back(std::string(i * 500, 'z') + std::to_string(i));  // compressible
        ASSERT_TRUE(wal->Append(records.back()).ok());
      }
      records.push_back(Rec("incompressible", 300));
      ASSERT_TRUE(wal->Append(records.back()).ok());
    }
    EXPECT_LT(*env.GetFileSize(std::string(kDir) + "/00000000"), 200000u);  // raw: 612 KB
    o.compression = Compression::kNone;  // the reader does not need to be told
    EXPECT_EQ(Ids(Reopen(o)), Ids(records));
  }
}

TEST_F(WalTest, MetricsUseThePrefix) {
  MemEnv env;
  auto o = Options(&env);
  o.metrics_prefix = "loki_ingester_wal_";
  auto wal = OpenWal(o);
  ReplayAll(*wal);
  ASSERT_TRUE(wal->Append("x").ok());
  ASSERT_TRUE(wal->Close().ok());
  EXPECT_EQ(Metric("loki_ingester_wal_records_appended_total"), 1);
  EXPECT_EQ(Metric("loki_ingester_wal_fsync_duration_seconds_count"), 2);  // append + close
  EXPECT_GT(Metric("loki_ingester_wal_storage_size_bytes"), 0);
  EXPECT_EQ(Metric("prometheus_tsdb_wal_records_appended_total"), -1);
}

}  // namespace
}  // namespace sightline::wal
