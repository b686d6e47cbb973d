// Profile store: segments (symbols, stack tree, serialization), pprof
// append, and ProfileDB's WAL replay, block cut, shipping and reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/harness.h"
#include "io/env.h"
#include "io/memory_object_store.h"
#include "profiles/query/query.h"
#include "profiles/store/pprof_append.h"
#include "profiles/store/profile_db.h"
#include "profiles/store/segment.h"
#include "profiles_test_util.h"

namespace sightline::profiles {
namespace {

using testutil::CpuProfile;
using testutil::kCpuType;

Labels Base(const std::string& service) { return {{"service_name", service}, {"env", "prod"}}; }

int64_t SumValues(const Segment& seg) {
  int64_t v = 0;
  for (const auto& s : seg.series()) {
    for (const auto& e : s->entries) {
      for (int64_t x : e.values) v += x;
    }
  }
  return v;
}

TEST(SegmentTest, DedupsSymbolsAndStacksAcrossProfiles) {
  Segment seg;
  for (int i = 0; i < 10; ++i) {
    auto p =
        CpuProfile({{{"main", "work", "burn"}, 30}, {{"main", "work"}, 10}, {{"main", "idle"}, 5}});
    ASSERT_TRUE(AppendPprof(&seg, Base("api"), p, 1000 + i).ok());
  }
  ASSERT_EQ(seg.series().size(), 1u);
  const Series& s = *seg.series()[0];
  EXPECT_EQ(s.profile_type, kCpuType);
  EXPECT_EQ(LabelValue(s.labels, "__name__"), "process_cpu");
  EXPECT_EQ(LabelValue(s.labels, "service_name"), "api");
  EXPECT_EQ(s.entries.size(), 10u);
  // 4 functions, 4 locations, 4 stack nodes + root, whatever the count of profiles.
  EXPECT_EQ(s.symbols->functions().size(), 4u);
  EXPECT_EQ(s.symbols->locations().size(), 4u);
  EXPECT_EQ(s.symbols->nodes().size(), 5u);
  EXPECT_EQ(seg.num_profiles(), 10u);
  EXPECT_EQ(SumValues(seg), 450);
}

TEST(SegmentTest, SerializeParseRoundTrip) {
  Segment seg;
  ASSERT_TRUE(AppendPprof(&seg, Base("api"),
                          CpuProfile({{{"main", "a"}, 3, "00000000000000ff"}, {{"main", "b"}, 4}}),
                          5000)
                  .ok());
  ASSERT_TRUE(AppendPprof(&seg, Base("web"), CpuProfile({{{"main", "c"}, 7}}), 6000).ok());
  seg.Finish();
  std::string data = seg.Serialize();
  auto parsed = Segment::Parse(data);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ((*parsed)->series().size(), 2u);
  EXPECT_EQ((*parsed)->min_time(), 5000);
  EXPECT_EQ((*parsed)->max_time(), 6000);
  EXPECT_EQ(SumValues(**parsed), 14);
  EXPECT_EQ((*parsed)->Serialize(), data);
  // Span ids survive.
  bool found = false;
  for (const auto& s : (*parsed)->series()) {
    for (const auto& e : s->entries) {
      if (!e.span_ids.empty()) {
        found = true;
        EXPECT_EQ(e.span_ids.size(), e.stacks.size());
      }
    }
  }
  EXPECT_TRUE(found);
  // Garbage and truncation are errors, not crashes.
  for (size_t cut : {size_t{0}, size_t{3}, data.size() / 2, data.size() - 1}) {
    EXPECT_FALSE(Segment::Parse(data.substr(0, cut)).ok()) << cut;
  }
}

TEST(PprofAppendTest, RejectsDanglingIds) {
  auto p = CpuProfile({{{"main"}, 1}});
  p.mutable_sample(0)->set_location_id(0, 99);
  EXPECT_FALSE(CheckPprof(p).ok());
  auto q = CpuProfile({{{"main"}, 1}});
  q.mutable_sample(0)->add_value(2);
  EXPECT_FALSE(CheckPprof(q).ok());
}

TEST(PprofAppendTest, NamesProfilesLikePyroscope) {
  using testutil::MakeProfile;
  EXPECT_EQ(ProfileNameFor(MakeProfile("samples", "count", "cpu", "nanoseconds", {})),
            "process_cpu");
  EXPECT_EQ(ProfileNameFor(MakeProfile("wall", "microseconds", "wall", "microseconds", {})),
            "wall");
  EXPECT_EQ(ProfileNameFor(MakeProfile("alloc_space", "bytes", "space", "bytes", {})), "memory");
  EXPECT_EQ(ProfileNameFor(MakeProfile("goroutine", "count", "goroutine", "count", {})),
            "goroutines");
  EXPECT_EQ(ProfileNameFor(MakeProfile("delay", "nanoseconds", "contentions", "count", {})),
            "mutex");
}

ProfileDBOptions Options(const std::string& dir, io::ObjectStore* store = nullptr) {
  ProfileDBOptions o;
  o.data_dir = dir;
  o.store = store;
  o.cut_check_interval = std::chrono::milliseconds(0);
  o.ship_interval = std::chrono::hours(1);
  return o;
}

int64_t Total(ProfileDB& db, const std::string& tenant, int64_t start = 0,
              int64_t end = INT64_MAX) {
  query::Selection sel;
  sel.profile_type = kCpuType;
  sel.start_ms = start;
  sel.end_ms = end;
  auto tree = query::MergeTree(db, tenant, sel);
  EXPECT_TRUE(tree.ok());
  return tree.ok() ? tree->nodes[0].total : -1;
}

TEST(ProfileDBTest, WalReplayRestoresAcknowledgedProfiles) {
  testing::TempDir dir;
  {
    auto db = ProfileDB::Open(Options(dir.path()));
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(
          (*db)->Append("t1", Base("api"), CpuProfile({{{"main", "x"}, 10}}), 1000 * i).ok());
    }
    ASSERT_TRUE((*db)->Append("t2", Base("api"), CpuProfile({{{"main", "y"}, 1}}), 1000).ok());
    EXPECT_EQ(Total(**db, "t1"), 50);
    // No Close(): the destructor closes; replay must work either way.
  }
  auto db = ProfileDB::Open(Options(dir.path()));
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(Total(**db, "t1"), 50);
  EXPECT_EQ(Total(**db, "t2"), 1);
  EXPECT_THAT((*db)->Tenants(), ::testing::ElementsAre("t1", "t2"));
}

TEST(ProfileDBTest, CutWritesBlockReadAfterRestartAndShipped) {
  testing::TempDir dir;
  io::MemoryObjectStore store;
  {
    auto db = ProfileDB::Open(Options(dir.path(), &store));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Append("t1", Base("api"), CpuProfile({{{"main", "x"}, 10}}), 1000).ok());
    ASSERT_TRUE((*db)->Cut().ok());
    ASSERT_TRUE((*db)->Append("t1", Base("api"), CpuProfile({{{"main", "x"}, 5}}), 2000).ok());
    EXPECT_EQ(Total(**db, "t1"), 15);
    EXPECT_EQ(Total(**db, "t1", 1500, 3000), 5);
    EXPECT_EQ((*db)->Stats("t1").blocks, 1u);
    ASSERT_TRUE((*db)->Ship().ok());
    ASSERT_TRUE((*db)->Close().ok());
  }
  io::ListOptions lo;
  lo.prefix = "profiles/t1/";
  auto listed = store.List(lo);
  ASSERT_TRUE(listed.ok());
  bool has_meta = false, has_data = false;
  for (const auto& o : listed->objects) {
    has_meta |= o.key.size() > 9 && o.key.substr(o.key.size() - 9) == "meta.json";
    has_data |= o.key.find("profiles.bin") != std::string::npos;
  }
  EXPECT_TRUE(has_meta);
  EXPECT_TRUE(has_data);

  // Restart: the block (local) and the WAL (second profile) both come back.
  {
    auto db = ProfileDB::Open(Options(dir.path(), &store));
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(Total(**db, "t1"), 15);
  }
  // Local disk lost: the shipped block is read from the object store.
  testing::TempDir fresh;
  auto db = ProfileDB::Open(Options(fresh.path(), &store));
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(Total(**db, "t1"), 10);
}

// Retention: uploaded local copies go after local_retention (and are read
// from the object store); blocks past retention go everywhere.
TEST(ProfileDBTest, RetentionDropsLocalCopiesThenBlocks) {
  testing::TempDir dir;
  io::MemoryObjectStore store;
  ProfileDBOptions o = Options(dir.path(), &store);
  o.local_retention = std::chrono::hours(1);
  o.retention = std::chrono::hours(24);
  auto db = ProfileDB::Open(std::move(o));
  ASSERT_TRUE(db.ok());
  const int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE((*db)->Append("t1", Base("api"), CpuProfile({{{"main", "old"}, 10}}), t0).ok());
  ASSERT_TRUE((*db)->Cut().ok());
  ASSERT_TRUE((*db)->Ship().ok());
  ASSERT_TRUE(
      (*db)->Append("t1", Base("api"), CpuProfile({{{"main", "new"}, 5}}), t0 + 7'200'000).ok());
  ASSERT_TRUE((*db)->Cut().ok());
  ASSERT_TRUE((*db)->Ship().ok());
  EXPECT_EQ((*db)->Stats("t1").blocks, 2u);

  // Two hours later: the shipped block's local copy goes, its data stays.
  ASSERT_TRUE((*db)->ApplyRetention(t0 + 2 * 3'600'000 + 1).ok());
  EXPECT_EQ((*db)->Stats("t1").blocks, 1u);
  EXPECT_EQ(Total(**db, "t1", t0 - 1, t0 + 1), 10);
  EXPECT_EQ(Total(**db, "t1"), 15);

  // A day later the first block is gone from the object store too.
  ASSERT_TRUE((*db)->ApplyRetention(t0 + 25 * 3'600'000).ok());
  EXPECT_EQ(Total(**db, "t1", t0 - 1, t0 + 1), 0);
  io::ListOptions lo;
  lo.prefix = "profiles/t1/";
  auto listed = store.List(lo);
  ASSERT_TRUE(listed.ok());
  int metas = 0;
  for (const auto& obj : listed->objects) metas += obj.key.find("meta.json") != std::string::npos;
  EXPECT_EQ(metas, 1);
  // The second block (2 h newer) is within retention, read from the store.
  EXPECT_EQ((*db)->Stats("t1").blocks, 0u);
  EXPECT_EQ(Total(**db, "t1"), 5);
}

// Blocks read from the object store stay decoded between queries, within
// remote_cache_bytes: the least recently used go first, and a query still
// sees every block.
TEST(ProfileDBTest, RemoteBlockCacheIsBoundedLru) {
  testing::TempDir dir;
  io::MemoryObjectStore store;
  {
    auto db = ProfileDB::Open(Options(dir.path(), &store));
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*db)
                      ->Append("t1", Base("api"),
                               CpuProfile({{{"main", "f" + std::to_string(i)}, 10}}),
                               1000 + i * 1000)
                      .ok());
      ASSERT_TRUE((*db)->Cut().ok());
    }
    ASSERT_TRUE((*db)->Ship().ok());
    ASSERT_TRUE((*db)->Close().ok());
  }
  // Unbounded enough: all three stay.
  {
    testing::TempDir fresh;
    auto db = ProfileDB::Open(Options(fresh.path(), &store));
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(Total(**db, "t1"), 30);
    EXPECT_EQ((*db)->RemoteCachedBlocks(), 3u);
    EXPECT_GT((*db)->RemoteCacheBytes(), 0u);
  }
  // Room for about one block: queries stay right, the cache stays small.
  testing::TempDir fresh;
  ProfileDBOptions o = Options(fresh.path(), &store);
  o.remote_cache_bytes = 1;
  auto db = ProfileDB::Open(std::move(o));
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(Total(**db, "t1"), 30);
  EXPECT_LE((*db)->RemoteCachedBlocks(), 1u);
  EXPECT_EQ(Total(**db, "t1", 1500, 2500), 10);  // the second block alone
  EXPECT_LE((*db)->RemoteCachedBlocks(), 1u);
  EXPECT_EQ(Total(**db, "t1"), 30);
}

}  // namespace
}  // namespace sightline::profiles
