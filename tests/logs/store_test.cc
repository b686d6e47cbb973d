// The log store on a temp dir: codec round trips, block write/read and the
// trace-id index, WAL replay after a crash-like reopen, out-of-order and
// stream limits, cut + ship to an object store and reading blocks back from
// it (also with the local copy gone), and shipping through an object store
// that fails for a while.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "base/compression.h"
#include "harness/harness.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "io/object_file.h"
#include "logs/store/chunk.h"
#include "logs/store/codec.h"
#include "logs/store/log_block.h"
#include "logs/store/log_store.h"

namespace sightline::logs::store {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Matcher Eq(const std::string& n, const std::string& v) {
  return *Matcher::Make(promql::MatchType::kEqual, n, v);
}

Matcher Re(const std::string& n, const std::string& v) {
  return *Matcher::Make(promql::MatchType::kRegexp, n, v);
}

PushStream Stream(Labels l, std::vector<std::pair<int64_t, std::string>> entries) {
  PushStream s;
  s.labels = std::move(l);
  for (auto& [t, line] : entries) s.entries.push_back({t, line, {}});
  return s;
}

std::vector<std::pair<int64_t, std::string>> ReadAll(LogQuerier& q, std::vector<Matcher> ms,
                                                     int64_t start, int64_t end,
                                                     Direction dir = Direction::kForward,
                                                     std::optional<std::string> trace = {}) {
  SelectLogsParams p;
  p.matchers = std::move(ms);
  p.start_ns = start;
  p.end_ns = end;
  p.direction = dir;
  p.trace_id = trace;
  auto its = q.SelectLogs(p);
  EXPECT_TRUE(its.ok()) << its.status().ToString();
  std::vector<std::pair<int64_t, std::string>> out;
  if (!its.ok()) return out;
  for (auto& it : *its) {
    while (it->Next()) out.push_back({it->entry().timestamp_ns, it->entry().line});
    EXPECT_TRUE(it->status().ok());
  }
  return out;
}

TEST(Codec, WalRecordRoundTrip) {
  std::vector<PushStream> in;
  in.push_back(Stream(Labels::FromStrings({"a", "b"}), {{5, "x"}, {3, "y"}}));
  in[0].entries[1].structured_metadata = Labels::FromStrings({"trace_id", "t"});
  std::string rec = EncodeWalRecord(in);
  std::vector<PushStream> out;
  ASSERT_TRUE(DecodeWalRecord(rec, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].labels, in[0].labels);
  EXPECT_EQ(out[0].entries[1].timestamp_ns, 3);
  EXPECT_EQ(out[0].entries[1].structured_metadata, in[0].entries[1].structured_metadata);
  for (size_t cut = 0; cut < rec.size(); ++cut) {
    EXPECT_FALSE(DecodeWalRecord(rec.substr(0, cut), &out).ok()) << cut;
  }
}

TEST(Codec, TraceIdExtraction) {
  std::vector<TraceId> ids;
  Entry e{1, R"({"msg":"x","trace_id":"0123456789ABCDEF0123456789abcdef"})", {}};
  ExtractTraceIds(e, &ids);
  ASSERT_FALSE(ids.empty());
  TraceId want;
  ASSERT_TRUE(ParseTraceId("0123456789abcdef0123456789abcdef", &want));
  EXPECT_EQ(ids[0], want);
  ids.clear();
  ExtractTraceIds({1, "level=info traceId=00000000000000000123456789abcdef msg=hi", {}}, &ids);
  ASSERT_FALSE(ids.empty());
  ids.clear();
  ExtractTraceIds({1, "trace_id=0123456789abcdef short", {}}, &ids);
  ASSERT_EQ(ids.size(), 1u);  // 16-digit ids are padded
  EXPECT_EQ(ids[0][0], 0);
  EXPECT_EQ(ids[0][8], 0x01);
  ids.clear();
  ExtractTraceIds({1, "no ids here", Labels::FromStrings({"trace_id", "5b8efff798038103d269b633813fc60c"})},
                  &ids);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(Block, WriteReadAndTraceIndex) {
  testing::TempDir dir;
  std::vector<PushStream> streams;
  PushStream a = Stream(Labels::FromStrings({"app", "a"}), {});
  // Enough data for several 256 KiB chunk blocks.
  for (int i = 0; i < 20000; ++i) {
    a.entries.push_back({1000 + i, "level=info msg=\"request served\" path=/api/v1/items/" +
                                       std::to_string(i % 97) + " status=200 duration=" +
                                       std::to_string(i % 13) + "ms",
                         {}});
  }
  a.entries[12345].structured_metadata =
      Labels::FromStrings({"trace_id", "5b8efff798038103d269b633813fc60c"});
  streams.push_back(std::move(a));
  streams.push_back(Stream(Labels::FromStrings({"app", "b"}), {{50, "b1"}, {40, "b0"}}));
  auto meta = WriteLogBlock(io::Env::Default(), dir.path(), "t", streams, {{"walSegment", 3}});
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->signal, "logs");
  EXPECT_EQ(meta->stats["numEntries"], 20002u);
  EXPECT_EQ(meta->stats["walSegment"], 3u);
  EXPECT_GT(meta->stats["numChunks"], 2u);
  std::string bdir = dir.path() + "/" + meta->ulid.ToString();
  EXPECT_TRUE(std::filesystem::exists(bdir + "/meta.json"));
  auto block = LogBlock::Open(LocalBlockSource(io::Env::Default(), bdir), *meta);
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  const auto& idx = (*block)->index();
  ASSERT_EQ(idx.streams.size(), 2u);
  std::vector<Entry> all;
  for (const auto& c : idx.streams[0].chunks) ASSERT_TRUE((*block)->ReadChunk(c, &all).ok());
  ASSERT_EQ(all.size(), 20000u);
  EXPECT_EQ(all[12345].structured_metadata.Get("trace_id"), "5b8efff798038103d269b633813fc60c");
  std::vector<Entry> b;
  ASSERT_TRUE((*block)->ReadChunk(idx.streams[1].chunks[0], &b).ok());
  EXPECT_EQ(b[0].line, "b0");  // sorted by time
  TraceId id;
  ASSERT_TRUE(ParseTraceId("5b8efff798038103d269b633813fc60c", &id));
  const auto* refs = (*block)->TraceRefs(id);
  ASSERT_NE(refs, nullptr);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].stream, 0u);
  ASSERT_TRUE(ParseTraceId("ffffffffffffffffffffffffffffffff", &id));
  EXPECT_EQ((*block)->TraceRefs(id), nullptr);
  // Compression on repetitive logs.
  EXPECT_GT(meta->stats["numBytes"] / meta->stats["compressedBytes"], 5u);
  // A corrupt index is refused.
  std::string idx_bytes = testing::ReadFile(bdir + "/index");
  idx_bytes[idx_bytes.size() / 2] ^= 0x5a;
  EXPECT_FALSE(DecodeIndex(idx_bytes).ok());
}

LogStoreOptions Opts(const std::string& dir, io::ObjectStore* store = nullptr) {
  LogStoreOptions o;
  o.data_dir = dir;
  o.store = store;
  o.background = false;
  o.local_retention = std::chrono::milliseconds(0);
  o.remote_list_ttl = std::chrono::milliseconds(0);
  return o;
}

TEST(Store, AppendQueryReplay) {
  testing::TempDir dir, crashed;
  int64_t t0 = Now();
  {
    auto s = LogStore::Open(Opts(dir.path()));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0 + 2, "two"}, {t0 + 1, "one"}}));
    in.push_back(Stream(Labels::FromStrings({"app", "b"}), {{t0 + 3, "bee"}}));
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t1", in, &r).ok());
    EXPECT_EQ(r.accepted_entries, 3);
    auto q = (*s)->Querier("t1");
    ASSERT_TRUE(q.ok());
    auto got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].second, "one");
    got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10, Direction::kBackward);
    EXPECT_EQ(got[0].second, "two");
    auto names = (**q).LabelValues("app", {}, t0, t0 + 10);
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
    // Another tenant sees nothing.
    auto q2 = (*s)->Querier("t2");
    EXPECT_TRUE(ReadAll(**q2, {Eq("app", "a")}, t0, t0 + 10).empty());
    // What is on disk now is what a kill -9 would leave (the WAL is synced
    // before Append returns): copy it and reopen the copy.
    std::filesystem::copy(dir.path(), crashed.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  auto s = LogStore::Open(Opts(crashed.path()));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto q = (*s)->Querier("t1");
  auto got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].second, "two");
}

TEST(Store, OutOfOrderWindowAndStreamLimit) {
  testing::TempDir dir;
  auto o = Opts(dir.path());
  o.max_streams_per_tenant = 1;
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t t0 = Now();
  int64_t hour = 3600ll * 1'000'000'000;
  std::vector<PushStream> in;
  in.push_back(Stream(Labels::FromStrings({"app", "a"}),
                      {{t0, "new"}, {t0 - hour / 2, "ok late"}, {t0 - 2 * hour, "too late"}}));
  in.push_back(Stream(Labels::FromStrings({"app", "b"}), {{t0, "second stream"}}));
  AppendResult r;
  ASSERT_TRUE((*s)->Append("t", in, &r).ok());
  EXPECT_EQ(r.accepted_entries, 2);
  ASSERT_EQ(r.rejections.size(), 2u);
  EXPECT_EQ(r.rejections[0].reason, "too_far_behind");
  EXPECT_NE(r.rejections[0].message.find("entry too far behind"), std::string::npos);
  EXPECT_EQ(r.rejections[1].reason, "stream_limit");
}

// A retried push stores nothing twice: entries identical (timestamp and
// line) to one in the head are dropped as Loki does, in-order and
// out-of-order streams alike; same timestamp with another line is kept.
TEST(Store, RetriedPushIsNotStoredTwice) {
  testing::TempDir dir;
  auto s = LogStore::Open(Opts(dir.path()));
  ASSERT_TRUE(s.ok());
  const int64_t t0 = Now();
  auto batch = [&] {
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0, "one"}, {t0 + 1, "two"}}));
    in.push_back(Stream(Labels::FromStrings({"app", "b"}),
                        {{t0 + 5, "late-first"}, {t0 + 2, "ooo"}, {t0 + 2, "ooo"}}));
    return in;
  };
  auto in1 = batch();
  AppendResult r1;
  ASSERT_TRUE((*s)->Append("t", in1, &r1).ok());
  EXPECT_EQ(r1.accepted_entries, 4);  // the in-request duplicate dropped
  EXPECT_TRUE(r1.rejections.empty());
  auto in2 = batch();
  AppendResult r2;
  ASSERT_TRUE((*s)->Append("t", in2, &r2).ok());
  EXPECT_EQ(r2.accepted_entries, 0);
  EXPECT_TRUE(r2.rejections.empty());
  std::vector<PushStream> in3;
  in3.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0 + 1, "two, again"}}));
  AppendResult r3;
  ASSERT_TRUE((*s)->Append("t", in3, &r3).ok());
  EXPECT_EQ(r3.accepted_entries, 1);
  auto q = (*s)->Querier("t");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10).size(), 3u);
  EXPECT_EQ(ReadAll(**q, {Eq("app", "b")}, t0, t0 + 10).size(), 2u);
}

TEST(Store, CutShipAndReadFromObjectStore) {
  testing::TempDir dir;
  io::MemoryObjectStore mem;
  int64_t t0 = Now();
  std::string trace = "5b8efff798038103d269b633813fc60c";
  {
    auto s = LogStore::Open(Opts(dir.path(), &mem));
    ASSERT_TRUE(s.ok());
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0 + 1, "first"}}));
    in[0].entries.push_back({t0 + 2, "with trace", Labels::FromStrings({"trace_id", trace})});
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t", in, &r).ok());
    ASSERT_TRUE((*s)->CutAll().ok());
    // More entries after the cut stay in the head (and WAL).
    std::vector<PushStream> more;
    more.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0 + 3, "third"}}));
    ASSERT_TRUE((*s)->Append("t", more, &r).ok());
    ASSERT_TRUE((*s)->ShipAll().ok());  // uploads and drops the local copy
    auto q = (*s)->Querier("t");
    auto got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10);
    ASSERT_EQ(got.size(), 3u);
    got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10, Direction::kForward, trace);
    // The head is not filtered by the hint; the block part is.
    EXPECT_EQ(got.size(), 3u);
    got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10, Direction::kForward,
                  std::string("ffffffffffffffffffffffffffffffff"));
    EXPECT_EQ(got.size(), 1u);  // only the head entry; the block was skipped
    ASSERT_TRUE((*s)->Close().ok());
  }
  auto list = mem.List({.prefix = "logs/t/"});
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->objects.empty());
  // Everything local gone: a fresh data dir reads the blocks from the store.
  testing::TempDir dir2;
  auto s = LogStore::Open(Opts(dir2.path(), &mem));
  ASSERT_TRUE(s.ok());
  auto q = (*s)->Querier("t");
  auto got = ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].second, "third");
  auto series = (*q)->Series({}, t0, t0 + 10);
  ASSERT_TRUE(series.ok());
  EXPECT_EQ(series->size(), 1u);
}

TEST(Store, ObjectStoreDownThenBackLosesNothing) {
  testing::TempDir dir;
  io::MemoryObjectStore mem;
  io::FaultyObjectStore faulty(&mem);
  int64_t t0 = Now();
  auto s = LogStore::Open(Opts(dir.path(), &faulty));
  ASSERT_TRUE(s.ok());
  io::FaultOptions fo;
  fo.error_probability = 1.0;
  fo.error_ops = io::kFaultUploads;
  faulty.SetOptions(fo);
  for (int i = 0; i < 3; ++i) {
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t0 + i, "e" + std::to_string(i)}}));
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t", in, &r).ok());
    ASSERT_TRUE((*s)->CutAll().ok());
    EXPECT_FALSE((*s)->ShipAll().ok());
  }
  auto q = (*s)->Querier("t");
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10).size(), 3u);
  faulty.Clear();
  ASSERT_TRUE((*s)->ShipAll().ok());
  auto metas = mem.List({.prefix = "logs/t/"});
  ASSERT_TRUE(metas.ok());
  int metas_found = 0;
  for (const auto& o : metas->objects) metas_found += o.key.ends_with("/meta.json");
  EXPECT_EQ(metas_found, 3);
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10).size(), 3u);
}


// ----------------------------------------------------- logs-v2 chunk blocks --

std::vector<Entry> SampleEntries() {
  std::vector<Entry> es;
  int64_t t = 1'700'000'000'000'000'000;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 3000; ++i) {
    // Irregular steps, equal timestamps, empty lines, metadata on some.
    t += (i % 7 == 0) ? 0 : static_cast<int64_t>(rng() % 5'000'000'000);
    Entry e;
    e.timestamp_ns = t;
    e.line = i % 11 == 0 ? "" : "line " + std::to_string(i) + " status=" + std::to_string(200 + i % 5);
    if (i % 3 == 0) {
      e.structured_metadata = Labels::FromStrings(
          {"trace_id", std::to_string(rng()), "level", i % 2 ? "info" : "warn"});
    }
    es.push_back(std::move(e));
  }
  return es;
}

void ExpectSame(const std::vector<Entry>& want, const ChunkView& v) {
  ASSERT_EQ(v.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(v.ts(i), want[i].timestamp_ns) << i;
    ASSERT_EQ(v.line(i), want[i].line) << i;
    Labels md;
    v.Metadata(i, &md);
    ASSERT_EQ(md, want[i].structured_metadata) << i;
  }
}

TEST(Chunk, ColumnarRoundTripAndLinesColumn) {
  auto es = SampleEntries();
  std::vector<const Entry*> ptrs;
  for (const auto& e : es) ptrs.push_back(&e);
  for (int level : {1, 9, 19}) {
    ChunkEncoder enc({.zstd_level = level, .long_distance = level == 19});
    std::string out;
    ASSERT_TRUE(enc.Encode(ptrs.data(), ptrs.size(), &out).ok());
    EXPECT_EQ(out[0], 0x02);
    ChunkView v;
    ASSERT_TRUE(v.Decode(out).ok());
    ExpectSame(es, v);
    // The lines column is every line back to back; EntryAt maps offsets back.
    std::string all;
    for (const auto& e : es) all += e.line;
    EXPECT_EQ(v.lines(), all);
    size_t pos = all.find("line 1234 ");
    EXPECT_EQ(v.line(v.EntryAt(pos)), es[1234].line);
    EXPECT_EQ(v.ts(v.LowerBound(es[500].timestamp_ns)), es[500].timestamp_ns);
    EXPECT_EQ(v.LowerBound(es.back().timestamp_ns + 1), es.size());
    // Reuse of the view for a different, smaller block.
    std::string small;
    ASSERT_TRUE(enc.Encode(ptrs.data(), 2, &small).ok());
    ASSERT_TRUE(v.Decode(small).ok());
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v.line(1), es[1].line);
  }
}

TEST(Chunk, CorruptChunksAreDataLoss) {
  auto es = SampleEntries();
  std::vector<const Entry*> ptrs;
  for (const auto& e : es) ptrs.push_back(&e);
  ChunkEncoder enc;
  std::string good;
  ASSERT_TRUE(enc.Encode(ptrs.data(), ptrs.size(), &good).ok());
  ChunkView v;
  for (size_t cut : {size_t{1}, size_t{5}, good.size() / 2, good.size() - 1}) {
    Status s = v.Decode(std::string_view(good).substr(0, cut));
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << cut << " " << s.ToString();
  }
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    std::string bad = good;
    bad[1 + rng() % (bad.size() - 1)] ^= static_cast<char>(1 + rng() % 255);
    Status s = v.Decode(bad);
    if (s.ok()) continue;  // a flip in a length that still parses is caught by checksums
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  }
  EXPECT_EQ(v.Decode("").code(), StatusCode::kDataLoss);
}

// A block in the previous format (rows, zstd level 3, index SLLOGIX1 with
// meta format logs-v1), written by hand as the old writer did: still read.
TEST(Chunk, ReadsLogsV1Blocks) {
  testing::TempDir dir;
  auto es = SampleEntries();
  std::vector<const Entry*> ptrs;
  for (const auto& e : es) ptrs.push_back(&e);
  std::string raw;
  EncodeEntries(raw, ptrs.data(), ptrs.size());
  auto comp = Compress(Codec::kZstd, raw, 3);
  ASSERT_TRUE(comp.ok());
  ChunkView v;
  ASSERT_TRUE(v.Decode(*comp).ok());
  ExpectSame(es, v);

  std::string bdir = dir.path() + "/01JDV1BLOCK0000000000000000";
  std::filesystem::create_directories(bdir + "/chunks");
  testing::WriteFile(bdir + "/chunks/000001", *comp);
  BlockIndex index;
  BlockStream bs;
  bs.labels = Labels::FromStrings({"app", "old"});
  ChunkRef ref;
  ref.length = comp->size();
  ref.min_ts = es.front().timestamp_ns;
  ref.max_ts = es.back().timestamp_ns;
  ref.entries = static_cast<uint32_t>(es.size());
  bs.chunks.push_back(ref);
  index.streams.push_back(bs);
  testing::WriteFile(bdir + "/index", EncodeIndex(index));
  blocks::BlockMeta meta;
  meta.format = std::string(kLogsBlockFormatV1);
  meta.signal = "logs";
  auto block = LogBlock::Open(LocalBlockSource(io::Env::Default(), bdir), meta);
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  std::vector<Entry> got;
  ASSERT_TRUE((*block)->ReadChunk((*block)->index().streams[0].chunks[0], &got).ok());
  ASSERT_EQ(got.size(), es.size());
  EXPECT_EQ(got[7].line, es[7].line);
  EXPECT_EQ(got[9].structured_metadata, es[9].structured_metadata);
}

TEST(Block, WritesLogsV2AndCompressesRepetitiveLogsWell) {
  testing::TempDir dir;
  std::vector<PushStream> streams;
  PushStream a = Stream(Labels::FromStrings({"app", "a"}), {});
  for (int i = 0; i < 20000; ++i) {
    a.entries.push_back({1000 + i * 1000, "level=info msg=\"request served\" path=/api/v1/items/" +
                                              std::to_string(i % 97) + " status=200",
                         {}});
  }
  streams.push_back(std::move(a));
  auto meta = WriteLogBlock(io::Env::Default(), dir.path(), "t", streams, {});
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->format, "logs-v2");
  EXPECT_GT(meta->stats["numBytes"] / meta->stats["compressedBytes"], 20u);
}

// Reads every entry of `ms` as SelectLogs returns them, with hints.
std::vector<std::pair<int64_t, std::string>> Select(LogQuerier& q, SelectLogsParams p) {
  auto its = q.SelectLogs(p);
  EXPECT_TRUE(its.ok()) << its.status().ToString();
  std::vector<std::pair<int64_t, std::string>> out;
  if (!its.ok()) return out;
  for (auto& it : *its) {
    while (it->Next()) out.push_back({it->entry().timestamp_ns, it->entry().line});
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  return out;
}

// Entries of one stream spread over several blocks with overlapping time
// ranges (out-of-order data cut at different times) and the head: the
// iterator returns them in time order (ties in ingest order), in both
// directions, with the line hint and the limit applied, and across chunk
// blocks of one block (small chunk blocks).
TEST(Store, LazyIteratorOrderHintsAndLimit) {
  testing::TempDir dir;
  auto o = Opts(dir.path());
  o.block.chunk_block_bytes = 2048;  // many chunk blocks per stream
  o.out_of_order_window_ns = 1ll << 62;
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t t0 = Now();
  std::vector<std::pair<int64_t, std::string>> want;
  auto push = [&](int from, int to, int step, const std::string& tag = "") {
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {}));
    for (int i = from; i < to; i += step) {
      std::string line = "entry " + std::to_string(i) + (i % 10 == 0 ? " needle" : "") + tag;
      in[0].entries.push_back({t0 + i, line, {}});
      want.push_back({t0 + i, line});
    }
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t", in, &r).ok());
    EXPECT_EQ(r.accepted_entries, static_cast<int64_t>(in[0].entries.size()));
  };
  push(0, 1000, 2);    // even
  ASSERT_TRUE((*s)->CutAll().ok());
  push(1000, 2000, 1);  // after: no overlap
  ASSERT_TRUE((*s)->CutAll().ok());
  push(1, 600, 2);      // odd, overlaps the first block
  ASSERT_TRUE((*s)->CutAll().ok());
  push(2000, 2100, 1);  // head
  push(1500, 1501, 1, " late");  // head, duplicate timestamp of a block entry
  std::stable_sort(want.begin(), want.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto q = (*s)->Querier("t");
  SelectLogsParams p;
  p.matchers = {Eq("app", "a")};
  p.start_ns = t0;
  p.end_ns = t0 + 5000;
  auto got = Select(**q, p);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].first, want[i].first) << i;
  }
  // The block entry at t0+1500 was ingested before the head's.
  auto at = std::find_if(got.begin(), got.end(), [&](auto& e) { return e.first == t0 + 1500; });
  ASSERT_NE(at, got.end());
  EXPECT_EQ(at->second, "entry 1500 needle");
  ASSERT_EQ((at + 1)->first, t0 + 1500);
  EXPECT_EQ((at + 1)->second, "entry 1500 needle late");

  p.direction = Direction::kBackward;
  auto back = Select(**q, p);
  ASSERT_EQ(back.size(), want.size());
  std::reverse(back.begin(), back.end());
  EXPECT_EQ(back, got);

  // Time range inside chunk blocks.
  p.direction = Direction::kForward;
  p.start_ns = t0 + 333;
  p.end_ns = t0 + 1777;
  auto mid = Select(**q, p);
  ASSERT_FALSE(mid.empty());
  EXPECT_EQ(mid.front().first, t0 + 333);
  EXPECT_EQ(mid.back().first, t0 + 1776);
  EXPECT_EQ(mid.size(), 1777u - 333u - (1000u - 600u) / 2u + 1u);  // no odd entries in 600..999

  // Hint: only lines holding every literal (a superset would also be
  // allowed by the contract; the store gives exactly these).
  p.start_ns = t0;
  p.end_ns = t0 + 5000;
  p.line_contains = {"needle", "entry 1"};
  auto hits = Select(**q, p);
  size_t expect = 0;
  for (const auto& w : want) {
    expect += w.second.find("needle") != std::string::npos &&
              w.second.find("entry 1") != std::string::npos;
  }
  EXPECT_EQ(hits.size(), expect);
  for (const auto& h : hits) EXPECT_NE(h.second.find("needle"), std::string::npos);

  // Limit: the newest 5, backward.
  p.line_contains.clear();
  p.direction = Direction::kBackward;
  p.limit = 5;
  auto last = Select(**q, p);
  ASSERT_EQ(last.size(), 5u);
  EXPECT_EQ(last[0].first, want.back().first);
}

// `|= "<32 hex>"` through the trace index (SelectLogsParams::line_trace_id):
// the chunks that mention the id free-standing or inside a longer hex run
// are read, the others skipped, and the answer is the brute-force one.
TEST(Store, LineTraceIdHintUsesTheIndexWithoutChangingTheAnswer) {
  testing::TempDir dir;
  auto o = Opts(dir.path());
  o.block.chunk_block_bytes = 256;  // a few entries per chunk block
  o.out_of_order_window_ns = 1ll << 62;
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t t0 = Now();
  const std::string id = "4bf92f3577b34da6a3ce929d0e0e4736";
  std::vector<PushStream> in;
  in.push_back(Stream(Labels::FromStrings({"app", "a"}), {}));
  for (int i = 0; i < 400; ++i) {
    std::string line = "filler line " + std::to_string(i) + " with some padding text";
    if (i == 17) line = "GET /x traceparent=00-" + id + "-00f067aa0ba902b7-01";
    if (i == 230) line = "sha=deadbeef" + id + "cafe inside a longer run";
    if (i == 300) line = "upper " + std::string("4BF92F3577B34DA6A3CE929D0E0E4736");
    in[0].entries.push_back({t0 + i, line, {}});
  }
  AppendResult r;
  ASSERT_TRUE((*s)->Append("t", in, &r).ok());
  ASSERT_TRUE((*s)->CutAll().ok());
  auto q = (*s)->Querier("t");
  SelectLogsParams p;
  p.matchers = {Eq("app", "a")};
  p.start_ns = t0;
  p.end_ns = t0 + 1000;
  p.line_contains = {id};
  auto brute = Select(**q, p);
  ASSERT_EQ(brute.size(), 2u);
  EXPECT_EQ(brute[0].first, t0 + 17);
  EXPECT_EQ(brute[1].first, t0 + 230);
  // Without line_contains the hint alone narrows to the candidate chunks:
  // far fewer entries than the 400, yet every matching line is there.
  p.line_contains.clear();
  p.line_trace_id = id;
  auto narrowed = Select(**q, p);
  EXPECT_LT(narrowed.size(), 100u);
  size_t hits = 0;
  for (const auto& e : narrowed) hits += e.second.find(id) != std::string::npos;
  EXPECT_EQ(hits, 2u);
  p.line_contains = {id};
  EXPECT_EQ(Select(**q, p), brute);
  // Upper case hex: the same index entry, the line filter decides.
  p.line_contains = {"4BF92F3577B34DA6A3CE929D0E0E4736"};
  p.line_trace_id = p.line_contains[0];
  auto up = Select(**q, p);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].first, t0 + 300);
}

// `| trace_id="<id>"` (label_trace_id): the id may come from structured
// metadata, a JSON/logfmt field of the line or the stream's own labels;
// the hint narrows the chunks and keeps every one of those entries.
TEST(Store, LabelTraceIdHintKeepsEverySource) {
  testing::TempDir dir;
  auto o = Opts(dir.path());
  o.block.chunk_block_bytes = 256;
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  const int64_t t0 = Now();
  const std::string id = "0af7651916cd43dd8448eb211c80319c";
  std::vector<PushStream> in;
  in.push_back(Stream(Labels::FromStrings({"app", "a"}), {}));
  for (int i = 0; i < 300; ++i) {
    Entry e{t0 + i, "filler line " + std::to_string(i) + " with some padding text", {}};
    if (i == 40) e.structured_metadata = Labels::FromStrings({"trace_id", id});
    if (i == 150) e.line = R"({"msg":"x","trace":{"id":")" + id + R"("}})";
    in[0].entries.push_back(std::move(e));
  }
  in.push_back(Stream(Labels::FromStrings({"app", "b", "trace_id", id}),
                      {{t0 + 7, "no id in this line"}}));
  AppendResult r;
  ASSERT_TRUE((*s)->Append("t", in, &r).ok());
  ASSERT_TRUE((*s)->CutAll().ok());
  auto q = (*s)->Querier("t");
  ASSERT_TRUE(q.ok());
  SelectLogsParams p;
  p.matchers = {Re("app", "a|b")};
  p.start_ns = t0;
  p.end_ns = t0 + 1000;
  p.label_trace_id = id;
  auto got = Select(**q, p);
  EXPECT_LT(got.size(), 100u);  // narrowed
  std::set<int64_t> ts;
  for (const auto& e : got) ts.insert(e.first);
  EXPECT_EQ(ts.count(t0 + 40), 1u);   // structured metadata
  EXPECT_EQ(ts.count(t0 + 150), 1u);  // in the line (a parser finds it)
  EXPECT_EQ(ts.count(t0 + 7), 1u);    // the stream's label
}

// Per-tenant max_streams_per_tenant / out_of_order_window (tenant_limits),
// and AppendResult::accepted reporting exactly what was stored.
TEST(Store, PerTenantLimitsAndAcceptedReport) {
  testing::TempDir dir;
  auto o = Opts(dir.path());
  o.max_streams_per_tenant = 5;
  o.tenant_limits = [](std::string_view tenant) {
    LogStoreOptions::TenantLimits l;
    l.max_streams_per_tenant = tenant == "small" ? 1 : 5;
    l.out_of_order_window_ns = tenant == "small" ? 60'000'000'000ll : 3600'000'000'000ll;
    return l;
  };
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t t0 = Now();
  for (std::string tenant : {"small", "big"}) {
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}),
                        {{t0, "new"}, {t0 - 600'000'000'000ll, "ten minutes late"}}));
    in.push_back(Stream(Labels::FromStrings({"app", "b"}), {{t0, "second stream"}}));
    std::vector<PushStream> stored;
    AppendResult r;
    r.accepted = &stored;
    ASSERT_TRUE((*s)->Append(tenant, in, &r).ok());
    EXPECT_TRUE(r.accepted_reported);
    size_t n = 0;
    for (const auto& st : stored) n += st.entries.size();
    EXPECT_EQ(static_cast<int64_t>(n), r.accepted_entries);
    if (tenant == "small") {
      EXPECT_EQ(r.accepted_entries, 1);
      ASSERT_EQ(r.rejections.size(), 2u);
      EXPECT_EQ(r.rejections[0].reason, "too_far_behind");
      EXPECT_EQ(r.rejections[1].reason, "stream_limit");
      ASSERT_EQ(stored.size(), 1u);
      EXPECT_EQ(stored[0].entries[0].line, "new");
    } else {
      EXPECT_EQ(r.accepted_entries, 3);
      EXPECT_TRUE(r.rejections.empty());
    }
  }
}

TEST(Store, RetentionDeletesOldBlocksLocallyAndInTheObjectStore) {
  testing::TempDir dir;
  io::MemoryObjectStore mem;
  auto o = Opts(dir.path(), &mem);
  o.local_retention = std::chrono::hours(24);  // keep local copies after upload
  o.out_of_order_window_ns = 1ll << 62;
  o.retention_delete_delay = std::chrono::milliseconds(0);
  o.retention_period = [](std::string_view tenant) {
    return tenant == "short" ? std::chrono::milliseconds(std::chrono::hours(24))
                             : std::chrono::milliseconds(0);
  };
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t now = Now();
  int64_t day = 24ll * 3600 * 1'000'000'000;
  for (const char* tenant : {"short", "forever"}) {
    for (int64_t t : {now - 3 * day, now - 2 * day, now - day / 2}) {
      std::vector<PushStream> in;
      in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t, "at " + std::to_string(t)}}));
      AppendResult r;
      ASSERT_TRUE((*s)->Append(tenant, in, &r).ok());
      ASSERT_TRUE((*s)->CutAll().ok());
    }
  }
  ASSERT_TRUE((*s)->ShipAll().ok());
  auto count_metas = [&](const std::string& tenant) {
    auto l = mem.List({.prefix = "logs/" + tenant + "/"});
    int n = 0;
    for (const auto& ob : l->objects) n += ob.key.ends_with("/meta.json");
    return n;
  };
  ASSERT_EQ(count_metas("short"), 3);
  auto deleted = (*s)->ApplyRetention();
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 4);  // two blocks, each local and in the store
  EXPECT_EQ(count_metas("short"), 1);
  EXPECT_EQ(count_metas("forever"), 3);
  int local_blocks = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/short/blocks")) {
    local_blocks += e.is_directory();
  }
  EXPECT_EQ(local_blocks, 1);
  auto q = (*s)->Querier("short");
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, now - 4 * day, now + 1).size(), 1u);
  auto qf = (*s)->Querier("forever");
  EXPECT_EQ(ReadAll(**qf, {Eq("app", "a")}, now - 4 * day, now + 1).size(), 3u);

  // A tenant only the object store knows (another ingester's) is handled too.
  testing::TempDir other;
  auto o2 = Opts(other.path(), &mem);
  o2.retention_delete_delay = std::chrono::milliseconds(0);
  o2.retention_period = [](std::string_view) { return std::chrono::milliseconds(1); };
  auto s2 = LogStore::Open(o2);
  ASSERT_TRUE(s2.ok());
  EXPECT_TRUE((*s2)->Tenants().empty());
  auto d2 = (*s2)->ApplyRetention();
  ASSERT_TRUE(d2.ok()) << d2.status().ToString();
  EXPECT_EQ(*d2, 4);  // short's last block and forever's three
  EXPECT_EQ(count_metas("forever"), 0);
}

// retention_delete_delay: a block past retention disappears from queries
// at once but is deleted only once it is older than retention + delay.
TEST(Store, RetentionDeleteDelayHidesAtOnceDeletesLater) {
  testing::TempDir dir;
  io::MemoryObjectStore mem;
  auto o = Opts(dir.path(), &mem);
  o.local_retention = std::chrono::hours(24);
  o.out_of_order_window_ns = 1ll << 62;
  o.retention_delete_delay = std::chrono::hours(2);
  o.retention_period = [](std::string_view) {
    return std::chrono::milliseconds(std::chrono::hours(24));
  };
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  int64_t now = Now();
  int64_t hour = 3600ll * 1'000'000'000;
  // 3 days old (past retention + delay), 25 h old (past retention, within
  // the delay), 1 h old (kept).
  for (int64_t t : {now - 72 * hour, now - 25 * hour, now - hour}) {
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {{t, "at " + std::to_string(t)}}));
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t", in, &r).ok());
    ASSERT_TRUE((*s)->CutAll().ok());
  }
  ASSERT_TRUE((*s)->ShipAll().ok());
  auto q = (*s)->Querier("t");
  // Hidden at once, before any retention pass.
  auto got = ReadAll(**q, {Eq("app", "a")}, now - 100 * hour, now + 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, now - hour);
  auto deleted = (*s)->ApplyRetention();
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 2);  // only the 3-day-old block, local and remote
  auto l = mem.List({.prefix = "logs/t/"});
  int metas = 0;
  for (const auto& ob : l->objects) metas += ob.key.ends_with("/meta.json");
  EXPECT_EQ(metas, 2);
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, now - 100 * hour, now + 1).size(), 1u);
}

TEST(Store, RemoteChunksAreReadThroughTheChunkCache) {
  testing::TempDir dir, dir2;
  io::MemoryObjectStore mem;
  int64_t t0 = Now();
  {
    auto s = LogStore::Open(Opts(dir.path(), &mem));
    ASSERT_TRUE(s.ok());
    std::vector<PushStream> in;
    in.push_back(Stream(Labels::FromStrings({"app", "a"}), {}));
    for (int i = 0; i < 5000; ++i) in[0].entries.push_back({t0 + i, "line " + std::to_string(i), {}});
    AppendResult r;
    ASSERT_TRUE((*s)->Append("t", in, &r).ok());
    ASSERT_TRUE((*s)->CutAll().ok());
    ASSERT_TRUE((*s)->ShipAll().ok());
    ASSERT_TRUE((*s)->Close().ok());
  }
  auto o = Opts(dir2.path(), &mem);
  o.chunk_cache_bytes = 8 << 20;
  auto s = LogStore::Open(o);
  ASSERT_TRUE(s.ok());
  ASSERT_NE((*s)->chunk_cache(), nullptr);
  auto q = (*s)->Querier("t");
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10000).size(), 5000u);
  uint64_t hits = (*s)->chunk_cache()->hits();
  uint64_t requests = (*s)->chunk_cache()->requests();
  EXPECT_GT((*s)->chunk_cache()->size_bytes(), 0u);
  EXPECT_EQ(ReadAll(**q, {Eq("app", "a")}, t0, t0 + 10000).size(), 5000u);
  // The second read found every page it asked for in the cache.
  uint64_t asked = (*s)->chunk_cache()->requests() - requests;
  EXPECT_GT(asked, 0u);
  EXPECT_EQ((*s)->chunk_cache()->hits() - hits, asked);
}

}  // namespace
}  // namespace sightline::logs::store
