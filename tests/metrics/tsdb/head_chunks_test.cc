// Head chunk files (src/metrics/tsdb/head_chunks.h) and the head using them:
// round trip, segment cuts and truncation, a torn or garbled tail cut off
// at open, and restarts where the WAL replay re-attaches on-disk chunks and
// restores whatever the files lost.
#include "metrics/tsdb/head_chunks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <limits>

#include "harness/harness.h"
#include "head_test_util.h"
#include "metrics/tsdb/chunkenc/xor.h"
#include "metrics/tsdb/head.h"
#include "metrics/tsdb/wal_records.h"
#include "telemetry/metrics.h"
#include "wal/wal.h"

namespace sightline::tsdb {
namespace {

using namespace testutil;  // NOLINT

constexpr int64_t kHour = 3'600'000;

std::string ChunkBytes(int i) { return "chunk-" + std::to_string(i) + std::string(i % 50, 'x'); }

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(HeadChunkFilesTest, WriteReadReopenTruncate) {
  testing::TempDir tmp;
  HeadChunkFilesOptions o;
  o.dir = tmp.Join("chunks_head");
  o.max_segment_bytes = 2048;
  o.write_buffer_bytes = 1000;
  std::vector<uint64_t> refs;
  {
    auto f = HeadChunkFiles::Open(o, [](const HeadChunkMeta&) { FAIL() << "empty dir"; });
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    for (int i = 0; i < 200; ++i) {
      auto ref = (*f)->Write(1000 + i % 7, i * 100, i * 100 + 99, ChunkBytes(i));
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      refs.push_back(*ref);
      // Readable at once, from the buffer or the file.
      std::string got;
      ASSERT_TRUE((*f)->Read(*ref, &got).ok());
      EXPECT_EQ(got, ChunkBytes(i));
    }
    EXPECT_GT((*f)->NumSegments(), 3u);
    for (int i = 0; i < 200; ++i) {
      std::string got;
      ASSERT_TRUE((*f)->Read(refs[i], &got).ok());
      EXPECT_EQ(got, ChunkBytes(i));
    }
  }
  // Reopen: every chunk listed, in order, with its fields.
  std::vector<HeadChunkMeta> seen;
  HeadChunkFilesOpenStats stats;
  auto f = HeadChunkFiles::Open(
      o, [&](const HeadChunkMeta& m) { seen.push_back(m); }, &stats);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(seen.size(), 200u);
  EXPECT_TRUE(stats.first_error.empty()) << stats.first_error;
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(seen[i].series_ref, 1000u + i % 7);
    EXPECT_EQ(seen[i].min_t, i * 100);
    EXPECT_EQ(seen[i].max_t, i * 100 + 99);
    EXPECT_EQ(seen[i].chunk_ref, refs[i]);
    std::string got;
    ASSERT_TRUE((*f)->Read(refs[i], &got).ok());
    EXPECT_EQ(got, ChunkBytes(i));
  }
  // New chunks go to a new segment.
  auto ref = (*f)->Write(1, 50000, 50001, "new");
  ASSERT_TRUE(ref.ok());
  EXPECT_GT(*ref >> 32, refs.back() >> 32);
  // Truncation removes the segments whose chunks all end before mint.
  const size_t before = (*f)->NumSegments();
  auto removed = (*f)->Truncate(10000);
  ASSERT_TRUE(removed.ok());
  EXPECT_GT(*removed, 0u);
  EXPECT_EQ((*f)->NumSegments(), before - *removed);
  std::string got;
  EXPECT_FALSE((*f)->Read(refs[0], &got).ok());  // its segment is gone
  EXPECT_TRUE((*f)->Read(refs[199], &got).ok());
  EXPECT_EQ(got, ChunkBytes(199));
  EXPECT_TRUE((*f)->Read(*ref, &got).ok());
  EXPECT_EQ(got, "new");
  EXPECT_EQ(Segments(o.dir).size(), (*f)->NumSegments());
}

// A crash in the middle of writing a chunk leaves a torn tail; garbage in a
// segment cuts it there and drops the later segments.
TEST(HeadChunkFilesTest, TornTailAndGarbageAreCutOff) {
  testing::TempDir tmp;
  HeadChunkFilesOptions o;
  o.dir = tmp.Join("chunks_head");
  o.max_segment_bytes = 2048;
  o.write_buffer_bytes = 1;  // every chunk reaches the file at once
  std::vector<uint64_t> refs;
  {
    auto f = HeadChunkFiles::Open(o, [](const HeadChunkMeta&) {});
    ASSERT_TRUE(f.ok());
    for (int i = 0; i < 100; ++i) refs.push_back(*(*f)->Write(7, i, i, ChunkBytes(i)));
  }
  std::vector<std::string> segs = Segments(o.dir);
  ASSERT_GE(segs.size(), 3u);
  // Torn tail: the last segment loses the end of its last chunk.
  const auto last_size = std::filesystem::file_size(segs.back());
  std::filesystem::resize_file(segs.back(), last_size - 5);
  {
    std::vector<HeadChunkMeta> seen;
    HeadChunkFilesOpenStats stats;
    auto f = HeadChunkFiles::Open(
        o, [&](const HeadChunkMeta& m) { seen.push_back(m); }, &stats);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(seen.size(), 99u);
    EXPECT_NE(stats.first_error.find("torn"), std::string::npos) << stats.first_error;
    EXPECT_EQ(stats.removed_segments, 0u);
    EXPECT_LT(std::filesystem::file_size(segs.back()), last_size - 5);  // cut at the chunk start
    auto ref = (*f)->Write(7, 1000, 1000, "after");                     // and writing goes on
    ASSERT_TRUE(ref.ok());
    std::string got;
    ASSERT_TRUE((*f)->Read(*ref, &got).ok());
    EXPECT_EQ(got, "after");
  }
  // Garbage in the middle of the second segment: cut there, later ones gone.
  {
    int fd = ::open(segs[1].c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "\xde\xad\xbe\xef", 4, 200), 4);
    ::close(fd);
  }
  std::vector<HeadChunkMeta> seen;
  HeadChunkFilesOpenStats stats;
  auto f = HeadChunkFiles::Open(
      o, [&](const HeadChunkMeta& m) { seen.push_back(m); }, &stats);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(stats.first_error.empty());
  EXPECT_GE(stats.removed_segments, 1u);
  ASSERT_FALSE(seen.empty());
  EXPECT_LT(seen.size(), 99u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].chunk_ref, refs[i]);  // a prefix survives, unchanged
    std::string got;
    ASSERT_TRUE((*f)->Read(seen[i].chunk_ref, &got).ok());
    EXPECT_EQ(got, ChunkBytes(static_cast<int>(i)));
  }
  EXPECT_EQ(Segments(o.dir).size(), 2u);
}

// A head with a WAL and chunk files in `dir`.
struct Opened {
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<Head> head;
};

Selection Everything(Head& head) {
  auto q =
      head.NewQuerier(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  return ReadAll(*q, {Re("__name__", ".*")});
}

Opened OpenHead(const std::string& dir, bool chunk_files = true,
                int64_t min_valid = std::numeric_limits<int64_t>::min(), int replay_threads = 0) {
  Opened o;
  wal::WalOptions wo;
  wo.dir = dir + "/wal";
  wo.sync_policy = wal::SyncPolicy::kNone;
  static telemetry::Registry reg;
  wo.registry = &reg;
  auto w = wal::Wal::Open(wo);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  o.wal = std::move(w).value();
  HeadOptions ho;
  ho.stripes = 16;
  ho.wal = o.wal.get();
  ho.chunk_range_ms = 2 * kHour;
  ho.ooo_window_ms = 2 * kHour;
  if (chunk_files) ho.chunks_dir = dir + "/chunks_head";
  ho.chunks_segment_bytes = 8 * 1024;
  ho.replay_threads = replay_threads;
  o.head = std::make_unique<Head>(ho);
  o.head->SetMinValidTime(min_valid);
  Status st = o.head->ReplayWal();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return o;
}

Labels SeriesN(int i) {
  return Labels::FromStrings({"__name__", "m", "i", std::to_string(i), "job", "j"});
}

// 40 series x 1000 samples 15 s apart (8 full chunks each), then a few
// out-of-order samples inside already-written chunks' ranges.
void Fill(Head& head) {
  for (int k = 0; k < 1000; ++k) {
    auto app = head.NewAppender();
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(app->Append(0, SeriesN(i), k * 15000, static_cast<double>(k * (i + 1))).ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  auto app = head.NewAppender();
  for (int i = 0; i < 40; i += 5) {
    ASSERT_TRUE(app->Append(0, SeriesN(i), 14000000 + 7, -1.0 * i).ok());  // out of order
  }
  ASSERT_TRUE(app->Commit().ok());
}

TEST(HeadChunkFilesTest, HeadKeepsFullChunksOnDiskAndReplaySkipsThem) {
  testing::TempDir with_files, in_memory;
  Selection want;
  size_t mem_bytes = 0, disk_bytes = 0;
  {
    Opened m = OpenHead(in_memory.path(), /*chunk_files=*/false);
    Fill(*m.head);
    want = Everything(*m.head);
    mem_bytes = m.head->Stats(true).series_bytes;
  }
  ASSERT_TRUE(want.error.empty()) << want.error;
  ASSERT_EQ(want.series.size(), 40u);
  {
    Opened o = OpenHead(with_files.path());
    Fill(*o.head);
    Selection got = Everything(*o.head);
    EXPECT_EQ(got.series, want.series);
    HeadStats st = o.head->Stats(true);
    disk_bytes = st.series_bytes;
    EXPECT_GT(st.chunks_on_disk_bytes, 0u);
    EXPECT_GT(st.chunk_segments, 0u);
    // Full chunks are references now: much less memory per series.
    EXPECT_LT(disk_bytes * 2, mem_bytes) << disk_bytes << " vs " << mem_bytes;
  }
  // Restart: the same data, with the chunks re-attached from the files.
  for (int round = 0; round < 2; ++round) {
    Opened o = OpenHead(with_files.path());
    Selection got = Everything(*o.head);
    ASSERT_TRUE(got.error.empty()) << got.error;
    EXPECT_EQ(got.series, want.series) << "round " << round;
    EXPECT_LT(o.head->Stats(true).series_bytes * 2, mem_bytes);
    // Appending goes on after the restored data; an exact duplicate of the
    // newest sample is accepted, another value for it is not.
    auto app = o.head->NewAppender();
    const int64_t t = (999 + round) * 15000;
    const double v = static_cast<double>((999 + round) * 1);
    ASSERT_TRUE(app->Append(0, SeriesN(0), t, v).ok());
    EXPECT_FALSE(app->Append(0, SeriesN(0), t, v + 1).ok());
    ASSERT_TRUE(app->Append(0, SeriesN(0), t + 15000, v + 1).ok());
    ASSERT_TRUE(app->Commit().ok());
    want.series[SeriesN(0).ToString()].emplace_back(t + 15000, std::bit_cast<uint64_t>(v + 1));
    EXPECT_EQ(Everything(*o.head).series, want.series);
  }
}

// Out-of-order samples written while the chunks now on disk were being
// filled: replay skips the in-order samples those chunks hold (before
// dispatching them) but not the out-of-order ones between them, with one
// replay thread and with several; what the head holds and how it judges
// new samples afterwards are as before the restart.
TEST(HeadChunkFilesTest, ReplaySkipsAroundOutOfOrderSamples) {
  auto fill = [](Head& head) {
    for (int k = 0; k < 300; ++k) {
      auto app = head.NewAppender();
      for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(app->Append(0, SeriesN(i), k * 15000, k * 1.0 + i).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
      if (k % 50 != 49) continue;
      app = head.NewAppender();
      for (int i = 0; i < 8; i += 2) {  // inside the chunk being filled
        ASSERT_TRUE(app->Append(0, SeriesN(i), (k - 20) * 15000 + 7, -1.0 * k).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
    }
  };
  Selection want;
  {
    testing::TempDir in_memory;
    Opened m = OpenHead(in_memory.path(), /*chunk_files=*/false);
    fill(*m.head);
    want = Everything(*m.head);
  }
  ASSERT_TRUE(want.error.empty()) << want.error;
  ASSERT_EQ(want.series.size(), 8u);
  ASSERT_EQ(want.series[SeriesN(0).ToString()].size(), 306u);
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    testing::TempDir tmp;
    {
      Opened o = OpenHead(tmp.path());
      fill(*o.head);
      EXPECT_EQ(Everything(*o.head).series, want.series);
      EXPECT_GT(o.head->Stats().chunks_on_disk_bytes, 0u);
    }
    Opened o = OpenHead(tmp.path(), true, std::numeric_limits<int64_t>::min(), threads);
    Selection got = Everything(*o.head);
    ASSERT_TRUE(got.error.empty()) << got.error;
    EXPECT_EQ(got.series, want.series);
    auto app = o.head->NewAppender();
    const int64_t last = 299 * 15000;
    EXPECT_TRUE(app->Append(0, SeriesN(1), last, 299.0 + 1).ok());  // the same: ignored
    EXPECT_FALSE(app->Append(0, SeriesN(1), last, 5.0).ok());       // another value
    EXPECT_TRUE(app->Append(0, SeriesN(1), 250 * 15000 + 3, 0.5).ok());  // out of order
    EXPECT_TRUE(app->Append(0, SeriesN(1), last + 15000, 7.0).ok());
    ASSERT_TRUE(app->Commit().ok());
    auto& s1 = want.series[SeriesN(1).ToString()];
    Selection after = Everything(*o.head);
    std::vector<BitsSample> w1(s1.begin(), s1.end());
    w1.emplace_back(250 * 15000 + 3, std::bit_cast<uint64_t>(0.5));
    w1.emplace_back(last + 15000, std::bit_cast<uint64_t>(7.0));
    std::sort(w1.begin(), w1.end());
    const auto& g1 = after.series[SeriesN(1).ToString()];
    EXPECT_EQ(g1, w1);
  }
}

// Series refs far apart (one beyond 2^32): replay cannot use its
// ref-indexed arrays and falls back to the ref tables and to the test on
// the series, and still skips exactly what the chunk files hold.
TEST(HeadChunkFilesTest, ReplayWithSparseRefs) {
  testing::TempDir tmp;
  const uint64_t refs[] = {7, 3'000'000'000ull, 9'000'000'000ull};
  auto value = [](int i, int k) { return k * 10.0 + i; };
  {
    wal::WalOptions wo;
    wo.dir = tmp.path() + "/wal";
    wo.sync_policy = wal::SyncPolicy::kNone;
    telemetry::Registry reg;
    wo.registry = &reg;
    auto w = wal::Wal::Open(wo);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    HeadChunkFilesOptions co;
    co.dir = tmp.path() + "/chunks_head";
    auto files = HeadChunkFiles::Open(co, [](const HeadChunkMeta&) {});
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    for (int i = 0; i < 3; ++i) {
      std::string rec;
      EncodeSeries(WalSeries{refs[i], SeriesN(i)}, &rec);
      ASSERT_TRUE((*w)->Append(rec).ok());
      chunkenc::XorChunk c;  // samples 0..119: a full chunk on disk
      for (int k = 0; k < 120; ++k) ASSERT_TRUE(c.Append(k * 15000, value(i, k)).ok());
      ASSERT_TRUE((*files)->Write(refs[i], 0, 119 * 15000, c.Bytes()).ok());
    }
    ASSERT_TRUE((*files)->Flush().ok());
    for (int k = 0; k < 200; ++k) {
      std::vector<WalSample> batch;
      for (int i = 0; i < 3; ++i) {
        batch.push_back(WalSample{refs[i], k * 15000, std::bit_cast<uint64_t>(value(i, k))});
      }
      std::string rec;
      EncodeSamples(batch, &rec);
      ASSERT_TRUE((*w)->Append(rec).ok());
    }
    ASSERT_TRUE((*w)->Close().ok());
  }
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    testing::TempDir copy;
    std::filesystem::copy(tmp.path(), copy.path(), std::filesystem::copy_options::recursive);
    Opened o = OpenHead(copy.path(), true, std::numeric_limits<int64_t>::min(), threads);
    Selection got = Everything(*o.head);
    ASSERT_TRUE(got.error.empty()) << got.error;
    ASSERT_EQ(got.series.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      const auto& samples = got.series[SeriesN(i).ToString()];
      ASSERT_EQ(samples.size(), 200u) << i;  // the chunk's 120 not appended twice
      for (int k = 0; k < 200; ++k) {
        EXPECT_EQ(samples[k], BitsSample(k * 15000, std::bit_cast<uint64_t>(value(i, k))));
      }
    }
    EXPECT_GT(o.head->Stats().chunks_on_disk_bytes, 0u);
    // The newest sample is known: a duplicate with another value is refused.
    auto app = o.head->NewAppender();
    EXPECT_FALSE(app->Append(0, SeriesN(2), 199 * 15000, -1.0).ok());
  }
}

// The chunk files lose data (torn tail, garbage, removed): the WAL replay
// restores every sample and the head still opens.
TEST(HeadChunkFilesTest, CorruptChunkFilesAreRestoredFromTheWal) {
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode);
    testing::TempDir tmp;
    Selection want;
    {
      Opened o = OpenHead(tmp.path());
      Fill(*o.head);
      want = Everything(*o.head);
    }
    std::vector<std::string> segs = Segments(tmp.path() + "/chunks_head");
    ASSERT_GE(segs.size(), 2u);
    if (mode == 0) {
      std::filesystem::resize_file(segs.back(), std::filesystem::file_size(segs.back()) - 3);
    } else if (mode == 1) {
      int fd = ::open(segs[0].c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, "garbage!", 8, 1000), 8);
      ::close(fd);
    } else {
      std::filesystem::remove(segs[segs.size() / 2]);
    }
    Opened o = OpenHead(tmp.path());
    Selection got = Everything(*o.head);
    ASSERT_TRUE(got.error.empty()) << got.error;
    EXPECT_EQ(got.series, want.series);
    // And ingestion goes on.
    auto app = o.head->NewAppender();
    ASSERT_TRUE(app->Append(0, SeriesN(3), 1000 * 15000, 1.5).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
}

// Block cut: truncation drops the chunk files below the cut.
TEST(HeadChunkFilesTest, TruncateRemovesOldSegments) {
  testing::TempDir tmp;
  Opened o = OpenHead(tmp.path());
  Fill(*o.head);  // 0 .. 15000 s: the first 2 h range ends at 7200 s
  const size_t before = o.head->Stats().chunk_segments;
  o.head->SetMinValidTime(0);
  ASSERT_TRUE(o.head->Truncate(2 * kHour).ok());
  HeadStats st = o.head->Stats();
  EXPECT_LT(st.chunk_segments, before);
  Selection got = Everything(*o.head);
  ASSERT_TRUE(got.error.empty()) << got.error;
  for (const auto& [k, samples] : got.series) {
    ASSERT_FALSE(samples.empty());
    EXPECT_GE(samples.front().first, 2 * kHour) << k;
  }
  // Restart after the truncation (the DB sets the lower bound from its
  // blocks): the same.
  o.head.reset();
  o.wal.reset();
  Opened r = OpenHead(tmp.path(), true, 2 * kHour);
  EXPECT_EQ(Everything(*r.head).series, got.series);
}

}  // namespace
}  // namespace sightline::tsdb
