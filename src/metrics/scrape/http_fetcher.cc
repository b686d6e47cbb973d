#include "metrics/scrape/http_fetcher.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <cctype>
#include <mutex>

#include "config/version.h"  // generated
#include "metrics/scrape/textparse.h"

namespace sightline::metrics::scrape {

namespace {

struct Sink {
  std::string* body;
  uint64_t limit;
  bool over = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  if (sink->limit > 0 && sink->body->size() + len > sink->limit) {
    sink->over = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, len);
  return len;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* ct = static_cast<std::string*>(user);
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "content-type:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
        v.remove_suffix(1);
      }
      ct->assign(v);
    }
  }
  return size * n;
}

std::string_view ReasonPhrase(long code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace

HttpFetcher::HttpFetcher(std::string url, uint64_t body_size_limit)
    : url_(std::move(url)), body_size_limit_(body_size_limit) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpFetcher::~HttpFetcher() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<FetchResult> HttpFetcher::Fetch(std::chrono::milliseconds timeout) {
  if (curl_ == nullptr) curl_ = curl_easy_init();
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_reset(c);
  FetchResult out;
  Sink sink{&out.body, body_size_limit_};
  std::string timeout_header = fmt::format("X-Prometheus-Scrape-Timeout-Seconds: {}",
                                           static_cast<double>(timeout.count()) / 1000.0);
  std::string accept = "Accept: " + std::string(kScrapeAcceptHeader);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, accept.c_str());
  headers = curl_slist_append(headers, timeout_header.c_str());
  std::string ua = std::string("Sightline/") + kVersion;
  curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, ua.c_str());
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.content_type);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (sink.over) {
    return ResourceExhaustedError(
        fmt::format("body size limit exceeded (limit: {} bytes)", body_size_limit_));
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return DeadlineExceededError(fmt::format("Get \"{}\": context deadline exceeded", url_));
  }
  if (rc != CURLE_OK) {
    return UnavailableError(fmt::format("Get \"{}\": {}", url_, curl_easy_strerror(rc)));
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    std::string_view reason = ReasonPhrase(code);
    return UnavailableError(
        fmt::format("server returned HTTP status {}{}{}", code, reason.empty() ? "" : " ", reason));
  }
  return out;
}

}  // namespace sightline::metrics::scrape
