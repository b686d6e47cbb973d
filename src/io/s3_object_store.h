// S3ObjectStore: the ObjectStore on Amazon S3 (or any S3-compatible service:
// MinIO, s3rver), over libcurl with our own SigV4 signer.
//
// Requests: PutObject (Content-MD5, storage class, SSE-S3), multipart upload
// for PutFile at or above S3Config::multipart_threshold (parts read from the
// file one at a time, aborted on failure), GetObject with Range, HeadObject,
// ListObjectsV2 (encoding-type=url), DeleteObject, DeleteObjects (batches of
// 1000). Every request carries X-Amz-Content-SHA256 with the real payload
// hash.
//
// Transient failures (connection errors, timeouts, HTTP 5xx and 429, and the
// error codes SlowDown, RequestTimeout, InternalError, Throttling...) are
// retried S3Config::max_retries times with capped exponential backoff and
// full jitter; an ExpiredToken answer makes the credentials provider refresh
// once. Errors are mapped as object_store.h describes; the message carries
// the HTTP status, S3 error code, message and request id.
//
// Thread-safety: safe for concurrent use; requests from different threads use
// different curl handles from a pool.
#pragma once

#include <memory>
#include <string>

#include "io/object_store.h"
#include "io/storage_config.h"

namespace sightline::io {

class CredentialsProvider;

class S3ObjectStore final : public ObjectStore {
 public:
  // Resolves credentials with ResolveCredentials() (s3_credentials.h).
  static Result<std::unique_ptr<S3ObjectStore>> Open(const S3Config& config);
  static Result<std::unique_ptr<S3ObjectStore>> Open(
      const S3Config& config, std::unique_ptr<CredentialsProvider> credentials);
  ~S3ObjectStore() override;

  Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) override;
  Status PutFile(std::string_view key, const std::string& local_path,
                 const PutOptions& opts = {}) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& opts) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override;

  // The URL an object key maps to (addressing style, prefix, encoding);
  // exposed for tests and logs.
  std::string UrlFor(std::string_view key) const;
  bool path_style() const;

 private:
  struct Impl;
  explicit S3ObjectStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::io
