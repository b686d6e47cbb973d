#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "base/coding.h"
#include "base/crc32c.h"
#include "io/mem_env.h"
#include "metrics/tsdb/index/index_reader.h"
#include "metrics/tsdb/index/index_writer.h"

namespace sightline::tsdb {
namespace {

struct TestSeries {
  Labels labels;
  std::vector<ChunkMeta> chunks;
};

std::vector<TestSeries> MakeSeries(int n) {
  std::vector<TestSeries> out;
  for (int i = 0; i < n; ++i) {
    TestSeries s;
    s.labels = Labels::FromStrings({"__name__", i % 3 == 0 ? "up" : "http_requests_total",
                                    "instance", "host-" + std::to_string(i % 7) + ":9100", "job",
                                    i % 2 ? "api" : "db", "series", std::to_string(i)});
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const TestSeries& a, const TestSeries& b) { return a.labels < b.labels; });
  // Chunk refs never decrease across the file, as the writer requires.
  ChunkRef ref = 8;
  for (int i = 0; i < n; ++i) {
    int64_t t = -50'000 + i * 1000;
    for (int c = 0; c < i % 4; ++c) {
      out[i].chunks.push_back(ChunkMeta{ref, t, t + 1799});
      t += 1800 + i;
      ref += 37 + c;
    }
  }
  return out;
}

std::string WriteIndex(io::Env* env, const std::string& path, const std::vector<TestSeries>& series,
                       std::vector<SeriesRef>* ids = nullptr) {
  std::set<std::string> symbols;
  for (const auto& s : series) {
    for (const Label& l : s.labels) {
      symbols.insert(l.name);
      symbols.insert(l.value);
    }
  }
  auto w = IndexWriter::Create(env, path);
  EXPECT_TRUE(w.ok());
  for (const std::string& s : symbols) EXPECT_TRUE((*w)->AddSymbol(s).ok());
  for (const auto& s : series) {
    auto id = (*w)->AddSeries(s.labels, s.chunks);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (ids != nullptr && id.ok()) ids->push_back(*id);
  }
  EXPECT_TRUE((*w)->Close().ok());
  return *env->ReadFile(path);
}

TEST(IndexTest, WriteReadRoundTrip) {
  io::MemEnv env;
  auto series = MakeSeries(100);
  std::vector<SeriesRef> ids;
  std::string bytes = WriteIndex(&env, "/index", series, &ids);

  // Header and TOC layout.
  EXPECT_EQ(bytes.substr(0, 5), std::string("\xBA\xAA\xD7\x00\x02", 5));
  auto r = IndexReader::Open(&env, "/index");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->version(), 2);
  EXPECT_EQ((*r)->toc().symbols, 5u);

  // Symbols: sorted, unique, the ones we added.
  std::set<std::string> want_symbols;
  for (const auto& s : series) {
    for (const Label& l : s.labels) {
      want_symbols.insert(l.name);
      want_symbols.insert(l.value);
    }
  }
  std::vector<std::string_view> syms = (*r)->Symbols();
  ASSERT_EQ(syms.size(), want_symbols.size());
  EXPECT_TRUE(std::equal(syms.begin(), syms.end(), want_symbols.begin()));

  // Label names and values.
  std::vector<std::string_view> names = (*r)->LabelNames();
  EXPECT_EQ(names, (std::vector<std::string_view>{"__name__", "instance", "job", "series"}));
  EXPECT_EQ((*r)->LabelValues("__name__"),
            (std::vector<std::string_view>{"http_requests_total", "up"}));
  EXPECT_EQ((*r)->LabelValues("job"), (std::vector<std::string_view>{"api", "db"}));
  EXPECT_EQ((*r)->LabelValues("series").size(), 100u);
  EXPECT_TRUE((*r)->LabelValues("nope").empty());

  // Series IDs are offset/16, increasing in label order.
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
  auto all = (*r)->AllPostings();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, ids);

  // Every series decodes to what we wrote.
  for (size_t i = 0; i < series.size(); ++i) {
    Labels ls;
    std::vector<ChunkMeta> chunks;
    ASSERT_TRUE((*r)->Series(ids[i], &ls, &chunks).ok());
    EXPECT_EQ(ls, series[i].labels);
    EXPECT_EQ(chunks, series[i].chunks);
  }

  // Postings per label pair.
  std::map<std::pair<std::string, std::string>, std::vector<SeriesRef>> want;
  for (size_t i = 0; i < series.size(); ++i) {
    for (const Label& l : series[i].labels) want[{l.name, l.value}].push_back(ids[i]);
  }
  for (const auto& [kv, refs] : want) {
    auto p = (*r)->Postings(kv.first, kv.second);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, refs) << kv.first << "=" << kv.second;
  }
  auto none = (*r)->Postings("job", "nope");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(IndexTest, EmptyIndexIsValid) {
  io::MemEnv env;
  std::string bytes = WriteIndex(&env, "/index", {});
  auto r = IndexReader::FromBytes(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->num_symbols(), 0u);
  EXPECT_TRUE((*r)->LabelNames().empty());
  auto all = (*r)->AllPostings();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(IndexTest, WriterRejectsContractViolations) {
  io::MemEnv env;
  {
    auto w = IndexWriter::Create(&env, "/i1");
    ASSERT_TRUE((*w)->AddSymbol("b").ok());
    EXPECT_EQ((*w)->AddSymbol("a").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ((*w)->AddSymbol("b").code(), StatusCode::kInvalidArgument);
  }
  {
    auto w = IndexWriter::Create(&env, "/i2");
    for (const char* s : {"a", "b", "c"}) ASSERT_TRUE((*w)->AddSymbol(s).ok());
    ASSERT_TRUE((*w)->AddSeries(Labels::FromStrings({"a", "b"}), {}).ok());
    // Not after the previous series.
    EXPECT_EQ((*w)->AddSeries(Labels::FromStrings({"a", "b"}), {}).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ((*w)->AddSeries(Labels::FromStrings({"a", "a"}), {}).status().code(),
              StatusCode::kInvalidArgument);
    // Symbol missing.
    EXPECT_EQ((*w)->AddSeries(Labels::FromStrings({"a", "z"}), {}).status().code(),
              StatusCode::kInvalidArgument);
    // Overlapping / inverted chunks.
    std::vector<ChunkMeta> overlap = {{8, 0, 100}, {20, 100, 200}};
    EXPECT_EQ((*w)->AddSeries(Labels::FromStrings({"a", "c"}), overlap).status().code(),
              StatusCode::kInvalidArgument);
    std::vector<ChunkMeta> inverted = {{8, 100, 99}};
    EXPECT_EQ((*w)->AddSeries(Labels::FromStrings({"a", "c"}), inverted).status().code(),
              StatusCode::kInvalidArgument);
    // Still usable after rejected calls.
    ASSERT_TRUE((*w)->AddSeries(Labels::FromStrings({"a", "c"}), {}).ok());
    // AddSymbol after series.
    EXPECT_EQ((*w)->AddSymbol("d").code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE((*w)->Close().ok());
    auto r = IndexReader::Open(&env, "/i2");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->AllPostings()->size(), 2u);
    EXPECT_EQ((*r)->Postings("a", "b")->size(), 1u);
  }
}

// Exercises every accessor; returns whether all succeeded.
bool ReadEverything(const IndexReader& r) {
  bool ok = true;
  for (std::string_view n : r.LabelNames()) {
    for (std::string_view v : r.LabelValues(n)) ok &= r.Postings(n, v).ok();
  }
  auto all = r.AllPostings();
  if (!all.ok()) return false;
  Labels ls;
  std::vector<ChunkMeta> chunks;
  for (SeriesRef ref : *all) ok &= r.Series(ref, &ls, &chunks).ok();
  // Arbitrary refs must not crash either.
  for (SeriesRef ref = 0; ref < r.size() / 16 + 2; ++ref) (void)r.Series(ref, &ls, &chunks);
  (void)r.Series(~SeriesRef{0}, &ls, &chunks);
  return ok;
}

TEST(IndexTest, CorruptionIsDetectedNeverCrashes) {
  io::MemEnv env;
  std::string good = WriteIndex(&env, "/index", MakeSeries(12));
  {
    auto r = IndexReader::FromBytes(good);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(ReadEverything(**r));
  }
  // Flip each byte: either Open fails or some read fails, except where the
  // byte is padding (zeros that no CRC covers) or an unused label index.
  int undetected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x04;
    auto r = IndexReader::FromBytes(bad);
    if (!r.ok()) {
      EXPECT_TRUE(r.status().code() == StatusCode::kDataLoss ||
                  r.status().code() == StatusCode::kUnimplemented)
          << r.status().ToString();
      continue;
    }
    if (ReadEverything(**r)) ++undetected;
  }
  // Padding between series and sections, plus the label indices and label
  // offset table that v2 readers ignore.
  auto r = IndexReader::FromBytes(good);
  uint64_t ignored = (*r)->toc().postings - (*r)->toc().label_indices +
                     ((*r)->toc().postings_table - (*r)->toc().label_indices_table);
  EXPECT_LE(undetected, static_cast<int>(ignored) + 12 * 16) << "of " << good.size();

  // Truncation at every length.
  for (size_t n = 0; n < good.size(); ++n) {
    auto t = IndexReader::FromBytes(good.substr(0, n));
    EXPECT_FALSE(t.ok()) << n;
  }

  // Random garbage with a valid-looking header.
  std::mt19937_64 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::string junk = good;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) {
      junk[rng() % junk.size()] = static_cast<char>(rng());
    }
    auto jr = IndexReader::FromBytes(junk);
    if (jr.ok()) ReadEverything(**jr);
  }
}

// Rebuilds the TOC's CRC after editing it, so that corruption behind a
// valid TOC reaches the section checks.
std::string FixToc(std::string bytes) {
  size_t toc = bytes.size() - kIndexTocSize;
  std::string crc;
  coding::PutFixed32BE(crc, crc32c::Value(bytes.data() + toc, 48));
  bytes.replace(toc + 48, 4, crc);
  return bytes;
}

TEST(IndexTest, TocPointingAnywhereIsAnError) {
  io::MemEnv env;
  std::string good = WriteIndex(&env, "/index", MakeSeries(5));
  size_t toc = good.size() - kIndexTocSize;
  for (int field = 0; field < 6; ++field) {
    for (uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{good.size()},
                           ~uint64_t{0}, uint64_t{toc}}) {
      std::string bad = good;
      std::string v;
      coding::PutFixed64BE(v, value);
      bad.replace(toc + 8 * field, 8, v);
      auto r = IndexReader::FromBytes(FixToc(bad));
      if (r.ok()) ReadEverything(**r);
    }
  }
}

}  // namespace
}  // namespace sightline::tsdb
