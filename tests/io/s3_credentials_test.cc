// The credentials chain (explicit -> environment -> IRSA -> shared file),
// the shared credentials file parser, STS response parsing, and the web
// identity provider's caching, refresh and failure handling against the
// fake STS in fake_aws.py.
#include "io/s3_credentials.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "harness/harness.h"
#include "io/fake_aws.h"
#include "io/storage_config.h"

namespace sightline::io {
namespace {

using sightline::testing::TempDir;
using sightline::testing::WriteFile;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(SharedCredentialsFileTest, ReadsProfiles) {
  TempDir tmp;
  WriteFile(tmp.Join("credentials"),
            "# comment\n"
            "[default]\n"
            "aws_access_key_id = AKIDDEFAULT\n"
            "aws_secret_access_key=secret/default+key\n"
            "\n"
            "; another comment\n"
            "[ prod ]\n"
            "  aws_access_key_id   =   AKIDPROD  \r\n"
            "aws_secret_access_key = prodsecret\n"
            "aws_session_token = prodtoken\n"
            "[profile other]\n"
            "aws_access_key_id = AKIDOTHER\n"
            "aws_secret_access_key = othersecret\n"
            "[broken]\n"
            "aws_access_key_id = ONLYID\n");
  auto def = ReadSharedCredentialsFile(tmp.Join("credentials"), "default");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(def->secret_access_key, "secret/default+key");
  EXPECT_EQ(def->session_token, "");
  auto prod = ReadSharedCredentialsFile(tmp.Join("credentials"), "prod");
  ASSERT_TRUE(prod.ok()) << prod.status().ToString();
  EXPECT_EQ(prod->access_key_id, "AKIDPROD");
  EXPECT_EQ(prod->secret_access_key, "prodsecret");
  EXPECT_EQ(prod->session_token, "prodtoken");
  auto other = ReadSharedCredentialsFile(tmp.Join("credentials"), "other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->access_key_id, "AKIDOTHER");
  EXPECT_EQ(ReadSharedCredentialsFile(tmp.Join("credentials"), "nope").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(ReadSharedCredentialsFile(tmp.Join("credentials"), "broken").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadSharedCredentialsFile(tmp.Join("missing"), "default").status().code(),
            StatusCode::kNotFound);
}

TEST(CredentialsChainTest, ResolvesInDocumentedOrder) {
  TempDir tmp;
  WriteFile(tmp.Join("creds"),
            "[default]\naws_access_key_id=FILEDEFAULT\naws_secret_access_key=s\n"
            "[team]\naws_access_key_id=FILETEAM\naws_secret_access_key=s\n");
  WriteFile(tmp.Join("token"), "jwt");
  std::map<std::string, std::string> env = {
      {"AWS_ACCESS_KEY_ID", "ENVID"},
      {"AWS_SECRET_ACCESS_KEY", "envsecret"},
      {"AWS_SESSION_TOKEN", "envtoken"},
      {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
      {"AWS_WEB_IDENTITY_TOKEN_FILE", tmp.Join("token")},
      {"AWS_SHARED_CREDENTIALS_FILE", tmp.Join("creds")},
  };

  S3Config explicit_cfg;
  explicit_cfg.access_key_id = "CFGID";
  explicit_cfg.secret_access_key = "cfgsecret";
  auto p = ResolveCredentials(explicit_cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Name(), "config");
  EXPECT_EQ((*p)->Get()->access_key_id, "CFGID");

  S3Config cfg;
  p = ResolveCredentials(cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Name(), "environment");
  auto creds = (*p)->Get();
  EXPECT_EQ(creds->access_key_id, "ENVID");
  EXPECT_EQ(creds->secret_access_key, "envsecret");
  EXPECT_EQ(creds->session_token, "envtoken");

  env.erase("AWS_ACCESS_KEY_ID");  // half-set environment keys are ignored
  p = ResolveCredentials(cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Name(), "web-identity");

  env.erase("AWS_ROLE_ARN");
  p = ResolveCredentials(cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Name(), "shared-file");
  EXPECT_EQ((*p)->Get()->access_key_id, "FILEDEFAULT");

  env["AWS_PROFILE"] = "team";
  p = ResolveCredentials(cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Get()->access_key_id, "FILETEAM");

  // ~/.aws/credentials when AWS_SHARED_CREDENTIALS_FILE is unset.
  WriteFile(tmp.Join("home/.aws/credentials"),
            "[team]\naws_access_key_id=HOMETEAM\naws_secret_access_key=s\n");
  env.erase("AWS_SHARED_CREDENTIALS_FILE");
  env["HOME"] = tmp.Join("home");
  p = ResolveCredentials(cfg, FakeEnv(env));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Get()->access_key_id, "HOMETEAM");

  env["AWS_PROFILE"] = "absent";
  EXPECT_EQ(ResolveCredentials(cfg, FakeEnv(env)).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ResolveCredentials(cfg, FakeEnv({})).status().code(), StatusCode::kFailedPrecondition);

  S3Config half;
  half.access_key_id = "only";
  EXPECT_EQ(ResolveCredentials(half, FakeEnv({})).status().code(), StatusCode::kInvalidArgument);
}

TEST(StsResponseTest, ParsesCredentialsAndErrors) {
  auto parsed = ParseAssumeRoleWithWebIdentityResponse(
      R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>FQoGZXIvYXdzEMj//////////wEaDOx</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>)");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->credentials.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(parsed->credentials.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(parsed->credentials.session_token, "FQoGZXIvYXdzEMj//////////wEaDOx");
  EXPECT_EQ(parsed->expiration_ms, 1414191623000);

  auto err = ParseAssumeRoleWithWebIdentityResponse(
      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
      "<Message>Token expired</Message></Error></ErrorResponse>");
  EXPECT_EQ(err.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(err.status().message().find("InvalidIdentityToken: Token expired"), std::string::npos);
  EXPECT_FALSE(ParseAssumeRoleWithWebIdentityResponse("<Other/>").ok());
  EXPECT_FALSE(ParseAssumeRoleWithWebIdentityResponse("not xml").ok());
}

class WebIdentityTest : public ::testing::Test {
 protected:
  std::unique_ptr<WebIdentityCredentialsProvider> Make(const testing::FakeAws& fake) {
    WriteFile(tmp_.Join("token"), "header.payload.sig\n");
    WebIdentityOptions opts;
    opts.role_arn = "arn:aws:iam::123456789012:role/obs";
    opts.token_file = tmp_.Join("token");
    opts.sts_endpoint = fake.endpoint();
    opts.backoff_min_ms = 1;
    opts.backoff_max_ms = 5;
    opts.now = [this] {
      return std::chrono::system_clock::now() + std::chrono::seconds(skew_s_.load());
    };
    return std::make_unique<WebIdentityCredentialsProvider>(opts);
  }
  TempDir tmp_;
  std::atomic<int64_t> skew_s_{0};
};

TEST_F(WebIdentityTest, CachesSendsTokenAndRefreshesBeforeExpiry) {
  auto fake = testing::FakeAws::Start({"--sts-ttl", "900"});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  auto provider = Make(**fake);

  // Concurrent first use: one STS call.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto c = provider->Get();
      if (c.ok() && c->access_key_id == "ASIAFAKE1") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(provider->refresh_count(), 1);
  auto c = provider->Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->secret_access_key, "secret1");
  EXPECT_EQ(c->session_token, "token1");

  skew_s_ = 900 - 301;  // just outside the 5-minute window
  EXPECT_EQ(provider->Get()->access_key_id, "ASIAFAKE1");
  skew_s_ = 900 - 299;  // inside it
  EXPECT_EQ(provider->Get()->access_key_id, "ASIAFAKE2");
  EXPECT_EQ(provider->refresh_count(), 2);

  provider->Invalidate();
  EXPECT_EQ(provider->Get()->access_key_id, "ASIAFAKE3");

  auto reqs = (*fake)->Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/x-www-form-urlencoded; charset=utf-8");
}

TEST_F(WebIdentityTest, StsErrors) {
  // Two transient failures are retried; InvalidIdentityToken is not.
  auto fake = testing::FakeAws::Start(
      {"--sts-script", "503:ServiceUnavailable,500:InternalFailure,200,400:InvalidIdentityToken",
       "--sts-ttl", "900"});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  auto provider = Make(**fake);
  auto c = provider->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAFAKE1");
  EXPECT_EQ((*fake)->Requests().size(), 3u);

  // Refresh fails, but the cached credentials are still valid: keep them.
  skew_s_ = 700;
  c = provider->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAFAKE1");

  // After Invalidate() the provider must fetch anew (the script is used up,
  // so STS answers).
  provider->Invalidate();
  c = provider->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAFAKE2");
}

TEST_F(WebIdentityTest, RefusedTokenIsUnauthenticated) {
  auto fake = testing::FakeAws::Start({"--sts-script", "400:InvalidIdentityToken"});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  auto provider = Make(**fake);
  auto c = provider->Get();
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(c.status().message().find("InvalidIdentityToken"), std::string::npos)
      << c.status().message();
  EXPECT_EQ((*fake)->Requests().size(), 1u);

  WriteFile(tmp_.Join("token"), "");
  EXPECT_EQ(provider->Get().status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace sightline::io
