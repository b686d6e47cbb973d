// ReplayAhead: the same records, positions, repairs and errors as
// Wal::Replay, delivered in batches from a reading thread.
#include "wal/replay_ahead.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "io/mem_env.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::wal {
namespace {

using io::MemEnv;

constexpr char kDir[] = "/data/wal";

std::string Rec(int i, size_t size) {
  std::string r = std::to_string(i) + "|";
  std::mt19937 rng(static_cast<uint32_t>(i));
  while (r.size() < size) r.push_back(static_cast<char>('a' + rng() % 26));
  return r;
}

class ReplayAheadTest : public ::testing::Test {
 protected:
  void SetUp() override { log::SetSinkForTesting(&log_); }
  void TearDown() override { log::SetSinkForTesting(nullptr); }

  WalOptions Options(io::Env* env) {
    WalOptions o;
    o.dir = kDir;
    o.env = env;
    o.segment_size = 4 * kPageSize;
    o.registry = &registry_;
    return o;
  }
  std::unique_ptr<Wal> OpenWal(const WalOptions& o) {
    auto w = Wal::Open(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  // Writes `n` records of random sizes (some spanning pages and segments).
  std::vector<std::string> Write(const WalOptions& o, int n, uint32_t seed) {
    auto wal = OpenWal(o);
    EXPECT_TRUE(wal->Replay([](auto, auto) { return Status::Ok(); }).ok());
    std::mt19937 rng(seed);
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      const size_t size = rng() % 20 == 0 ? rng() % (5 * kPageSize) : rng() % 1500;
      out.push_back(Rec(i, size));
      EXPECT_TRUE(wal->Append(out.back()).ok());
    }
    EXPECT_TRUE(wal->Close().ok());
    return out;
  }
  struct Got {
    std::vector<std::string> records;
    std::vector<WalPosition> positions;
    size_t batches = 0;
  };
  Status ReplayBatched(Wal* wal, const ReplayAheadOptions& ro, Got* got) {
    return ReplayAhead(wal, ro, [&](std::shared_ptr<const RecordBatch> b) {
      EXPECT_FALSE(b->empty());
      ++got->batches;
      for (size_t i = 0; i < b->size(); ++i) {
        got->records.emplace_back(b->record(i));
        got->positions.push_back(b->position(i));
      }
      return Status::Ok();
    });
  }

  telemetry::Registry registry_;
  std::string log_;
};

TEST_F(ReplayAheadTest, SameRecordsAndPositionsAsReplay) {
  for (Compression c : {Compression::kNone, Compression::kSnappy}) {
    MemEnv env;
    auto o = Options(&env);
    o.compression = c;
    const std::vector<std::string> written = Write(o, 600, 7);
    Got want;
    {
      auto wal = OpenWal(o);
      ASSERT_TRUE(wal->Replay([&](std::string_view rec, WalPosition pos) {
                       want.records.emplace_back(rec);
                       want.positions.push_back(pos);
                       return Status::Ok();
                     })
                      .ok());
    }
    ASSERT_EQ(want.records, written);
    for (size_t batch_bytes : {size_t{1}, size_t{5000}, size_t{1} << 20}) {
      auto wal = OpenWal(o);
      ReplayAheadOptions ro;
      ro.batch_bytes = batch_bytes;
      ro.max_batches_ahead = 2;
      Got got;
      ASSERT_TRUE(ReplayBatched(wal.get(), ro, &got).ok());
      ASSERT_EQ(got.records.size(), written.size()) << batch_bytes;
      EXPECT_TRUE(got.records == written) << batch_bytes;
      EXPECT_TRUE(got.positions == want.positions) << batch_bytes;
      if (batch_bytes == 1) {
        EXPECT_EQ(got.batches, written.size());
      }
      if (batch_bytes == 5000) {
        EXPECT_GT(got.batches, 10u);
        EXPECT_LT(got.batches, written.size());
      }
      EXPECT_EQ(wal->replay_stats().records, written.size());
      // The WAL is usable afterwards, as after Replay (the last round only:
      // the others replay the same records).
      if (batch_bytes == (size_t{1} << 20)) {
        ASSERT_TRUE(wal->Append("after").ok());
      }
    }
  }
}

TEST_F(ReplayAheadTest, EmptyWal) {
  MemEnv env;
  auto wal = OpenWal(Options(&env));
  Got got;
  ASSERT_TRUE(ReplayBatched(wal.get(), {}, &got).ok());
  EXPECT_EQ(got.batches, 0u);
}

TEST_F(ReplayAheadTest, ConsumerErrorStopsTheReader) {
  MemEnv env;
  auto o = Options(&env);
  Write(o, 2000, 3);
  auto wal = OpenWal(o);
  ReplayAheadOptions ro;
  ro.batch_bytes = 2000;
  ro.max_batches_ahead = 3;
  int calls = 0;
  Status s = ReplayAhead(wal.get(), ro, [&](std::shared_ptr<const RecordBatch>) {
    // Let the reader run into its bound.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return ++calls == 2 ? InvalidArgumentError("bad batch") : Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(calls, 2);
  // It stopped: records beyond the bound were never read.
  EXPECT_LT(wal->replay_stats().records, 100u);
}

TEST_F(ReplayAheadTest, TornTailIsRepairedAndGoodRecordsDelivered) {
  MemEnv env;
  auto o = Options(&env);
  const std::vector<std::string> written = Write(o, 300, 11);
  std::vector<uint32_t> segs = *OpenWal(o)->Segments();
  const std::string last = std::string(kDir) + "/" + SegmentName(segs.back());
  std::string content = *env.ReadFile(last);
  // Garbage after the last record: a torn tail.
  content.resize(content.size() - kPageSize / 2);
  content.append(100, '\x55');
  ASSERT_TRUE((*env.NewWritableFile(last))->Append(content).ok());

  auto wal = OpenWal(o);
  Got got;
  ReplayAheadOptions ro;
  ro.batch_bytes = 3000;
  ASSERT_TRUE(ReplayBatched(wal.get(), ro, &got).ok());
  EXPECT_EQ(wal->replay_stats().corruptions, 1u);
  ASSERT_FALSE(got.records.empty());
  ASSERT_LE(got.records.size(), written.size());
  for (size_t i = 0; i < got.records.size(); ++i) ASSERT_EQ(got.records[i], written[i]) << i;
  ASSERT_TRUE(wal->Append("after-repair").ok());
}

TEST_F(ReplayAheadTest, DataLossWithoutRepairComesAfterTheGoodRecords) {
  MemEnv env;
  auto o = Options(&env);
  o.repair = false;
  const std::vector<std::string> written = Write(o, 400, 5);
  const std::string seg0 = std::string(kDir) + "/00000000";
  std::string content = *env.ReadFile(seg0);
  content[kPageSize + 100] ^= 0x20;  // a payload byte in the second page
  ASSERT_TRUE((*env.NewWritableFile(seg0))->Append(content).ok());

  std::vector<std::string> want;
  Status want_status;
  {
    auto wal = OpenWal(o);
    want_status = wal->Replay([&](std::string_view rec, WalPosition) {
      want.emplace_back(rec);
      return Status::Ok();
    });
  }
  ASSERT_EQ(want_status.code(), StatusCode::kDataLoss);
  auto wal = OpenWal(o);
  Got got;
  ReplayAheadOptions ro;
  ro.batch_bytes = 1000;
  Status s = ReplayBatched(wal.get(), ro, &got);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_EQ(got.records, want);
}

}  // namespace
}  // namespace sightline::wal
