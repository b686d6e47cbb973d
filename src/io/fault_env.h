// FaultEnv: wraps another Env (usually a MemEnv, or the POSIX one under a
// temp dir), remembers what has been made durable, and on SimulateCrash()
// puts the filesystem back into the state a machine crash could leave:
//
//  - every file written through this Env is cut back to the bytes covered by
//    its last successful Sync() (optionally keeping a random prefix of the
//    unsynced tail: a torn write);
//  - a Truncate() (and NewWritableFile over an existing file) not followed
//    by a Sync() of that file is undone;
//  - creating, renaming and removing entries that were not followed by a
//    SyncDir() of the directory (both directories for a rename) are undone,
//    newest first: new files and directories vanish, renamed ones go back,
//    removed ones come back with their durable content.
//
// Files the FaultEnv never wrote (pre-existing ones) count as durable. Handles
// opened before a SimulateCrash() belong to the dead process: every operation
// on them fails with FailedPrecondition afterwards.
//
// Error injection: FailNext(op, n, status) makes the next n operations of a
// kind fail (without effect, except that with SetPartialWrites(true) a failed
// Append first writes a random prefix of its data, like a short write before
// ENOSPC). SetSyncDelay() makes Sync() slow, like a real disk, so that tests
// can observe group commit. Counters tell how many syncs happened.
//
// The model is what LevelDB's and RocksDB's fault-injection envs assume of a
// POSIX filesystem; real filesystems may keep more (never less) than this.
//
// Thread-safety: safe for concurrent use like any Env. SimulateCrash() may be
// called while other threads are writing: it waits for file operations in
// progress, and every later operation on an older handle fails, so that a
// write either happened before the crash or not at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "io/env.h"

namespace sightline::io {

class FaultEnv final : public Env {
 public:
  // `base` is not owned and must outlive this Env.
  explicit FaultEnv(Env* base);
  ~FaultEnv() override;

  enum class Op {
    kAppend,  // WritableFile::Append and Flush
    kSync,    // WritableFile::Sync and Env::SyncDir
    kCreate,  // NewWritableFile, NewAppendableFile, CreateDirs
    kRename,
    kRemove,  // RemoveFile, RemoveAll
    kTruncate,
  };
  // The next `count` operations of kind `op` fail with `error` (default: disk
  // full). Counts of different kinds are independent.
  void FailNext(Op op, int count,
                Status error = ResourceExhaustedError("injected fault: No space left on device"));
  // Cancels all pending injected failures.
  void ClearFaults();
  // With true, an Append failed by FailNext first writes a random prefix of
  // its data.
  void SetPartialWrites(bool on);
  // Each WritableFile::Sync sleeps this long before syncing.
  void SetSyncDelay(std::chrono::microseconds delay);

  struct CrashOptions {
    // Keep a random prefix (0..all bytes) of each file's unsynced tail
    // instead of dropping the whole tail.
    bool torn_tail = false;
    uint64_t seed = 1;
  };
  // Drops everything not durable (see above). Afterwards the filesystem is
  // what a restarted process would find, and all of it counts as durable.
  // The Env stays down (every operation fails with Unavailable, so that the
  // dead process's threads cannot touch the new state) until Restart().
  Status SimulateCrash(CrashOptions options);
  Status SimulateCrash() { return SimulateCrash(CrashOptions{}); }
  void Restart();

  uint64_t sync_count() const;      // successful WritableFile::Sync calls
  uint64_t dir_sync_count() const;  // successful SyncDir calls
  uint64_t append_count() const;    // successful Append calls
  // Bytes appended but not yet synced, over all files.
  uint64_t UnsyncedBytes();

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

 private:
  friend class FaultWritableFile;

  // What we know about one file (an inode): how much of it is durable.
  struct FileInfo {
    uint64_t synced_size = 0;
    // Set by a Truncate not yet followed by a Sync: the durable content
    // before it, which a crash brings back.
    bool has_pre_truncate = false;
    std::string pre_truncate;
  };
  // An entry change not yet covered by SyncDir.
  struct NamespaceOp {
    enum Kind { kCreateFile, kCreateDir, kRename, kRemove } kind;
    std::string path;                    // created / removed path, or rename target
    std::string from;                    // rename source
    std::set<std::string> pending_dirs;  // SyncDir of all of these makes it durable
    // kRename over an existing entry, kRemove: what was there, to restore.
    std::vector<std::pair<std::string, std::string>> saved_files;  // relative path -> content
    std::vector<std::string> saved_dirs;                           // relative paths
    bool saved_is_dir = false;
    bool had_target = false;
  };

  Status CheckUpLocked() const;
  // Returns the injected error for `op` if one is due.
  Status TakeFault(Op op);
  uint64_t InodeForLocked(const std::string& path, bool create_synced_from_base);
  // Durable content of one file (synced prefix, or pre-truncate content).
  Result<std::string> DurableContentLocked(const std::string& path);
  // Saves the subtree at `path` (file or dir) into `op` for later restore.
  Status SaveSubtreeLocked(const std::string& path, NamespaceOp& op);
  Status RestoreSubtreeLocked(const std::string& path, const NamespaceOp& op);
  void RenameNamesLocked(const std::string& from, const std::string& to);
  void EraseNamesLocked(const std::string& path);
  void OnSynced(uint64_t inode, uint64_t epoch, uint64_t size);

  Env* base_;
  // Held shared by every file operation, exclusively by SimulateCrash.
  std::shared_mutex crash_mu_;
  mutable std::mutex mu_;
  bool down_ = false;
  uint64_t epoch_ = 0;  // bumped by SimulateCrash; older handles are dead
  uint64_t next_inode_ = 1;
  std::map<uint64_t, FileInfo> inodes_;
  std::map<std::string, uint64_t> names_;  // normalized path -> inode
  std::vector<NamespaceOp> ops_;           // oldest first
  struct Fault {
    int remaining = 0;
    Status error;
  };
  std::map<Op, Fault> faults_;
  bool partial_writes_ = false;
  std::chrono::microseconds sync_delay_{0};
  std::mt19937_64 rng_{42};
  uint64_t syncs_ = 0, dir_syncs_ = 0, appends_ = 0;
};

}  // namespace sightline::io
