#include "io/mem_env.h"

#include <algorithm>

namespace sightline::io {
namespace {

std::string Normalize(const std::string& path) { return NormalizePath(path); }

// "d/" for a directory, so that a prefix scan finds exactly its subtree.
std::string SubtreePrefix(const std::string& dir) {
  if (dir == "/") return "/";
  if (dir == ".") return "";
  return dir + "/";
}

bool InSubtree(const std::string& path, const std::string& dir) {
  if (dir == ".") return path.front() != '/';
  std::string prefix = SubtreePrefix(dir);
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0;
}

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::string path, std::shared_ptr<MemEnv::FileState> state)
      : path_(std::move(path)), state_(std::move(state)) {
    std::lock_guard<std::mutex> l(state_->mu);
    size_ = state_->data.size();
  }

  Status Append(std::string_view data) override {
    if (closed_) return FailedPreconditionError("append to closed file " + path_);
    std::lock_guard<std::mutex> l(state_->mu);
    state_->data.append(data);
    size_ += data.size();
    return Status::Ok();
  }
  Status Flush() override {
    if (closed_) return FailedPreconditionError("flush of closed file " + path_);
    return Status::Ok();
  }
  Status Sync() override {
    if (closed_) return FailedPreconditionError("sync of closed file " + path_);
    return Status::Ok();
  }
  Status Close() override {
    if (closed_) return FailedPreconditionError("close of closed file " + path_);
    closed_ = true;
    return Status::Ok();
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  std::shared_ptr<MemEnv::FileState> state_;
  uint64_t size_ = 0;
  bool closed_ = false;
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  MemRandomAccessFile(std::string path, std::shared_ptr<MemEnv::FileState> state)
      : path_(std::move(path)), state_(std::move(state)) {}

  Result<std::string_view> Read(uint64_t offset, size_t n, std::string* scratch) const override {
    std::lock_guard<std::mutex> l(state_->mu);
    const std::string& data = state_->data;
    if (offset > data.size()) return OutOfRangeError("read of " + path_ + " past its end");
    n = static_cast<size_t>(std::min<uint64_t>(n, data.size() - offset));
    scratch->assign(data, static_cast<size_t>(offset), n);
    return std::string_view(*scratch);
  }
  uint64_t Size() const override {
    std::lock_guard<std::mutex> l(state_->mu);
    return state_->data.size();
  }

 private:
  std::string path_;
  std::shared_ptr<MemEnv::FileState> state_;
};

}  // namespace

MemEnv::MemEnv() {
  dirs_.insert("/");
  dirs_.insert(".");
}
MemEnv::~MemEnv() = default;

bool MemEnv::ParentExistsLocked(const std::string& path) const {
  return IsDirLocked(Normalize(DirName(path)));
}

Result<std::shared_ptr<MemEnv::FileState>> MemEnv::OpenForWrite(const std::string& raw,
                                                                bool truncate) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (IsDirLocked(path)) return FailedPreconditionError("open " + path + ": is a directory");
  if (!ParentExistsLocked(path)) {
    return NotFoundError("open " + path + ": No such file or directory");
  }
  auto it = files_.find(path);
  if (it == files_.end()) {
    it = files_.emplace(path, std::make_shared<FileState>()).first;
  } else if (truncate) {
    std::lock_guard<std::mutex> fl(it->second->mu);
    it->second->data.clear();
  }
  return it->second;
}

Result<std::unique_ptr<WritableFile>> MemEnv::NewWritableFile(const std::string& path) {
  SL_ASSIGN_OR_RETURN(auto state, OpenForWrite(path, /*truncate=*/true));
  return std::unique_ptr<WritableFile>(std::make_unique<MemWritableFile>(path, std::move(state)));
}

Result<std::unique_ptr<WritableFile>> MemEnv::NewAppendableFile(const std::string& path) {
  SL_ASSIGN_OR_RETURN(auto state, OpenForWrite(path, /*truncate=*/false));
  return std::unique_ptr<WritableFile>(std::make_unique<MemWritableFile>(path, std::move(state)));
}

Result<std::unique_ptr<RandomAccessFile>> MemEnv::NewRandomAccessFile(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (IsDirLocked(path)) return FailedPreconditionError("open " + path + ": is a directory");
    return NotFoundError("open " + path + ": No such file or directory");
  }
  return std::unique_ptr<RandomAccessFile>(std::make_unique<MemRandomAccessFile>(path, it->second));
}

Result<std::string> MemEnv::ReadFile(const std::string& raw) {
  std::string path = Normalize(raw);
  std::shared_ptr<FileState> state;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      if (IsDirLocked(path)) return FailedPreconditionError("read " + path + ": is a directory");
      return NotFoundError("open " + path + ": No such file or directory");
    }
    state = it->second;
  }
  std::lock_guard<std::mutex> fl(state->mu);
  return state->data;
}

Result<std::vector<std::string>> MemEnv::GetChildren(const std::string& raw) {
  std::string dir = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (!IsDirLocked(dir)) {
    if (files_.count(dir)) return FailedPreconditionError("opendir " + dir + ": Not a directory");
    return NotFoundError("opendir " + dir + ": No such file or directory");
  }
  std::string prefix = SubtreePrefix(dir);
  std::vector<std::string> names;
  auto collect = [&](const std::string& path) {
    if (!InSubtree(path, dir)) return;
    std::string rest = path.substr(prefix.size());
    if (rest.find('/') == std::string::npos) names.push_back(std::move(rest));
  };
  for (auto it = files_.lower_bound(prefix); it != files_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    collect(it->first);
  }
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end(); ++it) {
    if (it->compare(0, prefix.size(), prefix) != 0) break;
    if (*it != "/" && *it != ".") collect(*it);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool MemEnv::FileExists(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  return files_.count(path) > 0 || IsDirLocked(path);
}

Result<uint64_t> MemEnv::GetFileSize(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (IsDirLocked(path)) return uint64_t{0};
    return NotFoundError("stat " + path + ": No such file or directory");
  }
  std::lock_guard<std::mutex> fl(it->second->mu);
  return static_cast<uint64_t>(it->second->data.size());
}

Status MemEnv::CreateDirs(const std::string& raw) {
  std::string dir = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  // Walk from the top so that every missing ancestor is created.
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (files_.count(prefix)) {
      if (pos == dir.size()) {
        return AlreadyExistsError("mkdir " + dir + ": a file of that name exists");
      }
      return FailedPreconditionError("mkdir " + dir + ": " + prefix + " is not a directory");
    }
    dirs_.insert(prefix);
  }
  return Status::Ok();
}

Status MemEnv::RemoveFile(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (IsDirLocked(path)) return FailedPreconditionError("unlink " + path + ": Is a directory");
  if (files_.erase(path) == 0)
    return NotFoundError("unlink " + path + ": No such file or directory");
  return Status::Ok();
}

Status MemEnv::RemoveAll(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  files_.erase(path);
  if (!IsDirLocked(path) || path == "/" || path == ".") return Status::Ok();
  dirs_.erase(path);
  std::string prefix = SubtreePrefix(path);
  for (auto it = files_.lower_bound(prefix);
       it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = files_.erase(it);
  }
  for (auto it = dirs_.lower_bound(prefix);
       it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
    it = dirs_.erase(it);
  }
  return Status::Ok();
}

Status MemEnv::Rename(const std::string& raw_from, const std::string& raw_to) {
  std::string from = Normalize(raw_from);
  std::string to = Normalize(raw_to);
  std::lock_guard<std::mutex> l(mu_);
  const std::string what = "rename " + from + " to " + to;
  if (!ParentExistsLocked(to)) return NotFoundError(what + ": No such file or directory");
  if (from == to) {
    if (files_.count(from) || IsDirLocked(from)) return Status::Ok();
    return NotFoundError(what + ": No such file or directory");
  }
  auto fit = files_.find(from);
  if (fit != files_.end()) {
    if (IsDirLocked(to)) return FailedPreconditionError(what + ": Is a directory");
    auto state = fit->second;
    files_.erase(fit);
    files_[to] = std::move(state);
    return Status::Ok();
  }
  if (!IsDirLocked(from)) return NotFoundError(what + ": No such file or directory");
  if (from == "/" || from == ".") return InvalidArgumentError(what + ": cannot move the root");
  if (InSubtree(to, from)) return InvalidArgumentError(what + ": Invalid argument");
  if (files_.count(to)) return FailedPreconditionError(what + ": Not a directory");
  if (IsDirLocked(to)) {
    std::string to_prefix = SubtreePrefix(to);
    auto f = files_.lower_bound(to_prefix);
    auto d = dirs_.lower_bound(to_prefix);
    bool has_file = f != files_.end() && f->first.compare(0, to_prefix.size(), to_prefix) == 0;
    bool has_dir = d != dirs_.end() && d->compare(0, to_prefix.size(), to_prefix) == 0;
    if (has_file || has_dir) return FailedPreconditionError(what + ": Directory not empty");
  }
  // Move the directory and its subtree.
  std::string prefix = SubtreePrefix(from);
  std::string new_prefix = SubtreePrefix(to);
  std::map<std::string, std::shared_ptr<FileState>> moved_files;
  for (auto it = files_.lower_bound(prefix);
       it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    moved_files[new_prefix + it->first.substr(prefix.size())] = std::move(it->second);
    it = files_.erase(it);
  }
  std::set<std::string> moved_dirs;
  for (auto it = dirs_.lower_bound(prefix);
       it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
    moved_dirs.insert(new_prefix + it->substr(prefix.size()));
    it = dirs_.erase(it);
  }
  dirs_.erase(from);
  dirs_.insert(to);
  files_.merge(moved_files);
  dirs_.merge(moved_dirs);
  return Status::Ok();
}

Status MemEnv::Truncate(const std::string& raw, uint64_t size) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (IsDirLocked(path)) return FailedPreconditionError("truncate " + path + ": Is a directory");
    return NotFoundError("truncate " + path + ": No such file or directory");
  }
  std::lock_guard<std::mutex> fl(it->second->mu);
  it->second->data.resize(static_cast<size_t>(size), '\0');
  return Status::Ok();
}

Status MemEnv::SyncDir(const std::string& raw) {
  std::string dir = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (!IsDirLocked(dir)) return NotFoundError("open " + dir + ": No such file or directory");
  return Status::Ok();
}

uint64_t MemEnv::TotalBytes() {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t total = 0;
  for (auto& [path, state] : files_) {
    std::lock_guard<std::mutex> fl(state->mu);
    total += state->data.size();
  }
  return total;
}

}  // namespace sightline::io
