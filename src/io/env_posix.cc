// The POSIX Env: Env::Default(), plus the Env helpers shared by every
// implementation (path helpers, the default WriteFileAtomic).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <climits>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/env.h"

namespace sightline::io {

WritableFile::~WritableFile() = default;

Status WritableFile::AppendV(std::span<const std::string_view> pieces) {
  if (pieces.size() == 1) return Append(pieces[0]);
  size_t total = 0;
  for (std::string_view p : pieces) total += p.size();
  std::string all;
  all.reserve(total);
  for (std::string_view p : pieces) all.append(p);
  return Append(all);
}
RandomAccessFile::~RandomAccessFile() = default;
Env::~Env() = default;

std::string NormalizePath(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.empty()) out = ".";
  return out;
}

std::string DirName(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;  // "a/b/" names "a/b"
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) return ".";
  while (slash > 0 && path[slash - 1] == '/') --slash;
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) return path.substr(0, end);
  return path.substr(slash + 1, end - slash - 1);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Status CreateDirsDurable(Env& env, const std::string& raw) {
  const std::string dir = NormalizePath(raw);
  std::vector<std::string> missing;  // deepest first
  for (std::string d = dir; !env.FileExists(d); d = DirName(d)) {
    missing.push_back(d);
    if (d == "/" || d == "." || DirName(d) == d) break;
  }
  SL_RETURN_IF_ERROR(env.CreateDirs(dir));
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    SL_RETURN_IF_ERROR(env.SyncDir(DirName(*it)));
  }
  return Status::Ok();
}

Status Env::WriteFileAtomic(const std::string& path, std::string_view data) {
  // A unique temporary name, so that concurrent writers of the same path do
  // not interleave in one temporary file; the last rename wins.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp" + std::to_string(counter.fetch_add(1));
  auto write = [&]() -> Status {
    SL_ASSIGN_OR_RETURN(auto file, NewWritableFile(tmp));
    SL_RETURN_IF_ERROR(file->Append(data));
    SL_RETURN_IF_ERROR(file->Sync());
    SL_RETURN_IF_ERROR(file->Close());
    SL_RETURN_IF_ERROR(Rename(tmp, path));
    return SyncDir(DirName(path));
  };
  Status s = write();
  if (!s.ok() && FileExists(tmp)) (void)RemoveFile(tmp);
  return s;
}

namespace {

Status PosixError(const std::string& context, int err) {
  std::string msg = context + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFoundError(std::move(msg));
    case EEXIST:
      return AlreadyExistsError(std::move(msg));
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(std::move(msg));
    case ENOTEMPTY:
    case EISDIR:
    case ENOTDIR:
      return FailedPreconditionError(std::move(msg));
    default:
      return InternalError(std::move(msg));
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)Close();
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return FailedPreconditionError("append to closed file " + path_);
    size_ += data.size();
    if (buf_.size() + data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::Ok();
    }
    SL_RETURN_IF_ERROR(FlushBuffer());
    if (data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::Ok();
    }
    return WriteAll(data);
  }

  Status AppendV(std::span<const std::string_view> pieces) override {
    if (fd_ < 0) return FailedPreconditionError("append to closed file " + path_);
    size_t total = 0;
    for (std::string_view p : pieces) total += p.size();
    size_ += total;
    if (buf_.size() + total <= kBufferSize) {
      for (std::string_view p : pieces) buf_.append(p);
      return Status::Ok();
    }
    SL_RETURN_IF_ERROR(FlushBuffer());
    return WriteAllV(pieces);
  }

  Status Flush() override {
    if (fd_ < 0) return FailedPreconditionError("flush of closed file " + path_);
    return FlushBuffer();
  }

  Status Sync() override {
    if (fd_ < 0) return FailedPreconditionError("sync of closed file " + path_);
    SL_RETURN_IF_ERROR(FlushBuffer());
    if (::fdatasync(fd_) != 0) return PosixError("fdatasync " + path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return FailedPreconditionError("close of closed file " + path_);
    Status s = FlushBuffer();
    if (::close(fd_) != 0 && s.ok()) s = PosixError("close " + path_, errno);
    fd_ = -1;
    return s;
  }

  uint64_t Size() const override { return size_; }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;

  Status FlushBuffer() {
    if (buf_.empty()) return Status::Ok();
    Status s = WriteAll(buf_);
    buf_.clear();  // on error the bytes are dropped; the caller decides
    return s;
  }

  Status WriteAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  // writev(2) in batches of at most IOV_MAX pieces, resuming after short
  // writes.
  Status WriteAllV(std::span<const std::string_view> pieces) {
    std::vector<struct iovec> iov;
    iov.reserve(std::min<size_t>(pieces.size(), IOV_MAX));
    size_t i = 0;     // first piece not fully written
    size_t done = 0;  // bytes of pieces[i] written
    while (i < pieces.size()) {
      iov.clear();
      for (size_t j = i; j < pieces.size() && iov.size() < IOV_MAX; ++j) {
        std::string_view p = pieces[j];
        if (j == i) p.remove_prefix(done);
        if (p.empty()) continue;
        iov.push_back({const_cast<char*>(p.data()), p.size()});
      }
      if (iov.empty()) break;
      ssize_t n = ::writev(fd_, iov.data(), static_cast<int>(iov.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("write " + path_, errno);
      }
      if (n == 0) return PosixError("write " + path_, EIO);
      size_t left = static_cast<size_t>(n);
      while (i < pieces.size() && left >= pieces[i].size() - done) {
        left -= pieces[i].size() - done;
        done = 0;
        ++i;
      }
      done += left;
    }
    return Status::Ok();
  }

  std::string path_;
  int fd_;
  uint64_t size_;
  std::string buf_;
};

class PreadFile final : public RandomAccessFile {
 public:
  PreadFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PreadFile() override { ::close(fd_); }

  Result<std::string_view> Read(uint64_t offset, size_t n, std::string* scratch) const override {
    if (offset > size_) return OutOfRangeError("read of " + path_ + " past its end");
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    scratch->resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, scratch->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError("pread " + path_, errno);
      }
      if (r == 0) break;  // the file shrank under us
      got += static_cast<size_t>(r);
    }
    return std::string_view(scratch->data(), got);
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class MmapFile final : public RandomAccessFile {
 public:
  MmapFile(std::string path, const char* base, uint64_t size)
      : path_(std::move(path)), base_(base), size_(size) {}
  ~MmapFile() override { ::munmap(const_cast<char*>(base_), size_); }

  Result<std::string_view> Read(uint64_t offset, size_t n, std::string*) const override {
    if (offset > size_) return OutOfRangeError("read of " + path_ + " past its end");
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    return std::string_view(base_ + offset, n);
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  const char* base_;
  uint64_t size_;
};

Result<int> OpenFd(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return PosixError("open " + path, errno);
  return fd;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    SL_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_WRONLY | O_CREAT | O_TRUNC));
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd, 0));
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    SL_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_WRONLY | O_CREAT | O_APPEND));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError("fstat " + path, err);
    }
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    SL_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError("fstat " + path, err);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return FailedPreconditionError("open " + path + ": is a directory");
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size >= kMmapThreshold) {
      void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (base != MAP_FAILED) {
        ::close(fd);  // the mapping keeps the file referenced
        return std::unique_ptr<RandomAccessFile>(
            std::make_unique<MmapFile>(path, static_cast<const char*>(base), size));
      }
      // Out of address space or mappings: fall back to pread.
    }
    return std::unique_ptr<RandomAccessFile>(std::make_unique<PreadFile>(path, fd, size));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    SL_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY));
    std::string out;
    char buf[64 * 1024];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError("read " + path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError("opendir " + dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat " + path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      struct stat st;
      if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
        return AlreadyExistsError("mkdir " + dir + ": a file of that name exists");
      }
      return PosixError("mkdir " + dir, ec.value());
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      return AlreadyExistsError("mkdir " + dir + ": a file of that name exists");
    }
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink " + path, errno);
    return Status::Ok();
  }

  Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec && ec.value() != ENOENT) return PosixError("remove " + path, ec.value());
    return Status::Ok();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError("rename " + from + " to " + to, errno);
    }
    return Status::Ok();
  }

  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError("truncate " + path, errno);
    }
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    SL_ASSIGN_OR_RETURN(int fd, OpenFd(dir, O_RDONLY | O_DIRECTORY));
    Status s;
    if (::fsync(fd) != 0) s = PosixError("fsync directory " + dir, errno);
    ::close(fd);
    return s;
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: used until exit
  return env;
}

}  // namespace sightline::io
