#include "io/http_transport.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace sightline::io {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Exchange {
  const HttpRequest* request;
  HttpResponse* response;
  uint64_t sent = 0;
  int read_errno = 0;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  ex->response->body.append(data, size * nmemb);
  return size * nmemb;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * nmemb);
  if (line.starts_with("HTTP/")) {
    // A new response (after "100 Continue" or a redirect): drop earlier headers.
    ex->response->headers.clear();
    return line.size();
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    ex->response->headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                       std::string(Trim(line.substr(colon + 1))));
  }
  return line.size();
}

size_t ReadBody(char* buffer, size_t size, size_t nitems, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const HttpRequest& req = *ex->request;
  size_t want = size * nitems;
  if (req.body_fd >= 0) {
    uint64_t left = req.body_length - ex->sent;
    size_t n = static_cast<size_t>(std::min<uint64_t>(want, left));
    if (n == 0) return 0;
    ssize_t got;
    do {
      got = ::pread(req.body_fd, buffer, n, static_cast<off_t>(req.body_offset + ex->sent));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      ex->read_errno = got < 0 ? errno : EIO;  // a file that shrank is an I/O error here
      return CURL_READFUNC_ABORT;
    }
    ex->sent += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
  size_t n = std::min<size_t>(want, req.body.size() - ex->sent);
  std::memcpy(buffer, req.body.data() + ex->sent, n);
  ex->sent += n;
  return n;
}

// Rewinds the body when curl must send it again (e.g. after a redirect or an
// auth retry on a reused connection).
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* ex = static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  ex->sent = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool IsRetryableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string HttpResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

struct HttpTransport::Impl {
  HttpTransportOptions opts;
  std::mutex mu;
  std::vector<CURL*> idle;

  CURL* Acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h) {
    std::lock_guard lock(mu);
    if (idle.size() < opts.max_idle_handles) {
      idle.push_back(h);
    } else {
      curl_easy_cleanup(h);
    }
  }

  ~Impl() {
    for (CURL* h : idle) curl_easy_cleanup(h);
  }
};

HttpTransport::HttpTransport(HttpTransportOptions opts) : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->opts = opts;
}

HttpTransport::~HttpTransport() = default;

Result<HttpResponse> HttpTransport::Do(const HttpRequest& request, bool* retryable) {
  if (retryable) *retryable = false;
  CURL* h = impl_->Acquire();
  if (h == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_reset(h);  // keeps the connection cache, drops the last request's options

  HttpResponse response;
  Exchange ex{&request, &response};
  char error_buf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);    // we are multi-threaded
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // the path is signed as sent
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(impl_->opts.connect_timeout_ms));
  if (impl_->opts.request_timeout_ms > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(impl_->opts.request_timeout_ms));
  }
  // A transfer that stalls fails even when the overall timeout is generous.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);

  uint64_t body_size = request.body_fd >= 0 ? request.body_length : request.body.size();
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(h, CURLOPT_READDATA, &ex);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &ex);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    if (request.method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  struct curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    std::string line;
    line.reserve(name.size() + value.size() + 2);
    line.append(name).append(": ").append(value);
    headers = curl_slist_append(headers, line.c_str());
  }
  // No "Expect: 100-continue" round trip, and no default Accept/Content-Type
  // that the signature does not cover.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Accept:");
  bool has_type = false;
  for (const auto& [name, value] : request.headers) {
    if (Lower(name) == "content-type") has_type = true;
  }
  if (!has_type) headers = curl_slist_append(headers, "Content-Type:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  CURLcode code = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  impl_->Release(h);

  if (code != CURLE_OK) {
    std::string detail = error_buf[0] ? error_buf : curl_easy_strerror(code);
    std::string msg = request.method + " " + request.url + ": " + detail;
    if (code == CURLE_ABORTED_BY_CALLBACK || ex.read_errno != 0) {
      return InternalError(msg + " (reading upload body: " + std::strerror(ex.read_errno) + ")");
    }
    if (retryable) *retryable = IsRetryableCurlError(code);
    if (code == CURLE_OPERATION_TIMEDOUT) return DeadlineExceededError(msg);
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      return InvalidArgumentError(msg);
    }
    if (IsRetryableCurlError(code)) return UnavailableError(msg);
    return InternalError(msg);
  }
  response.status = status;
  return response;
}

}  // namespace sightline::io
