// ScrapeLoop over a scripted fetcher and the recording store: samples and
// report series, label merging, metric relabeling, staleness, failures,
// sample_limit, timestamps, exemplars and metadata.
#include "metrics/scrape/scrape_loop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "metrics/ingest/fake_appendable.h"

namespace sightline::metrics::scrape {
namespace {

using metrics::testing::FakeAppendable;

struct Script {
  std::vector<Result<FetchResult>> answers;
  size_t next = 0;
  Fetcher fetcher() {
    return [this](std::chrono::milliseconds) -> Result<FetchResult> {
      if (next >= answers.size()) return UnavailableError("no more answers");
      return answers[next++];
    };
  }
};

FetchResult Text(std::string body) { return {std::move(body), "text/plain; version=0.0.4"}; }

LoopOptions Opts() {
  LoopOptions o;
  o.tenant = "t1";
  o.target_labels = Labels::FromStrings({"job", "node", "instance", "h:9100"});
  return o;
}

std::vector<double> Values(const FakeAppendable& db, const std::string& series) {
  std::vector<double> out;
  for (const auto& s : db.SamplesOf(series)) out.push_back(s.v);
  return out;
}

TEST(ScrapeLoopTest, AppendsSamplesAndReport) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(Text("# TYPE a counter\n# HELP a Help me.\na_total 1\nb{x=\"y\"} 2\n"));
  ScrapeLoop loop(&db, s.fetcher(), Opts());
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  auto series = db.SeriesStrings();
  EXPECT_NE(std::find(series.begin(), series.end(),
                      R"({__name__="a_total", instance="h:9100", job="node"})"),
            series.end());
  EXPECT_EQ(Values(db, R"({__name__="b", instance="h:9100", job="node", x="y"})"),
            std::vector<double>{2});
  EXPECT_EQ(Values(db, R"({__name__="up", instance="h:9100", job="node"})"),
            std::vector<double>{1});
  EXPECT_EQ(Values(db, R"({__name__="scrape_samples_scraped", instance="h:9100", job="node"})"),
            std::vector<double>{2});
  EXPECT_EQ(Values(db, R"({__name__="scrape_series_added", instance="h:9100", job="node"})"),
            std::vector<double>{2});
  for (const auto& smp : db.samples()) {
    EXPECT_EQ(smp.tenant, "t1");
    EXPECT_EQ(smp.t, 1000);
  }
  EXPECT_EQ(db.metadata().at("a").type, "counter");
  EXPECT_EQ(db.metadata().at("a").help, "Help me.");
  EXPECT_EQ(loop.State().health, "up");
}

TEST(ScrapeLoopTest, TargetLabelsWinUnlessHonored) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(Text("m{job=\"exp\",instance=\"other\"} 1\n"));
  ScrapeLoop loop(&db, s.fetcher(), Opts());
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  EXPECT_EQ(Values(db, R"({__name__="m", exported_instance="other", exported_job="exp", )"
                       R"(instance="h:9100", job="node"})"),
            std::vector<double>{1});

  FakeAppendable db2;
  Script s2;
  s2.answers.push_back(Text("m{job=\"exp\"} 1\n"));
  LoopOptions o = Opts();
  o.honor_labels = true;
  ScrapeLoop loop2(&db2, s2.fetcher(), o);
  ASSERT_TRUE(loop2.ScrapeOnce(1000).ok());
  EXPECT_EQ(Values(db2, R"({__name__="m", instance="h:9100", job="exp"})"), std::vector<double>{1});
}

TEST(ScrapeLoopTest, MetricRelabelingAndSampleLimit) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(Text("keep_me 1\ndrop_me 2\nkeep_too 3\n"));
  s.answers.push_back(Text("keep_me 1\ndrop_me 2\nkeep_too 3\n"));
  LoopOptions o = Opts();
  relabel::Config c;
  c.action = relabel::Action::kDrop;
  c.source_labels = {"__name__"};
  c.regex = "drop_.*";
  o.metric_relabel = std::make_shared<const std::vector<relabel::Rule>>(
      std::vector<relabel::Rule>{*relabel::Rule::Compile(c)});
  o.sample_limit = 2;
  ScrapeLoop loop(&db, s.fetcher(), o);
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  EXPECT_TRUE(Values(db, R"({__name__="drop_me", instance="h:9100", job="node"})").empty());
  EXPECT_EQ(Values(db, R"({__name__="scrape_samples_post_metric_relabeling", instance="h:9100", )"
                       R"(job="node"})"),
            std::vector<double>{2});
  EXPECT_EQ(Values(db, R"({__name__="scrape_samples_scraped", instance="h:9100", job="node"})"),
            std::vector<double>{3});

  o.sample_limit = 1;
  FakeAppendable db2;
  Script s2;
  s2.answers = s.answers;
  ScrapeLoop loop2(&db2, s2.fetcher(), o);
  Status st = loop2.ScrapeOnce(1000);
  EXPECT_EQ(st.message(), "sample limit exceeded");
  EXPECT_TRUE(Values(db2, R"({__name__="keep_me", instance="h:9100", job="node"})").empty());
  EXPECT_EQ(Values(db2, R"({__name__="up", instance="h:9100", job="node"})"),
            std::vector<double>{0});
  EXPECT_EQ(loop2.State().last_error, "sample limit exceeded");
}

TEST(ScrapeLoopTest, StalenessWhenSeriesVanishOrScrapeFails) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(Text("a 1\nb 2\n"));
  s.answers.push_back(Text("a 3\n"));                // b vanishes
  s.answers.push_back(UnavailableError("refused"));  // everything goes stale
  s.answers.push_back(Text("a 4\nb 5\n"));
  ScrapeLoop loop(&db, s.fetcher(), Opts());
  ASSERT_TRUE(loop.ScrapeOnce(1000).ok());
  ASSERT_TRUE(loop.ScrapeOnce(2000).ok());
  EXPECT_FALSE(loop.ScrapeOnce(3000).ok());
  EXPECT_EQ(loop.State().health, "down");
  EXPECT_EQ(loop.State().last_error, "refused");
  ASSERT_TRUE(loop.ScrapeOnce(4000).ok());
  loop.EndOfRun(5000);

  auto a = db.SamplesOf(R"({__name__="a", instance="h:9100", job="node"})");
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[1].v, 3);
  EXPECT_TRUE(IsStaleNaN(a[2].v));
  EXPECT_EQ(a[2].t, 3000);
  EXPECT_EQ(a[3].v, 4);
  EXPECT_TRUE(IsStaleNaN(a[4].v));
  EXPECT_EQ(a[4].t, 5000);
  auto b = db.SamplesOf(R"({__name__="b", instance="h:9100", job="node"})");
  ASSERT_EQ(b.size(), 4u);
  EXPECT_TRUE(IsStaleNaN(b[1].v));
  EXPECT_EQ(b[1].t, 2000);
  EXPECT_EQ(b[2].v, 5);
  EXPECT_TRUE(IsStaleNaN(b[3].v));
  auto up = Values(db, R"({__name__="up", instance="h:9100", job="node"})");
  ASSERT_EQ(up.size(), 5u);
  EXPECT_EQ(up[2], 0);
  EXPECT_TRUE(IsStaleNaN(up[4]));
}

// Reload with changed settings: the new loop adopts the old one's series.
// Those it scrapes again continue without a staleness marker; one the new
// metric_relabel_configs drop is marked stale by the first scrape; a failed
// first scrape, or EndOfRun before any, marks all of them stale.
TEST(ScrapeLoopTest, HandoverOnReloadContinuesSeries) {
  const std::string a = R"({__name__="a", instance="h:9100", job="node"})";
  const std::string b = R"({__name__="b", instance="h:9100", job="node"})";
  const std::string up = R"({__name__="up", instance="h:9100", job="node"})";
  relabel::Config drop_b;
  drop_b.action = relabel::Action::kDrop;
  drop_b.source_labels = {"__name__"};
  drop_b.regex = "b";
  LoopOptions changed = Opts();
  changed.metric_relabel = std::make_shared<const std::vector<relabel::Rule>>(
      std::vector<relabel::Rule>{*relabel::Rule::Compile(drop_b)});
  {
    FakeAppendable db;
    Script s1, s2;
    s1.answers.push_back(Text("a 1\nb 2\n"));
    s2.answers.push_back(Text("a 3\nb 4\n"));
    ScrapeLoop old_loop(&db, s1.fetcher(), Opts());
    ASSERT_TRUE(old_loop.ScrapeOnce(1000).ok());
    ScrapeLoop new_loop(&db, s2.fetcher(), changed);
    new_loop.Adopt(old_loop.TakeHandover());
    ASSERT_TRUE(new_loop.ScrapeOnce(2000).ok());
    auto as = db.SamplesOf(a);
    ASSERT_EQ(as.size(), 2u);
    EXPECT_EQ(as[1].v, 3);
    EXPECT_EQ(as[1].t, 2000);
    auto bs = db.SamplesOf(b);
    ASSERT_EQ(bs.size(), 2u);
    EXPECT_TRUE(IsStaleNaN(bs[1].v));
    EXPECT_EQ(bs[1].t, 2000);
    EXPECT_EQ(Values(db, up), (std::vector<double>{1, 1}));
    new_loop.EndOfRun(3000);
    as = db.SamplesOf(a);
    ASSERT_EQ(as.size(), 3u);
    EXPECT_TRUE(IsStaleNaN(as[2].v));
    EXPECT_EQ(db.SamplesOf(b).size(), 2u);  // stale once only
    EXPECT_TRUE(IsStaleNaN(Values(db, up).back()));
  }
  {
    // The first scrape after the reload fails: everything adopted is stale.
    FakeAppendable db;
    Script s1, s2;
    s1.answers.push_back(Text("a 1\nb 2\n"));
    s2.answers.push_back(UnavailableError("refused"));
    ScrapeLoop old_loop(&db, s1.fetcher(), Opts());
    ASSERT_TRUE(old_loop.ScrapeOnce(1000).ok());
    ScrapeLoop new_loop(&db, s2.fetcher(), changed);
    new_loop.Adopt(old_loop.TakeHandover());
    EXPECT_FALSE(new_loop.ScrapeOnce(2000).ok());
    EXPECT_TRUE(IsStaleNaN(db.SamplesOf(a).back().v));
    EXPECT_TRUE(IsStaleNaN(db.SamplesOf(b).back().v));
    EXPECT_EQ(Values(db, up), (std::vector<double>{1, 0}));
  }
  {
    // Stopped again before scraping: EndOfRun marks the adopted series.
    FakeAppendable db;
    Script s1, s2;
    s1.answers.push_back(Text("a 1\n"));
    ScrapeLoop old_loop(&db, s1.fetcher(), Opts());
    ASSERT_TRUE(old_loop.ScrapeOnce(1000).ok());
    ScrapeLoop new_loop(&db, s2.fetcher(), changed);
    new_loop.Adopt(old_loop.TakeHandover());
    new_loop.EndOfRun(1500);
    EXPECT_TRUE(IsStaleNaN(db.SamplesOf(a).back().v));
    EXPECT_TRUE(IsStaleNaN(Values(db, up).back()));
  }
}

TEST(ScrapeLoopTest, ParseErrorFailsTheWholeScrape) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(Text("a 1\nb{ 2\n"));
  ScrapeLoop loop(&db, s.fetcher(), Opts());
  Status st = loop.ScrapeOnce(1000);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Values(db, R"({__name__="a", instance="h:9100", job="node"})").empty());
  EXPECT_EQ(Values(db, R"({__name__="up", instance="h:9100", job="node"})"),
            std::vector<double>{0});
}

TEST(ScrapeLoopTest, TimestampsExemplarsAndOpenMetrics) {
  FakeAppendable db;
  Script s;
  s.answers.push_back(FetchResult{
      "# TYPE c counter\n# UNIT c_seconds seconds\nc_total 5 12.5 # {trace_id=\"abc\"} 1 11\n"
      "c_created 10\nd 1\n# EOF\n",
      "application/openmetrics-text; version=1.0.0"});
  s.answers.push_back(Text("e 1 777\n"));
  LoopOptions o = Opts();
  ScrapeLoop loop(&db, s.fetcher(), o);
  ASSERT_TRUE(loop.ScrapeOnce(20000).ok());
  auto c = db.SamplesOf(R"({__name__="c_total", instance="h:9100", job="node"})");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].t, 12500);
  EXPECT_TRUE(db.SamplesOf(R"({__name__="c_created", instance="h:9100", job="node"})").empty());
  ASSERT_EQ(db.exemplars().size(), 1u);
  EXPECT_EQ(db.exemplars()[0].exemplar.labels.Get("trace_id"), "abc");
  EXPECT_EQ(db.exemplars()[0].exemplar.timestamp_ms, 11000);
  EXPECT_EQ(db.metadata().at("c_seconds").unit, "seconds");

  o.honor_timestamps = false;
  ScrapeLoop loop2(&db, s.fetcher(), o);
  ASSERT_TRUE(loop2.ScrapeOnce(30000).ok());
  auto e = db.SamplesOf(R"({__name__="e", instance="h:9100", job="node"})");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].t, 30000);
}

}  // namespace
}  // namespace sightline::metrics::scrape
