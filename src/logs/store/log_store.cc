#include "logs/store/log_store.h"

#include <algorithm>
#include <condition_variable>
#include <shared_mutex>
#include <unordered_map>

#include "blocks/bucket.h"
#include "blocks/shipper.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_store.h"
#include "logs/store/codec.h"
#include "logs/store/log_block.h"
#include "telemetry/log.h"
#include "wal/wal.h"

namespace sightline::logs::store {

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t ns) {
  time_t s = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t EntrySize(const Entry& e) {
  int64_t n = static_cast<int64_t>(e.line.size());
  for (const auto& l : e.structured_metadata) n += l.name.size() + l.value.size();
  return n;
}

bool MatchesAll(const std::vector<Matcher>& ms, const Labels& labels) {
  for (const auto& m : ms) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

struct HeadStream {
  Labels labels;
  std::vector<Entry> entries;
  int64_t newest = INT64_MIN;
  int64_t oldest = INT64_MAX;
};

struct Head {
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<HeadStream>>> by_hash;
  size_t num_streams = 0;
  uint64_t bytes = 0;
  int64_t created_ns = NowNs();

  HeadStream* Find(const Labels& l) {
    auto it = by_hash.find(l.Hash());
    if (it == by_hash.end()) return nullptr;
    for (auto& s : it->second) {
      if (s->labels == l) return s.get();
    }
    return nullptr;
  }
  HeadStream* Create(const Labels& l) {
    auto s = std::make_unique<HeadStream>();
    s->labels = l;
    HeadStream* p = s.get();
    by_hash[l.Hash()].push_back(std::move(s));
    ++num_streams;
    return p;
  }
  void Add(HeadStream* s, Entry e) {
    s->newest = std::max(s->newest, e.timestamp_ns);
    s->oldest = std::min(s->oldest, e.timestamp_ns);
    bytes += EntrySize(e);
    s->entries.push_back(std::move(e));
  }
  bool empty() const { return num_streams == 0; }
};

class VectorIterator final : public StreamIterator {
 public:
  VectorIterator(Labels labels, std::vector<Entry> entries)
      : labels_(std::move(labels)), entries_(std::move(entries)) {}
  const Labels& labels() const override { return labels_; }
  bool Next() override {
    if (pos_ >= entries_.size()) return false;
    ++pos_;
    return true;
  }
  const Entry& entry() const override { return entries_[pos_ - 1]; }
  Status status() const override { return Status::Ok(); }

 private:
  Labels labels_;
  std::vector<Entry> entries_;
  size_t pos_ = 0;
};

}  // namespace

class TenantStore {
 public:
  TenantStore(std::string tenant, std::string dir, const LogStoreOptions& o)
      : tenant_(std::move(tenant)), dir_(std::move(dir)), o_(o) {}

  ~TenantStore() {
    if (shipper_) shipper_->Stop();
  }

  Status Open() {
    io::Env* env = o_.env;
    SL_RETURN_IF_ERROR(env->CreateDirs(dir_ + "/blocks"));
    SL_RETURN_IF_ERROR(env->CreateDirs(dir_ + "/wal"));
    uint64_t wal_upto = 0;
    SL_ASSIGN_OR_RETURN(auto children, env->GetChildren(dir_ + "/blocks"));
    for (const auto& c : children) {
      auto ulid = blocks::Ulid::Parse(c);
      if (!ulid.ok()) continue;
      std::string bdir = dir_ + "/blocks/" + c;
      if (!env->FileExists(bdir + "/meta.json")) {
        log::Warn("removing incomplete logs block", {{"dir", bdir}});
        (void)env->RemoveAll(bdir);
        continue;
      }
      SL_ASSIGN_OR_RETURN(std::string mj, env->ReadFile(bdir + "/meta.json"));
      auto meta = blocks::BlockMeta::Parse(mj);
      if (!meta.ok()) {
        log::Error("unreadable logs block meta", {{"dir", bdir}, {"err", meta.status().ToString()}});
        continue;
      }
      if (auto it = meta->stats.find("walSegment"); it != meta->stats.end()) {
        wal_upto = std::max(wal_upto, it->second);
      }
      auto b = LogBlock::Open(LocalBlockSource(env, bdir), *meta);
      if (!b.ok()) {
        log::Error("unreadable logs block", {{"dir", bdir}, {"err", b.status().ToString()}});
        continue;
      }
      local_[meta->ulid] = *b;
    }
    wal::WalOptions wo;
    wo.dir = dir_ + "/wal";
    wo.env = env;
    wo.sync_policy = o_.wal_sync ? wal::SyncPolicy::kAlways : wal::SyncPolicy::kNone;
    wo.metrics_prefix = "loki_ingester_wal_";
    SL_ASSIGN_OR_RETURN(wal_, wal::Wal::Open(wo));
    int64_t replayed = 0;
    std::vector<PushStream> streams;
    SL_RETURN_IF_ERROR(wal_->Replay([&](std::string_view rec, wal::WalPosition pos) -> Status {
      if (pos.segment < wal_upto) return Status::Ok();  // already in a block
      Status s = DecodeWalRecord(rec, &streams);
      if (!s.ok()) {
        log::Error("skipping undecodable logs WAL record",
                   {{"tenant", tenant_}, {"segment", static_cast<uint64_t>(pos.segment)},
                    {"err", s.ToString()}});
        return Status::Ok();
      }
      for (auto& st : streams) {
        HeadStream* hs = head_->Find(st.labels);
        if (!hs) hs = head_->Create(st.labels);
        for (auto& e : st.entries) {
          head_->Add(hs, std::move(e));
          ++replayed;
        }
      }
      return Status::Ok();
    }));
    if (wal_upto > 0) {
      uint32_t upto = static_cast<uint32_t>(std::min<uint64_t>(wal_upto, wal_->CurrentSegment()));
      Status s = wal_->RemoveSegmentsBefore(upto);
      if (!s.ok()) log::Warn("logs WAL cleanup failed", {{"err", s.ToString()}});
    }
    if (replayed > 0) {
      log::Info("logs WAL replayed", {{"tenant", tenant_}, {"entries", replayed}});
    }
    if (o_.store != nullptr) {
      blocks::ShipperOptions so;
      so.signal = "logs";
      so.local_dir = dir_ + "/blocks";
      so.remote_prefix = blocks::TenantPrefix("logs", tenant_);
      so.source = "ingester";
      so.interval = o_.ship_interval;
      so.min_backoff = std::chrono::milliseconds(500);
      so.max_backoff = std::chrono::seconds(30);
      shipper_ = std::make_unique<blocks::Shipper>(env, o_.store, so);
      SL_RETURN_IF_ERROR(shipper_->Init());
      if (o_.background) shipper_->Start();
    }
    return Status::Ok();
  }

  Status Append(std::vector<PushStream>& streams, AppendResult* result) {
    std::shared_lock<std::shared_mutex> cut(cut_mu_);
    if (closed_) return UnavailableError("the log store is closed");
    std::vector<PushStream> accepted;
    std::vector<HeadStream*> targets;
    {
      std::lock_guard<std::mutex> l(head_mu_);
      for (auto& st : streams) {
        HeadStream* hs = head_->Find(st.labels);
        if (hs == nullptr) {
          if (o_.max_streams_per_tenant > 0 &&
              static_cast<int>(head_->num_streams) >= o_.max_streams_per_tenant) {
            int64_t bytes = 0;
            for (const auto& e : st.entries) bytes += EntrySize(e);
            result->rejections.push_back(
                {"stream_limit",
                 "Maximum active stream limit exceeded when trying to create stream " +
                     st.labels.ToString() +
                     ", reduce the number of active streams (reduce labels or reduce label "
                     "values), or contact your Loki administrator to see if the limit can be "
                     "increased, user: '" + tenant_ + "'",
                 static_cast<int64_t>(st.entries.size()), bytes});
            continue;
          }
          hs = head_->Create(st.labels);
        }
        int64_t newest = std::max(hs->newest, pending_newest_[hs]);
        PushStream keep;
        keep.labels = st.labels;
        Rejection behind{"too_far_behind", "", 0, 0};
        for (auto& e : st.entries) {
          if (newest != INT64_MIN && e.timestamp_ns < newest - o_.out_of_order_window_ns) {
            if (behind.entries == 0) {
              behind.message = "entry too far behind, entry timestamp is: " +
                               Rfc3339(e.timestamp_ns) + ", oldest acceptable timestamp is: " +
                               Rfc3339(newest - o_.out_of_order_window_ns) + " for stream " +
                               st.labels.ToString();
            }
            ++behind.entries;
            behind.bytes += EntrySize(e);
            continue;
          }
          newest = std::max(newest, e.timestamp_ns);
          keep.entries.push_back(std::move(e));
        }
        pending_newest_[hs] = newest;
        if (behind.entries > 0) result->rejections.push_back(std::move(behind));
        if (!keep.entries.empty()) {
          accepted.push_back(std::move(keep));
          targets.push_back(hs);
        }
      }
    }
    if (accepted.empty()) return Status::Ok();
    std::string rec = EncodeWalRecord(accepted);
    auto pos = wal_->Append(rec);
    if (!pos.ok()) return pos.status();
    std::lock_guard<std::mutex> l(head_mu_);
    for (size_t i = 0; i < accepted.size(); ++i) {
      for (auto& e : accepted[i].entries) {
        result->accepted_bytes += EntrySize(e);
        ++result->accepted_entries;
        head_->Add(targets[i], std::move(e));
      }
    }
    return Status::Ok();
  }

  // Cuts the head (and heads whose earlier cut failed) into a block.
  Status Cut() {
    std::lock_guard<std::mutex> serial(cut_serial_mu_);
    uint32_t seg = 0;
    {
      std::unique_lock<std::shared_mutex> cut(cut_mu_);
      std::lock_guard<std::mutex> l(head_mu_);
      if (head_->empty() && cutting_.empty()) return Status::Ok();
      if (!head_->empty()) {
        auto next = wal_->NextSegment();
        if (!next.ok()) return next.status();
        seg = *next;
        cutting_.push_back(std::move(head_));
        head_ = std::make_shared<Head>();
        pending_newest_.clear();
        cut_segment_ = seg;
      } else {
        seg = cut_segment_;
      }
    }
    // The heads being cut are immutable now: read them without the lock.
    std::vector<std::shared_ptr<Head>> heads;
    {
      std::lock_guard<std::mutex> l(head_mu_);
      heads = cutting_;
    }
    std::map<uint64_t, std::vector<PushStream>> merged;  // by labels hash
    for (const auto& h : heads) {
      for (const auto& [hash, list] : h->by_hash) {
        for (const auto& hs : list) {
          auto& bucket = merged[hash];
          PushStream* target = nullptr;
          for (auto& ps : bucket) {
            if (ps.labels == hs->labels) target = &ps;
          }
          if (!target) {
            bucket.push_back({hs->labels, {}});
            target = &bucket.back();
          }
          target->entries.insert(target->entries.end(), hs->entries.begin(), hs->entries.end());
        }
      }
    }
    std::vector<PushStream> streams;
    for (auto& [h, list] : merged) {
      for (auto& ps : list) streams.push_back(std::move(ps));
    }
    auto meta = WriteLogBlock(o_.env, dir_ + "/blocks", tenant_, std::move(streams),
                              {{"walSegment", seg}});
    if (!meta.ok()) {
      log::Error("cutting a logs block failed; will retry",
                 {{"tenant", tenant_}, {"err", meta.status().ToString()}});
      return meta.status();
    }
    std::string bdir = dir_ + "/blocks/" + meta->ulid.ToString();
    auto block = LogBlock::Open(LocalBlockSource(o_.env, bdir), *meta);
    if (!block.ok()) return block.status();
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      local_[meta->ulid] = *block;
    }
    {
      std::lock_guard<std::mutex> l(head_mu_);
      cutting_.clear();
    }
    Status s = wal_->RemoveSegmentsBefore(seg);
    if (!s.ok()) log::Warn("logs WAL truncation failed", {{"err", s.ToString()}});
    log::Info("cut logs block", {{"tenant", tenant_}, {"block", meta->ulid.ToString()},
                                 {"entries", meta->stats["numEntries"]}});
    if (shipper_) shipper_->Notify();
    return Status::Ok();
  }

  bool NeedsCut() {
    std::lock_guard<std::mutex> l(head_mu_);
    if (!cutting_.empty()) return true;
    if (head_->empty()) return false;
    return head_->bytes >= o_.max_head_bytes ||
           NowNs() - head_->created_ns >=
               std::chrono::duration_cast<std::chrono::nanoseconds>(o_.cut_interval).count();
  }

  Status Ship() {
    if (!shipper_) return Status::Ok();
    auto n = shipper_->Sync();
    return n.ok() ? Status::Ok() : n.status();
  }

  // Drops local copies of uploaded blocks older than local_retention.
  void ApplyLocalRetention() {
    if (!shipper_) return;
    int64_t now_ms = NowNs() / 1'000'000;
    std::vector<blocks::Ulid> drop;
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      for (const auto& [ulid, b] : local_) {
        if (!shipper_->IsUploaded(ulid)) continue;
        if (static_cast<int64_t>(ulid.time_ms()) + o_.local_retention.count() > now_ms) continue;
        drop.push_back(ulid);
      }
      for (const auto& u : drop) local_.erase(u);
      if (!drop.empty()) remote_listed_at_ = {};  // list again: they are remote now
    }
    for (const auto& u : drop) {
      (void)o_.env->RemoveAll(dir_ + "/blocks/" + u.ToString());
    }
  }

  Status Close() {
    Status s = Cut();
    Status sh = Ship();
    if (!sh.ok()) log::Warn("shipping logs blocks at shutdown failed", {{"err", sh.ToString()}});
    if (shipper_) shipper_->Stop();
    std::unique_lock<std::shared_mutex> cut(cut_mu_);
    closed_ = true;
    Status w = wal_ ? wal_->Close() : Status::Ok();
    return s.ok() ? w : s;
  }

  // --- reading ---

  struct Snapshot {
    std::vector<std::pair<Labels, std::vector<Entry>>> head;  // may repeat labels
    std::vector<std::shared_ptr<LogBlock>> blocks;
  };

  // Streams of the heads matching `ms` (entries copied only when
  // `with_entries`), and the blocks overlapping [start, end).
  Snapshot Take(const std::vector<Matcher>& ms, int64_t start, int64_t end, bool with_entries) {
    Snapshot snap;
    {
      std::lock_guard<std::mutex> l(head_mu_);
      std::vector<Head*> heads;
      for (auto& h : cutting_) heads.push_back(h.get());
      heads.push_back(head_.get());
      for (Head* h : heads) {
        for (const auto& [hash, list] : h->by_hash) {
          for (const auto& hs : list) {
            if (hs->entries.empty() || hs->newest < start || hs->oldest >= end) continue;
            if (!MatchesAll(ms, hs->labels)) continue;
            std::vector<Entry> es;
            if (with_entries) {
              for (const auto& e : hs->entries) {
                if (e.timestamp_ns >= start && e.timestamp_ns < end) es.push_back(e);
              }
            }
            snap.head.emplace_back(hs->labels, std::move(es));
          }
        }
      }
    }
    snap.blocks = Blocks(start, end);
    return snap;
  }

  std::vector<std::shared_ptr<LogBlock>> Blocks(int64_t start, int64_t end) {
    RefreshRemote();
    std::vector<std::shared_ptr<LogBlock>> out;
    std::vector<blocks::BlockMeta> to_open;
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      for (const auto& [u, b] : local_) {
        if (b->max_ts() >= start && b->min_ts() < end) out.push_back(b);
      }
      for (const auto& m : remote_metas_) {
        if (local_.count(m.ulid)) continue;
        if (m.max_time * 1'000'000 < start || m.min_time * 1'000'000 >= end) continue;
        auto it = remote_.find(m.ulid);
        if (it != remote_.end()) {
          out.push_back(it->second);
        } else {
          to_open.push_back(m);
        }
      }
    }
    for (auto& m : to_open) {
      auto b = LogBlock::Open(
          RemoteBlockSource(o_.store, blocks::BlockPrefix(blocks::TenantPrefix("logs", tenant_),
                                                          m.ulid)),
          m);
      if (!b.ok()) {
        log::Warn("cannot open logs block in the object store",
                  {{"block", m.ulid.ToString()}, {"err", b.status().ToString()}});
        continue;
      }
      (*b)->set_remote(true);
      std::lock_guard<std::mutex> bl(blocks_mu_);
      remote_[m.ulid] = *b;
      out.push_back(*b);
    }
    return out;
  }

  void RefreshRemote() {
    if (o_.store == nullptr) return;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      if (remote_listed_at_ != std::chrono::steady_clock::time_point{} &&
          now - remote_listed_at_ < o_.remote_list_ttl) {
        return;
      }
    }
    auto metas = blocks::ListBlocks(*o_.store, blocks::TenantPrefix("logs", tenant_));
    std::lock_guard<std::mutex> bl(blocks_mu_);
    remote_listed_at_ = now;
    if (!metas.ok()) {
      log::Warn("listing logs blocks failed", {{"tenant", tenant_},
                                               {"err", metas.status().ToString()}});
      return;
    }
    remote_metas_.clear();
    for (auto& m : *metas) {
      if (m.signal.empty() || m.signal == "logs") remote_metas_.push_back(std::move(m));
    }
  }

  const std::string& tenant() const { return tenant_; }

 private:
  std::string tenant_, dir_;
  LogStoreOptions o_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<blocks::Shipper> shipper_;

  std::shared_mutex cut_mu_;   // appends shared; the head swap exclusive
  std::mutex cut_serial_mu_;   // one cut at a time
  bool closed_ = false;
  uint32_t cut_segment_ = 0;

  std::mutex head_mu_;
  std::shared_ptr<Head> head_ = std::make_shared<Head>();
  std::vector<std::shared_ptr<Head>> cutting_;
  // Newest timestamp accepted per stream, including appends not applied yet.
  std::unordered_map<HeadStream*, int64_t> pending_newest_;

  std::mutex blocks_mu_;
  std::map<blocks::Ulid, std::shared_ptr<LogBlock>> local_;
  std::map<blocks::Ulid, std::shared_ptr<LogBlock>> remote_;
  std::vector<blocks::BlockMeta> remote_metas_;
  std::chrono::steady_clock::time_point remote_listed_at_{};
};

namespace {

class TenantQuerier final : public LogQuerier {
 public:
  explicit TenantQuerier(TenantStore* ts) : ts_(ts) {}

  Result<std::vector<std::unique_ptr<StreamIterator>>> SelectLogs(
      const SelectLogsParams& p) override {
    auto snap = ts_->Take(p.matchers, p.start_ns, p.end_ns, true);
    std::map<Labels, std::vector<Entry>> merged;
    for (auto& [labels, entries] : snap.head) {
      auto& dst = merged[labels];
      if (dst.empty()) {
        dst = std::move(entries);
      } else {
        dst.insert(dst.end(), std::make_move_iterator(entries.begin()),
                   std::make_move_iterator(entries.end()));
      }
    }
    TraceId want{};
    bool by_trace = p.trace_id.has_value() && ParseTraceId(*p.trace_id, &want);
    std::vector<Entry> scratch;
    for (const auto& b : snap.blocks) {
      const auto& streams = b->index().streams;
      std::vector<std::vector<uint32_t>> chunks_of(streams.size());
      if (by_trace) {
        const auto* refs = b->TraceRefs(want);
        if (refs == nullptr) continue;  // the block cannot hold the trace
        for (const auto& r : *refs) chunks_of[r.stream].push_back(r.chunk);
      } else {
        for (uint32_t s = 0; s < streams.size(); ++s) {
          for (uint32_t c = 0; c < streams[s].chunks.size(); ++c) chunks_of[s].push_back(c);
        }
      }
      for (uint32_t s = 0; s < streams.size(); ++s) {
        if (chunks_of[s].empty() || !MatchesAll(p.matchers, streams[s].labels)) continue;
        for (uint32_t c : chunks_of[s]) {
          const ChunkRef& ref = streams[s].chunks[c];
          if (ref.max_ts < p.start_ns || ref.min_ts >= p.end_ns) continue;
          scratch.clear();
          SL_RETURN_IF_ERROR(b->ReadChunk(ref, &scratch));
          auto& dst = merged[streams[s].labels];
          for (auto& e : scratch) {
            if (e.timestamp_ns >= p.start_ns && e.timestamp_ns < p.end_ns) {
              dst.push_back(std::move(e));
            }
          }
        }
      }
    }
    std::vector<std::unique_ptr<StreamIterator>> out;
    out.reserve(merged.size());
    for (auto& [labels, entries] : merged) {
      if (entries.empty()) continue;
      std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.timestamp_ns < b.timestamp_ns;
      });
      if (p.direction == Direction::kBackward) std::reverse(entries.begin(), entries.end());
      if (p.limit > 0 && entries.size() > p.limit) entries.resize(p.limit);
      out.push_back(std::make_unique<VectorIterator>(labels, std::move(entries)));
    }
    return out;
  }

  Result<std::vector<Labels>> Series(const std::vector<Matcher>& ms, int64_t start,
                                     int64_t end) override {
    auto snap = ts_->Take(ms, start, end, false);
    std::vector<Labels> out;
    for (auto& [labels, e] : snap.head) out.push_back(labels);
    for (const auto& b : snap.blocks) {
      for (const auto& s : b->index().streams) {
        bool in_range = false;
        for (const auto& c : s.chunks) {
          if (c.max_ts >= start && c.min_ts < end) in_range = true;
        }
        if (in_range && MatchesAll(ms, s.labels)) out.push_back(s.labels);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>& ms, int64_t start,
                                              int64_t end) override {
    SL_ASSIGN_OR_RETURN(auto series, Series(ms, start, end));
    std::vector<std::string> out;
    for (const auto& s : series) {
      for (const auto& l : s) out.push_back(l.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelValues(const std::string& name,
                                               const std::vector<Matcher>& ms, int64_t start,
                                               int64_t end) override {
    SL_ASSIGN_OR_RETURN(auto series, Series(ms, start, end));
    std::vector<std::string> out;
    for (const auto& s : series) {
      std::string_view v = s.Get(name);
      if (!v.empty()) out.emplace_back(v);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  TenantStore* ts_;
};

}  // namespace

LogStore::LogStore(LogStoreOptions options) : options_(std::move(options)) {
  if (options_.env == nullptr) options_.env = io::Env::Default();
}

Result<std::unique_ptr<LogStore>> LogStore::Open(LogStoreOptions options) {
  std::unique_ptr<LogStore> s(new LogStore(std::move(options)));
  io::Env* env = s->options_.env;
  SL_RETURN_IF_ERROR(env->CreateDirs(s->options_.data_dir));
  SL_ASSIGN_OR_RETURN(auto children, env->GetChildren(s->options_.data_dir));
  for (const auto& c : children) {
    if (!env->FileExists(s->options_.data_dir + "/" + c + "/wal")) continue;
    SL_RETURN_IF_ERROR(s->GetTenant(c, true).status());
  }
  if (s->options_.background) s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

LogStore::~LogStore() {
  Status s = Close();
  if (!s.ok()) log::Error("closing the log store failed", {{"err", s.ToString()}});
}

Result<TenantStore*> LogStore::GetTenant(std::string_view tenant, bool create) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return UnavailableError("the log store is closed");
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) return it->second.get();
  if (!create) return NotFoundError("no such tenant");
  auto ts = std::make_unique<TenantStore>(std::string(tenant),
                                          options_.data_dir + "/" + std::string(tenant), options_);
  SL_RETURN_IF_ERROR(ts->Open());
  TenantStore* p = ts.get();
  tenants_.emplace(std::string(tenant), std::move(ts));
  return p;
}

Status LogStore::Append(std::string_view tenant, std::vector<PushStream>& streams,
                        AppendResult* result) {
  SL_ASSIGN_OR_RETURN(TenantStore * ts, GetTenant(tenant, true));
  return ts->Append(streams, result);
}

Result<std::unique_ptr<LogQuerier>> LogStore::Querier(std::string_view tenant) {
  SL_ASSIGN_OR_RETURN(TenantStore * ts, GetTenant(tenant, true));
  return std::unique_ptr<LogQuerier>(new TenantQuerier(ts));
}

std::vector<std::string> LogStore::Tenants() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [t, s] : tenants_) out.push_back(t);
  return out;
}

Status LogStore::CutAll() {
  Status first = Status::Ok();
  std::vector<TenantStore*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [t, s] : tenants_) all.push_back(s.get());
  }
  for (auto* ts : all) {
    Status s = ts->Cut();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status LogStore::ShipAll() {
  Status first = Status::Ok();
  std::vector<TenantStore*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [t, s] : tenants_) all.push_back(s.get());
  }
  for (auto* ts : all) {
    Status s = ts->Ship();
    if (!s.ok() && first.ok()) first = s;
    ts->ApplyLocalRetention();
  }
  return first;
}

void LogStore::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> l(loop_mu_);
      loop_cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_; });
      if (stop_) return;
    }
    std::vector<TenantStore*> all;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& [t, s] : tenants_) all.push_back(s.get());
    }
    for (auto* ts : all) {
      if (ts->NeedsCut()) (void)ts->Cut();
      ts->ApplyLocalRetention();
    }
  }
}

Status LogStore::Close() {
  {
    std::lock_guard<std::mutex> l(loop_mu_);
    stop_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<TenantStore>, std::less<>> tenants;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return Status::Ok();
    closed_ = true;
    tenants.swap(tenants_);
  }
  Status first = Status::Ok();
  for (auto& [t, ts] : tenants) {
    Status s = ts->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace sightline::logs::store
