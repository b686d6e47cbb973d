#include "blocks/shipper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "blocks/bucket.h"
#include "harness/harness.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"

namespace sightline::blocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ShipperTest : public ::testing::Test {
 protected:
  // Writes a complete local block: data files first, meta.json last.
  Ulid MakeBlock(int64_t min_t, int64_t max_t, bool complete = true) {
    Ulid u = NewUlid();
    std::string d = dir_.Join("blocks/" + u.ToString());
    testing::WriteFile(d + "/index", "index-" + u.ToString());
    testing::WriteFile(d + "/chunks/000001", std::string(1000, 'c'));
    if (complete) {
      BlockMeta m;
      m.ulid = u;
      m.min_time = min_t;
      m.max_time = max_t;
      m.stats["numSamples"] = 7;
      testing::WriteFile(d + "/meta.json", m.ToJson());
    }
    return u;
  }

  ShipperOptions Options() {
    ShipperOptions o;
    o.signal = "metrics";
    o.local_dir = dir_.Join("blocks");
    o.remote_prefix = TenantPrefix("metrics", "anonymous");
    o.external_labels = {{"cluster", "eu1"}, {"replica", "a"}};
    o.min_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(40);
    o.interval = std::chrono::milliseconds(20);
    return o;
  }

  testing::TempDir dir_;
  io::MemoryObjectStore store_;
};

TEST_F(ShipperTest, UploadsCompleteBlocksMetaLastWithThanosSection) {
  Ulid a = MakeBlock(0, 7200000);
  MakeBlock(0, 1, /*complete=*/false);  // still being written: skipped
  Shipper s(io::Env::Default(), &store_, Options());
  ASSERT_TRUE(s.Init().ok());
  auto n = s.Sync();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  std::string prefix = "metrics/anonymous/" + a.ToString() + "/";
  EXPECT_EQ(*store_.Get(prefix + "index"), "index-" + a.ToString());
  EXPECT_EQ(store_.Get(prefix + "chunks/000001")->size(), 1000u);
  auto meta = ReadMeta(store_, "metrics/anonymous/", a);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->labels.at("cluster"), "eu1");
  EXPECT_EQ(meta->signal, "metrics");
  EXPECT_EQ(meta->stats.at("numSamples"), 7u);
  ASSERT_EQ(meta->files.size(), 3u);
  EXPECT_EQ(meta->files[0].rel_path, "chunks/000001");
  EXPECT_EQ(meta->files[0].size_bytes, 1000u);
  EXPECT_TRUE(s.IsUploaded(a));
  // A second pass has nothing to do.
  EXPECT_EQ(*s.Sync(), 0);
}

TEST_F(ShipperTest, StoreDownNothingLostAndResumesAfterRestart) {
  io::FaultyObjectStore faulty(&store_);
  Ulid a = MakeBlock(0, 100);
  Ulid b = MakeBlock(100, 200);
  {
    Shipper s(io::Env::Default(), &faulty, Options());
    ASSERT_TRUE(s.Init().ok());
    faulty.FailNext(io::kFaultAllOps, 1000);
    EXPECT_FALSE(s.Sync().ok());
    EXPECT_FALSE(s.IsUploaded(a));
    // meta.json is never written for a block whose files failed.
    EXPECT_FALSE(ReadMeta(store_, "metrics/anonymous/", a).ok());
    faulty.Clear();
    // Torn uploads: the store keeps half an object and reports an error.
    faulty.TearNext(1, io::TornUpload::kTruncated);
    EXPECT_FALSE(s.Sync().ok());
    EXPECT_EQ(*s.Sync(), 2);
  }
  // A new shipper (restart) reads the state file: nothing to redo.
  Shipper s2(io::Env::Default(), &faulty, Options());
  ASSERT_TRUE(s2.Init().ok());
  EXPECT_TRUE(s2.IsUploaded(a));
  EXPECT_TRUE(s2.IsUploaded(b));
  EXPECT_EQ(*s2.Sync(), 0);
  auto metas = ListBlocks(store_, "metrics/anonymous/");
  ASSERT_TRUE(metas.ok());
  ASSERT_EQ(metas->size(), 2u);
  // The torn object was rewritten in full.
  EXPECT_EQ(store_.Get("metrics/anonymous/" + a.ToString() + "/chunks/000001")->size(), 1000u);
  EXPECT_EQ(store_.Get("metrics/anonymous/" + b.ToString() + "/chunks/000001")->size(), 1000u);
}

TEST_F(ShipperTest, BackgroundLoopRetriesUntilTheStoreComesBack) {
  io::FaultyObjectStore faulty(&store_);
  faulty.FailNext(io::kFaultAllOps, 25);
  Shipper s(io::Env::Default(), &faulty, Options());
  ASSERT_TRUE(s.Init().ok());
  s.Start();
  Ulid a = MakeBlock(0, 100);
  s.Notify();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!s.IsUploaded(a) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.Stop();
  EXPECT_TRUE(s.IsUploaded(a));
  EXPECT_TRUE(ReadMeta(store_, "metrics/anonymous/", a).ok());
}

TEST_F(ShipperTest, CorruptStateFileMeansReuploadNotLoss) {
  Ulid a = MakeBlock(0, 100);
  testing::WriteFile(dir_.Join("blocks/shipper.json"), "{garbage");
  Shipper s(io::Env::Default(), &store_, Options());
  ASSERT_TRUE(s.Init().ok());
  EXPECT_EQ(*s.Sync(), 1);
  EXPECT_TRUE(s.IsUploaded(a));
}

TEST(BucketTest, ListRetentionDeleteAndTenants) {
  io::MemoryObjectStore store;
  auto put_block = [&](const std::string& tenant, int64_t min_t, int64_t max_t, bool meta = true) {
    BlockMeta m;
    m.ulid = NewUlid();
    m.min_time = min_t;
    m.max_time = max_t;
    std::string p = BlockPrefix(TenantPrefix("logs", tenant), m.ulid);
    EXPECT_TRUE(store.Put(p + "chunks/1", "x").ok());
    if (meta) EXPECT_TRUE(store.Put(p + "meta.json", m.ToJson()).ok());
    return m.ulid;
  };
  Ulid old_block = put_block("a", 0, 1000);
  Ulid new_block = put_block("a", 1000, 5000);
  put_block("a", 0, 10, /*meta=*/false);  // partial upload: not a block
  put_block("b", 0, 10);
  ASSERT_TRUE(store.Put("logs/a/" + NewUlid().ToString() + "/meta.json", "{not json").ok());

  auto tenants = ListTenants(store, "logs");
  ASSERT_TRUE(tenants.ok());
  EXPECT_THAT(*tenants, ElementsAre("a", "b"));

  int bad = 0;
  auto blocks = ListBlocks(store, "logs/a/", [&](const std::string&, const Status&) { ++bad; });
  ASSERT_TRUE(blocks.ok());
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ(bad, 1);
  EXPECT_EQ((*blocks)[0].ulid, old_block);

  auto deleted = ApplyRetention(store, "logs/a/", 1000);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1);
  EXPECT_FALSE(store.Head("logs/a/" + old_block.ToString() + "/chunks/1").ok());
  EXPECT_TRUE(store.Head("logs/a/" + new_block.ToString() + "/chunks/1").ok());
  EXPECT_EQ(ListBlocks(store, "logs/a/")->size(), 1u);
}

}  // namespace
}  // namespace sightline::blocks
