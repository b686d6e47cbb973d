#include "metrics/tsdb/labels.h"

#include <gtest/gtest.h>
#include <xxhash.h>

namespace sightline::tsdb {
namespace {

TEST(LabelsTest, FromUnsortedSortsAndRejectsDuplicates) {
  auto ls = Labels::FromUnsorted({{"job", "api"}, {"__name__", "up"}, {"instance", "a:1"}});
  ASSERT_TRUE(ls.ok()) << ls.status().ToString();
  ASSERT_EQ(ls->size(), 3u);
  EXPECT_EQ((*ls)[0].name, "__name__");
  EXPECT_EQ((*ls)[1].name, "instance");
  EXPECT_EQ((*ls)[2].name, "job");
  EXPECT_EQ(ls->Get("job"), "api");
  EXPECT_EQ(ls->Get("nope"), "");
  EXPECT_TRUE(ls->Has("instance"));
  EXPECT_FALSE(ls->Has("nope"));

  EXPECT_EQ(Labels::FromUnsorted({{"a", "1"}, {"a", "2"}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Labels::FromUnsorted({{"", "1"}}).status().code(), StatusCode::kInvalidArgument);
}

TEST(LabelsTest, ToStringQuotesLikeGo) {
  Labels ls = Labels::FromStrings({"__name__", "up", "a", "x\"y\\z\n\t", "b", "é\x01\xff"});
  EXPECT_EQ(ls.ToString(), R"({__name__="up", a="x\"y\\z\n\t", b="é\x01\xff"})");
  EXPECT_EQ(Labels().ToString(), "{}");
  EXPECT_EQ(GoQuote("\u00a0\u200b\x7f"), R"("\u00a0\u200b\x7f")");
  EXPECT_EQ(GoQuote("日本\U0001F600"), "\"日本\U0001F600\"");
}

TEST(LabelsTest, CompareIsPrometheusOrder) {
  Labels a = Labels::FromStrings({"a", "1"});
  Labels ab = Labels::FromStrings({"a", "1", "b", "1"});
  Labels a2 = Labels::FromStrings({"a", "2"});
  Labels b = Labels::FromStrings({"b", "0"});
  EXPECT_LT(Labels::Compare(a, ab), 0);  // prefix first
  EXPECT_LT(Labels::Compare(ab, a2), 0);
  EXPECT_LT(Labels::Compare(a2, b), 0);
  EXPECT_EQ(Labels::Compare(a, Labels::FromStrings({"a", "1"})), 0);
  EXPECT_GT(Labels::Compare(b, a), 0);
  // Bytewise, not signed char: 0xC3 sorts after 'z'.
  EXPECT_LT(Labels::Compare(Labels::FromStrings({"a", "z"}), Labels::FromStrings({"a", "é"})), 0);
}

TEST(LabelsTest, HashIsXxh64OfNameSepValueSep) {
  Labels ls = Labels::FromStrings({"__name__", "up", "job", "api"});
  std::string flat =
      std::string("__name__") + '\xff' + "up" + '\xff' + "job" + '\xff' + "api" + '\xff';
  EXPECT_EQ(ls.Hash(), XXH64(flat.data(), flat.size(), 0));
  EXPECT_NE(ls.Hash(), Labels::FromStrings({"__name__", "up", "job", "apj"}).Hash());
  // Known value of Go's xxhash.Sum64 for the empty input.
  EXPECT_EQ(Labels().Hash(), 0xef46db3751d8e999ull);
}

TEST(LabelsTest, BuilderSetDelAndEmptyValues) {
  LabelsBuilder b(Labels::FromStrings({"a", "1", "c", "3"}));
  b.Set("b", "2").Set("a", "10").Del("c").Set("d", "");
  EXPECT_EQ(b.Get("a"), "10");
  Labels out = b.Build();
  EXPECT_EQ(out, Labels::FromStrings({"a", "10", "b", "2"}));
  b.Set("a", "");  // empty value deletes
  EXPECT_EQ(b.Build(), Labels::FromStrings({"b", "2"}));
}

}  // namespace
}  // namespace sightline::tsdb
