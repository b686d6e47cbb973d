#include "logs/store/log_store.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "blocks/bucket.h"
#include "blocks/shipper.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_file.h"
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

int64_t Ns(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

int64_t EntrySize(const Entry& e) {
  int64_t n = static_cast<int64_t>(e.line.size());
  for (const auto& l : e.structured_metadata) n += l.name.size() + l.value.size();
  return n;
}

bool ContainsAll(std::string_view line, const std::vector<std::string>& literals) {
  for (const auto& l : literals) {
    if (memmem(line.data(), line.size(), l.data(), l.size()) == nullptr) return false;
  }
  return true;
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
  bool in_order = true;  // entries appended with non-decreasing timestamps
};

// Whether the head stream already holds an entry with e's timestamp and
// line. Loki drops such an entry silently, so a client that retries a push
// (after a 429 or 5xx that kept part of it) does not store it twice. In-order
// streams are binary-searched; out-of-order ones scan their newest
// kDedupScan entries (retries resend recent entries).
constexpr size_t kDedupScan = 4096;
bool HeadHasEntry(const HeadStream& s, const Entry& e) {
  if (s.entries.empty() || e.timestamp_ns > s.newest || e.timestamp_ns < s.oldest) return false;
  if (s.in_order) {
    auto it = std::lower_bound(
        s.entries.begin(), s.entries.end(), e.timestamp_ns,
        [](const Entry& a, int64_t t) { return a.timestamp_ns < t; });
    for (; it != s.entries.end() && it->timestamp_ns == e.timestamp_ns; ++it) {
      if (it->line == e.line) return true;
    }
    return false;
  }
  const size_t n = std::min(s.entries.size(), kDedupScan);
  for (size_t i = s.entries.size() - n; i < s.entries.size(); ++i) {
    const Entry& a = s.entries[i];
    if (a.timestamp_ns == e.timestamp_ns && a.line == e.line) return true;
  }
  return false;
}

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
    if (!s->entries.empty() && e.timestamp_ns < s->entries.back().timestamp_ns) {
      s->in_order = false;
    }
    s->newest = std::max(s->newest, e.timestamp_ns);
    s->oldest = std::min(s->oldest, e.timestamp_ns);
    bytes += EntrySize(e);
    s->entries.push_back(std::move(e));
  }
  bool empty() const { return num_streams == 0; }
};

// One place a stream's entries live: a chunk block of a block, or the
// matching entries of a head. `seq` is ingest order (blocks by ULID, chunk
// blocks in file order, heads last), which breaks ties between equal
// timestamps.
struct Piece {
  int64_t min_ts = 0, max_ts = 0;
  uint64_t seq = 0;
  std::shared_ptr<LogBlock> block;  // chunk block: block + ref
  const ChunkRef* ref = nullptr;
  std::shared_ptr<std::vector<Entry>> head;  // head entries, time order
};

struct ScanSpec {
  int64_t start = 0, end = 0;  // [start, end)
  bool backward = false;
  size_t limit = 0;            // 0: none
  std::vector<std::string> literals;  // the longest first
  std::vector<std::shared_ptr<const LineFilterHint>> filters;
};

// Yields one stream's entries in time order from its pieces, lazily: pieces
// whose time ranges do not overlap are decoded one chunk block at a time
// into a reused ChunkView, and only the entries in range that contain every
// literal are materialised (into one reused Entry). Overlapping pieces
// (out-of-order data split across blocks) are merged in memory.
class StoreIterator final : public StreamIterator {
 public:
  StoreIterator(Labels labels, std::vector<Piece> pieces, std::shared_ptr<const ScanSpec> spec)
      : labels_(std::move(labels)), spec_(std::move(spec)) {
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
      return a.min_ts != b.min_ts ? a.min_ts < b.min_ts : a.seq < b.seq;
    });
    // Groups of pieces that must be merged: a piece joins the group when it
    // starts before the group ends (or at its end but ingested earlier).
    int64_t gmax = 0;
    uint64_t gseq = 0;
    for (auto& p : pieces) {
      bool join = !groups_.empty() &&
                  (p.min_ts < gmax || (p.min_ts == gmax && p.seq < gseq));
      if (!join) {
        groups_.emplace_back();
        gmax = p.max_ts;
        gseq = p.seq;
      } else if (p.max_ts > gmax || (p.max_ts == gmax && p.seq > gseq)) {
        gmax = p.max_ts;
        gseq = p.seq;
      }
      groups_.back().push_back(std::move(p));
    }
    next_group_ = spec_->backward ? static_cast<ptrdiff_t>(groups_.size()) - 1 : 0;
  }

  const Labels& labels() const override { return labels_; }

  bool Next() override {
    while (true) {
      if (spec_->limit > 0 && returned_ >= spec_->limit) return Done();
      if (pos_ < cand_.size()) {
        size_t i = spec_->backward ? cand_[cand_.size() - 1 - pos_] : cand_[pos_];
        ++pos_;
        ++returned_;
        if (mode_ == kView) {
          cur_.timestamp_ns = view_.ts(i);
          cur_.line.assign(view_.line(i));
          view_.Metadata(i, &cur_.structured_metadata);
          if (!view_.metadata_status().ok()) {
            status_ = view_.metadata_status();
            return Done();
          }
          entry_ = &cur_;
        } else {
          entry_ = &(*entries_)[i];
        }
        return true;
      }
      if (next_group_ < 0 || next_group_ >= static_cast<ptrdiff_t>(groups_.size())) return Done();
      std::vector<Piece>& g = groups_[next_group_];
      next_group_ += spec_->backward ? -1 : 1;
      Status s = Load(g);
      g.clear();
      if (!s.ok()) {
        status_ = s;
        return Done();
      }
    }
  }

  const Entry& entry() const override { return *entry_; }
  Status status() const override { return status_; }

 private:
  enum Mode { kView, kEntries };

  bool Done() {
    view_.Release();
    merged_ = {};
    cand_ = {};
    pos_ = 0;
    return false;
  }

  Status Load(std::vector<Piece>& g) {
    cand_.clear();
    pos_ = 0;
    if (g.size() == 1 && g[0].block) {
      mode_ = kView;
      SL_RETURN_IF_ERROR(g[0].block->ReadChunk(*g[0].ref, &view_, &scratch_));
      FilterView();
      return Status::Ok();
    }
    mode_ = kEntries;
    if (g.size() == 1) {
      // Head entries are already cut to the range and the literals.
      head_ref_ = g[0].head;
      entries_ = head_ref_.get();
      cand_.resize(entries_->size());
      for (size_t i = 0; i < cand_.size(); ++i) cand_[i] = static_cast<uint32_t>(i);
      return Status::Ok();
    }
    // Overlapping pieces: concatenate in ingest order, then a stable sort.
    std::sort(g.begin(), g.end(), [](const Piece& a, const Piece& b) { return a.seq < b.seq; });
    merged_.clear();
    for (const auto& p : g) {
      if (p.head) {
        merged_.insert(merged_.end(), p.head->begin(), p.head->end());
        continue;
      }
      SL_RETURN_IF_ERROR(p.block->ReadChunk(*p.ref, &view_, &scratch_));
      FilterView();
      for (uint32_t i : cand_) {
        Entry e;
        e.timestamp_ns = view_.ts(i);
        e.line.assign(view_.line(i));
        view_.Metadata(i, &e.structured_metadata);
        SL_RETURN_IF_ERROR(view_.metadata_status());
        merged_.push_back(std::move(e));
      }
      cand_.clear();
    }
    std::stable_sort(merged_.begin(), merged_.end(),
                     [](const Entry& a, const Entry& b) { return a.timestamp_ns < b.timestamp_ns; });
    head_ref_.reset();
    entries_ = &merged_;
    cand_.resize(merged_.size());
    for (size_t i = 0; i < cand_.size(); ++i) cand_[i] = static_cast<uint32_t>(i);
    return Status::Ok();
  }

  // cand_ = the entries of view_ in [start, end) whose line holds every
  // literal. The first (longest) literal is searched over the whole lines
  // column at once; only lines it hits are looked at individually.
  void FilterView() {
    size_t lo = view_.LowerBound(spec_->start);
    size_t hi = view_.LowerBound(spec_->end);
    if (lo >= hi) return;
    const auto& lits = spec_->literals;
    const auto& filters = spec_->filters;
    if (!filters.empty()) {
      // One pass of the first matcher over the column (Vectorscan: faster
      // than memmem, docs/benchmarks.md), the literals and other matchers
      // on its hits.
      std::string_view all = view_.lines();
      filters[0]->MatchColumn(all, view_.offsets(), lo, hi, &cand_);
      size_t n = 0;
      for (uint32_t i : cand_) {
        bool ok = ContainsAll(view_.line(i), lits);
        for (size_t f = 1; f < filters.size() && ok; ++f) ok = filters[f]->Match(view_.line(i));
        if (ok) cand_[n++] = i;
      }
      cand_.resize(n);
      return;
    }
    if (lits.empty()) {
      for (size_t i = lo; i < hi; ++i) cand_.push_back(static_cast<uint32_t>(i));
      return;
    }
    std::string_view all = view_.lines();
    const std::string& first = lits[0];
    size_t from = view_.off(lo);
    const size_t stop = view_.off(hi);
    while (from < stop) {
      const void* hit = memmem(all.data() + from, stop - from, first.data(), first.size());
      if (hit == nullptr) break;
      size_t i = view_.EntryAt(static_cast<const char*>(hit) - all.data());
      // A hit may straddle two lines; check the line on its own.
      if (ContainsAll(view_.line(i), lits)) cand_.push_back(static_cast<uint32_t>(i));
      from = view_.off(i + 1);
    }
  }

  Labels labels_;
  std::shared_ptr<const ScanSpec> spec_;
  std::vector<std::vector<Piece>> groups_;
  ptrdiff_t next_group_ = 0;
  Mode mode_ = kView;
  ChunkView view_;
  std::string scratch_;
  std::vector<uint32_t> cand_;
  size_t pos_ = 0;
  size_t returned_ = 0;
  Entry cur_;
  const Entry* entry_ = nullptr;
  std::shared_ptr<std::vector<Entry>> head_ref_;
  const std::vector<Entry>* entries_ = nullptr;
  std::vector<Entry> merged_;
  Status status_ = Status::Ok();
};

}  // namespace

class TenantStore {
 public:
  TenantStore(std::string tenant, std::string dir, const LogStoreOptions& o, io::PageCache* cache)
      : tenant_(std::move(tenant)), dir_(std::move(dir)), o_(o), cache_(cache) {
    limits_.out_of_order_window_ns = o_.out_of_order_window_ns;
    limits_.max_streams_per_tenant = o_.max_streams_per_tenant;
    if (o_.tenant_limits) limits_ = o_.tenant_limits(tenant_);
    if (o_.retention_period) retention_ns_ = Ns(o_.retention_period(tenant_));
  }

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
          if (limits_.max_streams_per_tenant > 0 &&
              static_cast<int>(head_->num_streams) >= limits_.max_streams_per_tenant) {
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
          if (newest != INT64_MIN && e.timestamp_ns < newest - limits_.out_of_order_window_ns) {
            if (behind.entries == 0) {
              behind.message = "entry too far behind, entry timestamp is: " +
                               Rfc3339(e.timestamp_ns) + ", oldest acceptable timestamp is: " +
                               Rfc3339(newest - limits_.out_of_order_window_ns) + " for stream " +
                               st.labels.ToString();
            }
            ++behind.entries;
            behind.bytes += EntrySize(e);
            continue;
          }
          if (HeadHasEntry(*hs, e) ||
              (!keep.entries.empty() && keep.entries.back().timestamp_ns == e.timestamp_ns &&
               keep.entries.back().line == e.line)) {
            continue;  // a duplicate: accepted, stored once
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
    if (accepted.empty()) {
      result->accepted_reported = true;
      return Status::Ok();
    }
    std::string rec = EncodeWalRecord(accepted);
    auto pos = wal_->Append(rec);
    if (!pos.ok()) return pos.status();
    if (result->accepted != nullptr) {
      result->accepted->insert(result->accepted->end(), accepted.begin(), accepted.end());
    }
    result->accepted_reported = true;
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
                              {{"walSegment", seg}}, o_.block);
    if (!meta.ok()) {
      log::Error("cutting a logs block failed; will retry",
                 {{"tenant", tenant_}, {"err", meta.status().ToString()}});
      return meta.status();
    }
    std::string bdir = dir_ + "/blocks/" + meta->ulid.ToString();
    auto block = LogBlock::Open(LocalBlockSource(o_.env, bdir), *meta);
    if (!block.ok()) return block.status();
    {
      // Both at once, so a reader sees the entries either in the heads being
      // cut or in the block, never twice or not at all.
      std::lock_guard<std::mutex> l(head_mu_);
      std::lock_guard<std::mutex> bl(blocks_mu_);
      local_[meta->ulid] = *block;
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

  struct HeadPart {
    Labels labels;
    std::vector<Entry> entries;  // time order (stable); empty unless with_entries
    int64_t min_ts = 0, max_ts = 0;
  };
  struct Snapshot {
    std::vector<HeadPart> head;  // oldest head first; may repeat labels
    std::vector<std::shared_ptr<LogBlock>> blocks;  // ULID order
  };

  // Streams of the heads matching `ms` (entries copied only when
  // `with_entries`, and only those in [start, end) holding every literal),
  // and the blocks overlapping [start, end).
  // Past the tenant's retention: hidden from queries until the retention
  // pass deletes it (after retention_delete_delay).
  bool Expired(const LogBlock& b) const {
    return retention_ns_ > 0 && b.max_ts() < NowNs() - retention_ns_;
  }

  Snapshot Take(const std::vector<Matcher>& ms, int64_t start, int64_t end, bool with_entries,
                const std::vector<std::string>& literals = {}) {
    Snapshot snap;
    std::set<blocks::Ulid> local_ids;
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
            HeadPart part;
            part.labels = hs->labels;
            if (with_entries) {
              for (const auto& e : hs->entries) {
                if (e.timestamp_ns < start || e.timestamp_ns >= end) continue;
                if (!ContainsAll(e.line, literals)) continue;
                part.entries.push_back(e);
              }
              if (part.entries.empty()) continue;
            }
            snap.head.push_back(std::move(part));
          }
        }
      }
      // The local blocks under the head lock: Cut() publishes a block and
      // drops its heads under both locks.
      std::lock_guard<std::mutex> bl(blocks_mu_);
      for (const auto& [u, b] : local_) {
        local_ids.insert(u);
        if (b->max_ts() >= start && b->min_ts() < end && !Expired(*b)) snap.blocks.push_back(b);
      }
    }
    for (auto& part : snap.head) {
      if (part.entries.empty()) continue;
      std::stable_sort(part.entries.begin(), part.entries.end(),
                       [](const Entry& a, const Entry& b) { return a.timestamp_ns < b.timestamp_ns; });
      part.min_ts = part.entries.front().timestamp_ns;
      part.max_ts = part.entries.back().timestamp_ns;
    }
    for (auto& b : RemoteBlocks(start, end, local_ids)) {
      if (!Expired(*b)) snap.blocks.push_back(std::move(b));
    }
    std::sort(snap.blocks.begin(), snap.blocks.end(),
              [](const auto& a, const auto& b) { return a->meta().ulid < b->meta().ulid; });
    return snap;
  }

  // Blocks in the object store overlapping [start, end) that are not in
  // `local` (opened lazily: the index once, chunk blocks by range).
  std::vector<std::shared_ptr<LogBlock>> RemoteBlocks(int64_t start, int64_t end,
                                                      const std::set<blocks::Ulid>& local) {
    RefreshRemote();
    std::vector<std::shared_ptr<LogBlock>> out;
    std::vector<blocks::BlockMeta> to_open;
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      for (const auto& m : remote_metas_) {
        if (local.count(m.ulid) || local_.count(m.ulid)) continue;
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
      std::map<std::string, uint64_t> sizes;
      for (const auto& f : m.files) sizes[f.rel_path] = f.size_bytes;
      auto b = LogBlock::Open(
          RemoteBlockSource(o_.store,
                            blocks::BlockPrefix(blocks::TenantPrefix("logs", tenant_), m.ulid),
                            cache_, std::move(sizes)),
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

  // Deletes the blocks whose newest entry is at or before cutoff_ms, here
  // and in the object store. Returns how many were deleted.
  Result<int> ApplyRetention(int64_t cutoff_ms) {
    std::vector<blocks::Ulid> drop;
    {
      std::lock_guard<std::mutex> bl(blocks_mu_);
      for (const auto& [u, b] : local_) {
        if (b->meta().max_time <= cutoff_ms) drop.push_back(u);
      }
      for (const auto& u : drop) local_.erase(u);
      for (auto it = remote_.begin(); it != remote_.end();) {
        it = it->second->meta().max_time <= cutoff_ms ? remote_.erase(it) : std::next(it);
      }
      std::erase_if(remote_metas_, [&](const blocks::BlockMeta& m) { return m.max_time <= cutoff_ms; });
    }
    int deleted = 0;
    for (const auto& u : drop) {
      Status s = o_.env->RemoveAll(dir_ + "/blocks/" + u.ToString());
      if (!s.ok()) log::Warn("removing an expired logs block failed", {{"err", s.ToString()}});
      ++deleted;
    }
    if (o_.store != nullptr) {
      auto n = blocks::ApplyRetention(*o_.store, blocks::TenantPrefix("logs", tenant_), cutoff_ms);
      if (!n.ok()) return n.status();
      deleted += *n;
    }
    return deleted;
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
  io::PageCache* cache_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<blocks::Shipper> shipper_;

  std::shared_mutex cut_mu_;   // appends shared; the head swap exclusive
  std::mutex cut_serial_mu_;   // one cut at a time
  bool closed_ = false;
  uint32_t cut_segment_ = 0;

  LogStoreOptions::TenantLimits limits_;
  int64_t retention_ns_ = 0;  // 0: forever
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
    auto spec = std::make_shared<ScanSpec>();
    spec->start = p.start_ns;
    spec->end = p.end_ns;
    spec->backward = p.direction == Direction::kBackward;
    spec->limit = p.limit;
    for (const auto& l : p.line_contains) {
      if (!l.empty()) spec->literals.push_back(l);
    }
    spec->filters = p.line_filters;
    std::stable_sort(spec->literals.begin(), spec->literals.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    auto snap = ts_->Take(p.matchers, p.start_ns, p.end_ns, true, spec->literals);
    std::map<Labels, std::vector<Piece>> by_stream;
    uint64_t seq = 0;
    TraceId want{};
    bool by_trace = p.trace_id.has_value() && ParseTraceId(*p.trace_id, &want);
    TraceId want_line{};
    bool by_line_trace = !by_trace && p.line_trace_id.has_value() &&
                         p.line_trace_id->size() == 32 && ParseTraceId(*p.line_trace_id, &want_line);
    // `| trace_id="<id>"`: the same narrowing, but a stream whose labels
    // carry trace_id is not in the index and keeps every chunk.
    const bool by_label_trace = !by_trace && !by_line_trace && p.label_trace_id.has_value() &&
                                p.label_trace_id->size() == 32 &&
                                ParseTraceId(*p.label_trace_id, &want_line);
    if (by_label_trace) by_line_trace = true;
    std::vector<std::vector<uint32_t>> chunks_of;
    for (const auto& b : snap.blocks) {
      const auto& streams = b->index().streams;
      chunks_of.assign(streams.size(), {});
      if (by_trace) {
        const auto* refs = b->TraceRefs(want);
        if (refs == nullptr) continue;  // the block cannot hold the trace
        for (const auto& r : *refs) chunks_of[r.stream].push_back(r.chunk);
        for (auto& c : chunks_of) std::sort(c.begin(), c.end());
      } else if (by_line_trace && b->meta().stats.count(kTraceIndexHexRunsStat) != 0) {
        // A line holding the 32-digit literal has it as a free-standing
        // run (indexed) or inside a longer run (kLongHexRunId).
        const auto* refs = b->TraceRefs(want_line);
        const auto* longs = b->TraceRefs(kLongHexRunId);
        if (refs == nullptr && longs == nullptr) continue;
        for (const auto* rs : {refs, longs}) {
          if (rs == nullptr) continue;
          for (const auto& r : *rs) chunks_of[r.stream].push_back(r.chunk);
        }
        if (by_label_trace) {
          for (uint32_t s = 0; s < streams.size(); ++s) {
            if (!streams[s].labels.Get("trace_id").empty()) {
              chunks_of[s].clear();
              for (uint32_t c = 0; c < streams[s].chunks.size(); ++c) chunks_of[s].push_back(c);
            }
          }
        }
        for (auto& c : chunks_of) {
          std::sort(c.begin(), c.end());
          c.erase(std::unique(c.begin(), c.end()), c.end());
        }
      } else {
        for (uint32_t s = 0; s < streams.size(); ++s) {
          for (uint32_t c = 0; c < streams[s].chunks.size(); ++c) chunks_of[s].push_back(c);
        }
      }
      for (uint32_t s = 0; s < streams.size(); ++s) {
        if (chunks_of[s].empty() || !MatchesAll(p.matchers, streams[s].labels)) continue;
        std::vector<Piece>* dst = nullptr;
        for (uint32_t c : chunks_of[s]) {
          const ChunkRef& ref = streams[s].chunks[c];
          if (ref.max_ts < p.start_ns || ref.min_ts >= p.end_ns) continue;
          if (dst == nullptr) dst = &by_stream[streams[s].labels];
          Piece piece;
          piece.min_ts = ref.min_ts;
          piece.max_ts = ref.max_ts;
          piece.seq = seq + c;
          piece.block = b;
          piece.ref = &ref;
          dst->push_back(std::move(piece));
        }
        seq += streams[s].chunks.size();
      }
      seq += 1;
    }
    for (auto& part : snap.head) {
      Piece piece;
      piece.min_ts = part.min_ts;
      piece.max_ts = part.max_ts;
      piece.seq = seq++;
      piece.head = std::make_shared<std::vector<Entry>>(std::move(part.entries));
      by_stream[part.labels].push_back(std::move(piece));
    }
    std::vector<std::unique_ptr<StreamIterator>> out;
    out.reserve(by_stream.size());
    for (auto& [labels, pieces] : by_stream) {
      out.push_back(std::make_unique<StoreIterator>(labels, std::move(pieces), spec));
    }
    return out;
  }

  Result<std::vector<Labels>> Series(const std::vector<Matcher>& ms, int64_t start,
                                     int64_t end) override {
    auto snap = ts_->Take(ms, start, end, false);
    std::vector<Labels> out;
    for (auto& part : snap.head) out.push_back(part.labels);
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

LogStore::LogStore(LogStoreOptions options)
    : options_(std::move(options)),
      worker_("logs-store", std::chrono::seconds(1), [this] { Tick(); }) {
  if (options_.env == nullptr) options_.env = io::Env::Default();
  if (options_.store != nullptr && options_.chunk_cache_bytes > 0) {
    io::PageCacheOptions co;
    co.capacity_bytes = options_.chunk_cache_bytes;
    co.page_size = 32 * 1024;
    co.name = "logs-chunks";
    chunk_cache_ = std::make_unique<io::PageCache>(co);
  }
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
  if (s->options_.background) s->worker_.Start();
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
                                          options_.data_dir + "/" + std::string(tenant), options_,
                                          chunk_cache_.get());
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

void LogStore::Tick() {
  std::vector<TenantStore*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [t, s] : tenants_) all.push_back(s.get());
  }
  for (auto* ts : all) {
    if (ts->NeedsCut()) (void)ts->Cut();
    ts->ApplyLocalRetention();
  }
  auto now = std::chrono::steady_clock::now();
  if (options_.retention_period && (last_retention_ == std::chrono::steady_clock::time_point{} ||
                                    now - last_retention_ >= options_.retention_interval)) {
    last_retention_ = now;
    auto n = ApplyRetention();
    if (!n.ok()) {
      log::Warn("logs retention failed; will retry", {{"err", n.status().ToString()}});
    } else if (*n > 0) {
      log::Info("logs retention deleted blocks", {{"blocks", static_cast<int64_t>(*n)}});
    }
  }
}

Result<int> LogStore::ApplyRetention() {
  if (!options_.retention_period) return 0;
  // Tenants with local data, plus those only the object store knows.
  std::set<std::string> names;
  for (const auto& t : Tenants()) names.insert(t);
  if (options_.store != nullptr) {
    io::ListOptions lo;
    lo.prefix = "logs/";
    lo.delimiter = "/";
    while (true) {
      auto page = options_.store->List(lo);
      if (!page.ok()) return page.status();
      for (const auto& p : page->common_prefixes) {
        std::string_view t = std::string_view(p).substr(lo.prefix.size());
        if (!t.empty() && t.back() == '/') t.remove_suffix(1);
        if (!t.empty()) names.insert(std::string(t));
      }
      if (page->next_continuation_token.empty()) break;
      lo.continuation_token = page->next_continuation_token;
    }
  }
  int64_t now_ms = NowNs() / 1'000'000;
  int deleted = 0;
  Status first = Status::Ok();
  for (const auto& name : names) {
    auto period = options_.retention_period(name);
    if (period.count() <= 0) continue;
    int64_t cutoff_ms = now_ms - period.count() - options_.retention_delete_delay.count();
    TenantStore* ts = nullptr;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) return UnavailableError("the log store is closed");
      auto it = tenants_.find(name);
      if (it != tenants_.end()) ts = it->second.get();
    }
    Result<int> n = 0;
    if (ts != nullptr) {
      n = ts->ApplyRetention(cutoff_ms);
    } else if (options_.store != nullptr) {
      n = blocks::ApplyRetention(*options_.store, blocks::TenantPrefix("logs", name), cutoff_ms);
    }
    if (n.ok()) {
      deleted += *n;
    } else if (first.ok()) {
      first = n.status();
    }
  }
  if (!first.ok()) return first;
  return deleted;
}

Status LogStore::Close() {
  worker_.Stop();
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
