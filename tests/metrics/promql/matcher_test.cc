#include "metrics/promql/matcher.h"

#include <gtest/gtest.h>

namespace sightline::promql {
namespace {

Matcher Make(MatchType t, std::string value, MatcherOptions o = {}) {
  Result<Matcher> m = Matcher::Make(t, "job", std::move(value), o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(MatcherTest, EqualityMatchers) {
  const Matcher eq = Make(MatchType::kEqual, "api");
  EXPECT_TRUE(eq.Matches("api"));
  EXPECT_FALSE(eq.Matches("api2"));
  EXPECT_FALSE(eq.Matches(""));
  const Matcher ne = Make(MatchType::kNotEqual, "api");
  EXPECT_FALSE(ne.Matches("api"));
  EXPECT_TRUE(ne.Matches(""));
  EXPECT_TRUE(Make(MatchType::kEqual, "").Matches(""));
}

TEST(MatcherTest, RegexIsFullyAnchored) {
  const Matcher re = Make(MatchType::kRegexp, "a|b");
  EXPECT_TRUE(re.Matches("a"));
  EXPECT_TRUE(re.Matches("b"));
  EXPECT_FALSE(re.Matches("ab"));
  EXPECT_FALSE(re.Matches("xa"));
  const Matcher prefix = Make(MatchType::kRegexp, "api.*");
  EXPECT_TRUE(prefix.Matches("api-server"));
  EXPECT_FALSE(prefix.Matches("my-api"));
  const Matcher nre = Make(MatchType::kNotRegexp, "api.+");
  EXPECT_TRUE(nre.Matches("api"));
  EXPECT_FALSE(nre.Matches("api-1"));
  // Literal fast path behaves like the regex.
  EXPECT_TRUE(Make(MatchType::kRegexp, "api").Matches("api"));
  EXPECT_FALSE(Make(MatchType::kRegexp, "api").Matches("apis"));
}

TEST(MatcherTest, EmptyValueSemantics) {
  EXPECT_TRUE(Make(MatchType::kRegexp, ".*").Matches(""));
  EXPECT_FALSE(Make(MatchType::kRegexp, ".+").Matches(""));
  EXPECT_TRUE(Make(MatchType::kRegexp, "").Matches(""));
  EXPECT_FALSE(Make(MatchType::kRegexp, "").Matches("x"));
  EXPECT_TRUE(Make(MatchType::kNotRegexp, ".+").Matches(""));
}

TEST(MatcherTest, DotMatchesNewlineIsADialectFlag) {
  MatcherOptions v2;
  v2.dot_matches_newline = false;
  EXPECT_TRUE(Make(MatchType::kRegexp, "a.b").Matches("a\nb"));
  EXPECT_FALSE(Make(MatchType::kRegexp, "a.b", v2).Matches("a\nb"));
  EXPECT_TRUE(Make(MatchType::kRegexp, ".*").Matches("x\ny"));
  EXPECT_FALSE(Make(MatchType::kRegexp, ".*", v2).Matches("x\ny"));
  EXPECT_FALSE(Make(MatchType::kRegexp, ".+", v2).Matches("\n"));
}

TEST(MatcherTest, InvalidRegexHasGoMessage) {
  Result<Matcher> m = Matcher::Make(MatchType::kRegexp, "a", "(.*");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "error parsing regexp: missing closing ): `(.*`");
  Result<Matcher> m2 = Matcher::Make(MatchType::kNotRegexp, "a", "[a");
  ASSERT_FALSE(m2.ok());
  EXPECT_EQ(m2.status().message(), "error parsing regexp: missing closing ]: `[a`");
}

TEST(MatcherTest, ToStringQuotesLikePrometheus) {
  EXPECT_EQ(Make(MatchType::kEqual, "api").ToString(), "job=\"api\"");
  EXPECT_EQ(Make(MatchType::kNotEqual, "a\"b\\c\n").ToString(), R"(job!="a\"b\\c\n")");
  Result<Matcher> utf8 = Matcher::Make(MatchType::kEqual, "service.name", "ü");
  ASSERT_TRUE(utf8.ok());
  EXPECT_EQ(utf8->ToString(), R"("service.name"="ü")");
  Result<Matcher> bytes = Matcher::Make(MatchType::kEqual, "a", "\xff");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->ToString(), R"(a="\xff")");
}

TEST(MatcherTest, CopiesShareTheCompiledRegex) {
  const Matcher a = Make(MatchType::kRegexp, "x(y|z)+");
  const Matcher b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(b.Matches("xyz"));
  EXPECT_TRUE(a == b);
}

TEST(LabelNameTest, Legacy) {
  EXPECT_TRUE(IsLegacyLabelName("job"));
  EXPECT_TRUE(IsLegacyLabelName("_a1"));
  EXPECT_FALSE(IsLegacyLabelName("1a"));
  EXPECT_FALSE(IsLegacyLabelName("a.b"));
  EXPECT_FALSE(IsLegacyLabelName(""));
}

}  // namespace
}  // namespace sightline::promql
