// Head: series lifecycle (lookup, creation, garbage collection), block
// cutting support, stats, exemplar and metadata queries. The write path is
// in head_append.cc, the read path in head_read.cc, the WAL in head_wal.cc.
#include "metrics/tsdb/head.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <set>
#include <shared_mutex>

#include "metrics/tsdb/head_postings.h"
#include "telemetry/log.h"

namespace sightline::tsdb {

using head_internal::ChunkView;
using head_internal::kMaxTime;
using head_internal::kMinTime;
using head_internal::MemSeries;
using head_internal::RangeEnd;

namespace {

uint32_t RoundUpPow2(uint32_t n) {
  if (n < 1) return 1;
  return std::bit_ceil(n);
}

}  // namespace

// --- CommitBarrier ---

uint64_t Head::CommitBarrier::Enter() {
  std::lock_guard<std::mutex> l(mu_);
  ++active_[epoch_ & 1];
  return epoch_;
}

void Head::CommitBarrier::Exit(uint64_t epoch) {
  std::lock_guard<std::mutex> l(mu_);
  if (--active_[epoch & 1] == 0) cv_.notify_all();
}

void Head::CommitBarrier::WaitForOlder() {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t old = epoch_++;
  cv_.wait(l, [&] { return active_[old & 1] == 0; });
}

// --- construction ---

Head::Head(HeadOptions options)
    : options_(std::move(options)),
      stripe_mask_(RoundUpPow2(options_.stripes) - 1),
      ref_stripes_(new RefStripe[stripe_mask_ + 1]),
      hash_stripes_(new HashStripe[stripe_mask_ + 1]),
      max_series_(options_.max_series),
      exemplars_(options_.max_exemplars) {}

Head::~Head() {
  int64_t series = 0;
  int64_t chunks = 0;
  for (uint64_t i = 0; i <= stripe_mask_; ++i) {
    RefStripe& rs = ref_stripes_[i];
    std::lock_guard<std::mutex> l(rs.mu);
    rs.series.ForEach([&](MemSeries* s) {
      ++series;
      chunks += static_cast<int64_t>(s->NumChunks());
      MemSeries::Destroy(s);
    });
  }
  if (options_.metrics != nullptr) {
    options_.metrics->head_series->Add(-static_cast<double>(series));
    options_.metrics->head_chunks->Add(-static_cast<double>(chunks));
    options_.metrics->Forget(this);
  }
}

// --- labels ---

bool Head::EqualsLocked(const MemSeries* s, const Labels& lset) const {
  if (s->num_labels != lset.size()) return false;
  const uint32_t* syms = s->syms();
  for (size_t i = 0; i < lset.size(); ++i) {
    if (symbols_.GetLocked(syms[2 * i]) != lset[i].name) return false;
    if (symbols_.GetLocked(syms[2 * i + 1]) != lset[i].value) return false;
  }
  return true;
}

Labels Head::LabelsOfLocked(const MemSeries* s) const {
  std::vector<Label> out;
  out.reserve(s->num_labels);
  const uint32_t* syms = s->syms();
  for (size_t i = 0; i < s->num_labels; ++i) {
    out.push_back(Label{std::string(symbols_.GetLocked(syms[2 * i])),
                        std::string(symbols_.GetLocked(syms[2 * i + 1]))});
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

Labels Head::LabelsOf(const MemSeries* s) const {
  std::shared_lock<std::shared_mutex> l(symbols_.mu());
  return LabelsOfLocked(s);
}

// --- lookup and creation ---

MemSeries* Head::FindByLabelsLocked(HashStripe& hs, uint64_t hash, const Labels& lset) {
  std::shared_lock<std::shared_mutex> sl(symbols_.mu());
  return hs.series.Find(hash, [&](MemSeries* s) { return EqualsLocked(s, lset); });
}

MemSeries* Head::CreateLocked(HashStripe& hs, uint64_t ref, uint64_t hash, const Labels& lset,
                              uint32_t pending) {
  std::vector<uint32_t> syms;
  syms.reserve(lset.size() * 2);
  {
    std::unique_lock<std::shared_mutex> sl(symbols_.mu());
    for (const Label& l : lset) {
      syms.push_back(symbols_.InternLocked(l.name));
      syms.push_back(symbols_.InternLocked(l.value));
    }
  }
  MemSeries* s = MemSeries::Create(ref, hash, syms);
  s->pending = pending;  // before anyone can see it
  hs.series.Insert(s);
  RefStripe& rs = RefStripeOf(ref);
  std::lock_guard<std::mutex> l(rs.mu);
  rs.series.Insert(s);
  return s;
}

MemSeries* Head::GetByRefForAppend(uint64_t ref) {
  RefStripe& rs = RefStripeOf(ref);
  std::lock_guard<std::mutex> l(rs.mu);
  MemSeries* s = rs.series.Find(ref);
  if (s != nullptr) ++s->pending;
  return s;
}

Result<MemSeries*> Head::GetOrCreateForAppend(const Labels& lset, bool* created) {
  *created = false;
  const uint64_t hash = head_internal::HashLabels(lset);
  HashStripe& hs = HashStripeOf(hash);
  MemSeries* s;
  {
    std::lock_guard<std::mutex> l(hs.mu);
    s = FindByLabelsLocked(hs, hash, lset);
    if (s != nullptr) {
      RefStripe& rs = RefStripeOf(s->ref);
      std::lock_guard<std::mutex> rl(rs.mu);
      ++s->pending;
      return s;
    }
    const uint64_t limit = max_series_.load(std::memory_order_relaxed);
    const int64_t n = num_series_.fetch_add(1, std::memory_order_relaxed);
    if (limit > 0 && static_cast<uint64_t>(n) >= limit) {
      num_series_.fetch_sub(1, std::memory_order_relaxed);
      return ResourceExhaustedError("per-tenant series limit of " + std::to_string(limit) +
                                    " exceeded");
    }
    const uint64_t ref = last_ref_.fetch_add(1, std::memory_order_relaxed) + 1;
    s = CreateLocked(hs, ref, hash, lset, /*pending=*/1);
  }
  {
    std::unique_lock<std::shared_mutex> pl(postings_.mu());
    postings_.AddLocked(s->ref, {s->syms(), size_t{s->num_labels} * 2});
  }
  *created = true;
  if (options_.metrics != nullptr) {
    options_.metrics->head_series->Inc();
    options_.metrics->head_series_created->Inc();
  }
  return s;
}

void Head::Unpin(MemSeries* s) {
  RefStripe& rs = RefStripeOf(s->ref);
  std::lock_guard<std::mutex> l(rs.mu);
  --s->pending;
}

MemSeries* Head::LookupForReplay(uint64_t ref) {
  {
    RefStripe& rs = RefStripeOf(ref);
    std::lock_guard<std::mutex> l(rs.mu);
    MemSeries* s = rs.series.Find(ref);
    if (s != nullptr) return s;
  }
  uint64_t canonical;
  {
    std::lock_guard<std::mutex> l(aliases_mu_);
    auto it = aliases_.find(ref);
    if (it == aliases_.end()) return nullptr;
    canonical = it->second;
  }
  RefStripe& rs = RefStripeOf(canonical);
  std::lock_guard<std::mutex> l(rs.mu);
  return rs.series.Find(canonical);
}

MemSeries* Head::CreateForReplay(uint64_t ref, const Labels& lset) {
  const uint64_t hash = head_internal::HashLabels(lset);
  HashStripe& hs = HashStripeOf(hash);
  MemSeries* s;
  {
    std::lock_guard<std::mutex> l(hs.mu);
    s = FindByLabelsLocked(hs, hash, lset);
    if (s != nullptr) {
      if (s->ref != ref) {
        std::lock_guard<std::mutex> al(aliases_mu_);
        aliases_[ref] = s->ref;
      }
      return s;
    }
    {
      // A ref held by a series with other labels would be corruption; keep
      // the first and drop this record.
      RefStripe& rs = RefStripeOf(ref);
      std::lock_guard<std::mutex> rl(rs.mu);
      if (rs.series.Find(ref) != nullptr) {
        return nullptr;
      }
    }
    s = CreateLocked(hs, ref, hash, lset, /*pending=*/0);
    s->logged.store(true, std::memory_order_relaxed);
    num_series_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t last = last_ref_.load(std::memory_order_relaxed);
  while (last < ref && !last_ref_.compare_exchange_weak(last, ref)) {
  }
  {
    std::unique_lock<std::shared_mutex> pl(postings_.mu());
    postings_.AddLocked(s->ref, {s->syms(), size_t{s->num_labels} * 2});
  }
  if (options_.metrics != nullptr) {
    options_.metrics->head_series->Inc();
    options_.metrics->head_series_created->Inc();
  }
  return s;
}

// --- appending (series lock held) ---

void Head::CloseHeadChunkLocked(MemSeries* s) {
  chunkenc::XorChunk& c = s->head_chunk;
  bool on_disk = false;
  if (chunk_files_ != nullptr) {
    Result<uint64_t> ref = chunk_files_->Write(s->ref, c.MinTime(), c.MaxTime(), c.Bytes());
    if (ref.ok()) {
      s->closed.AppendRef(c.MinTime(), c.MaxTime(), *ref);
      on_disk = true;
    } else {
      static std::atomic<bool> logged{false};
      if (!logged.exchange(true)) {
        log::Warn("head chunk files: write failed, keeping chunks in memory",
                  {{"error", ref.status().ToString()}});
      }
    }
  }
  if (!on_disk) s->closed.Append(c.MinTime(), c.MaxTime(), c.Bytes());
  c = chunkenc::XorChunk();
}

std::string_view Head::ChunkData(const ChunkView& c, std::string* scratch) const {
  if (!c.on_disk) return c.bytes;
  Status st = chunk_files_ != nullptr ? chunk_files_->Read(c.ref, scratch)
                                      : DataLossError("no head chunk files");
  if (!st.ok()) {
    log::Error("head chunk unreadable", {{"ref", c.ref}, {"error", st.ToString()}});
    scratch->clear();
    return {};
  }
  return *scratch;
}

uint64_t Head::LastValueLocked(MemSeries* s) const {
  if (!s->last_v_unknown) return s->last_v;
  std::string scratch;
  std::string_view bytes;
  if (s->HasHeadChunk()) {
    bytes = s->head_chunk.Bytes();
  } else {
    s->closed.ForEach([&](const ChunkView& c) {
      if (c.max_t == s->last_t) bytes = ChunkData(c, &scratch);
    });
  }
  chunkenc::XorIterator it(bytes);
  while (it.Next()) {
    if (it.t() == s->last_t) s->last_v = std::bit_cast<uint64_t>(it.v());
  }
  s->last_v_unknown = false;
  return s->last_v;
}

int Head::AppendInOrderLocked(MemSeries* s, int64_t t, uint64_t v_bits) {
  int created = 0;
  chunkenc::XorChunk& c = s->head_chunk;
  const int n = c.NumSamples();
  if (n == 0 || n >= options_.samples_per_chunk ||
      t >= RangeEnd(c.MinTime(), options_.chunk_range_ms)) {
    if (n > 0) CloseHeadChunkLocked(s);
    created = 1;
  }
  // Cannot fail: the chunk holds fewer than kMaxSamplesPerChunk samples.
  (void)c.Append(t, std::bit_cast<double>(v_bits));
  s->last_t = t;
  s->last_v = v_bits;
  s->last_v_unknown = false;
  return created;
}

bool Head::InsertOooLocked(MemSeries* s, int64_t t, uint64_t v_bits) {
  if (s->ooo == nullptr) s->ooo = std::make_unique<head_internal::OooBuffer>();
  auto& v = s->ooo->samples;
  auto it =
      std::lower_bound(v.begin(), v.end(), t, [](const Sample& x, int64_t ts) { return x.t < ts; });
  if (it != v.end() && it->t == t) return false;
  v.insert(it, Sample{t, std::bit_cast<double>(v_bits)});
  return true;
}

void Head::ApplySampleLocked(MemSeries* s, int64_t t, uint64_t v_bits, int64_t head_max,
                             ApplyCounts* c) {
  if (s->last_t == kMinTime || t > s->last_t) {
    c->chunks_created += AppendInOrderLocked(s, t, v_bits);
    ++c->appended;
    c->mint = std::min(c->mint, t);
    c->maxt = std::max(c->maxt, t);
  } else if (t == s->last_t) {
    if (v_bits != LastValueLocked(s)) ++c->dup_rejected;
  } else if (options_.ooo_window_ms > 0 &&
             t >= std::max(head_max, c->maxt) - options_.ooo_window_ms) {
    if (InsertOooLocked(s, t, v_bits)) {
      ++c->appended;
      ++c->ooo_appended;
      c->mint = std::min(c->mint, t);
    }
  } else {
    ++c->ooo_rejected;
  }
}

void Head::UpdateMinMaxTime(int64_t mint, int64_t maxt) {
  int64_t cur = min_time_.load(std::memory_order_relaxed);
  while (mint < cur && !min_time_.compare_exchange_weak(cur, mint)) {
  }
  cur = max_time_.load(std::memory_order_relaxed);
  while (maxt > cur && !max_time_.compare_exchange_weak(cur, maxt)) {
  }
}

int64_t Head::AppendableMinValidTime() const {
  const int64_t mvt = MinValidTime();
  const int64_t maxt = MaxTime();
  if (maxt == kMinTime) return mvt;
  return std::max(mvt, maxt - options_.chunk_range_ms / 2);
}

// --- block cutting ---

void Head::SetMinValidTime(int64_t t) { min_valid_time_.store(t, std::memory_order_release); }

bool Head::Compactable() const {
  const int64_t mint = MinTime();
  const int64_t maxt = MaxTime();
  if (mint == kMaxTime || maxt == kMinTime || maxt < mint) return false;
  return static_cast<__int128>(maxt) - mint >
         static_cast<__int128>(options_.chunk_range_ms) * 3 / 2;
}

std::pair<int64_t, int64_t> Head::NextBlockRange() const {
  const int64_t mint = MinTime();
  return {mint, RangeEnd(mint, options_.chunk_range_ms)};
}

void Head::RaiseMinValidTime(int64_t t) {
  int64_t cur = min_valid_time_.load(std::memory_order_relaxed);
  while (t > cur && !min_valid_time_.compare_exchange_weak(cur, t)) {
  }
  commits_.WaitForOlder();
}

namespace {

// Decodes the samples of `bytes` with t in [mint, maxt) into `out`.
void DecodeRange(std::string_view bytes, int64_t mint, int64_t maxt, std::vector<Sample>* out) {
  chunkenc::XorIterator it(bytes);
  while (it.Next()) {
    if (it.t() < mint) continue;
    if (it.t() >= maxt) break;
    out->push_back(Sample{it.t(), it.v()});
  }
}

}  // namespace

Status Head::SeriesForBlock(int64_t mint, int64_t maxt, std::vector<SeriesInput>* out) const {
  out->clear();
  for (uint64_t i = 0; i <= stripe_mask_; ++i) {
    RefStripe& rs = ref_stripes_[i];
    std::lock_guard<std::mutex> l(rs.mu);
    rs.series.ForEach([&](MemSeries* s) {
      if (!s->HasData() || !s->Overlaps(mint, maxt - 1)) return;
      SeriesInput in;
      bool has_ooo = false;
      if (s->ooo != nullptr) {
        for (const Sample& x : s->ooo->samples) {
          if (x.t >= mint && x.t < maxt) {
            has_ooo = true;
            break;
          }
        }
      }
      auto inside = [&](int64_t a, int64_t b) { return a >= mint && b < maxt; };
      auto outside = [&](int64_t a, int64_t b) { return b < mint || a >= maxt; };
      bool whole = !has_ooo;
      s->closed.ForEach([&](const ChunkView& c) {
        if (!inside(c.min_t, c.max_t) && !outside(c.min_t, c.max_t)) whole = false;
      });
      const chunkenc::XorChunk& h = s->head_chunk;
      const bool has_head = s->HasHeadChunk();
      if (has_head && !inside(h.MinTime(), h.MaxTime()) && !outside(h.MinTime(), h.MaxTime()))
        whole = false;
      std::string scratch;
      if (whole) {
        s->closed.ForEach([&](const ChunkView& c) {
          if (inside(c.min_t, c.max_t)) {
            in.chunks.push_back(EncodedChunk{c.min_t, c.max_t, chunkenc::Encoding::kXor,
                                             std::string(ChunkData(c, &scratch))});
          }
        });
        if (has_head && inside(h.MinTime(), h.MaxTime())) {
          in.chunks.push_back(EncodedChunk{h.MinTime(), h.MaxTime(), chunkenc::Encoding::kXor,
                                           std::string(h.Bytes())});
        }
      } else {
        std::vector<Sample> in_order;
        s->closed.ForEach([&](const ChunkView& c) {
          if (!outside(c.min_t, c.max_t))
            DecodeRange(ChunkData(c, &scratch), mint, maxt, &in_order);
        });
        if (has_head) DecodeRange(h.Bytes(), mint, maxt, &in_order);
        // Merge with the out-of-order samples; on equal timestamps the
        // in-order sample wins (as on read).
        std::vector<Sample> ooo;
        if (s->ooo != nullptr) {
          for (const Sample& x : s->ooo->samples) {
            if (x.t >= mint && x.t < maxt) ooo.push_back(x);
          }
        }
        in.samples.reserve(in_order.size() + ooo.size());
        size_t a = 0, b = 0;
        while (a < in_order.size() || b < ooo.size()) {
          if (b == ooo.size() || (a < in_order.size() && in_order[a].t <= ooo[b].t)) {
            if (b < ooo.size() && in_order[a].t == ooo[b].t) ++b;
            in.samples.push_back(in_order[a++]);
          } else {
            in.samples.push_back(ooo[b++]);
          }
        }
      }
      if (in.chunks.empty() && in.samples.empty()) return;
      in.labels = LabelsOf(s);
      out->push_back(std::move(in));
    });
  }
  std::sort(out->begin(), out->end(),
            [](const SeriesInput& a, const SeriesInput& b) { return a.labels < b.labels; });
  return Status::Ok();
}

size_t Head::GarbageCollect(int64_t mint, size_t* chunks_removed) {
  std::vector<MemSeries*> dead;
  std::vector<MemSeries*> stripe;
  size_t removed_chunks = 0;
  for (uint64_t i = 0; i <= stripe_mask_; ++i) {
    HashStripe& hs = hash_stripes_[i];
    std::lock_guard<std::mutex> l(hs.mu);
    stripe.clear();
    hs.series.ForEach([&](MemSeries* s) { stripe.push_back(s); });
    // Each series is a cache miss: load the structs ahead. (What they
    // point to is not prefetched: reading the pointers needs the ref
    // stripe lock.)
    constexpr size_t kAhead = 8;
    for (size_t j = 0; j < stripe.size(); ++j) {
      MemSeries* s = stripe[j];
      if (j + kAhead < stripe.size()) {
        const char* b = reinterpret_cast<const char*>(stripe[j + kAhead]);
        for (size_t off = 0; off < sizeof(MemSeries); off += 64) __builtin_prefetch(b + off);
      }
      RefStripe& rs = RefStripeOf(s->ref);
      std::lock_guard<std::mutex> rl(rs.mu);
      // Drop chunks entirely before mint.
      removed_chunks += s->closed.DropBefore(mint);
      if (s->HasHeadChunk() && s->head_chunk.MaxTime() < mint) {
        s->head_chunk = chunkenc::XorChunk();
        ++removed_chunks;
      }
      if (s->ooo != nullptr) {
        auto& v = s->ooo->samples;
        auto it = std::lower_bound(v.begin(), v.end(), mint,
                                   [](const Sample& x, int64_t t) { return x.t < t; });
        v.erase(v.begin(), it);
        if (v.empty()) s->ooo.reset();
      }
      if (s->HasData() || s->pending > 0) continue;
      rs.series.Erase(s);
      hs.series.Erase(s);
      dead.push_back(s);
    }
  }
  *chunks_removed = removed_chunks;
  if (dead.empty()) return 0;

  std::vector<uint64_t> refs;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  refs.reserve(dead.size());
  for (MemSeries* s : dead) {
    refs.push_back(s->ref);
    for (size_t k = 0; k < s->num_labels; ++k)
      pairs.emplace_back(s->syms()[2 * k], s->syms()[2 * k + 1]);
  }
  std::sort(refs.begin(), refs.end());
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  {
    std::unique_lock<std::shared_mutex> pl(postings_.mu());
    postings_.DeleteLocked(refs, pairs);
  }
  {
    std::unique_lock<std::shared_mutex> sl(symbols_.mu());
    for (MemSeries* s : dead) {
      for (size_t k = 0; k < size_t{s->num_labels} * 2; ++k) symbols_.ReleaseLocked(s->syms()[k]);
    }
  }
  {
    std::lock_guard<std::mutex> al(aliases_mu_);
    if (!aliases_.empty()) {
      for (auto it = aliases_.begin(); it != aliases_.end();) {
        if (std::binary_search(refs.begin(), refs.end(), it->second)) {
          it = aliases_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  for (MemSeries* s : dead) MemSeries::Destroy(s);
  num_series_.fetch_sub(static_cast<int64_t>(dead.size()), std::memory_order_relaxed);
  return dead.size();
}

Status Head::Truncate(int64_t mint) {
  TsdbMetrics* m = options_.metrics;
  if (m != nullptr) m->truncations->Inc();
  RaiseMinValidTime(mint);
  WaitForReadersBefore(mint);
  size_t chunks_removed = 0;
  const size_t removed = GarbageCollect(mint, &chunks_removed);
  num_chunks_.fetch_sub(static_cast<int64_t>(chunks_removed), std::memory_order_relaxed);
  if (chunk_files_ != nullptr) {
    // The chunks below mint are no longer referenced: their files can go.
    Result<size_t> files = chunk_files_->Truncate(mint);
    if (!files.ok()) {
      log::Warn("head chunk files: truncation failed", {{"error", files.status().ToString()}});
    }
  }
  if (m != nullptr) {
    m->head_series->Add(-static_cast<double>(removed));
    m->head_series_removed->Inc(static_cast<double>(removed));
    m->head_chunks->Add(-static_cast<double>(chunks_removed));
    m->head_chunks_removed->Inc(static_cast<double>(chunks_removed));
  }
  // Prometheus moves the head's lower bound to the truncation point.
  if (MaxTime() < mint) {
    min_time_.store(kMaxTime, std::memory_order_release);
    max_time_.store(kMinTime, std::memory_order_release);
  } else if (MinTime() < mint) {
    min_time_.store(mint, std::memory_order_release);
  }
  ReportTimes();
  log::Info("head truncated", {{"mint", mint},
                               {"series_removed", static_cast<uint64_t>(removed)},
                               {"chunks_removed", static_cast<uint64_t>(chunks_removed)}});
  Status st = CheckpointWal(mint);
  if (!st.ok() && m != nullptr) m->truncations_failed->Inc();
  return st;
}

// --- readers ---

uint64_t Head::AddReader(int64_t mint, int64_t maxt) {
  std::lock_guard<std::mutex> l(readers_mu_);
  const uint64_t id = ++next_reader_id_;
  readers_[id] = Reader{reader_gen_, mint, maxt};
  return id;
}

void Head::RemoveReader(uint64_t id) {
  std::lock_guard<std::mutex> l(readers_mu_);
  readers_.erase(id);
  readers_cv_.notify_all();
}

void Head::WaitForReadersBefore(int64_t mint) {
  std::unique_lock<std::mutex> l(readers_mu_);
  const uint64_t gen = ++reader_gen_;
  auto blocking = [&] {
    for (const auto& [id, r] : readers_) {
      if (r.gen < gen && r.mint < mint) return true;
    }
    return false;
  };
  auto start = std::chrono::steady_clock::now();
  while (blocking()) {
    if (readers_cv_.wait_for(l, std::chrono::seconds(10)) == std::cv_status::timeout &&
        blocking()) {
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::steady_clock::now() - start);
      log::Warn("head truncation waiting for queriers over the truncated range",
                {{"waited_s", static_cast<int64_t>(waited.count())}, {"mint", mint}});
    }
  }
}

// --- stats, exemplars, metadata ---

void Head::ReportTimes() {
  if (options_.metrics == nullptr) return;
  const int64_t mint = MinTime();
  const int64_t maxt = MaxTime();
  options_.metrics->ReportHeadTimes(this, maxt != kMinTime, mint, maxt);
}

HeadStats Head::Stats(bool with_memory) const {
  HeadStats st;
  st.num_series = static_cast<uint64_t>(std::max<int64_t>(0, num_series_.load()));
  st.num_chunks = static_cast<uint64_t>(std::max<int64_t>(0, num_chunks_.load()));
  st.min_time = MinTime();
  st.max_time = MaxTime();
  st.min_valid_time = MinValidTime();
  st.num_exemplars = exemplars_.Size();
  if (chunk_files_ != nullptr) {
    st.chunks_on_disk_bytes = chunk_files_->DiskBytes();
    st.chunk_segments = chunk_files_->NumSegments();
  }
  {
    std::shared_lock<std::shared_mutex> l(symbols_.mu());
    st.num_symbols = symbols_.SizeLocked();
    if (with_memory) st.symbol_bytes = symbols_.MemoryBytesLocked();
  }
  if (!with_memory) return st;
  {
    std::shared_lock<std::shared_mutex> l(postings_.mu());
    st.postings_bytes = postings_.MemoryBytesLocked();
  }
  for (uint64_t i = 0; i <= stripe_mask_; ++i) {
    {
      RefStripe& rs = ref_stripes_[i];
      std::lock_guard<std::mutex> l(rs.mu);
      st.table_bytes += rs.series.MemoryBytes() + sizeof(RefStripe);
      rs.series.ForEach([&](MemSeries* s) { st.series_bytes += s->MemoryBytes(); });
    }
    HashStripe& hs = hash_stripes_[i];
    std::lock_guard<std::mutex> l(hs.mu);
    st.table_bytes += hs.series.MemoryBytes() + sizeof(HashStripe);
  }
  return st;
}

Result<std::vector<ExemplarSeries>> Head::QueryExemplars(
    int64_t mint, int64_t maxt, const std::vector<std::vector<promql::Matcher>>& selectors) {
  std::vector<std::vector<uint64_t>> lists;
  for (const auto& ms : selectors) lists.push_back(PostingsForMatchers(ms));
  const std::vector<uint64_t> refs = MergePostings(std::move(lists));
  if (refs.empty()) return std::vector<ExemplarSeries>{};
  std::vector<StoredExemplar> found = exemplars_.Select(
      mint, maxt, [&](uint64_t ref) { return std::binary_search(refs.begin(), refs.end(), ref); });
  std::map<uint64_t, std::vector<metrics::Exemplar>> by_ref;
  for (StoredExemplar& e : found) {
    metrics::Exemplar x;
    x.labels = std::move(e.labels);
    x.value = std::bit_cast<double>(e.v_bits);
    x.timestamp_ms = e.t;
    x.has_timestamp = true;
    by_ref[e.series_ref].push_back(std::move(x));
  }
  std::vector<ExemplarSeries> out;
  for (auto& [ref, exs] : by_ref) {
    Labels lset;
    {
      RefStripe& rs = RefStripeOf(ref);
      std::lock_guard<std::mutex> l(rs.mu);
      MemSeries* s = rs.series.Find(ref);
      if (s == nullptr) continue;  // garbage-collected since
      lset = LabelsOf(s);
    }
    std::stable_sort(exs.begin(), exs.end(),
                     [](const metrics::Exemplar& a, const metrics::Exemplar& b) {
                       return a.timestamp_ms < b.timestamp_ms;
                     });
    out.push_back(ExemplarSeries{std::move(lset), std::move(exs)});
  }
  std::sort(out.begin(), out.end(), [](const ExemplarSeries& a, const ExemplarSeries& b) {
    return a.series_labels < b.series_labels;
  });
  return out;
}

std::map<std::string, std::vector<metrics::MetricMetadata>> Head::Metadata(std::string_view metric,
                                                                           int limit) const {
  std::map<std::string, std::vector<metrics::MetricMetadata>> out;
  std::lock_guard<std::mutex> l(metadata_mu_);
  if (!metric.empty()) {
    auto it = metadata_.find(metric);
    if (it != metadata_.end() && limit != 0) out[it->first].push_back(it->second);
    return out;
  }
  for (const auto& [name, m] : metadata_) {
    if (limit >= 0 && static_cast<int>(out.size()) >= limit) break;
    out[name].push_back(m);
  }
  return out;
}

}  // namespace sightline::tsdb
