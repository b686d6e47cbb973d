#include "io/s3_credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "io/http_transport.h"
#include "io/s3_util.h"
#include "io/storage_config.h"
#include "io/xml.h"
#include "telemetry/log.h"

namespace sightline::io {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += UriEncode(k, false) + "=" + UriEncode(v, false);
  }
  return out;
}

bool IsRetryableStsError(long status, std::string_view code) {
  return status >= 500 || status == 429 || code == "IDPCommunicationError" ||
         code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" ||
         code == "ServiceUnavailable" || code == "InternalFailure";
}

}  // namespace

Result<StsCredentials> ParseAssumeRoleWithWebIdentityResponse(std::string_view xml) {
  SL_ASSIGN_OR_RETURN(XmlElement root, ParseXml(xml));
  if (root.name == "ErrorResponse" || root.name == "Error") {
    const XmlElement* err = root.name == "Error" ? &root : root.Child("Error");
    std::string code = err ? err->ChildText("Code") : "";
    std::string message = err ? err->ChildText("Message") : "";
    return UnauthenticatedError("STS AssumeRoleWithWebIdentity failed: " + code + ": " + message);
  }
  const XmlElement* result = root.Child("AssumeRoleWithWebIdentityResult");
  const XmlElement* creds = result ? result->Child("Credentials") : nullptr;
  if (root.name != "AssumeRoleWithWebIdentityResponse" || creds == nullptr) {
    return InvalidArgumentError("STS response is not an AssumeRoleWithWebIdentityResponse");
  }
  StsCredentials out;
  out.credentials.access_key_id = std::string(Trim(creds->ChildText("AccessKeyId")));
  out.credentials.secret_access_key = std::string(Trim(creds->ChildText("SecretAccessKey")));
  out.credentials.session_token = std::string(Trim(creds->ChildText("SessionToken")));
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
    return InvalidArgumentError("STS response lacks AccessKeyId or SecretAccessKey");
  }
  SL_ASSIGN_OR_RETURN(out.expiration_ms, ParseIso8601Ms(Trim(creds->ChildText("Expiration"))));
  return out;
}

Result<AwsCredentials> ReadSharedCredentialsFile(const std::string& path,
                                                 const std::string& profile) {
  std::ifstream in(path);
  if (!in) return NotFoundError("no shared credentials file at " + path);
  AwsCredentials creds;
  bool in_profile = false, found = false;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = Trim(line);
    if (l.empty() || l[0] == '#' || l[0] == ';') continue;
    if (l.front() == '[') {
      if (l.back() != ']') continue;
      std::string_view name = Trim(l.substr(1, l.size() - 2));
      // The config file spells profiles "[profile x]"; accept it here too.
      if (name.starts_with("profile ")) name = Trim(name.substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(l.substr(0, eq));
    std::string value(Trim(l.substr(eq + 1)));
    if (key == "aws_access_key_id") {
      creds.access_key_id = value;
    } else if (key == "aws_secret_access_key") {
      creds.secret_access_key = value;
    } else if (key == "aws_session_token") {
      creds.session_token = value;
    }
  }
  if (!found) return NotFoundError("profile [" + profile + "] not found in " + path);
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
    return InvalidArgumentError("profile [" + profile + "] in " + path +
                                " lacks aws_access_key_id or aws_secret_access_key");
  }
  return creds;
}

WebIdentityCredentialsProvider::WebIdentityCredentialsProvider(WebIdentityOptions opts)
    : opts_(std::move(opts)) {
  if (!opts_.now) opts_.now = [] { return std::chrono::system_clock::now(); };
  HttpTransportOptions t;
  t.connect_timeout_ms = opts_.connect_timeout_ms;
  t.request_timeout_ms = opts_.request_timeout_ms;
  t.max_idle_handles = 1;
  transport_ = std::make_unique<HttpTransport>(t);
}

WebIdentityCredentialsProvider::~WebIdentityCredentialsProvider() = default;

int WebIdentityCredentialsProvider::refresh_count() const {
  std::lock_guard lock(mu_);
  return refresh_count_;
}

void WebIdentityCredentialsProvider::Invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
}

Result<std::pair<AwsCredentials, std::chrono::system_clock::time_point>>
WebIdentityCredentialsProvider::Fetch() {
  std::ifstream in(opts_.token_file);
  if (!in) {
    return FailedPreconditionError("cannot read web identity token file " + opts_.token_file +
                                   " (AWS_WEB_IDENTITY_TOKEN_FILE)");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string token(Trim(buf.str()));
  while (!token.empty() && token.back() == '\n') token.pop_back();
  if (token.empty())
    return FailedPreconditionError("empty web identity token in " + opts_.token_file);

  std::string session = opts_.session_name;
  if (session.empty()) {
    session = "sightline-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                opts_.now().time_since_epoch())
                                                .count());
  }
  std::string body = FormEncode({{"Action", "AssumeRoleWithWebIdentity"},
                                 {"Version", "2011-06-15"},
                                 {"RoleArn", opts_.role_arn},
                                 {"RoleSessionName", session},
                                 {"WebIdentityToken", token}});
  HttpRequest req;
  req.method = "POST";
  req.url = opts_.sts_endpoint;
  size_t scheme_end = req.url.find("://");
  size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  if (req.url.find('/', host_start) == std::string::npos) req.url += '/';
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"Accept", "application/xml"}};
  req.body = body;

  Status last;
  for (int attempt = 0; attempt <= opts_.max_retries; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(
          BackoffDelay(attempt - 1, opts_.backoff_min_ms, opts_.backoff_max_ms));
    }
    bool retryable = false;
    Result<HttpResponse> resp = transport_->Do(req, &retryable);
    if (!resp.ok()) {
      last = resp.status().Annotate("STS AssumeRoleWithWebIdentity");
      if (retryable) continue;
      return last;
    }
    if (resp->status == 200) {
      SL_ASSIGN_OR_RETURN(StsCredentials sts, ParseAssumeRoleWithWebIdentityResponse(resp->body));
      auto expiration = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::milliseconds(sts.expiration_ms)));
      return std::make_pair(std::move(sts.credentials), expiration);
    }
    std::string code;
    std::string message;
    if (Result<XmlElement> doc = ParseXml(resp->body); doc.ok()) {
      const XmlElement* err = doc->name == "Error" ? &doc.value() : doc->Child("Error");
      if (err) {
        code = err->ChildText("Code");
        message = err->ChildText("Message");
      }
    }
    last = UnauthenticatedError("STS AssumeRoleWithWebIdentity for " + opts_.role_arn + ": HTTP " +
                                std::to_string(resp->status) + " " + code + ": " + message);
    if (!IsRetryableStsError(resp->status, code)) return last;
  }
  return Status(
      last.code() == StatusCode::kUnauthenticated ? StatusCode::kUnavailable : last.code(),
      last.message() + " (after " + std::to_string(opts_.max_retries + 1) + " attempts)");
}

Result<AwsCredentials> WebIdentityCredentialsProvider::Get() {
  std::lock_guard lock(mu_);
  auto now = opts_.now();
  if (cached_ && now < expiration_ - opts_.refresh_margin) return *cached_;
  auto fetched = Fetch();
  if (fetched.ok()) {
    cached_ = std::move(fetched->first);
    expiration_ = fetched->second;
    ++refresh_count_;
    return *cached_;
  }
  if (cached_ && now < expiration_) {
    // Still valid for a while: keep serving them and try again next call.
    log::Warn("refreshing web identity credentials failed; using cached ones",
              {{"error", fetched.status().ToString()}});
    return *cached_;
  }
  return fetched.status();
}

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Result<std::unique_ptr<CredentialsProvider>> ResolveCredentials(const S3Config& config,
                                                                const EnvLookup& env) {
  if (!config.access_key_id.empty() || !config.secret_access_key.empty()) {
    if (config.access_key_id.empty() || config.secret_access_key.empty()) {
      return InvalidArgumentError("s3: access_key_id and secret_access_key must be set together");
    }
    return std::unique_ptr<CredentialsProvider>(std::make_unique<StaticCredentialsProvider>(
        AwsCredentials{config.access_key_id, config.secret_access_key, config.session_token},
        "config"));
  }

  auto id = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    return std::unique_ptr<CredentialsProvider>(std::make_unique<StaticCredentialsProvider>(
        AwsCredentials{*id, *secret, env("AWS_SESSION_TOKEN").value_or("")}, "environment"));
  }
  if (id || secret) {
    log::Warn("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; ignoring both");
  }

  auto role = env("AWS_ROLE_ARN");
  auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (role && token_file) {
    WebIdentityOptions opts;
    opts.role_arn = *role;
    opts.token_file = *token_file;
    opts.session_name = env("AWS_ROLE_SESSION_NAME").value_or("");
    std::string region = env("AWS_REGION").value_or(env("AWS_DEFAULT_REGION").value_or(""));
    if (region.empty()) region = config.region.empty() ? "us-east-1" : config.region;
    opts.sts_endpoint = !config.sts_endpoint.empty() ? config.sts_endpoint
                                                     : "https://sts." + region + ".amazonaws.com";
    opts.connect_timeout_ms = config.connect_timeout_ms;
    return std::unique_ptr<CredentialsProvider>(
        std::make_unique<WebIdentityCredentialsProvider>(std::move(opts)));
  }

  std::string path = env("AWS_SHARED_CREDENTIALS_FILE").value_or("");
  if (path.empty()) {
    if (auto home = env("HOME")) path = *home + "/.aws/credentials";
  }
  std::string profile = env("AWS_PROFILE").value_or("default");
  if (!path.empty()) {
    Result<AwsCredentials> creds = ReadSharedCredentialsFile(path, profile);
    if (creds.ok()) {
      return std::unique_ptr<CredentialsProvider>(
          std::make_unique<StaticCredentialsProvider>(std::move(creds).value(), "shared-file"));
    }
    if (creds.status().code() != StatusCode::kNotFound) return creds.status();
  }
  return FailedPreconditionError(
      "no AWS credentials: set s3 access_key_id/secret_access_key, AWS_ACCESS_KEY_ID and "
      "AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or a "
      "profile in ~/.aws/credentials");
}

}  // namespace sightline::io
