#include "io/filesystem_object_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "io/crypto.h"
#include "io/list_page_builder.h"

namespace sightline::io {
namespace {

constexpr char kMetaXattr[] = "user.sightline.meta";
constexpr size_t kCopyChunk = 1 << 20;
// A concurrent Delete may remove a directory between our mkdir and the
// creation of the temp file in it; that race is retried this often.
constexpr int kCreateAttempts = 8;

Status ErrnoStatus(int err, std::string_view op, std::string_view path) {
  std::string msg = std::string(op) + " " + std::string(path) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(std::move(msg));
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return ResourceExhaustedError(std::move(msg));
    case ENAMETOOLONG:
    case ELOOP:
      return InvalidArgumentError(std::move(msg));
    default:
      return InternalError(std::move(msg));
  }
}

std::string RandomHex() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t v = rng();
  return HexEncode(reinterpret_cast<const uint8_t*>(&v), sizeof(v));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes and reports the error (close can report a deferred write error).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status SyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync directory", dir);
  return Status::Ok();
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// "1 <size> <mtime ns> <md5 hex> <storage class>": valid only while size and
// mtime still match the file, so a file rewritten in place by another tool
// does not keep a stale ETag.
std::string EncodeMeta(const struct stat& st, const std::string& etag,
                       const std::string& storage_class) {
  return "1 " + std::to_string(st.st_size) + " " + std::to_string(MtimeNs(st)) + " " + etag + " " +
         storage_class;
}

bool DecodeMeta(std::string_view meta, const struct stat& st, std::string* etag,
                std::string* storage_class) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (start <= meta.size()) {
    size_t end = meta.find(' ', start);
    if (end == std::string_view::npos) end = meta.size();
    fields.push_back(meta.substr(start, end - start));
    start = end + 1;
  }
  if (fields.size() != 5 || fields[0] != "1") return false;
  if (fields[1] != std::to_string(st.st_size) || fields[2] != std::to_string(MtimeNs(st))) {
    return false;
  }
  if (fields[3].size() != 32) return false;
  *etag = std::string(fields[3]);
  *storage_class = fields[4].empty() ? "STANDARD" : std::string(fields[4]);
  return true;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status PreadAll(int fd, char* buf, size_t len, uint64_t offset, const std::string& path) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (n == 0) return DataLossError("read " + path + ": file shrank while reading");
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

// Opens an existing object for reading. Directories (prefixes of other keys)
// and symlinks are not objects.
Result<int> OpenObject(const std::string& key, const std::string& path, struct stat* st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
      return NotFoundError("object not found: " + key);
    }
    return ErrnoStatus(err, "open", path);
  }
  if (::fstat(fd, st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "stat", path);
  }
  if (!S_ISREG(st->st_mode)) {
    ::close(fd);
    return NotFoundError("object not found: " + key);
  }
  return fd;
}

Result<std::string> Md5OfFile(int fd, uint64_t size, const std::string& path) {
  Md5Hasher hasher;
  std::string buf(std::min<uint64_t>(size, kCopyChunk), '\0');
  uint64_t offset = 0;
  while (offset < size) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - offset));
    SL_RETURN_IF_ERROR(PreadAll(fd, buf.data(), n, offset, path));
    hasher.Update(std::string_view(buf.data(), n));
    offset += n;
  }
  return HexEncode(hasher.Finish());
}

}  // namespace

struct FilesystemObjectStore::Writer {
  int fd;
  const std::string& path;
  Md5Hasher md5;
  Status Write(std::string_view data) {
    md5.Update(data);
    return WriteAll(fd, data, path);
  }
};

Result<std::unique_ptr<FilesystemObjectStore>> FilesystemObjectStore::Open(const std::string& root,
                                                                           FilesystemOptions opts) {
  if (root.empty()) return InvalidArgumentError("filesystem object store: empty path");
  // mkdir -p
  std::string path;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = root.find('/', pos + 1);
    path = root.substr(0, next);
    pos = next;
    if (path.empty() || path == "/") continue;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "create directory", path);
    }
  }
  char* real = ::realpath(root.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus(errno, "resolve", root);
  std::string resolved(real);
  std::free(real);
  struct stat st;
  if (::stat(resolved.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", resolved);
  if (!S_ISDIR(st.st_mode)) {
    return InvalidArgumentError("filesystem object store: " + resolved + " is not a directory");
  }
  if (resolved == "/") resolved.clear();  // keys become "/a/b", not "//a/b"
  return std::unique_ptr<FilesystemObjectStore>(
      new FilesystemObjectStore(std::move(resolved), opts));
}

Status FilesystemObjectStore::MakeParentDirs(std::string_view key) {
  size_t last = key.rfind('/');
  if (last == std::string_view::npos) return Status::Ok();
  std::string dir = PathOf(key.substr(0, last));
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
  size_t pos = 0;
  while (true) {
    size_t slash = key.find('/', pos);
    if (slash == std::string_view::npos || slash > last) break;
    std::string path = PathOf(key.substr(0, slash));
    if (::mkdir(path.c_str(), 0755) == 0) {
      if (opts_.fsync) SL_RETURN_IF_ERROR(SyncDir(ParentOf(path)));
    } else if (errno == EEXIST) {
      if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
      if (!S_ISDIR(st.st_mode)) {
        return FailedPreconditionError(
            "cannot store " + std::string(key) + ": " + std::string(key.substr(0, slash)) +
            " is an object, and the filesystem backend cannot hold keys below an object");
      }
    } else {
      return ErrnoStatus(errno, "create directory", path);
    }
    pos = slash + 1;
  }
  return Status::Ok();
}

Status FilesystemObjectStore::WriteObject(std::string_view key, const PutOptions& opts,
                                          const std::function<Status(Writer&)>& write_body) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  const std::string path = PathOf(key);
  const std::string dir = ParentOf(path);
  std::string tmp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < kCreateAttempts && raw_fd < 0; ++attempt) {
    SL_RETURN_IF_ERROR(MakeParentDirs(key));
    tmp = dir + "/" + std::string(kTempSegmentPrefix) + RandomHex();
    raw_fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (raw_fd < 0 && errno != ENOENT && errno != EEXIST) {
      return ErrnoStatus(errno, "create", tmp);
    }
  }
  if (raw_fd < 0) return UnavailableError("create " + tmp + ": directory kept disappearing");
  Fd fd(raw_fd);
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };

  Writer writer{fd.get(), tmp, {}};
  Status s = write_body(writer);
  if (!s.ok()) return fail(s);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail(ErrnoStatus(errno, "stat", tmp));
  std::string meta = EncodeMeta(st, HexEncode(writer.md5.Finish()),
                                opts.storage_class.empty() ? "STANDARD" : opts.storage_class);
  // Best effort: without the xattr, readers recompute the MD5 from content.
  (void)::fsetxattr(fd.get(), kMetaXattr, meta.data(), meta.size(), 0);
  if (opts_.fsync && ::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fsync", tmp));
  if (fd.Close() != 0) return fail(ErrnoStatus(errno, "close", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) {
      return fail(FailedPreconditionError("cannot store " + std::string(key) +
                                          ": other objects exist below it (" + path +
                                          " is a directory)"));
    }
    return fail(ErrnoStatus(err, "rename to", path));
  }
  if (opts_.fsync) SL_RETURN_IF_ERROR(SyncDir(dir));
  return Status::Ok();
}

Status FilesystemObjectStore::Put(std::string_view key, std::string_view data,
                                  const PutOptions& opts) {
  return WriteObject(key, opts, [&](Writer& w) { return w.Write(data); });
}

Status FilesystemObjectStore::PutFile(std::string_view key, const std::string& local_path,
                                      const PutOptions& opts) {
  Fd src(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.get() < 0) return ErrnoStatus(errno, "open for upload", local_path);
  return WriteObject(key, opts, [&](Writer& w) -> Status {
    std::string buf(kCopyChunk, '\0');
    while (true) {
      ssize_t n = ::read(src.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read", local_path);
      }
      if (n == 0) return Status::Ok();
      SL_RETURN_IF_ERROR(w.Write(std::string_view(buf.data(), static_cast<size_t>(n))));
    }
  });
}

Result<std::string> FilesystemObjectStore::Get(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  struct stat st;
  SL_ASSIGN_OR_RETURN(int raw_fd, OpenObject(std::string(key), path, &st));
  Fd fd(raw_fd);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  SL_RETURN_IF_ERROR(PreadAll(fd.get(), data.data(), data.size(), 0, path));
  return data;
}

Result<std::string> FilesystemObjectStore::GetRange(std::string_view key, uint64_t offset,
                                                    uint64_t length) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  struct stat st;
  SL_ASSIGN_OR_RETURN(int raw_fd, OpenObject(std::string(key), path, &st));
  Fd fd(raw_fd);
  auto size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    return OutOfRangeError("range offset " + std::to_string(offset) + " beyond size " +
                           std::to_string(size) + " of " + std::string(key));
  }
  uint64_t n = std::min(length, size - offset);
  std::string data(static_cast<size_t>(n), '\0');
  SL_RETURN_IF_ERROR(PreadAll(fd.get(), data.data(), data.size(), offset, path));
  return data;
}

Result<ObjectInfo> FilesystemObjectStore::InfoFor(const std::string& key, const std::string& path) {
  struct stat st;
  SL_ASSIGN_OR_RETURN(int raw_fd, OpenObject(key, path, &st));
  Fd fd(raw_fd);
  ObjectInfo info;
  info.key = key;
  info.size = static_cast<uint64_t>(st.st_size);
  info.last_modified_ms = MtimeNs(st) / 1000000;
  char buf[256];
  ssize_t n = ::fgetxattr(fd.get(), kMetaXattr, buf, sizeof(buf));
  if (n < 0 || !DecodeMeta(std::string_view(buf, static_cast<size_t>(n)), st, &info.etag,
                           &info.storage_class)) {
    SL_ASSIGN_OR_RETURN(info.etag, Md5OfFile(fd.get(), info.size, path));
    info.storage_class = "STANDARD";
    // Cache it for next time; setting an xattr does not change the mtime.
    std::string meta = EncodeMeta(st, info.etag, info.storage_class);
    (void)::fsetxattr(fd.get(), kMetaXattr, meta.data(), meta.size(), 0);
  }
  return info;
}

Result<ObjectInfo> FilesystemObjectStore::Head(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  return InfoFor(std::string(key), PathOf(key));
}

// Depth-first walk that yields keys in ascending byte order. Within one
// directory, files sort by name and subdirectories by name + "/": since no
// name contains '/', that is exactly the order of the full keys.
class FilesystemObjectStore::Walker {
 public:
  Walker(FilesystemObjectStore& store, ListPageBuilder& builder, const std::string& prefix)
      : store_(store), builder_(builder), prefix_(prefix) {}

  // Returns false when the walk is over (page complete, or an error in
  // status()).
  bool Walk(const std::string& rel_dir) {
    std::string dir_path = rel_dir.empty() ? store_.root_ : store_.PathOf(rel_dir);
    if (!dir_path.empty() && dir_path.back() == '/') dir_path.pop_back();
    if (dir_path.empty()) dir_path = "/";
    std::vector<std::pair<std::string, bool>> entries;  // (sort key, is_dir)
    DIR* d = ::opendir(dir_path.c_str());
    if (d == nullptr) {
      // Vanished under a concurrent Delete: nothing to list here.
      if (errno == ENOENT || errno == ENOTDIR) return true;
      status_ = ErrnoStatus(errno, "list directory", dir_path);
      return false;
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || name.starts_with(kTempSegmentPrefix)) continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
      }
      if (type == DT_DIR) {
        entries.emplace_back(std::string(name) + "/", true);
      } else if (type == DT_REG) {
        entries.emplace_back(std::string(name), false);
      }
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end());

    const std::string& lower = builder_.lower_bound();
    for (const auto& [name, is_dir] : entries) {
      std::string full = rel_dir + name;
      if (!skip_prefix_.empty() && std::string_view(full).starts_with(skip_prefix_)) continue;
      if (is_dir) {
        // The subtree holds exactly the keys starting with `full`.
        if (full < lower && !std::string_view(lower).starts_with(full)) continue;
        bool related = std::string_view(full).starts_with(prefix_) ||
                       std::string_view(prefix_).starts_with(full);
        if (!related) {
          if (full > prefix_) return false;
          continue;
        }
        if (!Walk(full)) return false;
        continue;
      }
      if (full < lower) continue;
      ListPageBuilder::Decision decision = builder_.Offer(full);
      if (decision.kind == ListPageBuilder::Decision::kStop) return false;
      if (decision.kind == ListPageBuilder::Decision::kTake) {
        Result<ObjectInfo> info = store_.InfoFor(full, store_.PathOf(full));
        if (info.ok()) {
          builder_.Take(std::move(info).value());
        } else if (info.status().code() != StatusCode::kNotFound) {
          // NotFound: deleted since readdir; S3 would not list it either.
          status_ = info.status();
          return false;
        }
      }
      if (!decision.skip_prefix.empty()) skip_prefix_ = std::move(decision.skip_prefix);
    }
    return true;
  }

  const Status& status() const { return status_; }

 private:
  FilesystemObjectStore& store_;
  ListPageBuilder& builder_;
  const std::string& prefix_;
  std::string skip_prefix_;
  Status status_;
};

Result<ListPage> FilesystemObjectStore::List(const ListOptions& opts) {
  SL_ASSIGN_OR_RETURN(ListPageBuilder builder, ListPageBuilder::Create(opts));
  Walker walker(*this, builder, opts.prefix);
  // Start at the deepest directory that the prefix fully names.
  std::string start;
  size_t slash = opts.prefix.rfind('/');
  if (slash != std::string::npos) start = opts.prefix.substr(0, slash + 1);
  if (!start.empty() && !ValidateObjectKey(start.substr(0, start.size() - 1)).ok()) {
    // No object key can start with an invalid directory path ("a//", "../").
    return std::move(builder).Finish();
  }
  walker.Walk(start);
  SL_RETURN_IF_ERROR(walker.status());
  return std::move(builder).Finish();
}

Status FilesystemObjectStore::Delete(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  if (::unlink(path.c_str()) != 0) {
    int err = errno;
    // Missing, or a "directory" of other keys: either way no such object.
    if (err == ENOENT || err == ENOTDIR || err == EISDIR) return Status::Ok();
    return ErrnoStatus(err, "delete", path);
  }
  std::string dir = ParentOf(path);
  if (opts_.fsync) SL_RETURN_IF_ERROR(SyncDir(dir));
  // Remove directories left empty, deepest first; stop at the first one that
  // still holds something (rmdir fails) or at the root.
  while (dir.size() > root_.size() && ::rmdir(dir.c_str()) == 0) dir = ParentOf(dir);
  return Status::Ok();
}

Status FilesystemObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  Status first;
  for (const std::string& key : keys) {
    Status s = Delete(key);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status FilesystemObjectStore::RemoveStaleTempFiles(std::chrono::seconds min_age) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> dirs = {root_.empty() ? "/" : root_};
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.back());
    dirs.pop_back();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = (dir == "/" ? "" : dir) + "/" + std::string(name);
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        dirs.push_back(path);
      } else if (S_ISREG(st.st_mode) && name.starts_with(kTempSegmentPrefix)) {
        auto mtime = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(MtimeNs(st))));
        if (now - mtime >= min_age && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
          int err = errno;
          ::closedir(d);
          return ErrnoStatus(err, "delete", path);
        }
      }
    }
    ::closedir(d);
  }
  return Status::Ok();
}

}  // namespace sightline::io
