// MemoryStorage: write semantics (ordering, duplicates, stale markers) and
// the read path the engine relies on.
#include "metrics/storage/memory_storage.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sightline::metrics {
namespace {

std::vector<std::pair<int64_t, double>> ReadAll(Querier& q, const std::vector<promql::Matcher>& m,
                                                std::vector<Labels>* labels = nullptr) {
  std::vector<std::pair<int64_t, double>> out;
  auto set = q.Select(true, nullptr, m);
  while (set->Next()) {
    if (labels != nullptr) labels->push_back(set->At().labels());
    auto it = set->At().Iterator();
    while (it->Next()) out.emplace_back(it->t(), it->v());
  }
  return out;
}

promql::Matcher Eq(std::string name, std::string value) {
  return *promql::Matcher::Make(promql::MatchType::kEqual, std::move(name), std::move(value));
}

TEST(MemoryStorageTest, AppendCommitAndSelect) {
  MemoryStorage s;
  auto app = s.NewAppender("t1");
  const Labels a = Labels::FromStrings({"__name__", "up", "job", "a"});
  const Labels b = Labels::FromStrings({"__name__", "up", "job", "b"});
  ASSERT_TRUE(app->Append(0, b, 1000, 1).ok());
  ASSERT_TRUE(app->Append(0, a, 1000, 2).ok());
  ASSERT_TRUE(app->Append(0, a, 2000, 3).ok());
  // Nothing visible before Commit.
  EXPECT_EQ(s.NumSeries("t1"), 0u);
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(s.NumSeries("t1"), 2u);
  EXPECT_EQ(s.NumSamples("t1"), 3u);

  auto q = s.NewQuerier("t1", 0, 10000);
  ASSERT_TRUE(q.ok());
  std::vector<Labels> labels;
  auto samples = ReadAll(**q, {Eq("__name__", "up")}, &labels);
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0], a);  // Sorted by labels.
  EXPECT_EQ(labels[1], b);
  EXPECT_EQ(samples.size(), 3u);

  // Tenants are isolated.
  auto other = s.NewQuerier("t2", 0, 10000);
  EXPECT_TRUE(ReadAll(**other, {Eq("__name__", "up")}).empty());
}

TEST(MemoryStorageTest, OrderingAndDuplicates) {
  MemoryStorage s;
  const Labels a = Labels::FromStrings({"__name__", "x"});
  {
    auto app = s.NewAppender("t");
    ASSERT_TRUE(app->Append(0, a, 2000, 1).ok());
    ASSERT_TRUE(app->Commit().ok());
  }
  auto app = s.NewAppender("t");
  auto r = app->Append(0, a, 1000, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "out of order sample");
  r = app->Append(0, a, 2000, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "duplicate sample for timestamp");
  EXPECT_TRUE(app->Append(0, a, 2000, 1).ok());  // Same value: ignored.
  EXPECT_TRUE(app->Append(0, a, 3000, StaleNaN()).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto q = s.NewQuerier("t", 0, 10000);
  auto samples = ReadAll(**q, {Eq("__name__", "x")});
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_TRUE(IsStaleNaN(samples[1].second));
  EXPECT_FALSE(IsStaleNaN(std::nan("")));
}

TEST(MemoryStorageTest, RangeAndSeek) {
  MemoryStorage s;
  const Labels a = Labels::FromStrings({"__name__", "x"});
  auto app = s.NewAppender("t");
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(app->Append(0, a, i * 10, i).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto q = s.NewQuerier("t", 100, 15000);
  auto set = (*q)->Select(false, nullptr, {Eq("__name__", "x")});
  ASSERT_TRUE(set->Next());
  auto it = set->At().Iterator();
  ASSERT_TRUE(it->Next());
  EXPECT_EQ(it->t(), 100);
  ASSERT_TRUE(it->Seek(12345));
  EXPECT_EQ(it->t(), 12350);
  ASSERT_TRUE(it->Seek(100));  // Seek never goes back.
  EXPECT_EQ(it->t(), 12350);
  EXPECT_FALSE(it->Seek(15001));
  // Hints narrow the selection; a series without samples in range is not returned.
  SelectHints h;
  h.start_ms = 30000;
  h.end_ms = 40000;
  EXPECT_FALSE((*q)->Select(false, &h, {Eq("__name__", "x")})->Next());
  auto names = (*q)->LabelNames({});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"__name__"});
}

}  // namespace
}  // namespace sightline::metrics
