#include "io/object_file.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "io/object_store.h"
#include "telemetry/metrics.h"

namespace sightline::io {

PageCache::PageCache(PageCacheOptions options) : options_(std::move(options)) {
  options_.page_size = std::max<size_t>(options_.page_size, 512);
  telemetry::Registry& reg =
      options_.registry != nullptr ? *options_.registry : telemetry::Registry::Default();
  const std::string_view name = options_.name;
  requests_total_ = &reg.AddCounter("sightline_object_page_cache_requests_total",
                                    "Pages of objects asked for through the page cache.",
                                    {"cache"})
                         .WithLabels({name});
  hits_total_ = &reg.AddCounter("sightline_object_page_cache_hits_total",
                                "Pages of objects found in the page cache.", {"cache"})
                     .WithLabels({name});
  fetched_total_ = &reg.AddCounter("sightline_object_page_cache_fetched_bytes_total",
                                   "Bytes read from the object store to fill the page cache.",
                                   {"cache"})
                        .WithLabels({name});
  bytes_gauge_ = &reg.AddGauge("sightline_object_page_cache_bytes",
                               "Bytes of object pages held in the page cache.", {"cache"})
                      .WithLabels({name});
}

PageCache::~PageCache() {
  std::lock_guard<std::mutex> l(mu_);
  bytes_gauge_->Add(-static_cast<double>(bytes_));
}

std::shared_ptr<const std::string> PageCache::Lookup(const std::string& key) {
  requests_total_->Inc();
  std::lock_guard<std::mutex> l(mu_);
  ++requests_;
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  ++hits_;
  hits_total_->Inc();
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->page;
}

void PageCache::Insert(const std::string& key, std::shared_ptr<const std::string> page) {
  if (page == nullptr || page->size() > options_.capacity_bytes) return;
  std::lock_guard<std::mutex> l(mu_);
  uint64_t before = bytes_;
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->page->size();
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, std::move(page)});
  index_[key] = lru_.begin();
  bytes_ += lru_.front().page->size();
  EvictLocked();
  bytes_gauge_->Add(static_cast<double>(bytes_) - static_cast<double>(before));
}

void PageCache::EvictLocked() {
  while (bytes_ > options_.capacity_bytes && !lru_.empty()) {
    bytes_ -= lru_.back().page->size();
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

bool PageCache::Contains(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  return index_.count(key) != 0;
}

void PageCache::NoteFetched(uint64_t bytes) { fetched_total_->Inc(static_cast<double>(bytes)); }

uint64_t PageCache::size_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}
size_t PageCache::pages() const {
  std::lock_guard<std::mutex> l(mu_);
  return lru_.size();
}
uint64_t PageCache::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}
uint64_t PageCache::hits() const {
  std::lock_guard<std::mutex> l(mu_);
  return hits_;
}

namespace {

std::string PagePrefix(const ObjectStore& store, const std::string& key) {
  return store.Describe() + '\n' + key + '\n';
}

class ObjectFile final : public RandomAccessFile {
 public:
  ObjectFile(ObjectStore* store, std::string key, PageCache* cache, uint64_t size)
      : store_(store),
        key_(std::move(key)),
        cache_(cache),
        size_(size),
        cache_prefix_(PagePrefix(*store, key_)) {}

  uint64_t Size() const override { return size_; }

  Result<std::string_view> Read(uint64_t offset, size_t n, std::string* scratch) const override {
    if (offset > size_) {
      return OutOfRangeError("read at " + std::to_string(offset) + " past the end of object " +
                             key_ + " (" + std::to_string(size_) + " bytes)");
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    if (n == 0) {
      scratch->clear();
      return std::string_view();
    }
    if (cache_ == nullptr || cache_->capacity_bytes() == 0) {
      SL_ASSIGN_OR_RETURN(std::string data, store_->GetRange(key_, offset, n));
      if (data.size() != n) return Short(offset, n, data.size());
      *scratch = std::move(data);
      return std::string_view(*scratch);
    }

    const uint64_t ps = cache_->page_size();
    const uint64_t first = offset / ps;
    const uint64_t last = (offset + n - 1) / ps;
    std::vector<std::shared_ptr<const std::string>> pages(last - first + 1);
    for (uint64_t p = first; p <= last; ++p) pages[p - first] = cache_->Lookup(PageKey(p));
    // One ranged read per run of missing pages.
    for (uint64_t p = first; p <= last;) {
      if (pages[p - first] != nullptr) {
        ++p;
        continue;
      }
      uint64_t q = p;
      while (q + 1 <= last && pages[q + 1 - first] == nullptr) ++q;
      const uint64_t start = p * ps;
      const uint64_t end = std::min(size_, (q + 1) * ps);
      SL_ASSIGN_OR_RETURN(std::string data, store_->GetRange(key_, start, end - start));
      cache_->NoteFetched(data.size());
      if (data.size() != end - start) return Short(start, end - start, data.size());
      for (uint64_t i = p; i <= q; ++i) {
        const uint64_t off = (i - p) * ps;
        auto page = std::make_shared<const std::string>(
            data.substr(off, std::min<uint64_t>(ps, data.size() - off)));
        cache_->Insert(PageKey(i), page);
        pages[i - first] = std::move(page);
      }
      p = q + 1;
    }
    scratch->resize(n);
    size_t out = 0;
    for (uint64_t p = first; p <= last; ++p) {
      const std::string& page = *pages[p - first];
      const uint64_t page_start = p * ps;
      const uint64_t from = std::max(offset, page_start) - page_start;
      const uint64_t to = std::min<uint64_t>(offset + n - page_start, page.size());
      if (to < from) return Short(page_start, to, page.size());
      std::memcpy(scratch->data() + out, page.data() + from, to - from);
      out += to - from;
    }
    if (out != n) return Short(offset, n, out);
    return std::string_view(*scratch);
  }

 private:
  std::string PageKey(uint64_t page) const { return cache_prefix_ + std::to_string(page); }
  Status Short(uint64_t offset, uint64_t want, uint64_t got) const {
    return DataLossError("object " + key_ + ": read of " + std::to_string(want) + " bytes at " +
                         std::to_string(offset) + " returned " + std::to_string(got) +
                         " (object of " + std::to_string(size_) + " bytes changed?)");
  }

  ObjectStore* store_;
  std::string key_;
  PageCache* cache_;
  uint64_t size_;
  std::string cache_prefix_;
};

}  // namespace

Result<std::unique_ptr<RandomAccessFile>> OpenObjectFile(ObjectStore* store, std::string key,
                                                         PageCache* cache,
                                                         std::optional<uint64_t> size) {
  if (!size) {
    SL_ASSIGN_OR_RETURN(ObjectInfo info, store->Head(key));
    size = info.size;
  }
  return std::unique_ptr<RandomAccessFile>(
      std::make_unique<ObjectFile>(store, std::move(key), cache, *size));
}

Result<PrefetchStats> PrefetchObjectRanges(ObjectStore* store, const std::string& key,
                                           PageCache* cache, uint64_t size,
                                           std::vector<std::pair<uint64_t, uint64_t>> ranges,
                                           uint64_t max_gap) {
  PrefetchStats stats;
  if (cache == nullptr || cache->capacity_bytes() == 0 || size == 0) return stats;
  const uint64_t ps = cache->page_size();
  const std::string prefix = PagePrefix(*store, key);
  auto page_key = [&](uint64_t p) { return prefix + std::to_string(p); };
  // Missing pages, sorted and unique.
  std::vector<uint64_t> pages;
  for (auto [off, len] : ranges) {
    if (off >= size || len == 0) continue;
    const uint64_t end = std::min(size, off + len);
    for (uint64_t p = off / ps; p <= (end - 1) / ps; ++p) pages.push_back(p);
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  std::erase_if(pages, [&](uint64_t p) { return cache->Contains(page_key(p)); });
  if (pages.empty()) return stats;
  // Runs of pages whose gaps are at most max_gap.
  std::vector<std::pair<uint64_t, uint64_t>> runs;  // first, last page
  for (uint64_t p : pages) {
    if (!runs.empty() && (p - runs.back().second - 1) * ps <= max_gap) {
      runs.back().second = p;
    } else {
      runs.emplace_back(p, p);
    }
  }
  uint64_t total = 0;
  for (auto [first, last] : runs) total += (last - first + 1) * ps;
  if (total > cache->capacity_bytes() / 2) return stats;
  for (auto [first, last] : runs) {
    const uint64_t start = first * ps;
    const uint64_t end = std::min(size, (last + 1) * ps);
    SL_ASSIGN_OR_RETURN(std::string data, store->GetRange(key, start, end - start));
    ++stats.requests;
    stats.bytes += data.size();
    cache->NoteFetched(data.size());
    if (data.size() != end - start) {
      return DataLossError("object " + key + ": read of " + std::to_string(end - start) +
                           " bytes at " + std::to_string(start) + " returned " +
                           std::to_string(data.size()));
    }
    for (uint64_t p = first; p <= last; ++p) {
      const uint64_t off = (p - first) * ps;
      cache->Insert(page_key(p), std::make_shared<const std::string>(
                                     data.substr(off, std::min<uint64_t>(ps, data.size() - off))));
    }
  }
  return stats;
}

}  // namespace sightline::io
