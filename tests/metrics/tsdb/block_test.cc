#include "metrics/tsdb/block.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "harness/harness.h"
#include "io/mem_env.h"

namespace sightline::tsdb {
namespace {

std::vector<SeriesInput> MakeInput(int num_series, int samples, int64_t t0) {
  std::vector<SeriesInput> out;
  std::mt19937_64 rng(99);
  for (int i = 0; i < num_series; ++i) {
    SeriesInput s;
    s.labels = Labels::FromStrings({"__name__", "metric_" + std::to_string(i % 5), "instance",
                                    "10.0.0." + std::to_string(i), "job", "node"});
    int64_t t = t0;
    double v = static_cast<double>(i);
    for (int k = 0; k < samples; ++k) {
      t += 15'000 + static_cast<int64_t>(rng() % 7) - 3;
      v += static_cast<double>(rng() % 1000) / 10;
      s.samples.push_back(Sample{t, v});
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const SeriesInput& a, const SeriesInput& b) { return a.labels < b.labels; });
  return out;
}

struct ReadBack {
  std::vector<Labels> labels;
  std::vector<std::vector<Sample>> samples;
};

ReadBack ReadAll(const BlockReader& r, int64_t mint = std::numeric_limits<int64_t>::min(),
                 int64_t maxt = std::numeric_limits<int64_t>::max()) {
  ReadBack out;
  Status s = r.ForEachSeries(
      [&](const Labels& ls, std::span<const Sample> samples) {
        out.labels.push_back(ls);
        out.samples.emplace_back(samples.begin(), samples.end());
        return Status::Ok();
      },
      mint, maxt);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(BlockTest, WriteReadRoundTripOnDisk) {
  testing::TempDir dir;
  auto input = MakeInput(20, 500, 1'700'000'000'000);
  WriteBlockOptions opts;
  opts.meta.labels["cluster"] = "eu-1";
  opts.meta.tenant = "t1";
  opts.meta.signal = "metrics";
  auto ulid = WriteBlock(io::Env::Default(), dir.path(), input, opts);
  ASSERT_TRUE(ulid.ok()) << ulid.status().ToString();

  io::Env* env = io::Env::Default();
  std::string bdir = dir.Join(ulid->ToString());
  EXPECT_FALSE(env->FileExists(bdir + ".tmp"));
  for (const char* f : {"meta.json", "index", "tombstones", "chunks/000001"}) {
    EXPECT_TRUE(env->FileExists(io::JoinPath(bdir, f))) << f;
  }
  // The empty tombstones file, byte for byte: magic, version, CRC of nothing.
  EXPECT_EQ(*env->ReadFile(bdir + "/tombstones"), std::string("\x01\x30\xBA\x30\x01\0\0\0\0", 9));

  auto r = BlockReader::Open(env, bdir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const blocks::BlockMeta& m = (*r)->meta();
  EXPECT_EQ(m.ulid, *ulid);
  EXPECT_EQ(m.version, 1);
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  for (const auto& s : input) {
    lo = std::min(lo, s.samples.front().t);
    hi = std::max(hi, s.samples.back().t);
  }
  EXPECT_EQ(m.min_time, lo);
  EXPECT_EQ(m.max_time, hi + 1);
  EXPECT_EQ(m.stats.at("numSeries"), 20u);
  EXPECT_EQ(m.stats.at("numSamples"), 20u * 500);
  EXPECT_EQ(m.stats.at("numChunks"), 20u * 5);  // 500 samples: 120+120+120+120+20
  EXPECT_EQ(m.labels.at("cluster"), "eu-1");
  EXPECT_EQ(m.tenant, "t1");

  ReadBack back = ReadAll(**r);
  ASSERT_EQ(back.labels.size(), input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    EXPECT_EQ(back.labels[i], input[i].labels);
    EXPECT_EQ(back.samples[i], input[i].samples);
  }

  // Chunks are cut at 120 samples.
  auto all = (*r)->index().AllPostings();
  ASSERT_TRUE(all.ok());
  Labels ls;
  std::vector<ChunkMeta> chunks;
  ASSERT_TRUE((*r)->index().Series((*all)[0], &ls, &chunks).ok());
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].min_time, input[0].samples[0].t);
  EXPECT_EQ(chunks[0].max_time, input[0].samples[119].t);
  EXPECT_EQ(chunks[4].min_time, input[0].samples[480].t);

  // Time-range reads.
  int64_t mint = input[0].samples[100].t, maxt = input[0].samples[300].t;
  ReadBack part = ReadAll(**r, mint, maxt);
  ASSERT_FALSE(part.samples.empty());
  EXPECT_EQ(part.samples[0].front().t, mint);
  EXPECT_EQ(part.samples[0].back().t, maxt);
  EXPECT_EQ(part.samples[0].size(), 201u);
}

TEST(BlockTest, SpecialValuesAndPreEncodedChunks) {
  io::MemEnv env;
  std::vector<SeriesInput> input(3);
  input[0].labels = Labels::FromStrings({"__name__", "a"});
  input[0].samples = {{-5000, std::bit_cast<double>(chunkenc::kStaleNaNBits)},
                      {-4000, -std::numeric_limits<double>::infinity()},
                      {0, -0.0},
                      {1, std::numeric_limits<double>::infinity()}};
  input[1].labels = Labels::FromStrings({"__name__", "b"});  // no data: skipped
  input[2].labels = Labels::FromStrings({"__name__", "c", "x", "y"});
  chunkenc::XorChunk c1, c2;
  ASSERT_TRUE(c1.Append(10, 1).ok());
  ASSERT_TRUE(c1.Append(20, 2).ok());
  ASSERT_TRUE(c2.Append(30, 3).ok());
  input[2].chunks.push_back({10, 20, chunkenc::Encoding::kXor, std::string(c1.Bytes())});
  input[2].chunks.push_back({30, 30, chunkenc::Encoding::kXor, std::string(c2.Bytes())});

  WriteBlockOptions opts;
  opts.min_time = -7200;
  opts.max_time = 7200;
  opts.segment_size = 64;  // several segments
  auto ulid = WriteBlock(&env, "/data", input, opts);
  ASSERT_TRUE(ulid.ok()) << ulid.status().ToString();
  auto r = BlockReader::Open(&env, "/data/" + ulid->ToString());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->meta().min_time, -7200);
  EXPECT_EQ((*r)->meta().max_time, 7200);
  EXPECT_EQ((*r)->meta().stats.at("numSeries"), 2u);
  EXPECT_EQ((*r)->meta().stats.at("numSamples"), 7u);
  EXPECT_GT((*r)->chunks().num_segments(), 1u);
  ReadBack back = ReadAll(**r);
  ASSERT_EQ(back.labels.size(), 2u);
  ASSERT_EQ(back.samples[0].size(), 4u);
  EXPECT_EQ(std::bit_cast<uint64_t>(back.samples[0][0].v), chunkenc::kStaleNaNBits);
  EXPECT_TRUE(std::signbit(back.samples[0][2].v));
  EXPECT_EQ(back.samples[1], (std::vector<Sample>{{10, 1}, {20, 2}, {30, 3}}));
  EXPECT_TRUE((*r)->index().LabelValues("__name__") == (std::vector<std::string_view>{"a", "c"}));
}

TEST(BlockTest, RejectsBadInput) {
  io::MemEnv env;
  auto input = MakeInput(3, 10, 0);
  std::swap(input[0], input[1]);
  EXPECT_EQ(WriteBlock(&env, "/d", input).status().code(), StatusCode::kInvalidArgument);
  input = MakeInput(3, 10, 0);
  input[1].samples[5].t = input[1].samples[4].t;
  EXPECT_EQ(WriteBlock(&env, "/d", input).status().code(), StatusCode::kInvalidArgument);
  input = MakeInput(3, 10, 0);
  WriteBlockOptions opts;
  opts.min_time = 0;
  opts.max_time = input[0].samples.back().t;  // exclusive: last sample is outside
  EXPECT_EQ(WriteBlock(&env, "/d", input, opts).status().code(), StatusCode::kInvalidArgument);
  // Nothing was left behind.
  auto children = env.GetChildren("/d");
  if (children.ok()) {
    EXPECT_TRUE(children->empty());
  }
}

TEST(BlockTest, TombstonesRoundTripAndApply) {
  Tombstones t;
  t[16].push_back({100, 200});
  t[16].push_back({-5, -1});
  t[1ull << 40].push_back({std::numeric_limits<int64_t>::min(), 0});
  std::string enc = EncodeTombstones(t);
  auto dec = DecodeTombstones(enc);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  ASSERT_EQ(dec->size(), 2u);
  EXPECT_EQ((*dec)[16].size(), 2u);
  EXPECT_EQ((*dec)[16][1].min_time, -5);
  for (size_t i = 0; i < enc.size(); ++i) {
    std::string bad = enc;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeTombstones(bad).ok()) << i;
  }
  EXPECT_FALSE(DecodeTombstones(enc.substr(0, 8)).ok());

  // Applied when reading.
  io::MemEnv env;
  auto input = MakeInput(2, 10, 0);
  auto ulid = WriteBlock(&env, "/d", input);
  ASSERT_TRUE(ulid.ok());
  std::string bdir = "/d/" + ulid->ToString();
  auto r0 = BlockReader::Open(&env, bdir);
  ASSERT_TRUE(r0.ok());
  SeriesRef first = (*(*r0)->index().AllPostings())[0];
  Tombstones del;
  del[first].push_back({input[0].samples[2].t, input[0].samples[4].t});
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/tombstones", EncodeTombstones(del)).ok());
  auto r = BlockReader::Open(&env, bdir);
  ASSERT_TRUE(r.ok());
  ReadBack back = ReadAll(**r);
  EXPECT_EQ(back.samples[0].size(), 7u);
  EXPECT_EQ(back.samples[1].size(), 10u);
}

TEST(BlockTest, CorruptBlockFilesAreErrors) {
  io::MemEnv env;
  auto input = MakeInput(4, 300, 0);
  auto ulid = WriteBlock(&env, "/d", input);
  ASSERT_TRUE(ulid.ok());
  std::string bdir = "/d/" + ulid->ToString();
  std::string chunks = *env.ReadFile(bdir + "/chunks/000001");
  std::string index = *env.ReadFile(bdir + "/index");
  std::string meta = *env.ReadFile(bdir + "/meta.json");

  auto read_all = [&]() -> Status {
    auto r = BlockReader::Open(&env, bdir);
    if (!r.ok()) return r.status();
    return (*r)->ForEachSeries([](const Labels&, std::span<const Sample>) { return Status::Ok(); });
  };
  ASSERT_TRUE(read_all().ok());

  std::mt19937_64 rng(1);
  for (int round = 0; round < 200; ++round) {
    std::string bad = chunks;
    size_t pos = 8 + rng() % (bad.size() - 8);
    bad[pos] ^= static_cast<char>(1 + rng() % 255);
    ASSERT_TRUE(env.WriteFileAtomic(bdir + "/chunks/000001", bad).ok());
    Status s = read_all();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "byte " << pos << ": " << s.ToString();
  }
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/chunks/000001", chunks).ok());
  ASSERT_TRUE(
      env.WriteFileAtomic(bdir + "/chunks/000001", chunks.substr(0, chunks.size() / 2)).ok());
  EXPECT_EQ(read_all().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/chunks/000001", chunks).ok());

  for (int round = 0; round < 200; ++round) {
    std::string bad = index;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    ASSERT_TRUE(env.WriteFileAtomic(bdir + "/index", bad).ok());
    (void)read_all();  // must not crash; most flips are caught
  }
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/index", index.substr(0, index.size() - 1)).ok());
  EXPECT_FALSE(read_all().ok());
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/index", index).ok());

  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/meta.json", "{not json").ok());
  EXPECT_EQ(read_all().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(env.WriteFileAtomic(bdir + "/meta.json", meta).ok());
  ASSERT_TRUE(read_all().ok());
}

}  // namespace
}  // namespace sightline::tsdb
