#include "traces/store/store.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "base/coding.h"
#include "base/periodic_worker.h"
#include "blocks/bucket.h"
#include "blocks/shipper.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_store.h"
#include "net/tenant.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "traces/ingest/ids.h"
#include "traces/store/codec.h"
#include "traces/store/sharded_scan.h"

namespace sightline::traces::store {

namespace {

constexpr uint8_t kRecordTraces = 1;
static_assert(kRecordTraces == ingest::kWalTracesRecord);
// Threads that open object-store blocks at once (RefreshRemote).
constexpr size_t kOpenThreads = 8;
// Threads of one find-by-id over the blocks whose bloom may hold the id.
constexpr size_t kFindThreads = 8;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A trace in the head: its records as they went to the WAL (EncodeTrace,
// inline strings), length-prefixed one after the other. The head keeps
// bytes, not decoded Traces: a few times smaller, and a request's decoded
// traces are freed right after the push, so the next request reuses that
// memory instead of faulting in new pages. Reads and cuts decode.
struct HeadTrace {
  std::string records;
  size_t bytes = 0;  // sum of the records' sizes (for the per-trace limit)
};

// The head trace's records decoded and merged in arrival order.
Status DecodeHeadTrace(const HeadTrace& ht, Trace* out) {
  coding::Reader r(ht.records);
  while (!r.empty()) {
    std::string_view rec = r.LengthPrefixed();
    if (!r.ok()) return DataLossError("head trace: truncated record");
    Trace t;
    SL_RETURN_IF_ERROR(DecodeTrace(rec, nullptr, &t));
    MergeTrace(std::move(t), out, /*dedup=*/false);
  }
  return Status::Ok();
}

// Trace ids are random bytes: their two halves xor-ed are the hash (no
// pass over the bytes). Transparent, so lookups by string_view build no key.
struct TraceIdHash {
  using is_transparent = void;
  size_t operator()(std::string_view id) const {
    if (id.size() < 16) return std::hash<std::string_view>()(id);
    uint64_t a, b;
    std::memcpy(&a, id.data(), 8);
    std::memcpy(&b, id.data() + 8, 8);
    return static_cast<size_t>(a ^ b);
  }
};

struct Head {
  std::unordered_map<std::string, HeadTrace, TraceIdHash, std::equal_to<>> traces;
  size_t bytes = 0;
  int64_t first_ms = 0;  // wall clock when the first trace arrived
};

bool StartsInRange(const Trace& t, uint64_t start, uint64_t end) {
  if (start == 0 && end == 0) return true;
  for (const Span& s : t.spans) {
    if (s.start_unix_nano >= start && (end == 0 || s.start_unix_nano < end)) return true;
  }
  return false;
}

bool BlockOverlaps(const blocks::BlockMeta& m, uint64_t start, uint64_t end) {
  if (start == 0 && end == 0) return true;
  // meta times are ms, max exclusive; spans may end after the range starts.
  if (end != 0 && static_cast<uint64_t>(m.min_time) * 1000000 >= end) return false;
  if (start != 0 && static_cast<uint64_t>(m.max_time) * 1000000 < start) return false;
  return true;
}

// The id-page cache's self-metrics, written when /metrics is scraped. A
// registry keeps its collectors for its whole life (Registry::Default()
// outlives every store), so the collector reads the cache through this
// holder, which the store detaches before the cache goes away; a detached
// holder writes nothing.
class IdCacheMetrics {
 public:
  explicit IdCacheMetrics(const IdPageCache* cache) : cache_(cache) {}
  void Detach() {
    std::lock_guard<std::mutex> l(mu_);
    cache_ = nullptr;
  }
  void Collect(std::string& out) {
    std::lock_guard<std::mutex> l(mu_);
    if (cache_ == nullptr) return;
    auto family = [&out](const char* name, const char* type, const char* help, double v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
             name + " " + telemetry::FormatValue(v) + "\n";
    };
    family("sightline_traces_id_page_cache_hits_total", "counter",
           "Find-by-id trace-id page lookups served from the cache.",
           static_cast<double>(cache_->hits()));
    family("sightline_traces_id_page_cache_misses_total", "counter",
           "Find-by-id trace-id page lookups that read the block.",
           static_cast<double>(cache_->misses()));
    family("sightline_traces_id_page_cache_evictions_total", "counter",
           "Trace-id pages evicted to stay under traces.store.id_page_cache_bytes.",
           static_cast<double>(cache_->evictions()));
    family("sightline_traces_id_page_cache_bytes", "gauge", "Bytes of trace-id pages cached.",
           static_cast<double>(cache_->bytes()));
    family("sightline_traces_id_page_cache_pages", "gauge", "Trace-id pages cached.",
           static_cast<double>(cache_->pages()));
  }

 private:
  std::mutex mu_;
  const IdPageCache* cache_;
};

struct Metrics {
  telemetry::Family<telemetry::Counter>* traces_created;
  telemetry::Family<telemetry::Counter>* blocks_cut;
  telemetry::Family<telemetry::Counter>* flush_failed;
  telemetry::Family<telemetry::Gauge>* live_traces;
  telemetry::Family<telemetry::Counter>* bytes_written;
  telemetry::Family<telemetry::Counter>* split_window_shrunk;
  telemetry::Family<telemetry::Gauge>* split_window_ids;

  explicit Metrics(telemetry::Registry& r) {
    traces_created = &r.AddCounter("tempo_ingester_traces_created_total",
                                   "Traces created in the ingester's head.", {"tenant"});
    blocks_cut = &r.AddCounter("tempo_ingester_blocks_flushed_total",
                               "Blocks cut from the head and written locally.", {"tenant"});
    flush_failed = &r.AddCounter("tempo_ingester_flush_failed_total",
                                 "Failed block writes and uploads (each is retried).", {"tenant"});
    live_traces = &r.AddGauge("tempo_ingester_live_traces", "Traces in the head.", {"tenant"});
    bytes_written = &r.AddCounter("tempo_ingester_bytes_received_total",
                                  "Trace bytes appended to the WAL.", {"tenant"});
    split_window_shrunk = &r.AddCounter(
        "sightline_traces_split_window_shrunk_blocks_total",
        "Cut blocks that left the split-trace window before traces.store.split_window because "
        "it held traces.store.split_window_max_ids ids.",
        {"tenant"});
    split_window_ids = &r.AddGauge("sightline_traces_split_window_ids",
                                   "Trace ids of recently cut blocks held to link split traces.",
                                   {"tenant"});
  }
};

}  // namespace

// ------------------------------------------------------------------ Tenant

class TraceStore::Tenant {
 public:
  Tenant(const StoreOptions& o, io::Env* env, Metrics* m, IdPageCache* id_cache, std::string name,
         std::string dir)
      : o_(o),
        env_(env),
        m_(m),
        id_cache_(id_cache),
        name_(std::move(name)),
        dir_(std::move(dir)),
        window_(SplitWindowMs(o), o.split_window_max_ids) {}

  ~Tenant() { (void)Close(); }

  Status Open() {
    SL_RETURN_IF_ERROR(env_->CreateDirs(dir_ + "/blocks"));
    wal::WalOptions wo;
    wo.dir = dir_ + "/wal";
    wo.env = env_;
    wo.sync_policy = o_.wal_sync;
    wo.registry = o_.registry;
    wo.metrics_prefix = "tempo_ingester_wal_";
    wo.segment_size = 32ull << 20;
    SL_ASSIGN_OR_RETURN(wal_, wal::Wal::Open(std::move(wo)));
    uint64_t replayed = 0;
    SL_RETURN_IF_ERROR(wal_->Replay([&](std::string_view rec, wal::WalPosition) -> Status {
      coding::Reader r(rec);
      if (r.Byte() != kRecordTraces) return Status::Ok();  // unknown record types are skipped
      uint64_t n = r.Uvarint();
      for (uint64_t i = 0; i < n && r.ok(); ++i) {
        std::string_view enc = r.LengthPrefixed();
        Trace t;
        Status s = DecodeTrace(enc, nullptr, &t);
        if (!s.ok()) {
          log::Warn("skipping a bad traces WAL record", {{"tenant", name_}, {"err", s.ToString()}});
          break;
        }
        AddToHead(t.trace_id, enc);
        ++replayed;
      }
      return Status::Ok();
    }));

    SL_ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir_ + "/blocks"));
    for (const std::string& c : children) {
      auto ulid = blocks::Ulid::Parse(c);
      if (!ulid.ok()) continue;
      const std::string bdir = dir_ + "/blocks/" + c;
      if (!env_->FileExists(bdir + "/meta.json")) {
        // Cut interrupted before meta.json: its traces are still in the WAL.
        (void)env_->RemoveAll(bdir);
        continue;
      }
      auto text = env_->ReadFile(bdir + "/meta.json");
      if (!text.ok()) continue;
      auto meta = blocks::BlockMeta::Parse(*text);
      if (!meta.ok()) continue;
      auto reader = BlockReader::Open(LocalBlockFiles(env_, bdir), *meta, id_cache_);
      if (!reader.ok()) {
        log::Error("cannot open a local trace block",
                   {{"block", bdir}, {"err", reader.status().ToString()}});
        continue;
      }
      local_[*ulid] = std::shared_ptr<BlockReader>(std::move(reader).value());
    }
    RebuildSplitWindow();
    if (o_.store != nullptr) {
      blocks::ShipperOptions so;
      so.signal = "traces";
      so.local_dir = dir_ + "/blocks";
      so.remote_prefix = blocks::TenantPrefix("traces", name_);
      so.source = "ingester";
      so.interval = o_.ship_interval;
      so.min_backoff = o_.ship_min_backoff;
      so.max_backoff = o_.ship_max_backoff;
      auto* failed = &m_->flush_failed->WithLabels({name_});
      so.on_upload_failure = [failed] { failed->Inc(); };
      shipper_ = std::make_unique<blocks::Shipper>(env_, o_.store, so);
      SL_RETURN_IF_ERROR(shipper_->Init());
      if (o_.run_maintenance) shipper_->Start();
    }
    if (replayed > 0 || !local_.empty()) {
      log::Info("traces tenant opened", {{"tenant", name_},
                                          {"replayed_traces", std::to_string(replayed)},
                                          {"local_blocks", std::to_string(local_.size())}});
    }
    return Status::Ok();
  }

  Status Close() {
    if (closed_) return Status::Ok();
    closed_ = true;
    if (shipper_) shipper_->Stop();
    if (wal_) return wal_->Close();
    return Status::Ok();
  }

  Status Push(std::vector<Trace> traces, ingest::PushResult* result) {
    // Encode once, all traces into one buffer: the size counts against the
    // limit, the bytes go to the WAL. (One growing buffer, not a string per
    // trace.)
    std::string blob;
    blob.reserve(traces.size() * 4096);
    std::vector<size_t> ends(traces.size());
    for (size_t i = 0; i < traces.size(); ++i) {
      EncodeTrace(traces[i], nullptr, &blob);
      ends[i] = blob.size();
    }
    std::vector<Record> recs(traces.size());
    for (size_t i = 0, begin = 0; i < traces.size(); begin = ends[i], ++i) {
      recs[i].trace_id = traces[i].trace_id;
      recs[i].bytes = std::string_view(blob).substr(begin, ends[i] - begin);
      recs[i].spans = traces[i].spans.size();
    }
    return PushRecords(recs, result);
  }

  // The OTLP/protobuf hot path: the records were encoded from the wire.
  Status PushEncoded(const ingest::EncodedTraces& traces, ingest::PushResult* result) {
    std::vector<Record> recs(traces.size());
    for (size_t i = 0; i < traces.size(); ++i) {
      recs[i].trace_id = traces.trace_id(i);
      recs[i].bytes = traces.record(i);
      recs[i].spans = traces.traces[i].num_spans;
    }
    return PushRecords(recs, result, traces.wal_record());
  }

  // One trace's record of a push (EncodeTrace, inline strings).
  struct Record {
    std::string_view trace_id;
    std::string_view bytes;
    size_t spans = 0;
  };

  // The per-trace limit, one WAL record for the accepted ones (durable per
  // the sync policy before this returns; concurrent pushes share a write
  // and fdatasync, see wal.h), then the head. `framed`, if not empty, is
  // that WAL record for all of `recs` (EncodedTraces::wal_record), appended
  // as it is when every record is accepted.
  Status PushRecords(const std::vector<Record>& recs, ingest::PushResult* result,
                     std::string_view framed = {}) {
    std::shared_lock<std::shared_mutex> cut(cut_mu_);
    std::vector<bool> accepted(recs.size(), true);
    // The head entry of each accepted record, found once: entries are nodes
    // (stable across rehashing) and stay while this push holds cut_mu_ and
    // its reservation (a concurrent push's failure erases only empty ones).
    std::vector<HeadTrace*> entries(recs.size(), nullptr);
    const uint64_t max_bytes =
        o_.max_bytes_per_trace_for ? o_.max_bytes_per_trace_for(name_) : o_.max_bytes_per_trace;
    size_t total = 0;
    {
      std::lock_guard<std::mutex> l(head_mu_);
      for (size_t i = 0; i < recs.size(); ++i) {
        const size_t size = recs[i].bytes.size();
        auto it = head_.traces.find(recs[i].trace_id);
        if (it == head_.traces.end()) {
          it = head_.traces.emplace(std::string(recs[i].trace_id), HeadTrace{}).first;
        }
        HeadTrace& ht = it->second;
        if (max_bytes > 0 && ht.bytes + size > max_bytes) {
          accepted[i] = false;
          result->refused_spans += recs[i].spans;
          result->messages.push_back(
              "TRACE_TOO_LARGE: max size of trace (" + std::to_string(max_bytes) +
              ") exceeded while adding " + std::to_string(size) + " bytes to trace " +
              IdToHex(recs[i].trace_id) + " for tenant " + name_);
          if (ht.records.empty() && ht.bytes == 0) head_.traces.erase(it);
          continue;
        }
        ht.bytes += size;  // reserved; given back if the WAL fails
        entries[i] = &ht;
        total += size;
      }
    }
    uint64_t n = 0;
    for (size_t i = 0; i < recs.size(); ++i) n += accepted[i];
    if (n == 0) return Status::Ok();
    std::string built;
    std::string_view rec = framed;
    if (rec.empty() || n != recs.size()) {
      built.reserve(total + 8 + recs.size() * 3);
      built.push_back(static_cast<char>(kRecordTraces));
      coding::PutUvarint(built, n);
      for (size_t i = 0; i < recs.size(); ++i) {
        if (accepted[i]) coding::PutLengthPrefixed(built, recs[i].bytes);
      }
      rec = built;
    }
    auto pos = wal_->Append(rec);
    std::lock_guard<std::mutex> l(head_mu_);
    if (!pos.ok()) {
      for (size_t i = 0; i < recs.size(); ++i) {
        if (!accepted[i]) continue;
        HeadTrace& ht = *entries[i];
        ht.bytes -= std::min(ht.bytes, recs[i].bytes.size());
        if (ht.records.empty() && ht.bytes == 0) {
          if (auto it = head_.traces.find(recs[i].trace_id); it != head_.traces.end()) {
            head_.traces.erase(it);
          }
        }
      }
      return pos.status();
    }
    m_->bytes_written->WithLabels({name_}).Inc(static_cast<double>(rec.size()));
    for (size_t i = 0; i < recs.size(); ++i) {
      if (!accepted[i]) continue;
      HeadTrace& ht = *entries[i];
      if (ht.records.empty()) m_->traces_created->WithLabels({name_}).Inc();
      head_.bytes += recs[i].bytes.size();
      coding::PutLengthPrefixed(ht.records, recs[i].bytes);
    }
    if (head_.first_ms == 0) head_.first_ms = NowMs();
    m_->live_traces->WithLabels({name_}).Set(static_cast<double>(head_.traces.size()));
    return Status::Ok();
  }

  bool CutDue() {
    std::lock_guard<std::mutex> l(head_mu_);
    if (head_.traces.empty()) return false;
    return head_.bytes >= o_.max_block_bytes ||
           NowMs() - head_.first_ms >= o_.max_block_duration.count();
  }

  Status Cut(bool force) {
    std::lock_guard<std::mutex> serial(cut_serial_);
    std::shared_ptr<Head> frozen;
    uint32_t next_segment = 0;
    {
      std::unique_lock<std::shared_mutex> cut(cut_mu_);
      std::lock_guard<std::mutex> l(head_mu_);
      if (head_.traces.empty()) return Status::Ok();
      if (!force && head_.bytes < o_.max_block_bytes &&
          NowMs() - head_.first_ms < o_.max_block_duration.count()) {
        return Status::Ok();
      }
      auto seg = wal_->NextSegment();
      if (!seg.ok()) return seg.status();
      next_segment = *seg;
      frozen = std::make_shared<Head>(std::move(head_));
      head_ = Head{};
      frozen_ = frozen;
      m_->live_traces->WithLabels({name_}).Set(0);
    }
    // Each head trace's records are transcoded into the block's encoding
    // (codec.h TranscodeTrace: no Trace objects, no decode + re-encode).
    std::vector<BlockTrace> traces;
    traces.reserve(frozen->traces.size());
    std::vector<std::string_view> parts;
    for (const auto& entry : frozen->traces) {
      const HeadTrace& ht = entry.second;  // a plain reference: the lambda captures it
      if (ht.records.empty()) continue;
      // Records start with their 16-byte id (the head key may be another
      // length for model traces pushed with a non-16-byte id). A shorter
      // record fails in TranscodeTrace, and with it the cut.
      std::string_view first = coding::Reader(ht.records).LengthPrefixed();
      traces.push_back(BlockTrace{first.substr(0, std::min<size_t>(first.size(), 16)),
                                  [&ht, &parts](StringDict* dict, std::string* out,
                                                TraceSummary* sum) {
                                    parts.clear();
                                    coding::Reader r(ht.records);
                                    while (!r.empty()) {
                                      parts.push_back(r.LengthPrefixed());
                                      if (!r.ok()) {
                                        return DataLossError("head trace: truncated record");
                                      }
                                    }
                                    return TranscodeTrace(parts, dict, out, sum);
                                  }});
    }
    // Which of these traces continue recently cut blocks (one hash probe
    // per trace): the block's split links (index version 3).
    window_.Expire(NowMs());
    const SplitLinks links = window_.Links(traces, &split_fps_);
    BlockWriteOptions block_options = o_.block;
    block_options.links = &links;
    Result<blocks::BlockMeta> meta =
        WriteBlockEncoded(env_, dir_ + "/blocks", name_, std::move(traces), block_options);
    std::shared_ptr<BlockReader> reader;
    if (meta.ok()) {
      auto r = BlockReader::Open(LocalBlockFiles(env_, dir_ + "/blocks/" + meta->ulid.ToString()),
                                 *meta, id_cache_);
      if (r.ok()) {
        reader = std::shared_ptr<BlockReader>(std::move(r).value());
      } else {
        meta = r.status();
      }
    }
    if (!meta.ok()) {
      // Keep the traces: back into the head (the WAL still has them).
      m_->flush_failed->WithLabels({name_}).Inc();
      std::lock_guard<std::mutex> l(head_mu_);
      for (auto& [id, ht] : frozen->traces) {
        HeadTrace& dst = head_.traces[id];
        dst.bytes += ht.bytes;
        head_.bytes += ht.bytes;
        dst.records += ht.records;
      }
      if (head_.first_ms == 0 || frozen->first_ms < head_.first_ms) head_.first_ms = frozen->first_ms;
      frozen_.reset();
      return meta.status().Annotate("cutting a traces block for tenant " + name_);
    }
    {
      std::unique_lock<std::shared_mutex> bl(blocks_mu_);
      local_[meta->ulid] = reader;
      AddToSplitWindow(reader);
      cut_time_ms_[meta->ulid] = NowMs();
    }
    {
      std::lock_guard<std::mutex> l(head_mu_);
      frozen_.reset();
    }
    m_->blocks_cut->WithLabels({name_}).Inc();
    Status rm = wal_->RemoveSegmentsBefore(next_segment);
    if (!rm.ok()) {
      log::Warn("traces WAL cleanup failed", {{"tenant", name_}, {"err", rm.ToString()}});
    }
    if (shipper_) shipper_->Notify();
    return Status::Ok();
  }

  // The head traces that continue blocks of the split window, for a plan.
  std::vector<HeadSplit> HeadSplits(const std::vector<Trace>& head) {
    window_.Expire(NowMs());
    return window_.HeadSplits(head);
  }

  Status Ship() {
    if (!shipper_) return Status::Ok();
    auto n = shipper_->Sync();
    return n.ok() ? Status::Ok() : n.status();
  }

  // Drops uploaded local blocks past local_retention (they are read from
  // the object store from then on).
  void ApplyLocalRetention() {
    if (!shipper_) return;
    std::vector<std::pair<blocks::Ulid, std::shared_ptr<BlockReader>>> expired;
    {
      std::shared_lock<std::shared_mutex> bl(blocks_mu_);
      for (const auto& [ulid, r] : local_) {
        int64_t cut = cut_time_ms_.count(ulid) ? cut_time_ms_.at(ulid)
                                               : static_cast<int64_t>(ulid.time_ms());
        if (NowMs() - cut >= o_.local_retention.count() && shipper_->IsUploaded(ulid)) {
          expired.emplace_back(ulid, r);
        }
      }
    }
    for (auto& [ulid, r] : expired) {
      auto remote = BlockReader::Open(
          ObjectStoreBlockFiles(o_.store, blocks::BlockPrefix(blocks::TenantPrefix("traces", name_), ulid)),
          r->meta(), id_cache_);
      if (!remote.ok()) continue;
      {
        std::unique_lock<std::shared_mutex> bl(blocks_mu_);
        remote_[ulid] = std::shared_ptr<BlockReader>(std::move(remote).value());
        local_.erase(ulid);
        cut_time_ms_.erase(ulid);
      }
      (void)env_->RemoveAll(dir_ + "/blocks/" + ulid.ToString());
    }
  }

  Status RefreshRemote(bool force) {
    if (o_.store == nullptr) return Status::Ok();
    int64_t now = NowMs();
    {
      std::lock_guard<std::mutex> l(poll_mu_);
      if (!force && now - last_poll_ms_ < o_.blocklist_poll.count()) return Status::Ok();
      last_poll_ms_ = now;
    }
    const std::string prefix = blocks::TenantPrefix("traces", name_);
    SL_ASSIGN_OR_RETURN(auto metas, blocks::ListBlocks(*o_.store, prefix));
    std::map<blocks::Ulid, blocks::BlockMeta> want;
    for (auto& m : metas) {
      if (m.format == kBlockFormat || m.signal == "traces") want[m.ulid] = std::move(m);
    }
    std::vector<blocks::BlockMeta> to_open;
    {
      std::shared_lock<std::shared_mutex> bl(blocks_mu_);
      for (const auto& [ulid, m] : want) {
        if (!local_.count(ulid) && !remote_.count(ulid)) to_open.push_back(m);
      }
    }
    // Opening reads each block's index header (a ranged read) and bloom: two
    // requests per block, so a cold start over 14 days of 5-minute blocks
    // (4032) is thousands of requests. They go out from a few threads at once.
    std::vector<std::shared_ptr<BlockReader>> readers(to_open.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < to_open.size(); i = next++) {
        const auto& m = to_open[i];
        auto r = BlockReader::Open(
            ObjectStoreBlockFiles(o_.store, blocks::BlockPrefix(prefix, m.ulid)), m, id_cache_);
        if (!r.ok()) {
          log::Warn("cannot open a trace block in the object store",
                    {{"tenant", name_}, {"block", m.ulid.ToString()}, {"err", r.status().ToString()}});
          continue;
        }
        readers[i] = std::shared_ptr<BlockReader>(std::move(r).value());
      }
    };
    const size_t n_threads = std::min<size_t>(kOpenThreads, to_open.size() / 8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n_threads; ++i) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    std::map<blocks::Ulid, std::shared_ptr<BlockReader>> opened;
    for (size_t i = 0; i < to_open.size(); ++i) {
      if (readers[i]) opened[to_open[i].ulid] = std::move(readers[i]);
    }
    std::unique_lock<std::shared_mutex> bl(blocks_mu_);
    for (auto& [ulid, r] : opened) remote_[ulid] = std::move(r);
    // Blocks deleted from the store (retention) disappear.
    for (auto it = remote_.begin(); it != remote_.end();) {
      it = want.count(it->first) ? std::next(it) : remote_.erase(it);
    }
    return Status::Ok();
  }

  // Head parts of matching traces (copied under the lock).
  void CollectHead(const std::function<void(const Trace&)>& fn,
                   const std::string* only_id) {
    std::lock_guard<std::mutex> l(head_mu_);
    auto one = [&](const HeadTrace& ht) {
      if (ht.records.empty()) return;
      Trace t;
      Status s = DecodeHeadTrace(ht, &t);
      if (!s.ok()) {
        log::Error("undecodable trace in the head", {{"tenant", name_}, {"err", s.ToString()}});
        return;
      }
      fn(t);
    };
    auto visit = [&](const Head& h) {
      if (only_id) {
        auto it = h.traces.find(*only_id);
        if (it != h.traces.end()) one(it->second);
        return;
      }
      for (const auto& [id, ht] : h.traces) one(ht);
    };
    visit(head_);
    if (frozen_) visit(*frozen_);
  }

  std::vector<std::shared_ptr<BlockReader>> Blocks(uint64_t start, uint64_t end) {
    (void)RefreshRemote(false);
    std::shared_lock<std::shared_mutex> bl(blocks_mu_);
    std::vector<std::shared_ptr<BlockReader>> out;
    for (const auto& [u, r] : local_) {
      if (BlockOverlaps(r->meta(), start, end)) out.push_back(r);
    }
    for (const auto& [u, r] : remote_) {
      if (!local_.count(u) && BlockOverlaps(r->meta(), start, end)) out.push_back(r);
    }
    return out;
  }

  Result<std::optional<Trace>> Find(const std::string& id, uint64_t start, uint64_t end) {
    Trace out;
    bool found = false;
    CollectHead(
        [&](const Trace& t) {
          MergeTrace(t, &out);
          found = true;
        },
        &id);
    // Blocks whose bloom may hold the id (in memory); each then reads an id
    // page (and on a hit its row group), so with several candidates (1% of
    // the blocks are bloom false positives) the reads go out from a few
    // threads: object-store latency is paid about once, not per block.
    std::vector<std::shared_ptr<BlockReader>> cand;
    for (auto& b : Blocks(start, end)) {
      if (b->MayContain(id)) cand.push_back(std::move(b));
    }
    std::vector<std::optional<Trace>> parts(cand.size());
    std::vector<Status> errs(cand.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < cand.size(); i = next++) {
        auto r = cand[i]->Find(id);
        if (r.ok()) {
          parts[i] = std::move(r).value();
        } else {
          errs[i] = r.status();
        }
      }
    };
    std::vector<std::thread> threads;
    if (cand.size() >= 4) {
      for (size_t i = 0; i < std::min<size_t>(kFindThreads - 1, cand.size() / 2); ++i) {
        threads.emplace_back(work);
      }
    }
    work();
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < cand.size(); ++i) {
      SL_RETURN_IF_ERROR(errs[i]);
      if (parts[i]) {
        MergeTrace(std::move(*parts[i]), &out);
        found = true;
      }
    }
    if (!found) return std::optional<Trace>();
    out.trace_id = id;
    return std::optional<Trace>(std::move(out));
  }

  Status Scan(const ScanParams& p, const std::function<bool(const Trace&)>& fn) {
    std::unordered_map<std::string, Trace> merged;
    std::vector<std::string> order;
    auto add = [&](Trace t) {
      auto [it, inserted] = merged.try_emplace(t.trace_id);
      if (inserted) order.push_back(t.trace_id);
      MergeTrace(std::move(t), &it->second);
    };
    CollectHead([&](const Trace& t) { add(t); }, nullptr);
    for (const auto& b : Blocks(p.start_unix_nano, p.end_unix_nano)) {
      SL_RETURN_IF_ERROR(b->Scan(p, [&](Trace&& t) {
        add(std::move(t));
        return true;
      }));
    }
    for (const std::string& id : order) {
      const Trace& t = merged[id];
      if (!StartsInRange(t, p.start_unix_nano, p.end_unix_nano)) continue;
      if (!fn(t)) break;
    }
    return Status::Ok();
  }

  TenantStats Stats() {
    TenantStats s;
    {
      std::lock_guard<std::mutex> l(head_mu_);
      s.head_traces = head_.traces.size();
      s.head_bytes = head_.bytes;
    }
    std::shared_lock<std::shared_mutex> bl(blocks_mu_);
    s.local_blocks = local_.size();
    for (const auto& [u, r] : remote_) s.remote_blocks += !local_.count(u);
    for (const auto* blocks : {&local_, &remote_}) {
      for (const auto& [u, r] : *blocks) {
        s.block_memory_bytes += r->MemoryBytes();
        s.block_traces += r->num_traces();
      }
    }
    if (shipper_) s.uploaded_blocks = shipper_->Uploaded().size();
    return s;
  }

 private:
  static int64_t SplitWindowMs(const StoreOptions& o) {
    return o.split_window.count() > 0 ? o.split_window.count()
                                      : 2 * o.max_block_duration.count();
  }

  // A block just cut (its ids' fingerprints in split_fps_) joins the window.
  // blocks_mu_ held.
  void AddToSplitWindow(const std::shared_ptr<BlockReader>& reader) {
    const int64_t now = NowMs();
    const uint64_t shrunk = window_.shrunk_blocks();
    window_.Add(reader, now, split_fps_, now);
    if (window_.shrunk_blocks() > shrunk) {
      m_->split_window_shrunk->WithLabels({name_}).Inc(
          static_cast<double>(window_.shrunk_blocks() - shrunk));
    }
    m_->split_window_ids->WithLabels({name_}).Set(static_cast<double>(window_.ids()));
  }

  // After a restart: the local blocks cut within the window join it again
  // (their id pages read once), oldest first.
  void RebuildSplitWindow() {
    const int64_t now = NowMs();
    for (const auto& [ulid, reader] : local_) {
      const int64_t cut = static_cast<int64_t>(ulid.time_ms());
      if (cut < now - window_.window_ms()) continue;
      auto ids = reader->ReadSortedIds();
      if (!ids.ok()) {
        log::Warn("cannot read a trace block's ids for the split window",
                  {{"block", ulid.ToString()}, {"err", ids.status().ToString()}});
        continue;
      }
      split_fps_.clear();
      for (size_t i = 0; i + 16 <= ids->size(); i += 16) {
        split_fps_.push_back(SplitWindow::Fingerprint(std::string_view(*ids).substr(i, 16)));
      }
      const uint64_t shrunk = window_.shrunk_blocks();
      window_.Add(reader, cut, split_fps_, now);
      if (window_.shrunk_blocks() > shrunk) {
        m_->split_window_shrunk->WithLabels({name_}).Inc(
            static_cast<double>(window_.shrunk_blocks() - shrunk));
      }
    }
    split_fps_.clear();
    m_->split_window_ids->WithLabels({name_}).Set(static_cast<double>(window_.ids()));
  }

  // A replayed WAL record (already checked to decode) into the head.
  void AddToHead(const std::string& trace_id, std::string_view enc) {
    const size_t bytes = enc.size();
    std::lock_guard<std::mutex> l(head_mu_);
    HeadTrace& ht = head_.traces[trace_id];
    ht.bytes += bytes;
    head_.bytes += bytes;
    coding::PutLengthPrefixed(ht.records, enc);
    if (head_.first_ms == 0) head_.first_ms = NowMs();
  }

  const StoreOptions& o_;
  io::Env* env_;
  Metrics* m_;
  IdPageCache* id_cache_;  // shared by the store's block readers
  std::string name_, dir_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<blocks::Shipper> shipper_;
  bool closed_ = false;

  std::shared_mutex cut_mu_;  // Push: shared; swapping the head: exclusive
  std::mutex cut_serial_;
  std::mutex head_mu_;
  Head head_;
  std::shared_ptr<Head> frozen_;  // being written to a block

  std::shared_mutex blocks_mu_;
  std::map<blocks::Ulid, std::shared_ptr<BlockReader>> local_, remote_;
  std::map<blocks::Ulid, int64_t> cut_time_ms_;
  // Ids of the blocks cut recently: split links at cut, head splits at plan.
  SplitWindow window_;
  std::vector<uint64_t> split_fps_;  // the cut's (cut_serial_ held)

  std::mutex poll_mu_;
  int64_t last_poll_ms_ = 0;
};

// ------------------------------------------------------------------- Store

struct TraceStore::Impl {
  StoreOptions o;
  io::Env* env;
  std::string root;
  std::unique_ptr<Metrics> metrics;
  // Trace-id pages of the blocks (read on demand by find-by-id); declared
  // before the tenants, so it outlives their block readers.
  std::unique_ptr<IdPageCache> id_cache;
  // Its /metrics collector's view, detached (~Impl) before the cache goes.
  std::shared_ptr<IdCacheMetrics> id_cache_metrics;
  ~Impl() {
    if (id_cache_metrics) id_cache_metrics->Detach();
  }

  mutable std::shared_mutex mu;
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants;
  std::mutex create_mu;
  bool closed = false;

  // Cuts, ships and applies retention every maintenance_interval (set by
  // Open when run_maintenance, never changed after: pushes read it).
  std::unique_ptr<PeriodicWorker> maintenance;

  // Wakes the maintenance thread when the head is due for a cut.
  void NotifyIfCutDue(Tenant* t) {
    if (maintenance != nullptr && t->CutDue()) maintenance->Wake();
  }
};

TraceStore::TraceStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TraceStore::~TraceStore() {
  Status s = Close();
  if (!s.ok()) log::Error("closing the trace store failed", {{"err", s.ToString()}});
}

Result<std::unique_ptr<TraceStore>> TraceStore::Open(StoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  impl->env = impl->o.env ? impl->o.env : io::Env::Default();
  impl->root = impl->o.data_dir + "/traces";
  impl->metrics = std::make_unique<Metrics>(impl->o.registry ? *impl->o.registry
                                                             : telemetry::Registry::Default());
  impl->id_cache = std::make_unique<IdPageCache>(impl->o.id_page_cache_bytes);
  impl->id_cache_metrics = std::make_shared<IdCacheMetrics>(impl->id_cache.get());
  (impl->o.registry ? *impl->o.registry : telemetry::Registry::Default())
      .AddCollector([m = impl->id_cache_metrics](std::string& out) { m->Collect(out); });
  SL_RETURN_IF_ERROR(impl->env->CreateDirs(impl->root));
  std::unique_ptr<TraceStore> store(new TraceStore(std::move(impl)));
  Impl& m = *store->impl_;
  SL_ASSIGN_OR_RETURN(auto children, m.env->GetChildren(m.root));
  for (const std::string& c : children) {
    if (!net::ValidateTenantId(c).ok()) continue;
    auto t = std::make_unique<Tenant>(m.o, m.env, m.metrics.get(), m.id_cache.get(), c, m.root + "/" + c);
    SL_RETURN_IF_ERROR(t->Open());
    m.tenants[c] = std::move(t);
  }
  if (m.o.run_maintenance) {
    TraceStore* self = store.get();
    m.maintenance = std::make_unique<PeriodicWorker>(
        "traces-store", m.o.maintenance_interval,
        [self] {
          Status s = self->Maintain();
          if (!s.ok()) log::Warn("trace store maintenance", {{"err", s.ToString()}});
        });
    m.maintenance->Start();
  }
  return store;
}

Status TraceStore::Push(std::string_view tenant, std::vector<Trace> traces,
                        ingest::PushResult* result) {
  SL_ASSIGN_OR_RETURN(Tenant * t, TenantFor(tenant));
  Status s = t->Push(std::move(traces), result);
  if (s.ok()) impl_->NotifyIfCutDue(t);
  return s;
}

Status TraceStore::PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                               ingest::PushResult* result) {
  SL_ASSIGN_OR_RETURN(Tenant * t, TenantFor(tenant));
  Status s = t->PushEncoded(traces, result);
  if (s.ok()) impl_->NotifyIfCutDue(t);
  return s;
}

Result<TraceStore::Tenant*> TraceStore::TenantFor(std::string_view tenant) {
  Impl& m = *impl_;
  Tenant* t = nullptr;
  {
    std::shared_lock<std::shared_mutex> l(m.mu);
    if (m.closed) return UnavailableError("the trace store is closed");
    auto it = m.tenants.find(tenant);
    if (it != m.tenants.end()) t = it->second.get();
  }
  if (t == nullptr) {
    SL_RETURN_IF_ERROR(net::ValidateTenantId(tenant));
    std::lock_guard<std::mutex> c(m.create_mu);
    {
      std::shared_lock<std::shared_mutex> l(m.mu);
      auto it = m.tenants.find(tenant);
      if (it != m.tenants.end()) t = it->second.get();
    }
    if (t == nullptr) {
      auto nt = std::make_unique<Tenant>(m.o, m.env, m.metrics.get(), m.id_cache.get(), std::string(tenant),
                                         m.root + "/" + std::string(tenant));
      SL_RETURN_IF_ERROR(nt->Open());
      std::unique_lock<std::shared_mutex> l(m.mu);
      t = nt.get();
      m.tenants[std::string(tenant)] = std::move(nt);
    }
  }
  return t;
}

namespace {

class TenantSource final : public TraceSource {
 public:
  TenantSource(TraceStore* s, std::string tenant) : s_(s), tenant_(std::move(tenant)) {}
  Status Scan(const ScanParams& p, const std::function<bool(const Trace&)>& fn) override {
    return s_->Scan(tenant_, p, fn);
  }

 private:
  TraceStore* s_;
  std::string tenant_;
};

}  // namespace

std::unique_ptr<TraceSource> TraceStore::Source(std::string_view tenant) {
  return std::make_unique<TenantSource>(this, std::string(tenant));
}

Result<std::optional<Trace>> TraceStore::FindTraceById(std::string_view tenant,
                                                      std::string_view trace_id,
                                                      uint64_t start, uint64_t end) {
  SL_RETURN_IF_ERROR(net::ValidateTenantId(tenant));
  Impl& m = *impl_;
  Tenant* t = nullptr;
  {
    std::shared_lock<std::shared_mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it != m.tenants.end()) t = it->second.get();
  }
  if (t == nullptr) {
    // Only in the object store (e.g. a querier-only process): a read-only
    // view would do, but a tenant dir is cheap and keeps one code path.
    ingest::PushResult ignored;
    SL_RETURN_IF_ERROR(Push(tenant, {}, &ignored));
    std::shared_lock<std::shared_mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it == m.tenants.end()) return std::optional<Trace>();
    t = it->second.get();
  }
  return t->Find(std::string(trace_id), start, end);
}

Status TraceStore::Scan(std::string_view tenant, const ScanParams& params,
                        const std::function<bool(const Trace&)>& fn) {
  SL_RETURN_IF_ERROR(net::ValidateTenantId(tenant));
  Impl& m = *impl_;
  Tenant* t = nullptr;
  {
    std::shared_lock<std::shared_mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it != m.tenants.end()) t = it->second.get();
  }
  if (t == nullptr) {
    ingest::PushResult ignored;
    SL_RETURN_IF_ERROR(Push(tenant, {}, &ignored));
    std::shared_lock<std::shared_mutex> l(m.mu);
    auto it = m.tenants.find(tenant);
    if (it == m.tenants.end()) return Status::Ok();
    t = it->second.get();
  }
  return t->Scan(params, fn);
}

Result<std::unique_ptr<ShardedTraceSource>> TraceStore::PlanScan(std::string_view tenant,
                                                                  uint64_t start, uint64_t end) {
  SL_ASSIGN_OR_RETURN(Tenant * t, TenantFor(tenant));
  std::vector<Trace> head;
  t->CollectHead([&](const Trace& tr) { head.push_back(tr); }, nullptr);
  std::vector<HeadSplit> head_splits = t->HeadSplits(head);
  return NewShardedScan(start, end, std::move(head), t->Blocks(start, end), std::move(head_splits));
}

Status TraceStore::CutAll(bool force) {
  std::vector<Tenant*> ts;
  {
    std::shared_lock<std::shared_mutex> l(impl_->mu);
    for (auto& [n, t] : impl_->tenants) ts.push_back(t.get());
  }
  Status first;
  for (Tenant* t : ts) {
    Status s = t->Cut(force);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status TraceStore::ShipAll() {
  std::vector<Tenant*> ts;
  {
    std::shared_lock<std::shared_mutex> l(impl_->mu);
    for (auto& [n, t] : impl_->tenants) ts.push_back(t.get());
  }
  Status first;
  for (Tenant* t : ts) {
    Status s = t->Ship();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status TraceStore::RefreshRemote() {
  std::vector<Tenant*> ts;
  {
    std::shared_lock<std::shared_mutex> l(impl_->mu);
    for (auto& [n, t] : impl_->tenants) ts.push_back(t.get());
  }
  Status first;
  for (Tenant* t : ts) {
    Status s = t->RefreshRemote(true);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status TraceStore::Maintain() {
  std::vector<Tenant*> ts;
  {
    std::shared_lock<std::shared_mutex> l(impl_->mu);
    if (impl_->closed) return Status::Ok();
    for (auto& [n, t] : impl_->tenants) ts.push_back(t.get());
  }
  Status first;
  for (Tenant* t : ts) {
    Status s = t->Cut(false);
    if (!s.ok() && first.ok()) first = s;
    t->ApplyLocalRetention();
    (void)t->RefreshRemote(false);
  }
  return first;
}

std::vector<std::string> TraceStore::Tenants() const {
  std::shared_lock<std::shared_mutex> l(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [n, t] : impl_->tenants) out.push_back(n);
  return out;
}

TenantStats TraceStore::Stats(std::string_view tenant) const {
  std::shared_lock<std::shared_mutex> l(impl_->mu);
  auto it = impl_->tenants.find(tenant);
  if (it == impl_->tenants.end()) return {};
  return it->second->Stats();
}

Status TraceStore::Close() {
  Impl& m = *impl_;
  if (m.maintenance != nullptr) m.maintenance->Stop();
  std::unique_lock<std::shared_mutex> l(m.mu);
  if (m.closed) return Status::Ok();
  m.closed = true;
  Status first;
  for (auto& [n, t] : m.tenants) {
    Status s = t->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace sightline::traces::store
