// The real sightline binary fed by real profile producers, queried with
// Grafana's Pyroscope data-source calls (grafana-contract.md):
//   - the Pyroscope Node SDK (@pyroscope/nodejs) pushing CPU/wall profiles
//     while burning CPU in burnCpuInNamedFunction, which must show in the
//     SelectMergeStacktraces flame graph; health check, LabelNames,
//     LabelValues, SelectSeries as Grafana sends them;
//   - Go-format pprof from Sightline's own CPU profiler (the code behind
//     /debug/pprof/profile), ingested twice and merged, then diffed across
//     the two time ranges;
//   - span profiles pushed over Connect and selected by span id;
//   - kill -9 and restart: every acknowledged profile is still there;
//   - pprof scraping: a second sightline's /debug/pprof/profile pulled by
//     the scraper role, with a relabel rule dropping one target;
//   - self-profiling (on by default) into tenant `self`;
//   - the agent role pushing what it scrapes to another Sightline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "harness/harness.h"
#include "pprof/profile.pb.h"
#include "pyroscope/push/v1/push.pb.h"
#include "pyroscope/querier/v1/querier.pb.h"
#include "telemetry/cpu_profiler.h"

namespace sightline {
namespace {

using testing::HttpPost;
using testing::SightlineServer;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::vector<std::string> kProto = {"Content-Type: application/proto",
                                         "Connect-Protocol-Version: 1"};

template <typename Resp>
Resp CallConnect(const std::string& url, const std::string& method,
                 const google::protobuf::Message& req) {
  auto r = HttpPost(url + "/querier.v1.QuerierService/" + method, req.SerializeAsString(), kProto);
  EXPECT_EQ(r.status, 200) << method << ": " << r.body;
  Resp out;
  EXPECT_TRUE(out.ParseFromString(r.body)) << method;
  return out;
}

querier::v1::FlameGraph Flame(const std::string& url, const std::string& type,
                              const std::string& selector, int64_t start, int64_t end) {
  querier::v1::SelectMergeStacktracesRequest r;
  r.set_profile_typeid(type);
  r.set_label_selector(selector);
  r.set_start(start);
  r.set_end(end);
  r.set_max_nodes(16384);
  return CallConnect<querier::v1::SelectMergeStacktracesResponse>(url, "SelectMergeStacktraces", r)
      .flamegraph();
}

bool HasName(const querier::v1::FlameGraph& fg, const std::string& name) {
  for (const auto& n : fg.names()) {
    if (n.find(name) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> ProfileTypes(const std::string& url, int64_t start, int64_t end) {
  querier::v1::ProfileTypesRequest r;
  r.set_start(start);
  r.set_end(end);
  auto out = CallConnect<querier::v1::ProfileTypesResponse>(url, "ProfileTypes", r);
  std::vector<std::string> ids;
  for (const auto& t : out.profile_types()) ids.push_back(t.id());
  return ids;
}

// The real sightline binary (ctest sets SIGHTLINE_BINARY).
Result<std::unique_ptr<SightlineServer>> StartServer(const std::string& data_dir = "",
                                                     const std::vector<std::string>& args = {}) {
  return SightlineServer::Start(args, data_dir);
}

// A gzipped Go-format CPU profile of this process while a thread burns CPU.
std::string OwnCpuProfile() {
  std::atomic<bool> stop{false};
  std::thread burner([&] {
    volatile double x = 0;
    while (!stop.load()) {
      for (int i = 0; i < 10000; ++i) x = x + i * 0.5;
    }
  });
  auto p = telemetry::CollectCpuProfile(std::chrono::milliseconds(1500));
  stop = true;
  burner.join();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : "";
}

bool NodeSdkAvailable() {
  return std::system(("test -f " + testing::ToolsDir() +
                      "/node_modules/@pyroscope/nodejs/package.json && command -v node >/dev/null")
                         .c_str()) == 0;
}

TEST(ProfilesE2ETest, NodeSdkProfilesShowInFlameGraph) {
  if (!NodeSdkAvailable()) {
    GTEST_SKIP() << "@pyroscope/nodejs is not installed in " << testing::ToolsDir()
                 << " (run scripts/bootstrap)";
  }
  auto s = StartServer();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();
  const int64_t start = NowMs() - 1000;
  auto node = testing::Process::Start(
      {"node", testing::SourceDir() + "/tests/profiles/node_sdk_push.js", url, "node-burner", "5"},
      {{"NODE_PATH", testing::ToolsDir() + "/node_modules"}});
  ASSERT_TRUE(node.ok());
  auto st = (*node)->Wait(std::chrono::seconds(60));
  ASSERT_TRUE(st.has_value()) << (*node)->Output();
  ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*node)->Output();
  const int64_t end = NowMs() + 1000;

  auto types = ProfileTypes(url, start, end);
  ASSERT_FALSE(types.empty()) << (*s)->process().Output();
  int with_function = 0;
  for (const auto& t : types) {
    auto fg = Flame(url, t, R"({service_name="node-burner"})", start, end);
    if (fg.total() > 0 && HasName(fg, "burnCpuInNamedFunction")) ++with_function;
  }
  EXPECT_GE(with_function, 1) << ::testing::PrintToString(types);
  EXPECT_THAT(types, ::testing::Contains(::testing::StartsWith("wall:")));

  // The SDK's tags are series labels.
  types::v1::LabelValuesRequest lv;
  lv.set_name("region");
  lv.set_start(start);
  lv.set_end(end);
  auto values = CallConnect<types::v1::LabelValuesResponse>(url, "LabelValues", lv);
  EXPECT_THAT(values.names(), ::testing::Contains("eu-west-1"));

  // Grafana's calls (grafana-contract.md, Pyroscope), as it sends them.
  // Health check: ProfileTypes over epoch seconds 1-4, any non-error.
  querier::v1::ProfileTypesRequest health;
  health.set_start(1000);
  health.set_end(4000);
  auto h =
      HttpPost(url + "/querier.v1.QuerierService/ProfileTypes", health.SerializeAsString(), kProto);
  EXPECT_EQ(h.status, 200) << h.body;
  // ProfileTypes: ID, name, sampleType of each.
  querier::v1::ProfileTypesRequest ptr;
  ptr.set_start(start);
  ptr.set_end(end);
  auto pts = CallConnect<querier::v1::ProfileTypesResponse>(url, "ProfileTypes", ptr);
  std::string cpu_type;
  for (const auto& t : pts.profile_types()) {
    EXPECT_EQ(t.id(), t.name() + ":" + t.sample_type() + ":" + t.sample_unit() + ":" +
                          t.period_type() + ":" + t.period_unit());
    if (t.sample_type() == "cpu") cpu_type = t.id();
  }
  ASSERT_FALSE(cpu_type.empty()) << ::testing::PrintToString(types);
  // LabelNames with a matcher.
  types::v1::LabelNamesRequest ln;
  ln.add_matchers(R"({service_name="node-burner"})");
  ln.set_start(start);
  ln.set_end(end);
  auto names = CallConnect<types::v1::LabelNamesResponse>(url, "LabelNames", ln);
  EXPECT_THAT(names.names(), ::testing::IsSupersetOf({"service_name", "region"}));
  // LabelValues of service_name (the service picker).
  lv.set_name("service_name");
  lv.add_matchers("{}");
  auto services = CallConnect<types::v1::LabelValuesResponse>(url, "LabelValues", lv);
  EXPECT_THAT(services.names(), ::testing::Contains("node-burner"));
  // SelectSeries: step in float seconds, group_by, points in ms.
  querier::v1::SelectSeriesRequest ss;
  ss.set_profile_typeid(cpu_type);
  ss.set_label_selector(R"({service_name="node-burner"})");
  ss.set_start(start);
  ss.set_end(end);
  ss.set_step(1.0);
  ss.add_group_by("region");
  ss.set_limit(10);
  auto series = CallConnect<querier::v1::SelectSeriesResponse>(url, "SelectSeries", ss);
  ASSERT_EQ(series.series_size(), 1);
  bool region_label = false;
  for (const auto& l : series.series(0).labels()) {
    region_label |= l.name() == "region" && l.value() == "eu-west-1";
  }
  EXPECT_TRUE(region_label);
  ASSERT_GT(series.series(0).points_size(), 0);
  double sum = 0;
  for (const auto& pt : series.series(0).points()) {
    EXPECT_GE(pt.timestamp(), start - 1000);
    EXPECT_LE(pt.timestamp(), end);
    sum += pt.value();
  }
  // SelectMergeStacktraces: the flame graph Grafana draws from it.
  auto fg = Flame(url, cpu_type, R"({service_name="node-burner"})", start, end);
  EXPECT_GT(fg.total(), 0);
  EXPECT_DOUBLE_EQ(sum, static_cast<double>(fg.total()));
  EXPECT_GT(fg.max_self(), 0);
  ASSERT_GT(fg.levels_size(), 1);
  for (const auto& level : fg.levels()) {
    ASSERT_EQ(level.values_size() % 4, 0);
    for (int i = 3; i < level.values_size(); i += 4) {
      EXPECT_LT(level.values(i), fg.names_size());
    }
  }
  EXPECT_EQ(fg.levels(0).values(1), fg.total());  // the root holds everything
  EXPECT_TRUE(HasName(fg, "burnCpuInNamedFunction"));
}

TEST(ProfilesE2ETest, OwnPprofMergedDiffedSpansAndKill9) {
  testing::TempDir data;
  auto s = StartServer(data.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string url = (*s)->http_url();

  // Sightline's own Go-compatible CPU profile (gzipped pprof), ingested as
  // the Go SDK sends it.
  testing::HttpResponse prof;
  prof.body = OwnCpuProfile();
  ASSERT_GE(prof.body.size(), 2u);
  ASSERT_EQ(static_cast<uint8_t>(prof.body[0]), 0x1f);  // gzip
  const int64_t t1 = NowMs() / 1000 - 600, t2 = t1 + 300;
  for (int64_t t : {t1, t2}) {
    auto r = HttpPost(url + "/ingest?name=sightline-self%7Benv%3Dtest%7D&format=pprof&from=" +
                          std::to_string(t) + "&until=" + std::to_string(t + 10) + "&spyName=gospy",
                      prof.body, {"Content-Type: application/octet-stream"});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto types = ProfileTypes(url, t1 * 1000 - 1, t2 * 1000 + 1);
  ASSERT_THAT(types, ::testing::Contains(::testing::StartsWith("process_cpu:")));
  std::string cpu;
  for (const auto& t : types) {
    if (t.rfind("process_cpu:cpu:", 0) == 0 || (cpu.empty() && t.rfind("process_cpu:", 0) == 0)) {
      cpu = t;
    }
  }
  auto one = Flame(url, cpu, R"({service_name="sightline-self"})", t1 * 1000, t1 * 1000 + 1);
  auto both =
      Flame(url, cpu, R"({service_name="sightline-self", env="test"})", t1 * 1000, t2 * 1000);
  EXPECT_GT(one.total(), 0);
  EXPECT_EQ(both.total(), 2 * one.total());

  // Diff of the two ranges: identical profiles, equal sides.
  querier::v1::DiffRequest dr;
  for (auto* side : {dr.mutable_left(), dr.mutable_right()}) {
    side->set_profile_typeid(cpu);
    side->set_label_selector(R"({service_name="sightline-self"})");
  }
  dr.mutable_left()->set_start(t1 * 1000);
  dr.mutable_left()->set_end(t1 * 1000 + 1);
  dr.mutable_right()->set_start(t2 * 1000);
  dr.mutable_right()->set_end(t2 * 1000 + 1);
  auto diff = CallConnect<querier::v1::DiffResponse>(url, "Diff", dr);
  EXPECT_EQ(diff.flamegraph().leftticks(), one.total());
  EXPECT_EQ(diff.flamegraph().rightticks(), one.total());
  ASSERT_GT(diff.flamegraph().levels_size(), 1);
  EXPECT_EQ(diff.flamegraph().levels(1).values_size() % 7, 0);

  // Span profile over Connect push: samples labelled with span_id.
  perftools::profiles::Profile sp;
  for (const char* str : {"", "cpu", "nanoseconds", "handleRequest", "span_id", "00000000000000aa",
                          "00000000000000bb", "otherWork"}) {
    sp.add_string_table(str);
  }
  sp.add_sample_type()->set_type(1);
  sp.mutable_sample_type(0)->set_unit(2);
  sp.mutable_period_type()->set_type(1);
  sp.mutable_period_type()->set_unit(2);
  sp.set_time_nanos(NowMs() * 1000000);
  for (int i = 1; i <= 2; ++i) {
    auto* f = sp.add_function();
    f->set_id(i);
    f->set_name(i == 1 ? 3 : 7);
    auto* l = sp.add_location();
    l->set_id(i);
    l->add_line()->set_function_id(i);
  }
  for (int i = 0; i < 2; ++i) {
    auto* smp = sp.add_sample();
    smp->add_location_id(i + 1);
    smp->add_value(i == 0 ? 111 : 222);
    auto* lab = smp->add_label();
    lab->set_key(4);
    lab->set_str(i == 0 ? 5 : 6);
  }
  push::v1::PushRequest pr;
  auto* series = pr.add_series();
  auto* l = series->add_labels();
  l->set_name("service_name");
  l->set_value("span-app");
  series->add_samples()->set_raw_profile(sp.SerializeAsString());
  auto pushed = HttpPost(url + "/push.v1.PusherService/Push", pr.SerializeAsString(), kProto);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  querier::v1::SelectMergeSpanProfileRequest spr;
  spr.set_profile_typeid("process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  spr.set_label_selector(R"({service_name="span-app"})");
  spr.add_span_selector("00000000000000aa");
  spr.set_start(NowMs() - 60000);
  spr.set_end(NowMs() + 60000);
  auto span =
      CallConnect<querier::v1::SelectMergeSpanProfileResponse>(url, "SelectMergeSpanProfile", spr);
  EXPECT_EQ(span.flamegraph().total(), 111);
  EXPECT_TRUE(HasName(span.flamegraph(), "handleRequest"));
  EXPECT_FALSE(HasName(span.flamegraph(), "otherWork"));

  // kill -9: everything acknowledged above comes back.
  (*s)->process().Signal(SIGKILL);
  (*s)->process().Wait(std::chrono::seconds(10));
  s = StartServer(data.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  url = (*s)->http_url();
  auto after = Flame(url, cpu, R"({service_name="sightline-self"})", t1 * 1000, t2 * 1000);
  EXPECT_EQ(after.total(), both.total());
  auto span_after =
      CallConnect<querier::v1::SelectMergeSpanProfileResponse>(url, "SelectMergeSpanProfile", spr);
  EXPECT_EQ(span_after.flamegraph().total(), 111);
}

// A busy server gives its CPU profile samples.
void LoadServer(const std::string& url, int requests) {
  std::string folded;
  for (int i = 0; i < 200; ++i) folded += "main;work" + std::to_string(i) + ";leaf 3\n";
  for (int j = 0; j < requests; ++j) {
    HttpPost(url + "/ingest?name=load.cpu&from=" + std::to_string(NowMs() / 1000), folded,
             {"X-Scope-OrgID: load"});
  }
}

// Self-profiling is on by default (no flag turns it on here): the CPU
// profile lands in tenant `self` and nowhere else.
TEST(ProfilesE2ETest, SelfProfileOnByDefaultLandsInTenantSelf) {
  auto s = StartServer(
      "", {"--multitenancy.enabled=true", "--profiles.self_profile.first_after=0s",
           "--profiles.self_profile.interval=2s", "--profiles.self_profile.duration=1s"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();
  querier::v1::ProfileTypesRequest r;
  r.set_start(NowMs() - 60000);
  r.set_end(NowMs() + 60000);
  std::vector<std::string> headers = kProto;
  headers.push_back("X-Scope-OrgID: self");
  bool found = false;
  for (const int64_t deadline = NowMs() + 60000; !found && NowMs() < deadline;) {
    LoadServer(url, 10);
    auto resp =
        HttpPost(url + "/querier.v1.QuerierService/ProfileTypes", r.SerializeAsString(), headers);
    ASSERT_EQ(resp.status, 200) << resp.body;
    querier::v1::ProfileTypesResponse out;
    ASSERT_TRUE(out.ParseFromString(resp.body));
    for (const auto& t : out.profile_types()) found |= t.id().rfind("process_cpu:cpu:", 0) == 0;
  }
  EXPECT_TRUE(found) << (*s)->process().Output();
  // Another tenant sees nothing of it.
  headers.back() = "X-Scope-OrgID: other";
  auto other =
      HttpPost(url + "/querier.v1.QuerierService/ProfileTypes", r.SerializeAsString(), headers);
  querier::v1::ProfileTypesResponse none;
  ASSERT_TRUE(none.ParseFromString(other.body));
  EXPECT_EQ(none.profile_types_size(), 0);
  // /debug/pprof/profile still answers while self-profiling windows run
  // (it waits for a window in progress instead of failing).
  auto pprof = testing::HttpGet(url + "/debug/pprof/profile?seconds=1");
  EXPECT_EQ(pprof.status, 200) << pprof.body;
  // And the process shuts down cleanly with windows running.
  (*s)->process().Signal(SIGTERM);
  auto st = (*s)->process().Wait(std::chrono::seconds(30));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*s)->process().Output();
}

// Per-tenant limits through the shared `overrides` section.
TEST(ProfilesE2ETest, PerTenantOverrides) {
  testing::TempDir dir;
  const std::string cfg = dir.Join("sightline.yaml");
  testing::WriteFile(cfg, R"(multitenancy: {enabled: true}
overrides:
  small:
    profiles: {limits: {max_profile_size_bytes: 1KiB, max_profile_stacktrace_depth: 3}}
)");
  auto s = StartServer("", {"--config.file=" + cfg, "--profiles.self_profile.enabled=false"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();
  std::string big;
  for (int i = 0; i < 100; ++i) big += "main;work" + std::to_string(i) + " 1\n";  // > 1 KiB
  const std::string ingest = url + "/ingest?name=app.cpu&from=" + std::to_string(NowMs() / 1000);
  auto small = HttpPost(ingest, big, {"X-Scope-OrgID: small"});
  EXPECT_EQ(small.status, 413) << small.body;
  auto deep = HttpPost(ingest, "a;b;c;d 1\n", {"X-Scope-OrgID: small"});
  EXPECT_EQ(deep.status, 400) << deep.body;
  auto other = HttpPost(ingest, big, {"X-Scope-OrgID: other"});
  EXPECT_EQ(other.status, 200) << other.body;
  auto shallow = HttpPost(ingest, "a;b;c 1\n", {"X-Scope-OrgID: small"});
  EXPECT_EQ(shallow.status, 200) << shallow.body;
}

// The scraper role pulls a second sightline's Go-format /debug/pprof/profile
// (profiles.scrape_configs, Pyroscope's shape); a relabel rule drops one
// target group; the profile shows in the flame graph under service_name.
TEST(ProfilesE2ETest, ScrapesAnotherSightlinesPprof) {
  auto target = StartServer("", {"--profiles.self_profile.enabled=false"});
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  const std::string target_url = (*target)->http_url();
  const std::string target_addr = target_url.substr(std::string("http://").size());

  testing::TempDir dir;
  const std::string cfg = dir.Join("sightline.yaml");
  testing::WriteFile(cfg, R"(profiles:
  scrape_configs:
    - job_name: sightline-b
      scrape_interval: 5s
      static_configs:
        - targets: [")" + target_addr +
                              R"("]
          labels: {service_name: target-b, env: e2e}
        - targets: [")" + target_addr +
                              R"("]
          labels: {service_name: dropped-b, drop_me: "yes"}
      relabel_configs:
        - source_labels: [drop_me]
          regex: "yes"
          action: drop
        - source_labels: [__name__]
          regex: process_cpu|goroutine
          action: keep
      profiling_config:
        pprof_config:
          mutex: {enabled: false}
)");
  auto s = StartServer("", {"--config.file=" + cfg, "--profiles.self_profile.enabled=false"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();
  const int64_t start = NowMs() - 60000;
  querier::v1::FlameGraph fg;
  // A scrape takes `seconds=4` every 5 s: wait by the clock, not by a count
  // of load rounds (their speed depends on the machine).
  for (const int64_t deadline = NowMs() + 60000; fg.total() == 0 && NowMs() < deadline;) {
    LoadServer(target_url, 20);  // the target needs CPU samples
    fg = Flame(url, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", R"({service_name="target-b"})",
               start, NowMs() + 60000);
  }
  ASSERT_GT(fg.total(), 0) << (*s)->process().Output();
  // The target's own functions by name (the binary exports its symbols).
  EXPECT_TRUE(HasName(fg, "sightline::")) << ::testing::PrintToString(fg.names());

  types::v1::LabelValuesRequest lv;
  lv.set_name("service_name");
  lv.set_start(start);
  lv.set_end(NowMs() + 60000);
  auto services = CallConnect<types::v1::LabelValuesResponse>(url, "LabelValues", lv);
  EXPECT_THAT(services.names(), ::testing::Contains("target-b"));
  EXPECT_THAT(services.names(), ::testing::Not(::testing::Contains("dropped-b")));
  // Scraped series carry the job and instance labels, as Pyroscope's.
  lv.set_name("instance");
  auto instances = CallConnect<types::v1::LabelValuesResponse>(url, "LabelValues", lv);
  EXPECT_THAT(instances.names(), ::testing::Contains(target_addr));
  lv.set_name("env");
  auto envs = CallConnect<types::v1::LabelValuesResponse>(url, "LabelValues", lv);
  EXPECT_THAT(envs.names(), ::testing::Contains("e2e"));
  // The targets view: active targets with health, dropped ones with their
  // discovered labels.
  auto targets = testing::HttpGet(url + "/profiles/api/v1/targets");
  ASSERT_EQ(targets.status, 200) << targets.body;
  EXPECT_THAT(targets.body, ::testing::HasSubstr(R"("service_name":"target-b")"));
  EXPECT_THAT(targets.body, ::testing::HasSubstr(R"("health":"up")"));
  EXPECT_THAT(targets.body, ::testing::HasSubstr(R"("scrapePool":"sightline-b")"));
  const size_t dropped_at = targets.body.find("droppedTargets");
  ASSERT_NE(dropped_at, std::string::npos);
  EXPECT_NE(targets.body.find("dropped-b", dropped_at), std::string::npos) << targets.body;
}

// The agent role (--target=agent) runs no profiles ingester: it scrapes a
// target's pprof and pushes it to another Sightline over the Push API,
// under the job's tenant (X-Scope-OrgID); nothing is stored locally.
TEST(ProfilesE2ETest, AgentRolePushesScrapesToARemoteSightline) {
  auto dest =
      StartServer("", {"--multitenancy.enabled=true", "--profiles.self_profile.enabled=false"});
  ASSERT_TRUE(dest.ok()) << dest.status().ToString();
  const std::string dest_url = (*dest)->http_url();
  const std::string dest_addr = dest_url.substr(std::string("http://").size());

  testing::TempDir dir;
  const std::string cfg = dir.Join("agent.yaml");
  testing::WriteFile(cfg, R"(profiles:
  remote_write:
    url: )" + dest_url + R"(
    min_backoff: 50ms
  scrape_configs:
    - job_name: agent-job
      tenant: team-agent
      scrape_interval: 3s
      static_configs:
        - targets: [")" + dest_addr +
                              R"("]
          labels: {service_name: via-agent}
      relabel_configs:
        - source_labels: [__name__]
          regex: process_cpu
          action: keep
)");
  auto agent = StartServer(
      "", {"--target=agent", "--config.file=" + cfg, "--profiles.self_profile.enabled=false"});
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  const std::string agent_url = (*agent)->http_url();

  querier::v1::SelectMergeStacktracesRequest r;
  r.set_profile_typeid("process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  r.set_label_selector(R"({service_name="via-agent"})");
  r.set_start(NowMs() - 60000);
  r.set_end(NowMs() + 120000);
  r.set_max_nodes(16384);
  std::vector<std::string> headers = kProto;
  headers.push_back("X-Scope-OrgID: team-agent");
  querier::v1::FlameGraph fg;
  for (const int64_t deadline = NowMs() + 60000; fg.total() == 0 && NowMs() < deadline;) {
    LoadServer(dest_url, 20);  // CPU samples for the scrape to find
    auto resp = HttpPost(dest_url + "/querier.v1.QuerierService/SelectMergeStacktraces",
                         r.SerializeAsString(), headers);
    ASSERT_EQ(resp.status, 200) << resp.body;
    querier::v1::SelectMergeStacktracesResponse out;
    ASSERT_TRUE(out.ParseFromString(resp.body));
    fg = out.flamegraph();
  }
  ASSERT_GT(fg.total(), 0) << (*agent)->process().Output();
  EXPECT_TRUE(HasName(fg, "sightline::")) << ::testing::PrintToString(fg.names());
  // Under the job's tenant only.
  headers.back() = "X-Scope-OrgID: anonymous";
  auto other = HttpPost(dest_url + "/querier.v1.QuerierService/SelectMergeStacktraces",
                        r.SerializeAsString(), headers);
  querier::v1::SelectMergeStacktracesResponse none;
  ASSERT_TRUE(none.ParseFromString(other.body));
  EXPECT_EQ(none.flamegraph().total(), 0);
  // The agent counts what it sent and stores nothing itself.
  auto m = testing::HttpGet(agent_url + "/metrics");
  EXPECT_THAT(m.body, ::testing::ContainsRegex("sightline_profiles_remote_write_sent_total [1-9]"));
  EXPECT_FALSE(std::filesystem::exists((*agent)->data_dir() + "/profiles"));
  // Without a local ingester or a remote URL the agent refuses to start.
  auto bad = StartServer("", {"--target=agent", "--profiles.self_profile.enabled=false"});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace sightline
