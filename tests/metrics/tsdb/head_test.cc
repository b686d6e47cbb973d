// The in-memory head: append / query semantics against the reference
// in-memory store and against brute-force matcher evaluation, Prometheus's
// rules for duplicates, out-of-order and out-of-bounds samples, staleness
// markers, chunk cutting, exemplars, metadata, limits, truncation.
#include "metrics/tsdb/head.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "head_test_util.h"
#include "metrics/storage/memory_storage.h"

namespace sightline::tsdb {
namespace {

using namespace testutil;  // NOLINT
using metrics::Appender;

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;

HeadOptions SmallOptions() {
  HeadOptions o;
  o.stripes = 16;
  return o;
}

Labels L(std::initializer_list<std::string_view> kv) { return Labels::FromStrings(kv); }

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

TEST(HeadTest, NothingVisibleBeforeCommitEverythingAfter) {
  Head head(SmallOptions());
  auto app = head.NewAppender();
  auto r = app->Append(0, L({"__name__", "up", "job", "a"}), 1000, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(app->Append(*r, Labels(), 2000, 2).ok());  // by ref, labels ignored
  {
    auto q = head.NewQuerier(0, 10'000);
    EXPECT_TRUE(ReadAll(*q, {Eq("__name__", "up")}).series.empty());
  }
  ASSERT_TRUE(app->Commit().ok());
  auto q = head.NewQuerier(0, 10'000);
  Selection got = ReadAll(*q, {Eq("__name__", "up")});
  ASSERT_EQ(got.series.size(), 1u);
  EXPECT_EQ(got.series["{__name__=\"up\", job=\"a\"}"],
            (std::vector<BitsSample>{{1000, Bits(1)}, {2000, Bits(2)}}));

  // Rollback drops the batch.
  auto app2 = head.NewAppender();
  ASSERT_TRUE(app2->Append(0, L({"__name__", "up", "job", "a"}), 3000, 3).ok());
  app2->Rollback();
  auto q2 = head.NewQuerier(0, 10'000);
  EXPECT_EQ(ReadAll(*q2, {Eq("__name__", "up")}).series.begin()->second.size(), 2u);
  EXPECT_EQ(head.Stats().num_series, 1u);
}

TEST(HeadTest, EmptyValuedLabelsAreAbsentAndEmptyLabelSetsRejected) {
  Head head(SmallOptions());
  auto app = head.NewAppender();
  std::vector<Label> raw = {{"__name__", "m"}, {"a", "1"}, {"b", ""}};
  auto r1 = app->Append(0, Labels::FromSortedUnchecked(raw), 1000, 1);
  auto r2 = app->Append(0, L({"__name__", "m", "a", "1"}), 2000, 2);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(*r1, *r2);
  auto r3 = app->Append(0, Labels::FromSortedUnchecked({{"b", ""}}), 1000, 1);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.status().message(), "empty labelset");
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(head.Stats().num_series, 1u);
}

TEST(HeadTest, DuplicateOutOfOrderAndOutOfBoundsFollowPrometheus) {
  HeadOptions o = SmallOptions();
  o.ooo_window_ms = 0;
  Head head(o);
  const Labels s = L({"__name__", "x"});
  auto commit = [&](int64_t t, double v) -> Status {
    auto app = head.NewAppender();
    auto r = app->Append(0, s, t, v);
    if (!r.ok()) return r.status();
    return app->Commit();
  };
  const int64_t t0 = 10 * kHour;
  ASSERT_TRUE(commit(t0, 1).ok());
  EXPECT_TRUE(commit(t0, 1).ok()) << "an exact duplicate is accepted";
  Status dup = commit(t0, 2);
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dup.message(), "duplicate sample for timestamp");
  Status ooo = commit(t0 - 1000, 1);
  EXPECT_EQ(ooo.message(), "out of order sample");
  // A new series older than head max - chunk_range/2.
  auto app = head.NewAppender();
  auto oob = app->Append(0, L({"__name__", "y"}), t0 - kHour - 1, 1);
  ASSERT_FALSE(oob.ok());
  EXPECT_EQ(oob.status().message(), "out of bounds");
  EXPECT_TRUE(app->Append(0, L({"__name__", "y"}), t0 - kHour, 1).ok());
  // Within one batch: a conflicting value for the batch's own newest sample.
  ASSERT_TRUE(app->Append(0, s, t0 + 1000, 5).ok());
  auto conflict = app->Append(0, s, t0 + 1000, 6);
  EXPECT_EQ(conflict.status().message(), "duplicate sample for timestamp");
  EXPECT_TRUE(app->Append(0, s, t0 + 1000, 5).ok());
  ASSERT_TRUE(app->Commit().ok());

  // Staleness markers compare bit for bit.
  ASSERT_TRUE(commit(t0 + 2000, metrics::StaleNaN()).ok());
  EXPECT_TRUE(commit(t0 + 2000, metrics::StaleNaN()).ok());
  EXPECT_EQ(commit(t0 + 2000, std::nan("")).message(), "duplicate sample for timestamp");

  auto q = head.NewQuerier(0, t0 + 10'000);
  Selection got = ReadAll(*q, {Eq("__name__", "x")});
  EXPECT_EQ(got.series["{__name__=\"x\"}"],
            (std::vector<BitsSample>{
                {t0, Bits(1)}, {t0 + 1000, Bits(5)}, {t0 + 2000, metrics::kStaleNaNBits}}));

  // Below the minimum valid time (end of the last block): out of bounds.
  head.RaiseMinValidTime(t0 + 5000);
  auto app2 = head.NewAppender();
  EXPECT_EQ(app2->Append(0, L({"__name__", "z"}), t0 + 4999, 1).status().message(),
            "out of bounds");
}

TEST(HeadTest, OutOfOrderWindowAcceptsAndMergesOnRead) {
  HeadOptions o = SmallOptions();
  o.ooo_window_ms = 10 * kMin;
  Head head(o);
  const Labels s = L({"__name__", "x"});
  auto app = head.NewAppender();
  for (int i = 0; i <= 60; ++i) ASSERT_TRUE(app->Append(0, s, i * kMin, i).ok());
  ASSERT_TRUE(app->Commit().ok());

  app = head.NewAppender();
  // Within the window (head max 60m, window back to 50m).
  EXPECT_TRUE(app->Append(0, s, 55 * kMin + 30'000, 555).ok());
  EXPECT_TRUE(app->Append(0, s, 50 * kMin + 1, 501).ok());
  // Same timestamp as an in-order sample: accepted, but the in-order one wins.
  EXPECT_TRUE(app->Append(0, s, 52 * kMin, 999).ok());
  // Older than the window.
  EXPECT_EQ(app->Append(0, s, 45 * kMin, 1).status().message(), "out of order sample");
  ASSERT_TRUE(app->Commit().ok());
  // A second out-of-order sample at a taken timestamp is dropped silently.
  app = head.NewAppender();
  EXPECT_TRUE(app->Append(0, s, 55 * kMin + 30'000, 777).ok());
  ASSERT_TRUE(app->Commit().ok());

  auto q = head.NewQuerier(50 * kMin, 56 * kMin);
  Selection got = ReadAll(*q, {Eq("__name__", "x")});
  std::vector<BitsSample> want = {
      {50 * kMin, Bits(50)}, {50 * kMin + 1, Bits(501)},      {51 * kMin, Bits(51)},
      {52 * kMin, Bits(52)}, {53 * kMin, Bits(53)},           {54 * kMin, Bits(54)},
      {55 * kMin, Bits(55)}, {55 * kMin + 30'000, Bits(555)}, {56 * kMin, Bits(56)}};
  EXPECT_EQ(got.series["{__name__=\"x\"}"], want);
  EXPECT_TRUE(got.error.empty()) << got.error;

  // Seek lands on out-of-order samples too.
  auto set = q->Select(true, nullptr, {Eq("__name__", "x")});
  ASSERT_TRUE(set->Next());
  auto it = set->At().Iterator();
  ASSERT_TRUE(it->Seek(55 * kMin + 1));
  EXPECT_EQ(it->t(), 55 * kMin + 30'000);
  ASSERT_TRUE(it->Next());
  EXPECT_EQ(it->t(), 56 * kMin);
  EXPECT_FALSE(it->Next());
  EXPECT_FALSE(it->Seek(0));
}

TEST(HeadTest, ChunksAreCutAt120SamplesAndAtRangeBoundaries) {
  HeadOptions o = SmallOptions();
  o.chunk_range_ms = 2 * kHour;
  Head head(o);
  const Labels s = L({"__name__", "x"});
  auto app = head.NewAppender();
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(app->Append(0, s, i * 1000, i).ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(head.Stats().num_chunks, 3u);  // 120 + 120 + 10

  // A series across the 2h boundary: the chunk is cut there.
  const Labels b = L({"__name__", "y"});
  app = head.NewAppender();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(app->Append(0, b, 2 * kHour - 10'000 + i * 1000, i).ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(head.Stats().num_chunks, 5u);

  std::vector<SeriesInput> in;
  ASSERT_TRUE(head.SeriesForBlock(0, 2 * kHour, &in).ok());
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in[0].labels, s);
  ASSERT_EQ(in[0].chunks.size(), 3u);
  EXPECT_EQ(in[0].chunks[0].min_time, 0);
  EXPECT_EQ(in[0].chunks[0].max_time, 119'000);
  EXPECT_EQ(in[0].chunks[2].max_time, 249'000);
  EXPECT_TRUE(in[0].samples.empty());
  ASSERT_EQ(in[1].chunks.size(), 1u);
  EXPECT_EQ(in[1].chunks[0].max_time, 2 * kHour - 1000);
  chunkenc::XorIterator it(in[1].chunks[0].data);
  int n = 0;
  while (it.Next()) ++n;
  EXPECT_EQ(n, 10);
}

TEST(HeadTest, StaleMarkersAndNaNPayloadsSurviveBitForBit) {
  Head head(SmallOptions());
  const std::vector<uint64_t> values = {
      metrics::kStaleNaNBits, 0x7ff8000000000001ull, Bits(-0.0), Bits(INFINITY), Bits(1.5),
      metrics::kStaleNaNBits};
  auto app = head.NewAppender();
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(
        app->Append(0, L({"__name__", "s"}), 1000 * (i + 1), std::bit_cast<double>(values[i]))
            .ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  auto q = head.NewQuerier(0, 100'000);
  auto got = ReadAll(*q, {Eq("__name__", "s")}).series.begin()->second;
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(got[i].second, values[i]) << i;
}

// Every matcher combination against brute force: a series matches when
// every matcher matches its value for the name ("" when absent).
TEST(HeadTest, MatchersFollowPrometheusEmptyValueSemantics) {
  Head head(SmallOptions());
  std::vector<Labels> all = {
      L({"__name__", "a", "job", "x"}),
      L({"__name__", "a", "job", "y", "env", "prod"}),
      L({"__name__", "a"}),
      L({"__name__", "b", "job", "x", "env", "prod"}),
      L({"__name__", "b", "env", "dev"}),
      L({"__name__", "c", "job", "xy", "path", "/a\nb"}),
  };
  auto app = head.NewAppender();
  for (const Labels& l : all) ASSERT_TRUE(app->Append(0, l, 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  const std::vector<std::string> names = {"__name__", "job", "env", "nope", "path"};
  const std::vector<std::string> values = {"",   "a",  "x",   "prod", "x|",     "x.*",
                                           ".*", ".+", "y|x", "nope", "(?s).*b"};
  const std::vector<MatchType> types = {MatchType::kEqual, MatchType::kNotEqual, MatchType::kRegexp,
                                        MatchType::kNotRegexp};
  std::vector<promql::Matcher> single;
  for (const auto& n : names) {
    for (const auto& v : values) {
      for (MatchType t : types) {
        if ((t == MatchType::kEqual || t == MatchType::kNotEqual) &&
            v.find_first_of("|*+(") != std::string::npos)
          continue;
        single.push_back(M(t, n, v));
      }
    }
  }
  auto check = [&](const std::vector<promql::Matcher>& ms) {
    std::set<std::string> want;
    for (const Labels& l : all) {
      bool ok = true;
      for (const auto& m : ms) ok = ok && m.Matches(l.Get(m.name()));
      if (ok) want.insert(l.ToString());
    }
    auto q = head.NewQuerier(0, 10'000);
    Selection got = ReadAll(*q, ms);
    std::set<std::string> have(got.order.begin(), got.order.end());
    EXPECT_EQ(have, want) << Describe(ms);
    EXPECT_TRUE(got.sorted) << Describe(ms);
  };
  std::mt19937 rng(7);
  for (const auto& m : single) check({m});
  for (int i = 0; i < 400; ++i) {
    std::vector<promql::Matcher> ms;
    int n = 2 + static_cast<int>(rng() % 2);
    for (int k = 0; k < n; ++k) ms.push_back(single[rng() % single.size()]);
    check(ms);
  }
  // No matchers select nothing.
  auto q = head.NewQuerier(0, 10'000);
  EXPECT_TRUE(ReadAll(*q, {}).series.empty());
}

// Random data appended to the head and to the reference store must read
// back the same through random selections and time ranges.
TEST(HeadTest, DifferentialAgainstMemoryStorage) {
  HeadOptions o = SmallOptions();
  o.chunk_range_ms = 30 * kMin;  // many range boundaries
  Head head(o);
  metrics::MemoryStorage ref;
  std::mt19937_64 rng(12345);
  const std::vector<std::string> jobs = {"api", "web", "db", ""};
  const std::vector<std::string> envs = {"prod", "dev", ""};
  std::vector<Labels> series;
  for (int i = 0; i < 120; ++i) {
    LabelsBuilder b;
    b.Set("__name__", i % 3 == 0 ? "requests_total" : (i % 3 == 1 ? "latency" : "up"));
    b.Set("job", jobs[rng() % jobs.size()]);
    b.Set("env", envs[rng() % envs.size()]);
    b.Set("instance", "10.0.0." + std::to_string(i));
    if (i % 7 == 0) b.Set("extra", "v" + std::to_string(i % 3));
    series.push_back(b.Build());
  }
  std::vector<uint64_t> refs(series.size(), 0);
  int64_t t = 1'700'000'000'000;
  const int64_t start = t;
  for (int step = 0; step < 400; ++step) {
    t += 15'000 + static_cast<int64_t>(rng() % 1000);
    auto happ = head.NewAppender();
    auto rapp = ref.NewAppender("t");
    for (size_t i = 0; i < series.size(); ++i) {
      if (rng() % 10 == 0) continue;  // gaps
      double v = static_cast<double>(rng() % 100000) / 7;
      if (rng() % 50 == 0) v = metrics::StaleNaN();
      const int64_t ts = t + static_cast<int64_t>(i);
      auto hr = happ->Append(refs[i], series[i], ts, v);
      ASSERT_TRUE(hr.ok()) << hr.status().ToString();
      refs[i] = *hr;
      ASSERT_TRUE(rapp->Append(0, series[i], ts, v).ok());
      if (rng() % 20 == 0) {  // an exact duplicate: both accept
        ASSERT_TRUE(happ->Append(refs[i], series[i], ts, v).ok());
        ASSERT_TRUE(rapp->Append(0, series[i], ts, v).ok());
      }
    }
    ASSERT_TRUE(happ->Commit().ok());
    ASSERT_TRUE(rapp->Commit().ok());
  }
  const int64_t end = t + 1000;
  std::vector<std::vector<promql::Matcher>> selections = {
      {Eq("__name__", "up")},
      {Re("__name__", ".+")},
      {Eq("job", "")},
      {Re("__name__", "up|latency"), Neq("env", "prod")},
      {Nre("job", "api|web"), Re("instance", "10\\.0\\.0\\.1.*")},
      {Eq("extra", "v1")},
      {Re("env", "dev|"), Eq("__name__", "requests_total")},
      {Neq("job", "")},
  };
  for (int k = 0; k < 60; ++k) {
    const auto& ms = selections[k % selections.size()];
    int64_t a = start + static_cast<int64_t>(rng() % static_cast<uint64_t>(end - start));
    int64_t b = a + static_cast<int64_t>(rng() % static_cast<uint64_t>(end - a + 1));
    if (k < static_cast<int>(selections.size())) {
      a = start;
      b = end;
    }
    auto hq = head.NewQuerier(a, b);
    auto rq = ref.NewQuerier("t", a, b);
    ASSERT_TRUE(rq.ok());
    Selection hs = ReadAll(*hq, ms);
    Selection rs = ReadAll(**rq, ms);
    EXPECT_TRUE(hs.error.empty()) << hs.error;
    EXPECT_TRUE(hs.sorted);
    EXPECT_EQ(hs.order, rs.order) << Describe(ms) << " [" << a << ", " << b << "]";
    EXPECT_TRUE(hs.series == rs.series) << Describe(ms) << " [" << a << ", " << b << "]";
  }
  // Label names / values over the whole range.
  auto hq = head.NewQuerier(start, end);
  auto rq = ref.NewQuerier("t", start, end);
  for (const auto& ms : selections) {
    EXPECT_EQ(*hq->LabelNames(ms), *(*rq)->LabelNames(ms)) << Describe(ms);
    for (const char* name : {"job", "env", "instance", "nope"}) {
      EXPECT_EQ(*hq->LabelValues(name, ms), *(*rq)->LabelValues(name, ms)) << name << Describe(ms);
    }
  }
  EXPECT_EQ(*hq->LabelNames({}), *(*rq)->LabelNames({}));
  EXPECT_EQ(*hq->LabelValues("job", {}), *(*rq)->LabelValues("job", {}));

  // Seek agrees with a linear scan.
  auto set = hq->Select(true, nullptr, {Eq("__name__", "up")});
  while (set->Next()) {
    auto all = set->At().Iterator();
    std::vector<int64_t> ts;
    while (all->Next()) ts.push_back(all->t());
    auto it = set->At().Iterator();
    int64_t target = start;
    while (true) {
      target += static_cast<int64_t>(rng() % 200'000);
      auto want = std::lower_bound(ts.begin(), ts.end(), target);
      bool ok = it->Seek(target);
      ASSERT_EQ(ok, want != ts.end());
      if (!ok) break;
      ASSERT_EQ(it->t(), *want);
      target = it->t();
    }
  }
}

TEST(HeadTest, ExemplarsAreStoredValidatedAndQueried) {
  HeadOptions o = SmallOptions();
  o.max_exemplars = 3;
  Head head(o);
  const Labels s = L({"__name__", "req_bucket", "le", "1"});
  auto ex = [](double v, int64_t t, std::string trace) {
    metrics::Exemplar e;
    e.labels = Labels::FromStrings({"trace_id", trace});
    e.value = v;
    e.timestamp_ms = t;
    e.has_timestamp = true;
    return e;
  };
  auto app = head.NewAppender();
  auto r = app->Append(0, s, 1000, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(app->AppendExemplar(*r, s, ex(0.5, 1000, "a")).ok());
  EXPECT_TRUE(head.QueryExemplars(0, 10'000, {{Eq("__name__", "req_bucket")}})->empty())
      << "not visible before commit";
  ASSERT_TRUE(app->Commit().ok());
  auto got = head.QueryExemplars(0, 10'000, {{Eq("__name__", "req_bucket")}});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].series_labels, s);
  ASSERT_EQ((*got)[0].exemplars.size(), 1u);
  EXPECT_EQ((*got)[0].exemplars[0].labels.Get("trace_id"), "a");

  app = head.NewAppender();
  EXPECT_TRUE(app->AppendExemplar(*r, s, ex(0.5, 1000, "a")).ok()) << "duplicate accepted";
  EXPECT_EQ(app->AppendExemplar(*r, s, ex(0.5, 999, "b")).message(), "out of order exemplar");
  Status too_long = app->AppendExemplar(*r, s, ex(1, 2000, std::string(130, 'x')));
  EXPECT_EQ(too_long.code(), StatusCode::kInvalidArgument);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(app->AppendExemplar(*r, s, ex(i, 2000 + i, "t" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  got = head.QueryExemplars(0, 10'000, {{Re("le", ".+")}});
  ASSERT_EQ(got->size(), 1u);
  // Ring of 3: the three newest.
  ASSERT_EQ((*got)[0].exemplars.size(), 3u);
  EXPECT_EQ((*got)[0].exemplars[0].timestamp_ms, 2001);
  EXPECT_EQ((*got)[0].exemplars[2].timestamp_ms, 2003);
  EXPECT_TRUE(head.QueryExemplars(0, 10'000, {{Eq("__name__", "other")}})->empty());
  EXPECT_EQ(
      head.QueryExemplars(2002, 2002, {{Eq("__name__", "req_bucket")}})->at(0).exemplars.size(),
      1u);
}

TEST(HeadTest, MetadataPerMetricFamily) {
  Head head(SmallOptions());
  auto app = head.NewAppender();
  ASSERT_TRUE(app->UpdateMetadata("http_requests_total", {"counter", "Requests.", ""}).ok());
  ASSERT_TRUE(app->UpdateMetadata("mem_bytes", {"gauge", "Memory.", "bytes"}).ok());
  EXPECT_TRUE(head.Metadata("", -1).empty()) << "not visible before commit";
  ASSERT_TRUE(app->Commit().ok());
  auto all = head.Metadata("", -1);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all["mem_bytes"][0].unit, "bytes");
  EXPECT_EQ(head.Metadata("", 1).size(), 1u);
  EXPECT_EQ(head.Metadata("", 0).size(), 0u);
  auto one = head.Metadata("http_requests_total", -1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one["http_requests_total"][0].type, "counter");
  app = head.NewAppender();
  ASSERT_TRUE(app->UpdateMetadata("mem_bytes", {"gauge", "Resident memory.", "bytes"}).ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(head.Metadata("mem_bytes", -1)["mem_bytes"][0].help, "Resident memory.");
}

TEST(HeadTest, SeriesLimitRejectsNewSeriesOnly) {
  HeadOptions o = SmallOptions();
  o.max_series = 2;
  Head head(o);
  auto app = head.NewAppender();
  ASSERT_TRUE(app->Append(0, L({"__name__", "a"}), 1000, 1).ok());
  ASSERT_TRUE(app->Append(0, L({"__name__", "b"}), 1000, 1).ok());
  auto r = app->Append(0, L({"__name__", "c"}), 1000, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "per-tenant series limit of 2 exceeded");
  EXPECT_TRUE(app->Append(0, L({"__name__", "a"}), 2000, 2).ok());
  ASSERT_TRUE(app->Commit().ok());
  head.SetMaxSeries(3);
  app = head.NewAppender();
  EXPECT_TRUE(app->Append(0, L({"__name__", "c"}), 3000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(head.Stats().num_series, 3u);
}

TEST(HeadTest, TruncateDropsOldChunksAndEmptySeries) {
  HeadOptions o = SmallOptions();
  o.chunk_range_ms = 2 * kHour;
  Head head(o);
  auto app = head.NewAppender();
  for (int64_t t = 0; t <= 3 * kHour + kMin; t += kMin) {
    ASSERT_TRUE(app->Append(0, L({"__name__", "keep", "id", "k"}), t, 1).ok());
    if (t < kHour)
      ASSERT_TRUE(app->Append(0, L({"__name__", "gone", "id", "unique-gone"}), t, 1).ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_TRUE(head.Compactable());
  EXPECT_EQ(head.NextBlockRange(), (std::pair<int64_t, int64_t>{0, 2 * kHour}));
  const size_t symbols_before = head.Stats().num_symbols;
  head.RaiseMinValidTime(2 * kHour);
  ASSERT_TRUE(head.Truncate(2 * kHour).ok());
  HeadStats st = head.Stats();
  EXPECT_EQ(st.num_series, 1u);
  EXPECT_EQ(st.min_time, 2 * kHour);
  EXPECT_LT(st.num_symbols, symbols_before) << "symbols of the removed series are freed";
  auto q = head.NewQuerier(0, 4 * kHour);
  Selection got = ReadAll(*q, {Re("__name__", ".+")});
  ASSERT_EQ(got.series.size(), 1u);
  EXPECT_EQ(got.series.begin()->second.front().first, 2 * kHour);
  EXPECT_EQ(*q->LabelValues("id", {}), std::vector<std::string>{"k"});
  EXPECT_EQ(head.Stats().num_chunks, 1u);
  // A re-created series gets a new ref.
  app = head.NewAppender();
  auto r = app->Append(0, L({"__name__", "gone", "id", "unique-gone"}), 3 * kHour, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(*r, 2u);
  app->Rollback();
}

TEST(HeadTest, ConcurrentAppendersAndQueriers) {
  Head head(SmallOptions());
  constexpr int kThreads = 4, kSeries = 50, kSteps = 200;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      auto q = head.NewQuerier(0, 1'000'000'000);
      Selection s = ReadAll(*q, {Re("__name__", ".+")});
      EXPECT_TRUE(s.error.empty()) << s.error;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kThreads; ++w) {
    writers.emplace_back([&, w] {
      std::vector<uint64_t> refs(kSeries, 0);
      for (int step = 1; step <= kSteps; ++step) {
        auto app = head.NewAppender();
        for (int i = 0; i < kSeries; ++i) {
          auto r = app->Append(refs[i],
                               L({"__name__", "m", "w", std::to_string(w), "i", std::to_string(i)}),
                               step * 1000, step);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          refs[i] = *r;
        }
        ASSERT_TRUE(app->Commit().ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  auto q = head.NewQuerier(0, 1'000'000'000);
  Selection s = ReadAll(*q, {Eq("__name__", "m")});
  ASSERT_EQ(s.series.size(), static_cast<size_t>(kThreads * kSeries));
  for (const auto& [k, v] : s.series) EXPECT_EQ(v.size(), static_cast<size_t>(kSteps)) << k;
}

TEST(HeadTest, OpenTableHandlesHashCollisions) {
  struct Same {
    uint64_t operator()(uint64_t) const { return 42; }
  };
  head_internal::OpenTable<uint64_t, Same> t;
  for (uint64_t v = 1; v <= 100; ++v) t.Insert(v);
  for (uint64_t v = 1; v <= 100; ++v) EXPECT_EQ(t.Find(42, [v](uint64_t x) { return x == v; }), v);
  for (uint64_t v = 2; v <= 100; v += 2) EXPECT_TRUE(t.Erase(v));
  EXPECT_FALSE(t.Erase(2));
  EXPECT_EQ(t.size(), 50u);
  for (uint64_t v = 1; v <= 100; ++v) {
    EXPECT_EQ(t.Find(42, [v](uint64_t x) { return x == v; }), v % 2 ? v : 0) << v;
  }
  // Mixed hashes with deletions in the middle of probe runs.
  struct Mod {
    uint64_t operator()(uint64_t v) const { return v % 7; }
  };
  head_internal::OpenTable<uint64_t, Mod> m;
  std::set<uint64_t> in;
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    uint64_t v = 1 + rng() % 300;
    if (in.count(v)) {
      EXPECT_TRUE(m.Erase(v));
      in.erase(v);
    } else {
      m.Insert(v);
      in.insert(v);
    }
  }
  for (uint64_t v = 1; v <= 300; ++v) {
    EXPECT_EQ(m.Find(v % 7, [v](uint64_t x) { return x == v; }), in.count(v) ? v : 0);
  }
}

}  // namespace
}  // namespace sightline::tsdb
