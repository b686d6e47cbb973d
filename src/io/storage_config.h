// StorageConfig: which object store to open, and how. A plain struct: the
// config module fills it from YAML and flags; OpenObjectStore() turns it into
// an ObjectStore. Defaults follow DESIGN.md (filesystem by default) and AWS's
// SDKs (region, retries). docs/object-storage.md explains every field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "io/object_store.h"

namespace sightline::io {

struct S3Config {
  // Empty: AWS, https://s3.<region>.amazonaws.com. Otherwise a URL such as
  // "http://127.0.0.1:9000" (MinIO, s3rver); "https://" is assumed without a
  // scheme.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Key prefix inside the bucket ("tenant-a/metrics"); '/'-terminated
  // automatically. Keys seen by callers never include it.
  std::string prefix;
  // Virtual-host addressing (https://bucket.host/key) is the default, as AWS
  // requires for new buckets. Path-style (https://host/bucket/key) is used
  // when this is set (typical for custom endpoints), when the endpoint host
  // is an IP address or "localhost", and when the bucket name is not a valid
  // DNS label.
  bool force_path_style = false;

  // Credentials: explicit values here win; otherwise the chain in
  // s3_credentials.h (environment, IRSA web identity, shared credentials
  // file).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;

  // Default storage class for uploads (PutOptions::storage_class wins), e.g.
  // STANDARD, STANDARD_IA, GLACIER_IR, INTELLIGENT_TIERING. Empty: bucket
  // default (STANDARD).
  std::string storage_class;
  // Server-side encryption: "" (bucket default) or "AES256" (SSE-S3).
  std::string sse;

  // PutFile uses a multipart upload for files of at least this size. AWS
  // requires parts of at least 5 MiB (except the last).
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;

  // Retries of one request after transient failures (connection errors,
  // timeouts, HTTP 5xx and 429, SlowDown and friends): capped exponential
  // backoff with full jitter, sleep = uniform(0, min(max, min * 2^attempt)).
  int max_retries = 5;
  int backoff_min_ms = 100;
  int backoff_max_ms = 20000;
  int connect_timeout_ms = 10000;
  // Whole-request limit; 0 disables it. Transfers that stall (under 1 KiB/s
  // for 30 s) fail independently of this.
  int request_timeout_ms = 300000;

  // STS endpoint for AssumeRoleWithWebIdentity (IRSA). Empty:
  // https://sts.<region>.amazonaws.com. Tests point it at a fake.
  std::string sts_endpoint;
};

struct StorageConfig {
  std::string backend = "filesystem";  // "filesystem", "s3" or "memory"
  std::string filesystem_path;
  S3Config s3;
};

// Opens the configured backend, wrapped so that every call is counted in
// Thanos's thanos_objstore_bucket_* metrics (instrumented_object_store.h).
// InvalidArgument for an unknown backend or missing required fields;
// FailedPrecondition when S3 credentials cannot be found.
Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const StorageConfig& config);

}  // namespace sightline::io
