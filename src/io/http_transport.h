// HttpTransport: blocking HTTP(S) requests over libcurl for the S3 backend
// and the STS client. One attempt per call: retrying is the caller's policy
// (s3_object_store.cc). Keeps a small pool of curl easy handles, so that
// connections (and TLS sessions) are reused across requests and threads.
//
// Errors: a request that got any HTTP response returns it, whatever the
// status code. Without a response: Unavailable (connect/send/receive
// failures), DeadlineExceeded (timeouts), InvalidArgument (malformed URL),
// Internal (other curl errors). HttpError::retryable says whether another
// attempt may succeed.
//
// Thread-safety: Do() may be called concurrently; each call borrows its own
// handle. curl_global_init runs once per process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sightline::io {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;             // fully encoded
  std::vector<std::pair<std::string, std::string>> headers;
  // Body: either in memory, or a byte range of an open file (read with pread,
  // so a retry can send it again).
  std::string_view body;
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;

  // First header with this lowercase name, or "".
  std::string Header(std::string_view lower_name) const;
};

struct HttpTransportOptions {
  int connect_timeout_ms = 10000;
  int request_timeout_ms = 300000;  // 0: none
  size_t max_idle_handles = 16;
};

class HttpTransport {
 public:
  explicit HttpTransport(HttpTransportOptions opts = {});
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // On failure without a response, *retryable (if given) tells whether the
  // failure is transient (connection refused/reset, timeout, ...).
  Result<HttpResponse> Do(const HttpRequest& request, bool* retryable = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::io
