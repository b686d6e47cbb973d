// FilesystemObjectStore: an ObjectStore in a local directory, the default
// backend of a single-node Sightline (DESIGN.md §1). Object "a/b/c" is the
// file <root>/a/b/c. See docs/object-storage.md for the full layout.
//
// Contract (beyond object_store.h):
//  - Put is atomic and durable: data goes to a temp file in the target's
//    directory (".sightline-tmp-<random>", never listed), is fsynced, renamed
//    over the target, and the directory is fsynced. A crash leaves either the
//    old or the new object, plus at worst a stray temp file
//    (RemoveStaleTempFiles()).
//  - Keys are validated with ValidateObjectKey(), so no key can name a path
//    outside the root. Symbolic links inside the root are not followed for
//    objects and are invisible to List.
//  - Unlike S3, "a" and "a/b" cannot both exist: the second Put returns
//    FailedPrecondition.
//  - Deleting an object removes the directories it leaves empty.
//  - ETag: lowercase hex MD5 of the content, computed while writing and kept
//    with size, mtime and storage class in the extended attribute
//    "user.sightline.meta". Files without it (filesystems without user
//    xattrs, files copied in by hand) get their MD5 computed when listed or
//    headed, which reads the whole file.
//
// Thread-safety: all methods may be called concurrently, also by several
// processes sharing the directory.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "io/object_store.h"

namespace sightline::io {

struct FilesystemOptions {
  // fsync files and directories on Put/Delete. Only tests turn this off.
  bool fsync = true;
};

class FilesystemObjectStore final : public ObjectStore {
 public:
  // Creates `root` if needed. InvalidArgument if it is empty or not a
  // directory.
  static Result<std::unique_ptr<FilesystemObjectStore>> Open(const std::string& root,
                                                             FilesystemOptions opts = {});

  Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) override;
  Status PutFile(std::string_view key, const std::string& local_path,
                 const PutOptions& opts = {}) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& opts) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override { return "filesystem:" + root_; }

  // Deletes temp files of interrupted uploads whose mtime is older than
  // `min_age` (keep it well above the longest upload: a younger temp file may
  // belong to an upload in progress, possibly in another process).
  Status RemoveStaleTempFiles(std::chrono::seconds min_age);

  const std::string& root() const { return root_; }

 private:
  FilesystemObjectStore(std::string root, FilesystemOptions opts)
      : root_(std::move(root)), opts_(opts) {}

  class Walker;
  struct Writer;

  std::string PathOf(std::string_view key) const { return root_ + "/" + std::string(key); }
  Status WriteObject(std::string_view key, const PutOptions& opts,
                     const std::function<Status(Writer&)>& write_body);
  Status MakeParentDirs(std::string_view key);
  Result<ObjectInfo> InfoFor(const std::string& key, const std::string& path);

  std::string root_;
  FilesystemOptions opts_;
};

}  // namespace sightline::io
