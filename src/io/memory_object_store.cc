#include "io/memory_object_store.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "io/crypto.h"
#include "io/list_page_builder.h"

namespace sightline::io {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status MissingKey(std::string_view key) {
  return NotFoundError("object not found: " + std::string(key));
}

}  // namespace

Status MemoryObjectStore::Put(std::string_view key, std::string_view data, const PutOptions& opts) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  Object obj;
  obj.data.assign(data);
  obj.info.size = data.size();
  obj.info.last_modified_ms = NowMs();
  obj.info.etag = HexEncode(Md5(data));
  obj.info.storage_class = opts.storage_class.empty() ? "STANDARD" : opts.storage_class;
  std::unique_lock lock(mu_);
  objects_.insert_or_assign(std::string(key), std::move(obj));
  return Status::Ok();
}

Status MemoryObjectStore::PutFile(std::string_view key, const std::string& local_path,
                                  const PutOptions& opts) {
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + local_path + " for upload");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return InternalError("reading " + local_path + " failed");
  return Put(key, buf.str(), opts);
}

Result<std::string> MemoryObjectStore::Get(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return MissingKey(key);
  return it->second.data;
}

Result<std::string> MemoryObjectStore::GetRange(std::string_view key, uint64_t offset,
                                                uint64_t length) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return MissingKey(key);
  const std::string& data = it->second.data;
  if (offset > data.size()) {
    return OutOfRangeError("range offset " + std::to_string(offset) + " beyond size " +
                           std::to_string(data.size()) + " of " + std::string(key));
  }
  return data.substr(offset, length);
}

Result<ObjectInfo> MemoryObjectStore::Head(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return MissingKey(key);
  ObjectInfo info = it->second.info;
  info.key = std::string(key);
  return info;
}

Result<ListPage> MemoryObjectStore::List(const ListOptions& opts) {
  SL_ASSIGN_OR_RETURN(ListPageBuilder builder, ListPageBuilder::Create(opts));
  std::shared_lock lock(mu_);
  auto it = objects_.lower_bound(builder.lower_bound());
  while (it != objects_.end()) {
    ListPageBuilder::Decision d = builder.Offer(it->first);
    if (d.kind == ListPageBuilder::Decision::kStop) break;
    if (d.kind == ListPageBuilder::Decision::kTake) {
      ObjectInfo info = it->second.info;
      info.key = it->first;
      builder.Take(std::move(info));
    }
    if (!d.skip_prefix.empty()) {
      std::string next = PrefixSuccessor(d.skip_prefix);
      if (next.empty()) break;
      it = objects_.lower_bound(next);
    } else {
      ++it;
    }
  }
  return std::move(builder).Finish();
}

Status MemoryObjectStore::Delete(std::string_view key) {
  SL_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::unique_lock lock(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end()) objects_.erase(it);
  return Status::Ok();
}

Status MemoryObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  Status first;
  for (const std::string& key : keys) {
    Status s = Delete(key);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

size_t MemoryObjectStore::ObjectCount() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

uint64_t MemoryObjectStore::TotalBytes() const {
  std::shared_lock lock(mu_);
  uint64_t total = 0;
  for (const auto& [key, obj] : objects_) total += obj.data.size();
  return total;
}

}  // namespace sightline::io
