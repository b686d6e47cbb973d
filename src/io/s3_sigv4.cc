#include "io/s3_sigv4.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "io/crypto.h"

namespace sightline::io {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The spec's Trimall: strip leading/trailing spaces, collapse runs of spaces
// into one. (Tabs are treated as spaces too, as botocore does.)
std::string TrimAll(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// RFC 3986 section 5.2.4 dot-segment removal plus collapsing of empty
// segments, as AWS normalizes paths for services other than S3.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    start = end + 1;
  }
  std::string result;
  for (std::string_view seg : out) {
    result += '/';
    result += seg;
  }
  // Keep a trailing slash, as botocore does (a final dot segment drops it).
  bool trailing = !path.empty() && !out.empty() && path.back() == '/';
  if (result.empty() || trailing) result += '/';
  return result;
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return UriEncode(path, /*keep_slash=*/true);
  return UriEncode(NormalizePath(path), /*keep_slash=*/true);
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signature SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                      const SigV4Options& options, std::string_view amz_date) {
  SigV4Signature sig;
  // Headers we add are signed too (S3 requires every x-amz-* header signed).
  std::vector<std::pair<std::string, std::string>> added;
  added.emplace_back("X-Amz-Date", std::string(amz_date));
  if (!credentials.session_token.empty()) {
    added.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  if (options.add_payload_hash_header) {
    added.emplace_back("X-Amz-Content-SHA256", request.payload_hash);
  }

  // name -> values in request order; duplicates join with ','.
  std::map<std::string, std::vector<std::string>> headers;
  bool has_host = false;
  auto add_header = [&](std::string_view name, std::string_view value) {
    std::string lname = Lower(TrimAll(name));
    if (lname == "host") has_host = true;
    headers[lname].push_back(TrimAll(value));
  };
  for (const auto& [name, value] : request.headers) {
    std::string lname = Lower(name);
    // Ours replace any the caller set, so that exactly one of each is sent.
    if (lname == "x-amz-date" || lname == "authorization" ||
        (lname == "x-amz-security-token" && !credentials.session_token.empty()) ||
        (lname == "x-amz-content-sha256" && options.add_payload_hash_header)) {
      continue;
    }
    add_header(name, value);
  }
  for (const auto& [name, value] : added) add_header(name, value);
  if (!has_host) add_header("host", request.host);

  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, values] : headers) {
    canonical_headers += name;
    canonical_headers += ':';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers += ',';
      canonical_headers += values[i];
    }
    canonical_headers += '\n';
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  sig.canonical_request = request.method + "\n" +
                          CanonicalUri(request.path, options.normalize_path) + "\n" +
                          CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + request.payload_hash;

  std::string date(amz_date.substr(0, 8));
  std::string scope = date + "/" + options.region + "/" + options.service + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" +
                       HexEncode(Sha256(sig.canonical_request));

  auto as_view = [](const Sha256Digest& d) {
    return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
  };
  Sha256Digest k_date = HmacSha256("AWS4" + credentials.secret_access_key, date);
  Sha256Digest k_region = HmacSha256(as_view(k_date), options.region);
  Sha256Digest k_service = HmacSha256(as_view(k_region), options.service);
  Sha256Digest k_signing = HmacSha256(as_view(k_service), "aws4_request");
  sig.signature = HexEncode(HmacSha256(as_view(k_signing), sig.string_to_sign));

  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  sig.headers = std::move(added);
  sig.headers.emplace_back("Authorization", sig.authorization);
  return sig;
}

}  // namespace sightline::io
