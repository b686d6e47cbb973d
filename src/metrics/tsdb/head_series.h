// Internal building blocks of the in-memory head (head.h), shared by
// head.cc, head_append.cc, head_read.cc and head_wal.cc. Not a contract for
// anything outside the head.
//
// Memory is the point of this file (the target is <= 1 KiB per active
// series, chunks included):
//  - label strings are interned once per head in a SymbolTable (refcounted,
//    freed when the last series using them is garbage-collected); a series
//    holds 4-byte symbol ids, allocated inline after its struct;
//  - series are found through open-addressing tables of pointers (8 bytes a
//    slot) instead of node-based maps;
//  - full chunks are kept as exact-size immutable buffers; only the open
//    chunk carries appender state;
//  - postings lists hold a single ref inline (most label pairs with unique
//    values have exactly one series).
//
// Locking (see head.h for the whole picture): a series' data is guarded by
// the stripe lock of its ref; the tables by their stripe locks; the symbol
// table and the postings by their own reader-writer locks. The "Locked"
// suffix means the caller holds the lock the comment names.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/tsdb/block.h"
#include "metrics/tsdb/chunkenc/xor.h"
#include "metrics/tsdb/head_chunks.h"

namespace sightline::tsdb::head_internal {

inline constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();

// Prometheus's rangeForTimestamp: the end of the `width`-aligned range
// holding t (Go's truncating division, so it matches for negative t too).
inline int64_t RangeEnd(int64_t t, int64_t width) { return (t / width) * width + width; }

// Fibonacci hashing: spreads sequential refs and weak hashes over a table.
inline uint64_t MixHash(uint64_t k) { return k * 0x9E3779B97F4A7C15ull; }

// A linear-probing hash table of small trivially-copyable entries (pointers
// or ids); E{} marks an empty slot. Several entries may share a hash; Find
// tells them apart with a predicate. Deletion shifts entries back (no
// tombstones). HashOf(e) gives an entry's hash. Not thread-safe.
template <typename E, typename HashOf>
class OpenTable {
 public:
  explicit OpenTable(HashOf hash_of = HashOf()) : hash_of_(hash_of) {}

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  size_t MemoryBytes() const { return slots_.capacity() * sizeof(E); }

  // The first entry with hash `h` that `pred` accepts, or E{}.
  template <typename Pred>
  E Find(uint64_t h, Pred pred) const {
    if (size_ == 0) return E{};
    const size_t mask = slots_.size() - 1;
    for (size_t i = Home(h);; i = (i + 1) & mask) {
      const E& e = slots_[i];
      if (e == E{}) return E{};
      if (pred(e)) return e;
    }
  }

  void Insert(E e) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    Place(e);
    ++size_;
  }

  // Removes the entry equal to `e`; false if absent.
  bool Erase(E e) {
    if (size_ == 0) return false;
    const size_t mask = slots_.size() - 1;
    size_t i = Home(hash_of_(e));
    for (;; i = (i + 1) & mask) {
      if (slots_[i] == E{}) return false;
      if (slots_[i] == e) break;
    }
    // Backward-shift: move later entries of the probe run into the hole.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
      if (slots_[j] == E{}) break;
      size_t home = Home(hash_of_(slots_[j]));
      // Entry j may move to `hole` if its home is not in (hole, j].
      bool in_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!in_between) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = E{};
    --size_;
    if (size_ == 0) {
      std::vector<E>().swap(slots_);
    }
    return true;
  }

  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const E& e : slots_) {
      if (!(e == E{})) fn(e);
    }
  }

 private:
  size_t Home(uint64_t h) const { return static_cast<size_t>(MixHash(h) >> shift_); }

  void Place(E e) {
    const size_t mask = slots_.size() - 1;
    size_t i = Home(hash_of_(e));
    while (!(slots_[i] == E{})) i = (i + 1) & mask;
    slots_[i] = e;
  }

  void Grow() {
    size_t cap = slots_.empty() ? 8 : slots_.size() * 2;
    std::vector<E> old;
    old.swap(slots_);
    slots_.assign(cap, E{});
    shift_ = 64 - std::countr_zero(cap);
    for (const E& e : old) {
      if (!(e == E{})) Place(e);
    }
  }

  HashOf hash_of_;
  std::vector<E> slots_;
  size_t size_ = 0;
  int shift_ = 63;  // set by Grow; never used while the table is empty
};

// Interned label strings with reference counts. Ids are dense and reused
// after a symbol is freed; 0 is never a valid id.
class SymbolTable {
 public:
  SymbolTable();
  ~SymbolTable();
  SymbolTable(const SymbolTable&) = delete;
  SymbolTable& operator=(const SymbolTable&) = delete;

  // Guards everything below: shared for Get/Find, exclusive for
  // Intern/Release.
  std::shared_mutex& mu() const { return mu_; }

  // The id of `s`, adding it (count 0 -> 1) or taking one more reference.
  uint32_t InternLocked(std::string_view s);
  // Drops one reference; frees the symbol at zero.
  void ReleaseLocked(uint32_t id);
  std::string_view GetLocked(uint32_t id) const {
    const Sym* sym = by_id_[id];
    return {sym->data(), sym->len};
  }
  // The id of `s`, or 0 when it is not interned.
  uint32_t FindLocked(std::string_view s) const;

  size_t SizeLocked() const { return live_; }
  size_t MemoryBytesLocked() const {
    return bytes_ + by_id_.capacity() * sizeof(Sym*) + table_.MemoryBytes();
  }

 private:
  struct Sym {
    uint32_t refs;
    uint32_t len;
    uint64_t hash;
    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  };
  struct HashOfId {
    const SymbolTable* t;
    uint64_t operator()(uint32_t id) const { return t->by_id_[id]->hash; }
  };

  mutable std::shared_mutex mu_;
  std::vector<Sym*> by_id_;  // [0] unused
  std::vector<uint32_t> free_ids_;
  OpenTable<uint32_t, HashOfId> table_;
  size_t live_ = 0;
  size_t bytes_ = 0;
};

// A full (closed) chunk as a reader sees it: its bytes when kept in
// memory, else (on_disk) the reference of its copy in the head chunk files
// (head_chunks.h; Head::ChunkData reads either).
struct ChunkView {
  int64_t min_t;
  int64_t max_t;
  std::string_view bytes;  // empty when on_disk
  uint64_t ref = 0;
  bool on_disk = false;
};

// The full chunks of one series, in time order, in ONE exact-size
// allocation: entries back to back, each {int64 min_t, int64 max_t,
// uint32 size, bytes[size]} (unaligned), or, for a chunk written to the head
// chunk files, {min_t, max_t, kOnDisk, uint64 ref} (28 bytes). One malloc
// per series instead of one per chunk plus a vector; appending reallocs (a
// chunk is closed every 120 samples).
class ChunkList {
 public:
  ChunkList() = default;
  ~ChunkList() { std::free(buf_); }
  ChunkList(const ChunkList&) = delete;
  ChunkList& operator=(const ChunkList&) = delete;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t MemoryBytes() const { return size_; }

  void Append(int64_t min_t, int64_t max_t, std::string_view bytes);
  void AppendRef(int64_t min_t, int64_t max_t, uint64_t ref);
  // Removes the leading chunks that end before t; returns how many.
  size_t DropBefore(int64_t t);

  int64_t MinTime() const { return Load64(buf_); }                  // requires !empty()
  int64_t MaxTime() const { return Load64(buf_ + last_off_ + 8); }  // requires !empty()

  template <typename Fn>
  void ForEach(Fn fn) const {
    for (uint32_t off = 0; off < size_;) {
      uint32_t len;
      ChunkView v = At(off, &len);
      off += len;
      fn(v);
    }
  }

 private:
  static constexpr uint32_t kHeader = 20;
  static constexpr uint32_t kOnDisk = 0xffffffffu;  // size field of a ref entry
  static int64_t Load64(const char* p) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  void Grow(uint32_t add);
  // The entry at `off`; *len: its length in the buffer.
  ChunkView At(uint32_t off, uint32_t* len) const {
    uint32_t n;
    std::memcpy(&n, buf_ + off + 16, 4);
    if (n == kOnDisk) {
      *len = kHeader + 8;
      return ChunkView{Load64(buf_ + off), Load64(buf_ + off + 8), std::string_view(),
                       static_cast<uint64_t>(Load64(buf_ + off + kHeader)), true};
    }
    *len = kHeader + n;
    return ChunkView{Load64(buf_ + off), Load64(buf_ + off + 8),
                     std::string_view(buf_ + off + kHeader, n)};
  }

  char* buf_ = nullptr;
  uint32_t size_ = 0;
  uint32_t last_off_ = 0;
  uint32_t count_ = 0;
};

// A copy of a chunk's bytes taken for a reader (head_read.cc).
struct ChunkCopy {
  int64_t min_t;
  int64_t max_t;
  std::string bytes;
};

// Out-of-order samples of one series, sorted by time, unique timestamps.
struct OooBuffer {
  std::vector<Sample> samples;
};

// One series of the head. Allocated with its symbol ids inline after it.
// Everything but ref, hash and the symbols (immutable) is guarded by the
// stripe lock of `ref`, except `logged`, which is atomic.
struct MemSeries {
  const uint64_t ref;
  const uint64_t hash;            // HashLabels()
  int64_t last_t = kMinTime;      // newest in-order sample ever appended
  uint64_t last_v = 0;            // its value bits (duplicate detection)
  chunkenc::XorChunk head_chunk;  // the open chunk (no samples: none)
  ChunkList closed;               // full chunks, in time order
  std::unique_ptr<OooBuffer> ooo;
  uint32_t pending = 0;             // appenders holding it until Commit/Rollback
  std::atomic<bool> logged{false};  // its series record is in the WAL
  // last_v is not known (after a restart that re-attached on-disk chunks
  // whose samples the WAL no longer had); Head::LastValueLocked finds it.
  bool last_v_unknown = false;
  const uint16_t num_labels;

  // Name/value symbol id pairs, sorted by name.
  const uint32_t* syms() const { return reinterpret_cast<const uint32_t*>(this + 1); }

  static MemSeries* Create(uint64_t ref, uint64_t hash, std::span<const uint32_t> syms);
  static void Destroy(MemSeries* s);

  bool HasHeadChunk() const { return head_chunk.NumSamples() > 0; }
  bool HasData() const {
    return HasHeadChunk() || !closed.empty() || (ooo != nullptr && !ooo->samples.empty());
  }
  // Smallest / largest timestamp held (kMaxTime / kMinTime when empty).
  int64_t MinTime() const;
  int64_t MaxTime() const;
  // Whether some chunk or out-of-order sample overlaps [mint, maxt].
  bool Overlaps(int64_t mint, int64_t maxt) const;
  size_t NumChunks() const { return closed.size() + (HasHeadChunk() ? 1 : 0); }
  // Heap bytes held by the series (struct, symbols, chunks), for stats.
  size_t MemoryBytes() const;

 private:
  MemSeries(uint64_t r, uint64_t h, uint16_t n) : ref(r), hash(h), num_labels(n) {}
};

// Series tables: open-addressing tables of series pointers carrying a
// 16-bit tag in the top bits (user-space pointers fit in 48 bits), so that
// a probe rejects most non-matching slots without touching the series.
using TaggedSeries = uint64_t;
inline constexpr uint64_t kPointerMask = (uint64_t{1} << 48) - 1;
inline TaggedSeries Tagged(MemSeries* s, uint64_t key) {
  const auto p = reinterpret_cast<uintptr_t>(s);
  if ((p & ~kPointerMask) != 0) std::abort();  // a pointer beyond 48 bits: cannot tag
  return (key << 48) | p;
}
inline MemSeries* Untagged(TaggedSeries e) {
  return reinterpret_cast<MemSeries*>(e & kPointerMask);
}
inline bool TagMatches(TaggedSeries e, uint64_t key) { return (e >> 48) == (key & 0xffff); }

// Series by ref (tag: the ref's low bits).
class SeriesByRef {
 public:
  MemSeries* Find(uint64_t ref) const {
    return Untagged(t_.Find(
        ref, [ref](TaggedSeries e) { return TagMatches(e, ref) && Untagged(e)->ref == ref; }));
  }
  void Insert(MemSeries* s) { t_.Insert(Tagged(s, s->ref & 0xffff)); }
  bool Erase(MemSeries* s) { return t_.Erase(Tagged(s, s->ref & 0xffff)); }
  template <typename Fn>
  void ForEach(Fn fn) const {
    t_.ForEach([&](TaggedSeries e) { fn(Untagged(e)); });
  }
  size_t size() const { return t_.size(); }
  size_t MemoryBytes() const { return t_.MemoryBytes(); }

 private:
  struct HashOf {
    uint64_t operator()(TaggedSeries e) const { return Untagged(e)->ref; }
  };
  OpenTable<TaggedSeries, HashOf> t_;
};

// Series by labels hash (tag: the hash's low bits); several series may share
// a hash, `eq` tells them apart.
class SeriesByHash {
 public:
  template <typename Eq>
  MemSeries* Find(uint64_t hash, Eq eq) const {
    return Untagged(t_.Find(hash, [&](TaggedSeries e) {
      return TagMatches(e, hash) && Untagged(e)->hash == hash && eq(Untagged(e));
    }));
  }
  void Insert(MemSeries* s) { t_.Insert(Tagged(s, s->hash & 0xffff)); }
  bool Erase(MemSeries* s) { return t_.Erase(Tagged(s, s->hash & 0xffff)); }
  template <typename Fn>
  void ForEach(Fn fn) const {
    t_.ForEach([&](TaggedSeries e) { fn(Untagged(e)); });
  }
  size_t size() const { return t_.size(); }
  size_t MemoryBytes() const { return t_.MemoryBytes(); }

 private:
  struct HashOf {
    uint64_t operator()(TaggedSeries e) const { return Untagged(e)->hash; }
  };
  OpenTable<TaggedSeries, HashOf> t_;
};

// The head's hash of a label set: XXH3 over name 0xff value 0xff ... (not
// Labels::Hash, which streams; the head never exposes its hashes).
uint64_t HashLabels(const Labels& l);

// A sorted list of series refs; a single ref is kept inline.
class PostingsList {
 public:
  PostingsList() = default;
  ~PostingsList() {
    if (cap_ > 0) std::free(u_.heap);
  }
  PostingsList(PostingsList&& o) noexcept : u_(o.u_), size_(o.size_), cap_(o.cap_) {
    o.size_ = o.cap_ = 0;
  }
  PostingsList& operator=(PostingsList&& o) noexcept;
  PostingsList(const PostingsList&) = delete;
  PostingsList& operator=(const PostingsList&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint64_t* data() const { return cap_ > 0 ? u_.heap : &u_.single; }
  std::span<const uint64_t> span() const { return {data(), size_}; }

  // Keeps the list sorted (refs usually arrive in increasing order).
  void Insert(uint64_t ref);
  // Removes every ref for which `drop` is true.
  template <typename Pred>
  void RemoveIf(Pred drop) {
    uint64_t* d = const_cast<uint64_t*>(data());
    uint32_t out = 0;
    for (uint32_t i = 0; i < size_; ++i) {
      if (!drop(d[i])) d[out++] = d[i];
    }
    size_ = out;
    if (cap_ > 0 && size_ <= 1) {
      uint64_t v = size_ == 1 ? u_.heap[0] : 0;
      std::free(u_.heap);
      cap_ = 0;
      u_.single = v;
    }
  }
  size_t MemoryBytes() const { return cap_ * sizeof(uint64_t); }

 private:
  union {
    uint64_t single;
    uint64_t* heap;
  } u_{0};
  uint32_t size_ = 0;
  uint32_t cap_ = 0;  // 0: inline
};

// The inverted index: label name -> value -> sorted refs, over symbol ids.
// Guarded by mu().
class MemPostings {
 public:
  std::shared_mutex& mu() const { return mu_; }

  void AddLocked(uint64_t ref, std::span<const uint32_t> syms);
  // Removes `refs` (sorted) from the lists of the given name/value pairs and
  // from the all-series list.
  void DeleteLocked(std::span<const uint64_t> refs,
                    std::span<const std::pair<uint32_t, uint32_t>> pairs);

  const PostingsList* GetLocked(uint32_t name, uint32_t value) const;
  const PostingsList& AllLocked() const { return all_; }
  using ValueMap = std::unordered_map<uint32_t, PostingsList>;
  // Values of `name` with their lists; nullptr when the name is absent.
  const ValueMap* ValuesLocked(uint32_t name) const;
  template <typename Fn>
  void ForEachNameLocked(Fn fn) const {
    for (const auto& [name, values] : m_) fn(name);
  }
  size_t MemoryBytesLocked() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<uint32_t, ValueMap> m_;
  PostingsList all_;
};

// Replay only (head_wal.cc). The chunks found in the head chunk files,
// grouped by series ref, and per ref what lets the thread reading the WAL
// skip the samples those chunks hold without touching the series. When the
// refs are dense (the usual case: refs are handed out from 1 upwards), both
// are arrays indexed by ref; otherwise the chunks are found by binary search
// and skipping is left to the series (SkipOf returns nullptr). Not
// thread-safe: used by the replaying thread only.
class ReplayChunks {
 public:
  // Per-ref skip state: while the series has only its re-attached chunks
  // (disk_max_t != kMinTime), a WAL sample at or before disk_max_t and not
  // older than last_t is one of theirs.
  struct Skip {
    int64_t disk_max_t = kMinTime;  // kMinTime: not skipping (any more)
    int64_t last_t = kMinTime;      // the newest sample skipped
    uint64_t last_v = 0;
  };

  void Add(const HeadChunkMeta& m) { metas_.push_back(m); }
  // Groups what Add collected by ref, each ref's chunks by min_t.
  void Build();
  bool empty() const { return metas_.empty(); }
  size_t num_refs() const { return num_refs_; }
  // The chunks of `ref` (by min_t), the first time it is asked for; empty
  // afterwards.
  std::span<const HeadChunkMeta> Take(uint64_t ref);
  // Chunks never taken (their series has no WAL record).
  uint64_t Untaken() const { return metas_.size() - taken_; }
  // The skip state of `ref`, or nullptr (no chunks, or refs not dense).
  Skip* SkipOf(uint64_t ref) {
    const uint64_t i = ref - base_;
    return dense_ && i < skip_.size() ? &skip_[i] : nullptr;
  }
  // Calls fn(ref, skip) for every ref still skipping with a sample skipped.
  template <typename Fn>
  void ForEachSkipping(Fn fn) const {
    for (size_t i = 0; i < skip_.size(); ++i) {
      if (skip_[i].disk_max_t != kMinTime && skip_[i].last_t != kMinTime) fn(base_ + i, skip_[i]);
    }
  }

 private:
  std::vector<HeadChunkMeta> metas_;  // by (ref, min_t) after Build
  std::vector<uint8_t> taken_flag_;   // by position in metas_ (first of a ref)
  uint64_t taken_ = 0;
  size_t num_refs_ = 0;
  bool dense_ = false;
  uint64_t base_ = 0;              // dense: the smallest ref
  std::vector<uint32_t> starts_;   // dense: ref's chunks are [starts_[i], starts_[i + 1])
  std::vector<Skip> skip_;         // dense: by ref - base_
};

// Replay only (head_wal.cc): series by ref in fixed pages, so that replay
// workers find a series without hashing or locking. Set (from the thread
// reading the WAL) happens before the samples of that series are handed to
// a worker, which orders it before the worker's Get. Refs >= 2^32 are not
// indexed, nor are refs so sparse that their pages would take more than
// ~4x the memory of a dense array (Get returns nullptr; callers fall back to
// the ref tables).
class ReplaySeriesIndex {
 public:
  ReplaySeriesIndex();
  ~ReplaySeriesIndex();
  ReplaySeriesIndex(const ReplaySeriesIndex&) = delete;
  ReplaySeriesIndex& operator=(const ReplaySeriesIndex&) = delete;

  void Set(uint64_t ref, MemSeries* s);
  MemSeries* Get(uint64_t ref) const {
    if ((ref >> 32) != 0) return nullptr;
    const Page* page = pages_[ref >> kPageBits].load(std::memory_order_acquire);
    return page == nullptr ? nullptr
                           : page->slots[ref & (kPageSize - 1)].load(std::memory_order_relaxed);
  }

 private:
  static constexpr int kPageBits = 16;
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageBits;
  static constexpr uint64_t kPages = uint64_t{1} << (32 - kPageBits);
  struct Page {
    std::atomic<MemSeries*> slots[kPageSize] = {};
  };
  std::unique_ptr<std::atomic<Page*>[]> pages_;
  uint64_t sets_ = 0;
  uint64_t pages_allocated_ = 0;
};

}  // namespace sightline::tsdb::head_internal
