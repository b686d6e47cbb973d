// Log (stream) queries end to end through Engine::Exec over the in-memory
// querier: direction, limit, interval, stream grouping with and without
// categorize-labels, structured metadata, stats, limits and errors, the
// LogPipeline used by tail, and the store pushdown hints.
#include <gtest/gtest.h>

#include "logs/logql/engine.h"
#include "memory_querier.h"

namespace sightline::logs::logql {
namespace {

using testing::MemoryLogQuerier;

class LogQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = Labels::FromStrings({"app", "api", "env", "prod"});
    b_ = Labels::FromStrings({"app", "web", "env", "prod"});
    for (int i = 0; i < 10; ++i) {
      q_.Add(a_, Entry{100 + i * 10, "a level=" + std::string(i % 2 ? "info" : "error") + " i=" + std::to_string(i),
                       Labels::FromStrings({"trace_id", "t" + std::to_string(i % 3)})});
      q_.Add(b_, Entry{105 + i * 10, "b level=info i=" + std::to_string(i), {}});
    }
  }
  Result<QueryResult> Run(const std::string& query, Direction d = Direction::kBackward,
                          size_t limit = 100, int64_t interval = 0, bool categorize = false) {
    QueryParams p;
    p.query = query;
    p.start_ns = 0;
    p.end_ns = 1000;
    p.direction = d;
    p.limit = limit;
    p.interval_ns = interval;
    p.categorize_labels = categorize;
    return engine_.Exec(q_, p);
  }
  static std::vector<int64_t> Ts(const QueryResult& r) {
    std::vector<int64_t> v;
    for (const auto& s : r.streams) {
      for (const auto& e : s.entries) v.push_back(e.timestamp_ns);
    }
    return v;
  }

  MemoryLogQuerier q_;
  Engine engine_;
  Labels a_, b_;
};

TEST_F(LogQueryTest, DirectionAndLimit) {
  auto r = Run(R"({env="prod"})", Direction::kBackward, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->type, ResultType::kStreams);
  // The newest 3 entries over both streams: 195 (b), 190 (a), 185 (b).
  std::vector<int64_t> got = Ts(*r);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int64_t>{185, 190, 195}));
  ASSERT_EQ(r->streams.size(), 2u);
  for (const auto& s : r->streams) {
    for (size_t i = 1; i < s.entries.size(); ++i) {
      EXPECT_GT(s.entries[i - 1].timestamp_ns, s.entries[i].timestamp_ns);  // backward
    }
  }
  r = Run(R"({env="prod"})", Direction::kForward, 3);
  ASSERT_TRUE(r.ok());
  got = Ts(*r);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 105, 110}));
  EXPECT_EQ(r->stats.entries_returned, 3);
}

TEST_F(LogQueryTest, FiltersStatsAndPushdown) {
  auto r = Run(R"({app="api"} |= "level=error" | logfmt | i > 4)", Direction::kForward);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->streams.size(), 2u);  // parsed labels split the stream (i=6, i=8)
  EXPECT_EQ(r->stats.entries_returned, 2);
  EXPECT_EQ(r->stats.lines_processed, 10);
  EXPECT_GT(r->stats.bytes_processed, 0);
  EXPECT_EQ(r->stats.post_filter_lines, 2);
  ASSERT_FALSE(q_.seen_hints().empty());
  EXPECT_EQ(q_.seen_hints().back(), std::vector<std::string>{"level=error"});
  const LogStream& s = r->streams[0];
  EXPECT_EQ(s.labels.Get("level"), "error");
  EXPECT_EQ(s.labels.Get("trace_id"), "t0");  // structured metadata is part of the stream
  EXPECT_EQ(s.entries[0].parsed.Get("i"), "6");
  EXPECT_EQ(s.entries[0].structured_metadata.Get("trace_id"), "t0");
}

// `| trace_id="<id>"` reaches the store as a trace-index hint unless a
// line_format/label_format before it could have made the value up, or it
// is only one side of an `or`.
TEST_F(LogQueryTest, TraceIdLabelFilterPushdown) {
  const std::string id = "0af7651916cd43dd8448eb211c80319c";
  auto hint = [&](const std::string& q) {
    auto r = Run(q, Direction::kForward);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
    return q_.seen_label_trace_ids().empty() ? std::string("<none>")
                                             : q_.seen_label_trace_ids().back();
  };
  EXPECT_EQ(hint(R"({app="api"} | trace_id=")" + id + "\""), id);
  EXPECT_EQ(hint(R"({app="api"} | json | level="error", trace_id=")" + id + "\""), id);
  EXPECT_EQ(hint(R"({app="api"} | label_format trace_id=level | trace_id=")" + id + "\""), "");
  EXPECT_EQ(hint(R"({app="api"} | line_format "{{.x}}" | logfmt | trace_id=")" + id + "\""), "");
  EXPECT_EQ(hint(R"({app="api"} | trace_id=")" + id + R"(" or level="x")"), "");
  EXPECT_EQ(hint(R"({app="api"} | trace_id="t0")"), "");  // not a 32-hex id
}

TEST_F(LogQueryTest, CategorizeLabels) {
  auto r = Run(R"({app="api"} | logfmt)", Direction::kForward, 100, 0, /*categorize=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->streams.size(), 1u);  // keyed by stream labels only
  EXPECT_EQ(r->streams[0].labels, a_);
  ASSERT_EQ(r->streams[0].entries.size(), 10u);
  const LogEntry& e = r->streams[0].entries[0];
  EXPECT_EQ(e.structured_metadata, Labels::FromStrings({"trace_id", "t0"}));
  EXPECT_EQ(e.parsed, Labels::FromStrings({"i", "0", "level", "error"}));
  // Without a parser, metadata still comes separately.
  r = Run(R"({app="api"})", Direction::kForward, 100, 0, true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_EQ(r->streams[0].entries[0].structured_metadata.Get("trace_id"), "t0");
}

TEST_F(LogQueryTest, Interval) {
  auto r = Run(R"({app="web"})", Direction::kForward, 100, /*interval=*/25);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Ts(*r), (std::vector<int64_t>{105, 135, 165, 195}));
}

TEST_F(LogQueryTest, LineFormatRewritesLines) {
  auto r = Run(R"({app="web"} | logfmt | line_format "{{.app}}#{{.i}}")", Direction::kForward, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<std::string> lines;
  for (const auto& s : r->streams) {
    for (const auto& e : s.entries) lines.push_back(e.line);
  }
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"web#0", "web#1"}));
}

TEST_F(LogQueryTest, Errors) {
  auto r = Run(R"({app="web"})", Direction::kForward, 6000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("max entries limit per query exceeded"), std::string::npos);
  r = Run(R"({app="web"} | bad)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("parse error"), std::string::npos);
}

TEST_F(LogQueryTest, MetricQueryOverTheSameData) {
  QueryParams p;
  p.query = R"(sum by (level) (count_over_time({env="prod"} | logfmt [1000]))";
  p.start_ns = p.end_ns = 200;
  auto r = engine_.Exec(q_, p);
  ASSERT_FALSE(r.ok());  // [1000] has no unit
  p.query = R"(sum by (level) (count_over_time({env="prod"} | logfmt [1ns])))";
  r = engine_.Exec(q_, p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->type, ResultType::kVector);
  // Window (199ns, 200ns]: nothing there.
  EXPECT_TRUE(r->vector.empty());
  p.query = R"(sum by (level) (count_over_time({env="prod"} | logfmt [1s])))";
  r = engine_.Exec(q_, p);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->vector.size(), 2u);
  EXPECT_EQ(r->vector[0].metric, Labels::FromStrings({"level", "error"}));
  EXPECT_EQ(r->vector[0].v, 5);
  EXPECT_EQ(r->vector[1].v, 15);
}

TEST_F(LogQueryTest, TailPipeline) {
  auto q = Parse(R"({app="api"} |= "error" | logfmt | line_format "{{.i}}")");
  ASSERT_TRUE(q.ok());
  auto p = LogPipeline::Make(*q);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ((*p)->matchers().size(), 1u);
  LogEntry out;
  Labels all;
  EXPECT_FALSE((*p)->Process(a_, Entry{1, "a level=info i=1", {}}, &out, &all));
  ASSERT_TRUE((*p)->Process(a_, Entry{2, "a level=error i=2", {}}, &out, &all));
  EXPECT_EQ(out.line, "2");
  EXPECT_EQ(all.Get("level"), "error");
  EXPECT_FALSE(LogPipeline::Make(*Parse(R"(count_over_time({a="b"}[1m]))")).ok());
}

}  // namespace
}  // namespace sightline::logs::logql
