// HA deduplication (src/metrics/storage/dedup.h) and external labels at
// query time (external_labels.h), over the in-memory store.
#include "metrics/storage/dedup.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "metrics/storage/external_labels.h"
#include "metrics/storage/memory_storage.h"

namespace sightline::metrics {
namespace {

using Samples = std::vector<std::pair<int64_t, double>>;

class VecIterator final : public SeriesIterator {
 public:
  explicit VecIterator(Samples s) : s_(std::move(s)) {}
  bool Next() override {
    if (i_ < 0 || static_cast<size_t>(i_) < s_.size()) ++i_;
    return static_cast<size_t>(i_) < s_.size();
  }
  bool Seek(int64_t t) override {
    if (i_ < 0) i_ = 0;
    while (static_cast<size_t>(i_) < s_.size() && s_[i_].first < t) ++i_;
    return static_cast<size_t>(i_) < s_.size();
  }
  int64_t t() const override { return s_[i_].first; }
  double v() const override { return s_[i_].second; }

 private:
  Samples s_;
  int i_ = -1;
};

Samples Drain(SeriesIterator& it) {
  Samples out;
  while (it.Next()) out.emplace_back(it.t(), it.v());
  EXPECT_TRUE(it.err().ok());
  return out;
}

Samples Every(int64_t from, int64_t to, int64_t step, double v) {
  Samples s;
  for (int64_t t = from; t <= to; t += step) s.emplace_back(t, v);
  return s;
}

Samples Dedup(Samples a, Samples b) {
  auto it = NewDedupIterator(std::make_unique<VecIterator>(std::move(a)),
                             std::make_unique<VecIterator>(std::move(b)));
  return Drain(*it);
}

TEST(DedupIteratorTest, IdenticalReplicasGiveOneCopy) {
  Samples a = Every(0, 100000, 10000, 1);
  EXPECT_EQ(Dedup(a, a), a);
}

TEST(DedupIteratorTest, OffsetScrapesDoNotInterleave) {
  // Replica B scrapes 3 s after A: a naive merge would double the rate.
  Samples a = Every(0, 100000, 10000, 1);
  Samples b = Every(3000, 103000, 10000, 2);
  Samples got = Dedup(a, b);
  // A first (earlier); B is penalised and never chosen while A has data;
  // after A ends, B's last sample (beyond A's last + penalty) follows.
  Samples want = a;
  EXPECT_EQ(Samples(got.begin(), got.begin() + a.size()), want);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GE(got[i].first - got[i - 1].first, 10000);
}

TEST(DedupIteratorTest, GapInOneReplicaIsFilledByTheOther) {
  // A misses [40s, 80s]; B has everything, 1 s later than A.
  Samples a = Every(0, 30000, 10000, 1);
  Samples a2 = Every(90000, 150000, 10000, 1);
  a.insert(a.end(), a2.begin(), a2.end());
  Samples b = Every(1000, 151000, 10000, 2);
  Samples got = Dedup(a, b);
  Samples want = Every(0, 30000, 10000, 1);
  // After A's 30 s sample, A is exhausted until 90 s: B takes over (41 s is
  // the first B sample past 30 s + B's penalty 2 * 10 s... = 50 s? B's
  // penalty is twice the last gap, 20 s: first B sample >= 50 001 is 51 s).
  for (int64_t t = 51000; t <= 151000; t += 10000) want.emplace_back(t, 2);
  EXPECT_EQ(got, want);
}

TEST(DedupIteratorTest, ClockSkewStaysOnOneReplica) {
  // B's timestamps jitter around A's by less than the penalty.
  Samples a = Every(0, 60000, 10000, 1);
  Samples b;
  for (int64_t t = 0; t <= 60000; t += 10000) b.emplace_back(t + (t % 20000 == 0 ? -500 : 500), 2);
  Samples got = Dedup(a, b);
  // B's first sample (-500) is earlier, so it is emitted and A gets the
  // initial 5 s penalty; A's 10 s sample then beats B's 10.5 s one, B is
  // penalised by twice that gap (21 s) and A keeps the lead to the end. No
  // two samples closer than a scrape interval.
  Samples want = {{-500, 2}};
  for (int64_t t = 10000; t <= 60000; t += 10000) want.emplace_back(t, 1);
  EXPECT_EQ(got, want);
}

TEST(DedupIteratorTest, ExhaustedReplicas) {
  EXPECT_EQ(Dedup({}, Every(0, 20000, 10000, 2)), Every(0, 20000, 10000, 2));
  EXPECT_EQ(Dedup(Every(0, 20000, 10000, 1), {}), Every(0, 20000, 10000, 1));
  EXPECT_TRUE(Dedup({}, {}).empty());
  // A ends early: B continues alone.
  Samples got = Dedup(Every(0, 20000, 10000, 1), Every(0, 60000, 10000, 2));
  EXPECT_EQ(got.back().first, 60000);
  EXPECT_EQ(got.back().second, 2);
}

TEST(DedupIteratorTest, SeekWalksLikeNext) {
  Samples a = Every(0, 100000, 10000, 1);
  Samples b = Every(2000, 102000, 10000, 2);
  auto it = NewDedupIterator(std::make_unique<VecIterator>(a), std::make_unique<VecIterator>(b));
  ASSERT_TRUE(it->Seek(45000));
  EXPECT_EQ(it->t(), 50000);
  EXPECT_TRUE(it->Seek(45000));  // stays put
  EXPECT_EQ(it->t(), 50000);
  ASSERT_TRUE(it->Next());
  EXPECT_EQ(it->t(), 60000);
  EXPECT_FALSE(it->Seek(500000));
}

// --- Queriers over the memory store ---

promql::Matcher Eq(std::string name, std::string value) {
  return *promql::Matcher::Make(promql::MatchType::kEqual, std::move(name), std::move(value));
}

void Add(MemoryStorage& s, const Labels& l, const Samples& samples) {
  auto app = s.NewAppender("t");
  for (auto [t, v] : samples) ASSERT_TRUE(app->Append(0, l, t, v).ok());
  ASSERT_TRUE(app->Commit().ok());
}

struct Got {
  Labels labels;
  Samples samples;
};

std::vector<Got> SelectAll(Querier& q, std::vector<promql::Matcher> m) {
  auto set = q.Select(true, nullptr, m);
  std::vector<Got> out;
  while (set->Next()) {
    auto it = set->At().Iterator();
    out.push_back({set->At().labels(), Drain(*it)});
  }
  EXPECT_TRUE(set->err().ok()) << set->err().ToString();
  return out;
}

TEST(DedupQuerierTest, MergesReplicasAndDropsReplicaLabels) {
  MemoryStorage s;
  Add(s, Labels::FromStrings({"__name__", "up", "job", "x", "replica", "a"}),
      Every(0, 30000, 10000, 1));
  Add(s, Labels::FromStrings({"__name__", "up", "job", "x", "replica", "b"}),
      Every(1000, 91000, 10000, 2));
  Add(s, Labels::FromStrings({"__name__", "up", "job", "y", "replica", "a"}),
      Every(0, 10000, 10000, 3));
  auto inner = s.NewQuerier("t", 0, 200000);
  ASSERT_TRUE(inner.ok());
  auto q = NewDedupQuerier(std::move(*inner), {"replica"});
  auto got = SelectAll(*q, {Eq("__name__", "up")});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].labels, Labels::FromStrings({"__name__", "up", "job", "x"}));
  Samples want = Every(0, 30000, 10000, 1);
  for (int64_t t = 51000; t <= 91000; t += 10000) want.emplace_back(t, 2);
  EXPECT_EQ(got[0].samples, want);
  EXPECT_EQ(got[1].labels, Labels::FromStrings({"__name__", "up", "job", "y"}));

  auto names = q->LabelNames({});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"__name__", "job"}));
  // No replica values under dedup (Thanos Query); other labels as stored.
  auto replicas = q->LabelValues("replica", {});
  ASSERT_TRUE(replicas.ok());
  EXPECT_TRUE(replicas->empty());
  EXPECT_EQ(*q->LabelValues("job", {}), (std::vector<std::string>{"x", "y"}));

  // A matcher on the replica label still selects one replica.
  auto only_b = SelectAll(*q, {Eq("__name__", "up"), Eq("replica", "b")});
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0].samples.size(), 10u);
}

TEST(DedupQuerierTest, ThreeReplicasChain) {
  MemoryStorage s;
  // r1 has [0, 20s], r2 [60s, 80s], r3 everything; gaps are long.
  Add(s, Labels::FromStrings({"__name__", "m", "replica", "r1"}), Every(0, 20000, 10000, 1));
  Add(s, Labels::FromStrings({"__name__", "m", "replica", "r2"}), Every(60000, 80000, 10000, 2));
  Add(s, Labels::FromStrings({"__name__", "m", "replica", "r3"}), Every(500, 200500, 10000, 3));
  auto inner = s.NewQuerier("t", 0, 300000);
  ASSERT_TRUE(inner.ok());
  auto q = NewDedupQuerier(std::move(*inner), {"replica"});
  auto got = SelectAll(*q, {Eq("__name__", "m")});
  ASSERT_EQ(got.size(), 1u);
  const Samples& g = got[0].samples;
  ASSERT_FALSE(g.empty());
  EXPECT_EQ(g.front().first, 0);
  EXPECT_EQ(g.back().first, 200500);
  for (size_t i = 1; i < g.size(); ++i) EXPECT_GE(g[i].first - g[i - 1].first, 9500) << i;
}

TEST(DedupQuerierTest, NoReplicaLabelsIsIdentity) {
  MemoryStorage s;
  Add(s, Labels::FromStrings({"__name__", "m", "replica", "a"}), Every(0, 10000, 10000, 1));
  Add(s, Labels::FromStrings({"__name__", "m", "replica", "b"}), Every(0, 10000, 10000, 1));
  auto inner = s.NewQuerier("t", 0, 300000);
  ASSERT_TRUE(inner.ok());
  auto q = NewDedupQuerier(std::move(*inner), {});
  EXPECT_EQ(SelectAll(*q, {Eq("__name__", "m")}).size(), 2u);
}

TEST(ExternalLabelsTest, AddsLabelsEvaluatesAndRemovesMatchers) {
  MemoryStorage s;
  Add(s, Labels::FromStrings({"__name__", "up", "job", "a"}), Every(0, 10000, 10000, 1));
  Add(s, Labels::FromStrings({"__name__", "up", "job", "b", "cluster", "inner"}),
      Every(0, 10000, 10000, 2));
  auto inner = s.NewQuerier("t", 0, 100000);
  ASSERT_TRUE(inner.ok());
  auto q = NewExternalLabelsQuerier(std::move(*inner),
                                    Labels::FromStrings({"cluster", "eu", "replica", "r1"}));
  auto got = SelectAll(*q, {Eq("__name__", "up"), Eq("cluster", "eu")});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].labels,
            Labels::FromStrings({"__name__", "up", "cluster", "eu", "job", "a", "replica", "r1"}));
  // The external label replaced the series' own cluster label.
  EXPECT_EQ(got[1].labels,
            Labels::FromStrings({"__name__", "up", "cluster", "eu", "job", "b", "replica", "r1"}));
  EXPECT_EQ(got[1].samples, Every(0, 10000, 10000, 2));
  EXPECT_TRUE(SelectAll(*q, {Eq("__name__", "up"), Eq("cluster", "us")}).empty());
  auto re = promql::Matcher::Make(promql::MatchType::kRegexp, "replica", "r.*");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(SelectAll(*q, {Eq("__name__", "up"), *re}).size(), 2u);

  auto names = q->LabelNames({});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"__name__", "cluster", "job", "replica"}));
  auto values = q->LabelValues("cluster", {});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, (std::vector<std::string>{"eu"}));
  auto none = q->LabelValues("job", {Eq("cluster", "us")});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_TRUE(FixedLabelsCanMatch(Labels::FromStrings({"cluster", "eu"}), {Eq("job", "x")}));
  EXPECT_FALSE(FixedLabelsCanMatch(Labels::FromStrings({"cluster", "eu"}), {Eq("cluster", "x")}));
}

TEST(ExternalLabelsTest, ResortsWhenLabelsChangeOrder) {
  MemoryStorage s;
  // {a="1"} < {a="1", b="1"} before; after adding c="1", {a,b,c} < {a,c}.
  Add(s, Labels::FromStrings({"__name__", "m", "a", "1"}), Every(0, 0, 1, 1));
  Add(s, Labels::FromStrings({"__name__", "m", "a", "1", "b", "1"}), Every(0, 0, 1, 2));
  auto inner = s.NewQuerier("t", 0, 100000);
  ASSERT_TRUE(inner.ok());
  auto q = NewExternalLabelsQuerier(std::move(*inner), Labels::FromStrings({"c", "1"}));
  auto got = SelectAll(*q, {Eq("__name__", "m")});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_LT(got[0].labels, got[1].labels);
  EXPECT_EQ(got[0].labels, Labels::FromStrings({"__name__", "m", "a", "1", "b", "1", "c", "1"}));
}

}  // namespace
}  // namespace sightline::metrics
