// Hashes and encodings the object stores need: MD5 (S3 ETags and
// Content-MD5), SHA-256 and HMAC-SHA-256 (SigV4), hex and base64.
//
// Backed by OpenSSL's EVP interface; OpenSSL stays out of this header.
// Thread-safety: free functions are reentrant; a hasher object belongs to one
// thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sightline::io {

using Md5Digest = std::array<uint8_t, 16>;
using Sha256Digest = std::array<uint8_t, 32>;

Md5Digest Md5(std::string_view data);
Sha256Digest Sha256(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// Lowercase hex.
std::string HexEncode(const uint8_t* data, size_t size);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& digest) {
  return HexEncode(digest.data(), N);
}
std::string Base64Encode(const uint8_t* data, size_t size);
template <size_t N>
std::string Base64Encode(const std::array<uint8_t, N>& digest) {
  return Base64Encode(digest.data(), N);
}

// Incremental MD5 and SHA-256 together: an upload needs both (Content-MD5 and
// x-amz-content-sha256), and a file is read once for both.
class StreamingHasher {
 public:
  StreamingHasher();
  ~StreamingHasher();
  StreamingHasher(const StreamingHasher&) = delete;
  StreamingHasher& operator=(const StreamingHasher&) = delete;

  void Update(std::string_view data);
  // Call once; the hasher is spent afterwards.
  void Finish(Md5Digest* md5, Sha256Digest* sha256);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Incremental MD5 only (the filesystem backend's ETag).
class Md5Hasher {
 public:
  Md5Hasher();
  ~Md5Hasher();
  Md5Hasher(const Md5Hasher&) = delete;
  Md5Hasher& operator=(const Md5Hasher&) = delete;
  void Update(std::string_view data);
  Md5Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::io
