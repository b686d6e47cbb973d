// Engine unit tests beyond Prometheus's scripts: lookback and staleness
// edges, the 2.x/3.x range-selector boundary, subquery step alignment,
// limits (max samples, timeout, cancellation), error types, result shapes,
// and that a range query reads each series once.
#include "metrics/promql/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>

#include "metrics/storage/memory_storage.h"
#include "promqltest.h"

namespace sightline::promql {
namespace {

constexpr std::string_view kTenant = "t";

class EngineTest : public ::testing::Test {
 protected:
  void Add(const Labels& l, std::initializer_list<std::pair<int64_t, double>> samples) {
    auto app = store_.NewAppender(kTenant);
    for (const auto& [t, v] : samples) ASSERT_TRUE(app->Append(0, l, t, v).ok());
    ASSERT_TRUE(app->Commit().ok());
  }

  Result<QueryResult> Instant(const Engine& e, std::string_view q, int64_t t,
                              const QueryOptions& o = {}) {
    return e.InstantQuery(store_, kTenant, q, t, o);
  }

  // The value of the single-element vector result, or NaN with a test
  // failure.
  double One(const Engine& e, std::string_view q, int64_t t) {
    auto r = Instant(e, q, t);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
    if (!r.ok() || r->type != ValueType::kVector || r->vector.size() != 1) {
      ADD_FAILURE() << q << " at " << t << ": expected one sample";
      return std::nan("");
    }
    return r->vector[0].f;
  }

  size_t Count(const Engine& e, std::string_view q, int64_t t) {
    auto r = Instant(e, q, t);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
    return r.ok() ? r->vector.size() : 0;
  }

  metrics::MemoryStorage store_;
  Engine v2_{EngineOptions::Prometheus2()};
  Engine v3_{EngineOptions()};
};

const Labels kX = Labels::FromStrings({"__name__", "x", "job", "a"});

TEST_F(EngineTest, LookbackBoundaryDiffersBetweenDialects) {
  Add(kX, {{0, 1}});
  // 2.x: [t-5m, t] includes a sample exactly 5m old; 3.x: (t-5m, t] does not.
  EXPECT_EQ(Count(v2_, "x", 300000), 1u);
  EXPECT_EQ(Count(v3_, "x", 300000), 0u);
  EXPECT_EQ(Count(v3_, "x", 299999), 1u);
  EXPECT_EQ(Count(v2_, "x", 300001), 0u);
  // A custom lookback.
  QueryOptions o;
  o.lookback_delta_ms = 1000;
  auto r = Instant(v3_, "x", 1000, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->vector.empty());
  r = Instant(v3_, "x", 999, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vector.size(), 1u);
}

TEST_F(EngineTest, StaleMarkersEndSeries) {
  Add(kX, {{0, 1}, {10000, metrics::StaleNaN()}, {20000, 2}});
  for (const Engine* e : {&v2_, &v3_}) {
    EXPECT_EQ(One(*e, "x", 5000), 1);
    EXPECT_EQ(Count(*e, "x", 10000), 0u);  // The marker itself.
    EXPECT_EQ(Count(*e, "x", 15000), 0u);  // Still stale within lookback.
    EXPECT_EQ(One(*e, "x", 20000), 2);     // A new sample revives it.
    // Range functions ignore stale markers.
    EXPECT_EQ(One(*e, "count_over_time(x[1m])", 30000), 2);
    // timestamp() reports the sample's own time.
    EXPECT_EQ(One(*e, "timestamp(x)", 25000), 20);
  }
  // A range query shows the gap.
  auto r = v3_.RangeQuery(store_, kTenant, "x", 0, 30000, 5000);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->matrix.size(), 1u);
  std::vector<int64_t> ts;
  for (const FPoint& p : r->matrix[0].floats) ts.push_back(p.t);
  EXPECT_EQ(ts, (std::vector<int64_t>{0, 5000, 20000, 25000, 30000}));
}

TEST_F(EngineTest, RangeSelectorBoundary) {
  Add(kX, {{0, 0}, {60000, 6}, {120000, 12}});
  // At t=120s, [1m] covers samples at 60s and 120s; 2.x also counts 60s.. and
  // the left edge: a window of exactly 60s starting at the 60s sample.
  EXPECT_EQ(One(v2_, "count_over_time(x[1m])", 120000), 2);
  EXPECT_EQ(One(v3_, "count_over_time(x[1m])", 120000), 1);
  EXPECT_EQ(One(v2_, "count_over_time(x[2m])", 120000), 3);
  EXPECT_EQ(One(v3_, "count_over_time(x[2m])", 120000), 2);
  // An instant query of a range selector returns the raw samples.
  auto r = Instant(v3_, "x[2m]", 120000);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->type, ValueType::kMatrix);
  ASSERT_EQ(r->matrix.size(), 1u);
  EXPECT_EQ(r->matrix[0].floats.size(), 2u);
  EXPECT_EQ(r->matrix[0].metric, kX);  // Range selectors keep the name.
}

TEST_F(EngineTest, SubqueryStepsAreAlignedToAbsoluteMultiples) {
  {
    auto app = store_.NewAppender(kTenant);
    for (int i = 0; i <= 40; ++i) ASSERT_TRUE(app->Append(0, kX, i * 30000, i).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  // x[10m:3m] at t=10m+7s: steps are multiples of 3m inside (t-10m, t]:
  // 3m, 6m, 9m (not t-10m+k*3m).
  auto r = Instant(v3_, "x[10m:3m]", 607000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ValueType::kMatrix);
  ASSERT_EQ(r->matrix.size(), 1u);
  std::vector<int64_t> ts;
  for (const FPoint& p : r->matrix[0].floats) ts.push_back(p.t);
  EXPECT_EQ(ts, (std::vector<int64_t>{180000, 360000, 540000}));
  // x[9m:3m] at t=12m: the window's left edge (3m) is a multiple of the
  // step; 2.x's closed window includes it, 3.x's left-open one does not.
  r = Instant(v2_, "x[9m:3m]", 720000);
  ASSERT_TRUE(r.ok());
  ts.clear();
  for (const FPoint& p : r->matrix[0].floats) ts.push_back(p.t);
  EXPECT_EQ(ts, (std::vector<int64_t>{180000, 360000, 540000, 720000}));
  r = Instant(v3_, "x[9m:3m]", 720000);
  ASSERT_TRUE(r.ok());
  ts.clear();
  for (const FPoint& p : r->matrix[0].floats) ts.push_back(p.t);
  EXPECT_EQ(ts, (std::vector<int64_t>{360000, 540000, 720000}));
  // With an offset the window moves to (3m, 9m]; steps stay multiples of 4m.
  r = Instant(v3_, "x[6m:4m] offset 1m", 600000);
  ASSERT_TRUE(r.ok());
  ts.clear();
  for (const FPoint& p : r->matrix[0].floats) ts.push_back(p.t);
  EXPECT_EQ(ts, (std::vector<int64_t>{240000, 480000}));
  // A subquery without a step uses the default (1m).
  r = Instant(v3_, "x[3m:]", 600000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matrix[0].floats.size(), 3u);
}

TEST_F(EngineTest, MaxSamples) {
  for (int s = 0; s < 10; ++s) {
    Labels l = Labels::FromStrings({"__name__", "m", "i", std::to_string(s)});
    auto app = store_.NewAppender(kTenant);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(app->Append(0, l, i * 1000, i).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  EngineOptions o;
  o.max_samples = 50;
  Engine small(o);
  auto r = small.InstantQuery(store_, kTenant, "sum_over_time(m[2m])", 100000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "query processing would load too many samples into memory in query execution");
  EXPECT_EQ(ClassifyError(r.status()), ErrorType::kExecution);
  EXPECT_EQ(ErrorTypeString(ClassifyError(r.status())), "execution");
  // A range query holding 10 series x 60 steps exceeds it as well.
  r = small.RangeQuery(store_, kTenant, "m", 0, 59000, 1000);
  ASSERT_FALSE(r.ok());
  // Within the limit.
  o.max_samples = 100000;
  Engine big(o);
  EXPECT_TRUE(big.InstantQuery(store_, kTenant, "sum_over_time(m[2m])", 100000).ok());
}

TEST_F(EngineTest, TimeoutAndCancellation) {
  for (int s = 0; s < 300; ++s) {
    Add(Labels::FromStrings({"__name__", "m", "i", std::to_string(s)}), {{0, 1}});
  }
  EngineOptions o;
  o.timeout = std::chrono::milliseconds(0);
  Engine timed(o);
  auto r = timed.RangeQuery(store_, kTenant, "sum(m)", 0, 100000, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "query timed out in expression evaluation");
  EXPECT_EQ(ClassifyError(r.status()), ErrorType::kTimeout);

  std::atomic<bool> cancel{true};
  QueryOptions qo;
  qo.cancel = &cancel;
  r = v3_.InstantQuery(store_, kTenant, "m", 0, qo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(r.status().message(), "query was canceled in expression evaluation");
  EXPECT_EQ(ErrorTypeString(ClassifyError(r.status())), "canceled");
  cancel = false;
  EXPECT_TRUE(v3_.InstantQuery(store_, kTenant, "m", 0, qo).ok());
}

TEST_F(EngineTest, ErrorsAndResultShapes) {
  Add(kX, {{0, 1}, {60000, 2}});
  auto r = Instant(v3_, "sum(", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ClassifyError(r.status()), ErrorType::kBadData);
  EXPECT_NE(r.status().message().find("parse error"), std::string::npos);

  r = v3_.RangeQuery(store_, kTenant, "x[1m]", 0, 60000, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "invalid expression type \"range vector\" for range query, must be Scalar or "
            "instant Vector");
  r = v3_.RangeQuery(store_, kTenant, "x", 0, 60000, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ClassifyError(r.status()), ErrorType::kBadData);

  // Scalars and strings.
  r = Instant(v3_, "1 + 2", 5000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, ValueType::kScalar);
  EXPECT_EQ(r->scalar.v, 3);
  EXPECT_EQ(r->scalar.t, 5000);
  r = Instant(v3_, "\"hello\"", 5000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, ValueType::kString);
  EXPECT_EQ(r->string.v, "hello");
  // A scalar range query is a one-series matrix.
  r = v3_.RangeQuery(store_, kTenant, "time()", 0, 2000, 1000);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->type, ValueType::kMatrix);
  ASSERT_EQ(r->matrix.size(), 1u);
  EXPECT_TRUE(r->matrix[0].metric.empty());
  EXPECT_EQ(r->matrix[0].floats.size(), 3u);
  // Instant vector samples carry the evaluation time.
  r = Instant(v3_, "x", 90000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vector[0].t, 90000);

  // Matching errors carry Prometheus's messages.
  Add(Labels::FromStrings({"__name__", "y", "job", "a", "i", "1"}), {{0, 1}});
  Add(Labels::FromStrings({"__name__", "y", "job", "a", "i", "2"}), {{0, 1}});
  r = Instant(v3_, "x + on(job) y", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(
                "many-to-many matching not allowed: matching labels must be unique on one side"),
            std::string::npos);
  EXPECT_EQ(ClassifyError(r.status()), ErrorType::kExecution);
  r = Instant(v3_, "y + on(job) group_left x", 0);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->vector.size(), 2u);
}

TEST_F(EngineTest, DelayedNameRemovalOnlyIn3x) {
  Add(Labels::FromStrings({"__name__", "a_total", "j", "1"}), {{0, 1}, {60000, 2}});
  Add(Labels::FromStrings({"__name__", "b_total", "j", "1"}), {{0, 1}, {60000, 2}});
  // 2.x drops the names inside rate(), so the two results collide.
  auto r = Instant(v2_, "rate({j=\"1\"}[5m])", 60000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "vector cannot contain metrics with the same labelset");
  // 3.x keeps them until the end: label_replace can still read them.
  r = Instant(v3_, "label_replace(rate({j=\"1\"}[5m]), \"n\", \"$1\", \"__name__\", \"(.*)\")",
              60000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->vector.size(), 2u);
  for (const Sample& s : r->vector) {
    EXPECT_FALSE(s.metric.Has("__name__"));
    EXPECT_TRUE(s.metric.Has("n"));
  }
}

TEST_F(EngineTest, RegexDotMatchesNewlineOnlyIn3x) {
  Add(Labels::FromStrings({"__name__", "x", "v", "a\nb"}), {{0, 1}});
  EXPECT_EQ(Count(v3_, "x{v=~\"a.b\"}", 0), 1u);
  EXPECT_EQ(Count(v2_, "x{v=~\"a.b\"}", 0), 0u);
}

TEST_F(EngineTest, AnnotationsCarryPositions) {
  Add(Labels::FromStrings({"__name__", "gauge", "j", "1"}), {{0, 1}, {60000, 2}});
  auto r = Instant(v3_, "rate(gauge[5m])", 60000);
  ASSERT_TRUE(r.ok());
  const auto infos = r->annotations.Infos("rate(gauge[5m])");
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0],
            "PromQL info: metric might not be a counter, name does not end in "
            "_total/_sum/_count/_bucket: \"gauge\" (1:6)");
  EXPECT_TRUE(r->annotations.Warnings().empty());
  // 2.x has no annotations.
  r = Instant(v2_, "rate(gauge[5m])", 60000);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->annotations.empty());
}

// A Queryable that counts how often series are opened for reading.
class CountingQueryable final : public metrics::Queryable {
 public:
  explicit CountingQueryable(metrics::Queryable* inner) : inner_(inner) {}
  Result<std::unique_ptr<metrics::Querier>> NewQuerier(std::string_view tenant, int64_t mint,
                                                       int64_t maxt) override;
  int selects = 0;
  int iterators = 0;

 private:
  metrics::Queryable* inner_;
};

class CountingSeries final : public metrics::Series {
 public:
  CountingSeries(const metrics::Series* s, int* n) : s_(s), n_(n) {}
  const Labels& labels() const override { return s_->labels(); }
  std::unique_ptr<metrics::SeriesIterator> Iterator() const override {
    ++*n_;
    return s_->Iterator();
  }

 private:
  const metrics::Series* s_;
  int* n_;
};

class CountingSet final : public metrics::SeriesSet {
 public:
  CountingSet(std::unique_ptr<metrics::SeriesSet> inner, int* n) : inner_(std::move(inner)) {
    while (inner_->Next()) series_.push_back(std::make_unique<CountingSeries>(&inner_->At(), n));
  }
  bool Next() override { return ++pos_ <= series_.size(); }
  const metrics::Series& At() const override { return *series_[pos_ - 1]; }

 private:
  std::unique_ptr<metrics::SeriesSet> inner_;
  std::vector<std::unique_ptr<CountingSeries>> series_;
  size_t pos_ = 0;
};

class CountingQuerier final : public metrics::Querier {
 public:
  CountingQuerier(std::unique_ptr<metrics::Querier> q, CountingQueryable* c)
      : q_(std::move(q)), c_(c) {}
  std::unique_ptr<metrics::SeriesSet> Select(bool sorted, const metrics::SelectHints* hints,
                                             const std::vector<Matcher>& m) override {
    ++c_->selects;
    return std::make_unique<CountingSet>(q_->Select(sorted, hints, m), &c_->iterators);
  }
  Result<std::vector<std::string>> LabelValues(const std::string& n,
                                               const std::vector<Matcher>& m) override {
    return q_->LabelValues(n, m);
  }
  Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>& m) override {
    return q_->LabelNames(m);
  }

 private:
  std::unique_ptr<metrics::Querier> q_;
  CountingQueryable* c_;
};

Result<std::unique_ptr<metrics::Querier>> CountingQueryable::NewQuerier(std::string_view tenant,
                                                                        int64_t mint,
                                                                        int64_t maxt) {
  SL_ASSIGN_OR_RETURN(auto q, inner_->NewQuerier(tenant, mint, maxt));
  return std::unique_ptr<metrics::Querier>(std::make_unique<CountingQuerier>(std::move(q), this));
}

TEST_F(EngineTest, RangeQueryReadsEachSeriesOnce) {
  for (int s = 0; s < 5; ++s) {
    Labels l = Labels::FromStrings({"__name__", "c_total", "i", std::to_string(s)});
    auto app = store_.NewAppender(kTenant);
    for (int i = 0; i < 720; ++i) ASSERT_TRUE(app->Append(0, l, i * 15000, i * s).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  CountingQueryable counting(&store_);
  auto r = v3_.RangeQuery(counting, kTenant, "sum(rate(c_total[5m])) + sum(c_total)", 0,
                          3 * 3600 * 1000, 60000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(counting.selects, 2);     // One per selector.
  EXPECT_EQ(counting.iterators, 10);  // One per series per selector, not per step.
  ASSERT_EQ(r->matrix.size(), 1u);
  // 181 steps; rate() needs two samples, so the first step has no value.
  EXPECT_EQ(r->matrix[0].floats.size(), 180u);
}

// The range-query result at each step equals the instant query at that time
// (the property Prometheus's own runner checks at one step), over a mix of
// operators.
TEST_F(EngineTest, RangeQueryMatchesInstantQueries) {
  for (int s = 0; s < 4; ++s) {
    Labels l = Labels::FromStrings(
        {"__name__", "req_total", "job", s % 2 ? "a" : "b", "i", std::to_string(s)});
    auto app = store_.NewAppender(kTenant);
    for (int i = 0; i < 200; ++i) {
      if ((i + s) % 17 == 0) continue;  // Gaps.
      ASSERT_TRUE(app->Append(0, l, i * 10000 + s * 1000, i * (s + 1) % 50).ok());
    }
    ASSERT_TRUE(app->Commit().ok());
  }
  const char* queries[] = {
      "sum by (job) (rate(req_total[1m]))",
      "topk(2, req_total)",
      "req_total > on(i) group_left req_total offset 30s",
      "max_over_time(req_total[2m:20s])",
      "histogram_quantile(0.5, sum by (job) (req_total))",
      "count_values(\"v\", req_total)",
      "absent(nope)",
      "req_total @ 500 unless req_total offset 1m",
      "quantile by (job) (0.3, deriv(req_total[1m]))",
  };
  for (const Engine* e : {&v2_, &v3_}) {
    for (const char* q : queries) {
      auto rr = e->RangeQuery(store_, kTenant, q, 100000, 1900000, 30000);
      ASSERT_TRUE(rr.ok()) << q << ": " << rr.status().message();
      std::map<std::pair<std::string, int64_t>, double> range_points;
      for (const Series& s : rr->matrix) {
        for (const FPoint& p : s.floats) range_points[{s.metric.ToString(), p.t}] = p.f;
      }
      size_t instant_points = 0;
      for (int64_t t = 100000; t <= 1900000; t += 30000) {
        auto ir = e->InstantQuery(store_, kTenant, q, t);
        ASSERT_TRUE(ir.ok()) << q << ": " << ir.status().message();
        for (const Sample& s : ir->vector) {
          ++instant_points;
          auto it = range_points.find({s.metric.ToString(), t});
          ASSERT_NE(it, range_points.end()) << q << " at " << t << ": " << s.metric.ToString();
          if (std::isnan(s.f)) {
            EXPECT_TRUE(std::isnan(it->second)) << q << " at " << t;
          } else {
            EXPECT_DOUBLE_EQ(it->second, s.f) << q << " at " << t;
          }
        }
      }
      EXPECT_EQ(instant_points, range_points.size()) << q;
    }
  }
}

// The promqltest runner itself: a failing expectation is reported.
TEST(PromqlTestRunner, ReportsFailures) {
  promqltest::ScriptOptions opts;
  const auto r = promqltest::RunScript(
      "load 1m\n"
      "  m{a=\"b\"} 0+10x10\n"
      "\n"
      "eval instant at 5m m\n"
      "  m{a=\"b\"} 50\n"
      "\n"
      "eval instant at 5m m\n"
      "  m{a=\"b\"} 51\n"
      "\n"
      "eval range from 0 to 2m step 1m m * 2\n"
      "  {a=\"b\"} 0 20 40\n"
      "\n"
      "eval instant at 0m m / on() group_left m\n"
      "  expect fail\n",
      opts);
  ASSERT_EQ(r.evals.size(), 4u);
  EXPECT_EQ(r.evals[0].status, promqltest::EvalOutcome::Status::kPass) << r.evals[0].message;
  EXPECT_EQ(r.evals[1].status, promqltest::EvalOutcome::Status::kFail);
  EXPECT_EQ(r.evals[2].status, promqltest::EvalOutcome::Status::kPass) << r.evals[2].message;
  EXPECT_EQ(r.evals[3].status, promqltest::EvalOutcome::Status::kFail);
  EXPECT_EQ(r.passed, 2);
  EXPECT_EQ(r.failed, 2);
}

}  // namespace
}  // namespace sightline::promql
