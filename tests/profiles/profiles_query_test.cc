// Profile queries over hand-built segments: flame graph layout (4-int
// groups), max_nodes truncation into "other", diffs, series, labels, span
// profiles and merged pprof.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "pprof/profile.pb.h"
#include "profiles/query/query.h"
#include "profiles/store/pprof_append.h"
#include "profiles_test_util.h"

namespace sightline::profiles {
namespace {

using testutil::CpuProfile;
using testutil::kCpuType;

class FakeSource : public SegmentSource {
 public:
  Status View(std::string_view tenant, int64_t, int64_t,
              const std::function<void(const Segment&)>& fn) override {
    if (tenant == "t") fn(seg);
    return Status::Ok();
  }
  Segment seg;
};

// name → (total, self) from a flame graph, checking the level layout.
std::map<std::string, std::pair<int64_t, int64_t>> Decode(const query::FlameGraph& fg) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const auto& lv : fg.levels) {
    EXPECT_EQ(lv.size() % 4, 0u);
    for (size_t i = 0; i < lv.size(); i += 4) {
      auto& e = out[fg.names.at(lv[i + 3])];
      e.first += lv[i + 1];
      e.second += lv[i + 2];
    }
  }
  return out;
}

query::Selection Sel(int64_t start = 0, int64_t end = INT64_MAX) {
  query::Selection s;
  s.profile_type = kCpuType;
  s.start_ms = start;
  s.end_ms = end;
  return s;
}

TEST(FlameGraphTest, LevelsAreGroupsOfFourWithRelativeOffsets) {
  FakeSource src;
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}},
                          CpuProfile({{{"main", "a"}, 30}, {{"main", "b"}, 10}, {{"main"}, 5}}),
                          1000)
                  .ok());
  auto tree = query::MergeTree(src, "t", Sel());
  ASSERT_TRUE(tree.ok());
  auto fg = query::ToFlameGraph(*tree, 0);
  EXPECT_EQ(fg.total, 45);
  EXPECT_EQ(fg.max_self, 30);
  ASSERT_EQ(fg.levels.size(), 3u);
  EXPECT_EQ(fg.names[fg.levels[0][3]], "total");
  EXPECT_THAT(fg.levels[0], ::testing::ElementsAre(0, 45, 0, 0));
  // main: x 0, total 45, self 5.
  EXPECT_EQ(fg.levels[1][0], 0);
  EXPECT_EQ(fg.levels[1][1], 45);
  EXPECT_EQ(fg.levels[1][2], 5);
  EXPECT_EQ(fg.names[fg.levels[1][3]], "main");
  // a at 0 (30), b right after it: relative offset 0 again.
  ASSERT_EQ(fg.levels[2].size(), 8u);
  EXPECT_EQ(fg.names[fg.levels[2][3]], "a");
  EXPECT_EQ(fg.levels[2][0], 0);
  EXPECT_EQ(fg.levels[2][1], 30);
  EXPECT_EQ(fg.names[fg.levels[2][7]], "b");
  EXPECT_EQ(fg.levels[2][4], 0);
  EXPECT_EQ(fg.levels[2][5], 10);
}

TEST(FlameGraphTest, MaxNodesKeepsWeightInOther) {
  FakeSource src;
  std::vector<testutil::StackValue> stacks;
  for (int i = 0; i < 20; ++i) stacks.push_back({{"main", "f" + std::to_string(i)}, 100 + i});
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}}, CpuProfile(stacks), 1000).ok());
  auto tree = query::MergeTree(src, "t", Sel());
  ASSERT_TRUE(tree.ok());
  auto fg = query::ToFlameGraph(*tree, 5);
  auto d = Decode(fg);
  int64_t sum_level2 = 0;
  for (size_t i = 0; i < fg.levels[2].size(); i += 4) sum_level2 += fg.levels[2][i + 1];
  EXPECT_EQ(sum_level2, fg.total);  // nothing hidden
  ASSERT_TRUE(d.count("other"));
  EXPECT_GT(d["other"].first, 0);
  EXPECT_LT(fg.levels[2].size() / 4, 20u);
  EXPECT_TRUE(d.count("f19"));  // the biggest survive
}

TEST(FlameGraphTest, TimeRangeAndSpanSelection) {
  FakeSource src;
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}},
                          CpuProfile({{{"main", "a"}, 1, "aaaaaaaaaaaaaaaa"}, {{"main", "b"}, 2}}),
                          1000)
                  .ok());
  ASSERT_TRUE(
      AppendPprof(&src.seg, {{"service_name", "api"}}, CpuProfile({{{"main", "c"}, 4}}), 5000)
          .ok());
  auto t1 = query::MergeTree(src, "t", Sel(0, 2000));
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(t1->nodes[0].total, 3);
  auto t2 = query::MergeTree(src, "t", Sel(2000, 9000));
  EXPECT_EQ(t2->nodes[0].total, 4);
  auto sel = Sel();
  sel.span_ids = std::set<uint64_t>{0xaaaaaaaaaaaaaaaaull};
  auto t3 = query::MergeTree(src, "t", sel);
  EXPECT_EQ(t3->nodes[0].total, 1);
  auto d = Decode(query::ToFlameGraph(*t3, 0));
  EXPECT_TRUE(d.count("a"));
  EXPECT_FALSE(d.count("b"));
}

TEST(DiffTest, SevenIntGroupsWithBothSides) {
  FakeSource src;
  ASSERT_TRUE(
      AppendPprof(&src.seg, {{"service_name", "api"}}, CpuProfile({{{"main", "a"}, 10}}), 1000)
          .ok());
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}},
                          CpuProfile({{{"main", "a"}, 4}, {{"main", "b"}, 6}}), 5000)
                  .ok());
  auto l = query::MergeTree(src, "t", Sel(0, 2000));
  auto r = query::MergeTree(src, "t", Sel(2000, 9000));
  auto d = query::Diff(*l, *r, 0);
  EXPECT_EQ(d.left_ticks, 10);
  EXPECT_EQ(d.right_ticks, 10);
  EXPECT_EQ(d.total, 20);
  ASSERT_EQ(d.levels.size(), 3u);
  std::map<std::string, std::vector<int64_t>> by_name;
  for (const auto& lv : d.levels) {
    ASSERT_EQ(lv.size() % 7, 0u);
    for (size_t i = 0; i < lv.size(); i += 7) {
      by_name[d.names[lv[i + 6]]] = {lv[i + 1], lv[i + 2], lv[i + 4], lv[i + 5]};
    }
  }
  EXPECT_THAT(by_name["a"], ::testing::ElementsAre(10, 10, 4, 4));
  EXPECT_THAT(by_name["b"], ::testing::ElementsAre(0, 0, 6, 6));
}

TEST(SeriesTest, SelectSeriesGroupsAndSteps) {
  FakeSource src;
  for (int i = 0; i < 6; ++i) {
    std::string svc = i % 2 ? "api" : "web";
    ASSERT_TRUE(
        AppendPprof(&src.seg, {{"service_name", svc}}, CpuProfile({{{"main"}, 10}}), i * 10000)
            .ok());
  }
  auto s =
      query::SelectSeries(src, "t", Sel(), {"service_name"}, 20000, query::Aggregation::kSum, 0);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].labels, (Labels{{"service_name", "api"}}));
  // api at 10s, 30s, 50s → buckets 0, 20000, 40000.
  ASSERT_EQ((*s)[0].points.size(), 3u);
  EXPECT_EQ((*s)[0].points[1].time_ms, 20000);
  EXPECT_EQ((*s)[0].points[1].value, 10);
  auto all = query::SelectSeries(src, "t", Sel(), {}, 60000, query::Aggregation::kSum, 0);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].points[0].value, 60);
  auto avg = query::SelectSeries(src, "t", Sel(), {}, 60000, query::Aggregation::kAverage, 0);
  EXPECT_EQ((*avg)[0].points[0].value, 10);
}

TEST(LabelsTest, NamesValuesTypesAndSelectors) {
  FakeSource src;
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}, {"env", "prod"}},
                          CpuProfile({{{"main"}, 1}}), 1000)
                  .ok());
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "web"}, {"env", "dev"}},
                          CpuProfile({{{"main"}, 1}}), 1000)
                  .ok());
  auto types = query::ProfileTypes(src, "t", 0, 2000);
  EXPECT_THAT(*types, ::testing::ElementsAre(kCpuType));
  auto sel = Sel();
  sel.profile_type.clear();
  auto names = query::LabelNames(src, "t", sel);
  EXPECT_THAT(*names, ::testing::IsSupersetOf({"__name__", "env", "service_name"}));
  sel.matchers = *query::ParseSelector(R"({env=~"pr.*"})");
  auto values = query::LabelValues(src, "t", sel, "service_name");
  EXPECT_THAT(*values, ::testing::ElementsAre("api"));
  EXPECT_FALSE(query::ParseSelector("{env=").ok());
  EXPECT_TRUE(query::ParseSelector("{}")->empty());
}

TEST(MergeProfileTest, ProducesParsablePprof) {
  FakeSource src;
  ASSERT_TRUE(AppendPprof(&src.seg, {{"service_name", "api"}},
                          CpuProfile({{{"main", "a"}, 30}, {{"main", "b"}, 10}}), 1000)
                  .ok());
  auto out = query::MergeProfile(src, "t", Sel());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  perftools::profiles::Profile p;
  ASSERT_TRUE(p.ParseFromString(*out));
  ASSERT_EQ(p.sample_type_size(), 1);
  EXPECT_EQ(p.string_table(p.sample_type(0).type()), "cpu");
  int64_t total = 0;
  for (const auto& s : p.sample()) {
    total += s.value(0);
    EXPECT_EQ(s.location_id_size(), 2);
  }
  EXPECT_EQ(total, 40);
}

}  // namespace
}  // namespace sightline::profiles
