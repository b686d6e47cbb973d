// AWS Signature Version 4 (SigV4) request signing, written from AWS's
// specification ("Create a signed AWS API request"), checked against AWS's
// published test suite and against botocore (tests/io).
//
// Signing takes the request as it will be sent and returns the headers to add
// (Authorization, X-Amz-Date, X-Amz-Security-Token, and for S3
// X-Amz-Content-SHA256), plus the intermediate strings for debugging.
//
// Paths and query parameters are given decoded; the signer percent-encodes
// them with AWS's rules (UriEncode: everything but A-Z a-z 0-9 - _ . ~ is
// %XX, uppercase hex) and callers must put exactly the same encoded strings
// on the wire (CanonicalUri / CanonicalQueryString below). For S3 the path
// is encoded once and not normalized; for other services "." and ".."
// segments and repeated slashes are removed first (SigV4Options).
// Services that want the path encoded twice are not supported (we call none).
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sightline::io {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

struct SigV4Request {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // the Host header as sent: "bucket.s3.amazonaws.com", "127.0.0.1:9000"
  std::string path;    // decoded, starting with '/'
  std::vector<std::pair<std::string, std::string>> query;    // decoded name/value pairs
  std::vector<std::pair<std::string, std::string>> headers;  // signed: every header given
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
};

struct SigV4Options {
  std::string region = "us-east-1";
  std::string service = "s3";
  // The defaults are S3's rules: the path is encoded once and not normalized,
  // and the payload hash is sent (and signed) as X-Amz-Content-SHA256, which
  // S3 requires (s3rver too). Other services normalize the path and do not
  // need the header.
  bool normalize_path = false;
  bool add_payload_hash_header = true;

  static SigV4Options ForService(std::string region, std::string service) {
    SigV4Options o;
    o.region = std::move(region);
    o.service = std::move(service);
    o.normalize_path = true;
    o.add_payload_hash_header = false;
    return o;
  }
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header value
  // Headers to add to the request, including Authorization.
  std::vector<std::pair<std::string, std::string>> headers;
};

// `amz_date` is "YYYYMMDDTHHMMSSZ" (FormatAmzDate).
SigV4Signature SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                      const SigV4Options& options, std::string_view amz_date);

std::string FormatAmzDate(std::chrono::system_clock::time_point t);

// AWS's UriEncode(); '/' is kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);
// The encoded path as signed (and to be sent): UriEncode(path, true), after
// removing dot segments and repeated slashes when `normalize`.
std::string CanonicalUri(std::string_view path, bool normalize);
// Encoded "name=value&..." sorted by encoded name, then value; also the query
// string to send.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace sightline::io
