// OTLP metrics over the per-tenant limits (metrics/limits), as an OTLP
// exporter sees them:
//   - over the ingestion rate: HTTP 429 with Retry-After and a
//     google.rpc.Status naming the limit; gRPC RESOURCE_EXHAUSTED with a
//     RetryInfo (OTLP exporters retry it only then);
//   - over max_label_names_per_series: HTTP 400 / gRPC INVALID_ARGUMENT with
//     the message naming the limit (not retryable; series within limits in
//     the same request are stored).
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metrics/ingest/fake_appendable.h"
#include "metrics/ingest/otlp_metrics.h"
#include "metrics/ingest/remote_write.h"
#include "metrics/limits/limits.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "prometheus/remote.pb.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {
namespace {

namespace col = opentelemetry::proto::collector::metrics::v1;
using metrics::testing::FakeAppendable;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `series` gauges named g0.., each with `attrs` data point attributes.
col::ExportMetricsServiceRequest Gauges(int series, int attrs) {
  col::ExportMetricsServiceRequest req;
  auto* rm = req.add_resource_metrics();
  auto* kv = rm->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("svc");
  auto* sm = rm->add_scope_metrics();
  for (int i = 0; i < series; ++i) {
    auto* m = sm->add_metrics();
    m->set_name("g" + std::to_string(i));
    auto* p = m->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(static_cast<uint64_t>(NowMs()) * 1000000);
    p->set_as_double(1);
    for (int a = 0; a < attrs; ++a) {
      auto* at = p->add_attributes();
      at->set_key("a" + std::to_string(a));
      at->mutable_value()->set_string_value("v");
    }
  }
  return req;
}

struct Fixture {
  explicit Fixture(limits::TenantLimits l)
      : limited(&db, std::make_shared<const limits::Overrides>(l), &registry) {
    options.registry = &registry;
    options.retry_after_seconds = 7;
  }
  FakeAppendable db;
  telemetry::Registry registry;
  limits::LimitingAppendable limited;
  IngestOptions options;
};

net::HttpResponse PostHttp(const OtlpMetricsReceiver& r, const col::ExportMetricsServiceRequest& m,
                           bool json) {
  net::HttpHeaders hdrs;
  std::string body;
  if (json) {
    hdrs.Set("Content-Type", "application/json");
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &body).ok());
  } else {
    hdrs.Set("Content-Type", "application/x-protobuf");
    body = m.SerializeAsString();
  }
  auto req = net::HttpRequest::Make("POST", "/v1/metrics", hdrs, body);
  EXPECT_TRUE(req.ok());
  net::HttpResponse resp;
  r.ServeHttp(*req, resp);
  return resp;
}

TEST(OtlpLimitsTest, HttpRateLimitIs429WithRetryAfter) {
  limits::TenantLimits l;
  l.ingestion_rate = 1;
  l.ingestion_burst_size = 3;
  Fixture f(l);
  OtlpMetricsReceiver r(&f.limited, f.options);
  EXPECT_EQ(PostHttp(r, Gauges(3, 0), false).status, 200);
  net::HttpResponse resp = PostHttp(r, Gauges(2, 0), false);
  EXPECT_EQ(resp.status, 429) << resp.body;
  EXPECT_EQ(resp.headers.Get("Retry-After").value_or(""), "7");
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(resp.body));
  EXPECT_EQ(st.code(), static_cast<int>(StatusCode::kResourceExhausted));
  EXPECT_NE(st.message().find("metrics.limits.ingestion_rate"), std::string::npos) << st.message();
  ASSERT_EQ(st.details_size(), 1);
  google::rpc::RetryInfo ri;
  ASSERT_TRUE(st.details(0).UnpackTo(&ri));
  EXPECT_EQ(ri.retry_delay().seconds(), 7);
  // JSON clients get the same status as JSON.
  resp = PostHttp(r, Gauges(2, 0), true);
  EXPECT_EQ(resp.status, 429);
  EXPECT_NE(resp.body.find("\"message\""), std::string::npos) << resp.body;
  EXPECT_NE(resp.body.find("ingestion rate limit"), std::string::npos) << resp.body;
  EXPECT_EQ(f.db.samples().size(), 3u);
}

TEST(OtlpLimitsTest, HttpLabelNamesLimitIs400NamingTheLimit) {
  limits::TenantLimits l;
  l.max_label_names_per_series = 3;  // __name__, job + one attribute
  Fixture f(l);
  OtlpMetricsReceiver r(&f.limited, f.options);
  EXPECT_EQ(PostHttp(r, Gauges(1, 1), false).status, 200);
  // One series within limits, one over: 400, the good one is stored.
  col::ExportMetricsServiceRequest req = Gauges(1, 1);
  col::ExportMetricsServiceRequest over = Gauges(1, 3);
  over.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(0)->set_name("big");
  *req.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics() =
      over.resource_metrics(0).scope_metrics(0).metrics(0);
  net::HttpResponse resp = PostHttp(r, req, false);
  EXPECT_EQ(resp.status, 400) << resp.body;
  EXPECT_TRUE(resp.headers.Get("Retry-After").value_or("").empty());
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(resp.body));
  EXPECT_EQ(st.code(), static_cast<int>(StatusCode::kInvalidArgument));
  EXPECT_NE(st.message().find("metrics.limits.max_label_names_per_series"), std::string::npos)
      << st.message();
  EXPECT_EQ(f.db.samples().size(), 2u);
  EXPECT_EQ(f.db.samples()[1].labels.Get("__name__"), "g0");
  // Other per-sample rejections stay a partial success (OTLP's rule).
  f.db.set_sample_hook([](const Labels&, int64_t, double) {
    return InvalidArgumentError("out of order sample");
  });
  resp = PostHttp(r, Gauges(1, 0), false);
  EXPECT_EQ(resp.status, 200) << resp.body;
  col::ExportMetricsServiceResponse ok;
  ASSERT_TRUE(ok.ParseFromString(resp.body));
  EXPECT_EQ(ok.partial_success().rejected_data_points(), 1);
}

TEST(OtlpLimitsTest, GrpcResourceExhaustedAndInvalidArgument) {
  limits::TenantLimits l;
  l.ingestion_rate = 1;
  l.ingestion_burst_size = 2;
  l.max_label_names_per_series = 3;
  Fixture f(l);
  net::GrpcServerOptions go;
  go.listen = "127.0.0.1:0";
  net::GrpcServer server(go);
  auto service = RegisterOtlpMetricsGrpc(server, &f.limited, f.options);
  ASSERT_TRUE(server.Start().ok());
  auto stub = col::MetricsService::NewStub(
      grpc::CreateChannel(server.bound_address(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    grpc::Status s = stub->Export(&ctx, Gauges(1, 4), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("metrics.limits.max_label_names_per_series"),
              std::string::npos)
        << s.error_message();
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(s.error_details()));
    EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_EQ(details.details_size(), 0);  // no RetryInfo: do not retry
  }
  {
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    ASSERT_TRUE(stub->Export(&ctx, Gauges(2, 0), &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    col::ExportMetricsServiceResponse resp;
    grpc::Status s = stub->Export(&ctx, Gauges(2, 0), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(s.error_message().find("metrics.limits.ingestion_rate"), std::string::npos)
        << s.error_message();
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(s.error_details()));
    ASSERT_EQ(details.details_size(), 1);
    google::rpc::RetryInfo ri;
    ASSERT_TRUE(details.details(0).UnpackTo(&ri));
    EXPECT_EQ(ri.retry_delay().seconds(), 7);
  }
  server.Stop(std::chrono::milliseconds(100));
}

// Each per-series limit answers the same over remote write, OTLP/HTTP
// (protobuf and JSON) and OTLP/gRPC: 400 / INVALID_ARGUMENT with a message
// naming the limit's key, the series within limits of the same request
// stored, the refusal counted under the limit's reason. The limit reaches
// the receivers as a type (limits::LastRejection), so it wins even when an
// unrelated rejection (out of order) came first in the batch.
struct LimitCase {
  const char* key;     // metrics.limits.<key>
  const char* reason;  // sightline_ingest / discarded reason label
  limits::TenantLimits limits;
  // Attributes of the offending series' data point (name "big").
  std::vector<std::pair<std::string, std::string>> attrs;
};

std::vector<LimitCase> LimitCases() {
  std::vector<LimitCase> out;
  {
    LimitCase c{"max_label_names_per_series", "max_label_names_per_series", {}, {}};
    c.limits.max_label_names_per_series = 3;  // __name__, job + one attribute
    c.attrs = {{"a", "v"}, {"b", "v"}, {"c", "v"}};
    out.push_back(c);
  }
  {
    LimitCase c{"max_label_name_length", "label_name_too_long", {}, {}};
    c.limits.max_label_name_length = 10;
    c.attrs = {{"a_rather_long_name", "v"}};
    out.push_back(c);
  }
  {
    LimitCase c{"max_label_value_length", "label_value_too_long", {}, {}};
    c.limits.max_label_value_length = 5;
    c.attrs = {{"a", "a value over five"}};
    out.push_back(c);
  }
  {
    // The head refuses a new series (ResourceExhausted); the limits layer
    // names max_global_series_per_user.
    LimitCase c{"max_global_series_per_user", "per_user_series_limit", {}, {}};
    c.limits.max_global_series_per_user = 1;
    c.attrs = {{"new", "series"}};
    out.push_back(c);
  }
  return out;
}

// One good gauge "g0" and the offending "big" with `attrs`.
col::ExportMetricsServiceRequest GoodAndBig(
    const std::vector<std::pair<std::string, std::string>>& attrs, bool big_first) {
  col::ExportMetricsServiceRequest req = Gauges(1, 0);
  auto* sm = req.mutable_resource_metrics(0)->mutable_scope_metrics(0);
  col::ExportMetricsServiceRequest tmp = Gauges(1, 0);
  auto big = tmp.resource_metrics(0).scope_metrics(0).metrics(0);
  big.set_name("big");
  for (const auto& [k, v] : attrs) {
    auto* at = big.mutable_gauge()->mutable_data_points(0)->add_attributes();
    at->set_key(k);
    at->mutable_value()->set_string_value(v);
  }
  *sm->add_metrics() = big;
  if (big_first) sm->mutable_metrics()->SwapElements(0, 1);
  return req;
}

prometheus::WriteRequest GoodAndBigRemoteWrite(
    const std::vector<std::pair<std::string, std::string>>& attrs) {
  prometheus::WriteRequest wr;
  for (bool is_big : {false, true}) {
    auto* ts = wr.add_timeseries();
    auto add = [&](const std::string& n, const std::string& v) {
      auto* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    };
    add("__name__", is_big ? "big" : "g0");
    if (is_big) {
      std::vector<std::pair<std::string, std::string>> sorted = attrs;
      std::sort(sorted.begin(), sorted.end());
      for (const auto& [k, v] : sorted) add(k, v);
    }
    add("job", "svc");
    auto* smp = ts->add_samples();
    smp->set_value(1);
    smp->set_timestamp(NowMs());
  }
  return wr;
}

void HookSeriesLimit(Fixture& f, const limits::TenantLimits& l) {
  if (l.max_global_series_per_user == 0) return;
  // The store refuses every series but g0, as the head does over its limit.
  f.db.set_sample_hook([](const Labels& ls, int64_t, double) {
    if (ls.Get("__name__") == "g0" || ls.Get("__name__") == "ooo") return Status::Ok();
    return ResourceExhaustedError("limit of 1 series reached");
  });
}

TEST(OtlpLimitsTest, EveryPerSeriesLimitAnswersLikeRemoteWrite) {
  for (const LimitCase& c : LimitCases()) {
    SCOPED_TRACE(c.key);
    const std::string key = std::string("metrics.limits.") + c.key;
    // Remote write.
    {
      Fixture f(c.limits);
      HookSeriesLimit(f, c.limits);
      RemoteWriteHandler h(&f.limited, f.options);
      net::HttpHeaders hdrs;
      hdrs.Set("Content-Type", "application/x-protobuf");
      auto req = net::HttpRequest::Make("POST", "/api/v1/push", hdrs,
                                        GoodAndBigRemoteWrite(c.attrs).SerializeAsString());
      ASSERT_TRUE(req.ok());
      net::HttpResponse resp;
      h.Serve(*req, resp);
      EXPECT_EQ(resp.status, 400) << resp.body;
      EXPECT_NE(resp.body.find(key), std::string::npos) << resp.body;
      ASSERT_EQ(f.db.samples().size(), 1u);
      EXPECT_EQ(f.db.samples()[0].labels.Get("__name__"), "g0");
      std::string text = f.registry.Expose();
      EXPECT_NE(text.find(std::string("reason=\"") + c.reason + "\""), std::string::npos);
    }
    // OTLP/HTTP, protobuf and JSON, the offending series first or last.
    for (bool json : {false, true}) {
      for (bool big_first : {false, true}) {
        Fixture f(c.limits);
        HookSeriesLimit(f, c.limits);
        OtlpMetricsReceiver r(&f.limited, f.options);
        net::HttpResponse resp = PostHttp(r, GoodAndBig(c.attrs, big_first), json);
        EXPECT_EQ(resp.status, 400) << resp.body;
        EXPECT_TRUE(resp.headers.Get("Retry-After").value_or("").empty());
        EXPECT_NE(resp.body.find(key), std::string::npos) << resp.body;
        if (!json) {
          google::rpc::Status st;
          ASSERT_TRUE(st.ParseFromString(resp.body));
          EXPECT_EQ(st.code(), static_cast<int>(StatusCode::kInvalidArgument));
        }
        ASSERT_EQ(f.db.samples().size(), 1u);
        EXPECT_EQ(f.db.samples()[0].labels.Get("__name__"), "g0");
      }
    }
    // OTLP/gRPC.
    {
      Fixture f(c.limits);
      HookSeriesLimit(f, c.limits);
      net::GrpcServerOptions go;
      go.listen = "127.0.0.1:0";
      net::GrpcServer server(go);
      auto service = RegisterOtlpMetricsGrpc(server, &f.limited, f.options);
      ASSERT_TRUE(server.Start().ok());
      auto stub = col::MetricsService::NewStub(
          grpc::CreateChannel(server.bound_address(), grpc::InsecureChannelCredentials()));
      grpc::ClientContext ctx;
      col::ExportMetricsServiceResponse resp;
      grpc::Status s = stub->Export(&ctx, GoodAndBig(c.attrs, false), &resp);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_NE(s.error_message().find(key), std::string::npos) << s.error_message();
      google::rpc::Status details;
      ASSERT_TRUE(details.ParseFromString(s.error_details()));
      EXPECT_EQ(details.details_size(), 0);  // no RetryInfo: do not retry
      EXPECT_EQ(f.db.samples().size(), 1u);
      server.Stop(std::chrono::milliseconds(100));
    }
  }
}

// The typed limit wins over the batch's first (unrelated) rejection: an
// out-of-order sample first, then a series over a limit: still 400 naming
// the limit. (Matching the first error's text answered a partial success.)
TEST(OtlpLimitsTest, LimitAfterAnotherRejectionIsStill400) {
  limits::TenantLimits l;
  l.max_label_value_length = 5;
  Fixture f(l);
  f.db.set_sample_hook([](const Labels& ls, int64_t, double) {
    if (ls.Get("__name__") == "g0") return InvalidArgumentError("out of order sample");
    return Status::Ok();
  });
  OtlpMetricsReceiver r(&f.limited, f.options);
  net::HttpResponse resp = PostHttp(r, GoodAndBig({{"a", "a long value"}}, false), false);
  EXPECT_EQ(resp.status, 400) << resp.body;
  EXPECT_NE(resp.body.find("metrics.limits.max_label_value_length"), std::string::npos)
      << resp.body;
  // Without a limit involved, out of order alone stays a partial success.
  resp = PostHttp(r, Gauges(1, 0), false);
  EXPECT_EQ(resp.status, 200) << resp.body;
}

TEST(OtlpLimitsTest, LastRejectionIsTyped) {
  limits::TenantLimits l;
  l.max_label_name_length = 8;  // __name__ fits
  Fixture f(l);
  auto app = f.limited.NewAppender("t");
  Result<uint64_t> r =
      app->Append(0, Labels::FromStrings({"__name__", "m", "much_longer", "x"}), 1, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(limits::LastRejection(*app), limits::LimitReason::kLabelNameTooLong);
  r = app->Append(0, Labels::FromStrings({"__name__", "m"}), NowMs(), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(limits::LastRejection(*app), std::nullopt);
  // Any other appender: no typed limit.
  auto plain = f.db.NewAppender("t");
  EXPECT_EQ(limits::LastRejection(*plain), std::nullopt);
  app->Rollback();
  plain->Rollback();
}

}  // namespace
}  // namespace sightline::metrics::ingest
