// Ingest and querier HTTP handlers called in-process through the Router:
// /ingest (folded, lines, pprof raw/gzip/multipart, jfr: see profiles_jfr_test), Push over
// Connect proto and JSON, limits (400/413/429), and the querier's Connect
// and legacy endpoints.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "base/compression.h"
#include "harness/harness.h"
#include "net/http.h"
#include "pprof/profile.pb.h"
#include "profiles/api/querier_api.h"
#include "profiles/ingest/ingest.h"
#include "profiles/store/profile_db.h"
#include "profiles_test_util.h"
#include "pyroscope/push/v1/push.pb.h"
#include "pyroscope/querier/v1/querier.pb.h"

namespace sightline::profiles {
namespace {

using testutil::CpuProfile;
using testutil::kCpuType;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(IngestLimits{}); }

  void Open(IngestLimits limits) {
    ingester_.reset();
    router_ = std::make_unique<net::Router>();
    db_.reset();
    ProfileDBOptions o;
    o.data_dir = dir_.path();
    o.cut_check_interval = std::chrono::milliseconds(0);
    auto db = ProfileDB::Open(o);
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ingester_ = RegisterIngest(*router_, db_.get(), limits);
    RegisterQuerierApi(*router_, db_.get());
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& content_type = "") {
    net::HttpHeaders h;
    if (!content_type.empty()) h.Add("Content-Type", content_type);
    auto req = net::HttpRequest::Make(method, target, h, body);
    EXPECT_TRUE(req.ok());
    req->set_tenant("anonymous");
    net::HttpResponse resp;
    router_->Serve(*req, resp);
    return resp;
  }

  querier::v1::FlameGraph Flame(const std::string& type, const std::string& selector,
                                int64_t start = 1, int64_t end = 4'000'000'000'000) {
    querier::v1::SelectMergeStacktracesRequest r;
    r.set_profile_typeid(type);
    r.set_label_selector(selector);
    r.set_start(start);
    r.set_end(end);
    auto resp = Call("POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
                     r.SerializeAsString(), "application/proto");
    EXPECT_EQ(resp.status, 200) << resp.body;
    querier::v1::SelectMergeStacktracesResponse out;
    EXPECT_TRUE(out.ParseFromString(resp.body));
    return out.flamegraph();
  }

  static bool HasName(const querier::v1::FlameGraph& fg, const std::string& name) {
    for (const auto& n : fg.names()) {
      if (n == name) return true;
    }
    return false;
  }

  testing::TempDir dir_;
  std::unique_ptr<ProfileDB> db_;
  std::unique_ptr<net::Router> router_;
  std::unique_ptr<Ingester> ingester_;
};

TEST_F(ApiTest, FoldedIngestAndQuery) {
  auto r = Call("POST",
                "/ingest?name=shop.cpu%7Benv%3Dprod%7D&from=1700000000&until=1700000010"
                "&sampleRate=100&spyName=gospy",
                "main;checkout;pay 3\nmain;idle 1\n");
  ASSERT_EQ(r.status, 200) << r.body;
  auto fg = Flame(kCpuType, R"({service_name="shop", env="prod"})");
  EXPECT_EQ(fg.total(), 4 * 10'000'000);  // 100 Hz: 10 ms per sample
  EXPECT_TRUE(HasName(fg, "pay"));
  // Lines format: one stack per line.
  r = Call("POST", "/pyroscope/ingest?name=lines.cpu&from=1700000000&format=lines",
           "a;b\na;b\na;c\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Flame(kCpuType, R"({service_name="lines"})").total(), 3 * 10'000'000);
}

TEST_F(ApiTest, PprofRawGzipAndMultipart) {
  auto p = CpuProfile({{{"main", "burnCpu"}, 500}}, 1'700'000'000'000'000'000);
  auto gz = Compress(Codec::kGzip, p.SerializeAsString());
  ASSERT_TRUE(gz.ok());
  auto r = Call("POST",
                "/ingest?name=node-app%7Bregion%3Deu%7D&format=pprof&from=1700000000&until="
                "1700000010&spyName=nodespy",
                *gz, "application/octet-stream");
  ASSERT_EQ(r.status, 200) << r.body;
  auto fg = Flame(kCpuType, R"({service_name="node-app"})");
  EXPECT_EQ(fg.total(), 500);
  EXPECT_TRUE(HasName(fg, "burnCpu"));

  // Multipart with prev_profile and a cumulative sample type.
  auto cur =
      testutil::MakeProfile("alloc_space", "bytes", "space", "bytes", {{{"main", "alloc"}, 1000}});
  auto prev =
      testutil::MakeProfile("alloc_space", "bytes", "space", "bytes", {{{"main", "alloc"}, 400}});
  std::string b = "XyZ";
  std::string body =
      "--" + b +
      "\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" +
      cur.SerializeAsString() + "\r\n--" + b +
      "\r\nContent-Disposition: form-data; name=\"prev_profile\"; filename=\"p\"\r\n\r\n" +
      prev.SerializeAsString() + "\r\n--" + b +
      "\r\nContent-Disposition: form-data; name=\"sample_type_config\"; filename=\"c.json\"\r\n\r\n"
      "{\"alloc_space\":{\"units\":\"bytes\",\"cumulative\":true}}\r\n--" +
      b + "--\r\n";
  r = Call("POST", "/ingest?name=goapp&from=1700000000&until=1700000010", body,
           "multipart/form-data; boundary=" + b);
  ASSERT_EQ(r.status, 200) << r.body;
  auto mem = Flame("memory:alloc_space:bytes:space:bytes", R"({service_name="goapp"})");
  EXPECT_EQ(mem.total(), 600);
}

TEST_F(ApiTest, RejectsBadInputWithClearStatus) {
  EXPECT_EQ(Call("POST", "/ingest?from=1", "a 1").status, 400);
  EXPECT_EQ(Call("POST", "/ingest?name=x&format=pprof", "not a profile").status, 400);
  EXPECT_EQ(Call("POST", "/ingest?name=x", "a;b notanumber").status, 400);
  auto jfr = Call("POST", "/ingest?name=x&format=jfr", "xx");
  EXPECT_EQ(jfr.status, 400);
  EXPECT_THAT(jfr.body, ::testing::HasSubstr("JFR"));
  EXPECT_EQ(Call("POST", "/ingest?name=x&format=tree", "xx").status, 415);
  auto bad_ct = Call("POST", "/push.v1.PusherService/Push", "x", "text/plain");
  EXPECT_EQ(bad_ct.status, 415);
}

TEST_F(ApiTest, LimitsGive400And413And429) {
  IngestLimits l;
  l.max_samples = 2;
  l.max_stack_depth = 3;
  l.max_label_names = 3;
  l.max_profile_size_bytes = 2000;
  l.ingestion_rate_bytes = 1000;
  l.ingestion_burst_bytes = 1000;
  Open(l);
  auto many = CpuProfile({{{"a"}, 1}, {{"b"}, 1}, {{"c"}, 1}});
  auto r = Call("POST", "/ingest?name=x&format=pprof", many.SerializeAsString());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, ::testing::HasSubstr("samples"));
  auto deep = CpuProfile({{{"a", "b", "c", "d"}, 1}});
  EXPECT_EQ(Call("POST", "/ingest?name=x&format=pprof", deep.SerializeAsString()).status, 400);
  EXPECT_EQ(Call("POST", "/ingest?name=x%7Ba%3D1%2Cb%3D2%2Cc%3D3%7D&format=pprof",
                 CpuProfile({{{"a"}, 1}}).SerializeAsString())
                .status,
            400);
  std::vector<testutil::StackValue> big;
  auto huge = CpuProfile({{{std::string(3000, 'f')}, 1}});
  EXPECT_EQ(Call("POST", "/ingest?name=x&format=pprof", huge.SerializeAsString()).status, 413);
  // Rate: 1000 bytes burst; a ~300 byte body passes three times, then 429.
  auto small = CpuProfile({{{std::string(250, 'g')}, 1}}).SerializeAsString();
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto resp = Call("POST", "/ingest?name=x&format=pprof", small);
    if (resp.status == 200) ++ok;
    if (resp.status == 429) {
      ++limited;
      EXPECT_TRUE(resp.headers.Has("Retry-After"));
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(limited, 1);
}

TEST_F(ApiTest, ConnectPushProtoAndJsonThenQueries) {
  push::v1::PushRequest req;
  auto* s = req.add_series();
  auto* l = s->add_labels();
  l->set_name("service_name");
  l->set_value("pusher");
  l = s->add_labels();
  l->set_name("__name__");
  l->set_value("process_cpu");
  s->add_samples()->set_raw_profile(
      CpuProfile({{{"main", "work"}, 7, "0123456789abcdef"}}, 1'700'000'000'000'000'000)
          .SerializeAsString());
  auto r =
      Call("POST", "/push.v1.PusherService/Push", req.SerializeAsString(), "application/proto");
  ASSERT_EQ(r.status, 200) << r.body;
  // JSON push: raw_profile is base64.
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(req, &json).ok());
  r = Call("POST", "/push.v1.PusherService/Push", json, "application/json");
  ASSERT_EQ(r.status, 200) << r.body;

  // ProfileTypes (as Grafana's health check, and a real range).
  r = Call("POST", "/querier.v1.QuerierService/ProfileTypes",
           R"({"start":"1699999990000","end":"1700000010000"})", "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, ::testing::HasSubstr(kCpuType));
  r = Call("POST", "/querier.v1.QuerierService/ProfileTypes", R"({"start":"1000","end":"4000"})",
           "application/json");
  EXPECT_EQ(r.status, 200);

  r = Call("POST", "/querier.v1.QuerierService/LabelValues",
           R"({"name":"service_name","start":"1699999990000","end":"1700000010000"})",
           "application/json");
  EXPECT_THAT(r.body, ::testing::HasSubstr("pusher"));
  r = Call("POST", "/querier.v1.QuerierService/LabelNames",
           R"({"start":"1699999990000","end":"1700000010000"})", "application/json");
  EXPECT_THAT(r.body, ::testing::HasSubstr("service_name"));
  r = Call(
      "POST", "/querier.v1.QuerierService/Series",
      R"({"matchers":["{service_name=\"pusher\"}"],"start":"1699999990000","end":"1700000010000"})",
      "application/json");
  EXPECT_THAT(r.body, ::testing::HasSubstr("pusher"));

  auto fg = Flame(kCpuType, R"({service_name="pusher"})", 1699999990000, 1700000010000);
  EXPECT_EQ(fg.total(), 14);

  querier::v1::SelectSeriesRequest ss;
  ss.set_profile_typeid(kCpuType);
  ss.set_label_selector("{}");
  ss.set_start(1699999990000);
  ss.set_end(1700000010000);
  ss.set_step(15);
  ss.add_group_by("service_name");
  r = Call("POST", "/querier.v1.QuerierService/SelectSeries", ss.SerializeAsString(),
           "application/proto");
  ASSERT_EQ(r.status, 200);
  querier::v1::SelectSeriesResponse sr;
  ASSERT_TRUE(sr.ParseFromString(r.body));
  ASSERT_EQ(sr.series_size(), 1);
  EXPECT_EQ(sr.series(0).points(0).value(), 14);

  querier::v1::SelectMergeSpanProfileRequest sp;
  sp.set_profile_typeid(kCpuType);
  sp.set_label_selector("{}");
  sp.add_span_selector("0123456789abcdef");
  sp.set_start(1699999990000);
  sp.set_end(1700000010000);
  r = Call("POST", "/querier.v1.QuerierService/SelectMergeSpanProfile", sp.SerializeAsString(),
           "application/proto");
  querier::v1::SelectMergeSpanProfileResponse spr;
  ASSERT_TRUE(spr.ParseFromString(r.body));
  EXPECT_EQ(spr.flamegraph().total(), 14);

  querier::v1::SelectMergeProfileRequest mp;
  mp.set_profile_typeid(kCpuType);
  mp.set_start(1699999990000);
  mp.set_end(1700000010000);
  r = Call("POST", "/querier.v1.QuerierService/SelectMergeProfile", mp.SerializeAsString(),
           "application/proto");
  perftools::profiles::Profile merged;
  ASSERT_TRUE(merged.ParseFromString(r.body));
  EXPECT_EQ(merged.sample_size(), 1);

  // Bad selector: Connect invalid_argument.
  r = Call(
      "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
      R"({"profileTypeID":"process_cpu:cpu:nanoseconds:cpu:nanoseconds","labelSelector":"{a="})",
      "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, ::testing::HasSubstr("invalid_argument"));

  // Legacy render and label values.
  r = Call("GET", "/pyroscope/render?query=" +
                      net::PercentEncode(std::string(kCpuType) + "{service_name=\"pusher\"}") +
                      "&from=1699999990&until=1700000010&format=json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, ::testing::HasSubstr("\"numTicks\":14"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("\"timeline\""));
  r = Call("GET", "/pyroscope/label-values?label=service_name&from=1699999990&until=1700000010");
  EXPECT_THAT(r.body, ::testing::HasSubstr("pusher"));
}

}  // namespace
}  // namespace sightline::profiles
