// The log store on a temp dir: codec round trips, block write/read and the
// trace-id index, WAL replay after a crash-like reopen, out-of-order and
// stream limits, cut + ship to an object store and reading blocks back from
// it (also with the local copy gone), and shipping through an object store
// that fails for a while.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/harness.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
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

}  // namespace
}  // namespace sightline::logs::store
