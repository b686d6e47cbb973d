#include "io/s3_object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "io/crypto.h"
#include "io/http_transport.h"
#include "io/s3_credentials.h"
#include "io/s3_sigv4.h"
#include "io/s3_util.h"
#include "io/xml.h"
#include "telemetry/log.h"

namespace sightline::io {
namespace {

constexpr size_t kHashChunk = 1 << 20;
constexpr size_t kMaxDeleteBatch = 1000;  // S3's limit per DeleteObjects call
constexpr uint64_t kMaxParts = 10000;     // S3's limit per multipart upload
constexpr uint64_t kMinAwsPartSize = 5ull << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

struct Endpoint {
  std::string scheme;    // "http" or "https"
  std::string host;      // as in the Host header: "127.0.0.1:9000", "s3.us-east-1.amazonaws.com"
  std::string hostname;  // without port
  std::string port;      // "" for the scheme's default
};

Result<Endpoint> ParseEndpoint(const S3Config& cfg) {
  std::string url =
      cfg.endpoint.empty()
          ? "https://s3." + (cfg.region.empty() ? "us-east-1" : cfg.region) + ".amazonaws.com"
          : cfg.endpoint;
  Endpoint ep;
  size_t sep = url.find("://");
  std::string rest;
  if (sep == std::string::npos) {
    ep.scheme = "https";
    rest = url;
  } else {
    ep.scheme = Lower(url.substr(0, sep));
    rest = url.substr(sep + 3);
  }
  if (ep.scheme != "http" && ep.scheme != "https") {
    return InvalidArgumentError("s3 endpoint " + cfg.endpoint + ": scheme must be http or https");
  }
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    if (rest.substr(slash) != "/") {
      return InvalidArgumentError("s3 endpoint " + cfg.endpoint +
                                  ": must not have a path (use the prefix setting)");
    }
    rest.resize(slash);
  }
  if (rest.empty()) return InvalidArgumentError("s3 endpoint " + cfg.endpoint + ": no host");
  size_t port_colon;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return InvalidArgumentError("s3 endpoint " + cfg.endpoint + ": bad IPv6 address");
    }
    ep.hostname = rest.substr(0, close + 1);
    port_colon = rest.size() > close + 1 && rest[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    port_colon = rest.find(':');
    ep.hostname = rest.substr(0, port_colon);
  }
  if (port_colon != std::string::npos) ep.port = rest.substr(port_colon + 1);
  // Curl and S3 both treat an explicit default port as no port; so do we, so
  // that the signed Host matches.
  if ((ep.scheme == "http" && ep.port == "80") || (ep.scheme == "https" && ep.port == "443")) {
    ep.port.clear();
  }
  ep.host = ep.hostname + (ep.port.empty() ? "" : ":" + ep.port);
  return ep;
}

bool IsIpOrLocalhost(std::string_view hostname) {
  if (hostname == "localhost" || hostname.starts_with('[')) return true;
  int dots = 0;
  for (char c : hostname) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

// Whether `bucket` can be a DNS label under the endpoint (virtual-host
// addressing). Dots break TLS wildcard certificates, so https excludes them.
bool VirtualHostable(std::string_view bucket, bool https) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (c == '.' && !https);
    if (!ok) return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(bucket.front()) && alnum(bucket.back()) && bucket.find("..") == std::string::npos;
}

struct S3Error {
  long status = 0;
  std::string code;
  std::string message;
  std::string request_id;
};

S3Error ParseS3Error(const HttpResponse& resp) {
  S3Error e;
  e.status = resp.status;
  e.request_id = resp.Header("x-amz-request-id");
  if (!resp.body.empty()) {
    Result<XmlElement> doc = ParseXml(resp.body);
    if (doc.ok()) {
      const XmlElement* err = doc->name == "Error" ? &doc.value() : doc->Child("Error");
      if (err != nullptr) {
        e.code = err->ChildText("Code");
        e.message = err->ChildText("Message");
        if (e.request_id.empty()) e.request_id = err->ChildText("RequestId");
      }
    } else {
      e.message = resp.body.substr(0, 200);
    }
  }
  if (e.code.empty()) {
    // HEAD responses have no body; name the status as S3's SDKs do.
    switch (resp.status) {
      case 400:
        e.code = "BadRequest";
        break;
      case 403:
        e.code = "Forbidden";
        break;
      case 404:
        e.code = "NotFound";
        break;
      case 412:
        e.code = "PreconditionFailed";
        break;
      case 416:
        e.code = "InvalidRange";
        break;
      case 429:
        e.code = "TooManyRequests";
        break;
      case 500:
        e.code = "InternalError";
        break;
      case 503:
        e.code = "ServiceUnavailable";
        break;
      default:
        e.code = "HTTP" + std::to_string(resp.status);
    }
  }
  return e;
}

bool IsRetryable(const S3Error& e) {
  static constexpr std::string_view kCodes[] = {"SlowDown",
                                                "RequestTimeout",
                                                "RequestTimeoutException",
                                                "InternalError",
                                                "ServiceUnavailable",
                                                "Throttling",
                                                "ThrottlingException",
                                                "ThrottledException",
                                                "RequestThrottled",
                                                "RequestThrottledException",
                                                "TooManyRequestsException",
                                                "RequestLimitExceeded",
                                                "BandwidthLimitExceeded",
                                                "PriorRequestNotComplete",
                                                "OperationAborted"};
  if ((e.status >= 500 && e.status != 501) || e.status == 429) return true;
  return std::find(std::begin(kCodes), std::end(kCodes), e.code) != std::end(kCodes);
}

bool IsExpiredToken(const S3Error& e) {
  return e.code == "ExpiredToken" || e.code == "ExpiredTokenException" ||
         e.code == "TokenRefreshRequired";
}

Status ToStatus(const S3Error& e, const std::string& what) {
  std::string msg = what + ": HTTP " + std::to_string(e.status) + " " + e.code;
  if (!e.message.empty()) msg += ": " + e.message;
  if (!e.request_id.empty()) msg += " (request id " + e.request_id + ")";
  StatusCode code;
  if (e.code == "NoSuchBucket" || e.status == 412) {
    code = StatusCode::kFailedPrecondition;
  } else if (e.status == 404 || e.code == "NoSuchKey" || e.code == "NoSuchUpload") {
    code = StatusCode::kNotFound;
  } else if (IsExpiredToken(e) || e.status == 401) {
    code = StatusCode::kUnauthenticated;
  } else if (e.status == 403) {
    code = StatusCode::kPermissionDenied;
  } else if (e.status == 416 || e.code == "InvalidRange") {
    code = StatusCode::kOutOfRange;
  } else if (e.status == 501 || e.code == "NotImplemented") {
    code = StatusCode::kUnimplemented;
  } else if (IsRetryable(e)) {
    code = StatusCode::kUnavailable;
  } else if (e.status == 409) {
    code = StatusCode::kAborted;
  } else if (e.status == 400) {
    code = StatusCode::kInvalidArgument;
  } else {
    code = StatusCode::kUnknown;
  }
  return Status(code, std::move(msg));
}

// Hashes [offset, offset + length) of a file for Content-MD5 and
// X-Amz-Content-SHA256.
Status HashFileRange(int fd, uint64_t offset, uint64_t length, const std::string& path,
                     Md5Digest* md5, Sha256Digest* sha) {
  StreamingHasher hasher;
  std::string buf(static_cast<size_t>(std::min<uint64_t>(length, kHashChunk)), '\0');
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError("read " + path + ": " + std::strerror(errno));
    if (n == 0) return DataLossError("read " + path + ": file shrank during upload");
    hasher.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    done += static_cast<uint64_t>(n);
  }
  hasher.Finish(md5, sha);
  return Status::Ok();
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

struct S3ObjectStore::Impl {
  S3Config cfg;
  Endpoint ep;
  bool path_style = false;
  std::string key_prefix;  // "" or "a/b/"
  std::unique_ptr<CredentialsProvider> credentials;
  std::unique_ptr<HttpTransport> transport;

  // One S3 request, before signing.
  struct Call {
    std::string method;
    std::string key;  // full key including key_prefix; empty for bucket-level calls
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
    int body_fd = -1;
    uint64_t body_offset = 0;
    uint64_t body_length = 0;
    std::string payload_hash{kEmptyPayloadSha256};
    // CompleteMultipartUpload may answer 200 with an <Error> document.
    bool body_may_hold_error = false;
  };

  std::string HostFor() const { return path_style ? ep.host : cfg.bucket + "." + ep.host; }

  std::string PathFor(const std::string& full_key) const {
    if (path_style) return "/" + cfg.bucket + (full_key.empty() ? "" : "/" + full_key);
    return "/" + full_key;
  }

  std::string Describe(const std::string& full_key) const {
    return "s3://" + cfg.bucket + "/" + full_key;
  }

  std::string UrlFor(const std::string& full_key,
                     const std::vector<std::pair<std::string, std::string>>& query) const {
    std::string url =
        ep.scheme + "://" + HostFor() + CanonicalUri(PathFor(full_key), /*normalize=*/false);
    if (!query.empty()) url += "?" + CanonicalQueryString(query);
    return url;
  }

  std::vector<std::pair<std::string, std::string>> UploadHeaders(const PutOptions& opts) const {
    std::vector<std::pair<std::string, std::string>> h;
    h.emplace_back("Content-Type",
                   opts.content_type.empty() ? "application/octet-stream" : opts.content_type);
    const std::string& sc = opts.storage_class.empty() ? cfg.storage_class : opts.storage_class;
    if (!sc.empty()) h.emplace_back("x-amz-storage-class", sc);
    if (!cfg.sse.empty()) h.emplace_back("x-amz-server-side-encryption", cfg.sse);
    return h;
  }

  Result<HttpResponse> Execute(const Call& call) {
    const std::string what = "S3 " + call.method + " " + Describe(call.key);
    const std::string host = HostFor();
    const std::string path = PathFor(call.key);
    const std::string url = UrlFor(call.key, call.query);
    bool refreshed_credentials = false;
    for (int attempt = 0;; ++attempt) {
      Result<AwsCredentials> creds = credentials->Get();
      if (!creds.ok()) {
        return creds.status().Annotate(what + ": credentials (" + credentials->Name() + ")");
      }
      SigV4Request sreq;
      sreq.method = call.method;
      sreq.host = host;
      sreq.path = path;
      sreq.query = call.query;
      sreq.headers = call.headers;
      sreq.payload_hash = call.payload_hash;
      SigV4Options sopts;
      sopts.region = cfg.region.empty() ? "us-east-1" : cfg.region;
      SigV4Signature sig =
          SignV4(sreq, *creds, sopts, FormatAmzDate(std::chrono::system_clock::now()));

      HttpRequest req;
      req.method = call.method;
      req.url = url;
      req.headers = call.headers;
      req.headers.emplace_back("Host", host);
      for (auto& h : sig.headers) req.headers.push_back(std::move(h));
      req.body = call.body;
      req.body_fd = call.body_fd;
      req.body_offset = call.body_offset;
      req.body_length = call.body_length;

      bool retryable = false;
      Status failure;
      Result<HttpResponse> resp = transport->Do(req, &retryable);
      if (!resp.ok()) {
        failure = resp.status().Annotate("S3");
      } else {
        bool success = resp->status >= 200 && resp->status < 300;
        if (success && call.body_may_hold_error) {
          Result<XmlElement> doc = ParseXml(resp->body);
          success = !(doc.ok() && doc->name == "Error");
        }
        if (success) return resp;
        S3Error err = ParseS3Error(*resp);
        if (resp->status >= 200 && resp->status < 300 && err.status < 300) {
          err.status = 500;  // an error inside a 200: S3 documents it as retryable
        }
        failure = ToStatus(err, what);
        retryable = IsRetryable(err);
        if (IsExpiredToken(err) && !refreshed_credentials) {
          // Temporary credentials expired early (clock skew, revoked): fetch
          // new ones and try again at once.
          refreshed_credentials = true;
          credentials->Invalidate();
          if (attempt < cfg.max_retries) continue;
        }
      }
      if (!retryable || attempt >= cfg.max_retries) {
        if (attempt == 0) return failure;
        return Status(failure.code(), failure.message() + " (gave up after " +
                                          std::to_string(attempt + 1) + " attempts)");
      }
      auto delay = BackoffDelay(attempt, cfg.backoff_min_ms, cfg.backoff_max_ms);
      log::Warn("s3 request failed, retrying", {{"request", what},
                                                {"attempt", attempt + 1},
                                                {"backoff_ms", static_cast<int64_t>(delay.count())},
                                                {"err", failure.ToString()}});
      std::this_thread::sleep_for(delay);
    }
  }

  Status PutFromFile(const std::string& full_key, int fd, uint64_t size, const std::string& path,
                     const PutOptions& opts) {
    Md5Digest md5;
    Sha256Digest sha;
    SL_RETURN_IF_ERROR(HashFileRange(fd, 0, size, path, &md5, &sha));
    Call call;
    call.method = "PUT";
    call.key = full_key;
    call.headers = UploadHeaders(opts);
    call.headers.emplace_back("Content-MD5", Base64Encode(md5));
    call.body_fd = fd;
    call.body_length = size;
    call.payload_hash = HexEncode(sha);
    return Execute(call).status();
  }

  Status Multipart(const std::string& full_key, int fd, uint64_t size, const std::string& path,
                   const PutOptions& opts) {
    uint64_t part_size = std::max<uint64_t>(cfg.part_size, 1);
    if ((size + part_size - 1) / part_size > kMaxParts)
      part_size = (size + kMaxParts - 1) / kMaxParts;

    Call create;
    create.method = "POST";
    create.key = full_key;
    create.query = {{"uploads", ""}};
    create.headers = UploadHeaders(opts);
    SL_ASSIGN_OR_RETURN(HttpResponse created, Execute(create));
    SL_ASSIGN_OR_RETURN(XmlElement doc, ParseXml(created.body));
    std::string upload_id = doc.ChildText("UploadId");
    if (upload_id.empty()) {
      return InternalError("S3 CreateMultipartUpload " + Describe(full_key) + ": no UploadId");
    }

    auto abort = [&](const Status& cause) {
      Call call;
      call.method = "DELETE";
      call.key = full_key;
      call.query = {{"uploadId", upload_id}};
      Status s = Execute(call).status();
      if (!s.ok()) {
        // The bucket's lifecycle rule for incomplete uploads has to clean up.
        log::Warn("aborting multipart upload failed",
                  {{"key", Describe(full_key)}, {"upload_id", upload_id}, {"err", s.ToString()}});
      }
      return cause;
    };

    std::string complete =
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    uint64_t parts = (size + part_size - 1) / part_size;
    for (uint64_t n = 1; n <= parts; ++n) {
      uint64_t offset = (n - 1) * part_size;
      uint64_t length = std::min(part_size, size - offset);
      Md5Digest md5;
      Sha256Digest sha;
      Status s = HashFileRange(fd, offset, length, path, &md5, &sha);
      if (!s.ok()) return abort(s);
      Call part;
      part.method = "PUT";
      part.key = full_key;
      part.query = {{"partNumber", std::to_string(n)}, {"uploadId", upload_id}};
      part.headers = {{"Content-MD5", Base64Encode(md5)}};
      part.body_fd = fd;
      part.body_offset = offset;
      part.body_length = length;
      part.payload_hash = HexEncode(sha);
      Result<HttpResponse> resp = Execute(part);
      if (!resp.ok()) return abort(resp.status().Annotate("part " + std::to_string(n)));
      std::string etag = resp->Header("etag");
      if (etag.empty()) {
        return abort(InternalError("S3 UploadPart " + Describe(full_key) + " part " +
                                   std::to_string(n) + ": no ETag in response"));
      }
      complete += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" +
                  XmlEscape(etag) + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";

    Call finish;
    finish.method = "POST";
    finish.key = full_key;
    finish.query = {{"uploadId", upload_id}};
    finish.headers = {{"Content-Type", "application/xml"}};
    finish.body = complete;
    finish.payload_hash = HexEncode(Sha256(complete));
    finish.body_may_hold_error = true;
    Status s = Execute(finish).status();
    if (!s.ok()) return abort(s);
    return Status::Ok();
  }
};

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(const S3Config& config) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<CredentialsProvider> creds, ResolveCredentials(config));
  return Open(config, std::move(creds));
}

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(
    const S3Config& config, std::unique_ptr<CredentialsProvider> credentials) {
  if (config.bucket.empty()) return InvalidArgumentError("s3: bucket is required");
  if (credentials == nullptr) return InvalidArgumentError("s3: no credentials provider");
  if (config.max_retries < 0) return InvalidArgumentError("s3: max_retries must be >= 0");
  if (config.sse != "" && config.sse != "AES256") {
    return InvalidArgumentError("s3: sse must be empty or AES256 (SSE-S3), not " + config.sse);
  }
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  SL_ASSIGN_OR_RETURN(impl->ep, ParseEndpoint(config));
  impl->path_style = config.force_path_style || IsIpOrLocalhost(impl->ep.hostname) ||
                     !VirtualHostable(config.bucket, impl->ep.scheme == "https");
  std::string_view prefix = config.prefix;
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (!prefix.empty()) impl->key_prefix = std::string(prefix) + "/";
  if (config.part_size < kMinAwsPartSize && config.endpoint.empty()) {
    log::Warn("s3 part_size is below AWS's 5 MiB minimum; multipart uploads will fail",
              {{"part_size", config.part_size}});
  }
  impl->credentials = std::move(credentials);
  HttpTransportOptions t;
  t.connect_timeout_ms = config.connect_timeout_ms;
  t.request_timeout_ms = config.request_timeout_ms;
  impl->transport = std::make_unique<HttpTransport>(t);
  return std::unique_ptr<S3ObjectStore>(new S3ObjectStore(std::move(impl)));
}

S3ObjectStore::S3ObjectStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3ObjectStore::~S3ObjectStore() = default;

std::string S3ObjectStore::Describe() const {
  std::string out = "s3://" + impl_->cfg.bucket;
  if (!impl_->key_prefix.empty()) {
    out += "/" + impl_->key_prefix.substr(0, impl_->key_prefix.size() - 1);
  }
  return out;
}

std::string S3ObjectStore::UrlFor(std::string_view key) const {
  return impl_->UrlFor(impl_->key_prefix + std::string(key), {});
}

bool S3ObjectStore::path_style() const { return impl_->path_style; }

Status S3ObjectStore::Put(std::string_view key, std::string_view data, const PutOptions& opts) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Impl::Call call;
  call.method = "PUT";
  call.key = impl_->key_prefix + std::string(key);
  call.headers = impl_->UploadHeaders(opts);
  call.headers.emplace_back("Content-MD5", Base64Encode(Md5(data)));
  call.body = data;
  call.payload_hash = HexEncode(Sha256(data));
  return impl_->Execute(call).status();
}

Status S3ObjectStore::PutFile(std::string_view key, const std::string& local_path,
                              const PutOptions& opts) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = "open " + local_path + " for upload: " + std::strerror(err);
    return err == ENOENT ? NotFoundError(msg) : InternalError(msg);
  }
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return InternalError("stat " + local_path + ": " + std::strerror(errno));
  auto size = static_cast<uint64_t>(st.st_size);
  std::string full_key = impl_->key_prefix + std::string(key);
  if (size > 0 && size >= impl_->cfg.multipart_threshold) {
    return impl_->Multipart(full_key, fd, size, local_path, opts);
  }
  return impl_->PutFromFile(full_key, fd, size, local_path, opts);
}

Result<std::string> S3ObjectStore::Get(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Impl::Call call;
  call.method = "GET";
  call.key = impl_->key_prefix + std::string(key);
  SL_ASSIGN_OR_RETURN(HttpResponse resp, impl_->Execute(call));
  return std::move(resp.body);
}

Result<std::string> S3ObjectStore::GetRange(std::string_view key, uint64_t offset,
                                            uint64_t length) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  auto empty_or_out_of_range = [&]() -> Result<std::string> {
    SL_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
    if (offset > info.size) {
      return OutOfRangeError("range offset " + std::to_string(offset) + " beyond size " +
                             std::to_string(info.size) + " of " + std::string(key));
    }
    return std::string();
  };
  // S3 cannot express an empty range, and answers 416 for a range starting at
  // the end of the object: both are settled with a HEAD.
  if (length == 0) return empty_or_out_of_range();
  uint64_t last = length - 1 > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + length - 1;
  Impl::Call call;
  call.method = "GET";
  call.key = impl_->key_prefix + std::string(key);
  call.headers = {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last)}};
  Result<HttpResponse> resp = impl_->Execute(call);
  if (!resp.ok()) {
    if (resp.status().code() == StatusCode::kOutOfRange) return empty_or_out_of_range();
    return resp.status();
  }
  if (resp->status == 206) return std::move(resp->body);
  // 200: the server ignored Range and sent everything.
  if (offset > resp->body.size()) return empty_or_out_of_range();
  return resp->body.substr(offset, length);
}

Result<ObjectInfo> S3ObjectStore::Head(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Impl::Call call;
  call.method = "HEAD";
  call.key = impl_->key_prefix + std::string(key);
  SL_ASSIGN_OR_RETURN(HttpResponse resp, impl_->Execute(call));
  ObjectInfo info;
  info.key = std::string(key);
  std::string length = resp.Header("content-length");
  info.size = length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10);
  if (Result<int64_t> t = ParseHttpDateMs(resp.Header("last-modified")); t.ok()) {
    info.last_modified_ms = *t;
  }
  info.etag = std::string(StripQuotes(resp.Header("etag")));
  info.storage_class = resp.Header("x-amz-storage-class");
  if (info.storage_class.empty()) info.storage_class = "STANDARD";
  return info;
}

Result<ListPage> S3ObjectStore::List(const ListOptions& opts) {
  const std::string& kp = impl_->key_prefix;
  int max_keys = (opts.max_keys < 1 || opts.max_keys > 1000) ? 1000 : opts.max_keys;
  Impl::Call call;
  call.method = "GET";
  call.query = {
      {"list-type", "2"}, {"encoding-type", "url"}, {"max-keys", std::to_string(max_keys)}};
  if (!kp.empty() || !opts.prefix.empty()) call.query.emplace_back("prefix", kp + opts.prefix);
  if (!opts.delimiter.empty()) call.query.emplace_back("delimiter", opts.delimiter);
  if (!opts.start_after.empty()) call.query.emplace_back("start-after", kp + opts.start_after);
  if (!opts.continuation_token.empty()) {
    call.query.emplace_back("continuation-token", opts.continuation_token);
  }
  SL_ASSIGN_OR_RETURN(HttpResponse resp, impl_->Execute(call));
  SL_ASSIGN_OR_RETURN(XmlElement doc, ParseXml(resp.body));
  if (doc.name != "ListBucketResult") {
    return InternalError("S3 ListObjectsV2 " + Describe() + ": unexpected <" + doc.name + ">");
  }
  // With encoding-type=url S3 percent-encodes keys and prefixes and says so;
  // servers that ignore the parameter (s3rver) send them raw.
  bool url_encoded = doc.ChildText("EncodingType") == "url";
  auto decode = [&](const std::string& s) -> Result<std::string> {
    if (!url_encoded) return s;
    return PercentDecode(s, /*plus_is_space=*/true);
  };
  ListPage page;
  for (const XmlElement* c : doc.Children("Contents")) {
    SL_ASSIGN_OR_RETURN(std::string key, decode(c->ChildText("Key")));
    if (!std::string_view(key).starts_with(kp)) continue;
    ObjectInfo info;
    info.key = key.substr(kp.size());
    info.size = std::strtoull(c->ChildText("Size").c_str(), nullptr, 10);
    if (Result<int64_t> t = ParseIso8601Ms(c->ChildText("LastModified")); t.ok()) {
      info.last_modified_ms = *t;
    }
    info.etag = std::string(StripQuotes(c->ChildText("ETag")));
    info.storage_class = c->ChildText("StorageClass");
    if (info.storage_class.empty()) info.storage_class = "STANDARD";
    page.objects.push_back(std::move(info));
  }
  for (const XmlElement* p : doc.Children("CommonPrefixes")) {
    SL_ASSIGN_OR_RETURN(std::string prefix, decode(p->ChildText("Prefix")));
    if (!std::string_view(prefix).starts_with(kp)) continue;
    page.common_prefixes.push_back(prefix.substr(kp.size()));
  }
  if (doc.ChildText("IsTruncated") == "true") {
    page.next_continuation_token = doc.ChildText("NextContinuationToken");
    if (page.next_continuation_token.empty()) {
      return InternalError("S3 ListObjectsV2 " + Describe() +
                           ": truncated listing without NextContinuationToken");
    }
  }
  return page;
}

Status S3ObjectStore::Delete(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Impl::Call call;
  call.method = "DELETE";
  call.key = impl_->key_prefix + std::string(key);
  Status s = impl_->Execute(call).status();
  if (s.code() == StatusCode::kNotFound) return Status::Ok();
  return s;
}

Status S3ObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Status first;
  for (size_t start = 0; start < keys.size(); start += kMaxDeleteBatch) {
    size_t end = std::min(keys.size(), start + kMaxDeleteBatch);
    std::string body =
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
    for (size_t i = start; i < end; ++i) {
      body += "<Object><Key>" + XmlEscape(impl_->key_prefix + keys[i]) + "</Key></Object>";
    }
    body += "</Delete>";
    Impl::Call call;
    call.method = "POST";
    call.query = {{"delete", ""}};
    // S3 requires an integrity header on DeleteObjects.
    call.headers = {{"Content-Type", "application/xml"}, {"Content-MD5", Base64Encode(Md5(body))}};
    call.body = body;
    call.payload_hash = HexEncode(Sha256(body));
    Result<HttpResponse> resp = impl_->Execute(call);
    if (!resp.ok()) {
      if (first.ok()) first = resp.status();
      continue;
    }
    SL_ASSIGN_OR_RETURN(XmlElement doc,
                        ParseXml(resp->body.empty() ? "<DeleteResult/>" : resp->body));
    for (const XmlElement* err : doc.Children("Error")) {
      std::string code = err->ChildText("Code");
      if (code == "NoSuchKey") continue;
      if (first.ok()) {
        S3Error e{500, code, err->ChildText("Message"), ""};
        if (code == "AccessDenied") e.status = 403;
        first = ToStatus(e, "S3 DeleteObjects " + Describe() + " key " + err->ChildText("Key"));
      }
    }
  }
  return first;
}

}  // namespace sightline::io
