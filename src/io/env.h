// Env: the local filesystem, as the storage engines see it (LevelDB's Env).
//
// Every file operation of the WAL, the heads and the block writers goes
// through an Env, so that tests can run the same code on an in-memory
// filesystem (mem_env.h) and on one that injects errors and loses unsynced
// data on a simulated crash (fault_env.h). Object storage is a different
// thing (object_store.h).
//
// Paths are plain '/'-separated strings; the Env does not interpret "." or
// ".." specially beyond what the OS does.
//
// Durability contract (what a crash may lose; FaultEnv enforces exactly this):
//  - Bytes appended to a WritableFile are durable once Sync() returned OK.
//    Flush() only hands them to the OS (they survive a process crash, not a
//    machine crash).
//  - Creating, renaming or removing a directory entry is durable once
//    SyncDir() of the directory holding the (new) entry returned OK.
//    A newly created file whose directory was never synced may vanish with
//    all its synced data.
//  - WriteFileAtomic() is durable when it returns OK, and a crash at any
//    point leaves either the old content or the new one at `path`.
//
// Errors (Status codes):
//  - NotFound: the path (or its parent directory) does not exist.
//  - AlreadyExists: CreateDirs over a regular file.
//  - ResourceExhausted: ENOSPC / EDQUOT (disk full); the caller may retry
//    after space was freed.
//  - PermissionDenied: EACCES / EPERM / EROFS.
//  - OutOfRange: RandomAccessFile::Read at an offset beyond the end.
//  - FailedPrecondition: an operation on a closed file, Rename onto a
//    non-empty directory, a directory where a file was expected.
//  - Internal: any other OS error (EIO...). Messages name the path and errno.
//
// Thread-safety: an Env is safe for concurrent use from any thread. A
// WritableFile is not: one thread (or external locking) at a time. A
// RandomAccessFile is safe for concurrent Read()s.
//
// Lifetime: Env::Default() lives for the whole process. Files returned by an
// Env must not outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sightline::io {

// A file opened for appending. Writes are buffered in user space (the POSIX
// implementation keeps up to 64 KiB) until Flush(), Sync() or Close().
class WritableFile {
 public:
  virtual ~WritableFile();  // closes (without syncing) if still open

  virtual Status Append(std::string_view data) = 0;
  // Appends the pieces in order, exactly as one Append of their
  // concatenation would (the default builds it and does that); POSIX files
  // hand large ones to writev(2) without copying them into a buffer.
  virtual Status AppendV(std::span<const std::string_view> pieces);
  // Hands buffered bytes to the OS.
  virtual Status Flush() = 0;
  // Flush() + fdatasync: the bytes appended so far are durable.
  virtual Status Sync() = 0;
  // Flushes and closes; does not sync. Later calls return FailedPrecondition.
  virtual Status Close() = 0;
  // Bytes in the file including buffered ones (for appendable files, the
  // pre-existing size plus everything appended).
  virtual uint64_t Size() const = 0;
};

// A file opened for reading at arbitrary offsets.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile();

  // Reads up to `n` bytes at `offset`. The result is shorter than `n` only at
  // the end of the file; it is empty at offset == Size(), and an offset past
  // the end is OutOfRange. The view points either into `scratch` (which the
  // call may resize) or into memory owned by the file (a mapping); it stays
  // valid until `scratch` changes or the file is destroyed.
  virtual Result<std::string_view> Read(uint64_t offset, size_t n, std::string* scratch) const = 0;
  // POSIX: the size when the file was opened (the file must not be truncated
  // while open: a mapped file would fault). MemEnv: the current size.
  virtual uint64_t Size() const = 0;
};

class Env {
 public:
  virtual ~Env();

  // The real filesystem (POSIX). Never null; do not delete.
  static Env* Default();

  // Creates or truncates `path`. The parent directory must exist.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens `path` for appending, creating it if missing.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  // POSIX: files of at least kMmapThreshold bytes are memory-mapped (reads
  // are zero-copy views into the mapping), smaller ones are read with pread
  // into the caller's scratch buffer.
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // The whole content of `path`.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Replaces `path` with `data` atomically and durably: writes
  // "<path>.tmp", syncs it, renames it over `path` and syncs the directory.
  // On failure the temporary file is removed and `path` is unchanged. The
  // default implementation does exactly that with the primitives below.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data);

  // Names (not paths) of the entries of `dir`, files and directories, sorted
  // bytewise, without "." and "..".
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  // True for files and directories.
  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // mkdir -p. Existing directories are fine. Not durable until SyncDir of
  // each new directory's parent.
  virtual Status CreateDirs(const std::string& dir) = 0;
  // Removes a file (NotFound if missing, FailedPrecondition for a directory).
  virtual Status RemoveFile(const std::string& path) = 0;
  // rm -rf. A missing path is fine.
  virtual Status RemoveAll(const std::string& path) = 0;
  // rename(2): atomically replaces an existing file at `to`; a directory may
  // replace an empty directory.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Cuts or extends (with zeros) `path` to `size` bytes.
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // fsync of the directory: entries created, renamed or removed in it so
  // far are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
};

// POSIX reads of files at least this large are served from an mmap.
inline constexpr uint64_t kMmapThreshold = 256 * 1024;

// CreateDirs(dir), then SyncDir of the parent of every directory it created,
// so that the whole path is durable (a crash cannot take it away).
Status CreateDirsDurable(Env& env, const std::string& dir);

// Collapses repeated and trailing slashes: "a//b/" -> "a/b"; "" -> ".".
std::string NormalizePath(const std::string& path);
// "a/b/c" -> "a/b"; "c" -> "."; "/c" -> "/".
std::string DirName(const std::string& path);
// "a/b/c" -> "c".
std::string BaseName(const std::string& path);
// "a" + "b" -> "a/b" (no doubled slash).
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace sightline::io
