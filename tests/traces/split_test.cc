// Split traces (spans that arrived after a cut) found by search plans
// without reading every block's trace ids (sharded_scan.h, docs/formats/
// traces-block.md index version 3):
//   - within the split window, each cut links its traces to the earlier
//     blocks holding their other parts; plans join the chains from the
//     in-memory links and evaluate the traces whole, once, reading no id
//     page (BlockReader::IdPagesRead);
//   - a restart rebuilds the window from the local blocks;
//   - outside the window, the parts are searched as separate traces and
//     their results combined by trace id as Tempo does (traceql/combine.h);
//   - blocks of index version 2 (checked-in fixture) keep the id-page path;
//   - the window's cap (split_window_max_ids) and its self-metric.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "io/env.h"
#include "telemetry/metrics.h"
#include "traces/ingest/ids.h"
#include "traces/store/block.h"
#include "traces/store/sharded_scan.h"
#include "traces/store/store.h"
#include "traces/test_traces.h"
#include "traces/traceql/combine.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::store {
namespace {

using traces::testing::MakeTrace;
using traces::testing::TraceId;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kMs = 1'000'000ull;

StoreOptions Options(const std::string& dir, telemetry::Registry* reg) {
  StoreOptions o;
  o.data_dir = dir;
  o.run_maintenance = false;
  o.registry = reg;
  o.blocklist_poll = std::chrono::milliseconds(0);
  o.block.row_group_bytes = 2 << 10;  // several row groups per block
  return o;
}

// Spans [from, to) of trace `id` (MakeTrace's spans: distinct span ids;
// span i starts at start + i µs; the root, span 0, lasts 5 ms). `service`
// names the part's resource.
Trace PartOf(uint64_t id, int from, int to, const std::string& service, uint64_t start = kT0) {
  Trace t = MakeTrace(id, to, service, start);
  t.spans.erase(t.spans.begin(), t.spans.begin() + from);
  return t;
}

void Push(TraceStore& s, std::vector<Trace> traces, const std::string& tenant = "t") {
  ingest::PushResult pr;
  ASSERT_TRUE(s.Push(tenant, std::move(traces), &pr).ok());
  ASSERT_EQ(pr.refused_spans, 0u);
}

// Every trace a whole plan passes, by id, with how often it was passed.
struct Passed {
  std::map<std::string, Trace> traces;
  std::map<std::string, int> times;
};
Passed ScanAll(ShardedTraceSource& plan, const ScanParams& p = {}) {
  Passed out;
  Status st = plan.ScanShards(0, plan.shards().size(), p, [&](const Trace& t) {
    ++out.times[t.trace_id];
    out.traces[t.trace_id] = t;
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

std::vector<std::shared_ptr<BlockReader>> OpenBlocks(const std::string& dir) {
  std::vector<std::shared_ptr<BlockReader>> out;
  io::Env* env = io::Env::Default();
  for (const auto& e : std::filesystem::directory_iterator(dir + "/traces/t/blocks")) {
    auto json = env->ReadFile(e.path().string() + "/meta.json");
    if (!json.ok()) continue;
    auto meta = blocks::BlockMeta::Parse(*json);
    EXPECT_TRUE(meta.ok());
    auto r = BlockReader::Open(LocalBlockFiles(env, e.path().string()), *meta);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    out.push_back(std::move(r).value());
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->meta().ulid < b->meta().ulid; });
  return out;
}

// Trace 1: spans 0-1 in block A, 2-3 in B, 4-5 in C, 6-7 in the head.
// Traces 10..59: spans 0-1 in A; 10..19 spans 2-3 in B; 10..14 spans 4-5
// in C. Traces 100..139 only in B, 200..219 only in the head.
void FillSplit(TraceStore& s) {
  std::vector<Trace> a;
  a.push_back(PartOf(1, 0, 2, "front"));
  for (uint64_t id = 10; id < 60; ++id) a.push_back(PartOf(id, 0, 2, "front", kT0 + id * kSec));
  Push(s, std::move(a));
  ASSERT_TRUE(s.CutAll(true).ok());
  std::vector<Trace> b;
  b.push_back(PartOf(1, 2, 4, "late1"));
  for (uint64_t id = 10; id < 20; ++id) b.push_back(PartOf(id, 2, 4, "late1", kT0 + id * kSec));
  for (uint64_t id = 100; id < 140; ++id) b.push_back(MakeTrace(id, 3, "other", kT0 + id * kSec));
  Push(s, std::move(b));
  ASSERT_TRUE(s.CutAll(true).ok());
  std::vector<Trace> c;
  c.push_back(PartOf(1, 4, 6, "late2"));
  for (uint64_t id = 10; id < 15; ++id) c.push_back(PartOf(id, 4, 6, "late2", kT0 + id * kSec));
  Push(s, std::move(c));
  ASSERT_TRUE(s.CutAll(true).ok());
  std::vector<Trace> h;
  h.push_back(PartOf(1, 6, 8, "late3"));
  for (uint64_t id = 200; id < 220; ++id) h.push_back(MakeTrace(id, 2, "head", kT0 + id * kSec));
  Push(s, std::move(h));
}

size_t Spans(uint64_t id) {
  if (id == 1) return 8;
  if (id >= 10 && id < 15) return 6;
  if (id >= 15 && id < 20) return 4;
  if (id >= 20 && id < 60) return 2;
  if (id >= 100 && id < 140) return 3;
  if (id >= 200 && id < 220) return 2;
  return 0;
}

void ExpectWholeOnce(const Passed& p) {
  EXPECT_EQ(p.traces.size(), 1u + 50 + 40 + 20);
  for (const auto& [id, n] : p.times) EXPECT_EQ(n, 1) << "passed twice";
  for (const auto& [id, t] : p.traces) {
    uint64_t n = 0;
    for (int i = 8; i < 16; ++i) n = n << 8 | static_cast<uint8_t>(id[i]);
    EXPECT_EQ(t.spans.size(), Spans(n)) << n;
  }
}

TEST(SplitTest, CutsLinkSplitTracesToEarlierBlocksAndChainsCarry) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto s = TraceStore::Open(Options(dir.path(), &reg));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  FillSplit(**s);
  auto blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 3u);
  const auto& a = *blocks[0];
  const auto& b = *blocks[1];
  const auto& c = *blocks[2];
  for (const auto& r : blocks) EXPECT_EQ(r->index_version(), 3);
  EXPECT_TRUE(a.split_links().empty());
  // B: traces 1 and 10..19 continue A.
  EXPECT_EQ(b.split_links().entries.size(), 11u);
  EXPECT_EQ(b.split_links().Find(TraceId(1)), std::vector<blocks::Ulid>{a.meta().ulid});
  EXPECT_EQ(b.split_links().Find(TraceId(19)), std::vector<blocks::Ulid>{a.meta().ulid});
  EXPECT_TRUE(b.split_links().Find(TraceId(20)).empty());
  EXPECT_TRUE(b.split_links().Find(TraceId(100)).empty());
  // C: traces 1 and 10..14 continue B, and through B's links A.
  EXPECT_EQ(c.split_links().entries.size(), 6u);
  auto holders = c.split_links().Find(TraceId(12));
  std::sort(holders.begin(), holders.end());
  EXPECT_EQ(holders, (std::vector<blocks::Ulid>{a.meta().ulid, b.meta().ulid}));
  ASSERT_TRUE((*s)->Close().ok());
}

TEST(SplitTest, WithinTheWindowPlansAreExactWithoutIdPages) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto s = TraceStore::Open(Options(dir.path(), &reg));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  FillSplit(**s);

  const uint64_t pages0 = BlockReader::IdPagesRead();
  auto plan = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ((*plan)->shards().size(), 4u);  // head + 3 blocks
  Passed all = ScanAll(**plan);
  ExpectWholeOnce(all);
  const Trace& one = all.traces.at(TraceId(1));
  std::set<std::string> services;
  for (const Resource& r : one.resources) {
    for (const KeyValue& kv : r.attributes) {
      if (kv.key == "service.name") services.insert(std::get<std::string>(kv.value.v));
    }
  }
  EXPECT_EQ(services, (std::set<std::string>{"front", "late1", "late2", "late3"}));

  // Job by job (one shard each) as the streaming search reads the plan:
  // still once and whole.
  auto plan2 = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan2.ok());
  Passed jobs;
  for (size_t k = 0; k < (*plan2)->shards().size(); ++k) {
    ASSERT_TRUE((*plan2)
                    ->ScanShards(k, k + 1, {},
                                 [&](const Trace& t) {
                                   ++jobs.times[t.trace_id];
                                   jobs.traces[t.trace_id] = t;
                                   return true;
                                 })
                    .ok());
  }
  ExpectWholeOnce(jobs);

  // A query whose hints skip the block parts: the late part in the head
  // matches, the trace is evaluated whole (its root and duration come from
  // the block parts).
  auto plan3 = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan3.ok());
  traceql::SearchRequest req;
  req.query = "{ resource.service.name = \"late3\" }";
  auto resp = traceql::SearchJobs(**plan3, req, traceql::SearchJobOptions{1});
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  ASSERT_EQ(resp->traces.size(), 1u);
  EXPECT_EQ(resp->traces[0].root_service_name, "front");
  EXPECT_EQ(resp->traces[0].root_trace_name, "GET /cart");
  EXPECT_EQ(resp->traces[0].start_unix_nano, kT0);
  // `&&` across spansets held by different parts.
  auto plan4 = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan4.ok());
  req.query = "{ resource.service.name = \"front\" } && { resource.service.name = \"late2\" }";
  resp = traceql::SearchJobs(**plan4, req, traceql::SearchJobOptions{1});
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->traces.size(), 6u);  // traces 1 and 10..14

  EXPECT_EQ(BlockReader::IdPagesRead(), pages0) << "a plan over version-3 blocks read id pages";
  ASSERT_TRUE((*s)->Close().ok());
}

TEST(SplitTest, RestartRebuildsTheWindow) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  {
    auto s = TraceStore::Open(Options(dir.path(), &reg));
    ASSERT_TRUE(s.ok());
    std::vector<Trace> a;
    for (uint64_t id = 1; id <= 30; ++id) a.push_back(PartOf(id, 0, 2, "front", kT0 + id * kSec));
    Push(**s, std::move(a));
    ASSERT_TRUE((*s)->CutAll(true).ok());
    ASSERT_TRUE((*s)->Close().ok());
  }
  telemetry::Registry reg2;
  auto s = TraceStore::Open(Options(dir.path(), &reg2));
  ASSERT_TRUE(s.ok());
  // Late parts after the restart: traces 1..5 into a new block, 6 stays
  // in the head.
  std::vector<Trace> b;
  for (uint64_t id = 1; id <= 5; ++id) b.push_back(PartOf(id, 2, 3, "late", kT0 + id * kSec));
  Push(**s, std::move(b));
  ASSERT_TRUE((*s)->CutAll(true).ok());
  Push(**s, {PartOf(6, 2, 4, "late", kT0 + 6 * kSec)});
  auto blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1]->split_links().entries.size(), 5u);
  EXPECT_EQ(blocks[1]->split_links().Find(TraceId(3)),
            std::vector<blocks::Ulid>{blocks[0]->meta().ulid});

  const uint64_t pages0 = BlockReader::IdPagesRead();
  auto plan = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok());
  Passed p = ScanAll(**plan);
  EXPECT_EQ(p.traces.size(), 30u);
  for (const auto& [id, n] : p.times) EXPECT_EQ(n, 1);
  for (uint64_t id = 1; id <= 30; ++id) {
    const size_t want = id <= 5 ? 3 : id == 6 ? 4 : 2;
    EXPECT_EQ(p.traces.at(TraceId(id)).spans.size(), want) << id;
  }
  EXPECT_EQ(BlockReader::IdPagesRead(), pages0);
  ASSERT_TRUE((*s)->Close().ok());
}

TEST(SplitTest, OutsideTheWindowResultsAreCombinedByTraceId) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  StoreOptions o = Options(dir.path(), &reg);
  o.split_window = std::chrono::milliseconds(1);
  auto s = TraceStore::Open(o);
  ASSERT_TRUE(s.ok());
  // Trace 1: root (5 ms) and a child in A; two more children, 40 ms later
  // and lasting 1 ms, in B cut long after A left the window.
  Push(**s, {PartOf(1, 0, 2, "front"), MakeTrace(2, 2, "front", kT0 + kSec)});
  ASSERT_TRUE((*s)->CutAll(true).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Push(**s, {PartOf(1, 2, 4, "late", kT0 + 40 * kMs)});
  ASSERT_TRUE((*s)->CutAll(true).ok());
  auto blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_TRUE(blocks[1]->split_links().empty());

  // The plan passes the two parts as two traces (Tempo's per-block search).
  auto plan = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok());
  int parts = 0;
  ASSERT_TRUE((*plan)
                  ->ScanShards(0, (*plan)->shards().size(), {},
                               [&](const Trace& t) {
                                 parts += t.trace_id == TraceId(1);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(parts, 2);

  // Their search results, combined by trace id: one result, the root's
  // names, the earliest start, latest end − earliest start, matched summed.
  auto plan2 = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan2.ok());
  traceql::SearchRequest req;
  req.query = "{ name = \"db.query\" }";
  req.spans_per_span_set = 10;
  auto resp = traceql::SearchJobs(**plan2, req, traceql::SearchJobOptions{1});
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  // SearchJobs combines the parts itself (one result per trace id).
  std::vector<traceql::TraceSearchResult> results = resp->traces;
  ASSERT_EQ(results.size(), 2u);  // traces 1 and 2
  EXPECT_EQ(traceql::CombineByTraceId(&results, req.spans_per_span_set), 0u);
  const traceql::TraceSearchResult* one = nullptr;
  for (const auto& r : results) {
    if (r.trace_id == traces::IdToHex(TraceId(1))) one = &r;
  }
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->root_service_name, "front");
  EXPECT_EQ(one->root_trace_name, "GET /cart");
  EXPECT_EQ(one->start_unix_nano, kT0);
  // Part B's spans end at kT0 + 40 ms + 3 µs + 1 ms.
  EXPECT_EQ(one->duration_ms, 41u);
  ASSERT_EQ(one->span_sets.size(), 1u);
  EXPECT_EQ(one->span_sets[0].matched, 3u);  // span 1 in A, spans 2-3 in B
  EXPECT_EQ(one->span_sets[0].spans.size(), 3u);
  uint32_t spans = 0;
  for (const auto& st : one->service_stats) spans += st.span_count;
  EXPECT_EQ(spans, 4u);

  // Streamed job by job (one job per shard), with and without most_recent:
  // the progress messages, applied by trace id as clients do, end with the
  // combined result.
  for (const char* q : {"{ name = \"db.query\" }",
                        "{ name = \"db.query\" } with(most_recent=true)"}) {
    SCOPED_TRACE(q);
    auto plan3 = (*s)->PlanScan("t", 0, 0);
    ASSERT_TRUE(plan3.ok());
    req.query = q;
    std::map<std::string, traceql::TraceSearchResult> streamed;
    auto r = traceql::SearchJobs(**plan3, req, traceql::SearchJobOptions{1},
                                 [&](traceql::SearchProgress& p) {
                                   for (auto& t : p.traces) streamed[t.trace_id] = t;
                                   return true;
                                 });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->traces.size(), 2u);
    ASSERT_EQ(streamed.size(), 2u);
    const auto& c = streamed[traces::IdToHex(TraceId(1))];
    EXPECT_EQ(c.start_unix_nano, kT0);
    EXPECT_EQ(c.duration_ms, 41u);
    ASSERT_EQ(c.span_sets.size(), 1u);
    EXPECT_EQ(c.span_sets[0].matched, 3u);
  }
  ASSERT_TRUE((*s)->Close().ok());
}

TEST(SplitTest, CombineSearchResultFoldsAsTempo) {
  traceql::TraceSearchResult a, b;
  a.trace_id = b.trace_id = "00ff";
  a.root_service_name = "<root span not yet received>";
  b.root_service_name = "api";
  b.root_trace_name = "GET /";
  a.start_unix_nano = 2'000 * kMs;
  a.duration_ms = 10;  // ends at 2010 ms
  b.start_unix_nano = 1'000 * kMs;
  b.duration_ms = 500;  // ends at 1500 ms
  traceql::SpanSetResult sa, sb, sc;
  sa.matched = 2;
  sa.spans.resize(2);
  sa.spans[0].span_id = "a1";
  sa.spans[0].start_unix_nano = 2'000 * kMs;
  sa.spans[1].span_id = "a2";
  sa.spans[1].start_unix_nano = 2'001 * kMs;
  sb.matched = 1;
  sb.spans.resize(1);
  sb.spans[0].span_id = "b1";
  sb.spans[0].start_unix_nano = 1'000 * kMs;
  sc = sb;  // another by() group: appended
  sc.attributes.push_back({"by(span.x)", {}});
  sc.attributes[0].value.v = std::string("x1");
  a.span_sets = {sa};
  b.span_sets = {sb, sc};
  a.service_stats = {{"api", 2, 1}};
  b.service_stats = {{"api", 1, 0}, {"db", 4, 0}};
  std::vector<traceql::TraceSearchResult> v = {a, b};
  EXPECT_EQ(traceql::CombineByTraceId(&v, 2), 1u);
  ASSERT_EQ(v.size(), 1u);
  const auto& r = v[0];
  EXPECT_EQ(r.root_service_name, "api");
  EXPECT_EQ(r.root_trace_name, "GET /");
  EXPECT_EQ(r.start_unix_nano, 1'000 * kMs);
  EXPECT_EQ(r.duration_ms, 1010u);
  ASSERT_EQ(r.span_sets.size(), 2u);
  EXPECT_EQ(r.span_sets[0].matched, 3u);
  ASSERT_EQ(r.span_sets[0].spans.size(), 2u);  // spss 2: the earliest
  EXPECT_EQ(r.span_sets[0].spans[0].span_id, "b1");
  EXPECT_EQ(r.span_sets[0].spans[1].span_id, "a1");
  ASSERT_EQ(r.service_stats.size(), 2u);
  EXPECT_EQ(r.service_stats[0].span_count, 3u);
  EXPECT_EQ(r.service_stats[0].error_count, 1u);
  EXPECT_EQ(r.service_stats[1].span_count, 4u);
}

TEST(SplitTest, VersionTwoBlocksKeepTheIdPath) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  // The checked-in version-2 block (tests/traces/testdata, written by the
  // session-6 writer) as a local block of tenant "t".
  const std::string blocks_dir = dir.path() + "/traces/t/blocks";
  std::filesystem::create_directories(blocks_dir);
  const std::string fixture = std::string(SL_TRACES_TESTDATA) + "/traces-v2-block";
  auto json = io::Env::Default()->ReadFile(fixture + "/meta.json");
  ASSERT_TRUE(json.ok());
  auto meta = blocks::BlockMeta::Parse(*json);
  ASSERT_TRUE(meta.ok());
  std::filesystem::copy(fixture, blocks_dir + "/" + meta->ulid.ToString());
  // The fixture's traces: ids i*7+1, 1-4 spans of svc<i%3>, i < 60.
  StoreOptions o = Options(dir.path(), &reg);
  o.split_window = std::chrono::milliseconds(1);  // the old block is not in it
  auto s = TraceStore::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // Late parts: trace 8 (i = 1, 2 spans) in a new (version-3) block, 15
  // (i = 2, 3 spans) in the head; trace 1000 new.
  Push(**s, {PartOf(8, 2, 4, "late"), MakeTrace(1000, 2, "new")});
  ASSERT_TRUE((*s)->CutAll(true).ok());
  Push(**s, {PartOf(15, 3, 5, "late")});
  auto blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0]->index_version(), 2);
  EXPECT_EQ(blocks[1]->index_version(), 3);

  // Head ↔ version-2 block: found through the ids (read: the old path).
  const uint64_t pages0 = BlockReader::IdPagesRead();
  auto plan = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok());
  Passed p = ScanAll(**plan);
  EXPECT_GT(BlockReader::IdPagesRead(), pages0);
  EXPECT_EQ(p.traces.size(), 61u);
  for (const auto& [id, n] : p.times) EXPECT_EQ(n, id == TraceId(8) ? 2 : 1);
  EXPECT_EQ(p.traces.at(TraceId(15)).spans.size(), 5u);
  EXPECT_EQ(p.traces.at(TraceId(1000)).spans.size(), 2u);
  // Version-3 block ↔ version-2 block outside the window: not linked, the
  // two parts are passed apart (combined by trace id in results).
  EXPECT_TRUE(blocks[1]->split_links().empty());
  ASSERT_TRUE((*s)->Close().ok());

  // With a window that holds the old block, the restart reads its ids once
  // and the next cut links to it.
  telemetry::Registry reg2;
  o.registry = &reg2;
  o.split_window = std::chrono::hours(24 * 365 * 100);
  auto s2 = TraceStore::Open(o);
  ASSERT_TRUE(s2.ok());
  Push(**s2, {PartOf(22, 4, 6, "late")});  // i = 3: 4 spans in the fixture
  ASSERT_TRUE((*s2)->CutAll(true).ok());
  blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[2]->split_links().Find(TraceId(22)),
            std::vector<blocks::Ulid>{blocks[0]->meta().ulid});
  auto plan2 = (*s2)->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan2.ok());
  Passed p2 = ScanAll(**plan2);
  EXPECT_EQ(p2.traces.at(TraceId(22)).spans.size(), 6u);
  EXPECT_EQ(p2.traces.at(TraceId(15)).spans.size(), 5u);
  for (const auto& [id, n] : p2.times) EXPECT_EQ(n, id == TraceId(8) ? 2 : 1);
  ASSERT_TRUE((*s2)->Close().ok());
}

TEST(SplitTest, WindowCapShrinksTheWindowAndCountsIt) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  StoreOptions o = Options(dir.path(), &reg);
  o.split_window_max_ids = 30;
  auto s = TraceStore::Open(o);
  ASSERT_TRUE(s.ok());
  // A (20 ids), B (20 ids): A leaves the window early; C's late part of a
  // trace of A is not linked, one of B's is.
  std::vector<Trace> a, b;
  for (uint64_t id = 1; id <= 20; ++id) a.push_back(MakeTrace(id, 2, "a", kT0 + id * kSec));
  for (uint64_t id = 101; id <= 120; ++id) b.push_back(MakeTrace(id, 2, "b", kT0 + id * kSec));
  Push(**s, std::move(a));
  ASSERT_TRUE((*s)->CutAll(true).ok());
  Push(**s, std::move(b));
  ASSERT_TRUE((*s)->CutAll(true).ok());
  Push(**s, {PartOf(5, 2, 3, "late"), PartOf(105, 2, 3, "late")});
  ASSERT_TRUE((*s)->CutAll(true).ok());
  auto blocks = OpenBlocks(dir.path());
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_TRUE(blocks[2]->split_links().Find(TraceId(5)).empty());
  EXPECT_EQ(blocks[2]->split_links().Find(TraceId(105)),
            std::vector<blocks::Ulid>{blocks[1]->meta().ulid});
  const std::string text = reg.Expose();
  EXPECT_NE(text.find("sightline_traces_split_window_shrunk_blocks_total{tenant=\"t\"} 1"),
            std::string::npos)
      << text;
  ASSERT_TRUE((*s)->Close().ok());
}

TEST(SplitTest, SplitWindowLinksHoldersAndExpiry) {
  sightline::testing::TempDir dir;
  io::Env* env = io::Env::Default();
  // Two blocks written directly, A then B; B's links say trace 3 continues A.
  auto write = [&](std::vector<uint64_t> ids, const SplitLinks* links) {
    std::vector<Trace> ts;
    for (uint64_t id : ids) ts.push_back(MakeTrace(id, 1, "s"));
    std::vector<const Trace*> ptrs;
    for (const auto& t : ts) ptrs.push_back(&t);
    BlockWriteOptions bo;
    bo.links = links;
    auto meta = WriteBlock(env, dir.path(), "t", ptrs, bo);
    EXPECT_TRUE(meta.ok());
    auto r = BlockReader::Open(LocalBlockFiles(env, dir.path() + "/" + meta->ulid.ToString()), *meta);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::shared_ptr<BlockReader>(std::move(r).value());
  };
  auto a = write({1, 2, 3}, nullptr);
  SplitLinks lb;
  lb.Add(TraceId(3), {a->meta().ulid});
  lb.Sort();
  auto b = write({3, 4}, &lb);
  ASSERT_EQ(b->split_links().Find(TraceId(3)), std::vector<blocks::Ulid>{a->meta().ulid});

  SplitWindow w(/*window_ms=*/1000, /*max_ids=*/100);
  std::vector<uint64_t> fps;
  std::vector<std::string> ids = {TraceId(1), TraceId(2), TraceId(3)};
  auto fps_of = [](const std::vector<std::string>& v) {
    std::vector<uint64_t> out;
    for (const auto& id : v) out.push_back(SplitWindow::Fingerprint(id));
    return out;
  };
  w.Add(a, 10'000, fps_of(ids), 10'000);
  w.Add(b, 10'500, fps_of({TraceId(3), TraceId(4)}), 10'500);
  EXPECT_EQ(w.blocks(), 2u);
  EXPECT_EQ(w.ids(), 5u);
  // Trace 3 is held by B (newest) and, through B's links, A.
  auto h = w.Holders(TraceId(3));
  std::sort(h.begin(), h.end());
  EXPECT_EQ(h, (std::vector<blocks::Ulid>{a->meta().ulid, b->meta().ulid}));
  EXPECT_EQ(w.Holders(TraceId(1)), std::vector<blocks::Ulid>{a->meta().ulid});
  EXPECT_TRUE(w.Holders(TraceId(9)).empty());
  std::vector<Trace> head = {MakeTrace(9, 1), MakeTrace(1, 1), MakeTrace(3, 1)};
  std::vector<HeadSplit> hs = w.HeadSplits(head);
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].first, TraceId(1));
  EXPECT_EQ(hs[0].second, std::vector<blocks::Ulid>{a->meta().ulid});
  EXPECT_EQ(hs[1].first, TraceId(3));
  EXPECT_EQ(hs[1].second.size(), 2u);
  // A cut's links: one probe per trace; fingerprints for Add.
  std::vector<BlockTrace> cut(3);
  std::vector<std::string> cut_ids = {TraceId(4), TraceId(3), TraceId(8)};
  for (size_t i = 0; i < 3; ++i) cut[i].trace_id = cut_ids[i];
  SplitLinks l = w.Links(cut, &fps);
  EXPECT_EQ(fps, fps_of(cut_ids));
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_EQ(std::string(l.entries[0].id, 16), TraceId(3));  // sorted
  auto l3 = l.Find(TraceId(3));
  std::sort(l3.begin(), l3.end());
  EXPECT_EQ(l3, (std::vector<blocks::Ulid>{a->meta().ulid, b->meta().ulid}));
  EXPECT_EQ(l.Find(TraceId(4)), std::vector<blocks::Ulid>{b->meta().ulid});
  // A leaves the window (cut at 10 000, window 1 s); B stays until 11 500.
  w.Expire(11'200);
  EXPECT_EQ(w.blocks(), 1u);
  EXPECT_EQ(w.Holders(TraceId(1)), std::vector<blocks::Ulid>{});
  h = w.Holders(TraceId(3));  // B's links still name A
  EXPECT_EQ(h.size(), 2u);
  w.Expire(12'000);
  EXPECT_EQ(w.blocks(), 0u);
  EXPECT_TRUE(w.Holders(TraceId(3)).empty());
  EXPECT_EQ(w.MemoryBytes(), 0u);
  // Many blocks through the table: rehashes keep every live id.
  SplitWindow big(1'000'000, 1'000'000);
  for (int k = 0; k < 50; ++k) {
    std::vector<uint64_t> f;
    for (uint64_t i = 0; i < 1000; ++i) f.push_back(SplitWindow::Fingerprint(TraceId(k * 1000 + i)));
    big.Add(a, k, f, k);
  }
  EXPECT_EQ(big.ids(), 50'000u);
  for (uint64_t i = 0; i < 50'000; i += 7) EXPECT_FALSE(big.Holders(TraceId(i)).empty()) << i;
}

}  // namespace
}  // namespace sightline::traces::store
