// The store's per-query plan (TraceStore::PlanScan, sharded_scan.h) that the
// progressive search and the streaming querier read job by job: shard order
// (head, then blocks newest first), time pruning, and traces split over the
// head and several blocks passed once and whole. Then traceql::SearchJobs
// over it: one progress per job, the union equal to the one-shot Search over
// the store's plain Scan.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "harness/harness.h"
#include "telemetry/metrics.h"
#include "traces/store/store.h"
#include "traces/test_traces.h"
#include "traces/traceql/engine.h"

namespace sightline::traces::store {
namespace {

using traces::testing::MakeTrace;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kSec = 1'000'000'000ull;

StoreOptions Options(const std::string& dir, telemetry::Registry* reg) {
  StoreOptions o;
  o.data_dir = dir;
  o.run_maintenance = false;
  o.registry = reg;
  o.blocklist_poll = std::chrono::milliseconds(0);
  return o;
}

void PushOne(TraceStore& s, Trace t) {
  std::vector<Trace> v;
  v.push_back(std::move(t));
  ingest::PushResult pr;
  ASSERT_TRUE(s.Push("t", std::move(v), &pr).ok());
}

// Trace 1 in three parts: spans 1-2 in the oldest block, 3-4 in the next,
// 5-6 in the head. Traces 2..4 only in the second block, 5 only in the head.
std::unique_ptr<TraceStore> SplitStore(const std::string& dir, telemetry::Registry* reg) {
  auto s = TraceStore::Open(Options(dir, reg));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  TraceStore& st = **s;
  PushOne(st, MakeTrace(1, 2, "legacy", kT0));
  EXPECT_TRUE(st.CutAll(true).ok());
  Trace mid = MakeTrace(1, 4, "checkout", kT0);
  mid.spans.erase(mid.spans.begin(), mid.spans.begin() + 2);
  PushOne(st, mid);
  for (uint64_t id = 2; id <= 4; ++id) PushOne(st, MakeTrace(id, 3, "checkout", kT0 + id * kSec));
  EXPECT_TRUE(st.CutAll(true).ok());
  Trace late = MakeTrace(1, 6, "checkout", kT0);
  late.spans.erase(late.spans.begin(), late.spans.begin() + 4);
  PushOne(st, late);
  PushOne(st, MakeTrace(5, 2, "checkout", kT0 + 10 * kSec));
  return std::move(s).value();
}

std::map<std::string, size_t> ScanJob(ShardedTraceSource& plan, size_t first, size_t last,
                                      const ScanParams& p = {}) {
  std::map<std::string, size_t> got;  // trace id -> spans
  Status st = plan.ScanShards(first, last, p, [&](const Trace& t) {
    EXPECT_TRUE(got.emplace(t.trace_id, t.spans.size()).second) << "passed twice in a job";
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return got;
}

TEST(StreamingShardsTest, HeadFirstBlocksNewestFirstSplitTracesWholeAndOnce) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto store = SplitStore(dir.path(), &reg);
  auto plan = store->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const auto& shards = (*plan)->shards();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_TRUE(shards[0].head);
  EXPECT_EQ(shards[0].traces, 2u);
  EXPECT_FALSE(shards[1].head);
  EXPECT_EQ(shards[1].traces, 4u);  // traces 1 (part), 2, 3, 4
  EXPECT_EQ(shards[2].traces, 1u);  // the oldest block: trace 1's first part
  EXPECT_GE(shards[1].max_time_unix_nano, shards[2].max_time_unix_nano);

  auto head = ScanJob(**plan, 0, 1);
  // Trace 1 assembled from the head and both blocks; trace 5 as it is.
  EXPECT_EQ(head, (std::map<std::string, size_t>{{traces::testing::TraceId(1), 6},
                                                 {traces::testing::TraceId(5), 2}}));
  auto mid = ScanJob(**plan, 1, 2);
  EXPECT_EQ(mid.size(), 3u);  // 2, 3, 4; trace 1 was passed already
  EXPECT_FALSE(mid.count(traces::testing::TraceId(1)));
  EXPECT_TRUE(ScanJob(**plan, 2, 3).empty());

  // A new plan read from the oldest block only still sees trace 1 whole.
  auto plan2 = store->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan2.ok());
  auto old = ScanJob(**plan2, 2, 3);
  EXPECT_EQ(old, (std::map<std::string, size_t>{{traces::testing::TraceId(1), 6}}));

  // Hints that hold for the whole trace but not for a block's part of it
  // (the middle block has no "legacy"): trace 1 is still found there.
  auto plan3 = store->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan3.ok());
  ScanParams p;
  p.hints.equalities.push_back({"resource", "service.name", "legacy"});
  auto pruned = ScanJob(**plan3, 1, 2, p);
  EXPECT_TRUE(pruned.count(traces::testing::TraceId(1)));
  EXPECT_EQ(pruned[traces::testing::TraceId(1)], 6u);
}

TEST(StreamingShardsTest, TimeRangePrunesBlocks) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto s = TraceStore::Open(Options(dir.path(), &reg));
  ASSERT_TRUE(s.ok());
  for (uint64_t b = 0; b < 5; ++b) {
    PushOne(**s, MakeTrace(10 + b, 2, "checkout", kT0 + b * 100 * kSec));
    ASSERT_TRUE((*s)->CutAll(true).ok());
  }
  auto all = (*s)->PlanScan("t", 0, 0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ((*all)->shards().size(), 5u);
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_GT((*all)->shards()[i - 1].min_time_unix_nano, (*all)->shards()[i].min_time_unix_nano)
        << "blocks newest first";
  }
  // [t0+150s, t0+350s): the blocks of t0+200s and t0+300s.
  auto some = (*s)->PlanScan("t", kT0 + 150 * kSec, kT0 + 350 * kSec);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ((*some)->shards().size(), 2u);
  auto got = ScanJob(**some, 0, 2);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_TRUE(got.count(traces::testing::TraceId(12)));
  EXPECT_TRUE(got.count(traces::testing::TraceId(13)));
  // An unknown tenant plans nothing.
  auto none = (*s)->PlanScan("nobody", 0, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->shards().empty());
}

TEST(StreamingShardsTest, SearchJobsStreamsPerJobAndMatchesOneShotSearch) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto store = SplitStore(dir.path(), &reg);
  for (const char* q : {"{ }", "{ resource.service.name = \"legacy\" }",
                        "{ span.http.method = \"GET\" } | count() > 3"}) {
    SCOPED_TRACE(q);
    traceql::SearchRequest req;
    req.query = q;
    req.limit = 100;
    auto source = store->Source("t");
    auto one_shot = traceql::Search(*source, req);
    ASSERT_TRUE(one_shot.ok()) << one_shot.status().ToString();
    auto plan = store->PlanScan("t", 0, 0);
    ASSERT_TRUE(plan.ok());
    traceql::SearchJobOptions jo;
    jo.target_bytes_per_job = 1;
    std::vector<traceql::SearchProgress> progress;
    auto jobs = traceql::SearchJobs(**plan, req, jo, [&](traceql::SearchProgress& p) {
      progress.push_back(p);
      return true;
    });
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    ASSERT_EQ(progress.size(), 3u);  // head, two blocks
    std::set<std::string> streamed;
    for (size_t i = 0; i < progress.size(); ++i) {
      EXPECT_EQ(progress[i].metrics.completed_jobs, i + 1);
      EXPECT_EQ(progress[i].metrics.total_jobs, 3u);
      for (const auto& t : progress[i].traces) EXPECT_TRUE(streamed.insert(t.trace_id).second);
    }
    std::set<std::string> want, final_ids;
    for (const auto& t : one_shot->traces) want.insert(t.trace_id);
    for (const auto& t : jobs->traces) final_ids.insert(t.trace_id);
    EXPECT_EQ(streamed, want);
    EXPECT_EQ(final_ids, want);
    EXPECT_EQ(jobs->metrics.total_blocks, 2u);
  }
  // Cancellation between jobs and inside one.
  auto plan = store->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok());
  traceql::SearchRequest req;
  int calls = 0;
  auto r = traceql::SearchJobs(**plan, req, {}, [&](traceql::SearchProgress&) {
    ++calls;
    return false;
  });
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

// Instant queries run as the same jobs as query_range (Tempo >= 2.7: one
// step over [start, end)); over data spread across the head and two blocks
// the jobs' answer equals the unsplit evaluation over the store's plain
// Scan, and each job but the last reports progress.
TEST(StreamingShardsTest, InstantJobsEqualUnsplitEvaluation) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto store = SplitStore(dir.path(), &reg);
  for (const char* q : {"{ } | count_over_time() by (resource.service.name)", "{ } | rate()",
                        "{ } | sum_over_time(duration) by (name)",
                        "{ } | quantile_over_time(duration, .5, .9)",
                        "{ } | max_over_time(duration) by (span:id)"}) {
    SCOPED_TRACE(q);
    traceql::MetricsRequest req;
    req.query = q;
    req.start_unix_nano = kT0 - kSec;
    req.end_unix_nano = kT0 + 60 * kSec;
    auto source = store->Source("t");
    auto unsplit = traceql::MetricsQueryInstant(*source, req);
    ASSERT_TRUE(unsplit.ok()) << unsplit.status().ToString();
    auto range = traceql::MetricsInstantScanRange(req);
    ASSERT_TRUE(range.ok());
    auto plan = store->PlanScan("t", range->first, range->second);
    ASSERT_TRUE(plan.ok());
    traceql::SearchJobOptions jo;
    jo.target_bytes_per_job = 1;
    std::vector<traceql::InstantProgress> progress;
    auto jobs = traceql::MetricsQueryInstantJobs(**plan, req, jo, [&](traceql::InstantProgress& p) {
      progress.push_back(p);
      return true;
    });
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    ASSERT_EQ(progress.size(), 2u);  // after the head and the newest block
    EXPECT_EQ(progress[0].metrics.completed_jobs, 1u);
    EXPECT_EQ(progress[1].metrics.completed_jobs, 2u);
    EXPECT_EQ(jobs->metrics.completed_jobs, 3u);
    EXPECT_EQ(jobs->metrics.total_jobs, 3u);
    EXPECT_FALSE(jobs->partial);
    ASSERT_EQ(jobs->series.size(), unsplit->series.size());
    ASSERT_FALSE(jobs->series.empty());
    for (size_t i = 0; i < jobs->series.size(); ++i) {
      EXPECT_EQ(jobs->series[i].prom_labels, unsplit->series[i].prom_labels);
      EXPECT_DOUBLE_EQ(jobs->series[i].value, unsplit->series[i].value)
          << jobs->series[i].prom_labels;
    }
  }
  // The counts themselves: 17 spans (trace 1's six parts assembled once).
  traceql::MetricsRequest req;
  req.query = "{ } | count_over_time()";
  req.start_unix_nano = kT0 - kSec;
  req.end_unix_nano = kT0 + 60 * kSec;
  auto plan = store->PlanScan("t", req.start_unix_nano, req.end_unix_nano);
  ASSERT_TRUE(plan.ok());
  traceql::SearchJobOptions jo;
  jo.target_bytes_per_job = 1;
  auto r = traceql::MetricsQueryInstantJobs(**plan, req, jo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].value, 17);
  // Cancelled from the progress callback.
  plan = store->PlanScan("t", req.start_unix_nano, req.end_unix_nano);
  ASSERT_TRUE(plan.ok());
  auto c = traceql::MetricsQueryInstantJobs(**plan, req, jo,
                                            [](traceql::InstantProgress&) { return false; });
  EXPECT_EQ(c.status().code(), StatusCode::kCancelled);
}

// max_series (Tempo's query_frontend.metrics.max_response_series): over it
// the answer keeps the first max_series series by promLabels and is marked
// partial with Tempo's message; at or under it, complete.
TEST(StreamingShardsTest, MaxSeriesCutsAndMarksPartial) {
  sightline::testing::TempDir dir;
  telemetry::Registry reg;
  auto store = SplitStore(dir.path(), &reg);
  traceql::MetricsRequest req;
  req.query = "{ } | count_over_time() by (span:id)";  // one series per span: 17
  req.start_unix_nano = kT0 - kSec;
  req.end_unix_nano = kT0 + 60 * kSec;
  req.step_nano = 10 * kSec;
  auto source = store->Source("t");
  auto all = traceql::MetricsQueryRange(*source, req);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->series.size(), 17u);
  EXPECT_FALSE(all->partial);
  for (uint32_t max : {17u, 100u}) {
    req.max_series = max;
    auto r = traceql::MetricsQueryRange(*source, req);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->series.size(), 17u);
    EXPECT_FALSE(r->partial) << max;
    EXPECT_TRUE(r->message.empty());
  }
  req.max_series = 5;
  auto cut = traceql::MetricsQueryRange(*source, req);
  ASSERT_TRUE(cut.ok());
  ASSERT_EQ(cut->series.size(), 5u);
  EXPECT_TRUE(cut->partial);
  EXPECT_EQ(cut->message,
            "Response exceeds maximum series limit of 5, a partial response is returned. "
            "Warning: the accuracy of each individual value is not guaranteed.");
  for (size_t i = 1; i < cut->series.size(); ++i) {
    EXPECT_LT(cut->series[i - 1].prom_labels, cut->series[i].prom_labels);
  }
  // The same through jobs and for instant queries.
  auto plan = store->PlanScan("t", 0, 0);
  ASSERT_TRUE(plan.ok());
  traceql::SearchJobOptions jo;
  jo.target_bytes_per_job = 1;
  auto jobs = traceql::MetricsQueryRangeJobs(**plan, req, jo);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->series.size(), 5u);
  EXPECT_TRUE(jobs->partial);
  EXPECT_EQ(jobs->metrics.completed_jobs, jobs->metrics.total_jobs);
  auto instant = traceql::MetricsQueryInstant(*source, req);
  ASSERT_TRUE(instant.ok());
  EXPECT_EQ(instant->series.size(), 5u);
  EXPECT_TRUE(instant->partial);
  EXPECT_EQ(instant->message, cut->message);
}

// Tempo's default step: range / 240 rounded down to 5 s (1 s under 5 s),
// at least 1 s.
TEST(StreamingShardsTest, DefaultQueryRangeStepAsTempo) {
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 3600 * kSec), 15 * kSec);
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 6 * 3600 * kSec), 90 * kSec);
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 1000 * kSec), 4 * kSec);  // 4.16 s
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 1300 * kSec), 5 * kSec);  // 5.41 s
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 60 * kSec), kSec);
  EXPECT_EQ(traceql::DefaultQueryRangeStep(0, 0), kSec);
}

}  // namespace
}  // namespace sightline::traces::store
