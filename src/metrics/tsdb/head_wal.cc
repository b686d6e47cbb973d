// The head and its WAL: replay on open, and the checkpoint after each
// truncation (which records to keep).
#include <algorithm>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <tuple>

#include "metrics/tsdb/head.h"
#include "metrics/tsdb/wal_records.h"
#include "telemetry/log.h"
#include "wal/replay_ahead.h"
#include "wal/wal.h"

namespace sightline::tsdb {

using head_internal::kMaxTime;
using head_internal::kMinTime;
using head_internal::MemSeries;

namespace {

Labels WithoutEmptyValues(Labels l) {
  bool any = false;
  for (const Label& x : l) any |= x.value.empty();
  if (!any) return l;
  std::vector<Label> out;
  for (const Label& x : l) {
    if (!x.value.empty()) out.push_back(x);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

// A replayed sample whose ref carries this bit is not a sample: it tells
// the worker the newest sample skipped for the series (ReplayChunks::Skip),
// which the series needs before it can classify a sample that is not
// skipped. Real refs are handed out from 1 upwards and never reach it.
constexpr uint64_t kRestoreLastBit = uint64_t{1} << 63;

}  // namespace

namespace head_internal {

void ReplayChunks::Build() {
  taken_ = 0;
  num_refs_ = 0;
  dense_ = false;
  starts_.clear();
  skip_.clear();
  if (metas_.empty()) return;
  uint64_t lo = metas_[0].series_ref, hi = lo;
  for (const HeadChunkMeta& m : metas_) {
    lo = std::min(lo, m.series_ref);
    hi = std::max(hi, m.series_ref);
  }
  const uint64_t span = hi - lo + 1;
  auto by_min_t = [](const HeadChunkMeta& a, const HeadChunkMeta& b) { return a.min_t < b.min_t; };
  if (span <= 4 * static_cast<uint64_t>(metas_.size()) + 65536 && metas_.size() < (1ull << 31)) {
    // Counting sort by ref, then each ref's few chunks by min_t.
    dense_ = true;
    base_ = lo;
    starts_.assign(span + 1, 0);
    for (const HeadChunkMeta& m : metas_) ++starts_[m.series_ref - lo + 1];
    for (size_t i = 1; i <= span; ++i) starts_[i] += starts_[i - 1];
    std::vector<HeadChunkMeta> sorted(metas_.size());
    std::vector<uint32_t> next(starts_.begin(), starts_.end() - 1);
    for (const HeadChunkMeta& m : metas_) sorted[next[m.series_ref - lo]++] = m;
    metas_ = std::move(sorted);
    for (size_t i = 0; i < span; ++i) {
      if (starts_[i + 1] - starts_[i] > 1) {
        std::sort(metas_.begin() + starts_[i], metas_.begin() + starts_[i + 1], by_min_t);
      }
      if (starts_[i + 1] > starts_[i]) ++num_refs_;
    }
    skip_.assign(span, Skip{});
  } else {
    std::sort(metas_.begin(), metas_.end(), [](const HeadChunkMeta& a, const HeadChunkMeta& b) {
      return a.series_ref != b.series_ref ? a.series_ref < b.series_ref : a.min_t < b.min_t;
    });
    for (size_t i = 0; i < metas_.size(); ++i) {
      if (i == 0 || metas_[i].series_ref != metas_[i - 1].series_ref) ++num_refs_;
    }
  }
  taken_flag_.assign(metas_.size(), 0);
}

std::span<const HeadChunkMeta> ReplayChunks::Take(uint64_t ref) {
  size_t b, e;
  if (dense_) {
    const uint64_t i = ref - base_;
    if (i >= skip_.size()) return {};
    b = starts_[i];
    e = starts_[i + 1];
  } else {
    auto lo = std::lower_bound(metas_.begin(), metas_.end(), ref,
                               [](const HeadChunkMeta& m, uint64_t r) { return m.series_ref < r; });
    auto hi = lo;
    while (hi != metas_.end() && hi->series_ref == ref) ++hi;
    b = static_cast<size_t>(lo - metas_.begin());
    e = static_cast<size_t>(hi - metas_.begin());
  }
  if (b == e || taken_flag_[b] != 0) return {};
  taken_flag_[b] = 1;
  taken_ += e - b;
  return {metas_.data() + b, e - b};
}

ReplaySeriesIndex::ReplaySeriesIndex() : pages_(new std::atomic<Page*>[kPages]) {
  for (uint64_t i = 0; i < kPages; ++i) pages_[i].store(nullptr, std::memory_order_relaxed);
}

ReplaySeriesIndex::~ReplaySeriesIndex() {
  for (uint64_t i = 0; i < kPages; ++i) delete pages_[i].load(std::memory_order_relaxed);
}

void ReplaySeriesIndex::Set(uint64_t ref, MemSeries* s) {
  if ((ref >> 32) != 0) return;
  ++sets_;
  std::atomic<Page*>& slot = pages_[ref >> kPageBits];
  Page* page = slot.load(std::memory_order_relaxed);
  if (page == nullptr) {
    // Sparse refs: bound the pages to ~4x what a dense array would take.
    if ((pages_allocated_ + 1) * kPageSize > 4 * (sets_ + kPageSize)) return;
    ++pages_allocated_;
    page = new Page();
    slot.store(page, std::memory_order_release);
  }
  page->slots[ref & (kPageSize - 1)].store(s, std::memory_order_relaxed);
}

}  // namespace head_internal

// Applies replayed samples on worker threads. Each worker owns a set of ref
// stripes (all samples of a series go to one worker, in WAL order, so the
// in-order / out-of-order decisions are those of a sequential replay), and
// workers never contend for a lock: a series found in the replay index is
// touched by its worker only until replay ends (the reading thread only
// creates series and attaches their chunks before their samples follow).
//
// The thread that replays the WAL applies a batch's series records, then
// hands the batch's sample records, shared, to every worker (Add): each
// worker decodes them, picks its own refs (resolving aliases), drops the
// samples that re-attached on-disk chunks already hold (the per-ref skip
// state of ReplayChunks, owned by the ref's worker) and applies the rest.
// The replaying thread does no per-sample work: it creates the series.
class WalReplayer {
 public:
  // Sample records of one batch of WAL records.
  struct SampleRecords {
    std::shared_ptr<const wal::RecordBatch> batch;
    std::vector<uint32_t> records;  // indexes into batch
  };
  // A sample record that does not decode (the first one; reported once).
  struct BadRecord {
    uint64_t count = 0;
    Status first;
    wal::WalPosition pos;
  };

  WalReplayer(Head* head, int workers, const head_internal::ReplaySeriesIndex* index,
              head_internal::ReplayChunks* chunks, int64_t min_valid)
      : head_(head),
        index_(index),
        chunks_(chunks),
        min_valid_(min_valid),
        workers_(std::max(1, workers)) {
    if (workers_.size() == 1) return;  // applied inline
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker& w = workers_[i];
      w.index = i;
      w.thread = std::thread([this, &w] { Run(w); });
    }
  }
  ~WalReplayer() { Stop(); }

  // Hands over sample records. The series records before them in the WAL
  // must have been applied.
  void Add(std::shared_ptr<const SampleRecords> samples) {
    bool any_alias;
    {
      std::lock_guard<std::mutex> al(head_->aliases_mu_);
      any_alias = !head_->aliases_.empty();
    }
    Work work{std::move(samples), any_alias};
    if (workers_.size() == 1) {
      Process(workers_[0], work);
      return;
    }
    for (Worker& w : workers_) {
      std::unique_lock<std::mutex> l(w.mu);
      w.cv.wait(l, [&] { return w.queue.size() < kMaxQueued; });
      w.queue.push_back(work);
      w.cv.notify_all();
    }
  }

  // Waits for every sample handed over; returns the summed counts, the
  // samples at or after min_valid and the sample records that did not decode.
  Head::ApplyCounts Finish(uint64_t* unknown, uint64_t* samples, BadRecord* bad) {
    Stop();
    Head::ApplyCounts total;
    *unknown = 0;
    *samples = 0;
    *bad = std::move(workers_[0].bad);  // worker 0 reports them
    for (const Worker& w : workers_) {
      total.appended += w.c.appended;
      total.ooo_appended += w.c.ooo_appended;
      total.dup_rejected += w.c.dup_rejected;
      total.ooo_rejected += w.c.ooo_rejected;
      total.chunks_created += w.c.chunks_created;
      total.skipped_on_disk += w.c.skipped_on_disk + w.skipped;
      total.mint = std::min(total.mint, w.c.mint);
      total.maxt = std::max(total.maxt, w.c.maxt);
      *unknown += w.unknown;
      *samples += w.samples;
    }
    return total;
  }

 private:
  static constexpr size_t kMaxQueued = 4;
  struct Work {
    std::shared_ptr<const SampleRecords> samples;
    bool any_alias = false;  // aliases existed when the batch was handed over
  };
  struct Worker {
    size_t index = 0;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Work> queue;
    bool stop = false;
    std::thread thread;
    std::vector<WalSample> decoded;  // the record being processed
    std::vector<WalSample> mine;     // this worker's samples of it
    BadRecord bad;                   // worker 0 only
    uint64_t samples = 0;            // at or after min_valid, of this worker's refs
    Head::ApplyCounts c;
    uint64_t skipped = 0;  // by the skip state, before applying
    uint64_t unknown = 0;
  };

  void Stop() {
    for (Worker& w : workers_) {
      std::lock_guard<std::mutex> l(w.mu);
      w.stop = true;
      w.cv.notify_all();
    }
    for (Worker& w : workers_) {
      if (w.thread.joinable()) w.thread.join();
    }
  }

  void Run(Worker& w) {
    for (;;) {
      Work work;
      {
        std::unique_lock<std::mutex> l(w.mu);
        w.cv.wait(l, [&] { return w.stop || !w.queue.empty(); });
        if (w.queue.empty()) return;  // stopped and drained
        work = std::move(w.queue.front());
        w.queue.pop_front();
        w.cv.notify_all();
      }
      Process(w, work);
    }
  }

  void Process(Worker& w, const Work& work) {
    const wal::RecordBatch& b = *work.samples->batch;
    for (uint32_t i : work.samples->records) {
      if (Status s = DecodeSamples(b.record(i), &w.decoded); !s.ok()) {
        if (w.index == 0 && w.bad.count++ == 0) {
          w.bad.first = std::move(s);
          w.bad.pos = b.position(i);
        }
        continue;
      }
      Select(w, w.decoded, work.any_alias);
      Apply(w, w.mine);
    }
  }

  // Fills w.mine with the worker's samples of `samples`: aliases resolved,
  // samples the on-disk chunks hold dropped (with a restore entry before
  // the first sample kept after skipped ones).
  void Select(Worker& w, const std::vector<WalSample>& samples, bool any_alias) {
    std::vector<WalSample>& out = w.mine;
    out.clear();
    const size_t nw = workers_.size();
    std::unique_lock<std::mutex> al(head_->aliases_mu_, std::defer_lock);
    if (any_alias) al.lock();
    for (const WalSample& x : samples) {
      if (x.t < min_valid_) continue;
      uint64_t ref = x.ref;
      if ((ref & kRestoreLastBit) != 0) {  // no series has such a ref
        if (w.index == 0) {
          ++w.unknown;
          ++w.samples;
        }
        continue;
      }
      if (any_alias) {
        auto it = head_->aliases_.find(ref);
        if (it != head_->aliases_.end()) ref = it->second;
      }
      if (nw > 1 && (ref & head_->stripe_mask_) % nw != w.index) continue;
      ++w.samples;
      if (chunks_ != nullptr) {
        head_internal::ReplayChunks::Skip* k = chunks_->SkipOf(ref);
        if (k != nullptr && k->disk_max_t != kMinTime) {
          // The test of Head::ReplaySampleLocked, on the skip state.
          if (x.t <= k->disk_max_t && (k->last_t == kMinTime || x.t >= k->last_t)) {
            k->last_t = x.t;
            k->last_v = x.v_bits;
            ++w.skipped;
            continue;
          }
          if (k->last_t != kMinTime) {
            out.push_back(WalSample{ref | kRestoreLastBit, k->last_t, k->last_v});
          }
          // In order after the chunks: the series gets a head chunk, nothing
          // more is skipped (older samples are out of order, as before).
          if (x.t > k->disk_max_t) k->disk_max_t = kMinTime;
        }
      }
      out.push_back(WalSample{ref, x.t, x.v_bits});
    }
  }

  // One replayed entry on its series (owned by the calling worker).
  void Step(MemSeries* s, const WalSample& x, Head::ApplyCounts* c) {
    if ((x.ref & kRestoreLastBit) != 0) {
      s->last_t = x.t;
      s->last_v = x.v_bits;
      s->last_v_unknown = false;
      return;
    }
    head_->ReplaySampleLocked(s, x.t, x.v_bits, c);
  }

  void Apply(Worker& w, const std::vector<WalSample>& samples) {
    Head::ApplyCounts& c = w.c;
    const size_t n = samples.size();
    // Two-stage prefetch: a series struct kAhead samples ahead, then, once
    // it is in cache, its open chunk's bytes kAhead / 2 ahead (each sample
    // is another series: without this, loading the chunk is a cache miss).
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {
        if (MemSeries* p = index_->Get(samples[i + kAhead].ref & ~kRestoreLastBit)) {
          // The struct spans a few cache lines (the open chunk is mid-way).
          const char* b = reinterpret_cast<const char*>(p);
          for (size_t off = 0; off < sizeof(MemSeries); off += 64) __builtin_prefetch(b + off, 1);
        }
      }
      if (i + kAhead / 2 < n) {
        if (MemSeries* p = index_->Get(samples[i + kAhead / 2].ref & ~kRestoreLastBit)) {
          p->head_chunk.Prefetch();
        }
      }
      const WalSample& x = samples[i];
      const uint64_t ref = x.ref & ~kRestoreLastBit;
      if (MemSeries* s = index_->Get(ref); s != nullptr) {
        Step(s, x, &c);
        continue;
      }
      {
        Head::RefStripe& rs = head_->RefStripeOf(ref);
        std::lock_guard<std::mutex> l(rs.mu);
        MemSeries* s = rs.series.Find(ref);
        if (s != nullptr) {
          Step(s, x, &c);
          continue;
        }
      }
      // An alias (same labels under an older ref) or an unknown series.
      MemSeries* s = head_->LookupForReplay(ref);
      if (s == nullptr) {
        if ((x.ref & kRestoreLastBit) == 0) ++w.unknown;
        continue;
      }
      Head::RefStripe& crs = head_->RefStripeOf(s->ref);
      std::lock_guard<std::mutex> l(crs.mu);
      Step(s, x, &c);
    }
    if (c.mint != kMaxTime) head_->UpdateMinMaxTime(c.mint, std::max(c.maxt, c.mint));
  }

  Head* const head_;
  const head_internal::ReplaySeriesIndex* const index_;
  head_internal::ReplayChunks* const chunks_;  // nullptr: no chunk files
  const int64_t min_valid_;
  std::deque<Worker> workers_;
};

void Head::ReplaySampleLocked(MemSeries* s, int64_t t, uint64_t v_bits, ApplyCounts* c) {
  // While the series has only its re-attached on-disk chunks (no open chunk
  // yet), a sample up to their end that is in order with respect to the WAL
  // samples seen so far is one of theirs: skip it, tracking last_t/last_v.
  // A sample older than that was out of order when first applied: it goes
  // the usual way (out-of-order buffer), as does everything newer.
  if (!s->HasHeadChunk() && !s->closed.empty() && t <= s->closed.MaxTime() &&
      (s->last_t == kMinTime || t >= s->last_t)) {
    s->last_t = t;
    s->last_v = v_bits;
    s->last_v_unknown = false;
    ++c->skipped_on_disk;
    return;
  }
  ApplySampleLocked(s, t, v_bits, max_time_.load(std::memory_order_relaxed), c);
}

Status Head::OpenChunkFiles() {
  HeadChunkFilesOptions o;
  o.dir = options_.chunks_dir;
  o.max_segment_bytes = options_.chunks_segment_bytes;
  const int64_t min_valid = MinValidTime();
  HeadChunkFilesOpenStats stats;
  uint64_t below = 0;
  auto chunks = std::make_unique<head_internal::ReplayChunks>();
  auto files = HeadChunkFiles::Open(
      o,
      [&](const HeadChunkMeta& m) {
        if (m.max_t < min_valid) {
          ++below;
          return;
        }
        chunks->Add(m);
      },
      &stats);
  if (!files.ok()) return files.status();
  chunk_files_ = std::move(*files);
  chunks->Build();
  log::Info("head chunk files opened", {{"dir", options_.chunks_dir},
                                        {"segments", stats.segments},
                                        {"chunks", stats.chunks},
                                        {"below_min_valid_time", below},
                                        {"series", static_cast<uint64_t>(chunks->num_refs())}});
  if (!chunks->empty()) replay_chunks_ = std::move(chunks);
  return Status::Ok();
}

void Head::AttachChunksForReplay(uint64_t ref) {
  std::span<const HeadChunkMeta> metas = replay_chunks_->Take(ref);
  if (metas.empty()) return;
  int64_t attached = 0;
  int64_t mint = kMaxTime, maxt = kMinTime;
  {
    RefStripe& rs = RefStripeOf(ref);
    std::lock_guard<std::mutex> l(rs.mu);
    MemSeries* s = rs.series.Find(ref);
    // Not this series' own ref (an alias of one with the same labels), or
    // it has data already: the WAL replays those samples instead.
    if (s == nullptr || s->HasData()) return;
    for (const HeadChunkMeta& m : metas) {
      if (m.min_t <= maxt) continue;  // overlaps the previous one: a duplicate
      s->closed.AppendRef(m.min_t, m.max_t, m.chunk_ref);
      mint = std::min(mint, m.min_t);
      maxt = m.max_t;
      ++attached;
    }
  }
  if (attached == 0) return;
  if (head_internal::ReplayChunks::Skip* k = replay_chunks_->SkipOf(ref); k != nullptr) {
    k->disk_max_t = maxt;
  }
  UpdateMinMaxTime(mint, maxt);
  num_chunks_.fetch_add(attached, std::memory_order_relaxed);
  if (TsdbMetrics* m = options_.metrics; m != nullptr)
    m->head_chunks->Add(static_cast<double>(attached));
}

Status Head::ReplayWal() {
  wal::Wal* w = options_.wal;
  if (!options_.chunks_dir.empty() && chunk_files_ == nullptr) {
    if (Status cs = OpenChunkFiles(); !cs.ok()) {
      log::Warn("head chunk files unavailable: full chunks stay in memory",
                {{"dir", options_.chunks_dir}, {"error", cs.ToString()}});
    }
  }
  if (w == nullptr) {
    replay_chunks_.reset();
    return Status::Ok();
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t min_valid = MinValidTime();
  std::vector<WalSeries> series;
  std::vector<WalExemplar> exemplars;
  WalMetadata md;
  uint64_t bad_records = 0, unknown_refs = 0, series_records = 0, sample_count = 0;
  int threads = options_.replay_threads;
  if (threads <= 0)
    threads = static_cast<int>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
  head_internal::ReplaySeriesIndex index;
  WalReplayer replayer(this, threads, &index, replay_chunks_.get(), min_valid);
  std::string first_error;

  wal::WalPosition first_pos;
  auto bad = [&](const Status& st, const wal::WalPosition& pos) {
    ++bad_records;
    if (first_error.empty()) {
      first_pos = pos;
      first_error = st.ToString() + " (segment " + std::to_string(pos.segment) + ", offset " +
                    std::to_string(pos.offset) + (pos.in_checkpoint ? ", checkpoint)" : ")");
    }
  };

  // Reading (pages, checksums, decompression) runs ahead on its own thread;
  // this thread decodes, applies series records and hands samples over.
  auto one = [&](std::string_view rec, const wal::WalPosition& pos, uint32_t rec_index,
                 WalReplayer::SampleRecords* batch_samples) {
    switch (RecordTypeOf(rec)) {
      case WalRecordType::kSeries: {
        if (Status s = DecodeSeries(rec, &series); !s.ok()) {
          bad(s, pos);
          return;
        }
        for (WalSeries& ws : series) {
          Labels lset = WithoutEmptyValues(std::move(ws.labels));
          if (lset.empty() || ws.ref == 0) continue;
          MemSeries* s = CreateForReplay(ws.ref, lset);
          if (s != nullptr && s->ref == ws.ref) index.Set(ws.ref, s);
          if (replay_chunks_ != nullptr) AttachChunksForReplay(ws.ref);
          ++series_records;
        }
        return;
      }
      case WalRecordType::kSamples:
        batch_samples->records.push_back(rec_index);  // decoded by the workers
        return;
      case WalRecordType::kExemplars: {
        if (Status s = DecodeExemplars(rec, &exemplars); !s.ok()) {
          bad(s, pos);
          return;
        }
        for (WalExemplar& e : exemplars) {
          MemSeries* s = LookupForReplay(e.ref);
          if (s == nullptr) continue;
          (void)exemplars_.Add(StoredExemplar{s->ref, e.t, e.v_bits, std::move(e.labels)});
        }
        return;
      }
      case WalRecordType::kMetadata: {
        if (Status s = DecodeMetadata(rec, &md); !s.ok()) {
          bad(s, pos);
          return;
        }
        std::lock_guard<std::mutex> l(metadata_mu_);
        metadata_[md.family] = metrics::MetricMetadata{md.type, md.help, md.unit};
        return;
      }
      case WalRecordType::kUnknown:
        bad(DataLossError("unknown metrics WAL record type"), pos);
        return;
    }
  };
  wal::ReplayAheadOptions ahead;
  ahead.batch_bytes = 512u << 10;
  ahead.max_batches_ahead = 8;
  Status st = wal::ReplayAhead(w, ahead, [&](std::shared_ptr<const wal::RecordBatch> b) {
    auto batch_samples = std::make_shared<WalReplayer::SampleRecords>();
    batch_samples->batch = b;
    for (size_t i = 0; i < b->size(); ++i) {
      const std::string_view rec = b->record(i);
      // Samples stay in WAL order relative to the series records: a series
      // record after samples in the same batch hands those samples over first.
      if (RecordTypeOf(rec) == WalRecordType::kSeries && !batch_samples->records.empty()) {
        replayer.Add(std::move(batch_samples));
        batch_samples = std::make_shared<WalReplayer::SampleRecords>();
        batch_samples->batch = b;
      }
      one(rec, b->position(i), static_cast<uint32_t>(i), batch_samples.get());
    }
    if (!batch_samples->records.empty()) replayer.Add(std::move(batch_samples));
    return Status::Ok();
  });
  WalReplayer::BadRecord bad_samples;
  const ApplyCounts c = replayer.Finish(&unknown_refs, &sample_count, &bad_samples);
  if (bad_samples.count > 0) {
    // Report the first bad record in WAL order, of all kinds.
    const wal::WalPosition& p = bad_samples.pos;
    if (!first_error.empty() &&
        std::tuple(!p.in_checkpoint, p.segment, p.offset) <
            std::tuple(!first_pos.in_checkpoint, first_pos.segment, first_pos.offset)) {
      first_error.clear();
    }
    bad(bad_samples.first, p);
    bad_records += bad_samples.count - 1;
  }
  uint64_t orphan_chunks = 0;
  if (replay_chunks_ != nullptr) {
    orphan_chunks = replay_chunks_->Untaken();
    // Series whose newest WAL samples were all skipped: what they were.
    replay_chunks_->ForEachSkipping(
        [&](uint64_t ref, const head_internal::ReplayChunks::Skip& k) {
          MemSeries* s = index.Get(ref);
          if (s == nullptr) s = LookupForReplay(ref);
          if (s == nullptr) return;
          RefStripe& rs = RefStripeOf(s->ref);
          std::lock_guard<std::mutex> l(rs.mu);
          if (s->last_t == kMinTime || s->last_t < k.last_t) {
            s->last_t = k.last_t;
            s->last_v = k.last_v;
            s->last_v_unknown = false;
          }
        });
    replay_chunks_.reset();
  }
  if (!st.ok()) return st.Annotate("replaying the metrics WAL");
  if (chunk_files_ != nullptr) {
    // Series whose on-disk chunks end after their last WAL sample (the WAL
    // lost some): appends continue after the chunks.
    for (uint64_t i = 0; i <= stripe_mask_; ++i) {
      RefStripe& rs = ref_stripes_[i];
      std::lock_guard<std::mutex> l(rs.mu);
      rs.series.ForEach([](MemSeries* s) {
        if (!s->HasHeadChunk() && !s->closed.empty() && s->last_t < s->closed.MaxTime()) {
          s->last_t = s->closed.MaxTime();
          s->last_v_unknown = true;
        }
      });
    }
  }

  num_chunks_.fetch_add(c.chunks_created, std::memory_order_relaxed);
  // Series whose samples were all below min_valid (or that never got one).
  size_t chunks_removed = 0;
  const size_t removed = GarbageCollect(min_valid, &chunks_removed);
  num_chunks_.fetch_sub(static_cast<int64_t>(chunks_removed), std::memory_order_relaxed);
  if (chunk_files_ != nullptr) (void)chunk_files_->Truncate(min_valid);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (TsdbMetrics* m = options_.metrics; m != nullptr) {
    m->head_series->Add(-static_cast<double>(removed));
    m->head_series_removed->Inc(static_cast<double>(removed));
    m->head_chunks->Add(static_cast<double>(c.chunks_created) -
                        static_cast<double>(chunks_removed));
    m->head_chunks_created->Inc(static_cast<double>(c.chunks_created));
    m->head_chunks_removed->Inc(static_cast<double>(chunks_removed));
    if (unknown_refs > 0) m->series_not_found->Inc(static_cast<double>(unknown_refs));
    m->exemplars_in_storage->Set(static_cast<double>(exemplars_.Size()));
    m->replay_duration_seconds->Set(secs);
  }
  ReportTimes();
  if (bad_records > 0) {
    log::Warn("metrics WAL: records skipped during replay",
              {{"dir", w->dir()}, {"records", bad_records}, {"first", first_error}});
  }
  log::Info("metrics WAL replayed", {{"dir", w->dir()},
                                     {"series", static_cast<uint64_t>(num_series_.load())},
                                     {"samples", sample_count},
                                     {"samples_in_chunk_files", c.skipped_on_disk},
                                     {"orphan_chunks", orphan_chunks},
                                     {"unknown_refs", unknown_refs},
                                     {"empty_series_removed", static_cast<uint64_t>(removed)},
                                     {"duration_s", secs}});
  return Status::Ok();
}

bool Head::KeepRecordForCheckpoint(std::string_view rec, int64_t mint,
                                   std::map<std::string, bool>* metadata_kept) {
  switch (RecordTypeOf(rec)) {
    case WalRecordType::kSeries: {
      std::vector<WalSeries> series;
      if (!DecodeSeries(rec, &series).ok()) return false;
      for (const WalSeries& s : series) {
        if (LookupForReplay(s.ref) != nullptr) return true;
      }
      return false;
    }
    case WalRecordType::kSamples: {
      std::vector<WalSample> samples;
      if (!DecodeSamples(rec, &samples).ok()) return false;
      for (const WalSample& s : samples) {
        if (s.t >= mint) return true;
      }
      return false;
    }
    case WalRecordType::kExemplars: {
      std::vector<WalExemplar> exemplars;
      if (!DecodeExemplars(rec, &exemplars).ok()) return false;
      for (const WalExemplar& e : exemplars) {
        if (e.t >= mint) return true;
      }
      return false;
    }
    case WalRecordType::kMetadata: {
      // Keep one record per family: the one that matches what the head holds
      // (later records in the kept segments override it anyway).
      WalMetadata md;
      if (!DecodeMetadata(rec, &md).ok()) return false;
      if ((*metadata_kept)[md.family]) return false;
      std::lock_guard<std::mutex> l(metadata_mu_);
      auto it = metadata_.find(md.family);
      if (it == metadata_.end() || it->second.type != md.type || it->second.help != md.help ||
          it->second.unit != md.unit) {
        return false;
      }
      (*metadata_kept)[md.family] = true;
      return true;
    }
    case WalRecordType::kUnknown:
      return false;
  }
  return false;
}

Status Head::CheckpointWal(int64_t mint) {
  wal::Wal* w = options_.wal;
  if (w == nullptr) return Status::Ok();
  TsdbMetrics* m = options_.metrics;
  SL_ASSIGN_OR_RETURN(std::vector<uint32_t> segs, w->Segments());
  if (segs.empty()) return Status::Ok();
  const uint32_t first = segs.front();
  // A new segment, so that a quiet head does not keep more WAL than needed.
  SL_ASSIGN_OR_RETURN(uint32_t current, w->NextSegment());
  if (current == 0 || current - 1 < first) return Status::Ok();
  const uint32_t last = current - 1;
  // The lower two thirds of the segments hold mostly samples before mint;
  // the rest would be copied almost whole (Prometheus's heuristic).
  const uint32_t upto = first + (last - first) * 2 / 3;
  if (m != nullptr) m->checkpoint_creations->Inc();
  std::map<std::string, bool> metadata_kept;
  Status st = w->Checkpoint(upto, [&](std::string_view rec) {
    return KeepRecordForCheckpoint(rec, mint, &metadata_kept);
  });
  if (!st.ok()) {
    if (m != nullptr) m->checkpoint_creations_failed->Inc();
    return st;
  }
  log::Info("metrics WAL checkpoint created", {{"dir", w->dir()}, {"upto", upto}, {"mint", mint}});
  return Status::Ok();
}

}  // namespace sightline::tsdb
