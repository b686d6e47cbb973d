#include "traces/store/sharded_scan.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/coding.h"
#include "traces/store/codec.h"

namespace sightline::traces::store {

namespace {

// Threads reading the blocks' ids when a plan is made.
constexpr size_t kReadThreads = 8;

bool StartsIn(const Trace& t, uint64_t start, uint64_t end) {
  if (start == 0 && end == 0) return true;
  for (const Span& s : t.spans) {
    if (s.start_unix_nano >= start && (end == 0 || s.start_unix_nano < end)) return true;
  }
  return false;
}

uint64_t TraceStart(const Trace& t) {
  uint64_t m = UINT64_MAX;
  for (const Span& s : t.spans) m = std::min(m, s.start_unix_nano);
  return m == UINT64_MAX ? 0 : m;
}

class ShardedScan final : public ShardedTraceSource {
 public:
  ShardedScan(uint64_t start, uint64_t end, std::vector<Trace> head,
              std::vector<std::shared_ptr<BlockReader>> blocks, std::vector<HeadSplit> head_splits)
      : start_(start),
        end_(end),
        head_(std::move(head)),
        blocks_(std::move(blocks)),
        head_splits_(std::move(head_splits)) {
    // Head: newest traces first, so a search that stops early keeps them.
    std::vector<uint64_t> starts(head_.size());
    std::vector<size_t> order(head_.size());
    for (size_t i = 0; i < head_.size(); ++i) {
      starts[i] = TraceStart(head_[i]);
      order[i] = i;
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (starts[a] != starts[b]) return starts[a] > starts[b];
      return head_[a].trace_id < head_[b].trace_id;
    });
    std::vector<Trace> sorted;
    sorted.reserve(head_.size());
    for (size_t i : order) sorted.push_back(std::move(head_[i]));
    head_ = std::move(sorted);
    // Blocks: newest first.
    std::sort(blocks_.begin(), blocks_.end(), [](const auto& a, const auto& b) {
      if (a->meta().max_time != b->meta().max_time) return a->meta().max_time > b->meta().max_time;
      return b->meta().ulid < a->meta().ulid;
    });
    if (!head_.empty()) {
      ShardInfo info;
      info.head = true;
      info.min_time_unix_nano = UINT64_MAX;
      for (const Trace& t : head_) {
        for (const Span& s : t.spans) {
          info.min_time_unix_nano = std::min(info.min_time_unix_nano, s.start_unix_nano);
          info.max_time_unix_nano =
              std::max({info.max_time_unix_nano, s.end_unix_nano, s.start_unix_nano});
        }
        info.bytes += 64 * t.spans.size();  // rough; the head is a job of its own anyway
      }
      if (info.min_time_unix_nano == UINT64_MAX) info.min_time_unix_nano = 0;
      info.traces = head_.size();
      shards_.push_back(info);
      head_shard_ = 0;
    }
    for (const auto& b : blocks_) {
      ShardInfo info;
      info.min_time_unix_nano =
          static_cast<uint64_t>(std::max<int64_t>(b->meta().min_time, 0)) * 1'000'000ull;
      info.max_time_unix_nano =
          static_cast<uint64_t>(std::max<int64_t>(b->meta().max_time, 0)) * 1'000'000ull;
      auto it = b->meta().stats.find("numBytes");
      info.bytes = it != b->meta().stats.end() ? it->second : b->num_traces() * 16;
      info.traces = b->num_traces();
      shards_.push_back(info);
    }
    FindSplitTraces();
  }

  const std::vector<ShardInfo>& shards() const override { return shards_; }

  Status ScanShards(size_t first, size_t last, const ScanParams& params,
                    const std::function<bool(const Trace&)>& fn) override {
    SL_RETURN_IF_ERROR(init_);
    last = std::min(last, shards_.size());
    bool stop = false;
    Status err;
    // One part of a trace found in shard `shard`.
    auto visit = [&](const Trace& part, size_t shard) {
      auto split = split_.find(part.trace_id);
      if (split == split_.end()) {
        if (!StartsIn(part, start_, end_)) return true;
        if (!fn(part)) stop = true;
        return !stop;
      }
      if (!emitted_.insert(part.trace_id).second) return true;
      Trace whole;
      for (uint32_t s : split->second) {
        if (s == shard) {
          MergeTrace(part, &whole);
          continue;
        }
        auto other = Part(s, part.trace_id);
        if (!other.ok()) {
          err = other.status();
          return false;
        }
        if (*other) MergeTrace(std::move(**other), &whole);
      }
      whole.trace_id = part.trace_id;
      if (!StartsIn(whole, start_, end_)) return true;
      if (!fn(whole)) stop = true;
      return !stop;
    };
    for (size_t s = first; s < last && !stop; ++s) {
      if (static_cast<int64_t>(s) == head_shard_) {
        for (const Trace& t : head_) {
          if (!visit(t, s)) break;
        }
      } else {
        const BlockReader& b = *blocks_[s - (head_shard_ == 0 ? 1 : 0)];
        SL_RETURN_IF_ERROR(b.Scan(params, [&](Trace&& t) { return visit(t, s); }));
      }
      SL_RETURN_IF_ERROR(err);
      // Split traces whose part here the hints skipped: the hints hold for
      // whole traces, not for a block's part of one.
      auto it = split_by_shard_.find(static_cast<uint32_t>(s));
      if (it == split_by_shard_.end()) continue;
      for (const std::string& id : it->second) {
        if (stop || emitted_.count(id)) continue;
        auto part = Part(static_cast<uint32_t>(s), id);
        if (!part.ok()) return part.status();
        if (*part && !visit(**part, s)) break;
        SL_RETURN_IF_ERROR(err);
      }
    }
    return err;
  }

 private:
  // Shard `s`'s part of trace `id`.
  Result<std::optional<Trace>> Part(uint32_t s, const std::string& id) const {
    if (static_cast<int64_t>(s) == head_shard_) {
      auto it = head_index_.find(id);
      if (it == head_index_.end()) return std::optional<Trace>();
      return std::optional<Trace>(head_[it->second]);
    }
    // The part is known to be there (links or ids): no bloom, no id page.
    return blocks_[s - (head_shard_ == 0 ? 1 : 0)]->FindPart(id);
  }

  uint32_t BlockShard(size_t i) const { return static_cast<uint32_t>(i + (head_shard_ == 0 ? 1 : 0)); }

  // Split traces: from the version-3 blocks' links and the head's known
  // splits (in memory), and, when blocks of older index versions are in
  // the plan, from their ids and the head's (read, MergeIds). Holders are
  // kept ascending (the merge order) and only when there are two or more.
  void FindSplitTraces() {
    bool old = false;
    for (const auto& b : blocks_) old |= b->index_version() < 3;
    if (old) MergeIds();
    if (!init_.ok()) return;
    std::map<blocks::Ulid, uint32_t> shard_of;
    for (size_t i = 0; i < blocks_.size(); ++i) shard_of[blocks_[i]->meta().ulid] = BlockShard(i);
    auto add_refs = [&](std::vector<uint32_t>& holders, const blocks::Ulid& u) {
      auto it = shard_of.find(u);
      if (it != shard_of.end()) holders.push_back(it->second);
    };
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const SplitLinks& l = blocks_[i]->split_links();
      for (const SplitLinks::Entry& e : l.entries) {
        auto& holders = split_[std::string(e.id, 16)];
        holders.push_back(BlockShard(i));
        for (uint32_t r = e.begin; r < e.end; ++r) add_refs(holders, l.blocks[l.refs[r]]);
      }
    }
    if (head_shard_ == 0) {
      for (const auto& [id, ulids] : head_splits_) {
        auto& holders = split_[id];
        holders.push_back(0);
        for (const blocks::Ulid& u : ulids) add_refs(holders, u);
      }
    }
    for (auto it = split_.begin(); it != split_.end();) {
      auto& h = it->second;
      std::sort(h.begin(), h.end());
      h.erase(std::unique(h.begin(), h.end()), h.end());
      it = h.size() < 2 ? split_.erase(it) : std::next(it);
    }
    for (const auto& [id, holders] : split_) {
      for (uint32_t h : holders) split_by_shard_[h].push_back(id);
    }
    IndexHead();
  }

  // Ids in more than one of the head and the blocks without links (index
  // version < 3). The shards' sorted id lists are walked
  // together by 12-bit id prefix; each prefix's ids (a few thousand even
  // over hundreds of blocks) go through a small open-addressing table keyed
  // by their last 8 bytes, so a repeated id is found in one probe. ~15 ns
  // per id (a k-way heap merge took ~300 ns; measured with 288 blocks of
  // 100k ids: 0.5 s against 9.4 s).
  void MergeIds() {
    std::vector<std::string_view> ids(shards_.size());
    std::string head_ids;
    if (head_shard_ == 0) {
      std::vector<std::string_view> sorted;
      for (const Trace& t : head_) {
        if (t.trace_id.size() == 16) sorted.push_back(t.trace_id);
      }
      std::sort(sorted.begin(), sorted.end());
      head_ids.reserve(sorted.size() * 16);
      for (std::string_view id : sorted) head_ids.append(id);
      ids[0] = head_ids;
    }
    // Blocks keep only their index headers in memory: their id pages are
    // read here, one ranged read per block, from up to kReadThreads threads
    // (object-store latency). A failure fails the scan.
    std::vector<std::string> block_ids(blocks_.size());
    std::vector<Status> errs(blocks_.size());
    std::atomic<size_t> next{0};
    auto read = [&] {
      for (size_t i = next++; i < blocks_.size(); i = next++) {
        if (blocks_[i]->index_version() >= 3) continue;  // links instead
        auto r = blocks_[i]->ReadSortedIds();
        if (r.ok()) {
          block_ids[i] = std::move(r).value();
        } else {
          errs[i] = r.status();
        }
      }
    };
    {
      std::vector<std::thread> threads;
      const size_t n_threads = std::min<size_t>(kReadThreads - 1, blocks_.size() / 4);
      for (size_t i = 0; i < n_threads; ++i) threads.emplace_back(read);
      read();
      for (auto& t : threads) t.join();
    }
    for (const Status& e : errs) {
      if (!e.ok()) {
        init_ = e;
        return;
      }
    }
    size_t nonempty = 0;
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (static_cast<int64_t>(s) != head_shard_) ids[s] = block_ids[s - (head_shard_ == 0 ? 1 : 0)];
      nonempty += !ids[s].empty();
    }
    if (nonempty >= 2) {
      auto prefix = [](const char* p) {
        return (static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 4) |
               (static_cast<uint8_t>(p[1]) >> 4);
      };
      std::vector<size_t> pos(ids.size(), 0), end(ids.size(), 0);
      std::vector<uint64_t> keys;
      std::vector<std::pair<uint32_t, size_t>> refs;  // shard, byte offset
      for (uint32_t b = 0; b < (1u << 12); ++b) {
        size_t total = 0;
        for (size_t s = 0; s < ids.size(); ++s) {
          size_t e = pos[s];
          while (e + 16 <= ids[s].size() && prefix(ids[s].data() + e) == b) e += 16;
          end[s] = e;
          total += (e - pos[s]) / 16;
        }
        if (total < 2) {
          for (size_t s = 0; s < ids.size(); ++s) pos[s] = end[s];
          continue;
        }
        size_t cap = 16;
        while (cap < total * 2) cap <<= 1;
        keys.assign(cap, 0);
        refs.resize(cap);
        for (size_t s = 0; s < ids.size(); ++s) {
          for (size_t o = pos[s]; o < end[s]; o += 16) {
            const char* id = ids[s].data() + o;
            uint64_t fp;
            std::memcpy(&fp, id + 8, 8);
            fp |= 1;  // 0 marks an empty slot
            for (size_t h = (fp * 0x9E3779B97F4A7C15ull) >> 40 & (cap - 1);;
                 h = (h + 1) & (cap - 1)) {
              if (keys[h] == 0) {
                keys[h] = fp;
                refs[h] = {static_cast<uint32_t>(s), o};
                break;
              }
              if (keys[h] != fp) continue;
              const auto [rs, ro] = refs[h];
              if (std::memcmp(ids[rs].data() + ro, id, 16) != 0) continue;
              auto& holders = split_[std::string(id, 16)];
              if (holders.empty()) holders.push_back(rs);
              holders.push_back(static_cast<uint32_t>(s));
              break;
            }
          }
          pos[s] = end[s];
        }
      }
    }
  }

  void IndexHead() {
    if (split_.empty()) return;
    for (size_t i = 0; i < head_.size(); ++i) {
      if (split_.count(head_[i].trace_id)) head_index_.emplace(head_[i].trace_id, i);
    }
  }

  uint64_t start_, end_;
  Status init_;  // a block's ids could not be read
  std::vector<Trace> head_;
  std::vector<std::shared_ptr<BlockReader>> blocks_;
  std::vector<HeadSplit> head_splits_;
  int64_t head_shard_ = -1;  // 0 when there is a head shard
  std::vector<ShardInfo> shards_;
  std::unordered_map<std::string, std::vector<uint32_t>> split_;  // id -> shards, ascending
  std::unordered_map<std::string, size_t> head_index_;            // split ids in the head
  std::unordered_set<std::string> emitted_;                       // split ids already passed
  std::unordered_map<uint32_t, std::vector<std::string>> split_by_shard_;
};

}  // namespace

std::unique_ptr<ShardedTraceSource> NewShardedScan(
    uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<Trace> head,
    std::vector<std::shared_ptr<BlockReader>> blocks, std::vector<HeadSplit> head_splits) {
  return std::make_unique<ShardedScan>(start_unix_nano, end_unix_nano, std::move(head),
                                       std::move(blocks), std::move(head_splits));
}

// ------------------------------------------------------------ SplitWindow

namespace {

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

SplitWindow::SplitWindow(int64_t window_ms, uint64_t max_ids)
    : window_ms_(window_ms), max_ids_(max_ids) {}

uint64_t SplitWindow::Fingerprint(std::string_view trace_id) {
  char v[16] = {};
  std::memcpy(v, trace_id.data(), std::min<size_t>(trace_id.size(), 16));
  // Both halves count (a 64-bit Zipkin id padded to 128 bits has eight
  // zero bytes); 0 marks an empty slot.
  const uint64_t fp = coding::LoadFixed64LE(v) ^ Mix64(coding::LoadFixed64LE(v + 8));
  return fp == 0 ? 1 : fp;
}

const SplitWindow::Block* SplitWindow::Probe(uint64_t fp) const {
  if (keys_.empty()) return nullptr;
  const size_t mask = keys_.size() - 1;
  for (size_t h = (fp * 0x9E3779B97F4A7C15ull) >> 32 & mask;; h = (h + 1) & mask) {
    if (keys_[h] == 0) return nullptr;
    if (keys_[h] != fp) continue;
    const uint32_t seq = vals_[h];
    if (seq - first_seq_ >= blocks_.size()) return nullptr;  // its block left
    return &blocks_[seq - first_seq_];
  }
}

void SplitWindow::Insert(uint64_t fp, uint32_t seq) {
  const size_t mask = keys_.size() - 1;
  for (size_t h = (fp * 0x9E3779B97F4A7C15ull) >> 32 & mask;; h = (h + 1) & mask) {
    if (keys_[h] == 0) {
      keys_[h] = fp;
      vals_[h] = seq;
      ++used_;
      return;
    }
    if (keys_[h] == fp) {
      vals_[h] = seq;  // the newest holder (its links name the older ones)
      return;
    }
  }
}

SplitLinks SplitWindow::Links(const std::vector<BlockTrace>& traces,
                              std::vector<uint64_t>* fps) const {
  SplitLinks out;
  fps->clear();
  fps->reserve(traces.size());
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<blocks::Ulid> earlier;
  for (const BlockTrace& t : traces) {
    const uint64_t fp = Fingerprint(t.trace_id);
    fps->push_back(fp);
    const Block* b = Probe(fp);
    if (b == nullptr) continue;
    earlier = b->reader->split_links().Find(t.trace_id);
    earlier.insert(earlier.begin(), b->reader->meta().ulid);
    out.Add(t.trace_id, earlier);
  }
  out.Sort();
  return out;
}

std::vector<blocks::Ulid> SplitWindow::Holders(std::string_view id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const Block* b = Probe(Fingerprint(id));
  if (b == nullptr) return {};
  std::vector<blocks::Ulid> out = b->reader->split_links().Find(id);
  out.insert(out.begin(), b->reader->meta().ulid);
  return out;
}

std::vector<HeadSplit> SplitWindow::HeadSplits(const std::vector<Trace>& head) const {
  std::vector<HeadSplit> out;
  std::shared_lock<std::shared_mutex> l(mu_);
  if (blocks_.empty()) return out;
  for (const Trace& t : head) {
    const Block* b = Probe(Fingerprint(t.trace_id));
    if (b == nullptr) continue;
    std::vector<blocks::Ulid> holders = b->reader->split_links().Find(t.trace_id);
    holders.insert(holders.begin(), b->reader->meta().ulid);
    out.emplace_back(t.trace_id, std::move(holders));
  }
  return out;
}

void SplitWindow::DropOldest() {
  live_ids_ -= std::min(live_ids_, blocks_.front().ids);
  blocks_.pop_front();
  ++first_seq_;
  if (blocks_.empty()) {
    std::vector<uint64_t>().swap(keys_);  // the memory goes too
    std::vector<uint32_t>().swap(vals_);
    used_ = 0;
    live_ids_ = 0;
  }
}

void SplitWindow::Expire(int64_t now_ms) {
  std::unique_lock<std::shared_mutex> l(mu_);
  while (!blocks_.empty() && blocks_.front().cut_ms < now_ms - window_ms_) DropOldest();
}

void SplitWindow::Add(std::shared_ptr<const BlockReader> block, int64_t cut_ms,
                      const std::vector<uint64_t>& fps, int64_t now_ms) {
  std::unique_lock<std::shared_mutex> l(mu_);
  while (!blocks_.empty() && blocks_.front().cut_ms < now_ms - window_ms_) DropOldest();
  if (window_ms_ <= 0) return;
  if (fps.size() > max_ids_) {
    // Larger than the whole window: it leaves at once, the others with it.
    shrunk_ += blocks_.size() + 1;
    while (!blocks_.empty()) DropOldest();
    return;
  }
  while (!blocks_.empty() && live_ids_ + fps.size() > max_ids_) {
    DropOldest();
    ++shrunk_;
  }
  const uint32_t seq = first_seq_ + static_cast<uint32_t>(blocks_.size());
  blocks_.push_back(Block{std::move(block), cut_ms, fps.size()});
  live_ids_ += fps.size();
  // At most half full; a rehash also drops the slots of blocks that left.
  if ((used_ + fps.size()) * 2 > keys_.size()) {
    size_t cap = 1024;
    while (cap < (live_ids_ + fps.size()) * 2) cap <<= 1;
    std::vector<uint64_t> keys(cap, 0);
    std::vector<uint32_t> vals(cap, 0);
    keys.swap(keys_);
    vals.swap(vals_);
    used_ = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != 0 && vals[i] - first_seq_ < blocks_.size() - 1) Insert(keys[i], vals[i]);
    }
  }
  for (uint64_t fp : fps) Insert(fp, seq);
}

uint64_t SplitWindow::ids() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return live_ids_;
}

size_t SplitWindow::blocks() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return blocks_.size();
}

uint64_t SplitWindow::shrunk_blocks() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return shrunk_;
}

size_t SplitWindow::MemoryBytes() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return keys_.capacity() * sizeof(uint64_t) + vals_.capacity() * sizeof(uint32_t) +
         blocks_.size() * sizeof(Block);
}

}  // namespace sightline::traces::store
