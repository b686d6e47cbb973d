// HttpFetcher: GETs a scrape target's exposition with libcurl, as
// Prometheus's scraper does: Accept negotiation (OpenMetrics first, then the
// text format), Accept-Encoding gzip (decompressed here), the
// X-Prometheus-Scrape-Timeout-Seconds header, a timeout for the whole
// request, and a limit on the decompressed body (body_size_limit).
//
// Errors (the target's lastError): Unavailable for connection failures and
// non-2xx statuses ("server returned HTTP status 500 Internal Server
// Error"), DeadlineExceeded on timeout ("context deadline exceeded"),
// ResourceExhausted for "body size limit exceeded".
//
// HTTP client settings (scrape_config.h HttpClientConfig): basic_auth and
// authorization headers (password_file / credentials_file read at every
// fetch), TLS with a CA file, a client certificate, server_name (SNI and
// the verified name; the connection still goes to the target's address) and
// insecure_skip_verify, min_version/max_version, all through libcurl's
// options. oauth2: the client-credentials token is fetched from token_url
// (Basic client authentication first, the credentials in the form if the
// server refuses that, as Go's oauth2 AutoDetect does), cached until 10 s
// before expires_in, fetched again when client_secret_file changes, and
// sent as "Authorization: <type> <token>"; a failed token request fails the
// scrape ("oauth2: cannot fetch token: 401 Unauthorized ..."). proxy_url
// sends the request through an HTTP proxy (CONNECT for https targets, with
// proxy_connect_header); without it the environment's proxy variables are
// ignored, as in Prometheus 2.42. follow_redirects (default on, at most 10)
// and enable_http2 (HTTP/2 over TLS when the server offers it).
//
// Thread-safety: one fetcher per scrape loop; Fetch is not reentrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "metrics/scrape/scrape_config.h"
#include "metrics/scrape/scrape_loop.h"

namespace sightline::metrics::scrape {

class HttpFetcher {
 public:
  HttpFetcher(std::string url, uint64_t body_size_limit, HttpClientConfig client = {});
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  Result<FetchResult> Fetch(std::chrono::milliseconds timeout);
  const std::string& url() const { return url_; }

 private:
  // "Authorization: <type> <token>" for oauth2, from the cache or a new
  // token request.
  Result<std::string> OAuth2Header(std::chrono::milliseconds timeout);

  std::string url_;
  uint64_t body_size_limit_;
  HttpClientConfig client_;
  void* curl_ = nullptr;        // CURL*, reused for keep-alive
  void* token_curl_ = nullptr;  // CURL* of the token requests
  // The cached oauth2 token, the secret it was fetched with, and when it
  // must be fetched again (steady clock ns; 0: never).
  std::string token_header_;
  std::string token_secret_;
  int64_t token_refresh_ns_ = 0;
  bool token_auth_in_params_ = false;  // the server refused Basic client auth
};

}  // namespace sightline::metrics::scrape
