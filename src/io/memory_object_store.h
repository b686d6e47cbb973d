// MemoryObjectStore: an ObjectStore in a map, for tests of other subsystems
// (and of the fault-injecting wrapper). Same semantics and key rules as the
// filesystem backend (object_store.h), minus durability; the one difference
// is that "a" and "a/b" may coexist, as on S3.
//
// Thread-safety: all methods may be called concurrently (a shared mutex
// guards the map; readers copy the data out).
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "io/object_store.h"

namespace sightline::io {

class MemoryObjectStore final : public ObjectStore {
 public:
  MemoryObjectStore() = default;

  Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) override;
  Status PutFile(std::string_view key, const std::string& local_path,
                 const PutOptions& opts = {}) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& opts) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override { return "memory"; }

  // Number of objects and their total size, for tests.
  size_t ObjectCount() const;
  uint64_t TotalBytes() const;

 private:
  struct Object {
    std::string data;
    ObjectInfo info;  // key left empty; filled in on the way out
  };

  mutable std::shared_mutex mu_;
  std::map<std::string, Object, std::less<>> objects_;
};

}  // namespace sightline::io
