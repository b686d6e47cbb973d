// IndexCache: decoded postings lists and series entries of block indexes,
// kept across queries (Thanos's store-gateway index cache).
//
// An IndexReader given a cache (IndexReader::SetCache) consults it in
// Postings(name, value) and Series(ref) before decoding from the index file,
// and stores what it decoded. Entries are scoped by a block identifier (the
// block's ULID), so one cache serves every block of a store gateway.
//
// LruIndexCache is the in-memory implementation: one LRU over both item
// types with a byte budget. Its metrics carry Thanos's names so existing
// dashboards work:
//   thanos_store_index_cache_requests_total{item_type}
//   thanos_store_index_cache_hits_total{item_type}
//   thanos_store_index_cache_items_added_total{item_type}
//   thanos_store_index_cache_items_evicted_total{item_type}
//   thanos_store_index_cache_items_overflowed_total{item_type}  (too big to keep)
//   thanos_store_index_cache_items{item_type}
//   thanos_store_index_cache_total_size_bytes{item_type}
// with item_type "Postings" or "Series".
//
// Thread-safety: implementations must be safe for concurrent use. Returned
// values are immutable and shared; they stay valid while held.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/tsdb/chunks/chunks.h"
#include "metrics/tsdb/index/format.h"
#include "metrics/tsdb/labels.h"

namespace sightline::telemetry {
class Registry;
class Counter;
class Gauge;
}  // namespace sightline::telemetry

namespace sightline::tsdb {

// One decoded series entry of an index.
struct CachedSeries {
  Labels labels;
  std::vector<ChunkMeta> chunks;
};

class IndexCache {
 public:
  virtual ~IndexCache() = default;

  // nullptr on a miss.
  virtual std::shared_ptr<const std::vector<SeriesRef>> FetchPostings(std::string_view block,
                                                                      std::string_view name,
                                                                      std::string_view value) = 0;
  virtual void StorePostings(std::string_view block, std::string_view name,
                             std::string_view value,
                             std::shared_ptr<const std::vector<SeriesRef>> postings) = 0;

  virtual std::shared_ptr<const CachedSeries> FetchSeries(std::string_view block,
                                                          SeriesRef ref) = 0;
  virtual void StoreSeries(std::string_view block, SeriesRef ref,
                           std::shared_ptr<const CachedSeries> series) = 0;

  // Like Fetch*, but not counted as a request (no metrics, no stats): for
  // a reader that already counted the lookup when it prefetched the item
  // (a lazy IndexReader: IndexReader::PrefetchPostings/PrefetchSeries).
  // The defaults forward to Fetch*.
  virtual std::shared_ptr<const std::vector<SeriesRef>> PeekPostings(std::string_view block,
                                                                     std::string_view name,
                                                                     std::string_view value) {
    return FetchPostings(block, name, value);
  }
  virtual std::shared_ptr<const CachedSeries> PeekSeries(std::string_view block, SeriesRef ref) {
    return FetchSeries(block, ref);
  }
};

struct LruIndexCacheOptions {
  // Byte budget for both item types together (approximate: keys, payload
  // and a fixed per-item overhead are counted).
  uint64_t max_size_bytes = 256ull << 20;
  // Items larger than this are not kept (counted as overflowed); 0: the
  // whole budget.
  uint64_t max_item_size_bytes = 0;
  telemetry::Registry* registry = nullptr;  // nullptr: Registry::Default()
};

class LruIndexCache final : public IndexCache {
 public:
  explicit LruIndexCache(LruIndexCacheOptions options = {});
  ~LruIndexCache() override;

  std::shared_ptr<const std::vector<SeriesRef>> FetchPostings(std::string_view block,
                                                              std::string_view name,
                                                              std::string_view value) override;
  void StorePostings(std::string_view block, std::string_view name, std::string_view value,
                     std::shared_ptr<const std::vector<SeriesRef>> postings) override;
  std::shared_ptr<const CachedSeries> FetchSeries(std::string_view block, SeriesRef ref) override;
  void StoreSeries(std::string_view block, SeriesRef ref,
                   std::shared_ptr<const CachedSeries> series) override;
  std::shared_ptr<const std::vector<SeriesRef>> PeekPostings(std::string_view block,
                                                             std::string_view name,
                                                             std::string_view value) override;
  std::shared_ptr<const CachedSeries> PeekSeries(std::string_view block, SeriesRef ref) override;

  enum ItemType { kPostings = 0, kSeries = 1 };
  struct Stats {
    uint64_t requests = 0, hits = 0, added = 0, evicted = 0, overflowed = 0, items = 0, bytes = 0;
  };
  Stats stats(ItemType type) const;
  uint64_t size_bytes() const;

 private:
  struct Entry {
    std::string key;
    ItemType type;
    uint64_t size;
    std::shared_ptr<const void> value;
  };
  struct TypeMetrics {
    telemetry::Counter* requests;
    telemetry::Counter* hits;
    telemetry::Counter* added;
    telemetry::Counter* evicted;
    telemetry::Counter* overflowed;
    telemetry::Gauge* items;
    telemetry::Gauge* bytes;
  };

  std::shared_ptr<const void> Fetch(ItemType type, const std::string& key, bool count = true);
  void Store(ItemType type, std::string key, uint64_t size, std::shared_ptr<const void> value);
  void RemoveLocked(std::list<Entry>::iterator it, bool evicted);

  LruIndexCacheOptions options_;
  TypeMetrics metrics_[2];
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t bytes_ = 0;
  Stats stats_[2];
};

}  // namespace sightline::tsdb
