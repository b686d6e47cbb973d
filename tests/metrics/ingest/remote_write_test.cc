// Remote write handler: decoding, label validation, per-sample errors,
// limits and storage failures, against the recording fake store.
#include "metrics/ingest/remote_write.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>

#include "base/compression.h"
#include "metrics/ingest/fake_appendable.h"
#include "prometheus/remote.pb.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

using metrics::testing::FakeAppendable;
using metrics::testing::HeadLikeHook;

constexpr int64_t kNow = 1'700'000'000'000;

void AddSeries(prometheus::WriteRequest* req, std::initializer_list<std::string> pairs,
               std::initializer_list<std::pair<int64_t, double>> samples) {
  prometheus::TimeSeries* ts = req->add_timeseries();
  for (auto it = pairs.begin(); it != pairs.end(); it += 2) {
    prometheus::Label* l = ts->add_labels();
    l->set_name(*it);
    l->set_value(*(it + 1));
  }
  for (auto [t, v] : samples) {
    prometheus::Sample* s = ts->add_samples();
    s->set_timestamp(t);
    s->set_value(v);
  }
}

std::string Snappy(const std::string& s) { return *Compress(Codec::kSnappy, s); }

class RemoteWriteTest : public ::testing::Test {
 protected:
  RemoteWriteTest() {
    options_.registry = &registry_;
    options_.now_ms = [] { return kNow; };
  }

  net::HttpResponse Post(const std::string& body,
                         std::string content_type = "application/x-protobuf",
                         std::string path = "/api/v1/write") {
    if (!router_) {
      router_ = std::make_unique<net::Router>();
      RegisterRemoteWrite(*router_, &db_, options_);
    }
    net::HttpHeaders h;
    if (!content_type.empty()) h.Add("Content-Type", content_type);
    h.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
    Result<net::HttpRequest> req = net::HttpRequest::Make("POST", path, h, body);
    EXPECT_TRUE(req.ok());
    req->set_tenant("team-a");
    net::HttpResponse resp;
    router_->Serve(*req, resp);
    return resp;
  }

  net::HttpResponse Post(const prometheus::WriteRequest& req) {
    return Post(Snappy(req.SerializeAsString()));
  }

  double Counter(const std::string& line_prefix) {
    std::string text = registry_.Expose();
    size_t pos = text.find(line_prefix + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + line_prefix.size() + 1));
  }

  telemetry::Registry registry_;
  IngestOptions options_;
  FakeAppendable db_;
  std::unique_ptr<net::Router> router_;
};

TEST_F(RemoteWriteTest, StoresSamplesExemplarsAndMetadata) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "http_requests_total", "job", "api", "code", "200"},
            {{kNow - 2000, 1}, {kNow - 1000, 2}});
  AddSeries(&req, {"__name__", "up", "job", "api"}, {{kNow - 1000, 1}});
  prometheus::Exemplar* ex = req.mutable_timeseries(0)->add_exemplars();
  ex->set_value(1);
  ex->set_timestamp(kNow - 1500);
  prometheus::Label* el = ex->add_labels();
  el->set_name("trace_id");
  el->set_value("4bf92f3577b34da6a3ce929d0e0e4736");
  prometheus::MetricMetadata* md = req.add_metadata();
  md->set_type(prometheus::MetricMetadata::COUNTER);
  md->set_metric_family_name("http_requests");
  md->set_help("Requests.");

  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 204) << resp.body;
  EXPECT_TRUE(resp.body.empty());

  // Labels arrive unsorted ("job" before "code") and are stored sorted.
  EXPECT_EQ(db_.SeriesStrings(),
            (std::vector<std::string>{R"({__name__="http_requests_total", code="200", job="api"})",
                                      R"({__name__="up", job="api"})"}));
  auto samples = db_.SamplesOf(R"({__name__="http_requests_total", code="200", job="api"})");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[1].t, kNow - 1000);
  EXPECT_EQ(samples[1].v, 2);
  EXPECT_EQ(samples[1].tenant, "team-a");

  auto exemplars = db_.exemplars();
  ASSERT_EQ(exemplars.size(), 1u);
  EXPECT_EQ(exemplars[0].exemplar.labels.Get("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(exemplars[0].exemplar.timestamp_ms, kNow - 1500);
  EXPECT_NE(exemplars[0].ref, 0u);

  auto metadata = db_.metadata();
  ASSERT_EQ(metadata.count("http_requests"), 1u);
  EXPECT_EQ(metadata["http_requests"].type, "counter");
  EXPECT_EQ(metadata["http_requests"].help, "Requests.");

  EXPECT_EQ(Counter(R"(sightline_metrics_ingest_samples_received_total{protocol="remote_write"})"),
            3);
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_requests_total{protocol="remote_write",result="success"})"),
      1);
}

TEST_F(RemoteWriteTest, BodyAlreadyDecodedByTheServerAndProtoParameter) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow, 1}});
  // The server undid Content-Encoding: the handler sees plain protobuf.
  EXPECT_EQ(Post(req.SerializeAsString()).status, 204);
  EXPECT_EQ(
      Post(Snappy(req.SerializeAsString()), "application/x-protobuf;proto=prometheus.WriteRequest")
          .status,
      204);
  // No Content-Type at all: assumed 1.0, as Prometheus does.
  EXPECT_EQ(Post(Snappy(req.SerializeAsString()), "").status, 204);
  EXPECT_EQ(Post(Snappy(req.SerializeAsString()), "application/x-protobuf", "/api/v1/push").status,
            204);
  EXPECT_EQ(db_.samples().size(), 4u);
}

TEST_F(RemoteWriteTest, StaleMarkersKeepTheirBits) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow, std::bit_cast<double>(kStaleNaNBits)}});
  ASSERT_EQ(Post(req).status, 204);
  ASSERT_EQ(db_.samples().size(), 1u);
  EXPECT_EQ(std::bit_cast<uint64_t>(db_.samples()[0].v), kStaleNaNBits);
}

TEST_F(RemoteWriteTest, MalformedBodiesAre400) {
  net::HttpResponse resp = Post(std::string("\xff\xff\xff\xff garbage", 13));
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("cannot decode remote write request"), std::string::npos);
  // Valid snappy framing around something that is not a WriteRequest.
  EXPECT_EQ(Post(Snappy(std::string("\x0a\xff\xff\xff\x0f", 5))).status, 400);
  EXPECT_TRUE(db_.samples().empty());
  EXPECT_EQ(db_.commits(), 0);
}

TEST_F(RemoteWriteTest, EmptyRequestIs204) {
  EXPECT_EQ(Post(std::string()).status, 204);
  EXPECT_EQ(Post(Snappy(std::string())).status, 204);
  EXPECT_TRUE(db_.samples().empty());
}

TEST_F(RemoteWriteTest, UnsupportedContentTypesAre415) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow, 1}});
  std::string body = Snappy(req.SerializeAsString());
  net::HttpResponse v2 = Post(body, "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  EXPECT_EQ(v2.status, 415);
  EXPECT_NE(v2.body.find("io.prometheus.write.v2.Request protobuf message is not accepted"),
            std::string::npos);
  EXPECT_EQ(Post(body, "application/json").status, 415);
  EXPECT_EQ(Post(body, "application/x-protobuf;proto=foo.Bar").status, 415);
  EXPECT_TRUE(db_.samples().empty());
}

TEST_F(RemoteWriteTest, DuplicateLabelNamesRejectTheSeriesOnly) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a", "job", "x", "job", "y"}, {{kNow, 1}, {kNow + 1, 2}});
  AddSeries(&req, {"__name__", "b"}, {{kNow, 1}});
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body,
            "invalid labels for series, labels {__name__=\"a\", job=\"x\", job=\"y\"}, duplicated "
            "label job (2 of 3 samples rejected)\n");
  EXPECT_EQ(db_.SeriesStrings(), (std::vector<std::string>{R"({__name__="b"})"}));
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_samples_rejected_total{protocol="remote_write",reason="duplicate_label_names"})"),
      2);
}

TEST_F(RemoteWriteTest, InvalidNamesAndEmptyValues) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"job", "no-name"}, {{kNow, 1}});
  AddSeries(&req, {"__name__", "1bad"}, {{kNow, 1}});
  AddSeries(&req, {"__name__", "ok", "bad-label", "x"}, {{kNow, 1}});
  AddSeries(&req, {"__name__", "good", "empty", ""}, {{kNow, 1}});
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body,
            "invalid metric name or labels, got {job=\"no-name\"} (3 of 4 samples rejected)\n");
  // The empty label is dropped, as Prometheus treats it as absent.
  EXPECT_EQ(db_.SeriesStrings(), (std::vector<std::string>{R"({__name__="good"})"}));
}

TEST_F(RemoteWriteTest, Utf8NamesWhenEnabled) {
  options_.utf8_names = true;
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "http.server.duration", "service.name", "api"}, {{kNow, 1}});
  EXPECT_EQ(Post(req).status, 204);
  EXPECT_EQ(db_.SeriesStrings(),
            (std::vector<std::string>{R"({__name__="http.server.duration", service.name="api"})"}));
}

TEST_F(RemoteWriteTest, PerSampleErrorsCommitTheRestAndAnswer400) {
  db_.set_sample_hook(HeadLikeHook());
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow - 10, 1}, {kNow - 20, 2}, {kNow - 5, 3}});
  AddSeries(&req, {"__name__", "b"}, {{kNow - 10, 1}, {kNow - 10, 5}});
  AddSeries(&req, {"__name__", "c"}, {{kNow - 10, 1}});
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 400);
  // Prometheus's receiver wording, then how many failed.
  EXPECT_EQ(resp.body,
            "out of order sample for series {__name__=\"a\"} (2 of 6 samples rejected)\n");
  EXPECT_EQ(db_.commits(), 1);
  EXPECT_EQ(db_.samples().size(), 4u);  // a@-10, a@-5, b@-10, c@-10
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_samples_rejected_total{protocol="remote_write",reason="out_of_order"})"),
      1);
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_samples_rejected_total{protocol="remote_write",reason="duplicate_timestamp"})"),
      1);
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_requests_total{protocol="remote_write",result="partial"})"),
      1);
}

TEST_F(RemoteWriteTest, TimestampsTooFarInTheFutureAreOutOfBounds) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow + 11 * 60 * 1000, 1}, {kNow + 9 * 60 * 1000, 2}});
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body.rfind("out of bounds: timestamp is too far in the future for series", 0), 0u)
      << resp.body;
  EXPECT_EQ(db_.samples().size(), 1u);
}

TEST_F(RemoteWriteTest, LimitsAre429WithRetryAfter) {
  db_.set_sample_hook([](const Labels& ls, int64_t, double) {
    if (ls.Get("__name__") == "new_series") {
      return ResourceExhaustedError("per-tenant series limit of 2 exceeded");
    }
    return Status::Ok();
  });
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "old"}, {{kNow, 1}});
  AddSeries(&req, {"__name__", "new_series"}, {{kNow, 1}});
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 429);
  EXPECT_EQ(resp.headers.Get("Retry-After").value_or(""), "5");
  EXPECT_EQ(resp.body.rfind("per-tenant series limit of 2 exceeded", 0), 0u) << resp.body;
  EXPECT_EQ(db_.SeriesStrings(), (std::vector<std::string>{R"({__name__="old"})"}));
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_requests_total{protocol="remote_write",result="throttled"})"),
      1);
}

TEST_F(RemoteWriteTest, StorageErrorsAre5xxAndStoreNothing) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "a"}, {{kNow, 1}});
  db_.set_commit_error(UnavailableError("WAL disk full"));
  net::HttpResponse resp = Post(req);
  EXPECT_EQ(resp.status, 503);
  EXPECT_TRUE(resp.headers.Has("Retry-After"));
  db_.set_commit_error(InternalError("boom"));
  EXPECT_EQ(Post(req).status, 500);
  EXPECT_TRUE(db_.samples().empty());

  // A non-sample error from Append aborts and rolls back the whole batch.
  db_.set_commit_error(Status::Ok());
  db_.set_sample_hook([](const Labels& ls, int64_t, double) {
    return ls.Get("__name__") == "b" ? InternalError("head is closed") : Status::Ok();
  });
  AddSeries(&req, {"__name__", "b"}, {{kNow, 1}});
  EXPECT_EQ(Post(req).status, 500);
  EXPECT_TRUE(db_.samples().empty());
  EXPECT_GE(db_.rollbacks(), 1);
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_samples_rejected_total{protocol="remote_write",reason="storage_error"})"),
      4);
}

TEST_F(RemoteWriteTest, NativeHistogramsAreCountedNotStored) {
  prometheus::WriteRequest req;
  AddSeries(&req, {"__name__", "h"}, {});
  prometheus::Histogram* h = req.mutable_timeseries(0)->add_histograms();
  h->set_count_int(3);
  h->set_timestamp(kNow);
  AddSeries(&req, {"__name__", "a"}, {{kNow, 1}});
  EXPECT_EQ(Post(req).status, 204);
  EXPECT_EQ(db_.SeriesStrings(), (std::vector<std::string>{R"({__name__="a"})"}));
  EXPECT_EQ(
      Counter(
          R"(sightline_metrics_ingest_samples_rejected_total{protocol="remote_write",reason="native_histogram_unsupported"})"),
      1);
}

}  // namespace
}  // namespace sightline::metrics::ingest
