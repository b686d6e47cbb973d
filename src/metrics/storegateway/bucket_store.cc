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
#include "metrics/tsdb/index/index_cache.h"
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

class BucketQuerier final : public metrics::Querier {
 public:
  BucketQuerier(const BucketStoreOptions* options, std::vector<std::shared_ptr<BucketStore::Block>> blocks,
                int64_t mint, int64_t maxt, telemetry::Counter* queried, telemetry::Counter* pruned,
                telemetry::Gauge* loaded, telemetry::Counter* loads,
                telemetry::Counter* load_failures)
      : options_(options),
        blocks_(std::move(blocks)),
        block_queriers_(blocks_.size()),
        mint_(mint),
        maxt_(maxt),
        queried_(queried),
        pruned_(pruned),
        loaded_(loaded),
        loads_(loads),
        load_failures_(load_failures) {}

  std::unique_ptr<metrics::SeriesSet> Select(bool sorted, const metrics::SelectHints* hints,
                                             const std::vector<promql::Matcher>& matchers) override {
    auto q = Prepare(matchers);
    if (!q.ok()) return tsdb::ErrorSeriesSet(q.status());
    return (*q)->Select(sorted, hints, matchers);
  }

  Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) override {
    SL_ASSIGN_OR_RETURN(metrics::Querier * q, Prepare(matchers));
    return q->LabelValues(name, matchers);
  }

  Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) override {
    SL_ASSIGN_OR_RETURN(metrics::Querier * q, Prepare(matchers));
    return q->LabelNames(matchers);
  }

 private:
  // A merge over the blocks that can match `matchers`; owned by this.
  Result<metrics::Querier*> Prepare(const std::vector<promql::Matcher>& matchers) {
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
        block_queriers_[i] = metrics::NewExternalLabelsQuerier(
            tsdb::NewBlockQuerier(std::move(reader), mint_, maxt_), b.ext_labels);
      }
      parts.push_back(std::make_unique<BorrowedQuerier>(block_queriers_[i].get()));
    }
    merged_.push_back(tsdb::NewMergeQuerier(std::move(parts)));
    return merged_.back().get();
  }

  const BucketStoreOptions* options_;
  std::vector<std::shared_ptr<BucketStore::Block>> blocks_;  // newest first
  std::vector<std::unique_ptr<metrics::Querier>> block_queriers_;
  std::vector<std::unique_ptr<metrics::Querier>> merged_;
  int64_t mint_, maxt_;
  telemetry::Counter* queried_;
  telemetry::Counter* pruned_;
  telemetry::Gauge* loaded_;
  telemetry::Counter* loads_;
  telemetry::Counter* load_failures_;
};

// Downloads the index unless a complete local copy exists (WriteFileAtomic
// renames it into place, so a present file is whole).
Result<std::unique_ptr<tsdb::IndexReader>> OpenIndex(const BucketStoreOptions& o,
                                                     BucketStore::Block& b) {
  io::Env* env = o.env;
  const std::string path = io::JoinPath(b.local_dir, "index");
  if (env->FileExists(path)) {
    auto ix = tsdb::IndexReader::Open(env, path);
    if (ix.ok()) return ix;
    log::Warn("store gateway: local index copy unreadable, downloading again",
              {{"path", path}, {"err", ix.status().ToString()}});
    (void)env->RemoveFile(path);
  }
  SL_ASSIGN_OR_RETURN(std::string data, o.store->Get(b.prefix + "index"));
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env, b.local_dir));
  SL_RETURN_IF_ERROR(env->WriteFileAtomic(path, data));
  return tsdb::IndexReader::Open(env, path);
}

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
        has_tombstones = true;
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
  for (auto& [key, size] : segs) {
    SL_ASSIGN_OR_RETURN(auto f, io::OpenObjectFile(o.store, key, o.page_cache, size));
    files.push_back(std::move(f));
    names.push_back(key);
  }
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

  // Local index copies of blocks that are no longer in the bucket (e.g.
  // deleted while we were down).
  if (options_.env->FileExists(options_.local_dir)) {
    auto children = options_.env->GetChildren(options_.local_dir);
    if (children.ok()) {
      for (const std::string& name : *children) {
        auto u = blocks::Ulid::Parse(name);
        if (u.ok() && complete.count(*u) == 0) {
          (void)options_.env->RemoveAll(io::JoinPath(options_.local_dir, name));
        }
      }
    }
  }
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
