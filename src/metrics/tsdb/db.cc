#include "metrics/tsdb/db.h"

#include <algorithm>

#include "base/heap.h"
#include "blocks/bucket.h"
#include "metrics/tsdb/db_querier.h"
#include "telemetry/log.h"

namespace sightline::tsdb {

namespace {

constexpr char kWalDir[] = "wal";
constexpr char kBlocksDir[] = "blocks";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// An Appender for a DB that is closed: every call fails.
class ClosedAppender final : public metrics::Appender {
 public:
  Result<uint64_t> Append(uint64_t, const Labels&, int64_t, double) override { return Err(); }
  Status AppendExemplar(uint64_t, const Labels&, const metrics::Exemplar&) override {
    return Err();
  }
  Status UpdateMetadata(const std::string&, const metrics::MetricMetadata&) override {
    return Err();
  }
  Status Commit() override { return Err(); }
  void Rollback() override {}

 private:
  static Status Err() { return UnavailableError("metrics TSDB is closed"); }
};

}  // namespace

DB::DB(DBOptions options)
    : options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : io::Env::Default()) {}

DB::~DB() {
  if (Status s = Close(); !s.ok()) {
    log::Error("closing metrics TSDB", {{"tenant", options_.tenant}, {"err", s.ToString()}});
  }
}

std::string DB::blocks_dir() const { return io::JoinPath(options_.dir, kBlocksDir); }

Result<std::unique_ptr<DB>> DB::Open(DBOptions options) {
  if (options.dir.empty()) return InvalidArgumentError("metrics TSDB: no directory");
  if (options.head.chunk_range_ms <= 0) {
    return InvalidArgumentError("metrics TSDB: block range must be positive");
  }
  std::unique_ptr<DB> db(new DB(std::move(options)));
  SL_RETURN_IF_ERROR(db->Init());
  return db;
}

Status DB::Init() {
  metrics_ = TsdbMetrics::Make(options_.registry);
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env_, options_.dir));
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env_, blocks_dir()));
  SL_RETURN_IF_ERROR(LoadBlocks());

  wal::WalOptions wo;
  wo.dir = io::JoinPath(options_.dir, kWalDir);
  wo.env = env_;
  wo.segment_size = options_.wal_segment_size;
  wo.sync_policy = options_.wal_sync_policy;
  wo.sync_interval = options_.wal_sync_interval;
  wo.compression = options_.wal_compression;
  wo.registry = options_.registry;
  wo.metrics_prefix = "prometheus_tsdb_wal_";
  SL_ASSIGN_OR_RETURN(wal_, wal::Wal::Open(std::move(wo)));

  HeadOptions ho = options_.head;
  ho.wal = wal_.get();
  // Full head chunks go to <dir>/chunks_head (real files only: they are
  // memory-mapped, which an injected Env cannot do).
  if (ho.chunks_dir.empty() && env_ == io::Env::Default()) {
    ho.chunks_dir = io::JoinPath(options_.dir, "chunks_head");
  }
  ho.metrics = metrics_.get();
  ho.on_compactable = options_.on_compactable;
  head_ = std::make_unique<Head>(std::move(ho));
  {
    std::shared_lock<std::shared_mutex> l(blocks_mu_);
    int64_t max_block_time = head_internal::kMinTime;
    for (const auto& b : blocks_) max_block_time = std::max(max_block_time, b->meta().max_time);
    head_->SetMinValidTime(max_block_time);
  }
  SL_RETURN_IF_ERROR(head_->ReplayWal());
  {
    // Replay's transient memory (decoded batches, the chunk-file index, the
    // workers' buffers) is free now: give its pages back before the server
    // reports ready, instead of after the allocator's decay time (and only
    // if the threads that freed it allocate again).
    const std::optional<HeapStats> before = ReadHeapStats();
    ReleaseFreeHeapMemory();
    if (const std::optional<HeapStats> after = ReadHeapStats(); before && after) {
      log::Info("heap after metrics WAL replay", {{"dir", options_.dir},
                                                  {"allocated_bytes", after->allocated},
                                                  {"resident_bytes_before_purge", before->resident},
                                                  {"resident_bytes", after->resident}});
    }
  }

  if (options_.store != nullptr) {
    blocks::ShipperOptions so;
    so.signal = "metrics";
    so.local_dir = blocks_dir();
    so.remote_prefix = options_.remote_prefix.empty()
                           ? blocks::TenantPrefix("metrics", options_.tenant)
                           : options_.remote_prefix;
    so.external_labels = options_.external_labels;
    so.source = "sidecar";
    so.interval = options_.ship_interval;
    so.min_backoff = options_.ship_min_backoff;
    so.max_backoff = options_.ship_max_backoff;
    shipper_ = std::make_unique<blocks::Shipper>(env_, options_.store, std::move(so));
    SL_RETURN_IF_ERROR(shipper_->Init());
    shipper_->Start();
  }
  return Status::Ok();
}

Status DB::LoadBlocks() {
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, env_->GetChildren(blocks_dir()));
  std::vector<std::shared_ptr<const BlockReader>> loaded;
  for (const std::string& name : children) {
    const std::string path = io::JoinPath(blocks_dir(), name);
    if (EndsWith(name, ".tmp")) {
      // A block write interrupted by a crash.
      log::Warn("removing incomplete block", {{"dir", path}});
      SL_RETURN_IF_ERROR(env_->RemoveAll(path));
      continue;
    }
    if (!blocks::Ulid::Parse(name).ok()) continue;  // shipper.json and the like
    if (!env_->FileExists(io::JoinPath(path, "meta.json"))) continue;
    Result<std::unique_ptr<BlockReader>> r = BlockReader::Open(env_, path);
    if (!r.ok()) {
      log::Error("cannot open block; leaving it alone",
                 {{"dir", path}, {"err", r.status().ToString()}});
      continue;
    }
    loaded.push_back(std::shared_ptr<const BlockReader>(std::move(r).value()));
  }
  std::sort(loaded.begin(), loaded.end(),
            [](const auto& a, const auto& b) { return a->meta().min_time < b->meta().min_time; });
  metrics_->blocks_loaded->Add(static_cast<double>(loaded.size()));
  std::unique_lock<std::shared_mutex> l(blocks_mu_);
  blocks_ = std::move(loaded);
  return Status::Ok();
}

std::unique_ptr<metrics::Appender> DB::NewAppender() {
  {
    std::lock_guard<std::mutex> l(close_mu_);
    if (closed_) return std::make_unique<ClosedAppender>();
  }
  return head_->NewAppender();
}

Result<std::unique_ptr<metrics::Querier>> DB::NewQuerier(int64_t mint, int64_t maxt) {
  std::vector<std::unique_ptr<metrics::Querier>> qs;
  // The head first: its lease makes a concurrent cut wait for this querier
  // before truncating, so the blocks listed below plus the head cover
  // everything whichever way the race goes.
  qs.push_back(head_->NewQuerier(mint, maxt));
  {
    std::shared_lock<std::shared_mutex> l(blocks_mu_);
    // Newest blocks first: on equal timestamps the fresher source wins.
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      const blocks::BlockMeta& m = (*it)->meta();
      if (m.min_time <= maxt && m.max_time > mint) qs.push_back(NewBlockQuerier(*it, mint, maxt));
    }
  }
  return NewMergeQuerier(std::move(qs));
}

Result<std::vector<ExemplarSeries>> DB::QueryExemplars(
    int64_t mint, int64_t maxt, const std::vector<std::vector<promql::Matcher>>& selectors) {
  return head_->QueryExemplars(mint, maxt, selectors);
}

std::map<std::string, std::vector<metrics::MetricMetadata>> DB::Metadata(std::string_view metric,
                                                                         int limit) const {
  return head_->Metadata(metric, limit);
}

Result<int> DB::CutBlocks() {
  std::lock_guard<std::mutex> l(cut_mu_);
  int n = 0;
  while (head_->Compactable()) {
    auto [mint, maxt] = head_->NextBlockRange();
    Status st = CutBlock(mint, maxt);
    if (!st.ok()) {
      metrics_->compactions_failed->Inc();
      log::Error(
          "block cut failed",
          {{"tenant", options_.tenant}, {"mint", mint}, {"maxt", maxt}, {"err", st.ToString()}});
      return st;
    }
    ++n;
  }
  return n;
}

Status DB::CutBlock(int64_t mint, int64_t maxt) {
  const auto start = std::chrono::steady_clock::now();
  // From here on no sample below maxt gets in, so the block is complete.
  head_->RaiseMinValidTime(maxt);
  std::vector<SeriesInput> series;
  SL_RETURN_IF_ERROR(head_->SeriesForBlock(mint, maxt, &series));
  if (!series.empty()) {
    WriteBlockOptions wo;
    wo.min_time = mint;
    wo.max_time = maxt;
    wo.ulid = blocks::NewUlid();
    wo.meta.compaction_level = 1;
    wo.meta.compaction_sources = {wo.ulid};
    wo.meta.labels = options_.external_labels;
    wo.meta.source = "sidecar";
    wo.meta.signal = "metrics";
    wo.meta.tenant = options_.tenant;
    wo.samples_per_chunk = options_.head.samples_per_chunk;
    SL_ASSIGN_OR_RETURN(blocks::Ulid ulid, WriteBlock(env_, blocks_dir(), series, wo));
    series.clear();
    series.shrink_to_fit();
    const std::string dir = io::JoinPath(blocks_dir(), ulid.ToString());
    SL_ASSIGN_OR_RETURN(std::unique_ptr<BlockReader> reader, BlockReader::Open(env_, dir));
    const blocks::BlockMeta meta = reader->meta();
    {
      std::unique_lock<std::shared_mutex> bl(blocks_mu_);
      blocks_.push_back(std::shared_ptr<const BlockReader>(std::move(reader)));
      std::sort(blocks_.begin(), blocks_.end(), [](const auto& a, const auto& b) {
        return a->meta().min_time < b->meta().min_time;
      });
    }
    metrics_->compactions->Inc();
    metrics_->blocks_loaded->Inc();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto stat = [&](const char* k) {
      auto it = meta.stats.find(k);
      return it == meta.stats.end() ? uint64_t{0} : it->second;
    };
    log::Info("block cut", {{"tenant", options_.tenant},
                            {"ulid", ulid.ToString()},
                            {"mint", mint},
                            {"maxt", maxt},
                            {"series", stat("numSeries")},
                            {"samples", stat("numSamples")},
                            {"duration_s", secs}});
  }
  // The block is visible to new queriers; now drop the data from the head.
  Status st = head_->Truncate(maxt);
  if (!st.ok()) {
    // The block is safe; only the WAL checkpoint failed (retried at the next
    // cut). Not a reason to fail the cut.
    log::Warn("head truncation: WAL checkpoint failed",
              {{"tenant", options_.tenant}, {"err", st.ToString()}});
  }
  if (shipper_ != nullptr) shipper_->Notify();
  return Status::Ok();
}

Result<int> DB::ApplyLocalRetention() {
  std::lock_guard<std::mutex> cl(cut_mu_);
  if (options_.local_retention_ms <= 0) return 0;
  std::vector<std::shared_ptr<const BlockReader>> doomed;
  {
    std::unique_lock<std::shared_mutex> l(blocks_mu_);
    if (blocks_.empty()) return 0;
    int64_t newest = head_internal::kMinTime;
    for (const auto& b : blocks_) newest = std::max(newest, b->meta().max_time);
    std::vector<std::shared_ptr<const BlockReader>> keep;
    for (auto& b : blocks_) {
      const bool expired = newest - b->meta().max_time > options_.local_retention_ms;
      const bool safe = shipper_ == nullptr || shipper_->IsUploaded(b->meta().ulid);
      if (expired && safe) {
        doomed.push_back(std::move(b));
      } else {
        keep.push_back(std::move(b));
      }
    }
    blocks_ = std::move(keep);
  }
  for (const auto& b : doomed) {
    const std::string dir = io::JoinPath(blocks_dir(), b->meta().ulid.ToString());
    // Queriers still holding the block keep reading it (open files / maps
    // survive the unlink).
    if (Status s = env_->RemoveAll(dir); !s.ok()) {
      log::Error("cannot delete local block", {{"dir", dir}, {"err", s.ToString()}});
      continue;
    }
    log::Info("local block deleted (retention, uploaded)",
              {{"tenant", options_.tenant}, {"ulid", b->meta().ulid.ToString()}});
  }
  if (!doomed.empty()) {
    (void)env_->SyncDir(blocks_dir());
    metrics_->blocks_loaded->Add(-static_cast<double>(doomed.size()));
    metrics_->blocks_deleted->Inc(static_cast<double>(doomed.size()));
  }
  return static_cast<int>(doomed.size());
}

Status DB::Maintain() {
  Result<int> cut = CutBlocks();
  Result<int> deleted = ApplyLocalRetention();
  head_->ReportTimes();
  if (!cut.ok()) return cut.status();
  return deleted.status();
}

std::vector<LocalBlock> DB::Blocks() const {
  std::vector<LocalBlock> out;
  std::shared_lock<std::shared_mutex> l(blocks_mu_);
  for (const auto& b : blocks_) {
    LocalBlock lb;
    lb.meta = b->meta();
    lb.dir = io::JoinPath(blocks_dir(), b->meta().ulid.ToString());
    lb.uploaded = shipper_ != nullptr && shipper_->IsUploaded(b->meta().ulid);
    out.push_back(std::move(lb));
  }
  return out;
}

Status DB::Close() {
  {
    std::lock_guard<std::mutex> l(close_mu_);
    if (closed_) return Status::Ok();
    closed_ = true;
  }
  if (shipper_ != nullptr) shipper_->Stop();
  Status st;
  if (wal_ != nullptr) st = wal_->Close();
  {
    std::shared_lock<std::shared_mutex> l(blocks_mu_);
    metrics_->blocks_loaded->Add(-static_cast<double>(blocks_.size()));
  }
  return st;
}

}  // namespace sightline::tsdb
