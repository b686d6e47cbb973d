// Objects read like local files: an io::RandomAccessFile over one object of
// an ObjectStore, backed by a shared, byte-bounded LRU page cache.
//
// Block readers of every signal (metrics chunks in the store gateway, later
// logs/traces/profiles blocks) open the parts of a block that live only in
// the object store through OpenObjectFile() and then read them exactly as
// they read local files. Every Read is served in whole pages (page_size
// bytes, aligned); missing pages are fetched with one GetRange per run of
// consecutive missing pages and kept in the PageCache for later reads.
//
// Objects are assumed immutable while open (true of blocks: a block's files
// never change once its meta.json exists), so cached pages never go stale.
// Pages are keyed by the store's Describe(), the key and the page index.
//
// PrefetchObjectRanges() fills the cache ahead of many small reads (e.g. the
// chunks one query needs) with few coalesced GetRanges.
//
// Metrics (on the registry given to the PageCache):
//   sightline_object_page_cache_requests_total  pages asked for
//   sightline_object_page_cache_hits_total      pages found in the cache
//   sightline_object_page_cache_bytes           bytes held
//   sightline_object_page_cache_fetched_bytes_total bytes read from the store
// each with a `cache` label naming the cache.
//
// Errors: Read returns the store's error as is (NotFound, Unavailable...);
// OutOfRange for an offset past the end; DataLoss when the store returns
// fewer bytes than the object's size promises (the object changed).
//
// Thread-safety: PageCache and object files are safe for concurrent use
// (Read is const and may run in parallel). The ObjectStore and the PageCache
// must outlive every file opened on them.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "io/env.h"

namespace sightline::telemetry {
class Registry;
class Counter;
class Gauge;
}  // namespace sightline::telemetry

namespace sightline::io {

class ObjectStore;

struct PageCacheOptions {
  // Most bytes of page data held; least recently used pages go first. 0
  // disables caching (every read goes to the store).
  uint64_t capacity_bytes = 256ull << 20;
  // Page size in bytes (reads are aligned to it); at least 512.
  size_t page_size = 16 * 1024;
  // Self-metrics (nullptr: telemetry::Registry::Default()).
  telemetry::Registry* registry = nullptr;
  // Value of the `cache` label, e.g. "metrics-chunks".
  std::string name = "default";
};

class PageCache {
 public:
  explicit PageCache(PageCacheOptions options = {});
  ~PageCache();
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  size_t page_size() const { return options_.page_size; }
  uint64_t capacity_bytes() const { return options_.capacity_bytes; }

  // The cached page, or nullptr (counts a request, and a hit when found).
  std::shared_ptr<const std::string> Lookup(const std::string& key);
  // Caches `page` under `key` (replacing an older one), evicting least
  // recently used pages beyond the capacity. A page larger than the whole
  // capacity is not kept.
  void Insert(const std::string& key, std::shared_ptr<const std::string> page);
  // Whether `key` is cached (not counted as a request; no LRU update).
  bool Contains(const std::string& key) const;
  // Counts bytes read from a store on behalf of this cache.
  void NoteFetched(uint64_t bytes);

  // For tests and reports.
  uint64_t size_bytes() const;
  size_t pages() const;
  uint64_t requests() const;
  uint64_t hits() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const std::string> page;
  };
  void EvictLocked();

  PageCacheOptions options_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t bytes_ = 0;
  uint64_t requests_ = 0;
  uint64_t hits_ = 0;
  telemetry::Counter* requests_total_;
  telemetry::Counter* hits_total_;
  telemetry::Counter* fetched_total_;
  telemetry::Gauge* bytes_gauge_;
};

// Opens object `key` of `store` for reading. `size` is the object's size if
// known (e.g. from meta.json); otherwise a Head() learns it (NotFound if the
// object is missing). `cache` may be null (no caching).
Result<std::unique_ptr<RandomAccessFile>> OpenObjectFile(ObjectStore* store, std::string key,
                                                         PageCache* cache,
                                                         std::optional<uint64_t> size = {});

// What PrefetchObjectRanges did.
struct PrefetchStats {
  uint64_t requests = 0;  // GetRange calls
  uint64_t bytes = 0;     // bytes fetched
};

// Fills `cache` with the pages of object `key` (of `size` bytes) that cover
// `ranges` ([offset, offset + length) pairs, any order, clamped to the
// object) and are not cached yet, so that later Reads of an object file
// opened on the same store, key and cache find them. Missing pages closer
// than `max_gap` bytes are fetched with one GetRange (Thanos coalesces
// chunk reads the same way; the pages in a gap are fetched and cached
// too). Nothing is fetched when `cache` is null or disabled, or when the
// pages to fetch would exceed half its capacity (they would evict each
// other before being read). Errors: the store's, DataLoss on a short read.
Result<PrefetchStats> PrefetchObjectRanges(ObjectStore* store, const std::string& key,
                                           PageCache* cache, uint64_t size,
                                           std::vector<std::pair<uint64_t, uint64_t>> ranges,
                                           uint64_t max_gap = 512 * 1024);

}  // namespace sightline::io
