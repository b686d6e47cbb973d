// The profiles scraper: profiles.scrape_configs (Pyroscope's shape) with
// file:line errors, targets per profile type with relabel keep/drop, URLs,
// service_name inference, and the scrape loop's delta computation for
// cumulative Go profiles.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "base/compression.h"
#include "harness/harness.h"
#include "net/http.h"
#include "net/http_server.h"
#include "pprof/profile.pb.h"
#include "profiles/ingest/ingest.h"
#include "profiles/scrape/pprof_scrape.h"
#include "profiles/scrape/remote_push.h"
#include "pyroscope/push/v1/push.pb.h"
#include "telemetry/metrics.h"

namespace sightline::profiles::scrape {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Result<std::vector<JobConfig>> Parse(const std::string& yaml) {
  return ParseScrapeConfigs(yaml, "sl.yaml");
}

std::vector<std::string> Names(const std::vector<Target>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(t.profile_name);
  return out;
}

TEST(ProfilesScrapeConfigTest, DefaultsAndProfilingConfig) {
  auto jobs = Parse(R"(
server: {http: {listen: "127.0.0.1:0"}}
profiles:
  scrape_configs:
    - job_name: api
      static_configs: [{targets: ["api:6060"]}]
    - job_name: custom
      scrape_interval: 30s
      scrape_timeout: 25s
      static_configs: [{targets: ["c:1"]}]
      profiling_config:
        path_prefix: /internal
        delta_profiling_duration: 20s
        pprof_config:
          memory: {enabled: false}
          goroutine: {path: /debug/pprof/goroutines}
          fgprof: {enabled: true}
          heapz: {path: /heapz, delta: true}
)");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 2u);
  const JobConfig& api = (*jobs)[0];
  EXPECT_EQ(api.job.scrape_interval, std::chrono::seconds(15));  // Pyroscope's default
  EXPECT_EQ(api.job.tenant, "anonymous");
  std::vector<Labels> dropped;
  auto targets = ExpandTargets(api, api.job.static_configs, &dropped);
  ASSERT_TRUE(targets.ok());
  EXPECT_THAT(Names(*targets), ElementsAre("process_cpu", "memory", "goroutine", "mutex", "block"));
  EXPECT_EQ((*targets)[0].url, "http://api:6060/debug/pprof/profile?seconds=14");
  EXPECT_EQ((*targets)[1].url, "http://api:6060/debug/pprof/allocs");
  EXPECT_TRUE((*targets)[0].delta);
  EXPECT_FALSE((*targets)[1].delta);
  // Stored labels: job, instance, __name__, service_name ("unspecified"
  // without one, as Pyroscope).
  EXPECT_EQ((*targets)[0].labels, (Labels{{"__name__", "process_cpu"},
                                          {"instance", "api:6060"},
                                          {"job", "api"},
                                          {"service_name", "unspecified"}}));

  const JobConfig& custom = (*jobs)[1];
  targets = ExpandTargets(custom, custom.job.static_configs, &dropped);
  ASSERT_TRUE(targets.ok());
  EXPECT_THAT(Names(*targets),
              ElementsAre("process_cpu", "goroutine", "mutex", "block", "fgprof", "heapz"));
  EXPECT_EQ((*targets)[0].url, "http://c:1/internal/debug/pprof/profile?seconds=20");
  EXPECT_EQ((*targets)[1].url, "http://c:1/internal/debug/pprof/goroutines");
  EXPECT_EQ((*targets)[5].url, "http://c:1/internal/heapz");
  EXPECT_TRUE((*targets)[5].delta);
}

TEST(ProfilesScrapeConfigTest, ErrorsNameFileAndLine) {
  auto bad_key = Parse(R"(profiles:
  scrape_configs:
    - job_name: a
      profiling_config:
        pprof_config:
          memory: {enabled: true, pth: /x}
)");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), HasSubstr("sl.yaml:6:"));
  EXPECT_THAT(bad_key.status().message(), HasSubstr("unknown key \"pth\""));

  auto no_path = Parse(R"(profiles:
  scrape_configs:
    - job_name: a
      profiling_config:
        pprof_config:
          heapz: {enabled: true}
)");
  ASSERT_FALSE(no_path.ok());
  EXPECT_THAT(no_path.status().message(), HasSubstr("custom profile type \"heapz\" needs a path"));

  // The Prometheus part is checked by the metrics scraper's parser.
  auto bad_job = Parse(R"(profiles:
  scrape_configs:
    - job_name: a
      scrape_intervl: 10s
)");
  ASSERT_FALSE(bad_job.ok());
  EXPECT_THAT(bad_job.status().message(), HasSubstr("sl.yaml:4: unknown key \"scrape_intervl\""));

  auto dup = Parse(R"(profiles:
  scrape_configs:
    - job_name: a
    - job_name: a
)");
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.status().message(), HasSubstr("multiple scrape configs"));

  auto none = Parse("server: {http: {listen: \"127.0.0.1:0\"}}\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(ProfilesScrapeConfigTest, RelabelKeepAndDropPerProfileType) {
  auto jobs = Parse(R"(profiles:
  scrape_configs:
    - job_name: app
      static_configs:
        - targets: ["a:1", "b:2"]
          labels: {service_name: shop, team: x}
        - targets: ["k:3"]
          labels:
            __meta_kubernetes_namespace: prod
            __meta_kubernetes_pod_container_name: cart
      relabel_configs:
        - source_labels: [__address__]
          regex: "b:2"
          action: drop
        - source_labels: [__name__]
          regex: process_cpu|memory
          action: keep
        - source_labels: [__meta_kubernetes_namespace]
          target_label: namespace
)");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  std::vector<Labels> dropped;
  auto targets = ExpandTargets((*jobs)[0], (*jobs)[0].job.static_configs, &dropped);
  ASSERT_TRUE(targets.ok());
  // a:1 and k:3, each process_cpu and memory; b:2 dropped for every type.
  ASSERT_EQ(targets->size(), 4u);
  EXPECT_EQ(dropped.size(), 5u + 3u + 3u);
  EXPECT_EQ(LabelValue((*targets)[0].labels, "service_name"), "shop");
  EXPECT_EQ(LabelValue((*targets)[0].labels, "team"), "x");
  EXPECT_EQ(LabelValue((*targets)[0].labels, "instance"), "a:1");
  // Kubernetes targets: service_name inferred as <namespace>/<container>;
  // __meta_ labels are gone, relabeled ones stay.
  EXPECT_EQ(LabelValue((*targets)[2].labels, "service_name"), "prod/cart");
  EXPECT_EQ(LabelValue((*targets)[2].labels, "namespace"), "prod");
  EXPECT_EQ(LabelValue((*targets)[2].labels, "__meta_kubernetes_namespace"), "");
  EXPECT_EQ(LabelValue((*targets)[3].labels, "__name__"), "memory");
}

// A Go heap profile as /debug/pprof/allocs serves it: cumulative alloc_*
// and point-in-time inuse_* per stack.
std::string HeapProfile(int64_t alloc, int64_t inuse) {
  perftools::profiles::Profile p;
  for (const char* str : {"", "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects",
                          "inuse_space", "space", "main", "allocate"}) {
    p.add_string_table(str);
  }
  const std::pair<int, int> types[] = {{1, 2}, {3, 4}, {5, 2}, {6, 4}};
  for (auto [t, u] : types) {
    auto* st = p.add_sample_type();
    st->set_type(t);
    st->set_unit(u);
  }
  p.mutable_period_type()->set_type(7);
  p.mutable_period_type()->set_unit(4);
  for (int i = 1; i <= 2; ++i) {
    auto* f = p.add_function();
    f->set_id(i);
    f->set_name(7 + i);
    auto* l = p.add_location();
    l->set_id(i);
    l->add_line()->set_function_id(i);
  }
  auto* s = p.add_sample();
  s->add_location_id(2);
  s->add_location_id(1);
  for (int64_t v : {alloc, alloc * 100, inuse, inuse * 100}) s->add_value(v);
  return *Compress(Codec::kGzip, p.SerializeAsString());
}

int64_t ValueOf(const perftools::profiles::Profile& p, const std::string& type) {
  for (int i = 0; i < p.sample_type_size(); ++i) {
    if (p.string_table(static_cast<int>(p.sample_type(i).type())) == type) {
      int64_t sum = 0;
      for (const auto& s : p.sample()) sum += s.value(i);
      return sum;
    }
  }
  return -1;
}

TEST(ProfilesScraperTest, CumulativeProfilesBecomeDeltas) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> got;  // (alloc_objects, inuse_objects)
  std::vector<Labels> labels;
  ExtraTarget t;
  t.target.job = "heap";
  t.target.tenant = "team-a";
  t.target.profile_name = "memory";
  t.target.delta = false;
  t.target.labels = {{"__name__", "memory"}, {"service_name", "heap-app"}};
  t.target.url = "fake:/debug/pprof/allocs";
  t.target.interval = std::chrono::milliseconds(50);
  t.target.timeout = std::chrono::milliseconds(50);
  t.first_after = std::chrono::milliseconds(1);
  // Cumulative allocations 10, 25, 45; in use 7, 8, 9.
  t.fetch = [&](std::chrono::milliseconds) -> Result<std::string> {
    int n = calls.fetch_add(1);
    if (n >= 3) return UnavailableError("done");
    static const int64_t alloc[] = {10, 25, 45};
    return HeapProfile(alloc[n], 7 + n);
  };
  ProfileSink sink = [&](const std::string& tenant, const Labels& l,
                         perftools::profiles::Profile& p, uint64_t) {
    EXPECT_EQ(tenant, "team-a");
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(ValueOf(p, "alloc_objects"), ValueOf(p, "inuse_objects"));
    labels.push_back(l);
    return Status::Ok();
  };
  std::vector<ExtraTarget> extra;
  extra.push_back(std::move(t));
  auto s = PprofScraper::Start({}, sink, std::move(extra));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (int i = 0; i < 200 && calls.load() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*s)->Stop();
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(got.size(), 3u);
  // The first scrape is the baseline of the cumulative types.
  EXPECT_EQ(got[0], std::make_pair(int64_t{0}, int64_t{7}));
  EXPECT_EQ(got[1], std::make_pair(int64_t{15}, int64_t{8}));
  EXPECT_EQ(got[2], std::make_pair(int64_t{20}, int64_t{9}));
  EXPECT_EQ(LabelValue(labels[0], "service_name"), "heap-app");
  auto status = (*s)->Targets();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].health, "down");
  EXPECT_EQ(status[0].last_error, "done");
  EXPECT_GE(status[0].scrapes, 4u);
  EXPECT_EQ(status[0].profiles_stored, 3u);
}

// The agent's remote write: a real HTTP server that answers 503 twice, then
// 200 — the profile arrives once, after two retries, as a Push request with
// the labels and the tenant header; a 400 is final; a full queue drops the
// oldest.
TEST(RemotePusherTest, RetriesTransientFailuresAndBoundsTheQueue) {
  std::mutex mu;
  std::vector<std::pair<std::string, push::v1::PushRequest>> got;  // tenant, request
  std::atomic<int> calls{0};
  std::atomic<int> answer_400{0};
  net::Router router;
  net::RouteOptions ro;
  ro.tenant = false;
  router.Handle(
      "POST", "/push.v1.PusherService/Push",
      [&](net::HttpRequest& req, net::HttpResponse& resp) {
        int n = ++calls;
        if (answer_400.load()) {
          resp.Text(400, "bad profile\n");
          return;
        }
        if (n <= 2) {
          resp.Text(503, "not yet\n");
          return;
        }
        push::v1::PushRequest pr;
        ASSERT_TRUE(pr.ParseFromString(req.body()));
        std::lock_guard<std::mutex> l(mu);
        got.emplace_back(std::string(req.Header("X-Scope-OrgID").value_or("")), pr);
        resp.status = 200;
      },
      ro);
  telemetry::Registry registry;
  net::HttpServerOptions ho;
  ho.listen = "127.0.0.1:0";
  ho.io_threads = 1;
  ho.worker_threads = 2;
  auto server = net::HttpServer::Start(ho, &router, &registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = "http://" + (*server)->bound_address();

  RemotePushOptions o;
  o.url = url + "/";
  o.min_backoff = std::chrono::milliseconds(20);
  o.max_backoff = std::chrono::milliseconds(50);
  o.max_retries = 5;
  auto pusher = RemotePusher::Start(o);
  ASSERT_TRUE(pusher.ok()) << pusher.status().ToString();
  perftools::profiles::Profile p;
  p.add_string_table("");
  (*pusher)->Push("team-a", {{"__name__", "process_cpu"}, {"service_name", "svc"}}, p);
  for (int i = 0; i < 200 && (*pusher)->Stats().sent == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto st = (*pusher)->Stats();
  EXPECT_EQ(st.sent, 1u);
  EXPECT_EQ(st.retries, 2u);
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, "team-a");
    ASSERT_EQ(got[0].second.series_size(), 1);
    const auto& series = got[0].second.series(0);
    ASSERT_EQ(series.labels_size(), 2);
    EXPECT_EQ(series.labels(1).name(), "service_name");
    EXPECT_EQ(series.labels(1).value(), "svc");
    ASSERT_EQ(series.samples_size(), 1);
    perftools::profiles::Profile back;
    EXPECT_TRUE(DecodePprof(series.samples(0).raw_profile(), 1 << 20, &back).ok());
  }
  // A 4xx other than 429 is final: no retry.
  answer_400 = 1;
  (*pusher)->Push("team-a", {{"service_name", "svc"}}, p);
  for (int i = 0; i < 200 && (*pusher)->Stats().failed == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ((*pusher)->Stats().failed, 1u);
  EXPECT_EQ((*pusher)->Stats().retries, 2u);
  (*pusher)->Stop();
  (*server)->Stop(std::chrono::milliseconds(100));

  // Nobody listening and a queue of 2: pushes never block, the oldest go.
  o.url = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  o.queue_capacity = 2;
  o.min_backoff = std::chrono::milliseconds(500);
  auto down = RemotePusher::Start(o);
  ASSERT_TRUE(down.ok());
  for (int i = 0; i < 10; ++i) (*down)->Push("t", {{"service_name", "svc"}}, p);
  auto ds = (*down)->Stats();
  EXPECT_GE(ds.dropped, 7u);
  EXPECT_LE(ds.queued, 2u);
  (*down)->Stop();  // returns promptly although the remote is down
  EXPECT_FALSE(RemotePusher::Start(RemotePushOptions{}).ok());  // no URL
}

}  // namespace
}  // namespace sightline::profiles::scrape
