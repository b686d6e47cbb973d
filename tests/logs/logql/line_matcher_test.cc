// Differential tests of LineMatcher (src/logs/logql/line_matcher.h): over a
// generated corpus that mixes log-like tokens, UTF-8 (incl. the code points
// RE2's case folding reaches from ASCII: U+017F, U+212A), invalid UTF-8,
// embedded newlines and empty lines, the Vectorscan path (per line and the
// whole-column scan) must select exactly the lines RE2/memmem select.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "logs/logql/line_matcher.h"

namespace sightline::logs::logql {
namespace {

std::vector<std::string> Corpus(size_t n, uint64_t seed) {
  static const char* tokens[] = {
      "error", "ERROR", "Error", "warn", "WARN", "warning", "info", "debug", "status=500",
      "status=503", "status=200", "status=5x3", "status=50", "user_bob@example.com", "user_@x",
      "user_Alice@", "timeout", "TimeOut", "colour", "color", "a.b", "axb", "a\nb", "x\xc3\xa9y",
      "xay", "x\xffy", "x\xc3y", "\xed\xa0\x80", "\xe2\x84\xaa" "elvin", "kelvin", "\xc5\xbf" "tatus",
      "caf\xc3\xa9", "\xc3\xa9\xc3\xa9", "foo", "foofoo", "barfoo", "bar", "o{", "{", "}", "[", "]",
      "trace_id=4bf92f3577b34da6a3ce929d0e0e4736", "GET", "POST", "/api/v1/items", " ", "  ", "\t",
      "-", "42", "1234", "\\", "\"", "'", "=", "word", "sword", "words", "_", "K", "k", "S", "s",
      "\x0b", "\r\n", "aa", "aaa", "A", "\x41\x42"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string l;
    size_t k = rng() % 9;  // 0: an empty line
    for (size_t j = 0; j < k; ++j) {
      if (j > 0 && rng() % 3 == 0) l += ' ';
      l += tokens[rng() % std::size(tokens)];
    }
    out.push_back(std::move(l));
  }
  return out;
}

// Term lists: each is one `or` chain.
struct Case {
  std::vector<MatchTerm> terms;
  bool expect_vectorscan;  // at least one term must go to Vectorscan
};

MatchTerm L(const char* s) { return {s, false}; }
MatchTerm R(const char* s) { return {s, true}; }

std::vector<Case> Cases() {
  return {
      {{L("error")}, true},
      {{L("status=503"), L("timeout")}, true},
      {{L("a"), L("b"), L("c"), L("d"), L("e")}, true},
      {{L("a\nb"), L("x\xffy")}, true},
      {{L("")}, false},
      {{R("(?i)error")}, true},
      {{R("(?i)kelvin")}, true},
      {{R("(?i)status")}, true},
      {{R("(?i)error|warn")}, true},
      {{R("status=5\\d\\d")}, true},
      {{R("user_[a-z]+@")}, true},
      {{R("(?i)user_[a-z]+@")}, true},
      {{R("a.b")}, true},
      {{R("x.y")}, true},
      {{R("x[^a]y")}, true},
      {{R("x[^\\n]y")}, true},
      {{R("\\W\\w")}, true},
      {{R("(?i)\\W[k]")}, true},
      {{R("\\S\\s\\S")}, true},
      {{R("^foo")}, true},
      {{R("bar$")}, true},
      {{R("^$")}, true},
      {{R("(foo|bar){2}")}, true},
      {{R("a{2,3}")}, true},
      {{R("a{3}")}, true},
      {{R("o{")}, true},
      {{R("colou?r")}, true},
      {{R(".*timeout")}, true},
      {{R("timeout.*?")}, true},
      {{R("(?P<x>sw)ord")}, true},
      {{R("caf\xc3\xa9")}, true},
      {{R("\xc3\xa9+")}, true},
      {{R("(?i)caf\xc3\xa9")}, false},
      {{R("\\x41")}, true},
      {{R("[\\d-]+x")}, true},
      {{R("[a-c-]")}, true},
      {{R("[]a]")}, true},
      {{R("\\bword\\b")}, false},
      {{R("[[:alpha:]]+5")}, false},
      {{R("\\pL\\d")}, false},
      {{R("a*")}, false},
      {{R("(?s)a.b")}, false},
      {{R("(?i)[^k]elvin")}, true},
      {{R("\\x{212A}")}, false},
      {{R("[\\x00-\\x{10FFFF}]x")}, false},
      {{R("[\xc3\xa0-\xc3\xbf]")}, true},
      {{R("[^\xc3\xa9]y")}, true},
      {{R("\\.b")}, true},
      {{R("status=5\\d\\d"), L("timeout"), R("(?i)warn")}, true},
      {{R("\\bword"), L("foo")}, true},
      {{R("a*"), L("foo")}, true},
      {{R("^foo"), L("bar")}, true},
  };
}

std::string Describe(const std::vector<MatchTerm>& terms) {
  std::string s;
  for (const auto& t : terms) s += (t.regex ? " ~" : " =") + std::string("`") + t.text + "`";
  return s;
}

TEST(LineMatcher, VectorscanSelectsTheSameLinesAsRe2) {
  auto corpus = Corpus(4000, 42);
  std::string column;
  std::vector<uint32_t> off{0};
  for (const auto& l : corpus) {
    column += l;
    off.push_back(static_cast<uint32_t>(column.size()));
  }
  size_t translated_cases = 0, column_cases = 0;
  for (const auto& c : Cases()) {
    SCOPED_TRACE(Describe(c.terms));
    auto ref = LineMatcher::Make(c.terms, MatchEngine::kRe2);
    auto hs = LineMatcher::Make(c.terms, MatchEngine::kVectorscan);
    auto au = LineMatcher::Make(c.terms, MatchEngine::kAuto);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    ASSERT_TRUE(hs.ok()) << hs.status().ToString();
    ASSERT_TRUE(au.ok());
    EXPECT_EQ((*hs)->vectorscan_terms() > 0, c.expect_vectorscan);
    if ((*hs)->vectorscan_terms() > 0) ++translated_cases;
    if ((*hs)->column_scan()) ++column_cases;
    // The reference itself against RE2 directly.
    std::vector<uint32_t> want;
    std::vector<std::unique_ptr<re2::RE2>> res;
    for (const auto& t : c.terms) {
      re2::RE2::Options o;
      o.set_log_errors(false);
      res.push_back(t.regex ? std::make_unique<re2::RE2>(t.text, o) : nullptr);
    }
    for (size_t i = 0; i < corpus.size(); ++i) {
      bool any = false;
      for (size_t k = 0; k < c.terms.size(); ++k) {
        const MatchTerm& t = c.terms[k];
        if (t.regex) {
          any |= re2::RE2::PartialMatch(corpus[i], *res[k]);
        } else {
          any |= memmem(corpus[i].data(), corpus[i].size(), t.text.data(), t.text.size()) !=
                     nullptr || t.text.empty();
        }
      }
      EXPECT_EQ((*ref)->Match(corpus[i]), any) << "line " << i;
      if (any) want.push_back(static_cast<uint32_t>(i));
    }
    std::vector<uint32_t> per_line, auto_lines;
    for (size_t i = 0; i < corpus.size(); ++i) {
      if ((*hs)->Match(corpus[i])) per_line.push_back(static_cast<uint32_t>(i));
      if ((*au)->Match(corpus[i])) auto_lines.push_back(static_cast<uint32_t>(i));
    }
    EXPECT_EQ(per_line, want);
    EXPECT_EQ(auto_lines, want);
    // Whole column, and sub-ranges that start and end mid-corpus.
    std::vector<uint32_t> col;
    (*hs)->MatchColumn(column, off.data(), 0, corpus.size(), &col);
    EXPECT_EQ(col, want);
    for (auto [lo, hi] : {std::pair<size_t, size_t>{17, 1033}, {1, 2}, {3999, 4000}, {5, 5}}) {
      std::vector<uint32_t> sub, sub_want;
      (*hs)->MatchColumn(column, off.data(), lo, hi, &sub);
      for (uint32_t i : want) {
        if (i >= lo && i < hi) sub_want.push_back(i);
      }
      EXPECT_EQ(sub, sub_want) << lo << ".." << hi;
    }
    EXPECT_FALSE(want.empty() && c.terms.size() == 1 && !c.terms[0].regex)
        << "the corpus should exercise every literal";
  }
  EXPECT_GE(translated_cases, 40u);
  EXPECT_GE(column_cases, 30u);
}

TEST(LineMatcher, TranslationShapes) {
  std::string hs;
  bool anchored = false;
  ASSERT_TRUE(TranslateForVectorscan("status=5\\d\\d", &hs, &anchored));
  EXPECT_FALSE(anchored);
  ASSERT_TRUE(TranslateForVectorscan("^a$", &hs, &anchored));
  EXPECT_TRUE(anchored);
  // `.*`-like repeats are matched line by line (slower over a column).
  ASSERT_TRUE(TranslateForVectorscan("order \\d+.*timed out", &hs, &anchored));
  EXPECT_TRUE(anchored);
  ASSERT_TRUE(TranslateForVectorscan("x[^\"]+y", &hs, &anchored));
  EXPECT_TRUE(anchored);
  ASSERT_TRUE(TranslateForVectorscan("user_[a-z]+@", &hs, &anchored));
  EXPECT_FALSE(anchored);
  ASSERT_TRUE(TranslateForVectorscan("a.b", &hs, &anchored));
  EXPECT_FALSE(anchored);
  EXPECT_FALSE(TranslateForVectorscan("\\ba", &hs, &anchored));
  EXPECT_FALSE(TranslateForVectorscan("(?m)^a", &hs, &anchored));
  EXPECT_FALSE(TranslateForVectorscan("a(?i)b", &hs, &anchored));
  EXPECT_FALSE(TranslateForVectorscan("\\p{Greek}", &hs, &anchored));
}

TEST(LineMatcher, InvalidRegex) {
  EXPECT_FALSE(LineMatcher::Make({R("a(")}).ok());
}

}  // namespace
}  // namespace sightline::logs::logql
