#include "metrics/promql/lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sightline::promql {
namespace {

using K = TokenKind;

struct Tok {
  TokenKind kind;
  std::string text;
  friend bool operator==(const Tok&, const Tok&) = default;
};

std::ostream& operator<<(std::ostream& os, const Tok& t) {
  return os << "{" << static_cast<int>(t.kind) << ", \"" << t.text << "\"}";
}

// Tokens without the trailing EOF.
std::vector<Tok> Lex(std::string_view in) {
  std::vector<Tok> out;
  for (const Token& t : Tokenize(in)) {
    if (t.kind == K::kEof) break;
    out.push_back({t.kind, t.kind == K::kError ? t.error : std::string(t.text)});
  }
  return out;
}

struct LexCase {
  std::string_view input;
  std::vector<Tok> want;
};

TEST(LexerTest, Tokens) {
  const LexCase cases[] = {
      // Numbers.
      {"1", {{K::kNumber, "1"}}},
      {"4.23", {{K::kNumber, "4.23"}}},
      {".3", {{K::kNumber, ".3"}}},
      {"5.", {{K::kNumber, "5."}}},
      {"NaN", {{K::kNumber, "NaN"}}},
      {"nAN", {{K::kNumber, "nAN"}}},
      {"NaN 123", {{K::kNumber, "NaN"}, {K::kNumber, "123"}}},
      {"inf", {{K::kNumber, "inf"}}},
      {"Inf", {{K::kNumber, "Inf"}}},
      {"+Inf", {{K::kAdd, "+"}, {K::kNumber, "Inf"}}},
      {"0x123", {{K::kNumber, "0x123"}}},
      {"0X_1F", {{K::kNumber, "0X_1F"}}},
      {"1e3", {{K::kNumber, "1e3"}}},
      {"1E-3", {{K::kNumber, "1E-3"}}},
      {"12.34e+6", {{K::kNumber, "12.34e+6"}}},
      {"1_000_000", {{K::kNumber, "1_000_000"}}},
      {".123_456", {{K::kNumber, ".123_456"}}},
      {"0755", {{K::kNumber, "0755"}}},
      // Durations.
      {"5s", {{K::kDuration, "5s"}}},
      {"123m", {{K::kDuration, "123m"}}},
      {"1h", {{K::kDuration, "1h"}}},
      {"3w", {{K::kDuration, "3w"}}},
      {"1y", {{K::kDuration, "1y"}}},
      {"100ms", {{K::kDuration, "100ms"}}},
      {"1h30m", {{K::kDuration, "1h30m"}}},
      {"1y2w3d4h5m6s7ms", {{K::kDuration, "1y2w3d4h5m6s7ms"}}},
      // Strings: the token keeps its quotes.
      {R"("test\tsequence")", {{K::kString, R"("test\tsequence")"}}},
      {R"('test\'s')", {{K::kString, R"('test\'s')"}}},
      {"`raw \\string`", {{K::kString, "`raw \\string`"}}},
      {R"("\u70ac")", {{K::kString, R"("\u70ac")"}}},
      // Identifiers and keywords.
      {"abc", {{K::kIdentifier, "abc"}}},
      {"a:bc", {{K::kMetricIdentifier, "a:bc"}}},
      {":bc", {{K::kMetricIdentifier, ":bc"}}},
      {"abc d", {{K::kIdentifier, "abc"}, {K::kIdentifier, "d"}}},
      {"sum", {{K::kSum, "sum"}}},
      {"SUM", {{K::kSum, "SUM"}}},
      {"count_values", {{K::kCountValues, "count_values"}}},
      {"limitk limit_ratio", {{K::kLimitk, "limitk"}, {K::kLimitRatio, "limit_ratio"}}},
      {"offset", {{K::kOffset, "offset"}}},
      {"by without on ignoring",
       {{K::kBy, "by"}, {K::kWithout, "without"}, {K::kOn, "on"}, {K::kIgnoring, "ignoring"}}},
      {"group_left group_right bool",
       {{K::kGroupLeft, "group_left"}, {K::kGroupRight, "group_right"}, {K::kBool, "bool"}}},
      {"and or unless atan2",
       {{K::kLand, "and"}, {K::kLor, "or"}, {K::kLunless, "unless"}, {K::kAtan2, "atan2"}}},
      {"start end step range",
       {{K::kStart, "start"}, {K::kEnd, "end"}, {K::kStep, "step"}, {K::kRange, "range"}}},
      {"anchored smoothed", {{K::kAnchored, "anchored"}, {K::kSmoothed, "smoothed"}}},
      // fill is a keyword only before "(".
      {"fill (0)",
       {{K::kFill, "fill"}, {K::kLeftParen, "("}, {K::kNumber, "0"}, {K::kRightParen, ")"}}},
      {"fill + fill_left",
       {{K::kIdentifier, "fill"}, {K::kAdd, "+"}, {K::kIdentifier, "fill_left"}}},
      {"min_of", {{K::kIdentifier, "min_of"}}},
      // Operators.
      {"+ - * / % ^",
       {{K::kAdd, "+"},
        {K::kSub, "-"},
        {K::kMul, "*"},
        {K::kDiv, "/"},
        {K::kMod, "%"},
        {K::kPow, "^"}}},
      {"== != < <= > >=",
       {{K::kEqlc, "=="},
        {K::kNeq, "!="},
        {K::kLss, "<"},
        {K::kLte, "<="},
        {K::kGtr, ">"},
        {K::kGte, ">="}}},
      {"</ >/", {{K::kTrimUpper, "</"}, {K::kTrimLower, ">/"}}},
      {"@", {{K::kAt, "@"}}},
      {",", {{K::kComma, ","}}},
      {"()", {{K::kLeftParen, "("}, {K::kRightParen, ")"}}},
      // Selectors: keywords are identifiers inside braces.
      {R"({foo="bar"})",
       {{K::kLeftBrace, "{"},
        {K::kIdentifier, "foo"},
        {K::kAssign, "="},
        {K::kString, "\"bar\""},
        {K::kRightBrace, "}"}}},
      {R"({NaN != "bar"})",
       {{K::kLeftBrace, "{"},
        {K::kIdentifier, "NaN"},
        {K::kNeq, "!="},
        {K::kString, "\"bar\""},
        {K::kRightBrace, "}"}}},
      {R"({alert=~"bar"})",
       {{K::kLeftBrace, "{"},
        {K::kIdentifier, "alert"},
        {K::kEqlRegex, "=~"},
        {K::kString, "\"bar\""},
        {K::kRightBrace, "}"}}},
      {R"({on!~"bar"})",
       {{K::kLeftBrace, "{"},
        {K::kIdentifier, "on"},
        {K::kNeqRegex, "!~"},
        {K::kString, "\"bar\""},
        {K::kRightBrace, "}"}}},
      {R"({"a.b"="c"})",
       {{K::kLeftBrace, "{"},
        {K::kString, "\"a.b\""},
        {K::kAssign, "="},
        {K::kString, "\"c\""},
        {K::kRightBrace, "}"}}},
      // Ranges and subqueries.
      {"test_name[5m]",
       {{K::kIdentifier, "test_name"},
        {K::kLeftBracket, "["},
        {K::kDuration, "5m"},
        {K::kRightBracket, "]"}}},
      {"x[ 5m : 1m ]",
       {{K::kIdentifier, "x"},
        {K::kLeftBracket, "["},
        {K::kDuration, "5m"},
        {K::kColon, ":"},
        {K::kDuration, "1m"},
        {K::kRightBracket, "]"}}},
      {"x[5m:]",
       {{K::kIdentifier, "x"},
        {K::kLeftBracket, "["},
        {K::kDuration, "5m"},
        {K::kColon, ":"},
        {K::kRightBracket, "]"}}},
      {"x[5m+step()*2]",
       {{K::kIdentifier, "x"},
        {K::kLeftBracket, "["},
        {K::kDuration, "5m"},
        {K::kAdd, "+"},
        {K::kStep, "step"},
        {K::kLeftParen, "("},
        {K::kRightParen, ")"},
        {K::kMul, "*"},
        {K::kNumber, "2"},
        {K::kRightBracket, "]"}}},
      {"x[MIN_OF(1m,range())]",
       {{K::kIdentifier, "x"},
        {K::kLeftBracket, "["},
        {K::kMinOf, "MIN_OF"},
        {K::kLeftParen, "("},
        {K::kDuration, "1m"},
        {K::kComma, ","},
        {K::kRange, "range"},
        {K::kLeftParen, "("},
        {K::kRightParen, ")"},
        {K::kRightParen, ")"},
        {K::kRightBracket, "]"}}},
      // Comments.
      {"# some comment", {{K::kComment, "# some comment"}}},
      {"5 # 1+1\n5", {{K::kNumber, "5"}, {K::kComment, "# 1+1"}, {K::kNumber, "5"}}},
  };
  for (const LexCase& c : cases) {
    EXPECT_EQ(Lex(c.input), c.want) << "input: " << c.input;
  }
}

TEST(LexerTest, Errors) {
  struct Case {
    std::string_view input;
    std::string_view error;
    int32_t pos;
  };
  const Case cases[] = {
      {"=~", "unexpected character after '=': '~'", 0},
      {"!~", "unexpected character after '!': '~'", 0},
      {"!(", "unexpected character after '!': '('", 0},
      {"1a", "bad number or duration syntax: \"1\"", 0},
      {"0deadbeef", "bad number or duration syntax: \"0de\"", 0},
      {"2.5.", "bad number or duration syntax: \"2.5.\"", 0},
      {"100..4", "bad number or duration syntax: \"100..\"", 0},
      {"x[5mm]", "bad number or duration syntax: \"5mm\"", 2},
      {"x[5m1]", "bad number or duration syntax: \"5m1\"", 2},
      {"(", "unclosed left parenthesis", 1},
      {"((1)", "unclosed left parenthesis", 4},
      {"(1))", "unexpected right parenthesis ')'", 4},
      {"]", "unexpected right bracket ']'", 0},
      {"x[", "unexpected end of input in duration expression", 2},
      {"x[5s x 5s]", "unexpected character: 'x', expected ':'", 5},
      {R"(x["5m"])", "unexpected character in duration expression: '\"'", 2},
      {"x[:5m]", "unexpected colon before duration in duration expression", 3},
      {"x[5m::1m]", "unexpected repeated colon in duration expression", 6},
      {"{", "unexpected end of input inside braces", 1},
      {"}", "unexpected character: '}'", 0},
      {"{{", "unexpected left brace '{'", 1},
      {"{a:b}", "unexpected character inside braces: ':'", 2},
      {"{a!b}", "unexpected character after '!' inside braces: 'b'", 2},
      {R"("abc)", "unterminated quoted string", 0},
      {"\"a\nb\"", "unterminated quoted string", 0},
      {"`abc", "unterminated raw string", 0},
      {R"("\c")", "unknown escape sequence U+0063 'c'", 0},
      {R"("\x.")", "illegal character U+002E '.' in escape sequence", 0},
      {R"("\)", "escape sequence not terminated", 0},
      {R"("\ud800")", "escape sequence is an invalid Unicode code point", 0},
      {"\"\xff\"", "invalid UTF-8 rune", 0},
      {"$", "unexpected character: '$'", 0},
      {"\x01", "unexpected character: '\\x01'", 0},
  };
  for (const Case& c : cases) {
    const std::vector<Token> tokens = Tokenize(c.input);
    ASSERT_FALSE(tokens.empty());
    const Token& last = tokens.back();
    ASSERT_EQ(last.kind, K::kError) << c.input;
    EXPECT_EQ(last.error, c.error) << c.input;
    EXPECT_EQ(last.pos, c.pos) << c.input;
  }
}

TEST(LexerTest, PositionsAreByteOffsets) {
  const std::vector<Token> t = Tokenize("sum(rate(x[5m]))  # c");
  ASSERT_GE(t.size(), 9u);
  EXPECT_EQ(t[0].pos, 0);   // sum
  EXPECT_EQ(t[2].pos, 4);   // rate
  EXPECT_EQ(t[4].pos, 9);   // x
  EXPECT_EQ(t[6].pos, 11);  // 5m
  EXPECT_EQ(t[6].end(), 13);
  EXPECT_EQ(t.back().kind, K::kEof);
  EXPECT_EQ(t.back().pos, 21);
}

TEST(LexerTest, DescribeTokenMatchesPrometheus) {
  auto describe = [](std::string_view in) { return DescribeToken(Tokenize(in)[0]); };
  EXPECT_EQ(describe(""), "end of input");
  EXPECT_EQ(describe("*"), "<op:*>");
  EXPECT_EQ(describe("=="), "<op:==>");
  EXPECT_EQ(describe("and"), "<op:and>");
  EXPECT_EQ(describe("@"), "<op:@>");
  EXPECT_EQ(describe("sum"), "<aggr:sum>");
  EXPECT_EQ(describe("by"), "<by>");
  EXPECT_EQ(describe("IGNORING"), "<IGNORING>");
  EXPECT_EQ(describe("("), "\"(\"");
  EXPECT_EQ(describe(","), "\",\"");
  EXPECT_EQ(describe("="), "\"=\"");
  EXPECT_EQ(describe("start"), "\"start\"");
  EXPECT_EQ(describe("foo"), "identifier \"foo\"");
  EXPECT_EQ(describe("foo:bar"), "metric identifier \"foo:bar\"");
  EXPECT_EQ(describe("42"), "number \"42\"");
  EXPECT_EQ(describe("5m"), "duration \"5m\"");
  EXPECT_EQ(describe("\"abc\""), "string \"\\\"abc\\\"\"");
  EXPECT_EQ(describe("\"a long string\""), "string \"\\\"a long st\"...");
}

}  // namespace
}  // namespace sightline::promql
