#include "metrics/promql/parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "metrics/promql/printer.h"

namespace sightline::promql {
namespace {

ExprPtr MustParse(std::string_view q, const ParseOptions& o = {}) {
  Result<ExprPtr> e = ParseExpr(q, o);
  EXPECT_TRUE(e.ok()) << q << ": " << e.status().message();
  if (!e.ok()) return nullptr;
  return std::move(e).value();
}

std::string Tree(std::string_view q, const ParseOptions& o = {}) {
  Result<ExprPtr> e = ParseExpr(q, o);
  if (!e.ok()) return "ERROR: " + e.status().message();
  return DebugString(**e);
}

std::string Error(std::string_view q, const ParseOptions& o = {}) {
  Result<ExprPtr> e = ParseExpr(q, o);
  if (e.ok()) return "parsed: " + ToString(**e);
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  return e.status().message();
}

// --- Precedence and associativity, shown as fully parenthesised trees. ----

TEST(ParserPrecedenceTest, MatchesPrometheusGrammar) {
  struct Case {
    std::string_view query;
    std::string_view tree;
  };
  const Case cases[] = {
      {"a + b * c", "(a + (b * c))"},
      {"a * b + c", "((a * b) + c)"},
      {"a - b - c", "((a - b) - c)"},
      {"a / b / c", "((a / b) / c)"},
      {"a ^ b ^ c", "(a ^ (b ^ c))"},
      {"a / b ^ c", "(a / (b ^ c))"},
      {"a % b * c", "((a % b) * c)"},
      {"a atan2 b * c", "((a atan2 b) * c)"},
      {"a + b atan2 c", "(a + (b atan2 c))"},
      {"-a ^ b", "(-(a ^ b))"},
      {"-a * b", "((-a) * b)"},
      {"-a + b", "((-a) + b)"},
      {"-1 ^ 2", "(-(1 ^ 2))"},
      {"-1 * 2", "(-1 * 2)"},
      {"-1^-2", "(-(1 ^ -2))"},
      {"2 ^ -1 * 3", "((2 ^ -1) * 3)"},
      {"+1 + -2 * 1", "(1 + (-2 * 1))"},
      {"a - - b", "(a - (-b))"},
      {"1 + 2/(3*1)", "(1 + (2 / paren((3 * 1))))"},
      {"1 < bool 2 - 1 * 2", "(1 < bool (2 - (1 * 2)))"},
      {"a == b + c", "(a == (b + c))"},
      {"a > b == c", "((a > b) == c)"},
      {"a + b > c - d", "((a + b) > (c - d))"},
      {"a or b and c", "(a or [N:N] (b and [N:N] c))"},
      {"a and b unless c or d", "(((a and [N:N] b) unless [N:N] c) or [N:N] d)"},
      {"a unless b and c", "((a unless [N:N] b) and [N:N] c)"},
      {"foo + bar or bla and blub", "((foo + bar) or [N:N] (bla and [N:N] blub))"},
      {"a > b or c < d", "((a > b) or [N:N] (c < d))"},
      {"bar + on(foo) bla / on(baz, buz) group_right(test) blub",
       "(bar + on (foo) (bla / on (baz, buz) group_right (test) [1:N] blub))"},
      {"a + b offset 5m", "(a + b offset 5m)"},
      {"-a offset 1m", "(-a offset 1m)"},
      {"a + b @ 100", "(a + b @ 100.000)"},
      {"rate(a[5m]) * 2", "(rate(a[5m]) * 2)"},
      {"sum(a) by (x) * 2", "(sum by (x)(a) * 2)"},
      {"a </ 5 + 1", "((a </ 5) + 1)"},
      {"a >/ 1 * 2", "((a >/ 1) * 2)"},
      {"a offset 100 + 2", "(a offset 1m40s + 2)"},
      {"a offset -2 ^ 2", "(a offset -2s ^ 2)"},
      {"a offset 5s-8", "(a offset 5s - 8)"},
      {"a offset -step()*2", "(a offset -step() * 2)"},
  };
  for (const Case& c : cases) EXPECT_EQ(Tree(c.query), c.tree) << c.query;
}

// --- Node kinds. ---------------------------------------------------------

TEST(ParserNodeTest, NumberLiterals) {
  struct Case {
    std::string_view query;
    double value;
  };
  const Case cases[] = {
      {"1", 1},        {"+Inf", INFINITY},     {"-Inf", -INFINITY}, {".5", 0.5},
      {"5.", 5},       {"123.4567", 123.4567}, {"5e-3", 0.005},     {"5e3", 5000},
      {"0xc", 12},     {"0755", 493},          {"+5.5e-3", 0.0055}, {"-0755", -493},
      {"1_000", 1000}, {"0x_1F", 31},          {"089", 89},         {"1e-400", 0},
  };
  for (const Case& c : cases) {
    ExprPtr e = MustParse(c.query);
    ASSERT_TRUE(e);
    const auto* n = e->As<NumberLiteral>();
    ASSERT_NE(n, nullptr) << c.query;
    EXPECT_EQ(n->value, c.value) << c.query;
    EXPECT_EQ(n->pos, (PosRange{0, static_cast<int32_t>(c.query.size())})) << c.query;
  }
  ExprPtr nan = MustParse("NaN");
  EXPECT_TRUE(std::isnan(nan->As<NumberLiteral>()->value));
  ExprPtr dur = MustParse("5m");
  EXPECT_EQ(dur->As<NumberLiteral>()->value, 300);
  EXPECT_TRUE(dur->As<NumberLiteral>()->is_duration);
  EXPECT_EQ(dur->Type(), ValueType::kScalar);
}

TEST(ParserNodeTest, StringLiterals) {
  struct Case {
    std::string_view query;
    std::string_view value;
  };
  const Case cases[] = {
      {R"("double-quoted string \" with escaped quote")",
       "double-quoted string \" with escaped quote"},
      {R"('single-quoted string \' with escaped quote')",
       "single-quoted string ' with escaped quote"},
      {"`backtick-quoted string`", "backtick-quoted string"},
      {R"("\a\b\f\n\r\t\v\\\" - \xFF\377\u1234\U00010111\U0001011111☺")",
       "\a\b\f\n\r\t\v\\\" - \xFF\377\u1234\U00010111\U0001011111☺"},
      {R"('\a\b\f\n\r\t\v\\\' - \xFF\377\u1234\U00010111\U0001011111☺')",
       "\a\b\f\n\r\t\v\\' - \xFF\377\u1234\U00010111\U0001011111☺"},
      {R"(`\a\b\f\n\r\t\v\\\"\' - \xFF\377\u1234☺`)", R"(\a\b\f\n\r\t\v\\\"\' - \xFF\377\u1234☺)"},
  };
  for (const Case& c : cases) {
    ExprPtr e = MustParse(c.query);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->Is<StringLiteral>()) << c.query;
    EXPECT_EQ(e->As<StringLiteral>()->value, c.value) << c.query;
    EXPECT_EQ(e->Type(), ValueType::kString);
  }
}

TEST(ParserNodeTest, VectorSelectors) {
  ExprPtr e = MustParse(R"(foo{a="b", foo!="bar", test=~"test", bar!~"baz"})");
  const auto* vs = e->As<VectorSelector>();
  ASSERT_NE(vs, nullptr);
  EXPECT_EQ(vs->name, "foo");
  ASSERT_EQ(vs->matchers.size(), 5u);
  EXPECT_EQ(vs->matchers[0].ToString(), R"(a="b")");
  EXPECT_EQ(vs->matchers[1].ToString(), R"(foo!="bar")");
  EXPECT_EQ(vs->matchers[2].ToString(), R"(test=~"test")");
  EXPECT_EQ(vs->matchers[3].ToString(), R"(bar!~"baz")");
  EXPECT_EQ(vs->matchers[4].ToString(), R"(__name__="foo")");  // The name comes last.
  EXPECT_EQ(vs->pos, (PosRange{0, 48}));
  EXPECT_EQ(e->Type(), ValueType::kVector);

  // The metric name inside the braces (3.x quoted form) leaves `name` empty.
  ExprPtr q = MustParse(R"({"some.metric", "service.name"="api"})");
  const auto* qs = q->As<VectorSelector>();
  EXPECT_EQ(qs->name, "");
  ASSERT_EQ(qs->matchers.size(), 2u);
  EXPECT_EQ(qs->matchers[0].ToString(), R"(__name__="some.metric")");
  EXPECT_EQ(qs->matchers[1].ToString(), R"("service.name"="api")");

  // Trailing comma, keywords as label names and metric names.
  EXPECT_EQ(Tree(R"(foo{a="b",})"), R"(foo{a="b"})");
  EXPECT_EQ(Tree(R"(foo{NaN='bc', on="x", offset="y"})"), R"(foo{NaN="bc",offset="y",on="x"})");
  EXPECT_EQ(Tree(R"(offset{step="1s"})"), R"(offset{step="1s"})");
  EXPECT_EQ(Tree(R"(anchored{job="test"})"), R"(anchored{job="test"})");
  EXPECT_EQ(Tree("sum"), "sum");
  EXPECT_EQ(Tree("foo * sum"), "(foo * sum)");
  EXPECT_EQ(Tree("sum(sum)"), "sum(sum)");
  EXPECT_EQ(Tree("start + end"), "(start + end)");
  EXPECT_EQ(Tree("by"), "by");
  EXPECT_EQ(Tree("fill + fill(0) other"), "(fill + fill (0) other)");
  EXPECT_EQ(Tree("foo:bar:baz"), "foo:bar:baz");
  EXPECT_EQ(Tree(R"({__name__=~"bar", __name__!~"baz"})"), R"({__name__!~"baz",__name__=~"bar"})");
  EXPECT_EQ(Tree(R"(foo{bar='}'})"), R"(foo{bar="}"})");
  EXPECT_EQ(Tree("foo # comment\n + bar"), "(foo + bar)");
}

TEST(ParserNodeTest, MatrixSelectors) {
  struct Case {
    std::string_view query;
    int64_t range_ms;
  };
  const Case cases[] = {
      {"test[5s]", 5000},     {"test[5m]", 300000},   {"foo[5m30s]", 330000},
      {"test[1000ms]", 1000}, {"test[1001ms]", 1001}, {"test[5]", 5000},
      {"foo[4.18]", 4180},    {"foo[4.018]", 4018},   {"test[5y]", 157680000000},
      {"foo[4s180ms]", 4180},
  };
  for (const Case& c : cases) {
    ExprPtr e = MustParse(c.query);
    ASSERT_TRUE(e);
    const auto* m = e->As<MatrixSelector>();
    ASSERT_NE(m, nullptr) << c.query;
    EXPECT_EQ(m->range_ms, c.range_ms) << c.query;
    EXPECT_EQ(m->range_expr, nullptr);
    EXPECT_EQ(e->Type(), ValueType::kMatrix);
  }
  ExprPtr e = MustParse(R"(test{a="b"}[5y] OFFSET 3d)");
  const auto* m = e->As<MatrixSelector>();
  EXPECT_EQ(m->vector_selector->original_offset_ms, 3 * 86400000LL);
  EXPECT_EQ(m->pos, (PosRange{0, 25}));
  ExprPtr at = MustParse("foo[3ms] @ 2.345");
  EXPECT_EQ(*at->As<MatrixSelector>()->vector_selector->timestamp_ms, 2345);
  EXPECT_EQ(at->pos, (PosRange{0, 16}));
}

TEST(ParserNodeTest, OffsetAndAtModifiers) {
  EXPECT_EQ(MustParse("foo offset 5m")->As<VectorSelector>()->original_offset_ms, 300000);
  EXPECT_EQ(MustParse("foo offset -7m")->As<VectorSelector>()->original_offset_ms, -420000);
  EXPECT_EQ(MustParse("foo OFFSET 1h30m")->As<VectorSelector>()->original_offset_ms, 5400000);
  EXPECT_EQ(MustParse("foo OFFSET 1m30ms")->As<VectorSelector>()->original_offset_ms, 60030);
  EXPECT_EQ(MustParse("foo offset 3600")->As<VectorSelector>()->original_offset_ms, 3600000);
  EXPECT_EQ(MustParse("foo offset 0s")->As<VectorSelector>()->original_offset_ms, 0);

  struct AtCase {
    std::string_view query;
    int64_t ms;
  };
  const AtCase cases[] = {
      {"foo @ 1603774568", 1603774568000},
      {"foo @ -100", -100000},
      {"foo @ .3", 300},
      {"foo @ 3.", 3000},
      {"foo @ 3.33", 3330},
      {"foo @ 3.3333", 3333},
      {"foo @ 3.3335", 3334},
      {"foo @ 3e2", 300000},
      {"foo @ 3e-1", 300},
      {"foo @ 0xA", 10000},
      {"foo @ -3.3e1", -33000},
      {"foo @ 1m", 60000},
  };
  for (const AtCase& c : cases) {
    ExprPtr e = MustParse(c.query);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->As<VectorSelector>()->timestamp_ms.has_value()) << c.query;
    EXPECT_EQ(*e->As<VectorSelector>()->timestamp_ms, c.ms) << c.query;
  }
  EXPECT_EQ(MustParse("foo @ start()")->As<VectorSelector>()->at, AtModifier::kStart);
  EXPECT_EQ(MustParse("foo @ end()")->As<VectorSelector>()->at, AtModifier::kEnd);
  EXPECT_EQ(MustParse("test[5y] @ end()")->As<MatrixSelector>()->vector_selector->at,
            AtModifier::kEnd);
  // Both orders of @ and offset.
  EXPECT_EQ(Tree("some_metric @ 123 offset 1m [10m:5s]"),
            "subquery(some_metric @ 123.000 offset 1m range=600000ms range_expr=- step=5000ms "
            "step_expr=-)");
  EXPECT_EQ(Tree("some_metric offset 1m @ 123 [10m:5s]"),
            "subquery(some_metric @ 123.000 offset 1m range=600000ms range_expr=- step=5000ms "
            "step_expr=-)");
}

TEST(ParserNodeTest, Subqueries) {
  ExprPtr e = MustParse(R"(foo{bar="baz"}[10m5s:1h6ms])");
  const auto* s = e->As<SubqueryExpr>();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->range_ms, 605000);
  EXPECT_EQ(s->step_ms, 3600006);
  EXPECT_EQ(s->pos, (PosRange{0, 27}));
  EXPECT_EQ(e->Type(), ValueType::kMatrix);

  ExprPtr nostep = MustParse("foo[10m:]");
  EXPECT_EQ(nostep->As<SubqueryExpr>()->step_ms, 0);

  ExprPtr nested = MustParse(R"(min_over_time(rate(foo{bar="baz"}[2s])[5m:] offset 4m)[4m:3s])");
  const auto* outer = nested->As<SubqueryExpr>();
  ASSERT_NE(outer, nullptr);
  EXPECT_EQ(outer->range_ms, 240000);
  EXPECT_EQ(outer->step_ms, 3000);
  EXPECT_EQ(outer->pos, (PosRange{0, 61}));
  const auto* call = outer->expr->As<Call>();
  ASSERT_NE(call, nullptr);
  const auto* inner = call->args[0]->As<SubqueryExpr>();
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->original_offset_ms, 240000);
  EXPECT_EQ(inner->pos, (PosRange{14, 53}));

  ExprPtr at = MustParse(R"((foo + bar{nm="val"} @ 1234)[5m:] @ 1603775019)");
  EXPECT_EQ(*at->As<SubqueryExpr>()->timestamp_ms, 1603775019000);
  EXPECT_EQ(at->pos, (PosRange{0, 46}));
  EXPECT_EQ(Tree("foo[10m:6s] @ start()"),
            "subquery(foo range=600000ms range_expr=- step=6000ms step_expr=- at=start)");
}

TEST(ParserNodeTest, Aggregations) {
  struct Case {
    std::string_view query;
    std::string_view tree;
  };
  const Case cases[] = {
      {"sum by (foo)(some_metric)", "sum by (foo)(some_metric)"},
      {"avg by (foo)(some_metric)", "avg by (foo)(some_metric)"},
      {"max by (foo)(some_metric)", "max by (foo)(some_metric)"},
      {"sum without (foo) (some_metric)", "sum without (foo)(some_metric)"},
      {"sum (some_metric) without (foo)", "sum without (foo)(some_metric)"},
      {"stddev(some_metric)", "stddev(some_metric)"},
      {"stdvar by (foo)(some_metric)", "stdvar by (foo)(some_metric)"},
      {"sum by ()(some_metric)", "sum(some_metric)"},
      {"sum by (foo,bar,)(some_metric)", "sum by (foo, bar)(some_metric)"},
      {"topk(5, some_metric)", "topk(5, some_metric)"},
      {"bottomk by (a) (2, x)", "bottomk by (a)(2, x)"},
      {"quantile without(point)(NaN, data)", "quantile without (point)(NaN, data)"},
      {R"(count_values("value", some_metric))", R"(count_values("value", some_metric))"},
      {"group(x)", "group(x)"},
      {"count(x)", "count(x)"},
      {"min(x)", "min(x)"},
      {"limitk(2, x)", "limitk(2, x)"},
      {"limit_ratio(0.5, x)", "limit_ratio(0.5, x)"},
      {"SUM(x) BY (job)", "sum by (job)(x)"},
      {"sum without(and, by, avg, count, alert, annotations)(some_metric)",
       "sum without (and, by, avg, count, alert, annotations)(some_metric)"},
      {R"(sum by ("foo bar")({"some.metric"}))", R"(sum by ("foo bar")({__name__="some.metric"}))"},
      {R"(sum by ("foo", bar, 'baz')(x))", "sum by (foo, bar, baz)(x)"},
      {"sum by (anchored, smoothed, offset, start)(x)",
       "sum by (anchored, smoothed, offset, start)(x)"},
  };
  for (const Case& c : cases) EXPECT_EQ(Tree(c.query), c.tree) << c.query;

  ExprPtr e = MustParse("sum by (foo)(some_metric)");
  const auto* a = e->As<AggregateExpr>();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->op, AggregateOp::kSum);
  EXPECT_EQ(a->grouping, std::vector<std::string>{"foo"});
  EXPECT_FALSE(a->without);
  EXPECT_EQ(a->param, nullptr);
  EXPECT_EQ(a->pos, (PosRange{0, 25}));
  EXPECT_EQ(a->expr->pos, (PosRange{13, 24}));
  ExprPtr after = MustParse("sum (some_metric) without (foo)");
  EXPECT_EQ(after->pos, (PosRange{0, 31}));
  ExprPtr topk = MustParse("topk(5, some_metric)");
  ASSERT_NE(topk->As<AggregateExpr>()->param, nullptr);
  EXPECT_EQ(topk->As<AggregateExpr>()->param->pos, (PosRange{5, 6}));
}

TEST(ParserNodeTest, BinaryExpressionsAndVectorMatching) {
  ExprPtr e = MustParse("foo / on(test,blub) group_left(bar) bar");
  const auto* b = e->As<BinaryExpr>();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->op, BinaryOp::kDiv);
  ASSERT_TRUE(b->matching.has_value());
  EXPECT_EQ(b->matching->card, Cardinality::kManyToOne);
  EXPECT_TRUE(b->matching->on);
  EXPECT_EQ(b->matching->matching_labels, (std::vector<std::string>{"test", "blub"}));
  EXPECT_EQ(b->matching->include, std::vector<std::string>{"bar"});
  EXPECT_EQ(e->pos, (PosRange{0, 39}));

  ExprPtr ig = MustParse("foo - ignoring(test,blub) group_right(bar,foo) bar");
  EXPECT_EQ(ig->As<BinaryExpr>()->matching->card, Cardinality::kOneToMany);
  EXPECT_FALSE(ig->As<BinaryExpr>()->matching->on);

  // Scalar operands: no vector matching; set operators: many-to-many.
  EXPECT_FALSE(MustParse("foo == 1")->As<BinaryExpr>()->matching.has_value());
  EXPECT_FALSE(MustParse("1 + 1")->As<BinaryExpr>()->matching.has_value());
  EXPECT_EQ(MustParse("foo and on() bar")->As<BinaryExpr>()->matching->card,
            Cardinality::kManyToMany);
  EXPECT_TRUE(MustParse("foo == bool 1")->As<BinaryExpr>()->return_bool);
  EXPECT_EQ(MustParse("1 + 1")->Type(), ValueType::kScalar);
  EXPECT_EQ(MustParse("foo + 1")->Type(), ValueType::kVector);

  // group_left without labels, and with keywords as labels.
  EXPECT_EQ(Tree("a * on(job) group_left b"), "(a * on (job) group_left () [N:1] b)");
  EXPECT_EQ(Tree("foo unless on(start) bar"), "(foo unless on (start) [N:N] bar)");

  // Fill modifiers (3.x).
  ExprPtr f = MustParse("a + fill_left(5) fill_right(-Inf) b");
  const VectorMatching& vm = *f->As<BinaryExpr>()->matching;
  EXPECT_EQ(vm.fill_lhs, 5);
  EXPECT_EQ(vm.fill_rhs, -INFINITY);
  EXPECT_FALSE(vm.fill_both);
  EXPECT_EQ(Tree("requests / on(status) group_left fill_right(1) limits"),
            "(requests / on (status) group_left () fill_right (1) [N:1] limits)");
  EXPECT_EQ(Tree("left_vector == bool fill(30) right_vector"),
            "(left_vector == bool fill (30) right_vector)");
}

TEST(ParserNodeTest, UnaryAndParen) {
  ExprPtr u = MustParse("-some_metric");
  ASSERT_TRUE(u->Is<UnaryExpr>());
  EXPECT_EQ(u->As<UnaryExpr>()->op, '-');
  EXPECT_EQ(u->As<UnaryExpr>()->expr->pos, (PosRange{1, 12}));
  ExprPtr plus = MustParse(" +some_metric");
  EXPECT_EQ(plus->As<UnaryExpr>()->op, '+');
  EXPECT_EQ(plus->pos, (PosRange{1, 13}));
  ExprPtr p = MustParse("(sum(foo) by (bar))");
  ASSERT_TRUE(p->Is<ParenExpr>());
  EXPECT_EQ(p->pos, (PosRange{0, 19}));
  EXPECT_EQ(p->As<ParenExpr>()->expr->pos, (PosRange{1, 18}));
  EXPECT_EQ(MustParse("-(1)")->kind(), ExprKind::kUnary);
}

TEST(ParserNodeTest, FunctionCalls) {
  ExprPtr e = MustParse("rate(some_metric[5m])");
  const auto* c = e->As<Call>();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->func->name, "rate");
  ASSERT_EQ(c->args.size(), 1u);
  EXPECT_TRUE(c->args[0]->Is<MatrixSelector>());
  EXPECT_EQ(c->pos, (PosRange{0, 21}));
  EXPECT_EQ(e->Type(), ValueType::kVector);

  EXPECT_EQ(MustParse("time()")->Type(), ValueType::kScalar);
  EXPECT_EQ(MustParse("scalar(x)")->Type(), ValueType::kScalar);
  EXPECT_EQ(Tree("round(some_metric, 5)"), "round(some_metric, 5)");
  EXPECT_EQ(Tree("hour()"), "hour()");
  EXPECT_EQ(Tree(R"(label_join(x, "dst", ",", "a", "b", "c"))"),
            R"(label_join(x, "dst", ",", "a", "b", "c"))");
  EXPECT_EQ(Tree(R"(histogram_quantiles(h, "q", 0.1, 0.5, 0.9))"),
            R"(histogram_quantiles(h, "q", 0.1, 0.5, 0.9))");
  EXPECT_EQ(Tree("start() + end() + step() + range()"), "(((start() + end()) + step()) + range())");
  EXPECT_EQ(Tree("min_of(3, 5) + max_of(1, 2)"), "(min_of(3, 5) + max_of(1, 2))");
  EXPECT_EQ(Tree("vector(time())"), "vector(time())");
  EXPECT_EQ(Tree(R"(info(metric, {__name__=~".+_info"}))"),
            R"(info(metric, {__name__=~".+_info"}))");
  ExprPtr info = MustParse(R"(info(http_requests{namespace="zzz"}, {foo="bar", bar="baz"}))");
  EXPECT_TRUE(info->As<Call>()->args[1]->As<VectorSelector>()->bypass_empty_matcher_check);
  EXPECT_EQ(Tree(R"(info(x, {x=~".*"}))"), R"(info(x, {x=~".*"}))");
}

TEST(ParserNodeTest, DurationExpressions) {
  struct Case {
    std::string_view query;
    int64_t range_ms;  // 0 when it depends on the query.
    std::string_view printed;
  };
  const Case cases[] = {
      {"foo[26m+4m]", 1800000, "foo[26m + 4m]"},
      {"foo[60*30]", 1800000, "foo[60 * 30]"},
      {"foo[2m*(10+5)]", 1800000, "foo[2m * (10 + 5)]"},
      {"foo[-5m+35m]", 1800000, "foo[-5m + 35m]"},
      {"foo[1h/2]", 1800000, "foo[1h / 2]"},
      {"foo[1h30m % 1h]", 1800000, "foo[1h30m % 1h]"},
      {"foo[30m1s-30m1s % 1m]", 1800000, "foo[30m1s - 30m1s % 1m]"},
      {"foo[11s+10s-5*2^2]", 1000, "foo[11s + 10s - 5 * 2 ^ 2]"},
      {"foo[-(10s-5s)+20s]", 15000, "foo[-(10s - 5s) + 20s]"},
      {"foo[(5s)]", 5000, "foo[(5s)]"},
      {"foo[step()]", 0, "foo[step()]"},
      {"foo[step()+1ms]", 0, "foo[step() + 1ms]"},
      {"foo[1+(STep()-5)*2]", 0, "foo[1 + (step() - 5) * 2]"},
      {"foo[max_of(min_of(step()+1,1h),1ms)]", 0, "foo[max_of(min_of(step() + 1, 1h), 1ms)]"},
      {"foo[range()]", 0, "foo[range()]"},
      {"foo[min_of(1h, 5m)]", 300000, "foo[min_of(1h, 5m)]"},
  };
  for (const Case& c : cases) {
    ExprPtr e = MustParse(c.query);
    ASSERT_TRUE(e) << c.query;
    const auto* m = e->As<MatrixSelector>();
    ASSERT_NE(m, nullptr) << c.query;
    ASSERT_NE(m->range_expr, nullptr) << c.query;
    EXPECT_EQ(m->range_ms, c.range_ms) << c.query;
    EXPECT_EQ(ToString(*e), c.printed) << c.query;
  }
  // Evaluated by the engine when they depend on the query.
  ExprPtr e = MustParse("foo[step()*2+range()]");
  Result<int64_t> v = EvaluateDuration(*e->As<MatrixSelector>()->range_expr, {15000, 3600000});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3630000);

  ExprPtr sq = MustParse("sum_over_time(x[29s+1s:((((8 - 2) / 3) * 7s) % 4) + 8000ms])");
  const auto* s = sq->As<Call>()->args[0]->As<SubqueryExpr>();
  EXPECT_EQ(s->range_ms, 30000);
  EXPECT_EQ(s->step_ms, 10000);

  struct OffsetCase {
    std::string_view query;
    std::string_view printed;
  };
  const OffsetCase offsets[] = {
      {"foo offset (100 + 2)", "foo offset (100 + 2)"},
      {"foo offset (5)", "foo offset (5)"},
      {"foo offset +(5)", "foo offset (5)"},
      {"foo offset -(5)", "foo offset -(5)"},
      {"foo offset step()", "foo offset step()"},
      {"foo offset -step()", "foo offset -step()"},
      {"foo offset max_of(step(),5s)", "foo offset max_of(step(), 5s)"},
      {"foo offset -min_of(5s,step()+8s)", "foo offset -min_of(5s, step() + 8s)"},
      {"foo offset (-1^2)", "foo offset (-1 ^ 2)"},
      {"foo[4s+4s:1s*2] offset (5s-8)", "foo[4s + 4s:1s * 2] offset (5s - 8)"},
  };
  for (const OffsetCase& c : offsets) {
    ExprPtr o = MustParse(c.query);
    ASSERT_TRUE(o) << c.query;
    EXPECT_EQ(ToString(*o), c.printed) << c.query;
  }
  ExprPtr neg = MustParse("foo offset (-1^2)");
  Result<int64_t> nv = EvaluateDuration(*neg->As<VectorSelector>()->original_offset_expr, {});
  EXPECT_EQ(*nv, -1000);
}

TEST(ParserNodeTest, ExtendedRangeSelectors) {
  ExprPtr a = MustParse("increase(metric[1m] anchored)");
  EXPECT_TRUE(a->As<Call>()->args[0]->As<MatrixSelector>()->vector_selector->anchored);
  ExprPtr s = MustParse("metric offset -100 smoothed");
  EXPECT_TRUE(s->As<VectorSelector>()->smoothed);
  EXPECT_EQ(s->As<VectorSelector>()->original_offset_ms, -100000);
  EXPECT_EQ(ToString(*MustParse("metric @ 100 smoothed + 0")), "metric @ 100.000 smoothed + 0");
  EXPECT_EQ(ToString(*MustParse("rate(x[5m] smoothed offset 1m)")),
            "rate(x[5m] smoothed offset 1m)");
}

TEST(ParserNodeTest, CheckRangeModifierUseMatchesEngineErrors) {
  EXPECT_TRUE(CheckRangeModifierUse(*MustParse("rate(x[1m] smoothed)")).ok());
  EXPECT_TRUE(CheckRangeModifierUse(*MustParse("changes(x[1m] anchored)")).ok());
  EXPECT_TRUE(CheckRangeModifierUse(*MustParse("histogram_count(x smoothed)")).ok());
  EXPECT_EQ(CheckRangeModifierUse(*MustParse("sum(deriv(foo[3m] smoothed))")).message(),
            "smoothed modifier can only be used with: delta, increase, rate - not with deriv");
  EXPECT_EQ(CheckRangeModifierUse(*MustParse("predict_linear(foo[3m] anchored, 4)")).message(),
            "anchored modifier can only be used with: changes, delta, increase, rate, resets - "
            "not with predict_linear");
}

// --- Errors, with Prometheus' messages and positions. --------------------

TEST(ParserErrorTest, MatchesPrometheus) {
  struct Case {
    std::string query;
    std::string error;
  };
  const std::string big(309, '9');
  const Case cases[] = {
      {"", "1:1: parse error: no expression found in input"},
      {"# just a comment\n\n", "1:1: parse error: no expression found in input"},
      {"1+", "1:3: parse error: unexpected end of input"},
      {".", "1:1: parse error: unexpected character: '.'"},
      {"2.5.", "1:1: parse error: bad number or duration syntax: \"2.5.\""},
      {"100..4", "1:1: parse error: bad number or duration syntax: \"100..\""},
      {"0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\""},
      {"1 /", "1:4: parse error: unexpected end of input"},
      {"*1", "1:1: parse error: unexpected <op:*>"},
      {"(1))", "1:5: parse error: unexpected right parenthesis ')'"},
      {"((1)", "1:5: parse error: unclosed left parenthesis"},
      {big, "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"" + big +
                "\": value out of range"},
      {"0.5e400",
       "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
       "\"0.5e400\": value out of range"},
      {"(", "1:2: parse error: unclosed left parenthesis"},
      {"1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
      {"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
      {"1 or 1", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"},
      {"1 unless 1",
       "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression"},
      {"1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"},
      {"1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"},
      {R"(-"string")",
       "1:1: parse error: unary expression only allowed on expressions of type "
       "scalar or instant vector, got \"string\""},
      {"-test[5m]",
       "1:1: parse error: unary expression only allowed on expressions of type "
       "scalar or instant vector, got \"range vector\""},
      {"*test", "1:1: parse error: unexpected <op:*>"},
      {"@@", "1:1: parse error: unexpected <op:@>"},
      {"1 offset 1d",
       "1:1: parse error: offset modifier must be preceded by an instant vector "
       "selector or range vector selector or a subquery"},
      {"foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"},
      {"a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"},
      {"foo and 1",
       "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
      {"1 unless foo",
       "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression"},
      {"1 or on(bar) foo",
       "1:1: parse error: vector matching only allowed between instant vectors"},
      {"foo == on(bar) 10",
       "1:1: parse error: vector matching only allowed between instant vectors"},
      {"foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"},
      {"foo and on(bar) group_left(baz) bar",
       "1:1: parse error: no grouping allowed for \"and\" operation"},
      {"foo or on(bar) group_right(baz) bar",
       "1:1: parse error: no grouping allowed for \"or\" operation"},
      {R"(http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"})",
       "1:35: parse error: label \"instance\" must not occur in ON and GROUP clause at once"},
      {"foo + bool bar",
       "1:5: parse error: bool modifier can only be used on comparison operators"},
      {"foo + bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"},
      {"foo and bool 10",
       "1:5: parse error: bool modifier can only be used on comparison operators"},
      {"foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
      {"foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
      {"foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
      {"foo @ 9223372036854775808",
       "1:1: parse error: timestamp out of bounds for @ modifier: 9223372036854775808.000000"},
      {"{", "1:2: parse error: unexpected end of input inside braces"},
      {"}", "1:1: parse error: unexpected character: '}'"},
      {"some{", "1:6: parse error: unexpected end of input inside braces"},
      {"some}", "1:5: parse error: unexpected character: '}'"},
      {"some_metric{a=b}",
       "1:15: parse error: unexpected identifier \"b\" in label matching, expected string"},
      {R"(some_metric{a:b="b"})", "1:14: parse error: unexpected character inside braces: ':'"},
      {R"(foo{a*"b"})", "1:6: parse error: unexpected character inside braces: '*'"},
      {R"(foo{a>="b"})", "1:6: parse error: unexpected character inside braces: '>'"},
      {"some_metric{a=\"\xff\"}", "1:15: parse error: invalid UTF-8 rune"},
      {"foo{gibberish}",
       "1:14: parse error: unexpected \"}\" in label matching, expected label "
       "matching operator"},
      {"foo{1}", "1:5: parse error: unexpected character inside braces: '1'"},
      {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
      {R"({x=""})",
       "1:1: parse error: vector selector must contain at least one non-empty matcher"},
      {R"({x=~".*"})",
       "1:1: parse error: vector selector must contain at least one non-empty matcher"},
      {R"({x!~".+"})",
       "1:1: parse error: vector selector must contain at least one non-empty matcher"},
      {R"({x!="a"})",
       "1:1: parse error: vector selector must contain at least one non-empty matcher"},
      {R"(foo{__name__="bar"})",
       "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
      {"foo{__name__= =}",
       "1:15: parse error: unexpected \"=\" in label matching, expected string"},
      {"foo{,}",
       "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
      {R"(foo{__name__ == "bar"})",
       "1:15: parse error: unexpected \"=\" in label matching, expected string"},
      {R"(foo{__name__="bar" lol})",
       "1:20: parse error: unexpected identifier \"lol\" in label "
       "matching, expected \",\" or \"}\""},
      {R"(foo{"a"=})", "1:9: parse error: unexpected \"}\" in label matching, expected string"},
      {R"(foo{a=~"(.*"})", "1:5: parse error: error parsing regexp: missing closing ): `(.*`"},
      {"foo[5mm]", "1:5: parse error: bad number or duration syntax: \"5mm\""},
      {"foo[5m1]", "1:5: parse error: bad number or duration syntax: \"5m1\""},
      {"foo[5m:1m1]", "1:8: parse error: bad number or duration syntax: \"1m1\""},
      {"foo[5y1hs]", "1:5: parse error: unknown unit \"hs\" in duration \"5y1hs\""},
      {"foo[5m1h]", "1:5: parse error: not a valid duration string: \"5m1h\""},
      {"foo[5m1m]", "1:5: parse error: not a valid duration string: \"5m1m\""},
      {"foo[0m]", "1:5: parse error: duration must be greater than 0"},
      {R"(foo["5m"])", "1:5: parse error: unexpected character in duration expression: '\"'"},
      {"foo[]",
       "1:5: parse error: unexpected \"]\" in subquery or range selector, expected "
       "number, duration, step(), or range()"},
      {"foo[-1]", "1:5: parse error: duration must be greater than 0"},
      {"foo[5m-10m]", "1:5: parse error: duration must be greater than 0"},
      {"some_metric[5m] OFFSET 1mm", "1:24: parse error: bad number or duration syntax: \"1mm\""},
      {"some_metric[5m] OFFSET",
       "1:23: parse error: unexpected end of input in offset, expected "
       "number, duration, step(), or range()"},
      {"some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range"},
      {"some_metric[5m] @", "1:18: parse error: unexpected end of input in @, expected timestamp"},
      {"some_metric @ 1234 [5m]", "1:20: parse error: no @ modifiers allowed before range"},
      {"some_metric @ start() [5m]", "1:23: parse error: no @ modifiers allowed before range"},
      {"some_metric @ end()[5m]", "1:20: parse error: no @ modifiers allowed before range"},
      {"some_metric offset step()[5m]",
       "1:26: parse error: no offset modifiers allowed before range"},
      {"(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"},
      {R"(sum by ("foo)(some_metric{}))", "1:9: parse error: unterminated quoted string"},
      {"sum without(==)(some_metric)",
       "1:13: parse error: unexpected <op:==> in grouping opts, expected label"},
      {"sum without(,)(some_metric)",
       "1:13: parse error: unexpected \",\" in grouping opts, expected label"},
      {"sum without(foo,,)(some_metric)",
       "1:17: parse error: unexpected \",\" in grouping opts, expected label"},
      {"sum some_metric by (test)", "1:5: parse error: unexpected identifier \"some_metric\""},
      {"sum (some_metric) by test",
       "1:22: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\""},
      {"sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"},
      {"MIN keep_common (some_metric)", "1:5: parse error: unexpected identifier \"keep_common\""},
      {"MIN (some_metric) keep_common", "1:19: parse error: unexpected identifier \"keep_common\""},
      {"sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"},
      {"sum without (test) (some_metric) by (test)", "1:34: parse error: unexpected <by>"},
      {"topk(some_metric)",
       "1:1: parse error: wrong number of arguments for aggregate expression "
       "provided, expected 2, got 1"},
      {"topk(some_metric,)",
       "1:17: parse error: trailing commas not allowed in function call args"},
      {"topk(some_metric, other_metric)",
       "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"},
      {"count_values(5, other_metric)",
       "1:14: parse error: expected type string in aggregation parameter, got scalar"},
      {"sum(x[5m])",
       "1:5: parse error: expected type instant vector in aggregation expression, got range "
       "vector"},
      {"rate(some_metric[5m]) @ 1234",
       "1:1: parse error: @ modifier must be preceded by an instant vector selector or range "
       "vector selector or a subquery"},
      {"floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"},
      {"floor(some_metric, other_metric)",
       "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2"},
      {"floor(1)",
       "1:7: parse error: expected type instant vector in call to function \"floor\", got scalar"},
      {"hour(some_metric, some_metric, some_metric)",
       "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", got 3"},
      {"label_join(x)",
       "1:1: parse error: expected at least 3 argument(s) in call to "
       "\"label_join\", got 1"},
      {"time(some_metric)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
      {"non_existent_function_far_bar()",
       "1:1: parse error: unknown function with name \"non_existent_function_far_bar\""},
      {"RATE(x[5m])", "1:1: parse error: unknown function with name \"RATE\""},
      {"rate(some_metric)",
       "1:6: parse error: expected type range vector in call to function "
       "\"rate\", got instant vector"},
      {"label_replace(a, `b`, `c\xff`, `d`, `.*`)", "1:23: parse error: invalid UTF-8 rune"},
      {"-=", "1:2: parse error: unexpected \"=\""},
      {"++-++-+-+-<", "1:11: parse error: unexpected <op:<>"},
      {"e-+=/(0)", "1:4: parse error: unexpected \"=\""},
      {"a>b()", "1:3: parse error: unknown function with name \"b\""},
      {"rate(avg)",
       "1:6: parse error: expected type range vector in call to function \"rate\", "
       "got instant vector"},
      {"`\\``", "1:4: parse error: unterminated raw string"},
      {"\"\\", "1:1: parse error: escape sequence not terminated"},
      {R"("\c")", "1:1: parse error: unknown escape sequence U+0063 'c'"},
      {R"("\x.")", "1:1: parse error: illegal character U+002E '.' in escape sequence"},
      {R"(foo{bar="baz"}[)", "1:16: parse error: unexpected end of input in duration expression"},
      {"test[5d] OFFSET 10s [10m:5s]",
       "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
      {R"((foo + bar{nm="val"})[5m:][10m:5s])",
       "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
      {"rate(food[1m])[1h] offset 1h",
       "1:15: parse error: ranges only allowed for vector selectors"},
      {"rate(food[1m])[1h] @ 100", "1:15: parse error: ranges only allowed for vector selectors"},
      {R"(info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"}))",
       "1:46: parse error: expected label selectors only, got vector selector instead"},
      {R"(info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1))",
       "1:51: parse error: expected label selectors only"},
      {"foo[step]",
       "1:9: parse error: unexpected \"]\" in subquery or range selector, expected "
       "number, duration, step(), or range()"},
      {"foo[step()/0d]", "1:11: parse error: division by zero"},
      {"foo[5s/0d]", "1:7: parse error: division by zero"},
      {"foo offset (4d/0)", "1:15: parse error: division by zero"},
      {"foo[5s%0d]", "1:7: parse error: modulo by zero"},
      {"foo offset 9.5e10", "1:12: parse error: duration out of range"},
      {"foo[9.5e10]", "1:5: parse error: duration out of range"},
      {"sum(", "1:5: parse error: unclosed left parenthesis"},
      {"sum(rate(", "1:10: parse error: unclosed left parenthesis"},
      {"foo[5s x 5s]", "1:8: parse error: unexpected character: 'x', expected ':'"},
      {"foo[5s s 5s]", "1:8: parse error: unexpected character: 's', expected ':'"},
      {"1[5m] smoothed", "1:2: parse error: ranges only allowed for vector selectors"},
      {"1[5m] anchored", "1:2: parse error: ranges only allowed for vector selectors"},
      {"foo[5m] anchored smoothed",
       "1:1: parse error: anchored and smoothed modifiers cannot be used together"},
      {"sum(x) smoothed", "1:1: parse error: smoothed modifier not implemented"},
      {"x[5m:1m] anchored", "1:1: parse error: anchored modifier is not supported for subqueries"},
      {"foo and fill(0) bar",
       "1:1: parse error: filling in missing series not allowed for set operators"},
      {"foo + fill(0) 1",
       "1:1: parse error: filling in missing series only allowed between instant vectors"},
      {"foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
      {"foo\n  + bar{", "2:9: parse error: unexpected end of input inside braces"},
      {"sum by (foo) bar", "1:14: parse error: unexpected identifier \"bar\" in aggregation"},
  };
  for (const Case& c : cases) EXPECT_EQ(Error(c.query), c.error) << "query: " << c.query;
}

TEST(ParserErrorTest, ReportsPositionDetail) {
  ParseError detail;
  Result<ExprPtr> e = ParseExpr("foo + bool bar", {}, &detail);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(detail.pos.start, 4);
  EXPECT_EQ(detail.message, "bool modifier can only be used on comparison operators");
}

TEST(ParserErrorTest, DeeplyNestedQueriesAreRejectedNotCrashing) {
  std::string deep(5000, '(');
  deep += "1";
  deep += std::string(5000, ')');
  EXPECT_NE(Error(deep).find("nested too deeply"), std::string::npos);
  std::string chain = "a";
  for (int i = 0; i < 5000; ++i) chain += " + a";
  EXPECT_NE(Error(chain).find("nested too deeply"), std::string::npos);
  std::string ok = "a";
  for (int i = 0; i < 500; ++i) ok += " or a";
  EXPECT_TRUE(ParseExpr(ok).ok());
  // Within the limits, deep nesting parses (and fits the stack under ASan).
  std::string parens = std::string(400, '(') + "-a" + std::string(400, ')');
  Result<ExprPtr> p = ParseExpr(parens);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ToString(**p), parens);
  std::string pow = "2";
  for (int i = 0; i < 200; ++i) pow += " ^ -2";
  EXPECT_TRUE(ParseExpr(pow).ok());
}

// --- Feature flags and dialects. -----------------------------------------

TEST(ParserOptionsTest, ExperimentalFeaturesCanBeDisabled) {
  ParseOptions off;
  off.experimental_functions = false;
  off.duration_expressions = false;
  off.extended_range_selectors = false;
  off.binop_fill_modifiers = false;
  EXPECT_EQ(Error(R"(sort_by_label(x, "a"))", off),
            "1:1: parse error: function \"sort_by_label\" is not enabled");
  EXPECT_EQ(Error("limitk(2, x)", off),
            "1:1: parse error: limitk() is experimental and must be enabled with "
            "--enable-feature=promql-experimental-functions");
  EXPECT_EQ(Error("x[5m+1m]", off),
            "1:3: parse error: experimental duration expression is not enabled");
  EXPECT_EQ(Error("x offset step()", off),
            "1:10: parse error: experimental duration expression is not enabled");
  EXPECT_EQ(Error("rate(x[5m] anchored)", off),
            "1:6: parse error: anchored modifier is experimental and not enabled");
  EXPECT_EQ(Error("a + fill(0) b", off),
            "1:1: parse error: binop fill modifiers are experimental and not enabled");
  // Plain literals are not duration expressions.
  EXPECT_TRUE(ParseExpr("x[5m] offset -1h", off).ok());
  EXPECT_TRUE(ParseExpr("x[300]", off).ok());
}

TEST(ParserOptionsTest, DialectsSelectTheFunctionSet) {
  const ParseOptions v2 = ParseOptions::Prometheus2();
  EXPECT_TRUE(ParseExpr("holt_winters(x[5m], 0.5, 0.5)", v2).ok());
  EXPECT_EQ(Error("holt_winters(x[5m], 0.5, 0.5)"),
            "1:1: parse error: unknown function with name \"holt_winters\"");
  EXPECT_TRUE(ParseExpr("double_exponential_smoothing(x[5m], 0.5, 0.5)").ok());
  EXPECT_EQ(Error("double_exponential_smoothing(x[5m], 0.5, 0.5)", v2),
            "1:1: parse error: unknown function with name \"double_exponential_smoothing\"");
  EXPECT_EQ(Error("histogram_avg(x)", v2),
            "1:1: parse error: unknown function with name \"histogram_avg\"");
  // 2.x rejected zero durations everywhere; 3.x allows `offset 0`.
  EXPECT_EQ(Error("x offset 0s", v2), "1:10: parse error: duration must be greater than 0");
  // Regexes: `.` matches newlines only in 3.x.
  Result<ExprPtr> e2 = ParseExpr(R"(x{a=~"a.b"})", v2);
  ASSERT_TRUE(e2.ok());
  EXPECT_FALSE((*e2)->As<VectorSelector>()->matchers[0].Matches("a\nb"));
  ExprPtr e3 = MustParse(R"(x{a=~"a.b"})");
  EXPECT_TRUE(e3->As<VectorSelector>()->matchers[0].Matches("a\nb"));
}

TEST(ParseMetricSelectorTest, ReturnsMatchers) {
  Result<std::vector<Matcher>> m = ParseMetricSelector(R"(up{job="api", env=~"prod|dev"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].ToString(), R"(job="api")");
  EXPECT_EQ((*m)[1].ToString(), R"(env=~"prod|dev")");
  EXPECT_EQ((*m)[2].ToString(), R"(__name__="up")");
  Result<std::vector<Matcher>> q = ParseMetricSelector(R"({"service.name"="x"})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)[0].name(), "service.name");
  // No non-empty-matcher requirement here (the API layer checks it).
  EXPECT_TRUE(ParseMetricSelector("{}").ok());
  EXPECT_TRUE(ParseMetricSelector("sum").ok());
  EXPECT_EQ(ParseMetricSelector("up[5m]").status().message(), "1:3: parse error: unexpected \"[\"");
  EXPECT_EQ(ParseMetricSelector("rate(up[5m])").status().message(),
            "1:5: parse error: unexpected \"(\"");
  EXPECT_EQ(ParseMetricSelector("").status().message(),
            "1:1: parse error: unexpected end of input");
}

TEST(ParserTest, CloneIsDeep) {
  ExprPtr e = MustParse(
      R"(sum by (job) (rate(x{a=~"b.*"}[5m] offset 1m)) / on(job) group_left(x) count(y @ 10))");
  ExprPtr c = Clone(*e);
  EXPECT_EQ(DebugString(*c), DebugString(*e));
  EXPECT_EQ(c->pos, e->pos);
  EXPECT_EQ(CollectSelectors(*c).size(), 2u);
}

}  // namespace
}  // namespace sightline::promql

namespace sightline::promql {
namespace {

TEST(FunctionTableTest, SortedAndSearchable) {
  const auto fns = AllFunctions();
  ASSERT_GT(fns.size(), 80u);
  for (size_t i = 0; i < fns.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(fns[i - 1].name, fns[i].name);
    }
    EXPECT_EQ(FindFunction(fns[i].name), &fns[i]) << fns[i].name;
    EXPECT_TRUE(fns[i].in_v2 || fns[i].in_v3) << fns[i].name;
  }
  EXPECT_EQ(FindFunction("nope"), nullptr);
  const FunctionInfo* rate = FindFunction("rate");
  ASSERT_NE(rate, nullptr);
  ASSERT_EQ(rate->arg_types.size(), 1u);
  EXPECT_EQ(rate->arg_types[0], ValueType::kMatrix);
  EXPECT_EQ(rate->return_type, ValueType::kVector);
  EXPECT_EQ(FindFunction("label_join")->variadic, -1);
  EXPECT_EQ(FindFunction("histogram_quantiles")->variadic, 9);
  EXPECT_TRUE(FindFunction("holt_winters")->in_v2);
  EXPECT_FALSE(FindFunction("holt_winters")->in_v3);
}

}  // namespace
}  // namespace sightline::promql
