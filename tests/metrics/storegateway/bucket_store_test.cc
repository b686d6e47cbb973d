// The store gateway's BucketStore over blocks in an object store (memory
// and fault-injecting), and the index cache it uses.
#include "metrics/storegateway/bucket_store.h"

#include <gtest/gtest.h>

#include "blocks/bucket.h"
#include "counting_store.h"
#include "harness/harness.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "io/object_file.h"
#include "metrics/storegateway/store_gateway.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/index/index_cache.h"
#include "metrics/tsdb/index/index_reader.h"
#include "telemetry/metrics.h"

namespace sightline::storegateway {
namespace {

using metrics::Labels;
using tsdb::Sample;

// Writes a block locally and uploads it as the shipper does (meta.json
// last, with the file list and sizes); returns its ULID.
blocks::Ulid MakeBlock(const std::string& tmp, io::ObjectStore& store, const std::string& tenant,
                       std::vector<tsdb::SeriesInput> series,
                       std::map<std::string, std::string> ext, bool with_meta = true) {
  io::Env* env = io::Env::Default();
  tsdb::WriteBlockOptions o;
  o.meta.labels = std::move(ext);
  auto ulid = tsdb::WriteBlock(env, tmp, series, o);
  EXPECT_TRUE(ulid.ok()) << ulid.status().ToString();
  std::string dir = io::JoinPath(tmp, ulid->ToString());
  std::string prefix = blocks::BlockPrefix(blocks::TenantPrefix("metrics", tenant), *ulid);
  auto meta = blocks::BlockMeta::Parse(*env->ReadFile(io::JoinPath(dir, "meta.json")));
  EXPECT_TRUE(meta.ok());
  std::vector<std::string> files = {"index", "tombstones"};
  auto children = env->GetChildren(io::JoinPath(dir, "chunks"));
  EXPECT_TRUE(children.ok());
  for (const auto& c : *children) files.push_back("chunks/" + c);
  for (const auto& f : files) {
    std::string data = *env->ReadFile(io::JoinPath(dir, f));
    EXPECT_TRUE(store.Put(prefix + f, data).ok());
    meta->files.push_back({f, data.size()});
  }
  if (with_meta) EXPECT_TRUE(store.Put(prefix + "meta.json", meta->ToJson()).ok());
  return *ulid;
}

std::vector<Sample> Range(int64_t from, int64_t to, int64_t step, double v) {
  std::vector<Sample> s;
  for (int64_t t = from; t <= to; t += step) s.push_back({t, v});
  return s;
}

promql::Matcher Eq(std::string n, std::string v) {
  return *promql::Matcher::Make(promql::MatchType::kEqual, std::move(n), std::move(v));
}

struct Got {
  Labels labels;
  std::vector<Sample> samples;
};

std::vector<Got> Select(metrics::Querier& q, const std::vector<promql::Matcher>& m,
                        Status* err = nullptr) {
  auto set = q.Select(true, nullptr, m);
  std::vector<Got> out;
  while (set->Next()) {
    Got g{set->At().labels(), {}};
    auto it = set->At().Iterator();
    while (it->Next()) g.samples.push_back({it->t(), it->v()});
    out.push_back(std::move(g));
  }
  if (err != nullptr) {
    *err = set->err();
  } else {
    EXPECT_TRUE(set->err().ok()) << set->err().ToString();
  }
  return out;
}

class BucketStoreTest : public ::testing::Test {
 protected:
  BucketStoreOptions Options(io::ObjectStore* store) {
    BucketStoreOptions o;
    o.store = store;
    o.tenant = "t1";
    o.local_dir = local_.path();
    o.page_cache = &page_cache_;
    o.index_cache = &index_cache_;
    o.registry = &registry_;
    return o;
  }
  void TwoBlocks() {
    // Block 1: [0, 100s], cluster=eu; block 2: [200s, 300s], cluster=us.
    a_ = MakeBlock(tmp_.path(), mem_, "t1",
                   {{Labels::FromStrings({"__name__", "up", "job", "api"}), Range(0, 100000, 10000, 1), {}},
                    {Labels::FromStrings({"__name__", "up", "job", "db"}), Range(0, 100000, 10000, 2), {}}},
                   {{"cluster", "eu"}});
    b_ = MakeBlock(tmp_.path(), mem_, "t1",
                   {{Labels::FromStrings({"__name__", "up", "job", "api"}), Range(200000, 300000, 10000, 3), {}}},
                   {{"cluster", "us"}});
  }

  testing::TempDir tmp_, local_;
  io::MemoryObjectStore mem_;
  telemetry::Registry registry_;
  io::PageCache page_cache_{[this] {
    io::PageCacheOptions o;
    o.registry = &registry_;
    o.name = "test";
    return o;
  }()};
  tsdb::LruIndexCache index_cache_{[this] {
    tsdb::LruIndexCacheOptions o;
    o.registry = &registry_;
    return o;
  }()};
  blocks::Ulid a_, b_;
};

TEST_F(BucketStoreTest, SyncSkipsPartialBlocksAndQueriesWithExternalLabels) {
  TwoBlocks();
  MakeBlock(tmp_.path(), mem_, "t1",
            {{Labels::FromStrings({"__name__", "up", "job", "partial"}), Range(0, 10, 10, 9), {}}},
            {}, /*with_meta=*/false);
  BucketStore bs(Options(&mem_));
  ASSERT_TRUE(bs.Sync().ok());
  ASSERT_EQ(bs.Blocks().size(), 2u);

  auto q = bs.Querier(0, 400000);
  auto got = Select(*q, {Eq("__name__", "up")});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].labels, Labels::FromStrings({"__name__", "up", "cluster", "eu", "job", "api"}));
  EXPECT_EQ(got[0].samples, Range(0, 100000, 10000, 1));
  EXPECT_EQ(got[1].labels, Labels::FromStrings({"__name__", "up", "cluster", "eu", "job", "db"}));
  EXPECT_EQ(got[2].labels, Labels::FromStrings({"__name__", "up", "cluster", "us", "job", "api"}));
  EXPECT_EQ(got[2].samples, Range(200000, 300000, 10000, 3));

  auto names = q->LabelNames({});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"__name__", "cluster", "job"}));
  auto clusters = q->LabelValues("cluster", {});
  ASSERT_TRUE(clusters.ok());
  EXPECT_EQ(*clusters, (std::vector<std::string>{"eu", "us"}));

  // Only an index-header is local: <local_dir>/<ULID>/index-header.
  EXPECT_TRUE(io::Env::Default()->FileExists(local_.Join(a_.ToString() + "/index-header")));
  EXPECT_FALSE(io::Env::Default()->FileExists(local_.Join(a_.ToString() + "/index")));
}

TEST_F(BucketStoreTest, TimeAndLabelPruningLoadNothingNeedless) {
  TwoBlocks();
  BucketStore bs(Options(&mem_));
  ASSERT_TRUE(bs.Sync().ok());
  {
    auto q = bs.Querier(150000, 400000);  // only block b overlaps
    auto got = Select(*q, {Eq("__name__", "up")});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(bs.LoadedBlocks(), 1);
    EXPECT_FALSE(io::Env::Default()->FileExists(local_.Join(a_.ToString())));
  }
  {
    auto q = bs.Querier(0, 400000);
    auto got = Select(*q, {Eq("__name__", "up"), Eq("cluster", "us")});  // prunes block a
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(bs.LoadedBlocks(), 1);
    auto none = Select(*q, {Eq("__name__", "up"), Eq("cluster", "asia")});
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(bs.LoadedBlocks(), 1);
  }
  std::string text = registry_.Expose();
  EXPECT_NE(text.find("sightline_bucket_store_blocks_queried_total{outcome=\"pruned\"} 3"),
            std::string::npos)
      << text;
  // Excluded blocks (still on local disk) are not read.
  auto q = bs.Querier(0, 400000, {a_});
  EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 1u);
}

TEST_F(BucketStoreTest, IndexCopyIsReusedAfterRestartAndVanishedBlocksAreDropped) {
  TwoBlocks();
  io::FaultyObjectStore faulty(&mem_);
  {
    BucketStore bs(Options(&faulty));
    ASSERT_TRUE(bs.Sync().ok());
    auto q = bs.Querier(0, 400000);
    EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 3u);
  }
  uint64_t gets = faulty.calls(io::kFaultGet);
  {
    BucketStore bs(Options(&faulty));  // "restart": same local dir
    ASSERT_TRUE(bs.Sync().ok());
    uint64_t after_sync = faulty.calls(io::kFaultGet);
    EXPECT_EQ(after_sync - gets, 2u);  // the two meta.json files
    auto q = bs.Querier(0, 400000);
    EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 3u);
    // Nothing is fetched whole: the index-header came from disk, the
    // empty tombstones are known from meta.json.
    EXPECT_EQ(faulty.calls(io::kFaultGet) - after_sync, 0u);

    // Block a disappears from the bucket (compacted away): dropped.
    ASSERT_TRUE(blocks::DeleteBlock(mem_, blocks::TenantPrefix("metrics", "t1"), a_).ok());
    ASSERT_TRUE(bs.Sync().ok());
    EXPECT_EQ(bs.Blocks().size(), 1u);
    EXPECT_FALSE(io::Env::Default()->FileExists(local_.Join(a_.ToString())));
    // The querier made before the sync still reads it.
    EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 3u);
    auto q2 = bs.Querier(0, 400000);
    EXPECT_EQ(Select(*q2, {Eq("__name__", "up")}).size(), 1u);
  }
}

TEST_F(BucketStoreTest, StoreErrorsFailTheSelectAndAreRetried) {
  TwoBlocks();
  io::FaultyObjectStore faulty(&mem_);
  BucketStore bs(Options(&faulty));
  faulty.FailNext(io::kFaultList, 1);
  EXPECT_FALSE(bs.Sync().ok());
  ASSERT_TRUE(bs.Sync().ok());

  faulty.FailNext(io::kFaultGetRange, 1);  // the index-header build
  auto q = bs.Querier(0, 400000);
  Status err;
  Select(*q, {Eq("__name__", "up")}, &err);
  EXPECT_EQ(err.code(), StatusCode::kUnavailable) << err.ToString();
  EXPECT_EQ(bs.LoadedBlocks(), 0);

  // Chunk reads failing surface from the iterator (no page cache here, so
  // every chunk read goes to the store).
  faulty.Clear();
  BucketStoreOptions o = Options(&faulty);
  o.page_cache = nullptr;
  o.local_dir = tmp_.Join("other");
  BucketStore cold(o);
  ASSERT_TRUE(cold.Sync().ok());
  auto q3 = cold.Querier(0, 400000);
  auto s3 = q3->Select(true, nullptr, {Eq("__name__", "up"), Eq("job", "db")});
  ASSERT_TRUE(s3->Next()) << s3->err().ToString();
  faulty.FailNext(io::kFaultGetRange, 100, StatusCode::kPermissionDenied);
  auto it = s3->At().Iterator();
  EXPECT_FALSE(it->Next());
  EXPECT_EQ(it->err().code(), StatusCode::kPermissionDenied);
  faulty.Clear();
  auto it2 = s3->At().Iterator();
  int n = 0;
  while (it2->Next()) ++n;
  EXPECT_EQ(n, 11);
}

TEST_F(BucketStoreTest, IndexAndPageCachesAccount) {
  TwoBlocks();
  BucketStore bs(Options(&mem_));
  ASSERT_TRUE(bs.Sync().ok());
  for (int i = 0; i < 2; ++i) {
    auto q = bs.Querier(0, 400000);
    auto got = Select(*q, {Eq("__name__", "up"), Eq("job", "api")});
    ASSERT_EQ(got.size(), 2u);
  }
  auto p = index_cache_.stats(tsdb::LruIndexCache::kPostings);
  auto s = index_cache_.stats(tsdb::LruIndexCache::kSeries);
  // Two postings lists per block per query; the second query hits.
  EXPECT_EQ(p.requests, 8u);
  EXPECT_EQ(p.hits, 4u);
  EXPECT_EQ(p.items, 4u);
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_GT(page_cache_.hits(), 0u);
  std::string text = registry_.Expose();
  EXPECT_NE(text.find("thanos_store_index_cache_hits_total{item_type=\"Postings\"} 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("thanos_store_index_cache_requests_total{item_type=\"Series\"} 4"),
            std::string::npos);
}

// node_cpu_seconds_total of 500 hosts x 10 CPUs x 2 modes: 10k series
// with realistic label cardinalities.
std::vector<tsdb::SeriesInput> ManySeries() {
  std::vector<tsdb::SeriesInput> out;
  for (int host = 0; host < 500; ++host) {
    for (int cpu = 0; cpu < 10; ++cpu) {
      for (const char* mode : {"system", "user"}) {
        std::string inst = "10.0." + std::to_string(host / 250) + "." +
                           std::to_string(host % 250) + ":9100";
        out.push_back({Labels::FromStrings({"__name__", "node_cpu_seconds_total", "cpu",
                                            std::to_string(cpu), "instance", inst, "job",
                                            "node-" + std::to_string(host % 20), "mode", mode}),
                       Range(0, 60000, 15000, host), {}});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.labels < b.labels; });
  return out;
}

TEST_F(BucketStoreTest, OneSeriesOfTenThousandReadsASmallFractionOfTheIndex) {
  testing_util::CountingObjectStore counting(&mem_);
  blocks::Ulid u = MakeBlock(tmp_.path(), mem_, "t1", ManySeries(), {});
  std::string prefix = blocks::BlockPrefix(blocks::TenantPrefix("metrics", "t1"), u);
  const uint64_t index_size = mem_.Head(prefix + "index")->size;
  const uint64_t chunks_size = mem_.Head(prefix + "chunks/000001")->size;
  BucketStore bs(Options(&counting));
  ASSERT_TRUE(bs.Sync().ok());
  counting.Reset();

  auto one = [&](const std::string& instance) {
    auto q = bs.Querier(0, 100000);
    auto got = Select(*q, {Eq("__name__", "node_cpu_seconds_total"), Eq("instance", instance),
                           Eq("cpu", "3"), Eq("mode", "user")});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].samples.size(), 5u);
  };
  one("10.0.0.42:9100");  // cold: index-header built, then ranged reads
  auto cold = counting.For("/index");
  auto cold_chunks = counting.For("/chunks/000001");
  EXPECT_EQ(cold.gets, 0u) << "the index is never downloaded whole";
  // 2-3 reads build the header (tail with the TOC, symbols, postings offset
  // table); then the four postings lists (coalesced) and the series entry.
  EXPECT_LE(cold.ranges, 3u + 1u + 1u);
  const tsdb::IndexToc toc =
      tsdb::IndexReader::FromBytes(*mem_.Get(prefix + "index")).value()->toc();
  const uint64_t header_bytes = toc.series + (index_size - toc.postings_table);
  EXPECT_LT(cold.range_bytes * 100, index_size * 35) << "index " << index_size;
  EXPECT_LE(cold_chunks.range_bytes, 2 * page_cache_.page_size()) << "chunks " << chunks_size;
  std::printf("index %llu bytes (header part %llu); cold: %llu bytes in %llu ranged reads\n",
              static_cast<unsigned long long>(index_size),
              static_cast<unsigned long long>(header_bytes),
              static_cast<unsigned long long>(cold.range_bytes),
              static_cast<unsigned long long>(cold.ranges));

  // Another host: no header reads; its postings list and series entry only.
  counting.Reset();
  one("10.0.1.7:9100");
  auto second = counting.For("/index");
  EXPECT_LE(second.ranges, 2u);
  EXPECT_LT(second.range_bytes * 100, index_size) << "under 1% of the index";
  std::printf("second host: %llu bytes in %llu ranged reads\n",
              static_cast<unsigned long long>(second.range_bytes),
              static_cast<unsigned long long>(second.ranges));

  // Warm: everything from the caches.
  counting.Reset();
  one("10.0.0.42:9100");
  EXPECT_EQ(counting.For("").ranges, 0u);
  EXPECT_EQ(counting.For("").gets, 0u);
}

TEST_F(BucketStoreTest, IndexHeaderIsReusedAfterRestartAndRebuiltWhenCorrupt) {
  TwoBlocks();
  testing_util::CountingObjectStore counting(&mem_);
  const std::string header = local_.Join(a_.ToString() + "/index-header");
  // An index copy of the old layout is removed at the first sync.
  ASSERT_TRUE(io::CreateDirsDurable(*io::Env::Default(), local_.Join(a_.ToString())).ok());
  ASSERT_TRUE(io::Env::Default()->WriteFileAtomic(local_.Join(a_.ToString() + "/index"), "x").ok());
  {
    BucketStore bs(Options(&counting));
    ASSERT_TRUE(bs.Sync().ok());
    EXPECT_FALSE(io::Env::Default()->FileExists(local_.Join(a_.ToString() + "/index")));
    auto q = bs.Querier(0, 400000);
    EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 3u);
    // Per block: 2 reads build the header (small index: the tail holds the
    // postings offset table), 1 the postings, 1 the series.
    EXPECT_EQ(counting.For("/index").ranges, 2u * (2u + 1u + 1u));
    // Empty tombstones (size from meta.json) are not fetched.
    EXPECT_EQ(counting.For("/tombstones").gets, 0u);
  }
  ASSERT_TRUE(io::Env::Default()->FileExists(header));
  std::string good = *io::Env::Default()->ReadFile(header);
  counting.Reset();
  {
    index_cache_.~LruIndexCache();  // a restart also empties the cache
    new (&index_cache_) tsdb::LruIndexCache([this] {
      tsdb::LruIndexCacheOptions o;
      o.registry = &registry_;
      return o;
    }());
    BucketStore bs(Options(&counting));
    ASSERT_TRUE(bs.Sync().ok());
    auto q = bs.Querier(0, 400000);
    EXPECT_EQ(Select(*q, {Eq("__name__", "up")}).size(), 3u);
    // No header builds: only the postings lists and series entries.
    EXPECT_EQ(counting.For("/index").ranges, 2u + 2u);
  }
  // Corrupt block a's header: rebuilt, same answers.
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x20;
  ASSERT_TRUE(io::Env::Default()->WriteFileAtomic(header, bad).ok());
  counting.Reset();
  {
    BucketStore bs(Options(&counting));
    ASSERT_TRUE(bs.Sync().ok());
    auto q = bs.Querier(0, 400000);
    auto got = Select(*q, {Eq("__name__", "up")});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].samples, Range(0, 100000, 10000, 1));
    EXPECT_EQ(counting.For(a_.ToString() + "/index").ranges, 2u);  // rebuilt (cache warm)
    EXPECT_EQ(counting.For(b_.ToString() + "/index").ranges, 0u);
  }
  EXPECT_EQ(*io::Env::Default()->ReadFile(header), good);
}

TEST_F(BucketStoreTest, NonEmptyTombstonesAreReadAndApplied) {
  TwoBlocks();
  // Delete [20s, 50s] of {job="db"} in block a, as a tombstones object.
  std::string prefix = blocks::BlockPrefix(blocks::TenantPrefix("metrics", "t1"), a_);
  auto ix = tsdb::IndexReader::FromBytes(*mem_.Get(prefix + "index"));
  ASSERT_TRUE(ix.ok());
  auto refs = (*ix)->Postings("job", "db");
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  tsdb::Tombstones t;
  t[(*refs)[0]].push_back({20000, 50000});
  std::string encoded = tsdb::EncodeTombstones(t);
  ASSERT_TRUE(mem_.Put(prefix + "tombstones", encoded).ok());
  auto meta = blocks::BlockMeta::Parse(*mem_.Get(prefix + "meta.json"));
  ASSERT_TRUE(meta.ok());
  for (auto& f : meta->files) {
    if (f.rel_path == "tombstones") f.size_bytes = encoded.size();
  }
  ASSERT_TRUE(mem_.Put(prefix + "meta.json", meta->ToJson()).ok());

  testing_util::CountingObjectStore counting(&mem_);
  BucketStore bs(Options(&counting));
  ASSERT_TRUE(bs.Sync().ok());
  auto q = bs.Querier(0, 400000);
  auto got = Select(*q, {Eq("job", "db")});
  ASSERT_EQ(got.size(), 1u);
  std::vector<Sample> want;
  for (const Sample& x : Range(0, 100000, 10000, 2)) {
    if (x.t < 20000 || x.t > 50000) want.push_back(x);
  }
  EXPECT_EQ(got[0].samples, want);
  EXPECT_EQ(counting.For(a_.ToString() + "/tombstones").gets, 1u);
}

TEST(LruIndexCacheTest, EvictsAndOverflowsByBytes) {
  telemetry::Registry reg;
  tsdb::LruIndexCacheOptions o;
  o.registry = &reg;
  o.max_size_bytes = 2000;
  o.max_item_size_bytes = 1000;
  tsdb::LruIndexCache c(o);
  auto list = [](size_t n) {
    return std::make_shared<const std::vector<tsdb::SeriesRef>>(n, tsdb::SeriesRef{7});
  };
  c.StorePostings("b", "job", "a", list(50));   // ~400 + key + overhead
  c.StorePostings("b", "job", "b", list(50));
  c.StorePostings("b", "job", "c", list(50));
  c.StorePostings("b", "job", "big", list(500));  // 4000 bytes > max item
  auto st = c.stats(tsdb::LruIndexCache::kPostings);
  EXPECT_EQ(st.added, 3u);
  EXPECT_EQ(st.overflowed, 1u);
  EXPECT_EQ(st.items, 3u);
  EXPECT_LE(c.size_bytes(), 2000u);
  // Touch "a" so that "b" is the least recently used.
  EXPECT_NE(c.FetchPostings("b", "job", "a"), nullptr);
  c.StorePostings("b", "job", "d", list(50));
  st = c.stats(tsdb::LruIndexCache::kPostings);
  EXPECT_EQ(st.evicted, 1u);
  EXPECT_EQ(c.FetchPostings("b", "job", "b"), nullptr);
  EXPECT_NE(c.FetchPostings("b", "job", "a"), nullptr);
  EXPECT_EQ(c.FetchPostings("other-block", "job", "a"), nullptr);

  auto series = std::make_shared<tsdb::CachedSeries>();
  series->labels = Labels::FromStrings({"__name__", "x"});
  series->chunks.push_back({1, 2, 3});
  c.StoreSeries("b", 42, series);
  auto hit = c.FetchSeries("b", 42);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->labels, series->labels);
  std::string text = reg.Expose();
  EXPECT_NE(text.find("thanos_store_index_cache_items_overflowed_total{item_type=\"Postings\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("thanos_store_index_cache_items{item_type=\"Series\"} 1"), std::string::npos);
}

TEST(StoreGatewayTest, FindsTenantsAndSyncsNewOnesAtQueryTime) {
  testing::TempDir tmp, data;
  io::MemoryObjectStore mem;
  telemetry::Registry reg;
  MakeBlock(tmp.path(), mem, "team-a",
            {{Labels::FromStrings({"__name__", "m"}), Range(0, 1000, 1000, 1), {}}}, {});
  StoreGatewayOptions o;
  o.store = &mem;
  o.data_dir = data.path();
  o.run_sync_loop = false;
  o.registry = &reg;
  auto g = StoreGateway::Start(o);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_NE((*g)->Tenant("team-a"), nullptr);
  EXPECT_EQ((*g)->Tenant("team-b"), nullptr);
  MakeBlock(tmp.path(), mem, "team-b",
            {{Labels::FromStrings({"__name__", "m"}), Range(0, 1000, 1000, 2), {}}}, {});
  auto q = (*g)->Querier("team-b", 0, 10000);
  ASSERT_TRUE(q.ok());
  auto got = Select(**q, {Eq("__name__", "m")});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].samples, Range(0, 1000, 1000, 2));
  EXPECT_FALSE((*g)->Querier("../x", 0, 1).ok());
  EXPECT_TRUE(io::Env::Default()->FileExists(data.path() + "/store-gateway/team-b"));
}

}  // namespace
}  // namespace sightline::storegateway
