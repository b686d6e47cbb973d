#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/harness.h"

namespace sightline::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConfigTest, Defaults) {
  auto cl = ParseCommandLine({});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->action, CommandLine::Action::kRun);
  const Config& c = cl->config;
  EXPECT_EQ(c.target, std::vector<std::string>{"all"});
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.grpc.listen, "0.0.0.0:4317");
  EXPECT_EQ(c.storage.backend, "filesystem");
  EXPECT_EQ(c.storage.filesystem_path, "./data/objects");
  EXPECT_FALSE(c.multitenancy_enabled);
}

TEST(ConfigTest, StableFlags) {
  auto cl = ParseCommandLine({"--http.listen=127.0.0.1:0", "--grpc.listen", "127.0.0.1:0",
                              "--data.dir=/tmp/x", "--multitenancy.enabled",
                              "--target=ingester,querier", "--storage.backend=filesystem",
                              "--storage.path=/tmp/objs", "--log.level=debug"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const Config& c = cl->config;
  EXPECT_EQ(c.http.listen, "127.0.0.1:0");
  EXPECT_EQ(c.grpc.listen, "127.0.0.1:0");
  EXPECT_EQ(c.data_dir, "/tmp/x");
  EXPECT_TRUE(c.multitenancy_enabled);
  EXPECT_EQ(c.target, (std::vector<std::string>{"ingester", "querier"}));
  EXPECT_EQ(c.storage.filesystem_path, "/tmp/objs");
  EXPECT_EQ(c.log_level, "debug");
}

TEST(ConfigTest, StoragePathFollowsDataDir) {
  auto cl = ParseCommandLine({"--data.dir=/srv/sl"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->config.storage.filesystem_path, "/srv/sl/objects");
}

TEST(ConfigTest, HelpAndVersion) {
  auto h = ParseCommandLine({"--help"});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->action, CommandLine::Action::kHelp);
  EXPECT_THAT(Usage(), HasSubstr("--http.listen"));
  EXPECT_THAT(Usage(), HasSubstr("--storage.s3.bucket"));
  auto v = ParseCommandLine({"--version"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->action, CommandLine::Action::kVersion);
}

TEST(ConfigTest, FlagsOverrideFile) {
  testing::TempDir dir;
  testing::WriteFile(dir.Join("c.yaml"),
                     "data_dir: /from/file\n"
                     "server:\n"
                     "  http:\n"
                     "    listen: 127.0.0.1:1111\n"
                     "    max_body_bytes: 8MiB\n"
                     "    idle_timeout: 1m30s\n"
                     "multitenancy:\n"
                     "  enabled: true\n");
  auto cl = ParseCommandLine({"--http.listen=127.0.0.1:2222", "--config.file=" + dir.Join("c.yaml")});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->config.http.listen, "127.0.0.1:2222");  // flag wins, whatever the order
  EXPECT_EQ(cl->config.data_dir, "/from/file");
  EXPECT_EQ(cl->config.http.max_body_bytes, 8u << 20);
  EXPECT_EQ(cl->config.http.idle_timeout, std::chrono::seconds(90));
  EXPECT_TRUE(cl->config.multitenancy_enabled);
}

TEST(ConfigTest, MetricsSection) {
  testing::TempDir dir;
  testing::WriteFile(dir.Join("c.yaml"),
                     "metrics:\n"
                     "  promql:\n"
                     "    compat: v2\n"
                     "    lookback_delta: 2m\n"
                     "  tsdb:\n"
                     "    block_duration: 30m\n"
                     "  external_labels: [cluster=eu1, replica=a]\n");
  auto cl = ParseCommandLine({"--config.file=" + dir.Join("c.yaml"), "--query.replica-label=replica"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const MetricsConfig& m = cl->config.metrics;
  EXPECT_EQ(m.promql_compat, "v2");
  EXPECT_EQ(m.lookback_delta, std::chrono::minutes(2));
  EXPECT_EQ(m.block_duration, std::chrono::minutes(30));
  EXPECT_EQ(m.external_labels, (std::vector<std::string>{"cluster=eu1", "replica=a"}));
  EXPECT_EQ(m.replica_labels, std::vector<std::string>{"replica"});

  auto bad = ParseCommandLine({"--promql.compat=v1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("metrics.promql.compat: \"v1\" is not a dialect"));
  bad = ParseCommandLine({"--metrics.external_labels=cluster"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"cluster\" is not name=value"));
}

TEST(ConfigTest, UnknownKeyNamesFileAndLine) {
  Config c;
  Status s = LoadYaml("server:\n  http:\n    listen: 1.2.3.4:5\n    lisen: x\n", "sl.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "sl.yaml:4: unknown key \"lisen\" in server.http");
  s = LoadYaml("bogus: 1\n", "sl.yaml", &c);
  EXPECT_EQ(s.message(), "sl.yaml:1: unknown key \"bogus\" at the top level");
}

TEST(ConfigTest, BadValuesNameFileAndLine) {
  Config c;
  Status s = LoadYaml("multitenancy:\n  enabled: maybe\n", "sl.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("sl.yaml:2: invalid value for multitenancy.enabled"));
  EXPECT_THAT(s.message(), HasSubstr("not a boolean"));
  s = LoadYaml("server:\n  http:\n    idle_timeout: 5 parsecs\n", "sl.yaml", &c);
  EXPECT_THAT(s.message(), HasSubstr("sl.yaml:3: invalid value for server.http.idle_timeout"));
  s = LoadYaml("server:\n  http: [1, 2]\n", "sl.yaml", &c);
  EXPECT_THAT(s.message(), HasSubstr("sl.yaml:2:"));
  s = LoadYaml("server: {http: {listen: [a]}}\n", "sl.yaml", &c);
  EXPECT_THAT(s.message(), HasSubstr("must be a single value"));
  s = LoadYaml("key: [unclosed\n", "sl.yaml", &c);
  EXPECT_THAT(s.message(), HasSubstr("not valid YAML"));
}

TEST(ConfigTest, ValidationErrors) {
  EXPECT_THAT(ParseCommandLine({"--http.listen=nope"}).status().message(), HasSubstr("HOST:PORT"));
  EXPECT_THAT(ParseCommandLine({"--http.listen=:99999"}).status().message(), HasSubstr("port"));
  EXPECT_THAT(ParseCommandLine({"--target=ingestor"}).status().message(),
              HasSubstr("unknown role \"ingestor\""));
  EXPECT_THAT(ParseCommandLine({"--storage.backend=gcs"}).status().message(),
              HasSubstr("filesystem or s3"));
  EXPECT_THAT(ParseCommandLine({"--storage.backend=s3"}).status().message(),
              HasSubstr("storage.s3.bucket"));
  EXPECT_THAT(ParseCommandLine({"--no.such.flag=1"}).status().message(),
              HasSubstr("unknown flag --no.such.flag"));
  EXPECT_THAT(ParseCommandLine({"--data.dir"}).status().message(), HasSubstr("needs a value"));
  EXPECT_THAT(ParseCommandLine({"stray"}).status().message(), HasSubstr("unexpected argument"));
  EXPECT_THAT(ParseCommandLine({"--config.file=/does/not/exist.yaml"}).status().message(),
              HasSubstr("cannot open"));
}

TEST(ConfigTest, YamlRedactsSecrets) {
  auto cl = ParseCommandLine({"--storage.backend=s3", "--storage.s3.bucket=b",
                              "--storage.s3.access_key_id=AKIDEXAMPLE",
                              "--storage.s3.secret_access_key=wJalrXUtnFEMI"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  std::string y = ToYaml(cl->config);
  EXPECT_THAT(y, HasSubstr("access_key_id: AKIDEXAMPLE"));
  EXPECT_THAT(y, HasSubstr("secret_access_key: <secret>"));
  EXPECT_THAT(y, Not(HasSubstr("wJalrXUtnFEMI")));
  // The dump is itself a valid config (minus redacted secrets).
  Config round;
  Status s = LoadYaml(y, "dump", &round);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(round.storage.s3.bucket, "b");
}

TEST(ConfigTest, Units) {
  EXPECT_EQ(*ParseBytes("1024"), 1024u);
  EXPECT_EQ(*ParseBytes("64KiB"), 65536u);
  EXPECT_EQ(*ParseBytes("10MB"), 10000000u);
  EXPECT_FALSE(ParseBytes("10 furlongs").ok());
  EXPECT_EQ(*ParseDuration("1h30m"), std::chrono::minutes(90));
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_FALSE(ParseDuration("5").ok());
  EXPECT_FALSE(ParseDuration("m").ok());
}

// Prometheus's scrape sections and the per-tenant overrides are read by
// their modules (metrics/scrape, metrics/limits) from file_text.
TEST(ConfigTest, ScrapeSectionsAndLimits) {
  testing::TempDir dir;
  const std::string text =
      "global:\n  scrape_interval: 5s\n"
      "scrape_configs:\n  - job_name: a\n"
      "metrics:\n  limits:\n    ingestion_rate: 500\n    overrides:\n      t: {ingestion_rate: 1}\n"
      "  self_scrape:\n    enabled: false\n";
  testing::WriteFile(dir.Join("c.yaml"), text);
  auto cl = ParseCommandLine({"--config.file=" + dir.Join("c.yaml")});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->config.file_text, text);
  EXPECT_EQ(cl->config.metrics.ingestion_rate, 500);
  EXPECT_EQ(cl->config.metrics.max_label_names_per_series, 30);
  EXPECT_FALSE(cl->config.metrics.self_scrape_enabled);
  Config c;
  Status s = LoadYaml("metrics:\n  limits:\n    bogus: 1\n", "f.yaml", &c);
  EXPECT_EQ(s.message(), "f.yaml:3: unknown key \"bogus\" in metrics.limits");
}

// traces.sampling.enabled is a tri-state: unset lets the role decide (on
// in the gateway), an explicit false or true wins; the gateway's fields.
TEST(ConfigTest, SamplingTriStateAndGatewayFields) {
  auto unset = ParseCommandLine({});
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset->config.traces.sampling_enabled.has_value());
  EXPECT_EQ(ToYaml(unset->config).find("enabled: ~"), std::string::npos);
  auto off = ParseCommandLine({"--traces.sampling.enabled=false"});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->config.traces.sampling_enabled, std::optional<bool>(false));
  auto bare = ParseCommandLine({"--traces.sampling.enabled"});
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->config.traces.sampling_enabled, std::optional<bool>(true));
  testing::TempDir dir;
  testing::WriteFile(dir.Join("c.yaml"),
                     "traces:\n  sampling:\n    enabled: false\n  gateway:\n"
                     "    endpoint: http://d:4318\n    headers: [Authorization=Bearer x]\n"
                     "    send_batch_size: 100\n    retry_max_elapsed_time: 1m\n");
  auto f = ParseCommandLine({"--config.file=" + dir.Join("c.yaml")});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->config.traces.sampling_enabled, std::optional<bool>(false));
  EXPECT_EQ(f->config.traces.gateway_endpoint, "http://d:4318");
  EXPECT_EQ(f->config.traces.gateway_headers, std::vector<std::string>{"Authorization=Bearer x"});
  EXPECT_EQ(f->config.traces.gateway_send_batch_size, 100);
  EXPECT_EQ(f->config.traces.gateway_retry_max_elapsed_time, std::chrono::minutes(1));
  std::string yaml = ToYaml(f->config);
  EXPECT_EQ(yaml.find("Bearer x"), std::string::npos) << "headers are secret";
  EXPECT_NE(yaml.find("<secret>"), std::string::npos);
}

}  // namespace
}  // namespace sightline::config
