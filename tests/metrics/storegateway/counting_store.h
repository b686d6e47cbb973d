// CountingObjectStore: forwards to another ObjectStore and counts reads
// (calls and bytes of Get and GetRange, per key suffix), so that tests can
// bound what the store gateway fetches.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "io/object_store.h"

namespace sightline::storegateway::testing_util {

class CountingObjectStore final : public io::ObjectStore {
 public:
  explicit CountingObjectStore(io::ObjectStore* inner) : inner_(inner) {}

  struct Counts {
    uint64_t gets = 0, get_bytes = 0, ranges = 0, range_bytes = 0;
  };
  // Reads of keys ending in `suffix` ("" = all).
  Counts For(const std::string& suffix) const {
    std::lock_guard<std::mutex> l(mu_);
    Counts c;
    for (const Read& r : reads_) {
      if (r.key.size() < suffix.size() ||
          r.key.compare(r.key.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      if (r.ranged) {
        ++c.ranges;
        c.range_bytes += r.bytes;
      } else {
        ++c.gets;
        c.get_bytes += r.bytes;
      }
    }
    return c;
  }
  void Reset() {
    std::lock_guard<std::mutex> l(mu_);
    reads_.clear();
  }

  Status Put(std::string_view key, std::string_view data, const io::PutOptions& o = {}) override {
    return inner_->Put(key, data, o);
  }
  Status PutFile(std::string_view key, const std::string& p,
                 const io::PutOptions& o = {}) override {
    return inner_->PutFile(key, p, o);
  }
  Result<std::string> Get(std::string_view key) override {
    auto r = inner_->Get(key);
    if (r.ok()) Note(key, false, r->size());
    return r;
  }
  Result<std::string> GetRange(std::string_view key, uint64_t off, uint64_t len) override {
    auto r = inner_->GetRange(key, off, len);
    if (r.ok()) Note(key, true, r->size());
    return r;
  }
  Result<io::ObjectInfo> Head(std::string_view key) override { return inner_->Head(key); }
  Result<io::ListPage> List(const io::ListOptions& o) override { return inner_->List(o); }
  Status Delete(std::string_view key) override { return inner_->Delete(key); }
  Status DeleteMany(const std::vector<std::string>& keys) override {
    return inner_->DeleteMany(keys);
  }
  std::string Describe() const override { return "counting(" + inner_->Describe() + ")"; }

 private:
  struct Read {
    std::string key;
    bool ranged;
    uint64_t bytes;
  };
  void Note(std::string_view key, bool ranged, uint64_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    reads_.push_back(Read{std::string(key), ranged, bytes});
  }
  io::ObjectStore* inner_;
  mutable std::mutex mu_;
  std::vector<Read> reads_;
};

}  // namespace sightline::storegateway::testing_util
