#include "metrics/storegateway/bucket_store.h"

#include <algorithm>
#include <optional>

#include "blocks/bucket.h"
#include "io/env.h"
#include "io/object_file.h"
#include "io/object_store.h"
#include "metrics/storage/external_labels.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/db_querier.h"
#include "metrics/tsdb/head_postings.h"
#include "metrics/tsdb/index/index_cache.h"
#include "metrics/tsdb/index/index_reader.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::storegateway {

struct BucketStore::Metrics {
  telemetry::Counter* syncs;
  telemetry::Counter* sync_failures;
  telemetry::Gauge* loaded;
  telemetry::Counter* loads;
  telemetry::Counter* load_failures;
  telemetry::Counter* queried;
  telemetry::Counter* pruned;
};

// One block of the bucket. The reader is loaded on first use and kept until
// the block is dropped by Sync (queriers hold it through shared_ptr).
struct BucketStore::Block {
  blocks::BlockMeta meta;
  metrics::Labels ext_labels;
  std::string prefix;     // metrics/<tenant>/<ULID>/
  std::string local_dir;  // <local_dir>/<ULID>

  std::mutex mu;  // serializes loading
  std::shared_ptr<const tsdb::BlockReader> reader;
  // Chunk segment objects (key, size) in segment order; set with reader.
  std::vector<std::pair<std::string, uint64_t>> segments;
};

namespace {

// Forwards to a querier owned elsewhere (so one loaded block querier can be
// merged in several Selects of one BucketQuerier).
class BorrowedQuerier final : public metrics::Querier {
 public:
  explicit BorrowedQuerier(metrics::Querier* q) : q_(q) {}
  std::unique_ptr<metrics::SeriesSet> Select(bool sorted, const metrics::SelectHints* hints,
                                             const std::vector<promql::Matcher>& m) override {
    return q_->Select(sorted, hints, m);
  }
  Result<std::vector<std::string>> LabelValues(const std::string& name,
                                               const std::vector<promql::Matcher>& m) override {
    return q_->LabelValues(name, m);
  }
  Result<std::vector<std::string>> LabelNames(const std::vector<promql::Matcher>& m) override {
    return q_->LabelNames(m);
  }

 private:
  metrics::Querier* q_;
};

}  // namespace

namespace {

Result<std::shared_ptr<const tsdb::BlockReader>> LoadBlock(const BucketStoreOptions& o,
                                                           BucketStore::Block& b);

enum class Prefetch { kNone, kSeries, kChunks };

// Records the postings lists SelectPostings may ask for (a superset: every
// list is answered with a non-empty dummy so that nothing short-circuits).
class PostingsKeyCollector {
 public:
  explicit PostingsKeyCollector(const tsdb::IndexReader& ix) : ix_(ix) {}
  std::vector<uint64_t> All() { return Add("", ""); }
  std::vector<uint64_t> Equal(std::string_view name, std::string_view value) {
    return Add(name, value);
  }
  template <typename Pred>
  std::vector<uint64_t> Values(std::string_view name, Pred pred) {
    for (std::string_view v : ix_.LabelValues(name)) {
      if (pred(v)) Add(name, v);
    }
    return {0};
  }
  std::vector<std::pair<std::string, std::string>> keys;

 private:
  std::vector<uint64_t> Add(std::string_view name, std::string_view value) {
    keys.emplace_back(std::string(name), std::string(value));
    return {0};
  }
  const tsdb::IndexReader& ix_;
};

// First read of a chunk whose length is unknown (Prometheus chunks hold
// up to 120 samples: typically a few hundred bytes).
constexpr uint64_t kChunkSizeGuess = 1024;
constexpr uint64_t kChunkMaxGap = 512 * 1024;

// Fetches, with coalesced ranged reads, what selecting `matchers` over
// [mint, maxt] will read from a lazily loaded block: its postings lists,
// series entries (into the index cache) and, for kChunks, the pages of its
// chunks (into the page cache). Local (non-lazy) indexes: nothing to do.
Status PrefetchBlock(const BucketStoreOptions& o, const BucketStore::Block& b,
                     const tsdb::BlockReader& reader, const std::vector<promql::Matcher>& matchers,
                     int64_t mint, int64_t maxt, Prefetch what) {
  const tsdb::IndexReader& ix = reader.index();
  if (!ix.lazy() || matchers.empty()) return Status::Ok();
  PostingsKeyCollector keys(ix);
  (void)tsdb::SelectPostings(keys, matchers);
  SL_RETURN_IF_ERROR(ix.PrefetchPostings(keys.keys));
  tsdb::BlockIndexView view(ix);
  std::vector<uint64_t> refs = tsdb::SelectPostings(view, matchers);
  SL_RETURN_IF_ERROR(view.status());
  SL_RETURN_IF_ERROR(ix.PrefetchSeries(refs));
  if (what != Prefetch::kChunks || o.page_cache == nullptr) return Status::Ok();

  std::vector<std::vector<uint64_t>> offsets(b.segments.size());
  metrics::Labels l;
  std::vector<tsdb::ChunkMeta> chunks;
  for (uint64_t ref : refs) {
    SL_RETURN_IF_ERROR(ix.Series(ref, &l, &chunks));
    for (const tsdb::ChunkMeta& c : chunks) {
      if (c.max_time < mint || c.min_time > maxt) continue;
      uint32_t seg = tsdb::ChunkRefSegment(c.ref);
      if (seg < offsets.size()) offsets[seg].push_back(tsdb::ChunkRefOffset(c.ref));
    }
  }
  for (size_t seg = 0; seg < offsets.size(); ++seg) {
    std::vector<uint64_t>& offs = offsets[seg];
    if (offs.empty()) continue;
    std::sort(offs.begin(), offs.end());
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (size_t i = 0; i < offs.size(); ++i) {
      uint64_t len = kChunkSizeGuess;
      // Chunks are written back to back: the next one bounds this one.
      if (i + 1 < offs.size() && offs[i + 1] > offs[i]) len = std::min(len, offs[i + 1] - offs[i]);
      ranges.emplace_back(offs[i], len);
    }
    SL_RETURN_IF_ERROR(io::PrefetchObjectRanges(o.store, b.segments[seg].first, o.page_cache,
                                                b.segments[seg].second, std::move(ranges),
                                                kChunkMaxGap)
                           .status());
  }
  return Status::Ok();
}

class BucketQuerier final : public metrics::Querier {
 public:
  BucketQuerier(const BucketStoreOptions* options, std::vector<std::shared_ptr<BucketStore::Block>> blocks,
                int64_t mint, int64_t maxt, telemetry::Counter* queried, telemetry::Counter* pruned,
                telemetry::Gauge* loaded, telemetry::Counter* loads,
                telemetry::Counter* load_failures)
      : options_(options),
        blocks_(std::move(blocks)),
        block_queriers_(blocks_.size()),
        readers_(blocks_.size()),
        mint_(mint),
        maxt_(maxt),
        queried_(queried),
        pruned_(pruned),
        loaded_(loaded),
        loads_(loads),
        load_failures_(load_failures) {}

  std::unique_ptr<metrics::SeriesSet> Select(bool sorted, const metrics::SelectHints* hints,
                                             const std::vector<promql::Matcher>& matchers) override {
    const bool samples = hints == nullptr || hints->func != "series";
    auto q = Prepare(matchers, samples ? Prefetch::kChunks : Prefetch::kSeries);
    if (!q.ok()) return tsdb::ErrorSeriesSet(q.status());
    return (*q)->Select(sorted, hints, matchers);
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    SL_ASSIGN_OR_RETURN(metrics::Querier * q,
                        Prepare(matchers, matchers.empty() ? Prefetch::kNone : Prefetch::kSeries));
    return q->LabelValues(name, matchers);
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    SL_ASSIGN_OR_RETURN(metrics::Querier * q,
                        Prepare(matchers, matchers.empty() ? Prefetch::kNone : Prefetch::kSeries));
    return q->LabelNames(matchers);
  }

 private:
  // A merge over the blocks that can match `matchers`; owned by this.
  // Lazy blocks first fetch what the query will read (`what`) with
  // coalesced ranged reads.
  Result<metrics::Querier*> Prepare(const std::vector<promql::Matcher>& matchers, Prefetch what) {
    std::vector<std::unique_ptr<metrics::Querier>> parts;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      BucketStore::Block& b = *blocks_[i];
      if (!metrics::FixedLabelsCanMatch(b.ext_labels, matchers)) {
        pruned_->Inc();
        continue;
      }
      queried_->Inc();
      if (block_queriers_[i] == nullptr) {
        std::shared_ptr<const tsdb::BlockReader> reader;
        {
          std::lock_guard<std::mutex> l(b.mu);
          if (b.reader == nullptr) {
            loads_->Inc();
            auto r = LoadBlock(*options_, b);
            if (!r.ok()) {
              load_failures_->Inc();
              return r.status().Annotate("loading block " + b.prefix);
            }
            b.reader = *r;
            loaded_->Inc();
          }
          reader = b.reader;
        }
        readers_[i] = reader;
        block_queriers_[i] = metrics::NewExternalLabelsQuerier(
            tsdb::NewBlockQuerier(std::move(reader), mint_, maxt_), b.ext_labels);
      }
      if (what != Prefetch::kNone) {
        // The block's own querier sees the matchers without the external
        // labels (NewExternalLabelsQuerier strips them).
        std::vector<promql::Matcher> inner;
        bool rejected = false;
        for (const promql::Matcher& m : matchers) {
          if (b.ext_labels.Has(m.name())) {
            if (!m.Matches(b.ext_labels.Get(m.name()))) rejected = true;
          } else {
            inner.push_back(m);
          }
        }
        if (!rejected) {
          Status st = PrefetchBlock(*options_, b, *readers_[i], inner, mint_, maxt_, what);
          if (!st.ok()) return st.Annotate("reading block " + b.prefix);
        }
      }
      parts.push_back(std::make_unique<BorrowedQuerier>(block_queriers_[i].get()));
    }
    merged_.push_back(tsdb::NewMergeQuerier(std::move(parts)));
    return merged_.back().get();
  }

  const BucketStoreOptions* options_;
  std::vector<std::shared_ptr<BucketStore::Block>> blocks_;  // newest first
  std::vector<std::unique_ptr<metrics::Querier>> block_queriers_;
  std::vector<std::shared_ptr<const tsdb::BlockReader>> readers_;
  std::vector<std::unique_ptr<metrics::Querier>> merged_;
  int64_t mint_, maxt_;
  telemetry::Counter* queried_;
  telemetry::Counter* pruned_;
  telemetry::Gauge* loaded_;
  telemetry::Counter* loads_;
  telemetry::Counter* load_failures_;
};

// The block's index as a lazy reader: the local index-header
// (<local_dir>/<ULID>/index-header, built from ranged reads of the index
// object on first use, written atomically, reused after a restart, rebuilt
// when unreadable) over ranged reads of the index object.
Result<std::unique_ptr<tsdb::IndexReader>> OpenIndex(const BucketStoreOptions& o,
                                                     BucketStore::Block& b) {
  io::Env* env = o.env;
  std::optional<uint64_t> size;
  for (const blocks::BlockFile& f : b.meta.files) {
    if (f.rel_path == "index") size = f.size_bytes;
  }
  const std::string key = b.prefix + "index";
  // No page cache: the index cache holds what was read.
  SL_ASSIGN_OR_RETURN(std::unique_ptr<io::RandomAccessFile> remote,
                      io::OpenObjectFile(o.store, key, nullptr, size));
  const std::string path = io::JoinPath(b.local_dir, "index-header");
  if (env->FileExists(path)) {
    SL_ASSIGN_OR_RETURN(std::unique_ptr<io::RandomAccessFile> again,
                        io::OpenObjectFile(o.store, key, nullptr, remote->Size()));
    auto ix = tsdb::IndexReader::OpenLazy(env, path, std::move(again));
    if (ix.ok()) return ix;
    log::Warn("store gateway: index-header unreadable, building it again",
              {{"path", path}, {"err", ix.status().ToString()}});
    (void)env->RemoveFile(path);
  }
  SL_ASSIGN_OR_RETURN(std::string header, tsdb::IndexReader::BuildHeader(*remote));
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env, b.local_dir));
  SL_RETURN_IF_ERROR(env->WriteFileAtomic(path, header));
  return tsdb::IndexReader::OpenLazy(env, path, std::move(remote));
}

const uint64_t kEmptyTombstonesSize = tsdb::EncodeTombstones({}).size();

Result<std::shared_ptr<const tsdb::BlockReader>> LoadBlock(const BucketStoreOptions& o,
                                                           BucketStore::Block& b) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<tsdb::IndexReader> index, OpenIndex(o, b));
  if (o.index_cache != nullptr) index->SetCache(o.index_cache, b.meta.ulid.ToString());

  // Chunk segments: from meta.json's file list (with sizes: no Head
  // needed), else by listing chunks/.
  std::vector<std::pair<std::string, std::optional<uint64_t>>> segs;
  bool has_tombstones = false;
  if (!b.meta.files.empty()) {
    for (const blocks::BlockFile& f : b.meta.files) {
      if (f.rel_path.rfind("chunks/", 0) == 0) {
        segs.emplace_back(b.prefix + f.rel_path, f.size_bytes);
      } else if (f.rel_path == "tombstones") {
        // An empty tombstones file (header and CRC only) is not worth a GET.
        has_tombstones = f.size_bytes != kEmptyTombstonesSize;
      }
    }
  } else {
    SL_RETURN_IF_ERROR(io::ListAll(*o.store, b.prefix + "chunks/", [&](const io::ObjectInfo& i) {
      segs.emplace_back(i.key, i.size);
      return Status::Ok();
    }));
    has_tombstones = true;  // try it; missing is fine
  }
  // Segment order is the numeric order of the file names (000001, ...),
  // which for equal-width names is the byte order.
  std::sort(segs.begin(), segs.end(), [](const auto& x, const auto& y) {
    if (x.first.size() != y.first.size()) return x.first.size() < y.first.size();
    return x.first < y.first;
  });
  std::vector<std::unique_ptr<io::RandomAccessFile>> files;
  std::vector<std::string> names;
  std::vector<std::pair<std::string, uint64_t>> segments;
  for (auto& [key, size] : segs) {
    SL_ASSIGN_OR_RETURN(auto f, io::OpenObjectFile(o.store, key, o.page_cache, size));
    segments.emplace_back(key, f->Size());
    files.push_back(std::move(f));
    names.push_back(key);
  }
  b.segments = std::move(segments);
  SL_ASSIGN_OR_RETURN(auto chunks, tsdb::ChunkReader::FromFiles(std::move(files), std::move(names)));

  tsdb::Tombstones tombstones;
  if (has_tombstones) {
    auto t = o.store->Get(b.prefix + "tombstones");
    if (t.ok()) {
      auto decoded = tsdb::DecodeTombstones(*t);
      if (!decoded.ok()) return decoded.status().Annotate(b.prefix + "tombstones");
      tombstones = std::move(*decoded);
    } else if (t.status().code() != StatusCode::kNotFound) {
      return t.status();
    }
  }
  SL_ASSIGN_OR_RETURN(auto reader,
                      tsdb::BlockReader::FromParts(b.meta, std::move(index), std::move(chunks),
                                                   std::move(tombstones), b.prefix));
  return std::shared_ptr<const tsdb::BlockReader>(std::move(reader));
}

}  // namespace

BucketStore::BucketStore(BucketStoreOptions options) : options_(std::move(options)) {
  if (options_.env == nullptr) options_.env = io::Env::Default();
  if (options_.prefix.empty()) options_.prefix = blocks::TenantPrefix("metrics", options_.tenant);
  telemetry::Registry& reg =
      options_.registry != nullptr ? *options_.registry : telemetry::Registry::Default();
  metrics_ = std::make_unique<Metrics>();
  metrics_->syncs = &reg.AddCounter("thanos_blocks_meta_syncs_total",
                                    "Total blocks metadata synchronization attempts.")
                         .Get();
  metrics_->sync_failures = &reg.AddCounter("thanos_blocks_meta_sync_failures_total",
                                            "Total blocks metadata synchronization failures.")
                                 .Get();
  metrics_->loaded = &reg.AddGauge("thanos_bucket_store_blocks_loaded",
                                   "Number of currently loaded blocks.")
                          .Get();
  metrics_->loads = &reg.AddCounter("thanos_bucket_store_block_loads_total",
                                    "Total number of remote block loading attempts.")
                         .Get();
  metrics_->load_failures = &reg.AddCounter("thanos_bucket_store_block_load_failures_total",
                                            "Total number of failed remote block loading attempts.")
                                 .Get();
  auto& q = reg.AddCounter("sightline_bucket_store_blocks_queried_total",
                           "Blocks considered by store gateway queries, by outcome (pruned by "
                           "external labels, or queried).",
                           {"outcome"});
  metrics_->queried = &q.WithLabels({"queried"});
  metrics_->pruned = &q.WithLabels({"pruned"});
}

BucketStore::~BucketStore() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [ulid, b] : blocks_) {
    std::lock_guard<std::mutex> bl(b->mu);
    if (b->reader != nullptr) metrics_->loaded->Dec();
  }
}

Status BucketStore::Sync() {
  metrics_->syncs->Inc();
  // One recursive listing: which block folders have meta.json.
  std::set<blocks::Ulid> complete;
  std::set<std::string> other_dirs;
  Status s = io::ListAll(*options_.store, options_.prefix, [&](const io::ObjectInfo& info) {
    std::string_view rest = std::string_view(info.key).substr(options_.prefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return Status::Ok();
    auto ulid = blocks::Ulid::Parse(rest.substr(0, slash));
    if (!ulid.ok()) return Status::Ok();  // not a block folder
    if (rest.substr(slash + 1) == "meta.json") complete.insert(*ulid);
    return Status::Ok();
  });
  if (!s.ok()) {
    metrics_->sync_failures->Inc();
    return s.Annotate("store gateway: listing " + options_.prefix);
  }

  std::vector<blocks::Ulid> fresh;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = blocks_.begin(); it != blocks_.end();) {
      if (complete.count(it->first) == 0) {
        log::Info("store gateway: block gone from the bucket",
                  {{"tenant", options_.tenant}, {"block", it->first.ToString()}});
        {
          std::lock_guard<std::mutex> bl(it->second->mu);
          if (it->second->reader != nullptr) metrics_->loaded->Dec();
        }
        (void)options_.env->RemoveAll(it->second->local_dir);
        it = blocks_.erase(it);
      } else {
        ++it;
      }
    }
    for (const blocks::Ulid& u : complete) {
      if (blocks_.count(u) == 0) fresh.push_back(u);
    }
  }

  Status first_error;
  std::map<blocks::Ulid, std::shared_ptr<Block>> added;
  for (const blocks::Ulid& u : fresh) {
    auto meta = blocks::ReadMeta(*options_.store, options_.prefix, u);
    if (!meta.ok()) {
      if (meta.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
      log::Warn("store gateway: unreadable meta.json, block skipped",
                {{"tenant", options_.tenant},
                 {"block", u.ToString()},
                 {"err", meta.status().ToString()}});
      if (meta.status().code() != StatusCode::kDataLoss && first_error.ok()) {
        first_error = meta.status();
      }
      continue;
    }
    auto b = std::make_shared<Block>();
    b->meta = std::move(*meta);
    std::vector<metrics::Label> ext;
    for (const auto& [k, v] : b->meta.labels) ext.push_back(metrics::Label{k, v});
    b->ext_labels = metrics::Labels::FromSortedUnchecked(std::move(ext));  // std::map: sorted
    b->prefix = blocks::BlockPrefix(options_.prefix, u);
    b->local_dir = io::JoinPath(options_.local_dir, u.ToString());
    added.emplace(u, std::move(b));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [u, b] : added) blocks_.emplace(u, std::move(b));
  }
  if (!fresh.empty() || !added.empty()) {
    log::Info("store gateway: synced blocks", {{"tenant", options_.tenant},
                                              {"new", static_cast<int64_t>(added.size())},
                                              {"total", static_cast<int64_t>(complete.size())}});
  }

  // Local folders (index-headers) of blocks no longer in the bucket (e.g.
  // deleted while we were down).
  if (options_.env->FileExists(options_.local_dir)) {
    auto children = options_.env->GetChildren(options_.local_dir);
    if (children.ok()) {
      for (const std::string& name : *children) {
        auto u = blocks::Ulid::Parse(name);
        if (!u.ok()) continue;
        const std::string dir = io::JoinPath(options_.local_dir, name);
        if (complete.count(*u) == 0) {
          (void)options_.env->RemoveAll(dir);
        } else if (!legacy_checked_) {
          // Whole-index copies of the old layout (before index-headers).
          const std::string legacy = io::JoinPath(dir, "index");
          if (options_.env->FileExists(legacy)) (void)options_.env->RemoveFile(legacy);
        }
      }
    }
  }
  legacy_checked_ = true;
  if (!first_error.ok()) metrics_->sync_failures->Inc();
  return first_error;
}

std::unique_ptr<metrics::Querier> BucketStore::Querier(int64_t mint, int64_t maxt,
                                                       std::set<blocks::Ulid> exclude) {
  std::vector<std::shared_ptr<Block>> picked;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [u, b] : blocks_) {
      if (exclude.count(u) != 0) continue;
      if (b->meta.min_time <= maxt && b->meta.max_time > mint) picked.push_back(b);
    }
  }
  // Newest first: on equal timestamps the fresher block wins the merge.
  std::sort(picked.begin(), picked.end(), [](const auto& a, const auto& b) {
    if (a->meta.max_time != b->meta.max_time) return a->meta.max_time > b->meta.max_time;
    return a->meta.ulid > b->meta.ulid;
  });
  return std::make_unique<BucketQuerier>(&options_, std::move(picked), mint, maxt,
                                         metrics_->queried, metrics_->pruned, metrics_->loaded,
                                         metrics_->loads, metrics_->load_failures);
}

std::vector<blocks::BlockMeta> BucketStore::Blocks() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<blocks::BlockMeta> out;
  for (const auto& [u, b] : blocks_) out.push_back(b->meta);
  return out;
}

int BucketStore::LoadedBlocks() const {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (const auto& [u, b] : blocks_) {
    std::lock_guard<std::mutex> bl(b->mu);
    if (b->reader != nullptr) ++n;
  }
  return n;
}

}  // namespace sightline::storegateway
