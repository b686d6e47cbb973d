// The store gateway and HA deduplication on the real binary:
//  - samples pushed over OTLP are cut into blocks, shipped, deleted locally
//    (tiny local retention), and still answer /api/v1/query and
//    /query_range from the object store — on the filesystem store and on
//    the real s3rver — as one series with the instance's external labels
//    (local and bucket data merge), also after a restart;
//  - a block written straight into the bucket by the TSDB writer (as
//    another Sightline, Prometheus or Thanos would leave it) is found by
//    the sync loop, pruned by its external labels, and cached;
//  - two HA replicas (series differing only in `replica`, one with a gap)
//    come back as one deduplicated series; dedup=false shows both.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "harness/harness.h"
#include "io/env.h"
#include "metrics/tsdb/block.h"

namespace sightline {
namespace {

using namespace std::chrono_literals;
using testing::HttpGet;
using testing::SightlineServer;

using testing::UrlEncode;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Point {
  int64_t t_s;
  double v;
};

// One OTLP gauge `name` with data point attributes `attrs`.
std::string OtlpGauge(const std::string& name,
                      const std::vector<std::pair<std::string, std::string>>& attrs,
                      const std::vector<Point>& points) {
  std::string a;
  for (const auto& [k, v] : attrs) {
    a += std::string(a.empty() ? "" : ",") + R"({"key":")" + k + R"(","value":{"stringValue":")" +
         v + R"("}})";
  }
  std::string ps;
  for (const Point& p : points) {
    ps += std::string(ps.empty() ? "" : ",") + R"({"timeUnixNano":")" +
          std::to_string(p.t_s * 1'000'000'000LL) + R"(","asDouble":)" + std::to_string(p.v) +
          R"(,"attributes":[)" + a + "]}";
  }
  return R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"sg"}}]},)"
         R"("scopeMetrics":[{"metrics":[{"name":")" +
         name + R"(","gauge":{"dataPoints":[)" + ps + "]}}]}]}]}";
}

Status Push(const SightlineServer& s, const std::string& body) {
  auto r = testing::HttpPost(s.http_url() + "/v1/metrics", body, {"Content-Type: application/json"});
  if (r.status != 200) return InternalError("push: " + std::to_string(r.status) + " " + r.body);
  return Status::Ok();
}

// One series of a query answer: its labels (as "k=v,..." sorted) and values.
struct SeriesOut {
  std::string labels;
  std::vector<std::pair<double, std::string>> values;  // (t, value)
};

std::vector<SeriesOut> Query(const std::string& base, const std::string& path,
                             const std::string& params, std::string* raw = nullptr) {
  auto r = HttpGet(base + path + "?" + params);
  if (raw != nullptr) *raw = r.body;
  std::vector<SeriesOut> out;
  if (r.status != 200) {
    ADD_FAILURE() << path << "?" << params << " -> " << r.status << " " << r.body;
    return out;
  }
  simdjson::dom::parser p;
  auto doc = p.parse(r.body);
  if (doc.error()) return out;
  simdjson::dom::array result;
  if (doc.value().at_pointer("/data/result").get_array().get(result)) return out;
  for (simdjson::dom::element s : result) {
    SeriesOut so;
    simdjson::dom::object metric;
    if (!s["metric"].get_object().get(metric)) {
      std::vector<std::string> kv;
      for (auto field : metric) {
        kv.push_back(std::string(field.key) + "=" + std::string(field.value.get_string().value()));
      }
      std::sort(kv.begin(), kv.end());
      for (const auto& x : kv) so.labels += (so.labels.empty() ? "" : ",") + x;
    }
    auto add = [&](simdjson::dom::array pair) {
      double t = 0;
      if (pair.at(0).get_double().get(t)) {
        int64_t ti = 0;
        if (!pair.at(0).get_int64().get(ti)) t = static_cast<double>(ti);
      }
      so.values.emplace_back(t, std::string(pair.at(1).get_string().value()));
    };
    simdjson::dom::array value, values;
    if (!s["value"].get_array().get(value)) add(value);
    if (!s["values"].get_array().get(values)) {
      for (simdjson::dom::element v : values) add(v.get_array().value());
    }
    out.push_back(std::move(so));
  }
  return out;
}

int CountFiles(const std::string& dir, const std::string& needle) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::string p = it->path().string();
    if (p.find(needle) != std::string::npos && p.find("metadata") == std::string::npos) ++n;
  }
  return n;
}

double MetricValue(const std::string& exposition, const std::string& series) {
  size_t pos = exposition.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(exposition.substr(pos + series.size() + 2));
}

// --- shipped blocks read back after local retention ---

void ShippedBlocksScenario(const std::vector<std::string>& store_args,
                           const std::string& bucket_dir, const std::string& meta_needle) {
  testing::TempDir data;
  std::vector<std::string> args = store_args;
  for (const char* a : {"--metrics.tsdb.block_duration=1m", "--metrics.tsdb.ship_interval=1s",
                        "--metrics.tsdb.local_retention=1ms",
                        "--metrics.store_gateway.sync_interval=1s",
                        "--metrics.external_labels=cluster=eu"}) {
    args.push_back(a);
  }
  auto sl = SightlineServer::Start(args, data.path());
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  const int64_t end_s = NowSeconds() - 1;
  std::vector<Point> points;
  for (int i = 54; i >= 0; --i) points.push_back({end_s - 10 * i, static_cast<double>(54 - i)});
  ASSERT_TRUE(Push(**sl, OtlpGauge("sg_points", {}, points)).ok());

  // Blocks are cut at once, shipped within seconds, and deleted locally by
  // the next maintenance pass (every minute).
  auto deadline = std::chrono::steady_clock::now() + 150s;
  while ((*sl)->process().Output().find("local block deleted") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_NE((*sl)->process().Output().find("local block deleted"), std::string::npos)
      << (*sl)->process().Output();
  const int uploaded = CountFiles(bucket_dir, meta_needle);
  EXPECT_GE(uploaded, 3);
  // Fewer blocks on local disk than in the bucket: the old ones can only
  // come from the store gateway now.
  const int local = CountFiles(data.Join("metrics/anonymous/blocks"), "/meta.json");
  EXPECT_GE(local, 1);  // the newest block stays
  EXPECT_LT(local, uploaded) << (*sl)->process().Output();

  std::string base = (*sl)->http_url();
  auto check = [&](const std::string& when) {
    SCOPED_TRACE(when);
    // Every sample, from the bucket, local blocks and the head together.
    auto total = Query(base, "/api/v1/query",
                       "query=" + UrlEncode("count_over_time(sg_points[10m])") +
                           "&time=" + std::to_string(end_s));
    ASSERT_EQ(total.size(), 1u);
    EXPECT_EQ(total[0].values[0].second, "55");
    EXPECT_EQ(total[0].labels, "cluster=eu,job=sg");
    // An old sample, only in the bucket now, with the external label; one
    // series, not one per source.
    auto old = Query(base, "/api/v1/query",
                     "query=sg_points&time=" + std::to_string(end_s - 500));
    ASSERT_EQ(old.size(), 1u);
    EXPECT_EQ(old[0].labels, "__name__=sg_points,cluster=eu,job=sg");
    EXPECT_EQ(old[0].values[0].second, "4");  // the point at end_s - 500
    auto range = Query(base, "/api/v1/query_range",
                       "query=sg_points&start=" + std::to_string(end_s - 520) +
                           "&end=" + std::to_string(end_s) + "&step=60");
    ASSERT_EQ(range.size(), 1u);
    ASSERT_EQ(range[0].values.size(), 9u);
    EXPECT_EQ(range[0].values[0].second, "2");   // end_s - 520
    EXPECT_EQ(range[0].values[8].second, "50");  // end_s - 40
    auto selected = Query(base, "/api/v1/query",
                          "query=" + UrlEncode("count_over_time(sg_points{cluster=\"eu\"}[10m])") +
                              "&time=" + std::to_string(end_s));
    ASSERT_EQ(selected.size(), 1u);
    EXPECT_EQ(selected[0].values[0].second, "55");
    auto other = Query(base, "/api/v1/query",
                       "query=" + UrlEncode("sg_points{cluster=\"us\"}") +
                           "&time=" + std::to_string(end_s - 500));
    EXPECT_TRUE(other.empty());
  };
  check("after local retention");
  EXPECT_TRUE(std::filesystem::exists(data.Join("store-gateway/anonymous")));
  auto metrics = HttpGet(base + "/metrics");
  EXPECT_GT(MetricValue(metrics.body, "thanos_bucket_store_blocks_loaded"), 0) << metrics.body;
  EXPECT_GT(MetricValue(metrics.body,
                        "thanos_store_index_cache_requests_total{item_type=\"Postings\"}"),
            0);

  // Restart on the same data dir: the index-headers are reused, the answers
  // are the same.
  (*sl)->process().Signal(SIGTERM);
  (*sl)->process().Wait(20s);
  sl->reset();
  auto again = SightlineServer::Start(args, data.path());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  sl = std::move(again);
  base = (*sl)->http_url();
  check("after a restart");
}

TEST(StoreGatewayE2ETest, ShippedBlocksAnswerAfterLocalRetentionFilesystem) {
  testing::TempDir bucket;
  ShippedBlocksScenario({"--storage.backend=filesystem",
                         "--storage.filesystem.path=" + bucket.path()},
                        bucket.path(), "/meta.json");
}

TEST(StoreGatewayE2ETest, ShippedBlocksAnswerAfterLocalRetentionS3rver) {
  if (!testing::S3rver::Available()) GTEST_SKIP() << "s3rver not installed (run scripts/bootstrap)";
  auto s3 = testing::S3rver::Start("sg");
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  ShippedBlocksScenario({"--storage.backend=s3", "--storage.s3.endpoint=" + (*s3)->endpoint(),
                         "--storage.s3.bucket=sg", "--storage.s3.region=us-east-1",
                         "--storage.s3.force_path_style=true",
                         "--storage.s3.access_key_id=S3RVER",
                         "--storage.s3.secret_access_key=S3RVER"},
                        (*s3)->data_dir(), "meta.json._S3rver_object");
}

// --- a foreign block dropped into the bucket ---

TEST(StoreGatewayE2ETest, ForeignBlockIsSyncedPrunedAndCached) {
  testing::TempDir bucket;
  auto sl = SightlineServer::Start({"--storage.backend=filesystem",
                                    "--storage.filesystem.path=" + bucket.path(),
                                    "--metrics.store_gateway.sync_interval=1s"});
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  // Two days ago: nothing local can hold it.
  const int64_t t0 = (NowSeconds() - 2 * 86400) * 1000;
  std::vector<tsdb::SeriesInput> series;
  for (const char* job : {"api", "db"}) {
    tsdb::SeriesInput s;
    s.labels = tsdb::Labels::FromStrings({"__name__", "old_metric", "job", job});
    for (int i = 0; i < 120; ++i) s.samples.push_back({t0 + i * 15000, static_cast<double>(i)});
    series.push_back(std::move(s));
  }
  tsdb::WriteBlockOptions o;
  o.meta.labels = {{"cluster", "old"}, {"replica", "x"}};
  auto ulid = tsdb::WriteBlock(io::Env::Default(), bucket.Join("metrics/anonymous"), series, o);
  ASSERT_TRUE(ulid.ok()) << ulid.status().ToString();

  const std::string base = (*sl)->http_url();
  const std::string at = std::to_string(t0 / 1000 + 60 * 15);  // sample 60
  std::vector<SeriesOut> got;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    got = Query(base, "/api/v1/query", "query=old_metric&time=" + at);
    if (!got.empty()) break;
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].labels, "__name__=old_metric,cluster=old,job=api,replica=x");
  EXPECT_EQ(got[0].values[0].second, "60");

  auto pruned_before =
      MetricValue(HttpGet(base + "/metrics").body,
                  "sightline_bucket_store_blocks_queried_total{outcome=\"pruned\"}");
  auto none = Query(base, "/api/v1/query",
                    "query=" + UrlEncode("old_metric{cluster=\"new\"}") + "&time=" + at);
  EXPECT_TRUE(none.empty());
  auto one = Query(base, "/api/v1/query",
                   "query=" + UrlEncode("old_metric{cluster=\"old\",job=\"db\"}") + "&time=" + at);
  ASSERT_EQ(one.size(), 1u);
  std::string m = HttpGet(base + "/metrics").body;
  EXPECT_EQ(MetricValue(m, "sightline_bucket_store_blocks_queried_total{outcome=\"pruned\"}"),
            pruned_before + 1);
  EXPECT_GT(MetricValue(m, "thanos_store_index_cache_hits_total{item_type=\"Postings\"}"), 0) << m;
  EXPECT_GT(MetricValue(m, "sightline_object_page_cache_requests_total{cache=\"metrics-chunks\"}"),
            0);
  // The label API sees the block's labels too.
  std::string raw;
  Query(base, "/api/v1/labels", "start=" + std::to_string(t0 / 1000) + "&end=" + at, &raw);
  EXPECT_THAT(raw, ::testing::HasSubstr("\"cluster\""));
  EXPECT_TRUE(std::filesystem::exists(
      (*sl)->data_dir() + "/store-gateway/anonymous/" + ulid->ToString() + "/index-header"));

  // The block disappears from the bucket (e.g. compacted away): dropped.
  std::filesystem::remove_all(bucket.Join("metrics/anonymous/" + ulid->ToString()));
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    got = Query(base, "/api/v1/query", "query=old_metric&time=" + at);
    if (got.empty()) break;
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(got.empty());
}

// --- HA deduplication ---

TEST(StoreGatewayE2ETest, HaReplicasAreDeduplicatedUnlessDedupFalse) {
  auto sl = SightlineServer::Start({"--metrics.replica_labels=replica"});
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  const int64_t end_s = NowSeconds() - 1;
  const int64_t start_s = end_s - 300;
  // Replica a: every 10 s but missing (start+100, start+200); value 1.
  // Replica b: every 10 s, 2 s later, value 2.
  std::vector<Point> a, b;
  for (int64_t t = start_s; t <= end_s - 10; t += 10) {
    if (t <= start_s + 100 || t >= start_s + 200) a.push_back({t, 1});
    b.push_back({t + 2, 2});
  }
  ASSERT_TRUE(Push(**sl, OtlpGauge("ha_metric", {{"replica", "a"}}, a)).ok());
  ASSERT_TRUE(Push(**sl, OtlpGauge("ha_metric", {{"replica", "b"}}, b)).ok());
  const std::string base = (*sl)->http_url();
  const std::string range = "query=ha_metric&start=" + std::to_string(start_s) +
                            "&end=" + std::to_string(end_s - 10) + "&step=10";

  auto dedup = Query(base, "/api/v1/query_range", range);
  ASSERT_EQ(dedup.size(), 1u);
  EXPECT_EQ(dedup[0].labels, "__name__=ha_metric,job=sg");
  // Replica a until its gap, then b for the rest (the dedup switches only
  // across the gap): no step reads a 2 before start+110, none reads a 1
  // after start+200.
  int ones = 0, twos = 0;
  for (const auto& [t, v] : dedup[0].values) {
    if (t <= start_s + 100) EXPECT_EQ(v, "1") << t;
    if (t >= start_s + 130) EXPECT_EQ(v, "2") << t;
    if (v == "1") {
      ++ones;
    } else {
      ++twos;
    }
  }
  EXPECT_EQ(ones, 13);  // steps start .. start+120 (b's first sample is at +122)
  EXPECT_GT(twos, 15);

  auto both = Query(base, "/api/v1/query_range", range + "&dedup=false");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].labels, "__name__=ha_metric,job=sg,replica=a");
  EXPECT_EQ(both[1].labels, "__name__=ha_metric,job=sg,replica=b");

  auto inst = Query(base, "/api/v1/query",
                    "query=ha_metric&time=" + std::to_string(start_s + 50) + "&dedup=false");
  EXPECT_EQ(inst.size(), 2u);
  auto inst_dedup =
      Query(base, "/api/v1/query", "query=ha_metric&time=" + std::to_string(start_s + 50));
  ASSERT_EQ(inst_dedup.size(), 1u);
  EXPECT_EQ(inst_dedup[0].values[0].second, "1");

  auto series = HttpGet(base + "/api/v1/series?match[]=ha_metric&dedup=false");
  EXPECT_THAT(series.body, ::testing::HasSubstr("\"replica\":\"b\""));
  series = HttpGet(base + "/api/v1/series?match[]=ha_metric");
  EXPECT_THAT(series.body, ::testing::Not(::testing::HasSubstr("replica")));
  // The label APIs: no replica label under dedup, as Thanos Query.
  auto labels = HttpGet(base + "/api/v1/labels");
  EXPECT_THAT(labels.body, ::testing::Not(::testing::HasSubstr("replica"))) << labels.body;
  labels = HttpGet(base + "/api/v1/labels?dedup=false");
  EXPECT_THAT(labels.body, ::testing::HasSubstr("\"replica\"")) << labels.body;
  auto values = HttpGet(base + "/api/v1/label/replica/values");
  EXPECT_EQ(values.status, 200);
  EXPECT_THAT(values.body, ::testing::HasSubstr("\"data\":[]")) << values.body;
  values = HttpGet(base + "/api/v1/label/replica/values?dedup=false");
  EXPECT_THAT(values.body, ::testing::HasSubstr("[\"a\",\"b\"]")) << values.body;
  auto bad = HttpGet(base + "/api/v1/query?query=ha_metric&dedup=maybe");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, ::testing::HasSubstr("bad_data"));
}

}  // namespace
}  // namespace sightline
