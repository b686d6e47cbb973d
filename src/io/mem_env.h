// MemEnv: an Env that keeps every file and directory in memory, for tests
// and benchmarks that must not touch the disk.
//
// It follows the POSIX Env's observable behaviour (the shared suite in
// tests/io/env_test.cc holds both to it): a file needs an existing parent
// directory, open handles keep reading and writing a file after it was
// removed or renamed (like an unlinked inode), Rename replaces files and
// empty directories. Nothing is ever lost: Sync and SyncDir are no-ops (wrap
// it in a FaultEnv to simulate crashes). Paths are normalized by collapsing
// repeated and trailing slashes; "/" and "." always exist.
//
// Thread-safety: safe for concurrent use, like every Env.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "io/env.h"

namespace sightline::io {

class MemEnv final : public Env {
 public:
  MemEnv();
  ~MemEnv() override;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Status CreateDirs(const std::string& dir) override;
  Status RemoveFile(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;

  // Bytes held by all files (for tests).
  uint64_t TotalBytes();

  // A file's content. Shared between the Env's namespace and open handles,
  // since POSIX lets a handle outlive the name (the one place a shared_ptr
  // says exactly what we mean).
  struct FileState {
    std::mutex mu;
    std::string data;
  };

 private:
  Result<std::shared_ptr<FileState>> OpenForWrite(const std::string& path, bool truncate);
  bool ParentExistsLocked(const std::string& path) const;
  bool IsDirLocked(const std::string& path) const { return dirs_.count(path) > 0; }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // normalized path -> content
  std::set<std::string> dirs_;                               // normalized paths
};

}  // namespace sightline::io
