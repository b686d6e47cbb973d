#include "metrics/scrape/http_fetcher.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

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
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
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

// A secret file's content without surrounding whitespace (Prometheus
// trims it too).
Result<std::string> ReadSecretFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UnavailableError(
        fmt::format("unable to read {} file {}: {}", what, path, std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  size_t b = v.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return std::string();
  size_t e = v.find_last_not_of(" \t\r\n");
  return v.substr(b, e - b + 1);
}

// "scheme://host:port/path": the host:port part (bracketed IPv6 kept).
std::string_view Authority(std::string_view url) {
  size_t start = url.find("://");
  if (start == std::string_view::npos) return {};
  start += 3;
  size_t end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

long TlsVersion(const std::string& v, bool max) {
  if (max) {
    if (v == "TLS10") return CURL_SSLVERSION_MAX_TLSv1_0;
    if (v == "TLS11") return CURL_SSLVERSION_MAX_TLSv1_1;
    if (v == "TLS12") return CURL_SSLVERSION_MAX_TLSv1_2;
    if (v == "TLS13") return CURL_SSLVERSION_MAX_TLSv1_3;
    return CURL_SSLVERSION_MAX_DEFAULT;
  }
  if (v == "TLS10") return CURL_SSLVERSION_TLSv1_0;
  if (v == "TLS11") return CURL_SSLVERSION_TLSv1_1;
  if (v == "TLS13") return CURL_SSLVERSION_TLSv1_3;
  // Go's default minimum is TLS 1.2.
  return CURL_SSLVERSION_TLSv1_2;
}

// The TLS settings a request shares with the token request.
void ApplyTls(CURL* c, const TlsConfig& tls) {
  if (!tls.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, tls.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, tls.key_file.c_str());
  }
  if (tls.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(c, CURLOPT_SSLVERSION,
                   TlsVersion(tls.min_version, false) | TlsVersion(tls.max_version, true));
}

std::string FormEscape(CURL* c, const std::string& s) {
  char* e = curl_easy_escape(c, s.data(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

// Go's url.QueryEscape: curl's escaping with spaces as '+'.
std::string QueryEscape(CURL* c, const std::string& s) {
  std::string e = FormEscape(c, s);
  std::string out;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e.compare(i, 3, "%20") == 0) {
      out += '+';
      i += 2;
    } else {
      out += e[i];
    }
  }
  return out;
}

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() > (1u << 20)) return 0;  // a token response is small
  body->append(data, size * n);
  return size * n;
}

// Go's oauth2 Token.Type().
std::string TokenType(std::string t) {
  std::string lower = t;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "bearer" || t.empty()) return "Bearer";
  if (lower == "mac") return "MAC";
  if (lower == "basic") return "Basic";
  return t;
}

struct Token {
  std::string access_token;
  std::string token_type;
  int64_t expires_in_s = 0;  // 0: does not expire
};

// A token response: JSON, or form-encoded (some servers answer that).
Result<Token> ParseToken(CURL* c, const std::string& body, const std::string& content_type) {
  Token t;
  if (content_type.find("application/x-www-form-urlencoded") != std::string::npos ||
      content_type.find("text/plain") != std::string::npos) {
    size_t pos = 0;
    while (pos <= body.size()) {
      size_t amp = body.find('&', pos);
      std::string kv = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      size_t eq = kv.find('=');
      std::string k = kv.substr(0, eq);
      std::string v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      for (char& ch : v) ch = ch == '+' ? ' ' : ch;
      int len = 0;
      char* un = curl_easy_unescape(c, v.data(), static_cast<int>(v.size()), &len);
      v.assign(un != nullptr ? un : "", static_cast<size_t>(un != nullptr ? len : 0));
      curl_free(un);
      if (k == "access_token") t.access_token = v;
      if (k == "token_type") t.token_type = v;
      if (k == "expires_in") t.expires_in_s = std::atoll(v.c_str());
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
  } else {
    try {
      YAML::Node j = YAML::Load(body);  // JSON is YAML
      if (!j.IsMap()) return UnavailableError("oauth2: cannot parse json: not an object");
      if (j["access_token"]) t.access_token = j["access_token"].as<std::string>("");
      if (j["token_type"]) t.token_type = j["token_type"].as<std::string>("");
      if (j["expires_in"]) t.expires_in_s = j["expires_in"].as<int64_t>(0);
    } catch (const YAML::Exception& e) {
      return UnavailableError(std::string("oauth2: cannot parse json: ") + e.what());
    }
  }
  if (t.access_token.empty())
    return UnavailableError("oauth2: server response missing access_token");
  return t;
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::string> HttpFetcher::OAuth2Header(std::chrono::milliseconds timeout) {
  const OAuth2& o = client_.oauth2;
  std::string secret = o.client_secret;
  if (!o.client_secret_file.empty()) {
    SL_ASSIGN_OR_RETURN(secret, ReadSecretFile(o.client_secret_file, "oauth2 client secret"));
  }
  const int64_t now = SteadyNs();
  if (!token_header_.empty() && secret == token_secret_ &&
      (token_refresh_ns_ == 0 || now < token_refresh_ns_)) {
    return token_header_;
  }
  if (token_curl_ == nullptr) token_curl_ = curl_easy_init();
  CURL* c = static_cast<CURL*>(token_curl_);
  if (c == nullptr) return InternalError("curl_easy_init failed");
  // Go's oauth2 AutoDetect: client credentials in a Basic header first; if
  // the server refuses, in the form (and remember that).
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool in_params = token_auth_in_params_ || attempt == 1;
    curl_easy_reset(c);
    std::string form = "grant_type=client_credentials";
    if (!o.scopes.empty()) {
      std::string scope;
      for (const std::string& sc : o.scopes) scope += (scope.empty() ? "" : " ") + sc;
      form += "&scope=" + QueryEscape(c, scope);
    }
    for (const auto& [k, v] : o.endpoint_params) {
      if (k == "grant_type") {
        form = "grant_type=" + QueryEscape(c, v) +
               form.substr(form.find('&') == std::string::npos ? form.size() : form.find('&'));
        continue;
      }
      form += "&" + QueryEscape(c, k) + "=" + QueryEscape(c, v);
    }
    std::string user, pass;
    if (in_params) {
      form +=
          "&client_id=" + QueryEscape(c, o.client_id) + "&client_secret=" + QueryEscape(c, secret);
    } else {
      user = QueryEscape(c, o.client_id);
      pass = QueryEscape(c, secret);
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, pass.c_str());
    }
    std::string body, content_type;
    curl_slist* headers =
        curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(c, CURLOPT_URL, o.token_url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, o.proxy_url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &WriteHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &content_type);
    ApplyTls(c, o.tls_config);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return UnavailableError(fmt::format("oauth2: cannot fetch token: Post \"{}\": {}",
                                          o.token_url, curl_easy_strerror(rc)));
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      std::string_view reason = ReasonPhrase(code);
      last = UnavailableError(fmt::format("oauth2: cannot fetch token: {}{}{}\nResponse: {}", code,
                                          reason.empty() ? "" : " ", reason, body));
      if (in_params) return last;
      continue;  // try the credentials in the form
    }
    SL_ASSIGN_OR_RETURN(Token t, ParseToken(c, body, content_type));
    token_auth_in_params_ = in_params;
    token_secret_ = secret;
    token_header_ = "Authorization: " + TokenType(t.token_type) + " " + t.access_token;
    // Go's oauth2 treats a token as expired 10 s before its expiry.
    token_refresh_ns_ = t.expires_in_s > 0 ? now + (t.expires_in_s - 10) * 1000000000LL : 0;
    if (token_refresh_ns_ != 0 && token_refresh_ns_ <= now) token_refresh_ns_ = now;  // every time
    return token_header_;
  }
  return last;
}

HttpFetcher::HttpFetcher(std::string url, uint64_t body_size_limit, HttpClientConfig client)
    : url_(std::move(url)), body_size_limit_(body_size_limit), client_(std::move(client)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpFetcher::~HttpFetcher() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (token_curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(token_curl_));
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
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, client_.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);  // Go's http.Client stops after 10
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                   client_.enable_http2 ? static_cast<long>(CURL_HTTP_VERSION_2TLS)
                                        : static_cast<long>(CURL_HTTP_VERSION_1_1));
  // "" turns off libcurl's use of http_proxy & co: Prometheus 2.42 uses a
  // proxy only when proxy_url says so.
  curl_easy_setopt(c, CURLOPT_PROXY, client_.proxy_url.c_str());
  std::vector<std::string> proxy_header_lines;
  curl_slist* proxy_headers = nullptr;
  for (const auto& [name, values] : client_.proxy_connect_header) {
    for (const std::string& v : values) {
      proxy_header_lines.push_back(name + ": " + v);
      proxy_headers = curl_slist_append(proxy_headers, proxy_header_lines.back().c_str());
    }
  }
  if (proxy_headers != nullptr) {
    curl_easy_setopt(c, CURLOPT_HEADEROPT, static_cast<long>(CURLHEADER_SEPARATE));
    curl_easy_setopt(c, CURLOPT_PROXYHEADER, proxy_headers);
  }
  struct FreeList {
    curl_slist* l;
    ~FreeList() { curl_slist_free_all(l); }
  } free_proxy_headers{proxy_headers};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.content_type);

  std::string password, auth_header, request_url, connect_to, host_header;
  curl_slist* connect_to_list = nullptr;
  if (client_.has_basic_auth) {
    password = client_.basic_auth.password;
    if (!client_.basic_auth.password_file.empty()) {
      auto p = ReadSecretFile(client_.basic_auth.password_file, "basic auth password");
      if (!p.ok()) {
        curl_slist_free_all(headers);
        return p.status();
      }
      password = *p;
    }
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, client_.basic_auth.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  if (client_.has_authorization) {
    std::string credentials = client_.authorization.credentials;
    if (!client_.authorization.credentials_file.empty()) {
      auto cr = ReadSecretFile(client_.authorization.credentials_file, "authorization credentials");
      if (!cr.ok()) {
        curl_slist_free_all(headers);
        return cr.status();
      }
      credentials = *cr;
    }
    auth_header = "Authorization: " + client_.authorization.type + " " + credentials;
    headers = curl_slist_append(headers, auth_header.c_str());
  }
  if (client_.has_oauth2) {
    auto h = OAuth2Header(timeout);
    if (!h.ok()) {
      curl_slist_free_all(headers);
      return UnavailableError(fmt::format("Get \"{}\": {}", url_, h.status().message()));
    }
    auth_header = *h;
    headers = curl_slist_append(headers, auth_header.c_str());
  }
  const TlsConfig& tls = client_.tls_config;
  ApplyTls(c, tls);
  if (!tls.server_name.empty() && url_.rfind("https://", 0) == 0) {
    // Ask for https://<server_name>:<port>/... (SNI and the certificate
    // check use it) but connect to the target's address, with its Host.
    std::string_view authority = Authority(url_);
    size_t colon = authority.rfind(':');
    std::string host(authority), port = "443";
    if (colon != std::string_view::npos &&
        authority.find(']', colon) == std::string_view::npos) {
      host = std::string(authority.substr(0, colon));
      port = std::string(authority.substr(colon + 1));
    }
    request_url = "https://" + tls.server_name + ":" + port +
                  url_.substr(8 + authority.size());
    connect_to = tls.server_name + ":" + port + ":" + host + ":" + port;
    connect_to_list = curl_slist_append(nullptr, connect_to.c_str());
    curl_easy_setopt(c, CURLOPT_URL, request_url.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to_list);
    host_header = "Host: " + std::string(authority);
    headers = curl_slist_append(headers, host_header.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(connect_to_list);
  curl_slist_free_all(headers);
  if (sink.over) {
    return ResourceExhaustedError(
        fmt::format("body size limit exceeded (limit: {} bytes)", body_size_limit_));
  }
  if (rc == CURLE_TOO_MANY_REDIRECTS) {
    return UnavailableError(fmt::format("Get \"{}\": stopped after 10 redirects", url_));
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
