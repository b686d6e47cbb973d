// The trace store: record codec, blocks (bloom, sorted index, row-group
// pruning), the head with its WAL (restart replays; kill-style reopen loses
// nothing acknowledged), cuts, the per-trace byte limit, shipping with the
// object store down and up again, and reads from the object store once the
// local copy is gone.
#include <gtest/gtest.h>

#include <filesystem>

#include "blocks/bucket.h"
#include "config/config.h"
#include "config/overrides.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "telemetry/metrics.h"
#include "traces/store/block.h"
#include "traces/store/codec.h"
#include "traces/store/store.h"
#include "traces/test_traces.h"
#include "harness/harness.h"

namespace sightline::traces::store {
namespace {

using traces::testing::MakeTrace;
using traces::testing::TraceId;

bool SameTrace(const Trace& a, const Trace& b) {
  std::string ea, eb;
  EncodeTrace(a, nullptr, &ea);
  EncodeTrace(b, nullptr, &eb);
  return ea == eb;
}

TEST(CodecTest, RoundTripInlineAndDictionary) {
  Trace t = MakeTrace(7, 4);
  KeyValue arr;
  arr.key = "arr";
  arr.value.v = ArrayValue{AttributeValue{std::string("a")}, AttributeValue{1.5}};
  t.spans[0].attributes.push_back(arr);
  KeyValue bytes;
  bytes.key = "b";
  bytes.value.v = std::string("\x01\x02", 2);
  bytes.value.is_bytes = true;
  t.spans[1].attributes.push_back(bytes);
  t.spans[2].links.push_back({TraceId(3), traces::testing::SpanId(3), "x=y", {}, 2, 1});
  std::string inline_enc;
  EncodeTrace(t, nullptr, &inline_enc);
  Trace back;
  ASSERT_TRUE(DecodeTrace(inline_enc, nullptr, &back).ok());
  EXPECT_TRUE(SameTrace(t, back));

  StringDict dict;
  std::string dict_enc;
  EncodeTrace(t, &dict, &dict_enc);
  std::vector<std::string_view> views = dict.strings();
  Trace back2;
  ASSERT_TRUE(DecodeTrace(dict_enc, &views, &back2).ok());
  EXPECT_TRUE(SameTrace(t, back2));
  EXPECT_LT(dict_enc.size(), inline_enc.size());

  // Garbage never crashes.
  for (size_t cut = 0; cut < inline_enc.size(); cut += 7) {
    Trace x;
    EXPECT_FALSE(DecodeTrace(std::string_view(inline_enc).substr(0, cut), nullptr, &x).ok());
  }
}

// TranscodeTrace (the cut) must write exactly what decoding the head's
// records, merging them (dedup off) and encoding with the dictionary wrote.
TEST(CodecTest, TranscodeEqualsDecodeMergeEncode) {
  auto part = [](uint64_t seed, int spans, uint64_t start, bool extra) {
    Trace t = MakeTrace(9, spans, "svc-" + std::to_string(seed % 3), start);
    for (size_t i = 0; i < t.spans.size(); ++i) t.spans[i].span_id = traces::testing::SpanId(seed * 100 + i + 1);
    if (extra) {
      // A second resource and scope, used by the last span only, and an
      // unused third resource (kept by the first part, dropped by later ones).
      Resource r2;
      r2.attributes = {traces::testing::Str("service.name", "other"), traces::testing::Int("n", -5)};
      r2.schema_url = "https://schema/1";
      t.resources.push_back(r2);
      Resource unused;
      unused.attributes = {traces::testing::Str("unused", "yes")};
      t.resources.push_back(unused);
      Scope s2;
      s2.name = "lib2";
      KeyValue kv;
      kv.key = "nested";
      kv.value.v = KeyValueList{traces::testing::Str("a", "b"), traces::testing::Int("c", 1)};
      s2.attributes.push_back(kv);
      t.scopes.push_back(s2);
      Span& last = t.spans.back();
      last.resource_index = 1;
      last.scope_index = 1;
      last.links.push_back({TraceId(4), traces::testing::SpanId(4), "st", {traces::testing::Str("l", "m")}, 1, 2});
      KeyValue arr;
      arr.key = "arr";
      arr.value.v = ArrayValue{AttributeValue{std::string("x")}, AttributeValue{2.5}, AttributeValue{true}};
      last.attributes.push_back(arr);
      KeyValue bytes;
      bytes.key = "b";
      bytes.value.v = std::string("\x00\xff", 2);
      bytes.value.is_bytes = true;
      last.attributes.push_back(bytes);
      last.parent_span_id.clear();
      last.status_code = 2;
      last.status_message = "boom";
      last.end_unix_nano = last.start_unix_nano - 7;  // negative duration
    }
    return t;
  };
  const uint64_t t0 = 1'700'000'000'000'000'000ull;
  std::vector<std::vector<Trace>> cases = {
      {part(1, 3, t0, false)},
      {part(1, 3, t0, true)},
      {part(1, 3, t0 + 5000, true), part(2, 2, t0, false), part(3, 4, t0 + 99, true)},
      {part(1, 0, t0, false), part(2, 2, t0, true)},  // a first part without spans
      {part(1, 2, t0, true), part(2, 0, t0, false), part(3, 1, t0 - 1, false)},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    std::vector<std::string> recs(cases[c].size());
    std::vector<std::string_view> parts;
    Trace merged;
    for (size_t i = 0; i < cases[c].size(); ++i) {
      EncodeTrace(cases[c][i], nullptr, &recs[i]);
      parts.push_back(recs[i]);
      Trace back;
      ASSERT_TRUE(DecodeTrace(recs[i], nullptr, &back).ok());
      MergeTrace(std::move(back), &merged, /*dedup=*/false);
    }
    StringDict want_dict, got_dict;
    want_dict.Add("pre-existing");
    got_dict.Add("pre-existing");
    std::string want, got;
    EncodeTrace(merged, &want_dict, &want);
    TraceSummary sum;
    ASSERT_TRUE(TranscodeTrace(parts, &got_dict, &got, &sum).ok()) << "case " << c;
    EXPECT_EQ(got, want) << "case " << c;
    EXPECT_EQ(got_dict.strings(), want_dict.strings()) << "case " << c;
    auto [lo, hi] = TraceTimeRange(merged);
    EXPECT_EQ(sum.spans, merged.spans.size());
    EXPECT_EQ(sum.min_start, lo);
    EXPECT_EQ(sum.max_end, hi);
  }
  // Damaged records fail as DecodeTrace does, never crash.
  std::string rec;
  EncodeTrace(part(1, 3, t0, true), nullptr, &rec);
  for (size_t cut = 0; cut < rec.size(); cut += 3) {
    StringDict d;
    std::string out;
    TraceSummary sum;
    std::vector<std::string_view> parts = {std::string_view(rec).substr(0, cut)};
    EXPECT_FALSE(TranscodeTrace(parts, &d, &out, &sum).ok()) << cut;
  }
}

// A row group's traces through one dictionary: TranscodeTrace (whose
// resources and scopes go through the dictionary's piece cache) writes the
// same bytes and strings as EncodeTrace of the decoded traces, whether the
// resources repeat (cache hits), never repeat (the cache turns itself off),
// or both in turns, across Clear.
TEST(CodecTest, TranscodeRowGroupWithRepeatedResources) {
  StringDict want_dict, got_dict;
  std::string want, got;
  for (int round = 0; round < 3; ++round) {
    for (uint64_t i = 1; i <= 300; ++i) {
      // round 0: 3 distinct resources; round 1: every one distinct (after
      // 100 repeats); round 2: 200 distinct ones, then repeats again.
      const uint64_t host = round == 0 ? i % 3 : round == 1 ? (i < 100 ? 0 : i) : (i < 200 ? i : 7);
      Trace t = MakeTrace(round * 1000 + i, 1 + static_cast<int>(i % 4),
                          i % 2 ? "checkout" : "payments");
      t.resources[0].attributes[1] = traces::testing::Str("host.name", "h" + std::to_string(host));
      if (i % 5 == 0) t.resources.push_back(t.resources[0]);  // an unused second one
      std::string rec;
      EncodeTrace(t, nullptr, &rec);
      TraceSummary sum;
      std::vector<std::string_view> parts = {rec};
      ASSERT_TRUE(TranscodeTrace(parts, &got_dict, &got, &sum).ok()) << round << " " << i;
      Trace back;
      ASSERT_TRUE(DecodeTrace(rec, nullptr, &back).ok());
      EncodeTrace(back, &want_dict, &want);
      ASSERT_EQ(got, want) << round << " " << i;
    }
    EXPECT_EQ(got_dict.strings(), want_dict.strings()) << round;
    if (round == 1) {
      got_dict.Clear();
      want_dict.Clear();
    }
  }
}

TEST(CodecTest, MergeDeduplicatesSpans) {
  Trace a = MakeTrace(1, 3);
  Trace b = MakeTrace(1, 5);  // same ids for the first 3 spans
  MergeTrace(b, &a);
  EXPECT_EQ(a.spans.size(), 5u);
  for (const Span& s : a.spans) {
    EXPECT_LT(s.resource_index, a.resources.size());
    EXPECT_LT(s.scope_index, a.scopes.size());
  }
}

TEST(BlockTest, WriteFindScan) {
  sightline::testing::TempDir dir;
  io::Env* env = io::Env::Default();
  std::vector<Trace> traces;
  for (uint64_t i = 1; i <= 500; ++i) {
    traces.push_back(MakeTrace(i, 3, i % 2 ? "checkout" : "payments",
                               1'700'000'000'000'000'000ull + i * 1'000'000'000ull));
  }
  std::vector<const Trace*> ptrs;
  for (const auto& t : traces) ptrs.push_back(&t);
  BlockWriteOptions bo;
  bo.row_group_bytes = 16 << 10;  // several row groups
  auto meta = WriteBlock(env, dir.path(), "t1", ptrs, bo);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->stats.at("numTraces"), 500u);
  EXPECT_EQ(meta->stats.at("numSpans"), 1500u);
  EXPECT_GT(meta->stats.at("numRowGroups"), 2u);
  EXPECT_EQ(meta->format, "traces-v1");  // index version 2 inside
  const std::string bdir = dir.path() + "/" + meta->ulid.ToString();
  EXPECT_TRUE(env->FileExists(bdir + "/meta.json"));

  auto reader = BlockReader::Open(LocalBlockFiles(env, bdir), *meta);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  for (uint64_t i : {1, 250, 500}) {
    auto t = (*reader)->Find(TraceId(i));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(t->has_value()) << i;
    EXPECT_TRUE(SameTrace(**t, traces[i - 1]));
  }
  int false_positives = 0;
  for (uint64_t i = 1000; i < 3000; ++i) {
    if ((*reader)->MayContain(TraceId(i))) ++false_positives;
    auto t = (*reader)->Find(TraceId(i));
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->has_value());
  }
  EXPECT_LT(false_positives, 60);  // ~1%

  int n = 0;
  ASSERT_TRUE((*reader)->Scan({}, [&](Trace&&) { return ++n, true; }).ok());
  EXPECT_EQ(n, 500);
  // Time pruning: only row groups overlapping the range are read.
  ScanParams p;
  p.start_unix_nano = 1'700'000'000'000'000'000ull + 100 * 1'000'000'000ull;
  p.end_unix_nano = p.start_unix_nano + 10 * 1'000'000'000ull;
  n = 0;
  ASSERT_TRUE((*reader)->Scan(p, [&](Trace&&) { return ++n, true; }).ok());
  EXPECT_GT(n, 9);
  EXPECT_LT(n, 500);
  // Dictionary pruning: a value no row group holds skips everything.
  ScanParams h;
  h.hints.equalities.push_back({"resource", "service.name", "nope"});
  n = 0;
  ASSERT_TRUE((*reader)->Scan(h, [&](Trace&&) { return ++n, true; }).ok());
  EXPECT_EQ(n, 0);
  h.hints.equalities[0].value = "payments";
  ASSERT_TRUE((*reader)->Scan(h, [&](Trace&&) { return ++n, true; }).ok());
  EXPECT_GT(n, 0);
  // Early stop.
  n = 0;
  bool stopped = false;
  ASSERT_TRUE((*reader)->Scan({}, [&](Trace&&) { return ++n < 3; }, &stopped).ok());
  EXPECT_TRUE(stopped);
  EXPECT_EQ(n, 3);

  // A corrupt index is refused, not trusted: the header at open, an id page
  // (read on demand) when it is read.
  std::string idx = *env->ReadFile(bdir + "/index");
  idx[idx.size() / 2] ^= 0x55;
  ASSERT_TRUE(env->WriteFileAtomic(bdir + "/index", idx).ok());
  auto bad = BlockReader::Open(LocalBlockFiles(env, bdir), *meta);
  if (bad.ok()) {
    auto ids = (*bad)->ReadSortedIds();
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), StatusCode::kDataLoss);
  } else {
    EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  }
  idx[10] ^= 0x55;  // the header
  ASSERT_TRUE(env->WriteFileAtomic(bdir + "/index", idx).ok());
  EXPECT_FALSE(BlockReader::Open(LocalBlockFiles(env, bdir), *meta).ok());
}

StoreOptions Options(const std::string& dir, io::ObjectStore* store, telemetry::Registry* reg) {
  StoreOptions o;
  o.data_dir = dir;
  o.store = store;
  o.run_maintenance = false;
  o.registry = reg;
  o.blocklist_poll = std::chrono::milliseconds(0);
  return o;
}

std::vector<Trace> One(Trace t) {
  std::vector<Trace> v;
  v.push_back(std::move(t));
  return v;
}

TEST(TraceStoreTest, HeadWalReplayCutAndFind) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  {
    auto s = TraceStore::Open(Options(dir.path(), nullptr, &reg));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ingest::PushResult pr;
    Trace first = MakeTrace(1, 2);
    Trace second = MakeTrace(1, 4);
    second.spans.erase(second.spans.begin(), second.spans.begin() + 2);  // spans 3, 4
    ASSERT_TRUE((*s)->Push("t1", One(first), &pr).ok());
    ASSERT_TRUE((*s)->Push("t1", One(second), &pr).ok());
    ASSERT_TRUE((*s)->Push("t2", One(MakeTrace(2, 1)), &pr).ok());
    auto t = (*s)->FindTraceById("t1", TraceId(1));
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->spans.size(), 4u);
    // Tenants are separate.
    EXPECT_FALSE((*s)->FindTraceById("t2", TraceId(1))->has_value());
    // Close does not cut: what survives is the synced WAL, as after kill -9
    // (the integration test kills the real binary).
    s->reset();
  }
  {
    auto s = TraceStore::Open(Options(dir.path(), nullptr, &reg));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto t = (*s)->FindTraceById("t1", TraceId(1));
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->spans.size(), 4u);
    EXPECT_TRUE((*s)->FindTraceById("t2", TraceId(2))->has_value());
    // Cut: the trace moves to a block; a later part stays in the new head.
    ASSERT_TRUE((*s)->CutAll(true).ok());
    EXPECT_EQ((*s)->Stats("t1").head_traces, 0u);
    EXPECT_EQ((*s)->Stats("t1").local_blocks, 1u);
    Trace late = MakeTrace(1, 6);
    late.spans.erase(late.spans.begin(), late.spans.begin() + 4);
    ingest::PushResult pr;
    ASSERT_TRUE((*s)->Push("t1", One(late), &pr).ok());
    t = (*s)->FindTraceById("t1", TraceId(1));
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->spans.size(), 6u);
    // Time pruning: a range before the trace skips the block.
    t = (*s)->FindTraceById("t1", TraceId(1), 1'000'000'000, 2'000'000'000);
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->spans.size(), 2u);  // head only
    ASSERT_TRUE((*s)->Close().ok());
  }
  {
    // After a clean restart: block + replayed head.
    auto s = TraceStore::Open(Options(dir.path(), nullptr, &reg));
    ASSERT_TRUE(s.ok());
    auto t = (*s)->FindTraceById("t1", TraceId(1));
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->spans.size(), 6u);
    int n = 0;
    ASSERT_TRUE((*s)->Scan("t1", {}, [&](const Trace& tr) {
                  EXPECT_EQ(tr.spans.size(), 6u);
                  return ++n, true;
                }).ok());
    EXPECT_EQ(n, 1);
  }
}

TEST(TraceStoreTest, MaxBytesPerTrace) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  StoreOptions o = Options(dir.path(), nullptr, &reg);
  o.max_bytes_per_trace = 2000;
  auto s = TraceStore::Open(o);
  ASSERT_TRUE(s.ok());
  ingest::PushResult pr;
  ASSERT_TRUE((*s)->Push("t1", One(MakeTrace(1, 3)), &pr).ok());
  EXPECT_EQ(pr.refused_spans, 0u);
  ASSERT_TRUE((*s)->Push("t1", One(MakeTrace(1, 20)), &pr).ok());
  EXPECT_EQ(pr.refused_spans, 20u);
  ASSERT_EQ(pr.messages.size(), 1u);
  EXPECT_NE(pr.messages[0].find("TRACE_TOO_LARGE"), std::string::npos);
  EXPECT_EQ((*(*s)->FindTraceById("t1", TraceId(1)))->spans.size(), 3u);
}

// Per-tenant max_bytes_per_trace through the shared TenantOverrides, as the
// module wires it: tenant "small" gets 2000 bytes, others the base 5 MB.
TEST(TraceStoreTest, MaxBytesPerTracePerTenantFromOverrides) {
  config::Config base;
  auto ov = config::TenantOverrides::Parse(
      base,
      "overrides:\n  small:\n    traces:\n      limits:\n        max_bytes_per_trace: 2000\n",
      "sl.yaml");
  ASSERT_TRUE(ov.ok()) << ov.status().ToString();
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  StoreOptions o = Options(dir.path(), nullptr, &reg);
  o.max_bytes_per_trace_for = [ov = *ov](std::string_view t) {
    return ov->For(t).traces.max_bytes_per_trace;
  };
  auto s = TraceStore::Open(o);
  ASSERT_TRUE(s.ok());
  ingest::PushResult small, big;
  ASSERT_TRUE((*s)->Push("small", One(MakeTrace(1, 20)), &small).ok());
  ASSERT_TRUE((*s)->Push("big", One(MakeTrace(1, 20)), &big).ok());
  EXPECT_EQ(small.refused_spans, 20u);
  ASSERT_EQ(small.messages.size(), 1u);
  EXPECT_NE(small.messages[0].find("max size of trace (2000)"), std::string::npos)
      << small.messages[0];
  EXPECT_EQ(big.refused_spans, 0u);
  EXPECT_FALSE((*(*s)->FindTraceById("small", TraceId(1))).has_value());
  EXPECT_EQ((*(*s)->FindTraceById("big", TraceId(1)))->spans.size(), 20u);
}

TEST(TraceStoreTest, ShipsThroughOutageAndReadsFromObjectStore) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  io::MemoryObjectStore mem;
  io::FaultOptions fo;
  fo.error_probability = 1.0;
  fo.error_ops = io::kFaultUploads;
  io::FaultyObjectStore faulty(&mem, fo);
  StoreOptions o = Options(dir.path(), &faulty, &reg);
  o.local_retention = std::chrono::milliseconds(0);
  {
    auto s = TraceStore::Open(o);
    ASSERT_TRUE(s.ok());
    ingest::PushResult pr;
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE((*s)->Push("t1", One(MakeTrace(i, 2)), &pr).ok());
    ASSERT_TRUE((*s)->CutAll(true).ok());
    EXPECT_FALSE((*s)->ShipAll().ok());  // store down
    EXPECT_EQ((*s)->Stats("t1").uploaded_blocks, 0u);
    EXPECT_NE(reg.Expose().find("tempo_ingester_flush_failed_total{tenant=\"t1\"}"),
              std::string::npos);
    ASSERT_TRUE((*s)->Close().ok());
  }
  faulty.SetOptions({});  // store back
  {
    // The restart resumes the upload; nothing was lost.
    auto s = TraceStore::Open(o);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->ShipAll().ok());
    EXPECT_EQ((*s)->Stats("t1").uploaded_blocks, 1u);
    auto metas = blocks::ListBlocks(mem, "traces/t1/");
    ASSERT_TRUE(metas.ok());
    ASSERT_EQ(metas->size(), 1u);
    EXPECT_EQ((*metas)[0].stats.at("numTraces"), 20u);
    // Local retention 0: the local copy goes, reads use the object store.
    ASSERT_TRUE((*s)->Maintain().ok());
    EXPECT_EQ((*s)->Stats("t1").local_blocks, 0u);
    EXPECT_EQ((*s)->Stats("t1").remote_blocks, 1u);
    for (uint64_t i = 1; i <= 20; ++i) {
      auto t = (*s)->FindTraceById("t1", TraceId(i));
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      ASSERT_TRUE(t->has_value()) << i;
      EXPECT_EQ((*t)->spans.size(), 2u);
    }
  }
  {
    // A fresh data dir (another querier) finds the blocks in the store.
    sightline::testing::TempDir other;
    auto s = TraceStore::Open(Options(other.path(), &mem, &reg));
    ASSERT_TRUE(s.ok());
    auto t = (*s)->FindTraceById("t1", TraceId(7));
    ASSERT_TRUE(t.ok() && t->has_value());
    int n = 0;
    ASSERT_TRUE((*s)->Scan("t1", {}, [&](const Trace&) { return ++n, true; }).ok());
    EXPECT_EQ(n, 20);
  }
}

}  // namespace
}  // namespace sightline::traces::store
