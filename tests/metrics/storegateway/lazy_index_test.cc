// The lazy IndexReader (index-header + ranged reads of the index object)
// against the local reader on the same index, its coalesced prefetching,
// and its handling of corrupt or mismatched headers.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "counting_store.h"
#include "io/mem_env.h"
#include "io/memory_object_store.h"
#include "io/object_file.h"
#include "metrics/tsdb/index/index_cache.h"
#include "metrics/tsdb/index/index_reader.h"
#include "metrics/tsdb/index/index_writer.h"
#include "telemetry/metrics.h"

namespace sightline::tsdb {
namespace {

using storegateway::testing_util::CountingObjectStore;

// n series over a few label names; "instance" has n values (so that the
// sampled postings offset table has many entries between samples).
std::string MakeIndex(int n) {
  io::MemEnv env;
  std::vector<std::pair<Labels, std::vector<ChunkMeta>>> series;
  for (int i = 0; i < n; ++i) {
    char inst[32];
    std::snprintf(inst, sizeof inst, "host-%05d:9100", i);
    series.emplace_back(
        Labels::FromStrings({"__name__", i % 3 == 0 ? "up" : "http_requests_total", "instance",
                             inst, "job", "job-" + std::to_string(i % 40), "zone",
                             i % 2 ? "a" : "b"}),
        std::vector<ChunkMeta>{});
  }
  std::sort(series.begin(), series.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::set<std::string> symbols;
  for (const auto& [l, c] : series) {
    for (const Label& x : l) {
      symbols.insert(x.name);
      symbols.insert(x.value);
    }
  }
  auto w = IndexWriter::Create(&env, "/index");
  EXPECT_TRUE(w.ok());
  for (const auto& s : symbols) EXPECT_TRUE((*w)->AddSymbol(s).ok());
  ChunkRef ref = 8;
  int i = 0;
  for (auto& [l, c] : series) {
    int64_t t = 1000 * i;
    // Some series with many chunks: entries longer than a small guess.
    for (int k = 0; k < (i % 50 == 0 ? 60 : 1 + i % 3); ++k) {
      c.push_back(ChunkMeta{ref, t, t + 999});
      t += 1000;
      ref += 100 + k;
    }
    EXPECT_TRUE((*w)->AddSeries(l, c).ok());
    ++i;
  }
  EXPECT_TRUE((*w)->Close().ok());
  return *env.ReadFile("/index");
}

struct Lazy {
  io::MemoryObjectStore mem;
  CountingObjectStore store{&mem};
  std::unique_ptr<IndexReader> reader;
};

std::unique_ptr<Lazy> OpenLazy(const std::string& index, LazyIndexOptions o = {}) {
  auto l = std::make_unique<Lazy>();
  EXPECT_TRUE(l->mem.Put("b/index", index).ok());
  auto f = io::OpenObjectFile(&l->store, "b/index", nullptr, index.size());
  EXPECT_TRUE(f.ok());
  auto header = IndexReader::BuildHeader(**f);
  EXPECT_TRUE(header.ok()) << header.status().ToString();
  auto r = IndexReader::FromHeaderBytes(*header, std::move(*f), o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  l->reader = std::move(*r);
  return l;
}

void ExpectSameAnswers(const IndexReader& local, const IndexReader& lazy) {
  EXPECT_TRUE(lazy.lazy());
  EXPECT_EQ(lazy.num_symbols(), local.num_symbols());
  EXPECT_EQ(lazy.Symbols(), local.Symbols());
  for (uint32_t i = 0; i < local.num_symbols(); i += 7)
    EXPECT_EQ(*lazy.Symbol(i), *local.Symbol(i));
  EXPECT_FALSE(lazy.Symbol(local.num_symbols()).ok());
  EXPECT_EQ(lazy.LabelNames(), local.LabelNames());
  EXPECT_TRUE(lazy.LabelValues("nope").empty());
  for (std::string_view name : local.LabelNames()) {
    auto values = local.LabelValues(name);
    ASSERT_EQ(lazy.LabelValues(name), values) << name;
    for (size_t i = 0; i < values.size(); i += (values.size() > 200 ? 13 : 1)) {
      auto want = local.Postings(name, values[i]);
      auto got = lazy.Postings(name, values[i]);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, *want) << name << "=" << values[i];
    }
    // Absent values between, before and after samples.
    EXPECT_TRUE(lazy.Postings(name, "")->empty());
    EXPECT_TRUE(lazy.Postings(name, std::string(values.back()) + "~")->empty());
    EXPECT_TRUE(lazy.Postings(name, std::string(values.front()) + "\x01")->empty());
  }
  auto all = local.AllPostings();
  ASSERT_EQ(*lazy.AllPostings(), *all);
  for (size_t i = 0; i < all->size(); i += 3) {
    Labels l1, l2;
    std::vector<ChunkMeta> c1, c2;
    ASSERT_TRUE(local.Series((*all)[i], &l1, &c1).ok());
    Status s = lazy.Series((*all)[i], &l2, &c2);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(l2, l1);
    ASSERT_EQ(c2.size(), c1.size());
    for (size_t k = 0; k < c1.size(); ++k) EXPECT_EQ(c2[k].ref, c1[k].ref);
  }
  Labels l;
  std::vector<ChunkMeta> c;
  EXPECT_EQ(lazy.Series(1, &l, &c).code(), StatusCode::kDataLoss);
  EXPECT_EQ(lazy.Series(lazy.size(), &l, &c).code(), StatusCode::kDataLoss);
}

TEST(LazyIndexTest, AnswersAsTheLocalReader) {
  std::string index = MakeIndex(1500);
  auto local = IndexReader::FromBytes(index);
  ASSERT_TRUE(local.ok());
  {
    auto l = OpenLazy(index);
    ExpectSameAnswers(**local, *l->reader);
  }
  {
    // A tiny series guess: entries are read again with their real length.
    LazyIndexOptions o;
    o.series_size_guess = 16;
    o.sample_stride = 5;
    auto l = OpenLazy(index, o);
    ExpectSameAnswers(**local, *l->reader);
  }
}

TEST(LazyIndexTest, HeaderHoldsTablesNotSeriesAndIsBuiltWithFewRangedReads) {
  std::string index = MakeIndex(3000);
  auto l = OpenLazy(index);
  auto c = l->store.For("index");
  EXPECT_EQ(c.gets, 0u);
  // The last 16 KiB (TOC), [0, series), the postings offset table (here
  // larger than the tail).
  EXPECT_EQ(c.ranges, 3u);
  const IndexToc& toc = l->reader->toc();
  EXPECT_GT(index.size() - toc.postings_table, 16u * 1024);
  EXPECT_LT(c.range_bytes, toc.series + (index.size() - toc.postings_table) + 16 * 1024);
  // A small index: the tail holds the postings offset table too.
  auto small = OpenLazy(MakeIndex(100));
  EXPECT_EQ(small->store.For("index").ranges, 2u);
  // A postings lookup: one ranged read of about the list's size.
  l->store.Reset();
  auto p = l->reader->Postings("instance", "host-01234:9100");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 1u);
  c = l->store.For("index");
  EXPECT_EQ(c.ranges, 1u);
  EXPECT_LE(c.range_bytes, 16u);
  Labels lb;
  std::vector<ChunkMeta> ch;
  ASSERT_TRUE(l->reader->Series((*p)[0], &lb, &ch).ok());
  EXPECT_EQ(lb.Get("instance"), "host-01234:9100");
  c = l->store.For("index");
  EXPECT_EQ(c.ranges, 2u);
  EXPECT_LE(c.range_bytes, 16u + 1024u);
}

TEST(LazyIndexTest, PrefetchCoalescesAndFillsTheCache) {
  std::string index = MakeIndex(3000);
  auto local = IndexReader::FromBytes(index);
  ASSERT_TRUE(local.ok());
  telemetry::Registry reg;
  LruIndexCacheOptions co;
  co.registry = &reg;
  LruIndexCache cache(co);
  auto l = OpenLazy(index);
  l->reader->SetCache(&cache, "blk");
  l->store.Reset();

  // 40 postings lists (every job) in one coalesced read.
  std::vector<std::pair<std::string, std::string>> keys;
  for (std::string_view v : l->reader->LabelValues("job")) keys.emplace_back("job", v);
  keys.emplace_back("job", "absent");
  ASSERT_TRUE(l->reader->PrefetchPostings(keys).ok());
  EXPECT_EQ(l->store.For("index").ranges, 1u);
  EXPECT_EQ(cache.stats(LruIndexCache::kPostings).requests, 41u);
  EXPECT_EQ(cache.stats(LruIndexCache::kPostings).items, 41u);  // the absent pair too
  // Served from the cache, not counted again, no reads.
  for (const auto& [n, v] : keys) {
    EXPECT_EQ(*l->reader->Postings(n, v), *(*local)->Postings(n, v));
  }
  EXPECT_EQ(l->store.For("index").ranges, 1u);
  EXPECT_EQ(cache.stats(LruIndexCache::kPostings).requests, 41u);

  // 75 series spread over the series section: one read with the default
  // 512 KiB gap; one per series with no gap allowed.
  auto refs = *(*local)->Postings("job", "job-7");
  ASSERT_EQ(refs.size(), 75u);
  l->store.Reset();
  ASSERT_TRUE(l->reader->PrefetchSeries(refs).ok());
  EXPECT_LE(l->store.For("index").ranges, 2u);  // + re-reads of long entries
  l->store.Reset();
  for (SeriesRef r : refs) {
    Labels a, b;
    std::vector<ChunkMeta> ca, cb;
    ASSERT_TRUE(l->reader->Series(r, &a, &ca).ok());
    ASSERT_TRUE((*local)->Series(r, &b, &cb).ok());
    EXPECT_EQ(a, b);
    EXPECT_EQ(ca.size(), cb.size());
  }
  EXPECT_EQ(l->store.For("index").ranges, 0u);
  EXPECT_EQ(cache.stats(LruIndexCache::kSeries).requests, 75u);

  LazyIndexOptions tight;
  tight.max_gap_bytes = 0;
  auto l2 = OpenLazy(index, tight);
  l2->reader->SetCache(&cache, "blk2");
  l2->store.Reset();
  ASSERT_TRUE(l2->reader->PrefetchSeries(refs).ok());
  // (entries closer than the size guess still share a read)
  EXPECT_GE(l2->store.For("index").ranges, 50u);
}

TEST(LazyIndexTest, CorruptOrForeignHeadersAreDataLossNeverCrashes) {
  std::string index = MakeIndex(300);
  io::MemoryObjectStore mem;
  ASSERT_TRUE(mem.Put("b/index", index).ok());
  auto open = [&](uint64_t size) { return *io::OpenObjectFile(&mem, "b/index", nullptr, size); };
  auto header = IndexReader::BuildHeader(*open(index.size()));
  ASSERT_TRUE(header.ok());
  // A header of another index (size differs).
  ASSERT_TRUE(mem.Put("b/other", MakeIndex(301)).ok());
  auto other = io::OpenObjectFile(&mem, "b/other", nullptr);
  auto r = IndexReader::FromHeaderBytes(*header, std::move(*other));
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);

  // Every flipped byte: open fails with DataLoss, or reads do not crash.
  int opened = 0;
  for (size_t i = 0; i < header->size(); i += (i < 200 ? 1 : 7)) {
    std::string bad = *header;
    bad[i] ^= 0x10;
    auto b = IndexReader::FromHeaderBytes(bad, open(index.size()));
    if (!b.ok()) {
      EXPECT_TRUE(b.status().code() == StatusCode::kDataLoss ||
                  b.status().code() == StatusCode::kUnimplemented)
          << b.status().ToString();
      continue;
    }
    ++opened;
    for (std::string_view n : (*b)->LabelNames()) (void)(*b)->LabelValues(n);
    (void)(*b)->Postings("job", "job-3");
  }
  EXPECT_LT(opened, 5);  // everything but padding is covered by a CRC
  for (size_t n = 0; n < header->size(); n += 11) {
    EXPECT_FALSE(IndexReader::FromHeaderBytes(header->substr(0, n), open(index.size())).ok());
  }
  // A corrupt index behind a good header: reads fail with DataLoss.
  std::string bad_index = index;
  auto local = IndexReader::FromBytes(index);
  uint64_t p = (*local)->toc().postings + 12;
  bad_index[p] ^= 0x01;
  ASSERT_TRUE(mem.Put("b/bad", bad_index).ok());
  auto lazy = IndexReader::FromHeaderBytes(*header, *io::OpenObjectFile(&mem, "b/bad", nullptr));
  ASSERT_TRUE(lazy.ok());
  EXPECT_EQ((*lazy)->AllPostings().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sightline::tsdb
