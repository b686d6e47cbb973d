#include "io/fault_env.h"

#include <algorithm>
#include <thread>

namespace sightline::io {
namespace {

Status DeadHandle(const std::string& path) {
  return FailedPreconditionError("file handle of " + path + " is from before a simulated crash");
}

bool UnderOrAt(const std::string& path, const std::string& dir) {
  if (path == dir) return true;
  std::string prefix = dir == "/" ? "/" : dir + "/";
  return path.compare(0, prefix.size(), prefix) == 0;
}

Status WriteWhole(Env* env, const std::string& path, std::string_view data) {
  SL_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  SL_RETURN_IF_ERROR(f->Append(data));
  return f->Close();
}

}  // namespace

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::unique_ptr<WritableFile> base, std::string path,
                    uint64_t inode, uint64_t epoch)
      : env_(env), base_(std::move(base)), path_(std::move(path)), inode_(inode), epoch_(epoch) {}

  Status Append(std::string_view data) override {
    std::shared_lock<std::shared_mutex> crash(env_->crash_mu_);
    SL_RETURN_IF_ERROR(Alive());
    Status fault = env_->TakeFault(FaultEnv::Op::kAppend);
    if (!fault.ok()) {
      bool partial;
      size_t keep = 0;
      {
        std::lock_guard<std::mutex> l(env_->mu_);
        partial = env_->partial_writes_;
        if (partial && !data.empty()) keep = env_->rng_() % data.size();
      }
      if (partial && keep > 0) {
        (void)base_->Append(data.substr(0, keep));
        (void)base_->Flush();
      }
      return fault;
    }
    SL_RETURN_IF_ERROR(base_->Append(data));
    // Nothing may stay in the base file's user-space buffer: a dead handle's
    // destructor would otherwise write it after the simulated crash.
    SL_RETURN_IF_ERROR(base_->Flush());
    std::lock_guard<std::mutex> l(env_->mu_);
    ++env_->appends_;
    return Status::Ok();
  }

  Status Flush() override {
    std::shared_lock<std::shared_mutex> crash(env_->crash_mu_);
    SL_RETURN_IF_ERROR(Alive());
    SL_RETURN_IF_ERROR(env_->TakeFault(FaultEnv::Op::kAppend));
    return base_->Flush();
  }

  Status Sync() override {
    std::shared_lock<std::shared_mutex> crash(env_->crash_mu_);
    SL_RETURN_IF_ERROR(Alive());
    SL_RETURN_IF_ERROR(env_->TakeFault(FaultEnv::Op::kSync));
    std::chrono::microseconds delay;
    {
      std::lock_guard<std::mutex> l(env_->mu_);
      delay = env_->sync_delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    SL_RETURN_IF_ERROR(base_->Sync());
    env_->OnSynced(inode_, epoch_, base_->Size());
    return Status::Ok();
  }

  Status Close() override {
    std::shared_lock<std::shared_mutex> crash(env_->crash_mu_);
    SL_RETURN_IF_ERROR(Alive());
    return base_->Close();
  }

  uint64_t Size() const override { return base_->Size(); }

 private:
  Status Alive() const {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (env_->epoch_ != epoch_) return DeadHandle(path_);
    return Status::Ok();
  }

  FaultEnv* env_;
  std::unique_ptr<WritableFile> base_;
  std::string path_;
  uint64_t inode_;
  uint64_t epoch_;
};

FaultEnv::FaultEnv(Env* base) : base_(base) {}
FaultEnv::~FaultEnv() = default;

void FaultEnv::FailNext(Op op, int count, Status error) {
  std::lock_guard<std::mutex> l(mu_);
  faults_[op] = Fault{count, std::move(error)};
}

void FaultEnv::ClearFaults() {
  std::lock_guard<std::mutex> l(mu_);
  faults_.clear();
}

void FaultEnv::SetPartialWrites(bool on) {
  std::lock_guard<std::mutex> l(mu_);
  partial_writes_ = on;
}

void FaultEnv::SetSyncDelay(std::chrono::microseconds delay) {
  std::lock_guard<std::mutex> l(mu_);
  sync_delay_ = delay;
}

uint64_t FaultEnv::sync_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_;
}
uint64_t FaultEnv::dir_sync_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return dir_syncs_;
}
uint64_t FaultEnv::append_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return appends_;
}

Status FaultEnv::CheckUpLocked() const {
  if (down_) return UnavailableError("filesystem is down after a simulated crash");
  return Status::Ok();
}

void FaultEnv::Restart() {
  std::lock_guard<std::mutex> l(mu_);
  down_ = false;
}

Status FaultEnv::TakeFault(Op op) {
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  auto it = faults_.find(op);
  if (it == faults_.end() || it->second.remaining <= 0) return Status::Ok();
  --it->second.remaining;
  return it->second.error;
}

void FaultEnv::OnSynced(uint64_t inode, uint64_t epoch, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  ++syncs_;
  if (epoch != epoch_) return;
  auto it = inodes_.find(inode);
  if (it == inodes_.end()) return;
  it->second.synced_size = size;
  it->second.has_pre_truncate = false;
  it->second.pre_truncate.clear();
}

uint64_t FaultEnv::UnsyncedBytes() {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t total = 0;
  for (const auto& [path, inode] : names_) {
    auto size = base_->GetFileSize(path);
    if (!size.ok()) continue;
    uint64_t synced = inodes_[inode].synced_size;
    if (*size > synced) total += *size - synced;
  }
  return total;
}

uint64_t FaultEnv::InodeForLocked(const std::string& path, bool create_synced_from_base) {
  auto it = names_.find(path);
  if (it != names_.end()) return it->second;
  uint64_t id = next_inode_++;
  FileInfo info;
  if (create_synced_from_base) {
    auto size = base_->GetFileSize(path);
    info.synced_size = size.ok() ? *size : 0;
  }
  inodes_[id] = std::move(info);
  names_[path] = id;
  return id;
}

Result<std::string> FaultEnv::DurableContentLocked(const std::string& path) {
  SL_ASSIGN_OR_RETURN(std::string content, base_->ReadFile(path));
  auto it = names_.find(path);
  if (it == names_.end()) return content;  // never written by us: durable
  const FileInfo& info = inodes_[it->second];
  if (info.has_pre_truncate) return info.pre_truncate;
  if (content.size() > info.synced_size) content.resize(info.synced_size);
  return content;
}

Status FaultEnv::SaveSubtreeLocked(const std::string& path, NamespaceOp& op) {
  auto children = base_->GetChildren(path);
  if (!children.ok()) {  // a file
    op.saved_is_dir = false;
    SL_ASSIGN_OR_RETURN(std::string content, DurableContentLocked(path));
    op.saved_files.emplace_back("", std::move(content));
    return Status::Ok();
  }
  op.saved_is_dir = true;
  // Breadth-first walk; relative paths.
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    std::string rel = std::move(pending.back());
    pending.pop_back();
    std::string abs = rel.empty() ? path : JoinPath(path, rel);
    SL_ASSIGN_OR_RETURN(auto names, base_->GetChildren(abs));
    for (const auto& name : names) {
      std::string child_rel = rel.empty() ? name : JoinPath(rel, name);
      std::string child_abs = JoinPath(path, child_rel);
      if (base_->GetChildren(child_abs).ok()) {
        op.saved_dirs.push_back(child_rel);
        pending.push_back(child_rel);
      } else {
        SL_ASSIGN_OR_RETURN(std::string content, DurableContentLocked(child_abs));
        op.saved_files.emplace_back(child_rel, std::move(content));
      }
    }
  }
  return Status::Ok();
}

Status FaultEnv::RestoreSubtreeLocked(const std::string& path, const NamespaceOp& op) {
  if (!op.saved_is_dir) return WriteWhole(base_, path, op.saved_files.front().second);
  SL_RETURN_IF_ERROR(base_->CreateDirs(path));
  std::vector<std::string> dirs = op.saved_dirs;
  std::sort(dirs.begin(), dirs.end());  // parents first
  for (const auto& d : dirs) SL_RETURN_IF_ERROR(base_->CreateDirs(JoinPath(path, d)));
  for (const auto& [rel, content] : op.saved_files) {
    SL_RETURN_IF_ERROR(WriteWhole(base_, JoinPath(path, rel), content));
  }
  return Status::Ok();
}

void FaultEnv::EraseNamesLocked(const std::string& path) {
  for (auto it = names_.begin(); it != names_.end();) {
    if (UnderOrAt(it->first, path)) {
      it = names_.erase(it);
    } else {
      ++it;
    }
  }
}

void FaultEnv::RenameNamesLocked(const std::string& from, const std::string& to) {
  EraseNamesLocked(to);
  std::map<std::string, uint64_t> moved;
  for (auto it = names_.begin(); it != names_.end();) {
    if (UnderOrAt(it->first, from)) {
      moved[to + it->first.substr(from.size())] = it->second;
      it = names_.erase(it);
    } else {
      ++it;
    }
  }
  names_.merge(moved);
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kCreate));
  std::string path = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  bool existed = base_->FileExists(path);
  std::string pre;
  if (existed) {
    // Truncating an existing file is not durable until the file is synced.
    auto content = DurableContentLocked(path);
    if (content.ok()) pre = std::move(*content);
  }
  SL_ASSIGN_OR_RETURN(auto file, base_->NewWritableFile(path));
  uint64_t inode;
  if (existed) {
    inode = InodeForLocked(path, /*create_synced_from_base=*/false);
    FileInfo& info = inodes_[inode];
    if (!info.has_pre_truncate) {
      info.has_pre_truncate = true;
      info.pre_truncate = std::move(pre);
    }
    info.synced_size = 0;
  } else {
    inode = InodeForLocked(path, false);
    NamespaceOp op;
    op.kind = NamespaceOp::kCreateFile;
    op.path = path;
    op.pending_dirs = {DirName(path)};
    ops_.push_back(std::move(op));
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultWritableFile>(this, std::move(file), path, inode, epoch_));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewAppendableFile(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kCreate));
  std::string path = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  bool existed = base_->FileExists(path);
  SL_ASSIGN_OR_RETURN(auto file, base_->NewAppendableFile(path));
  uint64_t inode = InodeForLocked(path, /*create_synced_from_base=*/existed);
  if (!existed) {
    NamespaceOp op;
    op.kind = NamespaceOp::kCreateFile;
    op.path = path;
    op.pending_dirs = {DirName(path)};
    ops_.push_back(std::move(op));
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultWritableFile>(this, std::move(file), path, inode, epoch_));
}

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::NewRandomAccessFile(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    SL_RETURN_IF_ERROR(CheckUpLocked());
  }
  return base_->NewRandomAccessFile(path);
}

Result<std::string> FaultEnv::ReadFile(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    SL_RETURN_IF_ERROR(CheckUpLocked());
  }
  return base_->ReadFile(path);
}

Result<std::vector<std::string>> FaultEnv::GetChildren(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(mu_);
    SL_RETURN_IF_ERROR(CheckUpLocked());
  }
  return base_->GetChildren(dir);
}

bool FaultEnv::FileExists(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return false;
  }
  return base_->FileExists(path);
}

Result<uint64_t> FaultEnv::GetFileSize(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    SL_RETURN_IF_ERROR(CheckUpLocked());
  }
  return base_->GetFileSize(path);
}

Status FaultEnv::CreateDirs(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kCreate));
  std::string dir = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  std::vector<std::string> missing;
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (!base_->FileExists(prefix)) missing.push_back(prefix);
  }
  SL_RETURN_IF_ERROR(base_->CreateDirs(dir));
  for (const auto& d : missing) {
    NamespaceOp op;
    op.kind = NamespaceOp::kCreateDir;
    op.path = d;
    op.pending_dirs = {DirName(d)};
    ops_.push_back(std::move(op));
  }
  return Status::Ok();
}

Status FaultEnv::RemoveFile(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kRemove));
  std::string path = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  NamespaceOp op;
  op.kind = NamespaceOp::kRemove;
  op.path = path;
  op.pending_dirs = {DirName(path)};
  if (base_->FileExists(path) && !base_->GetChildren(path).ok()) {
    SL_RETURN_IF_ERROR(SaveSubtreeLocked(path, op));
  }
  SL_RETURN_IF_ERROR(base_->RemoveFile(path));
  EraseNamesLocked(path);
  ops_.push_back(std::move(op));
  return Status::Ok();
}

Status FaultEnv::RemoveAll(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kRemove));
  std::string path = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  if (!base_->FileExists(path)) return Status::Ok();
  NamespaceOp op;
  op.kind = NamespaceOp::kRemove;
  op.path = path;
  op.pending_dirs = {DirName(path)};
  SL_RETURN_IF_ERROR(SaveSubtreeLocked(path, op));
  SL_RETURN_IF_ERROR(base_->RemoveAll(path));
  EraseNamesLocked(path);
  ops_.push_back(std::move(op));
  return Status::Ok();
}

Status FaultEnv::Rename(const std::string& raw_from, const std::string& raw_to) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kRename));
  std::string from = NormalizePath(raw_from);
  std::string to = NormalizePath(raw_to);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  NamespaceOp op;
  op.kind = NamespaceOp::kRename;
  op.path = to;
  op.from = from;
  op.pending_dirs = {DirName(from), DirName(to)};
  if (from != to && base_->FileExists(from) && base_->FileExists(to)) {
    op.had_target = true;
    SL_RETURN_IF_ERROR(SaveSubtreeLocked(to, op));
  }
  SL_RETURN_IF_ERROR(base_->Rename(from, to));
  if (from != to) {
    RenameNamesLocked(from, to);
    ops_.push_back(std::move(op));
  }
  return Status::Ok();
}

Status FaultEnv::Truncate(const std::string& raw, uint64_t size) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kTruncate));
  std::string path = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  std::string pre;
  if (base_->FileExists(path)) {
    auto content = DurableContentLocked(path);
    if (content.ok()) pre = std::move(*content);
  }
  SL_RETURN_IF_ERROR(base_->Truncate(path, size));
  uint64_t inode = InodeForLocked(path, /*create_synced_from_base=*/false);
  FileInfo& info = inodes_[inode];
  if (!info.has_pre_truncate) {
    info.has_pre_truncate = true;
    info.pre_truncate = std::move(pre);
  }
  info.synced_size = std::min(info.synced_size, size);
  return Status::Ok();
}

Status FaultEnv::SyncDir(const std::string& raw) {
  SL_RETURN_IF_ERROR(TakeFault(Op::kSync));
  std::string dir = NormalizePath(raw);
  std::lock_guard<std::mutex> l(mu_);
  SL_RETURN_IF_ERROR(CheckUpLocked());
  SL_RETURN_IF_ERROR(base_->SyncDir(dir));
  ++dir_syncs_;
  for (auto& op : ops_) op.pending_dirs.erase(dir);
  ops_.erase(std::remove_if(ops_.begin(), ops_.end(),
                            [](const NamespaceOp& op) { return op.pending_dirs.empty(); }),
             ops_.end());
  return Status::Ok();
}

Status FaultEnv::SimulateCrash(CrashOptions options) {
  std::unique_lock<std::shared_mutex> crash(crash_mu_);
  std::lock_guard<std::mutex> l(mu_);
  std::mt19937_64 rng(options.seed);
  // 1. File contents: back to what was synced (or a torn prefix beyond it).
  for (const auto& [path, inode] : names_) {
    FileInfo& info = inodes_[inode];
    if (info.has_pre_truncate) {
      SL_RETURN_IF_ERROR(WriteWhole(base_, path, info.pre_truncate));
      continue;
    }
    auto size = base_->GetFileSize(path);
    if (!size.ok() || *size <= info.synced_size) continue;
    uint64_t keep = info.synced_size;
    if (options.torn_tail) keep += rng() % (*size - info.synced_size + 1);
    SL_RETURN_IF_ERROR(base_->Truncate(path, keep));
  }
  // 2. Directory entries: undo what no SyncDir covered, newest first.
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    const NamespaceOp& op = *it;
    switch (op.kind) {
      case NamespaceOp::kCreateFile:
        if (base_->FileExists(op.path)) SL_RETURN_IF_ERROR(base_->RemoveAll(op.path));
        break;
      case NamespaceOp::kCreateDir:
        SL_RETURN_IF_ERROR(base_->RemoveAll(op.path));
        break;
      case NamespaceOp::kRename:
        if (base_->FileExists(op.path)) {
          if (base_->FileExists(DirName(op.from))) {
            SL_RETURN_IF_ERROR(base_->RemoveAll(op.from));
            SL_RETURN_IF_ERROR(base_->Rename(op.path, op.from));
          } else {
            SL_RETURN_IF_ERROR(base_->RemoveAll(op.path));
          }
        }
        if (op.had_target) SL_RETURN_IF_ERROR(RestoreSubtreeLocked(op.path, op));
        break;
      case NamespaceOp::kRemove:
        if (!op.saved_files.empty() || op.saved_is_dir) {
          if (base_->FileExists(DirName(op.path))) {
            SL_RETURN_IF_ERROR(base_->RemoveAll(op.path));
            SL_RETURN_IF_ERROR(RestoreSubtreeLocked(op.path, op));
          }
        }
        break;
    }
  }
  // 3. The restarted process finds everything durable.
  ops_.clear();
  names_.clear();
  inodes_.clear();
  ++epoch_;
  down_ = true;
  return Status::Ok();
}

}  // namespace sightline::io
