// Head: the in-memory part of one tenant's metrics TSDB (Prometheus's
// tsdb.Head): the series written in the last few hours, with their samples
// in XOR chunks, an inverted index for label matchers, exemplars and metric
// metadata, made durable by the WAL and cut into blocks by the DB (db.h).
//
// Series: interned by labels (Labels::Hash, collisions resolved by
// comparing labels) and identified by a stable ref (uint64, never reused,
// preserved across restarts by the WAL). Labels with an empty value are
// dropped (Prometheus treats them as absent).
//
// Samples follow Prometheus 2.39+ (head_append.go):
//  - t below MinValidTime() (the end of the last block cut) -> InvalidArgument
//    "out of bounds"; so is an in-order sample older than
//    MaxTime() - chunk_range/2 that the out-of-order window does not cover;
//  - t newer than the series' newest sample: appended in order;
//  - t equal to the newest: the same value (bit for bit, so staleness
//    markers compare equal) is accepted and ignored, another value is
//    "duplicate sample for timestamp";
//  - t older than the newest: accepted as out of order if
//    t >= MaxTime() - ooo_window (and >= MinValidTime()); kept aside and
//    merged on read and at block cut. A second out-of-order sample with the
//    same timestamp is dropped silently (Prometheus does the same). When the
//    window does not cover t: "out of order sample".
// Samples of one series are cut into XOR chunks of samples_per_chunk
// samples, and never across a chunk_range boundary, so a block cut takes
// whole chunks. With options.chunks_dir, full chunks are written to the head
// chunk files (head_chunks.h, docs/formats/metrics-head-chunks.md) and only
// a reference stays in memory; ReplayWal re-attaches them and skips the WAL
// samples they hold; Truncate deletes the files below the cut.
//
// Durability and visibility: Appender::Commit writes the batch's WAL records
// (series not yet logged, samples, exemplars, metadata) with one Wal::Append
// (group commit shares fsyncs between concurrent commits) and only then
// applies the samples. A failed WAL write fails the Commit and applies
// nothing. There is no isolation between a commit being applied and a
// query running at the same time (a query may see part of a commit).
//
// Block cutting (called by the DB, one cut at a time):
//   RaiseMinValidTime(maxt)   no sample below maxt is accepted from now on;
//                             waits for commits that validated earlier
//   SeriesForBlock(mint,maxt) the data to write into the block
//   ... the DB writes the block and makes it visible to new queriers ...
//   Truncate(maxt)            waits for queriers created before, drops the
//                             data below maxt, removes series left empty,
//                             checkpoints the WAL
//
// Thread-safety: everything may be called concurrently, except ReplayWal
// (once, before the first appender) and the block-cutting calls (from one
// thread at a time). Appenders and queriers are single-threaded objects and
// must be destroyed before the Head. Truncate waits for queriers that may
// read the truncated range, so a querier must not be kept open while the
// thread holding it waits for a block cut.
//
// Lock order (internal): hash stripe -> ref stripe -> postings -> symbols.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "metrics/promql/matcher.h"
#include "metrics/storage/storage.h"
#include "metrics/tsdb/block.h"
#include "metrics/tsdb/head_chunks.h"
#include "metrics/tsdb/head_exemplars.h"
#include "metrics/tsdb/head_metrics.h"
#include "metrics/tsdb/head_series.h"

namespace sightline::wal {
class Wal;
}

namespace sightline::tsdb {

struct HeadOptions {
  // Block range: chunks never cross a multiple of it, and the DB cuts a
  // block once the head spans 1.5 x this.
  int64_t chunk_range_ms = 2 * 3600 * 1000;
  // Out-of-order window (0 disables: older samples are rejected).
  int64_t ooo_window_ms = 10 * 60 * 1000;
  // Exemplar ring buffer size (0 disables exemplar storage).
  size_t max_exemplars = 100000;
  // Series limit (0: none): creating one more series fails with
  // ResourceExhausted "per-tenant series limit of N exceeded".
  uint64_t max_series = 0;
  int samples_per_chunk = chunkenc::kSamplesPerChunk;
  // Lock stripes (a power of two); more means less contention and more
  // fixed memory (~100 bytes each).
  uint32_t stripes = 1024;
  // Threads applying samples during WAL replay (0: one per core, at most 8).
  int replay_threads = 0;
  // Not owned; nullptr: no WAL (nothing is durable; tests and benchmarks).
  wal::Wal* wal = nullptr;
  // Directory of the head chunk files (head_chunks.h; the DB uses
  // <dir>/chunks_head): full chunks are written there and only a reference
  // stays in memory; ReplayWal re-attaches them and skips the WAL samples
  // they hold. Empty: full chunks stay in memory. Opened by ReplayWal, so
  // a head that is never replayed keeps chunks in memory.
  std::string chunks_dir;
  uint64_t chunks_segment_bytes = 128ull << 20;
  // Not owned; nullptr: no self-metrics.
  TsdbMetrics* metrics = nullptr;
  // Called (from a committing thread) when a commit leaves the head
  // compactable. Must be cheap and must not call back into the head.
  std::function<void()> on_compactable;
};

// Exemplars of one series (QueryExemplars), as the API returns them.
struct ExemplarSeries {
  Labels series_labels;
  std::vector<metrics::Exemplar> exemplars;  // by timestamp
};

struct HeadStats {
  uint64_t num_series = 0;
  uint64_t num_chunks = 0;
  int64_t min_time = head_internal::kMaxTime;  // kMaxTime / kMinTime when empty
  int64_t max_time = head_internal::kMinTime;
  int64_t min_valid_time = head_internal::kMinTime;
  size_t num_symbols = 0;
  size_t num_exemplars = 0;
  uint64_t chunks_on_disk_bytes = 0;  // head chunk files (0: none)
  size_t chunk_segments = 0;
  // Estimates of the heap bytes of each structure (Stats(true) only).
  size_t series_bytes = 0;  // series structs, symbol ids and chunks
  size_t symbol_bytes = 0;
  size_t postings_bytes = 0;
  size_t table_bytes = 0;  // the ref and hash tables
};

class Head {
 public:
  explicit Head(HeadOptions options);
  ~Head();
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;

  // --- write path ---
  std::unique_ptr<metrics::Appender> NewAppender();

  // --- read path ---
  // A querier over [mint, maxt]. It pins that range: Truncate waits until it
  // is destroyed.
  std::unique_ptr<metrics::Querier> NewQuerier(int64_t mint, int64_t maxt);
  // Exemplars with t in [mint, maxt] of the series matching any selector
  // (each a list of matchers that must all match), grouped by series and
  // sorted by series labels.
  Result<std::vector<ExemplarSeries>> QueryExemplars(
      int64_t mint, int64_t maxt, const std::vector<std::vector<promql::Matcher>>& selectors);
  // Metric metadata per metric family name (all families when `metric` is
  // empty), at most `limit` families (limit < 0: no limit, as the API's
  // default). One entry per family (the newest), a list to match the API's
  // shape.
  std::map<std::string, std::vector<metrics::MetricMetadata>> Metadata(std::string_view metric,
                                                                       int limit) const;

  // --- WAL ---
  // Rebuilds the head from options.wal (checkpoint, then segments): series
  // first with their refs, then samples (dropping those below
  // MinValidTime()), exemplars and metadata; then removes series left
  // without samples. Records that do not decode are logged, counted and
  // skipped. Call once, before any appender, after SetMinValidTime.
  Status ReplayWal();

  // --- block cutting ---
  int64_t MinTime() const { return min_time_.load(std::memory_order_acquire); }
  int64_t MaxTime() const { return max_time_.load(std::memory_order_acquire); }
  int64_t MinValidTime() const { return min_valid_time_.load(std::memory_order_acquire); }
  // Before replay: the end of the newest block on disk.
  void SetMinValidTime(int64_t t);
  // Whether the head spans more than 1.5 x chunk_range_ms.
  bool Compactable() const;
  // The block range to cut next: [MinTime(), end of its chunk range).
  std::pair<int64_t, int64_t> NextBlockRange() const;
  void RaiseMinValidTime(int64_t t);
  // The series with data in [mint, maxt), sorted by labels: whole chunks
  // when they fit the range, else merged samples (out-of-order data).
  Status SeriesForBlock(int64_t mint, int64_t maxt, std::vector<SeriesInput>* out) const;
  Status Truncate(int64_t mint);

  HeadStats Stats(bool with_memory = false) const;
  // Refreshes prometheus_tsdb_head_min_time / max_time with this head's range.
  void ReportTimes();
  void SetMaxSeries(uint64_t n) { max_series_.store(n, std::memory_order_relaxed); }
  const HeadOptions& options() const { return options_; }

 private:
  friend class HeadAppender;
  friend class HeadQuerier;
  friend class HeadSeriesSet;
  friend class WalReplayer;
  using MemSeries = head_internal::MemSeries;

  struct RefStripe {
    std::mutex mu;  // guards `series` and the data of the series in it
    head_internal::SeriesByRef series;
  };
  struct HashStripe {
    std::mutex mu;
    head_internal::SeriesByHash series;
  };

  // Waits for commits started before the call (the epoch flip); see
  // RaiseMinValidTime.
  class CommitBarrier {
   public:
    uint64_t Enter();
    void Exit(uint64_t epoch);
    void WaitForOlder();

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t epoch_ = 0;
    int64_t active_[2] = {0, 0};
  };

  RefStripe& RefStripeOf(uint64_t ref) const { return ref_stripes_[ref & stripe_mask_]; }
  HashStripe& HashStripeOf(uint64_t hash) const { return hash_stripes_[hash & stripe_mask_]; }

  // Series lookup and creation. `lset` must not hold empty values. The
  // *ForAppend variants return the series pinned (pending + 1) so that GC
  // keeps it; the caller unpins it with Unpin.
  MemSeries* GetByRefForAppend(uint64_t ref);
  Result<MemSeries*> GetOrCreateForAppend(const Labels& lset, bool* created);
  void Unpin(MemSeries* s);
  // Replay: creates the series with exactly this ref, or returns the existing
  // series with these labels (then ref becomes an alias of it).
  MemSeries* CreateForReplay(uint64_t ref, const Labels& lset);
  MemSeries* LookupForReplay(uint64_t ref);
  // Shared by both creation paths: with the hash stripe locked.
  MemSeries* FindByLabelsLocked(HashStripe& hs, uint64_t hash, const Labels& lset);
  MemSeries* CreateLocked(HashStripe& hs, uint64_t ref, uint64_t hash, const Labels& lset,
                          uint32_t pending);
  bool EqualsLocked(const MemSeries* s, const Labels& lset) const;  // symbols locked
  Labels LabelsOf(const MemSeries* s) const;                        // takes the symbols lock
  Labels LabelsOfLocked(const MemSeries* s) const;                  // symbols locked

  // What applying samples did (commit and replay).
  struct ApplyCounts {
    uint64_t appended = 0;
    uint64_t ooo_appended = 0;
    uint64_t dup_rejected = 0;
    uint64_t ooo_rejected = 0;
    int64_t chunks_created = 0;
    int64_t mint = head_internal::kMaxTime;
    int64_t maxt = head_internal::kMinTime;
    uint64_t skipped_on_disk = 0;  // replay: samples already in on-disk chunks
  };
  // Applies one sample with t >= MinValidTime() (series lock held): in
  // order, as a tolerated duplicate, out of order within the window of
  // max(head_max, what was applied so far), or rejected.
  void ApplySampleLocked(MemSeries* s, int64_t t, uint64_t v_bits, int64_t head_max,
                         ApplyCounts* c);
  // Replay: as ApplySampleLocked, but a sample that the series' re-attached
  // on-disk chunks already hold is skipped (series lock held).
  void ReplaySampleLocked(MemSeries* s, int64_t t, uint64_t v_bits, ApplyCounts* c);
  // Appends one in-order sample (series lock held); returns chunks created.
  int AppendInOrderLocked(MemSeries* s, int64_t t, uint64_t v_bits);
  // Moves the open chunk into s->closed: to the chunk files when there are
  // some (keeping it in memory if the write fails), else in memory.
  void CloseHeadChunkLocked(MemSeries* s);
  // A closed chunk's bytes: c.bytes, or read from the chunk files into
  // *scratch. An unreadable on-disk chunk gives empty bytes (logged).
  std::string_view ChunkData(const head_internal::ChunkView& c, std::string* scratch) const;
  // The value of the newest in-order sample (series lock held), decoding the
  // last closed chunk when last_v_unknown.
  uint64_t LastValueLocked(MemSeries* s) const;
  // Replay: opens the chunk files and collects their chunks by series ref.
  Status OpenChunkFiles();
  // Replay: gives the series the chunks collected for `ref` (series just
  // created by its WAL record).
  void AttachChunksForReplay(uint64_t ref);
  // Inserts an out-of-order sample (series lock held); false if one with the
  // same timestamp exists.
  static bool InsertOooLocked(MemSeries* s, int64_t t, uint64_t v_bits);
  void UpdateMinMaxTime(int64_t mint, int64_t maxt);
  // The minimum timestamp an in-order sample needs now.
  int64_t AppendableMinValidTime() const;

  // Refs of series matching all matchers, sorted (head_read.cc).
  std::vector<uint64_t> PostingsForMatchers(const std::vector<promql::Matcher>& ms) const;
  // Copies the chunks and out-of-order samples of series `ref` that overlap
  // [mint, maxt]; false if the series is gone (head_read.cc).
  bool CopySeriesData(uint64_t ref, int64_t mint, int64_t maxt,
                      std::vector<head_internal::ChunkCopy>* chunks,
                      std::vector<Sample>* ooo) const;

  // Removes series without data (not pinned); returns how many.
  size_t GarbageCollect(int64_t mint, size_t* chunks_removed);
  Status CheckpointWal(int64_t mint);
  bool KeepRecordForCheckpoint(std::string_view rec, int64_t mint,
                               std::map<std::string, bool>* metadata_kept);

  // Reader leases (queriers pin their time range).
  uint64_t AddReader(int64_t mint, int64_t maxt);
  void RemoveReader(uint64_t id);
  void WaitForReadersBefore(int64_t maxt);

  const HeadOptions options_;
  const uint64_t stripe_mask_;
  std::unique_ptr<RefStripe[]> ref_stripes_;
  std::unique_ptr<HashStripe[]> hash_stripes_;
  mutable head_internal::SymbolTable symbols_;
  head_internal::MemPostings postings_;

  // Head chunk files (nullptr: chunks in memory) and, during replay, the
  // chunks they hold per series ref.
  std::unique_ptr<HeadChunkFiles> chunk_files_;
  std::unique_ptr<head_internal::ReplayChunks> replay_chunks_;

  std::atomic<uint64_t> last_ref_{0};
  std::atomic<int64_t> min_time_{head_internal::kMaxTime};
  std::atomic<int64_t> max_time_{head_internal::kMinTime};
  std::atomic<int64_t> min_valid_time_{head_internal::kMinTime};
  std::atomic<int64_t> num_series_{0};
  std::atomic<int64_t> num_chunks_{0};
  std::atomic<uint64_t> max_series_;
  CommitBarrier commits_;

  ExemplarStorage exemplars_;
  mutable std::mutex metadata_mu_;
  std::map<std::string, metrics::MetricMetadata, std::less<>> metadata_;

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  uint64_t reader_gen_ = 0;
  uint64_t next_reader_id_ = 0;
  struct Reader {
    uint64_t gen;
    int64_t mint;
    int64_t maxt;
  };
  std::map<uint64_t, Reader> readers_;

  // Refs that replay mapped onto another series with the same labels
  // (a series re-created under a new ref before a restart), so that the
  // checkpoint keeps their series records.
  mutable std::mutex aliases_mu_;
  std::unordered_map<uint64_t, uint64_t> aliases_;
};

}  // namespace sightline::tsdb
