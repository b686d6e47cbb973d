// AWS credentials for the S3 backend, resolved in this order (the first that
// is configured wins, as in AWS's SDKs):
//  1. explicit S3Config access_key_id / secret_access_key (/ session_token);
//  2. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//  3. IRSA (EKS IAM roles for service accounts): AWS_ROLE_ARN and
//     AWS_WEB_IDENTITY_TOKEN_FILE -> STS AssumeRoleWithWebIdentity, an
//     unsigned POST; temporary credentials cached and refreshed 5 minutes
//     before they expire (the token file is re-read each time, since the
//     kubelet rotates it);
//  4. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
//     ~/.aws/credentials, profile AWS_PROFILE or "default".
// EC2/ECS instance metadata credentials are not supported.
//
// Thread-safety: providers are safe for concurrent use. The web identity
// provider serializes refreshes; callers wait for the one in flight.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "io/s3_sigv4.h"

namespace sightline::io {

struct S3Config;
class HttpTransport;

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Current credentials; may block on a refresh.
  virtual Result<AwsCredentials> Get() = 0;
  // The service rejected the credentials as expired: forget cached ones.
  virtual void Invalidate() {}
  // For logs: "config", "environment", "web-identity", "shared-file".
  virtual std::string Name() const = 0;
};

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  StaticCredentialsProvider(AwsCredentials creds, std::string name)
      : creds_(std::move(creds)), name_(std::move(name)) {}
  Result<AwsCredentials> Get() override { return creds_; }
  std::string Name() const override { return name_; }

 private:
  AwsCredentials creds_;
  std::string name_;
};

struct WebIdentityOptions {
  std::string role_arn;
  std::string token_file;
  std::string session_name;  // empty: "sightline-<unix time>"
  std::string sts_endpoint;  // full URL, e.g. https://sts.us-east-1.amazonaws.com
  std::chrono::seconds refresh_margin{300};
  int max_retries = 3;
  int backoff_min_ms = 100;
  int backoff_max_ms = 2000;
  int connect_timeout_ms = 10000;
  int request_timeout_ms = 30000;
  // Injectable clock for tests.
  std::function<std::chrono::system_clock::time_point()> now;
};

class WebIdentityCredentialsProvider final : public CredentialsProvider {
 public:
  explicit WebIdentityCredentialsProvider(WebIdentityOptions opts);
  ~WebIdentityCredentialsProvider() override;

  Result<AwsCredentials> Get() override;
  void Invalidate() override;
  std::string Name() const override { return "web-identity"; }

  // Successful STS calls so far (tests).
  int refresh_count() const;

 private:
  Result<std::pair<AwsCredentials, std::chrono::system_clock::time_point>> Fetch();

  WebIdentityOptions opts_;
  std::unique_ptr<HttpTransport> transport_;
  mutable std::mutex mu_;
  std::optional<AwsCredentials> cached_;
  std::chrono::system_clock::time_point expiration_;
  int refresh_count_ = 0;
};

// Temporary credentials and their expiry (Unix ms) from an
// AssumeRoleWithWebIdentityResponse document; the STS error otherwise.
struct StsCredentials {
  AwsCredentials credentials;
  int64_t expiration_ms = 0;
};
Result<StsCredentials> ParseAssumeRoleWithWebIdentityResponse(std::string_view xml);

// One profile of an AWS shared credentials file (INI). NotFound if the file
// or the profile does not exist; InvalidArgument if the profile lacks keys.
Result<AwsCredentials> ReadSharedCredentialsFile(const std::string& path,
                                                 const std::string& profile);

// Environment lookup, injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup ProcessEnvironment();

// Walks the chain above. FailedPrecondition when nothing is configured.
Result<std::unique_ptr<CredentialsProvider>> ResolveCredentials(
    const S3Config& config, const EnvLookup& env = ProcessEnvironment());

}  // namespace sightline::io
