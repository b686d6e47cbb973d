#include "profiles/store/profile_db.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "base/coding.h"
#include "base/compression.h"
#include "base/periodic_worker.h"
#include "blocks/bucket.h"
#include "blocks/meta.h"
#include "blocks/shipper.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_store.h"
#include "pprof/profile.pb.h"
#include "profiles/store/pprof_append.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "wal/wal.h"

namespace sightline::profiles {

namespace {

constexpr uint8_t kRecordProfile = 1;
constexpr char kBlockFile[] = "profiles.bin";
constexpr size_t kMaxBlockBytes = size_t{4} << 30;
constexpr auto kRemoteListInterval = std::chrono::seconds(15);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// WAL record: type, labels, time, serialized pprof (docs/formats/profiles-wal.md).
std::string EncodeRecord(const Labels& base, int64_t time_ms, const std::string& pprof) {
  std::string rec;
  rec.push_back(static_cast<char>(kRecordProfile));
  coding::PutUvarint(rec, base.size());
  for (const auto& [n, v] : base) {
    coding::PutLengthPrefixed(rec, n);
    coding::PutLengthPrefixed(rec, v);
  }
  coding::PutVarint(rec, time_ms);
  coding::PutLengthPrefixed(rec, pprof);
  return rec;
}

Status DecodeRecord(std::string_view rec, Labels* base, int64_t* time_ms,
                    perftools::profiles::Profile* p) {
  coding::Reader r(rec);
  if (r.Byte() != kRecordProfile || !r.ok()) return DataLossError("unknown profiles WAL record");
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return DataLossError("bad profiles WAL record labels");
  base->clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string name(r.LengthPrefixed());
    std::string value(r.LengthPrefixed());
    base->emplace_back(std::move(name), std::move(value));
  }
  *time_ms = r.Varint();
  std::string_view body = r.LengthPrefixed();
  if (!r.ok()) return DataLossError("truncated profiles WAL record");
  if (!p->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return DataLossError("bad pprof in profiles WAL record");
  }
  return Status::Ok();
}

struct LoadedBlock {
  blocks::BlockMeta meta;
  std::shared_ptr<const Segment> segment;
  uint64_t file_bytes = 0;
  uint64_t mem_bytes = 0;  // decoded size (remote cache accounting)
  uint64_t last_used = 0;  // remote cache LRU tick
};

struct RemoteCacheMetrics {
  telemetry::Gauge* bytes;
  telemetry::Counter* evictions;
};

RemoteCacheMetrics& CacheMetrics() {
  static RemoteCacheMetrics* m = [] {
    auto& reg = telemetry::Registry::Default();
    auto* out = new RemoteCacheMetrics;
    out->bytes = &reg.AddGauge("sightline_profiles_remote_block_cache_bytes",
                               "Decoded object-store profile blocks held in memory.")
                      .Get();
    out->evictions = &reg.AddCounter("sightline_profiles_remote_block_cache_evictions_total",
                                     "Object-store profile blocks dropped from memory (LRU).")
                          .Get();
    return out;
  }();
  return *m;
}

}  // namespace

struct ProfileDB::Tenant {
  std::string name;
  std::string dir, wal_dir, blocks_dir;
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<blocks::Shipper> shipper;

  // Held shared by Append (WAL write + head insert) and exclusively by a
  // cut, so that a cut never separates a record from its head entry.
  std::shared_mutex cut_mu;
  // Guards head.
  std::shared_mutex head_mu;
  std::unique_ptr<Segment> head = std::make_unique<Segment>();
  int64_t head_opened_ms = 0;  // wall time of the first profile in the head

  mutable std::mutex blocks_mu;
  std::map<blocks::Ulid, LoadedBlock> local;   // by ULID
  std::map<blocks::Ulid, LoadedBlock> remote;  // fetched from the object store
  std::chrono::steady_clock::time_point last_remote_list{};
};

struct ProfileDB::Impl {
  ProfileDBOptions options;
  io::Env* env = nullptr;
  mutable std::mutex mu;  // guards tenants
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants;
  // Tenants with blocks in the object store only (no local WAL): their
  // fetched blocks are cached here.
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> remote_only;
  bool closed = false;
  // Remote block cache: decoded bytes held, and the LRU clock.
  std::atomic<uint64_t> remote_bytes{0};
  std::atomic<uint64_t> remote_tick{0};

  // The background cut / retention loop (none when cut_check_interval <= 0).
  std::chrono::steady_clock::time_point last_retention;  // the worker's thread only
  std::unique_ptr<PeriodicWorker> worker;
};

ProfileDB::ProfileDB(ProfileDBOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->env = impl_->options.env ? impl_->options.env : io::Env::Default();
}

ProfileDB::~ProfileDB() {
  Status s = Close();
  if (!s.ok()) log::Error("closing the profiles store failed", {{"err", s.ToString()}});
}

Result<std::unique_ptr<ProfileDB>> ProfileDB::Open(ProfileDBOptions options) {
  std::unique_ptr<ProfileDB> db(new ProfileDB(std::move(options)));
  const std::string root = io::JoinPath(db->impl_->options.data_dir, "profiles");
  SL_RETURN_IF_ERROR(db->impl_->env->CreateDirs(root));
  SL_ASSIGN_OR_RETURN(auto children, db->impl_->env->GetChildren(root));
  std::sort(children.begin(), children.end());
  for (const auto& name : children) {
    if (!db->impl_->env->FileExists(io::JoinPath(io::JoinPath(root, name), "wal")) &&
        !db->impl_->env->FileExists(io::JoinPath(io::JoinPath(root, name), "blocks"))) {
      continue;
    }
    SL_RETURN_IF_ERROR(db->GetTenant(name, true).status());
  }
  if (db->impl_->options.cut_check_interval.count() > 0) {
    db->impl_->last_retention = std::chrono::steady_clock::now();
    db->impl_->worker = std::make_unique<PeriodicWorker>(
        "profiles-store", db->impl_->options.cut_check_interval, [d = db.get()] { d->Tick(); });
    db->impl_->worker->Start();
  }
  return db;
}

Result<ProfileDB::Tenant*> ProfileDB::GetTenant(std::string_view tenant, bool create) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->closed) return FailedPreconditionError("the profiles store is closed");
  auto it = impl_->tenants.find(tenant);
  if (it != impl_->tenants.end()) return it->second.get();
  if (!create) return static_cast<Tenant*>(nullptr);
  auto t = std::make_unique<Tenant>();
  t->name = std::string(tenant);
  SL_RETURN_IF_ERROR(OpenTenant(t.get()));
  Tenant* raw = t.get();
  impl_->tenants.emplace(std::string(tenant), std::move(t));
  return raw;
}

Status ProfileDB::OpenTenant(Tenant* t) {
  io::Env* env = impl_->env;
  t->dir = io::JoinPath(io::JoinPath(impl_->options.data_dir, "profiles"), t->name);
  t->wal_dir = io::JoinPath(t->dir, "wal");
  t->blocks_dir = io::JoinPath(t->dir, "blocks");
  SL_RETURN_IF_ERROR(env->CreateDirs(t->blocks_dir));

  // Local blocks.
  SL_ASSIGN_OR_RETURN(auto children, env->GetChildren(t->blocks_dir));
  for (const auto& name : children) {
    const std::string path = io::JoinPath(t->blocks_dir, name);
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      log::Warn("removing incomplete profiles block", {{"dir", path}});
      SL_RETURN_IF_ERROR(env->RemoveAll(path));
      continue;
    }
    auto ulid = blocks::Ulid::Parse(name);
    if (!ulid.ok()) continue;
    auto meta_text = env->ReadFile(io::JoinPath(path, "meta.json"));
    if (!meta_text.ok()) continue;
    auto meta = blocks::BlockMeta::Parse(*meta_text);
    if (!meta.ok()) {
      log::Error("bad profiles block meta.json; leaving it alone", {{"dir", path}});
      continue;
    }
    auto file = env->GetFileSize(io::JoinPath(path, kBlockFile));
    LoadedBlock b;
    b.meta = std::move(meta).value();
    b.file_bytes = file.ok() ? *file : 0;
    t->local.emplace(*ulid, std::move(b));  // segment loaded on first read
  }

  // WAL replay into the head.
  wal::WalOptions wo;
  wo.dir = t->wal_dir;
  wo.env = env;
  wo.sync_policy = impl_->options.wal_sync ? wal::SyncPolicy::kAlways : wal::SyncPolicy::kNone;
  wo.compression = wal::Compression::kSnappy;
  wo.metrics_prefix = "pyroscope_ingester_wal_";
  SL_ASSIGN_OR_RETURN(t->wal, wal::Wal::Open(std::move(wo)));
  uint64_t replayed = 0;
  perftools::profiles::Profile p;
  Labels base;
  int64_t time_ms = 0;
  // A crash between writing a block and deleting the WAL segments it covers
  // must not replay those profiles a second time.
  uint64_t covered = 0;
  for (const auto& [_, b] : t->local) {
    auto it = b.meta.stats.find("walSegmentsBefore");
    if (it != b.meta.stats.end()) covered = std::max(covered, it->second);
  }
  SL_RETURN_IF_ERROR(t->wal->Replay([&](std::string_view rec, wal::WalPosition pos) -> Status {
    if (!pos.in_checkpoint && pos.segment < covered) return Status::Ok();
    Status s = DecodeRecord(rec, &base, &time_ms, &p);
    if (s.ok()) s = AppendPprof(t->head.get(), base, p, time_ms);
    if (!s.ok()) {
      log::Warn("skipping a bad profiles WAL record", {{"err", s.ToString()}});
      return Status::Ok();
    }
    ++replayed;
    return Status::Ok();
  }));
  if (replayed > 0) {
    t->head_opened_ms = NowMs();
    log::Info("profiles WAL replayed",
              {{"tenant", t->name}, {"profiles", std::to_string(replayed)}});
  }

  if (impl_->options.store != nullptr) {
    blocks::ShipperOptions so;
    so.signal = "profiles";
    so.local_dir = t->blocks_dir;
    so.remote_prefix = blocks::TenantPrefix("profiles", t->name);
    so.source = "ingester";
    so.interval = impl_->options.ship_interval;
    t->shipper = std::make_unique<blocks::Shipper>(env, impl_->options.store, std::move(so));
    SL_RETURN_IF_ERROR(t->shipper->Init());
    t->shipper->Start();
  }
  return Status::Ok();
}

Status ProfileDB::Append(std::string_view tenant, const Labels& base,
                         const perftools::profiles::Profile& profile, int64_t time_ms) {
  SL_ASSIGN_OR_RETURN(Tenant * t, GetTenant(tenant, true));
  // A profile that AppendPprof would reject never reaches the WAL.
  SL_RETURN_IF_ERROR(CheckPprof(profile));
  std::shared_lock<std::shared_mutex> cut(t->cut_mu);
  SL_RETURN_IF_ERROR(
      t->wal->Append(EncodeRecord(base, time_ms, profile.SerializeAsString())).status());
  std::unique_lock<std::shared_mutex> l(t->head_mu);
  if (t->head->empty()) t->head_opened_ms = NowMs();
  return AppendPprof(t->head.get(), base, profile, time_ms);
}

Status ProfileDB::CutTenant(Tenant* t) {
  std::unique_lock<std::shared_mutex> cut(t->cut_mu);
  std::unique_ptr<Segment> head;
  {
    std::shared_lock<std::shared_mutex> l(t->head_mu);
    if (t->head->empty()) return Status::Ok();
  }
  SL_ASSIGN_OR_RETURN(uint32_t next_segment, t->wal->NextSegment());
  {
    std::unique_lock<std::shared_mutex> l(t->head_mu);
    head = std::move(t->head);
    t->head = std::make_unique<Segment>();
  }
  head->Finish();
  io::Env* env = impl_->env;
  const blocks::Ulid ulid = blocks::NewUlid();
  const std::string final_dir = io::JoinPath(t->blocks_dir, ulid.ToString());
  const std::string tmp_dir = final_dir + ".tmp";
  auto restore = [&](Status s) {
    std::unique_lock<std::shared_mutex> l(t->head_mu);
    // Put the profiles back so that queries still see them; the WAL keeps them.
    if (t->head->empty()) t->head = std::move(head);
    return s;
  };
  std::string body = head->Serialize();
  auto compressed = Compress(Codec::kZstd, body, 3);
  if (!compressed.ok()) return restore(compressed.status());
  Status s = env->CreateDirs(tmp_dir);
  if (s.ok()) s = env->WriteFileAtomic(io::JoinPath(tmp_dir, kBlockFile), *compressed);
  blocks::BlockMeta meta;
  meta.ulid = ulid;
  meta.min_time = head->min_time();
  meta.max_time = head->max_time() + 1;
  meta.stats["numProfiles"] = head->num_profiles();
  meta.stats["numSeries"] = head->series().size();
  meta.stats["numSamples"] = head->num_samples();
  meta.stats["numBytes"] = compressed->size();
  meta.stats["numUncompressedBytes"] = body.size();
  meta.stats["walSegmentsBefore"] = next_segment;
  meta.source = "ingester";
  meta.signal = "profiles";
  meta.tenant = t->name;
  meta.format = "profiles-v1";
  meta.files.push_back({kBlockFile, compressed->size()});
  if (s.ok()) s = env->WriteFileAtomic(io::JoinPath(tmp_dir, "meta.json"), meta.ToJson());
  if (s.ok()) s = env->Rename(tmp_dir, final_dir);
  if (s.ok()) s = env->SyncDir(t->blocks_dir);
  if (!s.ok()) {
    (void)env->RemoveAll(tmp_dir);
    return restore(s.Annotate("writing profiles block"));
  }
  {
    std::lock_guard<std::mutex> l(t->blocks_mu);
    LoadedBlock b;
    b.meta = meta;
    b.segment = std::shared_ptr<const Segment>(std::move(head));
    b.file_bytes = compressed->size();
    t->local.emplace(ulid, std::move(b));
  }
  // The block holds everything the earlier segments held.
  s = t->wal->RemoveSegmentsBefore(next_segment);
  if (!s.ok()) log::Warn("profiles WAL truncation failed", {{"err", s.ToString()}});
  log::Info("profiles block cut", {{"tenant", t->name},
                                   {"block", ulid.ToString()},
                                   {"profiles", std::to_string(meta.stats["numProfiles"])},
                                   {"bytes", std::to_string(compressed->size())}});
  if (t->shipper) t->shipper->Notify();
  return Status::Ok();
}

Status ProfileDB::Cut() {
  std::vector<Tenant*> ts;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
  }
  for (Tenant* t : ts) SL_RETURN_IF_ERROR(CutTenant(t));
  return Status::Ok();
}

Status ProfileDB::Ship() {
  std::vector<Tenant*> ts;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
  }
  for (Tenant* t : ts) {
    if (t->shipper) SL_RETURN_IF_ERROR(t->shipper->Sync().status());
  }
  return Status::Ok();
}

Status ProfileDB::View(std::string_view tenant, int64_t start_ms, int64_t end_ms,
                       const std::function<void(const Segment&)>& fn) {
  SL_ASSIGN_OR_RETURN(Tenant * t, GetTenant(tenant, false));
  std::vector<std::shared_ptr<const Segment>> segments;
  if (t != nullptr) {
    std::lock_guard<std::mutex> l(t->blocks_mu);
    for (auto& [ulid, b] : t->local) {
      if (b.meta.max_time <= start_ms || b.meta.min_time > end_ms) continue;
      if (!b.segment) {
        const std::string path =
            io::JoinPath(io::JoinPath(t->blocks_dir, ulid.ToString()), kBlockFile);
        auto data = impl_->env->ReadFile(path);
        if (!data.ok()) return data.status().Annotate("reading profiles block");
        SL_ASSIGN_OR_RETURN(std::string body, Decompress(Codec::kZstd, *data, kMaxBlockBytes));
        SL_ASSIGN_OR_RETURN(auto seg, Segment::Parse(body));
        b.segment = std::shared_ptr<const Segment>(std::move(seg));
      }
      segments.push_back(b.segment);
    }
  }
  // Object-store blocks not on local disk (another ingester's, or ours
  // after the local disk was lost).
  bool evict = false;
  if (impl_->options.store != nullptr) {
    Tenant* holder = t;
    bool fresh = false;
    if (holder == nullptr) {
      std::lock_guard<std::mutex> g(impl_->mu);
      auto& r = impl_->remote_only[std::string(tenant)];
      if (!r) {
        r = std::make_unique<Tenant>();
        r->name = std::string(tenant);
        fresh = true;
      }
      holder = r.get();
    }
    std::lock_guard<std::mutex> l(holder->blocks_mu);
    auto now = std::chrono::steady_clock::now();
    const std::string prefix = blocks::TenantPrefix("profiles", tenant);
    if (fresh || now - holder->last_remote_list > kRemoteListInterval) {
      holder->last_remote_list = now;
      auto metas = blocks::ListBlocks(*impl_->options.store, prefix);
      if (metas.ok()) {
        for (auto& m : *metas) {
          if (holder->local.count(m.ulid) || holder->remote.count(m.ulid)) continue;
          LoadedBlock b;
          b.meta = std::move(m);
          holder->remote.emplace(b.meta.ulid, std::move(b));
        }
      } else {
        log::Warn("listing profiles blocks failed", {{"err", metas.status().ToString()}});
      }
    }
    for (auto& [ulid, b] : holder->remote) {
      if (holder->local.count(ulid)) continue;
      if (b.meta.max_time <= start_ms || b.meta.min_time > end_ms) continue;
      if (!b.segment) {
        auto data = impl_->options.store->Get(blocks::BlockPrefix(prefix, ulid) + kBlockFile);
        if (!data.ok()) return data.status().Annotate("fetching profiles block");
        SL_ASSIGN_OR_RETURN(std::string body, Decompress(Codec::kZstd, *data, kMaxBlockBytes));
        SL_ASSIGN_OR_RETURN(auto seg, Segment::Parse(body));
        b.segment = std::shared_ptr<const Segment>(std::move(seg));
        b.file_bytes = data->size();
        // The decoded segment is about as big as its serialized body.
        b.mem_bytes = body.size();
        impl_->remote_bytes += b.mem_bytes;
        evict = true;
      }
      b.last_used = ++impl_->remote_tick;
      segments.push_back(b.segment);
    }
  }
  // Outside blocks_mu: eviction visits every tenant's blocks one at a time.
  // Segments handed to this query stay alive through `segments`.
  if (evict) EvictRemote();
  for (const auto& s : segments) fn(*s);
  if (t != nullptr) {
    std::shared_lock<std::shared_mutex> l(t->head_mu);
    if (!t->head->empty() && t->head->max_time() >= start_ms && t->head->min_time() <= end_ms) {
      fn(*t->head);
    }
  }
  return Status::Ok();
}

std::vector<std::string> ProfileDB::Tenants() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [name, _] : impl_->tenants) out.push_back(name);
  return out;
}

ProfileDBStats ProfileDB::Stats(std::string_view tenant) const {
  ProfileDBStats st;
  Tenant* t = nullptr;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = impl_->tenants.find(tenant);
    if (it == impl_->tenants.end()) return st;
    t = it->second.get();
  }
  {
    std::shared_lock<std::shared_mutex> l(t->head_mu);
    st.head_profiles = t->head->num_profiles();
  }
  std::lock_guard<std::mutex> l(t->blocks_mu);
  st.blocks = t->local.size();
  for (const auto& [_, b] : t->local) st.block_bytes += b.file_bytes;
  return st;
}

void ProfileDB::EvictRemote() {
  const uint64_t cap = impl_->options.remote_cache_bytes;
  auto& m = CacheMetrics();
  if (impl_->remote_bytes.load() > cap) {
    std::vector<Tenant*> ts;
    {
      std::lock_guard<std::mutex> g(impl_->mu);
      for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
      for (auto& [_, t] : impl_->remote_only) ts.push_back(t.get());
    }
    struct Candidate {
      uint64_t last_used;
      Tenant* t;
      blocks::Ulid ulid;
    };
    std::vector<Candidate> all;
    for (Tenant* t : ts) {
      std::lock_guard<std::mutex> l(t->blocks_mu);
      for (const auto& [ulid, b] : t->remote) {
        if (b.segment) all.push_back({b.last_used, t, ulid});
      }
    }
    std::sort(all.begin(), all.end(),
              [](const Candidate& a, const Candidate& b) { return a.last_used < b.last_used; });
    for (const auto& c : all) {
      if (impl_->remote_bytes.load() <= cap) break;
      std::lock_guard<std::mutex> l(c.t->blocks_mu);
      auto it = c.t->remote.find(c.ulid);
      // Skip a block used again since the scan (it is recent now).
      if (it == c.t->remote.end() || !it->second.segment || it->second.last_used != c.last_used) {
        continue;
      }
      it->second.segment.reset();
      impl_->remote_bytes -= it->second.mem_bytes;
      m.evictions->Inc();
    }
  }
  m.bytes->Set(static_cast<double>(impl_->remote_bytes.load()));
}

uint64_t ProfileDB::RemoteCacheBytes() const { return impl_->remote_bytes.load(); }

size_t ProfileDB::RemoteCachedBlocks() const {
  std::vector<Tenant*> ts;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
    for (auto& [_, t] : impl_->remote_only) ts.push_back(t.get());
  }
  size_t n = 0;
  for (Tenant* t : ts) {
    std::lock_guard<std::mutex> l(t->blocks_mu);
    for (const auto& [_, b] : t->remote) n += b.segment != nullptr;
  }
  return n;
}

Status ProfileDB::ApplyRetention(int64_t now_ms) {
  const auto& o = impl_->options;
  const int64_t cutoff = o.retention.count() > 0 ? now_ms - o.retention.count() : INT64_MIN;
  std::vector<Tenant*> ts;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
    for (auto& [_, t] : impl_->remote_only) ts.push_back(t.get());
  }
  Status result = Status::Ok();
  for (Tenant* t : ts) {
    std::vector<blocks::Ulid> drop;
    {
      std::lock_guard<std::mutex> l(t->blocks_mu);
      for (const auto& [ulid, b] : t->local) {
        const bool expired = b.meta.max_time <= cutoff;
        const bool shipped_and_old = o.local_retention.count() > 0 && t->shipper != nullptr &&
                                     t->shipper->IsUploaded(ulid) &&
                                     b.meta.max_time + o.local_retention.count() <= now_ms;
        if (expired || shipped_and_old) drop.push_back(ulid);
      }
      for (const auto& u : drop) t->local.erase(u);
      for (auto it = t->remote.begin(); it != t->remote.end();) {
        if (it->second.meta.max_time <= cutoff) {
          if (it->second.segment) impl_->remote_bytes -= it->second.mem_bytes;
          it = t->remote.erase(it);
        } else {
          ++it;
        }
      }
      CacheMetrics().bytes->Set(static_cast<double>(impl_->remote_bytes.load()));
      // Dropped local copies are in the object store: list it again.
      if (!drop.empty()) t->last_remote_list = {};
    }
    for (const auto& u : drop) {
      Status rm = impl_->env->RemoveAll(io::JoinPath(t->blocks_dir, u.ToString()));
      if (!rm.ok()) result = rm;
    }
    if (o.store != nullptr && o.retention.count() > 0) {
      auto n = blocks::ApplyRetention(*o.store, blocks::TenantPrefix("profiles", t->name), cutoff);
      if (!n.ok()) {
        result = n.status();
      } else if (*n > 0 || !drop.empty()) {
        log::Info("profiles retention", {{"tenant", t->name},
                                         {"deleted_from_store", std::to_string(*n)},
                                         {"dropped_locally", std::to_string(drop.size())}});
      }
    }
  }
  return result;
}

void ProfileDB::Tick() {
  const int64_t block_ms = impl_->options.block_duration.count();
  std::vector<Tenant*> ts;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    for (auto& [_, t] : impl_->tenants) ts.push_back(t.get());
  }
  const int64_t now = NowMs();
  for (Tenant* t : ts) {
    bool due = false;
    {
      std::shared_lock<std::shared_mutex> h(t->head_mu);
      due = !t->head->empty() && (t->head->max_time() - t->head->min_time() >= block_ms ||
                                  now - t->head_opened_ms >= block_ms);
    }
    if (due) {
      Status s = CutTenant(t);
      if (!s.ok()) log::Error("cutting a profiles block failed", {{"err", s.ToString()}});
    }
  }
  if (std::chrono::steady_clock::now() - impl_->last_retention >=
      impl_->options.retention_interval) {
    impl_->last_retention = std::chrono::steady_clock::now();
    Status s = ApplyRetention(NowMs());
    if (!s.ok()) log::Warn("profiles retention failed", {{"err", s.ToString()}});
  }
}

Status ProfileDB::Close() {
  if (impl_->worker) impl_->worker->Stop();
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->closed) return Status::Ok();
    impl_->closed = true;
    tenants.swap(impl_->tenants);
  }
  Status first = Status::Ok();
  for (auto& [_, t] : tenants) {
    if (t->shipper) t->shipper->Stop();
    Status s = t->wal->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace sightline::profiles
