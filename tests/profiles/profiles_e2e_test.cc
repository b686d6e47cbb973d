// The real sightline binary fed by real profile producers:
//   - the Pyroscope Node SDK (@pyroscope/nodejs) pushing CPU/wall profiles
//     while burning CPU in burnCpuInNamedFunction, which must show in the
//     SelectMergeStacktraces flame graph;
//   - Go-format pprof from Sightline's own CPU profiler (the code behind
//     /debug/pprof/profile), ingested twice and merged, then diffed across
//     the two time ranges;
//   - span profiles pushed over Connect and selected by span id;
//   - kill -9 and restart: every acknowledged profile is still there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

// The profiles test server (the signal wired as in the binary), or the
// binary itself with SIGHTLINE_PROFILES_USE_BINARY=1.
Result<std::unique_ptr<SightlineServer>> StartServer(const std::string& data_dir = "",
                                                     const std::vector<std::string>& args = {}) {
  const char* real = std::getenv("SIGHTLINE_PROFILES_USE_BINARY");
  if (real == nullptr || std::string(real) != "1") {
    setenv("SIGHTLINE_BINARY", PROFILES_TEST_SERVER, 1);
  }
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

TEST(ProfilesE2ETest, SelfProfileLandsInTenantSelf) {
  auto s = StartServer(
      "", {"--multitenancy.enabled=true", "--profiles.self_profile.enabled=true",
           "--profiles.self_profile.interval=500ms", "--profiles.self_profile.duration=1s"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();
  querier::v1::ProfileTypesRequest r;
  r.set_start(NowMs() - 60000);
  r.set_end(NowMs() + 60000);
  std::vector<std::string> headers = kProto;
  headers.push_back("X-Scope-OrgID: self");
  bool found = false;
  // Keep the server busy so that its CPU profile has samples.
  std::string folded;
  for (int i = 0; i < 200; ++i) folded += "main;work" + std::to_string(i) + ";leaf 3\n";
  for (int i = 0; i < 60 && !found; ++i) {
    for (int j = 0; j < 10; ++j) {
      HttpPost(url + "/ingest?name=load.cpu&from=" + std::to_string(NowMs() / 1000), folded,
               {"X-Scope-OrgID: load"});
    }
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
}

}  // namespace
}  // namespace sightline
