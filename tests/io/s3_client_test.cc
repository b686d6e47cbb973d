// The S3 backend's failure paths against a scriptable fake (fake_aws.py):
// retries with backoff and their limit, error mapping, request timeouts,
// credential refresh on ExpiredToken, IRSA credentials end to end, and the
// URL/addressing rules.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "harness/harness.h"
#include "io/crypto.h"
#include "io/fake_aws.h"
#include "io/s3_credentials.h"
#include "io/s3_object_store.h"
#include "io/s3_util.h"

namespace sightline::io {
namespace {

using testing::FakeAws;
using testing::FakeRequest;

S3Config FakeConfig(const FakeAws& fake) {
  S3Config cfg;
  cfg.endpoint = fake.endpoint();
  cfg.bucket = "bkt";
  cfg.force_path_style = true;
  cfg.access_key_id = "AKIDTEST";
  cfg.secret_access_key = "secret";
  cfg.max_retries = 3;
  cfg.backoff_min_ms = 1;
  cfg.backoff_max_ms = 20;
  cfg.request_timeout_ms = 10000;
  return cfg;
}

std::unique_ptr<FakeAws> StartFake(const std::vector<std::string>& args) {
  auto fake = FakeAws::Start(args);
  EXPECT_TRUE(fake.ok()) << fake.status().ToString();
  return fake.ok() ? std::move(fake).value() : nullptr;
}

std::unique_ptr<S3ObjectStore> OpenStore(const S3Config& cfg) {
  auto store = S3ObjectStore::Open(cfg);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(S3RetryTest, RetriesServerErrorsThenSucceeds) {
  auto fake = StartFake({"--script", "503,500,200"});
  ASSERT_TRUE(fake);
  auto store = OpenStore(FakeConfig(*fake));
  ASSERT_TRUE(store);
  auto got = store->Get("some/key");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "fake object body");
  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/bkt/some/key");
  }
  // Each attempt is signed afresh.
  EXPECT_NE(reqs[0].headers.at("authorization").find("Credential=AKIDTEST/"), std::string::npos);
}

TEST(S3RetryTest, StopsAtMaxRetries) {
  auto fake = StartFake({"--default", "503"});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  cfg.max_retries = 2;
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("SlowDown"), std::string::npos) << got.status().message();
  EXPECT_NE(got.status().message().find("gave up after 3 attempts"), std::string::npos)
      << got.status().message();
  EXPECT_EQ(fake->S3Requests().size(), 3u);  // 1 + max_retries

  cfg.max_retries = 0;
  auto no_retry = OpenStore(cfg);
  ASSERT_TRUE(no_retry);
  EXPECT_FALSE(no_retry->Head("k").ok());
  EXPECT_EQ(fake->S3Requests().size(), 4u);
}

TEST(S3RetryTest, RetriesThrottlingAndRequestTimeoutCodes) {
  auto fake = StartFake({"--script", "429,400:RequestTimeout,400:SlowDown,200"});
  ASSERT_TRUE(fake);
  auto store = OpenStore(FakeConfig(*fake));
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("k", "payload").ok());
  EXPECT_EQ(fake->S3Requests().size(), 4u);
}

TEST(S3RetryTest, RetriedUploadResendsTheSameBody) {
  // The fake checks x-amz-content-sha256 and Content-MD5 against the body it
  // received: a retry that sent a short or empty body would fail with 400.
  // Put: 3 failures, then success; Get; PutFile: 2 failures, then success.
  auto fake = StartFake({"--script", "500,close,503,200,200,503,close,200"});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  std::string data(300000, 'q');
  ASSERT_TRUE(store->Put("big", data).ok());
  auto got = store->Get("big");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);

  // The same from a file, streamed from disk on every attempt.
  sightline::testing::TempDir tmp;
  sightline::testing::WriteFile(tmp.Join("f"), data);
  Status s = store->PutFile("from-file", tmp.Join("f"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  got = store->Get("from-file");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(fake->S3Requests().size(), 9u);
}

TEST(S3MultipartTest, RetriesOnePartAndCompletes) {
  // Requests: create, part 1, part 2 (503 once, then retried), part 3, complete.
  auto fake = StartFake({"--script", "200,200,503,200,200,200"});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  cfg.multipart_threshold = 100000;
  cfg.part_size = 100000;
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  sightline::testing::TempDir tmp;
  std::string data;
  for (int i = 0; i < 250000; ++i) data += static_cast<char>('a' + i % 26);
  sightline::testing::WriteFile(tmp.Join("f"), data);
  PutOptions opts;
  opts.storage_class = "STANDARD_IA";
  Status s = store->PutFile("mp/obj", tmp.Join("f"), opts);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto got = store->Get("mp/obj");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data);

  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 7u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/bkt/mp/obj?uploads=");
  EXPECT_EQ(reqs[0].headers.at("x-amz-storage-class"), "STANDARD_IA");
  EXPECT_EQ(reqs[1].target, "/bkt/mp/obj?partNumber=1&uploadId=upload1");
  EXPECT_EQ(reqs[2].target, "/bkt/mp/obj?partNumber=2&uploadId=upload1");
  EXPECT_EQ(reqs[3].target, "/bkt/mp/obj?partNumber=2&uploadId=upload1");
  EXPECT_EQ(reqs[4].target, "/bkt/mp/obj?partNumber=3&uploadId=upload1");
  EXPECT_EQ(reqs[4].headers.at("content-length"), "50000");
  EXPECT_EQ(reqs[5].method, "POST");
  EXPECT_EQ(reqs[5].target, "/bkt/mp/obj?uploadId=upload1");
}

TEST(S3MultipartTest, AbortsUploadWhenAPartFails) {
  // Part 2 is refused (403, not retryable): the upload must be aborted.
  auto fake = StartFake({"--script", "200,200,403"});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  cfg.multipart_threshold = 100000;
  cfg.part_size = 100000;
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  sightline::testing::TempDir tmp;
  sightline::testing::WriteFile(tmp.Join("f"), std::string(250000, 'z'));
  Status s = store->PutFile("mp/obj", tmp.Join("f"));
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("part 2"), std::string::npos) << s.ToString();
  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[3].method, "DELETE");
  EXPECT_EQ(reqs[3].target, "/bkt/mp/obj?uploadId=upload1");
}

TEST(S3RetryTest, ClientErrorsAreNotRetriedAndMapToCodes) {
  auto fake = StartFake({"--script", "404,403,400:InvalidArgument,400:NoSuchBucket"});
  ASSERT_TRUE(fake);
  auto store = OpenStore(FakeConfig(*fake));
  ASSERT_TRUE(store);
  auto missing = store->Get("k");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos);
  EXPECT_NE(missing.status().message().find("FAKE123"), std::string::npos);  // request id
  auto denied = store->Get("k");
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("AccessDenied: Access Denied"), std::string::npos)
      << denied.status().message();
  EXPECT_EQ(store->Put("k", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Get("k").status().code(), StatusCode::kFailedPrecondition);  // NoSuchBucket
  EXPECT_EQ(fake->S3Requests().size(), 4u);  // one each: nothing retried
}

TEST(S3RequestTest, RangeEdgeCases) {
  // 416 (range starts at or after the end) is settled with a HEAD; a server
  // that ignores Range and sends 200 with the whole object is sliced locally.
  auto fake = StartFake({"--script", "416,200,416,200"});
  ASSERT_TRUE(fake);
  auto store = OpenStore(FakeConfig(*fake));
  ASSERT_TRUE(store);
  const std::string body = "fake object body";  // what the fake serves
  auto at_end = store->GetRange("k", body.size(), 10);
  ASSERT_TRUE(at_end.ok()) << at_end.status().ToString();
  EXPECT_EQ(*at_end, "");
  EXPECT_EQ(store->GetRange("k", body.size() + 1, 10).status().code(), StatusCode::kOutOfRange);
  auto sliced = store->GetRange("k", 5, 6);
  ASSERT_TRUE(sliced.ok()) << sliced.status().ToString();
  EXPECT_EQ(*sliced, "object");
  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].headers.at("range"), "bytes=16-25");
  EXPECT_EQ(reqs[1].method, "HEAD");
  EXPECT_EQ(reqs[4].headers.at("range"), "bytes=5-10");
}

TEST(S3RetryTest, TimeoutsAreRetried) {
  auto fake = StartFake({"--script", "sleep:3000,200"});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  cfg.request_timeout_ms = 500;
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  auto start = std::chrono::steady_clock::now();
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(fake->S3Requests().size(), 2u);

  cfg.max_retries = 1;
  auto slow = StartFake({"--default", "sleep:3000"});
  ASSERT_TRUE(slow);
  cfg.endpoint = slow->endpoint();
  auto store2 = OpenStore(cfg);
  ASSERT_TRUE(store2);
  EXPECT_EQ(store2->Get("k").status().code(), StatusCode::kDeadlineExceeded);
}

TEST(S3RetryTest, ConnectionRefusedIsRetriedThenUnavailable) {
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:" + std::to_string(sightline::testing::FreePort());
  cfg.bucket = "bkt";
  cfg.access_key_id = "a";
  cfg.secret_access_key = "b";
  cfg.max_retries = 2;
  cfg.backoff_min_ms = 1;
  cfg.backoff_max_ms = 5;
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  Status s = store->Put("k", "v");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("gave up after 3 attempts"), std::string::npos) << s.ToString();
}

TEST(S3RetryTest, BackoffIsCappedExponentialWithFullJitter) {
  // Statistical bounds over many draws: never above the cap, and spread out
  // (full jitter), growing with the attempt number until the cap.
  for (int attempt = 0; attempt < 8; ++attempt) {
    int64_t cap = std::min<int64_t>(1000, 10LL << attempt);
    int64_t max_seen = 0, min_seen = INT64_MAX;
    double sum = 0;
    for (int i = 0; i < 2000; ++i) {
      int64_t d = BackoffDelay(attempt, 10, 1000).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap);
      max_seen = std::max(max_seen, d);
      min_seen = std::min(min_seen, d);
      sum += static_cast<double>(d);
    }
    EXPECT_GE(max_seen, cap * 9 / 10) << attempt;
    EXPECT_LE(min_seen, cap / 10) << attempt;
    EXPECT_NEAR(sum / 2000, cap / 2.0, cap * 0.1) << attempt;
  }
}

// A provider whose credentials the fake S3 reports as expired once.
class CountingProvider : public CredentialsProvider {
 public:
  Result<AwsCredentials> Get() override {
    return AwsCredentials{"AKIDGEN" + std::to_string(generation_.load()), "s", ""};
  }
  void Invalidate() override { ++generation_; }
  std::string Name() const override { return "counting"; }
  std::atomic<int> generation_{1};
};

TEST(S3RetryTest, ExpiredTokenRefreshesCredentialsOnce) {
  auto fake = StartFake({"--script", "400:ExpiredToken,200"});
  ASSERT_TRUE(fake);
  auto provider = std::make_unique<CountingProvider>();
  CountingProvider* raw = provider.get();
  auto store = S3ObjectStore::Open(FakeConfig(*fake), std::move(provider));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Get("k").ok());
  EXPECT_EQ(raw->generation_.load(), 2);
  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].headers.at("authorization").find("Credential=AKIDGEN1/"), std::string::npos);
  EXPECT_NE(reqs[1].headers.at("authorization").find("Credential=AKIDGEN2/"), std::string::npos);
}

TEST(S3RequestTest, SendsSigV4HeadersStorageClassAndSse) {
  auto fake = StartFake({});
  ASSERT_TRUE(fake);
  S3Config cfg = FakeConfig(*fake);
  cfg.storage_class = "STANDARD_IA";
  cfg.sse = "AES256";
  cfg.session_token = "sess";
  cfg.region = "eu-west-1";
  cfg.prefix = "/tenant-a/metrics/";
  auto store = OpenStore(cfg);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Describe(), "s3://bkt/tenant-a/metrics");
  ASSERT_TRUE(store->Put("01H/meta.json", "{}").ok());
  PutOptions glacier;
  glacier.storage_class = "GLACIER_IR";
  glacier.content_type = "application/json";
  ASSERT_TRUE(store->Put("01H/other", "x", glacier).ok());
  auto reqs = fake->S3Requests();
  ASSERT_EQ(reqs.size(), 2u);
  const auto& h = reqs[0].headers;
  EXPECT_EQ(reqs[0].target, "/bkt/tenant-a/metrics/01H/meta.json");
  EXPECT_EQ(h.at("x-amz-storage-class"), "STANDARD_IA");
  EXPECT_EQ(h.at("x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(h.at("x-amz-security-token"), "sess");
  EXPECT_EQ(h.at("x-amz-content-sha256"), HexEncode(Sha256("{}")));
  EXPECT_EQ(h.at("content-md5"), Base64Encode(Md5("{}")));
  EXPECT_EQ(h.at("content-type"), "application/octet-stream");
  EXPECT_EQ(h.at("x-amz-date").size(), 16u);
  const std::string& auth = h.at("authorization");
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDTEST/", 0), 0u) << auth;
  EXPECT_NE(auth.find("/eu-west-1/s3/aws4_request"), std::string::npos) << auth;
  EXPECT_NE(auth.find("SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date;"
                      "x-amz-security-token;x-amz-server-side-encryption;x-amz-storage-class,"),
            std::string::npos)
      << auth;
  EXPECT_EQ(reqs[1].headers.at("x-amz-storage-class"), "GLACIER_IR");
  EXPECT_EQ(reqs[1].headers.at("content-type"), "application/json");
}

TEST(S3RequestTest, AddressingStyles) {
  S3Config cfg;
  cfg.bucket = "my-bucket";
  cfg.region = "eu-central-1";
  cfg.access_key_id = "a";
  cfg.secret_access_key = "b";
  auto aws = OpenStore(cfg);
  ASSERT_TRUE(aws);
  EXPECT_FALSE(aws->path_style());
  EXPECT_EQ(aws->UrlFor("a b/ü+c"),
            "https://my-bucket.s3.eu-central-1.amazonaws.com/a%20b/%C3%BC%2Bc");

  cfg.prefix = "p";
  cfg.force_path_style = true;
  auto forced = OpenStore(cfg);
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->UrlFor("k"), "https://s3.eu-central-1.amazonaws.com/my-bucket/p/k");

  cfg = S3Config{};
  cfg.access_key_id = "a";
  cfg.secret_access_key = "b";
  cfg.bucket = "b1";
  cfg.endpoint = "http://127.0.0.1:9000";  // an IP cannot carry a bucket subdomain
  auto ip = OpenStore(cfg);
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->path_style());
  EXPECT_EQ(ip->UrlFor("x"), "http://127.0.0.1:9000/b1/x");

  cfg.endpoint = "minio.example.com:443";  // no scheme: https; default port dropped
  cfg.bucket = "logs";
  auto host = OpenStore(cfg);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->UrlFor("x"), "https://logs.minio.example.com/x");

  cfg.bucket = "dotted.bucket.name";  // dots break TLS wildcard certificates
  auto dotted = OpenStore(cfg);
  ASSERT_TRUE(dotted);
  EXPECT_TRUE(dotted->path_style());

  cfg.endpoint = "ftp://x";
  EXPECT_EQ(S3ObjectStore::Open(cfg).status().code(), StatusCode::kInvalidArgument);
  cfg.endpoint = "http://host/path";
  EXPECT_EQ(S3ObjectStore::Open(cfg).status().code(), StatusCode::kInvalidArgument);
}

// IRSA end to end: a web identity token file and role ARN lead to an STS
// AssumeRoleWithWebIdentity call; S3 requests are signed with the returned
// temporary credentials, and refreshed ones are used once the first are
// within five minutes of expiry.
TEST(S3IrsaTest, RequestsUseAndRefreshWebIdentityCredentials) {
  auto fake = StartFake({"--sts-ttl", "3600"});
  ASSERT_TRUE(fake);
  sightline::testing::TempDir tmp;
  sightline::testing::WriteFile(tmp.Join("token"), "eyJhbGciOiJSUzI1NiJ9.first\n");

  std::atomic<int64_t> skew_s{0};
  WebIdentityOptions opts;
  opts.role_arn = "arn:aws:iam::123456789012:role/sightline";
  opts.token_file = tmp.Join("token");
  opts.session_name = "test-session";
  opts.sts_endpoint = fake->endpoint();
  opts.now = [&] { return std::chrono::system_clock::now() + std::chrono::seconds(skew_s.load()); };
  auto provider = std::make_unique<WebIdentityCredentialsProvider>(opts);
  WebIdentityCredentialsProvider* raw = provider.get();

  S3Config cfg = FakeConfig(*fake);
  cfg.access_key_id.clear();
  cfg.secret_access_key.clear();
  auto opened = S3ObjectStore::Open(cfg, std::move(provider));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  S3ObjectStore& store = **opened;

  ASSERT_TRUE(store.Put("a", "1").ok());
  ASSERT_TRUE(store.Get("a").ok());
  EXPECT_EQ(raw->refresh_count(), 1);  // cached across requests

  skew_s = 50 * 60;  // 10 minutes before expiry: still cached
  ASSERT_TRUE(store.Get("a").ok());
  EXPECT_EQ(raw->refresh_count(), 1);

  sightline::testing::WriteFile(tmp.Join("token"), "eyJhbGciOiJSUzI1NiJ9.rotated");
  skew_s = 56 * 60;  // 4 minutes before expiry: refreshed
  ASSERT_TRUE(store.Get("a").ok());
  EXPECT_EQ(raw->refresh_count(), 2);

  auto all = fake->Requests();
  std::vector<FakeRequest> sts, s3;
  for (auto& r : all) (r.headers.count("authorization") ? s3 : sts).push_back(r);
  ASSERT_EQ(sts.size(), 2u);
  EXPECT_EQ(sts[0].method, "POST");
  EXPECT_EQ(sts[0].headers.count("authorization"), 0u);  // STS call is unsigned
  ASSERT_EQ(s3.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(s3[i].headers.at("authorization").find("Credential=ASIAFAKE1/"), std::string::npos)
        << i;
    EXPECT_EQ(s3[i].headers.at("x-amz-security-token"), "token1");
  }
  EXPECT_NE(s3[3].headers.at("authorization").find("Credential=ASIAFAKE2/"), std::string::npos);
  EXPECT_EQ(s3[3].headers.at("x-amz-security-token"), "token2");
}

}  // namespace
}  // namespace sightline::io
