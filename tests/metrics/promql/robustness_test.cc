// Robustness: random mutations of valid queries must never crash the parser
// (run under ASan/UBSan in Debug builds), and whatever parses must survive
// print -> parse unchanged. A deterministic stand-in for a fuzz target.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "metrics/promql/parser.h"
#include "metrics/promql/printer.h"

namespace sightline::promql {
namespace {

const std::vector<std::string>& Seeds() {
  static const std::vector<std::string> seeds = {
      R"(sum by (job) (rate(http_requests_total{job=~"api|web", code!="200"}[5m] offset 1h)))",
      R"(histogram_quantile(0.9, sum without (instance) (rate(x_bucket[1m]))))",
      "a + on(x) group_left(y) b * ignoring(z) c ^ -2",
      "topk(3, x) or bottomk(2, y) and on() z unless w",
      "max_over_time(deriv(rate(x[1m])[5m:1m] @ 100)[1h:] offset -5m)",
      R"q(label_replace(up, "dst", "$1", "src", "(.*)"))q",
      "x[5m+step():range()*2] offset (1h*2)",
      "increase(x[1m] anchored) + rate(y[1m] smoothed) + fill_left(0) z",
      R"({"service.name"="a", __name__=~"b.+"} >/ 1.5 </ -Inf)",
      "count_values(\"v\", x) == bool 1e3",
      "-x @ start() offset 1m30s",
      "min_of(step(), 5) + time() - vector(scalar(y))",
  };
  return seeds;
}

std::string Mutate(std::string s, std::mt19937* rng) {
  static const std::vector<std::string> pieces = {
      "(",   ")",     "[",    "]",          "{",        "}",        ",",      ":",       "\"",
      "'",   "`",     "=",    "!",          "~",        "<",        ">",      "/",       "+",
      "-",   "*",     "%",    "^",          "@",        ".",        "0",      "1",       "9",
      "e",   "x",     "_",    " ",          "#",        "\n",       "\\",     "offset ", " by ",
      "sum", "rate(", "[5m]", "@ 1",        " on(",     " bool ",   "step()", "fill(",   "1h",
      "5ms", "NaN",   "Inf",  "group_left", "anchored", "smoothed", "\xff",   "\xc3\xa9"};
  const int edits = 1 + static_cast<int>((*rng)() % 4);
  for (int i = 0; i < edits; ++i) {
    const size_t pos = s.empty() ? 0 : (*rng)() % (s.size() + 1);
    switch ((*rng)() % 3) {
      case 0:
        if (!s.empty() && pos < s.size()) s.erase(pos, 1 + (*rng)() % 3);
        break;
      case 1:
        s.insert(pos, pieces[(*rng)() % pieces.size()]);
        break;
      default:
        if (pos < s.size()) s.replace(pos, 1, pieces[(*rng)() % pieces.size()]);
        break;
    }
  }
  return s;
}

TEST(RobustnessTest, MutatedQueriesNeverCrashAndRoundTrip) {
  std::mt19937 rng(20240601);
  int parsed = 0;
  int rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string& seed = Seeds()[i % Seeds().size()];
    const std::string q = Mutate(seed, &rng);
    Result<ExprPtr> e = ParseExpr(q);
    if (!e.ok()) {
      ++rejected;
      EXPECT_NE(e.status().message().find("parse error: "), std::string::npos) << q;
      continue;
    }
    ++parsed;
    const std::string printed = ToString(**e);
    Result<ExprPtr> again = ParseExpr(printed);
    ASSERT_TRUE(again.ok()) << "input: " << q << "\nprinted: " << printed << "\n"
                            << again.status().message();
    EXPECT_EQ(DebugString(**again), DebugString(**e)) << "input: " << q << "\nprinted: " << printed;
    EXPECT_EQ(ToString(**again), printed) << q;
    (void)PrettyPrint(**e);
  }
  // Both outcomes must be exercised for the test to mean anything.
  EXPECT_GT(parsed, 1000);
  EXPECT_GT(rejected, 1000);
}

TEST(RobustnessTest, MetricSelectorsNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const std::string q = Mutate(R"(up{job="api", instance=~"10\\..*"})", &rng);
    (void)ParseMetricSelector(q);
  }
}

}  // namespace
}  // namespace sightline::promql
