#include "metrics/tsdb/index/index_cache.h"

#include "telemetry/metrics.h"

namespace sightline::tsdb {

namespace {

// What an entry costs beyond its key and payload (list node, map slot,
// shared_ptr control block), roughly.
constexpr uint64_t kEntryOverhead = 96;

const char* TypeName(int t) { return t == 0 ? "Postings" : "Series"; }

std::string PostingsKey(std::string_view block, std::string_view name, std::string_view value) {
  std::string k;
  k.reserve(block.size() + name.size() + value.size() + 4);
  k += 'P';
  k += block;
  k += '\xff';
  k += name;
  k += '\xff';
  k += value;
  return k;
}

std::string SeriesKey(std::string_view block, SeriesRef ref) {
  std::string k;
  k += 'S';
  k += block;
  k += '\xff';
  k += std::to_string(ref);
  return k;
}

}  // namespace

LruIndexCache::LruIndexCache(LruIndexCacheOptions options) : options_(options) {
  if (options_.max_item_size_bytes == 0 || options_.max_item_size_bytes > options_.max_size_bytes) {
    options_.max_item_size_bytes = options_.max_size_bytes;
  }
  telemetry::Registry& reg =
      options_.registry != nullptr ? *options_.registry : telemetry::Registry::Default();
  auto& requests = reg.AddCounter("thanos_store_index_cache_requests_total",
                                  "Total number of requests to the cache.", {"item_type"});
  auto& hits = reg.AddCounter("thanos_store_index_cache_hits_total",
                              "Total number of requests to the cache that were a hit.",
                              {"item_type"});
  auto& added = reg.AddCounter("thanos_store_index_cache_items_added_total",
                               "Total number of items that were added to the index cache.",
                               {"item_type"});
  auto& evicted = reg.AddCounter("thanos_store_index_cache_items_evicted_total",
                                 "Total number of items that were evicted from the index cache.",
                                 {"item_type"});
  auto& overflowed =
      reg.AddCounter("thanos_store_index_cache_items_overflowed_total",
                     "Total number of items that could not be added to the cache due to being "
                     "too big.",
                     {"item_type"});
  auto& items = reg.AddGauge("thanos_store_index_cache_items",
                             "Current number of items in the index cache.", {"item_type"});
  auto& bytes = reg.AddGauge("thanos_store_index_cache_total_size_bytes",
                             "Current byte size of items in the index cache.", {"item_type"});
  for (int t = 0; t < 2; ++t) {
    std::string_view n = TypeName(t);
    metrics_[t] = TypeMetrics{&requests.WithLabels({n}), &hits.WithLabels({n}),
                              &added.WithLabels({n}),    &evicted.WithLabels({n}),
                              &overflowed.WithLabels({n}), &items.WithLabels({n}),
                              &bytes.WithLabels({n})};
  }
}

LruIndexCache::~LruIndexCache() {
  std::lock_guard<std::mutex> l(mu_);
  for (int t = 0; t < 2; ++t) {
    metrics_[t].items->Add(-static_cast<double>(stats_[t].items));
    metrics_[t].bytes->Add(-static_cast<double>(stats_[t].bytes));
  }
}

std::shared_ptr<const void> LruIndexCache::Fetch(ItemType type, const std::string& key,
                                                 bool count) {
  if (count) metrics_[type].requests->Inc();
  std::lock_guard<std::mutex> l(mu_);
  if (count) ++stats_[type].requests;
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  if (count) {
    ++stats_[type].hits;
    metrics_[type].hits->Inc();
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void LruIndexCache::RemoveLocked(std::list<Entry>::iterator it, bool evicted) {
  ItemType t = it->type;
  bytes_ -= it->size;
  stats_[t].bytes -= it->size;
  --stats_[t].items;
  metrics_[t].bytes->Add(-static_cast<double>(it->size));
  metrics_[t].items->Dec();
  if (evicted) {
    ++stats_[t].evicted;
    metrics_[t].evicted->Inc();
  }
  index_.erase(it->key);
  lru_.erase(it);
}

void LruIndexCache::Store(ItemType type, std::string key, uint64_t size,
                          std::shared_ptr<const void> value) {
  size += key.size() + kEntryOverhead;
  std::lock_guard<std::mutex> l(mu_);
  if (size > options_.max_item_size_bytes) {
    ++stats_[type].overflowed;
    metrics_[type].overflowed->Inc();
    return;
  }
  if (auto it = index_.find(key); it != index_.end()) RemoveLocked(it->second, false);
  while (bytes_ + size > options_.max_size_bytes && !lru_.empty()) {
    RemoveLocked(std::prev(lru_.end()), true);
  }
  lru_.push_front(Entry{key, type, size, std::move(value)});
  index_.emplace(std::move(key), lru_.begin());
  bytes_ += size;
  stats_[type].bytes += size;
  ++stats_[type].items;
  ++stats_[type].added;
  metrics_[type].added->Inc();
  metrics_[type].items->Inc();
  metrics_[type].bytes->Add(static_cast<double>(size));
}

std::shared_ptr<const std::vector<SeriesRef>> LruIndexCache::FetchPostings(
    std::string_view block, std::string_view name, std::string_view value) {
  return std::static_pointer_cast<const std::vector<SeriesRef>>(
      Fetch(kPostings, PostingsKey(block, name, value)));
}

void LruIndexCache::StorePostings(std::string_view block, std::string_view name,
                                  std::string_view value,
                                  std::shared_ptr<const std::vector<SeriesRef>> postings) {
  if (postings == nullptr) return;
  uint64_t size = postings->size() * sizeof(SeriesRef);
  Store(kPostings, PostingsKey(block, name, value), size, std::move(postings));
}

std::shared_ptr<const CachedSeries> LruIndexCache::FetchSeries(std::string_view block,
                                                               SeriesRef ref) {
  return std::static_pointer_cast<const CachedSeries>(Fetch(kSeries, SeriesKey(block, ref)));
}

void LruIndexCache::StoreSeries(std::string_view block, SeriesRef ref,
                                std::shared_ptr<const CachedSeries> series) {
  if (series == nullptr) return;
  uint64_t size = sizeof(CachedSeries) + series->chunks.size() * sizeof(ChunkMeta);
  for (const Label& l : series->labels) size += sizeof(Label) + l.name.size() + l.value.size();
  Store(kSeries, SeriesKey(block, ref), size, std::move(series));
}

std::shared_ptr<const std::vector<SeriesRef>> LruIndexCache::PeekPostings(
    std::string_view block, std::string_view name, std::string_view value) {
  return std::static_pointer_cast<const std::vector<SeriesRef>>(
      Fetch(kPostings, PostingsKey(block, name, value), /*count=*/false));
}

std::shared_ptr<const CachedSeries> LruIndexCache::PeekSeries(std::string_view block,
                                                              SeriesRef ref) {
  return std::static_pointer_cast<const CachedSeries>(
      Fetch(kSeries, SeriesKey(block, ref), /*count=*/false));
}

LruIndexCache::Stats LruIndexCache::stats(ItemType type) const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_[type];
}

uint64_t LruIndexCache::size_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}

}  // namespace sightline::tsdb
