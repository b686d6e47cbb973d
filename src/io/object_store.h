// ObjectStore: the durable tier (DESIGN.md §5). Blocks of every signal are
// written to and read from an ObjectStore; nothing else in Sightline talks to
// S3 or to the block directory on disk directly.
//
// Semantics are S3's, whatever the backend:
//  - Keys are '/'-separated UTF-8 strings. There are no directories: "a/b"
//    and "a/c" simply share the prefix "a/". See ValidateObjectKey() for the
//    keys every backend accepts.
//  - A Put replaces the whole object atomically: a reader sees either the old
//    or the new content, never a mix, and never a partial upload.
//  - List returns keys in ascending byte order, ListObjectsV2-style: prefix,
//    delimiter (roll-up into common prefixes), start_after, continuation
//    tokens and max_keys (keys + common prefixes per page, at most 1000).
//  - Deleting a missing key succeeds.
//
// Errors (Status codes):
//  - NotFound: Get/GetRange/Head of a missing key.
//  - InvalidArgument: a key that ValidateObjectKey() rejects, bad options.
//  - OutOfRange: GetRange with offset > object size.
//  - PermissionDenied / Unauthenticated: the backend refused our identity.
//  - FailedPrecondition: misconfiguration (missing bucket, a filesystem key
//    that collides with a "directory" of other keys).
//  - Unavailable / DeadlineExceeded: transient; the S3 backend has already
//    retried (storage_config.h); callers may retry later.
//
// Thread-safety: every implementation is safe for concurrent use from any
// number of threads. Results are values owned by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sightline::io {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t last_modified_ms = 0;  // Unix epoch milliseconds
  // Lowercase hex MD5 of the content for objects written in one piece (all
  // backends); S3 multipart objects carry S3's "<md5 of part md5s>-<parts>".
  std::string etag;
  std::string storage_class;  // "STANDARD" when none was set
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;  // usually "/" or empty (recursive listing)
  std::string start_after;
  std::string continuation_token;  // from a previous page; opaque
  int max_keys = 1000;             // values outside [1, 1000] mean 1000
};

struct ListPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;
  std::string next_continuation_token;  // empty: last page
};

struct PutOptions {
  std::string storage_class;  // empty: the store's default (STANDARD)
  std::string content_type;   // empty: application/octet-stream
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) = 0;
  // Uploads the file at `local_path` without reading it into memory at once;
  // the S3 backend switches to a multipart upload above its threshold.
  virtual Status PutFile(std::string_view key, const std::string& local_path,
                         const PutOptions& opts = {}) = 0;
  // The whole object; NotFound if missing.
  virtual Result<std::string> Get(std::string_view key) = 0;
  // Bytes [offset, min(offset + length, size)). offset == size or length == 0
  // yields an empty string (after checking that the object exists); offset >
  // size is OutOfRange.
  virtual Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) = 0;
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  virtual Result<ListPage> List(const ListOptions& opts) = 0;
  // A missing key is not an error.
  virtual Status Delete(std::string_view key) = 0;
  // Deletes every key (missing ones are fine); on failure, reports the first
  // error after attempting all keys.
  virtual Status DeleteMany(const std::vector<std::string>& keys) = 0;
  // For logs: "filesystem:/path", "s3://bucket/prefix", "memory".
  virtual std::string Describe() const = 0;
};

// Visits every object under `prefix` (recursively, no delimiter), following
// pagination. Stops at and returns the first non-OK status from `fn` or List.
Status ListAll(ObjectStore& store, std::string_view prefix,
               const std::function<Status(const ObjectInfo&)>& fn);

// The keys every backend accepts (S3 accepts more, but then a bucket could
// hold keys the filesystem backend cannot represent):
//  - 1 to 1024 bytes of valid UTF-8, no control characters (U+0000–U+001F,
//    U+007F) and no backslash;
//  - no leading '/', no trailing '/', no empty segment ("a//b");
//  - no "." or ".." segment, no segment longer than 255 bytes, no segment
//    starting with ".sightline-tmp-" (reserved for in-flight uploads).
// Returns InvalidArgument naming the rule that failed.
Status ValidateObjectKey(std::string_view key);

// The prefix reserved for temporary files of in-flight uploads.
inline constexpr std::string_view kTempSegmentPrefix = ".sightline-tmp-";

}  // namespace sightline::io
