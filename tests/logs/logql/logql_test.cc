// Table-driven tests of the LogQL front end and pipeline stages: parsing and
// Loki's error messages, String()/Pretty(), stream matchers, line filters,
// parsers, label filters, formatting (Go templates), drop/keep.
#include <gtest/gtest.h>

#include "logs/logql/engine.h"
#include "logs/logql/stages.h"
#include "memory_querier.h"

namespace sightline::logs::logql {
namespace {

using testing::MemoryLogQuerier;

TEST(LogqlParse, ValidQueries) {
  const char* ok[] = {
      R"({app="a"})",
      R"({app="a", env=~"prod|dev"} |= "x" != "y" |~ "a.c" !~ "d" |> "<_> b" !> "c <_>")",
      R"({app="a"} |= "x" or "y" or ip("10.0.0.0/8"))",
      R"({app="a"} | json | logfmt --strict --keep-empty | unpack | decolorize)",
      R"({app="a"} | json a="b.c", d="e[0]" | logfmt x, y="z")",
      R"x({app="a"} | regexp "(?P<m>\\w+)" | pattern "<m> <_>")x",
      R"({app="a"} | level="x" and status>=200 or (d > 1s, b < 10KB) | addr=ip("1.2.3.4"))",
      R"({app="a"} | line_format "{{.a | upper}}" | label_format x=y, z="{{.a}}")",
      R"({app="a"} | drop a, b="c" | keep d, e=~"f.*")",
      R"(count_over_time({app="a"}[5m]))",
      R"(sum by (a) (rate({app="a"} |= "x" [1m] offset 5m)))",
      R"(quantile_over_time(0.99, {app="a"} | logfmt | unwrap duration(d) | __error__="" [1m]) by (x))",
      R"(topk(3, sum(count_over_time({app="a"}[1m])) by (b)))",
      R"(sum(count_over_time({a="b"}[1m])) / on (x) group_left (y) sum(count_over_time({c="d"}[1m])) by (x, y))",
      R"(vector(1) + vector(1))",
      R"x(label_replace(rate({a="b"}[1m]), "d", "$1", "s", "(.*)"))x",
      R"(count_over_time({app="a"}[1m]) > bool 2)",
      R"(1 + 2 * 3)",
      R"(count_over_time(({app="a"} | json)[1m]))",
      R"(sum_over_time({app="a"}[1m] | logfmt | unwrap v))",
  };
  for (const char* q : ok) {
    auto r = Parse(q);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
    if (!r.ok()) continue;
    // String() is itself parseable and stable.
    auto again = Parse(r->String());
    ASSERT_TRUE(again.ok()) << r->String() << ": " << again.status().message();
    EXPECT_EQ(again->String(), r->String());
  }
}

TEST(LogqlParse, Errors) {
  struct Case {
    const char* q;
    const char* msg;
  } cases[] = {
      {R"({app="a"} | foo)", "syntax error"},
      {R"(count_over_time({app="a"}))", "syntax error: unexpected )"},
      {R"({app=~".*"})", "queries require at least one regexp or equality matcher"},
      {R"({app="a"} |~ "(")", "error parsing regexp: missing closing )"},
      {R"(count_over_time({app="a"} | logfmt | unwrap x [1m]))", "invalid aggregation count_over_time with unwrap"},
      {R"(sum_over_time({app="a"}[1m]))", "invalid aggregation sum_over_time without unwrap"},
      {R"(rate({app="a"}[1m]) by (x))", "grouping not allowed for rate aggregation"},
      {R"(topk(count_over_time({app="a"}[1m])))", "parameter required"},
      {R"(topk(1.5, count_over_time({app="a"}[1m])))", "invalid parameter"},
      {R"(vector(count_over_time({a="b"}[1m])))", "expecting NUMBER"},
      {R"(1 and 2)", "unexpected literal for left leg of logical/set binary operation"},
      {R"({app="a"} | x == "1")", "syntax error: unexpected STRING"},
      {R"({app="a"} | x > ip("1.2.3.4"))", "syntax error: unexpected ip"},
      {R"({app="a"} |~ ip("1.2.3.4"))", "ip: invalid operation"},
      {R"({app="a"} |= ip("nope"))", "ip: invalid pattern"},
      {R"({app="a"} | regexp "x")", "at least one named capture must be supplied"},
      {R"({app="a"} | pattern "x")", "at least one capture is required"},
      {R"({app="a"} | json a="b[")", "cannot parse expression"},
      {R"({app="a"} | x > 0x10)", "unable to parse literal as a float"},
      {R"({app="a"} | line_format "{{.a | nosuch}}")", "function \"nosuch\" not defined"},
      {R"(sum(count_over_time({a="b"}[1m])) + {a="b"})", "unexpected log query"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.q);
    ASSERT_FALSE(r.ok()) << c.q;
    EXPECT_NE(r.status().message().find(c.msg), std::string::npos)
        << c.q << " -> " << r.status().message();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  // Positions: Loki's "parse error at line L, col C".
  auto r = Parse("{app=\"a\"}\n | foo");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("parse error at line 2, col "), std::string::npos)
      << r.status().message();
}

TEST(LogqlParse, HelpersForTheApi) {
  auto q = Parse(R"(sum(rate({a="b"}[1m])) / sum(rate({c=~"d|e", f!="g"} |= "x" [1m])))");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->IsLogQuery());
  auto ms = q->StreamMatchers();
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].size(), 1u);
  EXPECT_EQ(ms[1].size(), 2u);
  EXPECT_EQ(ms[1][0].ToString(), R"(c=~"d|e")");
  auto lq = Parse(R"({a="b"} | json)");
  ASSERT_TRUE(lq.ok());
  EXPECT_TRUE(lq->IsLogQuery());
  auto sel = ParseStreamSelector(R"({a="b", c=~"d"})");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->size(), 2u);
  EXPECT_FALSE(ParseStreamSelector(R"({a="b"} |= "x")").ok());
  auto f = Format(R"(sum   by(a)(count_over_time({app="x"}|="y"[5m])))");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, R"(sum by (a)(count_over_time({app="x"} |= "y"[5m])))");
  EXPECT_FALSE(Format("sum(").ok());
}

// Runs a log query over one stream and returns "labels line" per entry
// (forward).
std::vector<std::string> RunLog(const std::string& query, const std::vector<std::string>& lines,
                                const Labels& stream = Labels::FromStrings({"app", "a"}),
                                const Labels& md = {}) {
  MemoryLogQuerier q;
  int64_t ts = 1;
  for (const auto& l : lines) q.Add(stream, Entry{ts++, l, md});
  Engine engine;
  QueryParams p;
  p.query = query;
  p.start_ns = 0;
  p.end_ns = 1000;
  p.direction = Direction::kForward;
  p.limit = 1000;
  auto r = engine.Exec(q, p);
  if (!r.ok()) return {"ERROR " + r.status().message()};
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& s : r->streams) {
    for (const auto& e : s.entries) out.emplace_back(e.timestamp_ns, s.labels.ToString() + " " + e.line);
  }
  std::sort(out.begin(), out.end());
  std::vector<std::string> v;
  for (auto& [t, s] : out) v.push_back(s);
  return v;
}

TEST(LogqlStages, LineFilters) {
  std::vector<std::string> lines = {"GET /api 200", "POST /api 500", "GET /health 200 from 10.1.2.3",
                                    "get lower", "x 192.168.1.7:80"};
  struct Case {
    const char* pipeline;
    std::vector<int> keep;  // indexes into lines
  } cases[] = {
      {R"(|= "GET")", {0, 2}},
      {R"(!= "GET")", {1, 3, 4}},
      {R"(|~ "(?i)get")", {0, 2, 3}},
      {R"(!~ "\\d{3}")", {3}},
      {R"(|= "500" or "health")", {1, 2}},
      {R"(!= "500" or "health")", {0, 3, 4}},
      {R"(|~ "POST" or "lower")", {1, 3}},
      {R"(|> "<_> /api <_>")", {0, 1}},
      {R"(!> "<_> /api <_>")", {2, 3, 4}},
      {R"(|= ip("10.0.0.0/8"))", {2}},
      {R"(|= ip("192.168.1.1-192.168.1.10") or "POST")", {1, 4}},
      {R"(!= ip("10.0.0.0/8"))", {0, 1, 3, 4}},
      {R"(|= "GET" |= "200" != "health")", {0}},
      {R"(|= "")", {0, 1, 2, 3, 4}},
  };
  for (const auto& c : cases) {
    auto got = RunLog(std::string(R"({app="a"} )") + c.pipeline, lines);
    std::vector<std::string> want;
    for (int i : c.keep) want.push_back(R"({app="a"} )" + lines[i]);
    EXPECT_EQ(got, want) << c.pipeline;
  }
}

TEST(LogqlStages, Parsers) {
  struct Case {
    const char* query;
    const char* line;
    const char* want;  // "labels line" or "" when dropped
  } cases[] = {
      {R"({app="a"} | json)", R"({"a":{"b":1},"c":"x y","d":[1],"e":null,"f":true})",
       R"({a_b="1", app="a", c="x y", f="true"} {"a":{"b":1},"c":"x y","d":[1],"e":null,"f":true})"},
      {R"({app="a"} | json | __error__="")", "not json", ""},
      {R"({app="a"} | json | drop __error_details__)", "not json",
       R"({__error__="JSONParserErr", app="a"} not json)"},
      {R"({app="a"} | json x="a.b", y="d[1]", z="a")", R"({"a":{"b":"q"},"d":[1,2]})",
       R"({app="a", x="q", y="2", z="{\"b\":\"q\"}"} {"a":{"b":"q"},"d":[1,2]})"},
      {R"({app="a"} | json s="[\"k k\"]")", R"({"k k":"v"})", R"({app="a", s="v"} {"k k":"v"})"},
      {R"({app="a"} | logfmt)", R"(level=info msg="hello \"w\"" app=x)",
       R"({app="a", app_extracted="x", level="info", msg="hello \"w\""} level=info msg="hello \"w\"" app=x)"},
      {R"({app="a"} | logfmt --strict | __error__!="")", "a=1 b", ""},
      {R"({app="a"} | logfmt --keep-empty)", "a= b=2", R"({a="", app="a", b="2"} a= b=2)"},
      {R"x({app="a"} | regexp "(?P<verb>\\w+) (?P<path>\\S+)")x", "GET /x 200",
       R"({app="a", path="/x", verb="GET"} GET /x 200)"},
      {R"({app="a"} | pattern "<ip> - <_> [<ts>] \"<verb> <path> <_>\" <status>")",
       R"(1.2.3.4 - - [01/Jan] "GET /p HTTP/1.1" 200)",
       R"({app="a", ip="1.2.3.4", path="/p", status="200", ts="01/Jan", verb="GET"} 1.2.3.4 - - [01/Jan] "GET /p HTTP/1.1" 200)"},
      {R"({app="a"} | unpack)", R"({"_entry":"orig line","k":"v"})", R"({app="a", k="v"} orig line)"},
      {R"({app="a"} | decolorize)", "\x1b[31mred\x1b[0m text", R"({app="a"} red text)"},
  };
  for (const auto& c : cases) {
    auto got = RunLog(c.query, {c.line});
    if (std::string(c.want).empty()) {
      EXPECT_TRUE(got.empty()) << c.query << " got " << (got.empty() ? "" : got[0]);
    } else {
      ASSERT_EQ(got.size(), 1u) << c.query;
      EXPECT_EQ(got[0], c.want) << c.query;
    }
  }
}

TEST(LogqlStages, LabelFiltersAndFormat) {
  std::vector<std::string> lines = {"lvl=error took=2s size=3MB code=500 addr=10.0.0.1",
                                    "lvl=info took=100ms size=1KB code=200 addr=192.168.0.1",
                                    "lvl=warn took=oops size=5KiB code=404"};
  struct Case {
    const char* pipeline;
    std::vector<std::string> want_lines;
  } cases[] = {
      {R"(| logfmt | lvl="error" | line_format "{{.lvl}}")", {"error"}},
      {R"(| logfmt | took > 1s | line_format "{{.lvl}}")", {"error", "warn"}},  // error kept
      {R"(| logfmt | took > 1s | __error__="" | line_format "{{.lvl}}")", {"error"}},
      {R"(| logfmt | size >= 5KiB | line_format "{{.lvl}}")", {"error", "warn"}},
      {R"(| logfmt | code >= 400 and code < 500 | line_format "{{.lvl}}")", {"warn"}},
      {R"(| logfmt | code == 200 or lvl=~"e.*" | line_format "{{.lvl}}")", {"error", "info"}},
      {R"(| logfmt | addr = ip("10.0.0.0/8") | line_format "{{.lvl}}")", {"error"}},
      {R"(| logfmt | lvl!="info", code!=404 | line_format "{{.lvl}}")", {"error"}},
      {R"(| logfmt | line_format "{{.lvl | upper}}-{{ .code | trunc 2 }}{{ if eq .lvl \"warn\" }}!{{ end }}")",
       {"ERROR-50", "INFO-20", "WARN-40!"}},
      {R"(| logfmt | line_format "{{ printf \"%s=%05.1f\" .lvl (.code | float64) }}")",
       {"error=500.0", "info=200.0", "warn=404.0"}},
      {R"(| logfmt | line_format "{{ .code | int | add 1 }} {{ regexReplaceAll \"(\\\\d)s\" .took \"${1}S\" }}")",
       {"501 2S", "201 100ms", "405 oops"}},
      {R"(| logfmt | label_format l=lvl | line_format "{{.l}}/{{.lvl}}")",
       {"error/", "info/", "warn/"}},
      {R"(| logfmt | label_format x="{{.lvl}}-{{.code}}" | line_format "{{.x}}")",
       {"error-500", "info-200", "warn-404"}},
      {R"(| logfmt | keep lvl | line_format "{{.lvl}}{{.code}}{{.app}}")",
       {"error", "info", "warn"}},
      {R"(| logfmt | drop lvl, code="500" | line_format "{{.lvl}}{{.code}}")", {"", "200", "404"}},
      {R"(| logfmt | line_format "{{ __line__ | len }} {{ .lvl | title }} {{ default \"none\" .addr }}")",
       {"49 Error 10.0.0.1", "54 Info 192.168.0.1", "37 Warn none"}},
  };
  for (const auto& c : cases) {
    auto got = RunLog(std::string(R"({app="a"} )") + c.pipeline, lines);
    std::vector<std::string> lines_only;
    for (auto& g : got) {
      if (g.rfind("ERROR", 0) == 0) {
        lines_only.push_back(g);
        continue;
      }
      lines_only.push_back(g.substr(g.find("} ") + 2));
    }
    EXPECT_EQ(lines_only, c.want_lines) << c.pipeline;
  }
}

TEST(LogqlStages, Conversions) {
  EXPECT_EQ(*ParseGoDuration("1h30m"), 5400'000'000'000);
  EXPECT_EQ(*ParseGoDuration("1.5s"), 1'500'000'000);
  EXPECT_EQ(*ParseGoDuration("-5ms"), -5'000'000);
  EXPECT_EQ(ParseGoDuration("10").status().message(), R"(time: missing unit in duration "10")");
  EXPECT_EQ(ParseGoDuration("1d").status().message(), R"(time: unknown unit "d" in duration "1d")");
  EXPECT_EQ(ParseGoDuration("x").status().message(), R"(time: invalid duration "x")");
  EXPECT_EQ(*ParseHumanBytes("1KiB"), 1024u);
  EXPECT_EQ(*ParseHumanBytes("2,048"), 2048u);
  EXPECT_EQ(*ParseHumanBytes("1.5kb"), 1500u);
  EXPECT_EQ(ParseHumanBytes("oops").status().message(),
            R"(strconv.ParseFloat: parsing "": invalid syntax)");
  EXPECT_EQ(*ParseGoFloat("1e3"), 1000);
  EXPECT_FALSE(ParseGoFloat("0x10").ok());
  EXPECT_EQ(SanitizeLabelKey("a-b.c", true), "a_b_c");
  EXPECT_EQ(SanitizeLabelKey("9x", true), "_9x");
}

}  // namespace
}  // namespace sightline::logs::logql
