// scrape_configs parsing and target label computation.
#include "metrics/scrape/scrape_config.h"

#include <gtest/gtest.h>

#include "metrics/scrape/scrape_manager.h"

namespace sightline::metrics::scrape {
namespace {

TEST(ScrapeConfigTest, DefaultsAndOverrides) {
  auto c = ParseScrapeConfig(R"(
server: {http: {listen: ":1"}}
global:
  scrape_interval: 30s
scrape_configs:
  - job_name: a
    static_configs: [{targets: ["h:1", "h:2"], labels: {x: y}}]
  - job_name: b
    scrape_interval: 5s
    tenant: t
    body_size_limit: 1KiB
    file_sd_configs: [{files: [sd/*.json]}]
    relabel_configs:
      - {source_labels: [__address__], regex: "(.*):.*", target_label: host, replacement: "$1"}
)",
                             "/etc/sl/sightline.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->scrape_configs.size(), 2u);
  const auto& a = c->scrape_configs[0];
  EXPECT_EQ(a.scrape_interval, std::chrono::seconds(30));
  EXPECT_EQ(a.scrape_timeout, std::chrono::seconds(10));
  EXPECT_EQ(a.tenant, "anonymous");
  EXPECT_EQ(a.static_configs[0].targets.size(), 2u);
  const auto& b = c->scrape_configs[1];
  EXPECT_EQ(b.scrape_interval, std::chrono::seconds(5));
  EXPECT_EQ(b.scrape_timeout, std::chrono::seconds(5));  // capped at the interval
  EXPECT_EQ(b.tenant, "t");
  EXPECT_EQ(b.body_size_limit, 1024u);
  EXPECT_EQ(b.file_sd_configs[0].files[0], "/etc/sl/sd/*.json");
  EXPECT_EQ(b.file_sd_configs[0].refresh_interval, std::chrono::minutes(5));
}

TEST(ScrapeConfigTest, Errors) {
  auto msg = [](const std::string& y) {
    auto c = ParseScrapeConfig(y, "f.yaml");
    return c.ok() ? std::string("ok") : c.status().message();
  };
  EXPECT_EQ(msg("scrape_configs:\n  - job_name: a\n  - job_name: a\n"),
            "f.yaml:3: found multiple scrape configs with job name \"a\"");
  EXPECT_EQ(
      msg("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n"),
      "f.yaml:2: scrape timeout greater than scrape interval for scrape config with job "
      "name \"a\"");
  EXPECT_EQ(msg("scrape_configs:\n  - job_name: a\n    bogus: 1\n"),
            "f.yaml:3: field bogus not found in type config.ScrapeConfig");
  EXPECT_EQ(msg("scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: hashmod, "
                "target_label: x}]\n"),
            "f.yaml:3: relabel configuration for hashmod requires non-zero modulus");
  EXPECT_EQ(msg("scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [x.txt]}]\n"),
            "f.yaml:3: path name \"x.txt\" is not valid for file discovery");
}

TEST(ScrapeConfigTest, TargetLabelsAndUrl) {
  ScrapeConfig job;
  job.job_name = "node";
  job.scrape_interval = std::chrono::seconds(15);
  job.scrape_timeout = std::chrono::seconds(10);
  job.params["module"] = {"a"};
  relabel::Config keep;
  keep.action = relabel::Action::kKeep;
  keep.source_labels = {"__meta_role"};
  keep.regex = "web";
  relabel::Config param;
  param.target_label = "__param_target";
  param.source_labels = {"__address__"};
  auto rules = relabel::CompileAll({keep, param});
  ASSERT_TRUE(rules.ok());
  Labels disc = DiscoveredLabels(job, "10.0.0.1:9100", {{"__meta_role", "web"}, {"env", "prod"}});
  EXPECT_EQ(disc.Get("__scrape_interval__"), "15s");
  EXPECT_EQ(disc.Get("__param_module"), "a");
  bool keep_it = false;
  auto fl = TargetLabels(job, *rules, disc, &keep_it);
  ASSERT_TRUE(fl.ok());
  ASSERT_TRUE(keep_it);
  EXPECT_EQ(fl->Get("instance"), "10.0.0.1:9100");
  EXPECT_FALSE(fl->Has("__meta_role"));
  EXPECT_EQ(fl->Get("env"), "prod");
  EXPECT_EQ(TargetUrl(job, *fl), "http://10.0.0.1:9100/metrics?module=a&target=10.0.0.1%3A9100");
  Labels other = DiscoveredLabels(job, "10.0.0.2:9100", {{"__meta_role", "db"}});
  (void)TargetLabels(job, *rules, other, &keep_it);
  EXPECT_FALSE(keep_it);
}

TEST(ScrapeConfigTest, FileSd) {
  auto g =
      ParseFileSd(R"([{"targets": ["a:1"], "labels": {"x": "y"}}, {"targets": []}])", "f.json");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].labels.at("x"), "y");
  EXPECT_FALSE(ParseFileSd("{\"targets\": 1}", "f.json").ok());
}

}  // namespace
}  // namespace sightline::metrics::scrape
