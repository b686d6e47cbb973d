#include "traces/store/block.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "base/coding.h"
#include "base/compression.h"
#include "base/crc32c.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_store.h"
#include "traces/store/codec.h"

#include <zstd.h>

namespace sightline::traces::store {

namespace {

constexpr std::string_view kIndexMagic = "SLTX";
constexpr std::string_view kBloomMagic = "SLTB";
// Index version 2 pages the trace ids by row group (version 1: one table,
// one checksum over the whole file; still read); version 3 adds the split
// links to the header (version 2 is still read). Bloom: version 1.
constexpr uint8_t kIndexVersion = 3;
constexpr uint8_t kBloomVersion = 1;
// "SLTX", version byte, fixed32 header length.
constexpr size_t kIndexPrefix = 9;
// First ranged read of an index at open: the header of a block of a few
// hundred row groups fits, so one request is the rule.
constexpr uint64_t kIndexProbe = 16 << 10;
// Bound for decompressing one section (a row group is ~256 KiB raw).
constexpr size_t kMaxSection = 512u << 20;

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::pair<uint64_t, uint64_t> BloomHashes(std::string_view id) {
  // Probed for every block on each find-by-id: no allocation here.
  char v[16] = {};
  std::memcpy(v, id.data(), std::min<size_t>(id.size(), 16));
  // Both halves feed both hashes: ids are not always random in every byte
  // (a 64-bit Zipkin id padded to 128 bits has eight zero bytes).
  uint64_t a = coding::LoadFixed64LE(v);
  uint64_t b = coding::LoadFixed64LE(v + 8);
  uint64_t h1 = Mix(a ^ Mix(b));
  uint64_t h2 = Mix(b ^ Mix(a ^ 0x5bd1e995ull)) | 1;
  return {h1, h2};
}

void AppendCrc(std::string* s) { coding::PutFixed32LE(*s, crc32c::Value(*s)); }

Result<std::string_view> CheckCrc(std::string_view s, std::string_view magic,
                                  const std::string& what, uint8_t version) {
  if (s.size() < magic.size() + 1 + 4 || s.substr(0, magic.size()) != magic) {
    return DataLossError(what + ": bad magic or too short");
  }
  uint32_t want = coding::LoadFixed32LE(s.data() + s.size() - 4);
  if (crc32c::Value(s.substr(0, s.size() - 4)) != want) {
    return DataLossError(what + ": checksum mismatch");
  }
  if (static_cast<uint8_t>(s[magic.size()]) != version) {
    return DataLossError(what + ": unknown version");
  }
  return s.substr(magic.size() + 1, s.size() - magic.size() - 5);
}

Status WriteFile(io::Env* env, const std::string& path, std::string_view data) {
  SL_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  SL_RETURN_IF_ERROR(f->Append(data));
  SL_RETURN_IF_ERROR(f->Sync());
  return f->Close();
}

class LocalFiles final : public BlockFiles {
 public:
  LocalFiles(io::Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Result<std::string> Read(const std::string& name) override {
    return env_->ReadFile(dir_ + "/" + name);
  }
  Result<std::string> ReadRange(const std::string& name, uint64_t offset,
                                uint64_t length) override {
    SL_ASSIGN_OR_RETURN(auto f, env_->NewRandomAccessFile(dir_ + "/" + name));
    std::string scratch;
    SL_ASSIGN_OR_RETURN(std::string_view v, f->Read(offset, length, &scratch));
    if (v.size() != length) return DataLossError(dir_ + "/" + name + ": short read");
    return std::string(v);
  }

 private:
  io::Env* env_;
  std::string dir_;
};

class StoreFiles final : public BlockFiles {
 public:
  StoreFiles(io::ObjectStore* store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {}
  Result<std::string> Read(const std::string& name) override { return store_->Get(prefix_ + name); }
  Result<std::string> ReadRange(const std::string& name, uint64_t offset,
                                uint64_t length) override {
    SL_ASSIGN_OR_RETURN(std::string v, store_->GetRange(prefix_ + name, offset, length));
    if (v.size() != length) return DataLossError(prefix_ + name + ": short read");
    return v;
  }

 private:
  io::ObjectStore* store_;
  std::string prefix_;
};

// Index version 3's links section (docs/formats/traces-block.md).
void AppendSplitLinks(const SplitLinks* links, std::string* out) {
  static const SplitLinks kNone;
  const SplitLinks& l = links != nullptr ? *links : kNone;
  coding::PutUvarint(*out, l.blocks.size());
  for (const blocks::Ulid& u : l.blocks) {
    out->append(reinterpret_cast<const char*>(u.bytes().data()), 16);
  }
  coding::PutUvarint(*out, l.entries.size());
  for (const SplitLinks::Entry& e : l.entries) {
    out->append(e.id, 16);
    coding::PutUvarint(*out, e.end - e.begin);
    for (uint32_t i = e.begin; i < e.end; ++i) coding::PutUvarint(*out, l.refs[i]);
  }
}

blocks::Ulid UlidFromBytes(std::string_view b) {
  uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | static_cast<uint8_t>(b[i]);
  std::array<uint8_t, 10> e{};
  std::memcpy(e.data(), b.data() + 6, 10);
  return blocks::Ulid::FromParts(ms, e);
}

}  // namespace

void SplitLinks::Add(std::string_view id, const std::vector<blocks::Ulid>& earlier) {
  Entry e;
  std::memcpy(e.id, id.data(), std::min<size_t>(id.size(), 16));
  e.begin = static_cast<uint32_t>(refs.size());
  for (const blocks::Ulid& u : earlier) {
    // Few blocks (the recent-cut window's): a linear search is enough.
    size_t k = std::find(blocks.begin(), blocks.end(), u) - blocks.begin();
    if (k == blocks.size()) blocks.push_back(u);
    refs.push_back(static_cast<uint32_t>(k));
  }
  e.end = static_cast<uint32_t>(refs.size());
  entries.push_back(e);
}

void SplitLinks::Sort() {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::memcmp(a.id, b.id, 16) < 0;
  });
}

std::vector<blocks::Ulid> SplitLinks::Find(std::string_view id) const {
  std::vector<blocks::Ulid> out;
  if (id.size() != 16) return out;
  auto it = std::lower_bound(entries.begin(), entries.end(), id, [](const Entry& e, std::string_view v) {
    return std::string_view(e.id, 16) < v;
  });
  if (it == entries.end() || std::string_view(it->id, 16) != id) return out;
  for (uint32_t i = it->begin; i < it->end; ++i) out.push_back(blocks[refs[i]]);
  return out;
}

size_t SplitLinks::MemoryBytes() const {
  return blocks.capacity() * sizeof(blocks::Ulid) + entries.capacity() * sizeof(Entry) +
         refs.capacity() * sizeof(uint32_t);
}

std::unique_ptr<BlockFiles> LocalBlockFiles(io::Env* env, std::string dir) {
  return std::make_unique<LocalFiles>(env, std::move(dir));
}

std::unique_ptr<BlockFiles> ObjectStoreBlockFiles(io::ObjectStore* store, std::string prefix) {
  return std::make_unique<StoreFiles>(store, std::move(prefix));
}

Result<blocks::BlockMeta> WriteBlock(io::Env* env, const std::string& blocks_dir,
                                     const std::string& tenant, std::vector<const Trace*> traces,
                                     const BlockWriteOptions& options) {
  std::sort(traces.begin(), traces.end(),
            [](const Trace* a, const Trace* b) { return a->trace_id < b->trace_id; });
  std::vector<std::string> ids(traces.size());
  std::vector<BlockTrace> items(traces.size());
  for (size_t i = 0; i < traces.size(); ++i) {
    const Trace* t = traces[i];
    ids[i] = t->trace_id.substr(0, 16);
    ids[i].resize(16, '\0');
    items[i].trace_id = ids[i];
    items[i].encode = [t](StringDict* dict, std::string* out, TraceSummary* sum) {
      EncodeTrace(*t, dict, out);
      auto [lo, hi] = TraceTimeRange(*t);
      *sum = TraceSummary{t->spans.size(), lo, hi};
      return Status::Ok();
    };
  }
  return WriteBlockSorted(env, blocks_dir, tenant, items, options);
}

Result<blocks::BlockMeta> WriteBlockEncoded(io::Env* env, const std::string& blocks_dir,
                                            const std::string& tenant,
                                            std::vector<BlockTrace> traces,
                                            const BlockWriteOptions& options) {
  // 16-byte ids (all of them, from ingest): sorted as two big-endian words
  // with their positions, then the traces moved once into that order
  // (sorting the BlockTraces themselves moves a std::function per swap).
  const bool all16 = std::all_of(traces.begin(), traces.end(),
                                 [](const BlockTrace& t) { return t.trace_id.size() == 16; });
  if (!all16) {
    std::sort(traces.begin(), traces.end(),
              [](const BlockTrace& a, const BlockTrace& b) { return a.trace_id < b.trace_id; });
    return WriteBlockSorted(env, blocks_dir, tenant, traces, options);
  }
  struct Key {
    uint64_t hi, lo;
    uint32_t i;
  };
  std::vector<Key> keys(traces.size());
  for (size_t i = 0; i < traces.size(); ++i) {
    const char* id = traces[i].trace_id.data();
    keys[i] = Key{coding::LoadFixed64BE(id), coding::LoadFixed64BE(id + 8), static_cast<uint32_t>(i)};
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo != b.lo ? a.lo < b.lo : a.i < b.i;
  });
  std::vector<BlockTrace> sorted;
  sorted.reserve(traces.size());
  for (const Key& k : keys) sorted.push_back(std::move(traces[k.i]));
  return WriteBlockSorted(env, blocks_dir, tenant, sorted, options);
}

Result<blocks::BlockMeta> WriteBlockSorted(io::Env* env, const std::string& blocks_dir,
                                           const std::string& tenant,
                                           const std::vector<BlockTrace>& traces,
                                           const BlockWriteOptions& options) {
  blocks::BlockMeta meta;
  uint64_t min_start = UINT64_MAX, max_end = 0, spans = 0;
  meta.ulid = blocks::NewUlid();
  const std::string dir = blocks_dir + "/" + meta.ulid.ToString();
  SL_RETURN_IF_ERROR(env->CreateDirs(dir));

  std::string data, index_rgs, ids;
  uint64_t n_rg = 0;
  // One zstd context and output buffer for all the block's sections (the
  // same frames as Compress/ZSTD_compress, without building a context and
  // zeroing a compressBound-sized string per section); appended to `data`.
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return InternalError("zstd: cannot create a context");
  int level = options.zstd_level;
  if (level < 1 || level > ZSTD_maxCLevel()) level = ZSTD_CLEVEL_DEFAULT;
  size_t zp = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(zp) && options.zstd_min_match > 0) {
    zp = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_minMatch, options.zstd_min_match);
  }
  if (ZSTD_isError(zp)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(zp));
  std::string zbuf;
  auto compress_onto = [&](std::string_view in) -> Result<size_t> {
    const size_t bound = ZSTD_compressBound(in.size());
    if (zbuf.size() < bound) zbuf.resize(bound);
    // A single frame with the content size, no checksum (ZSTD_compress's).
    const size_t n = ZSTD_compress2(cctx.get(), zbuf.data(), zbuf.size(), in.data(), in.size());
    if (ZSTD_isError(n)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(n));
    data.append(zbuf.data(), n);
    return n;
  };
  StringDict dict;
  std::string raw;
  uint64_t rg_traces = 0, rg_spans = 0, rg_min = UINT64_MAX, rg_max = 0;
  auto flush = [&]() -> Status {
    if (rg_traces == 0) return Status::Ok();
    std::string d;
    dict.AppendTo(&d);
    const size_t offset = data.size();
    SL_ASSIGN_OR_RETURN(size_t dz, compress_onto(d));
    SL_ASSIGN_OR_RETURN(size_t tz, compress_onto(raw));
    coding::PutUvarint(index_rgs, offset);
    coding::PutUvarint(index_rgs, dz);
    coding::PutUvarint(index_rgs, tz);
    coding::PutUvarint(index_rgs, rg_traces);
    coding::PutUvarint(index_rgs, rg_spans);
    coding::PutUvarint(index_rgs, rg_min == UINT64_MAX ? 0 : rg_min);
    coding::PutUvarint(index_rgs, rg_max);
    // Version 2: the row group's first and last id and its id page's crc.
    const std::string_view page = std::string_view(ids).substr(ids.size() - rg_traces * 16);
    index_rgs.append(page.substr(0, 16));
    index_rgs.append(page.substr(page.size() - 16));
    coding::PutFixed32LE(index_rgs, crc32c::Value(page));
    ++n_rg;
    dict.Clear();
    raw.clear();
    rg_traces = rg_spans = 0;
    rg_min = UINT64_MAX;
    rg_max = 0;
    return Status::Ok();
  };
  std::string rec;
  for (const BlockTrace& t : traces) {
    rec.clear();
    TraceSummary sum;
    SL_RETURN_IF_ERROR(t.encode(&dict, &rec, &sum));
    coding::PutLengthPrefixed(raw, rec);
    ids += t.trace_id;
    ++rg_traces;
    rg_spans += sum.spans;
    spans += sum.spans;
    if (sum.spans > 0) {
      rg_min = std::min(rg_min, sum.min_start);
      rg_max = std::max(rg_max, sum.max_end);
      min_start = std::min(min_start, sum.min_start);
      max_end = std::max(max_end, sum.max_end);
    }
    if (raw.size() >= options.row_group_bytes) SL_RETURN_IF_ERROR(flush());
  }
  SL_RETURN_IF_ERROR(flush());
  if (min_start == UINT64_MAX) min_start = 0;

  // Index version 2: prefix and header (checked by its crc), then the id
  // pages, read by range on demand.
  std::string header;
  coding::PutUvarint(header, n_rg);
  header += index_rgs;
  coding::PutUvarint(header, traces.size());
  AppendSplitLinks(options.links, &header);
  std::string index(kIndexMagic);
  index.push_back(static_cast<char>(kIndexVersion));
  coding::PutFixed32LE(index, static_cast<uint32_t>(header.size() + 4));
  index += header;
  AppendCrc(&index);
  index += ids;

  // Bloom: m = -n ln p / ln2^2 bits, k = m/n ln 2.
  double n = std::max<double>(1, static_cast<double>(traces.size()));
  double p = std::clamp(options.bloom_false_positive, 1e-6, 0.5);
  uint64_t m = static_cast<uint64_t>(std::ceil(-n * std::log(p) / (std::log(2) * std::log(2))));
  m = std::max<uint64_t>(64, (m + 7) / 8 * 8);
  uint32_t k = std::clamp<uint32_t>(static_cast<uint32_t>(std::round(m / n * std::log(2))), 1, 16);
  std::string bits(m / 8, '\0');
  for (const BlockTrace& t : traces) {
    auto [h1, h2] = BloomHashes(t.trace_id);
    for (uint32_t i = 0; i < k; ++i) {
      uint64_t b = (h1 + i * h2) % m;
      bits[b / 8] = static_cast<char>(bits[b / 8] | (1 << (b % 8)));
    }
  }
  std::string bloom(kBloomMagic);
  bloom.push_back(static_cast<char>(kBloomVersion));
  coding::PutUvarint(bloom, k);
  coding::PutUvarint(bloom, m);
  bloom += bits;
  AppendCrc(&bloom);

  SL_RETURN_IF_ERROR(WriteFile(env, dir + "/data", data));
  SL_RETURN_IF_ERROR(WriteFile(env, dir + "/index", index));
  SL_RETURN_IF_ERROR(WriteFile(env, dir + "/bloom", bloom));

  meta.min_time = static_cast<int64_t>(min_start / 1000000);
  meta.max_time = static_cast<int64_t>(max_end / 1000000) + 1;
  meta.stats["numTraces"] = traces.size();
  meta.stats["numSpans"] = spans;
  meta.stats["numRowGroups"] = n_rg;
  meta.stats["numBytes"] = data.size() + index.size() + bloom.size();
  meta.files = {{"bloom", bloom.size()}, {"data", data.size()}, {"index", index.size()}};
  meta.signal = "traces";
  meta.tenant = tenant;
  meta.format = std::string(kBlockFormat);
  meta.source = "ingester";
  SL_RETURN_IF_ERROR(env->SyncDir(dir));
  SL_RETURN_IF_ERROR(env->WriteFileAtomic(dir + "/meta.json", meta.ToJson()));
  return meta;
}

// ---- IdPageCache ----

struct IdPageCache::Impl {
  using Key = std::pair<uint64_t, uint64_t>;
  struct Entry {
    Key key;
    std::shared_ptr<const std::string> ids;
  };
  uint64_t capacity = 0;
  mutable std::mutex mu;
  std::list<Entry> lru;  // most recently used first
  std::map<Key, std::list<Entry>::iterator> index;
  uint64_t bytes = 0, hits = 0, misses = 0, evictions = 0;

  void Erase(std::map<Key, std::list<Entry>::iterator>::iterator it) {
    bytes -= it->second->ids->size();
    lru.erase(it->second);
    index.erase(it);
  }
};

IdPageCache::IdPageCache(uint64_t capacity_bytes) : impl_(std::make_unique<Impl>()) {
  impl_->capacity = capacity_bytes;
}
IdPageCache::~IdPageCache() = default;

std::shared_ptr<const std::string> IdPageCache::Get(uint64_t reader, uint64_t page) {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->index.find({reader, page});
  if (it == impl_->index.end()) {
    ++impl_->misses;
    return nullptr;
  }
  ++impl_->hits;
  impl_->lru.splice(impl_->lru.begin(), impl_->lru, it->second);
  return it->second->ids;
}

void IdPageCache::Put(uint64_t reader, uint64_t page, std::shared_ptr<const std::string> ids) {
  if (!ids || ids->size() > impl_->capacity) return;
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& m = *impl_;
  auto it = m.index.find({reader, page});
  if (it != m.index.end()) m.Erase(it);
  m.bytes += ids->size();
  m.lru.push_front({{reader, page}, std::move(ids)});
  m.index[{reader, page}] = m.lru.begin();
  while (m.bytes > m.capacity && !m.lru.empty()) {
    m.Erase(m.index.find(m.lru.back().key));
    ++m.evictions;
  }
}

void IdPageCache::Forget(uint64_t reader) {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->index.lower_bound({reader, 0});
  while (it != impl_->index.end() && it->first.first == reader) {
    auto next = std::next(it);
    impl_->Erase(it);
    it = next;
  }
}

uint64_t IdPageCache::bytes() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->bytes;
}
size_t IdPageCache::pages() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->lru.size();
}
uint64_t IdPageCache::hits() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->hits;
}
uint64_t IdPageCache::misses() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->misses;
}
uint64_t IdPageCache::evictions() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->evictions;
}

// ---- BlockReader ----

namespace {
std::atomic<uint64_t> id_pages_read{0};
}  // namespace

uint64_t BlockReader::IdPagesRead() { return id_pages_read.load(std::memory_order_relaxed); }

BlockReader::~BlockReader() {
  if (cache_ != nullptr) cache_->Forget(id_);
}

Result<std::unique_ptr<BlockReader>> BlockReader::Open(std::unique_ptr<BlockFiles> files,
                                                       blocks::BlockMeta meta,
                                                       IdPageCache* cache) {
  static std::atomic<uint64_t> next_id{1};
  std::unique_ptr<BlockReader> r(new BlockReader());
  r->id_ = next_id++;
  r->cache_ = cache;
  const std::string name = meta.ulid.ToString() + "/index";
  // The index's size from meta.json lets the first read be a ranged one.
  uint64_t size = 0;
  for (const blocks::BlockFile& f : meta.files) {
    if (f.rel_path == "index") size = f.size_bytes;
  }
  std::string index;
  if (size > kIndexProbe) {
    SL_ASSIGN_OR_RETURN(index, files->ReadRange("index", 0, kIndexProbe));
  } else {
    SL_ASSIGN_OR_RETURN(index, files->Read("index"));
    size = index.size();
  }
  if (index.size() < kIndexPrefix || std::string_view(index).substr(0, 4) != kIndexMagic) {
    return DataLossError(name + ": bad magic or too short");
  }
  const uint8_t version = static_cast<uint8_t>(index[4]);
  if (version == 1) {
    if (index.size() < size) {
      SL_ASSIGN_OR_RETURN(index, files->Read("index"));
    }
    SL_ASSIGN_OR_RETURN(std::string_view body, CheckCrc(index, kIndexMagic, name, 1));
    SL_RETURN_IF_ERROR(r->ParseV1(body, kIndexMagic.size() + 1));
  } else if (version == 2 || version == 3) {
    const uint64_t header_len = coding::LoadFixed32LE(index.data() + 5);
    const uint64_t need = kIndexPrefix + header_len;
    if (header_len < 5 || need > size) return DataLossError(name + ": bad header length");
    if (index.size() < need) {
      SL_ASSIGN_OR_RETURN(std::string more,
                          files->ReadRange("index", index.size(), need - index.size()));
      index += more;
    }
    index.resize(need);
    const uint32_t want = coding::LoadFixed32LE(index.data() + need - 4);
    if (crc32c::Value(std::string_view(index).substr(0, need - 4)) != want) {
      return DataLossError(name + ": header checksum mismatch");
    }
    SL_RETURN_IF_ERROR(
        r->ParseV2Header(std::string_view(index).substr(kIndexPrefix, header_len - 4), version));
    r->pages_offset_ = need;
    if (size != need + r->num_traces_ * 16) {
      return DataLossError(name + ": size does not match the header");
    }
  } else {
    return DataLossError(name + ": unknown version");
  }

  r->index_version_ = version;
  SL_ASSIGN_OR_RETURN(std::string bloom, files->Read("bloom"));
  SL_ASSIGN_OR_RETURN(std::string_view bbody,
                      CheckCrc(bloom, kBloomMagic, meta.ulid.ToString() + "/bloom", kBloomVersion));
  coding::Reader b(bbody);
  r->bloom_k_ = static_cast<uint32_t>(b.Uvarint());
  uint64_t m = b.Uvarint();
  if (!b.ok() || m == 0 || m % 8 != 0 || b.remaining() != m / 8 || r->bloom_k_ == 0) {
    return DataLossError(meta.ulid.ToString() + "/bloom: malformed");
  }
  r->bloom_ = std::string(b.rest());
  r->files_ = std::move(files);
  r->meta_ = std::move(meta);
  return r;
}

namespace {

// The fields both index versions write first for a row group.
void ReadRowGroupFields(coding::Reader& in, BlockReader::RowGroup* rg) {
  rg->offset = in.Uvarint();
  rg->dict_len = in.Uvarint();
  rg->data_len = in.Uvarint();
  rg->num_traces = in.Uvarint();
  rg->num_spans = in.Uvarint();
  rg->min_start = in.Uvarint();
  rg->max_end = in.Uvarint();
}

}  // namespace

// Version 1: the whole index was read and its crc checked; the id table
// starts after the row-group table. The per-row-group summary (first/last
// id, page crc) is derived here, so reads go the version-2 way.
Status BlockReader::ParseV1(std::string_view body, uint64_t body_offset) {
  coding::Reader in(body);
  uint64_t n_rg = in.Uvarint();
  if (!in.ok() || n_rg > body.size()) return DataLossError("trace index: bad row group count");
  uint64_t first = 0;
  for (uint64_t i = 0; i < n_rg; ++i) {
    RowGroup rg;
    ReadRowGroupFields(in, &rg);
    rg.first_trace = first;
    first += rg.num_traces;
    row_groups_.push_back(rg);
  }
  uint64_t n = in.Uvarint();
  if (!in.ok() || n != first || in.remaining() != n * 16) {
    return DataLossError("trace index: trace id table does not match the row groups");
  }
  std::string_view ids = in.rest();
  for (RowGroup& rg : row_groups_) {
    if (rg.num_traces == 0) return DataLossError("trace index: empty row group");
    std::string_view page = ids.substr(rg.first_trace * 16, rg.num_traces * 16);
    std::memcpy(rg.first_id, page.data(), 16);
    std::memcpy(rg.last_id, page.data() + page.size() - 16, 16);
    rg.ids_crc = crc32c::Value(page);
  }
  num_traces_ = n;
  pages_offset_ = body_offset + (body.size() - ids.size());
  return Status::Ok();
}

Status BlockReader::ParseV2Header(std::string_view header, uint8_t version) {
  coding::Reader in(header);
  uint64_t n_rg = in.Uvarint();
  if (!in.ok() || n_rg > header.size()) return DataLossError("trace index: bad row group count");
  row_groups_.reserve(n_rg);
  uint64_t first = 0;
  for (uint64_t i = 0; i < n_rg; ++i) {
    RowGroup rg;
    ReadRowGroupFields(in, &rg);
    std::string_view f = in.Bytes(16), l = in.Bytes(16);
    rg.ids_crc = in.Fixed32LE();
    if (!in.ok() || rg.num_traces == 0) return DataLossError("trace index: bad row group");
    std::memcpy(rg.first_id, f.data(), 16);
    std::memcpy(rg.last_id, l.data(), 16);
    rg.first_trace = first;
    first += rg.num_traces;
    row_groups_.push_back(rg);
  }
  uint64_t n = in.Uvarint();
  if (!in.ok() || n != first) {
    return DataLossError("trace index: trace count does not match the row groups");
  }
  num_traces_ = n;
  if (version >= 3) {
    // Split links: the earlier blocks, then per trace their indices.
    auto links = std::make_unique<SplitLinks>();
    SplitLinks& l = *links;
    const uint64_t n_blocks = in.Uvarint();
    if (!in.ok() || n_blocks > in.remaining() / 16) return DataLossError("trace index: bad links");
    l.blocks.reserve(n_blocks);
    for (uint64_t i = 0; i < n_blocks; ++i) l.blocks.push_back(UlidFromBytes(in.Bytes(16)));
    const uint64_t n_links = in.Uvarint();
    if (!in.ok() || n_links > in.remaining() / 17) return DataLossError("trace index: bad links");
    l.entries.reserve(n_links);
    for (uint64_t i = 0; i < n_links; ++i) {
      SplitLinks::Entry e;
      std::string_view id = in.Bytes(16);
      const uint64_t k = in.Uvarint();
      if (!in.ok() || k == 0 || k > in.remaining()) return DataLossError("trace index: bad links");
      std::memcpy(e.id, id.data(), 16);
      e.begin = static_cast<uint32_t>(l.refs.size());
      for (uint64_t j = 0; j < k; ++j) {
        const uint64_t ref = in.Uvarint();
        if (!in.ok() || ref >= n_blocks) return DataLossError("trace index: bad link");
        l.refs.push_back(static_cast<uint32_t>(ref));
      }
      e.end = static_cast<uint32_t>(l.refs.size());
      if (!l.entries.empty() &&
          std::memcmp(l.entries.back().id, e.id, 16) >= 0) {
        return DataLossError("trace index: links out of order");
      }
      l.entries.push_back(e);
    }
    if (!links->empty()) links_ = std::move(links);
  }
  if (!in.ok() || in.remaining() != 0) {
    return DataLossError("trace index: trailing bytes in the header");
  }
  return Status::Ok();
}

size_t BlockReader::MemoryBytes() const {
  return sizeof(*this) + row_groups_.capacity() * sizeof(RowGroup) + bloom_.capacity() +
         (links_ ? sizeof(SplitLinks) + links_->MemoryBytes() : 0);
}

const SplitLinks& BlockReader::split_links() const {
  static const SplitLinks kNone;
  return links_ ? *links_ : kNone;
}

Result<std::shared_ptr<const std::string>> BlockReader::IdPage(size_t i) const {
  if (cache_ != nullptr) {
    if (auto hit = cache_->Get(id_, i)) return hit;
  }
  const RowGroup& rg = row_groups_[i];
  id_pages_read.fetch_add(1, std::memory_order_relaxed);
  SL_ASSIGN_OR_RETURN(std::string page, files_->ReadRange("index", pages_offset_ + rg.first_trace * 16,
                                                          rg.num_traces * 16));
  if (crc32c::Value(page) != rg.ids_crc) {
    return DataLossError(meta_.ulid.ToString() + "/index: id page " + std::to_string(i) +
                         " checksum mismatch");
  }
  auto out = std::make_shared<const std::string>(std::move(page));
  if (cache_ != nullptr) cache_->Put(id_, i, out);
  return out;
}

Result<std::string> BlockReader::ReadSortedIds() const {
  if (num_traces_ == 0) return std::string();
  id_pages_read.fetch_add(row_groups_.size(), std::memory_order_relaxed);
  SL_ASSIGN_OR_RETURN(std::string ids, files_->ReadRange("index", pages_offset_, num_traces_ * 16));
  for (size_t i = 0; i < row_groups_.size(); ++i) {
    const RowGroup& rg = row_groups_[i];
    if (crc32c::Value(std::string_view(ids).substr(rg.first_trace * 16, rg.num_traces * 16)) !=
        rg.ids_crc) {
      return DataLossError(meta_.ulid.ToString() + "/index: id page " + std::to_string(i) +
                           " checksum mismatch");
    }
  }
  return ids;
}

bool BlockReader::MayContain(std::string_view trace_id) const {
  uint64_t m = bloom_.size() * 8;
  auto [h1, h2] = BloomHashes(trace_id);
  for (uint32_t i = 0; i < bloom_k_; ++i) {
    uint64_t bit = (h1 + i * h2) % m;
    if (!(static_cast<uint8_t>(bloom_[bit / 8]) & (1 << (bit % 8)))) return false;
  }
  return true;
}

Result<std::vector<std::string>> BlockReader::ReadDict(const RowGroup& rg) const {
  SL_ASSIGN_OR_RETURN(std::string z, files_->ReadRange("data", rg.offset, rg.dict_len));
  return ParseDict(z);
}

Result<std::vector<std::string>> BlockReader::ParseDict(std::string_view z) {
  SL_ASSIGN_OR_RETURN(std::string d, Decompress(Codec::kZstd, z, kMaxSection));
  coding::Reader in(d);
  uint64_t n = in.Uvarint();
  if (!in.ok() || n > d.size()) return DataLossError("trace block: bad dictionary");
  std::vector<std::string> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) out.emplace_back(in.LengthPrefixed());
  if (!in.ok()) return DataLossError("trace block: truncated dictionary");
  return out;
}

Status BlockReader::ReadTraces(
    const RowGroup& rg, const std::vector<std::string>& dict,
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  (void)dict;
  SL_ASSIGN_OR_RETURN(std::string z,
                      files_->ReadRange("data", rg.offset + rg.dict_len, rg.data_len));
  SL_ASSIGN_OR_RETURN(std::string raw, Decompress(Codec::kZstd, z, kMaxSection));
  coding::Reader in(raw);
  for (uint64_t i = 0; i < rg.num_traces; ++i) {
    std::string_view rec = in.LengthPrefixed();
    if (!in.ok() || rec.size() < 16) return DataLossError("trace block: truncated row group");
    if (!fn(rec.substr(0, 16), rec)) break;
  }
  return Status::Ok();
}

Result<std::optional<Trace>> BlockReader::Find(std::string_view trace_id) const {
  if (trace_id.size() != 16 || !MayContain(trace_id)) return std::optional<Trace>();
  // The row group whose [first, last] id range may hold the id: the first
  // whose last id is not below it (row groups are in id order).
  auto it = std::lower_bound(row_groups_.begin(), row_groups_.end(), trace_id,
                             [](const RowGroup& rg, std::string_view id) {
                               return std::string_view(rg.last_id, 16) < id;
                             });
  if (it == row_groups_.end() || std::string_view(it->first_id, 16) > trace_id) {
    return std::optional<Trace>();
  }
  const RowGroup& rg = *it;
  SL_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> page,
                      IdPage(static_cast<size_t>(it - row_groups_.begin())));
  // Binary search over the page's sorted 16-byte ids.
  const std::string_view ids(*page);
  size_t lo = 0, hi = ids.size() / 16;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ids.substr(mid * 16, 16) < trace_id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo >= ids.size() / 16 || ids.substr(lo * 16, 16) != trace_id) {
    return std::optional<Trace>();
  }
  return DecodeAt(rg, trace_id, lo);
}

Result<std::optional<Trace>> BlockReader::FindPart(std::string_view trace_id) const {
  if (trace_id.size() != 16) return std::optional<Trace>();
  auto it = std::lower_bound(row_groups_.begin(), row_groups_.end(), trace_id,
                             [](const RowGroup& rg, std::string_view id) {
                               return std::string_view(rg.last_id, 16) < id;
                             });
  if (it == row_groups_.end() || std::string_view(it->first_id, 16) > trace_id) {
    return std::optional<Trace>();
  }
  return DecodeAt(*it, trace_id, 0);
}

// The record of `trace_id` in row group `rg`, from its position `skip` on
// (records are in id order: the id's position in its page is its position
// in the row group; 0 walks from the start).
Result<std::optional<Trace>> BlockReader::DecodeAt(const RowGroup& rg, std::string_view trace_id,
                                                   uint64_t skip) const {
  // One ranged read for the row group's dictionary and traces (one request
  // to an object store instead of two).
  SL_ASSIGN_OR_RETURN(std::string both,
                      files_->ReadRange("data", rg.offset, rg.dict_len + rg.data_len));
  std::string_view bv(both);
  SL_ASSIGN_OR_RETURN(std::vector<std::string> dict, ParseDict(bv.substr(0, rg.dict_len)));
  std::vector<std::string_view> views(dict.begin(), dict.end());
  SL_ASSIGN_OR_RETURN(std::string raw,
                      Decompress(Codec::kZstd, bv.substr(rg.dict_len), kMaxSection));
  coding::Reader in(raw);
  for (uint64_t i = 0; i < rg.num_traces; ++i) {
    std::string_view rec = in.LengthPrefixed();
    if (!in.ok() || rec.size() < 16) return DataLossError("trace block: truncated row group");
    if (i < skip) continue;
    const std::string_view id = rec.substr(0, 16);
    if (id < trace_id) continue;
    if (id != trace_id) break;
    Trace t;
    SL_RETURN_IF_ERROR(DecodeTrace(rec, &views, &t));
    return std::optional<Trace>(std::move(t));
  }
  return std::optional<Trace>();
}

Status BlockReader::Scan(const ScanParams& params, const std::function<bool(Trace&&)>& fn,
                         bool* stopped) const {
  if (stopped) *stopped = false;
  for (const RowGroup& rg : row_groups_) {
    if (params.end_unix_nano != 0 && rg.min_start >= params.end_unix_nano) continue;
    if (params.start_unix_nano != 0 && rg.max_end < params.start_unix_nano) continue;
    SL_ASSIGN_OR_RETURN(std::vector<std::string> dict, ReadDict(rg));
    const auto& h = params.hints;
    if (!h.equalities.empty() || h.span_name) {
      std::unordered_set<std::string_view> have(dict.begin(), dict.end());
      bool may = true;
      for (const auto& e : h.equalities) {
        if (!have.count(e.key) || !have.count(e.value)) may = false;
      }
      if (h.span_name && !have.count(*h.span_name)) may = false;
      if (!may) continue;
    }
    std::vector<std::string_view> views(dict.begin(), dict.end());
    Status decode;
    bool stop = false;
    SL_RETURN_IF_ERROR(ReadTraces(rg, dict, [&](std::string_view, std::string_view rec) {
      Trace t;
      decode = DecodeTrace(rec, &views, &t);
      if (!decode.ok()) return false;
      if (!fn(std::move(t))) {
        stop = true;
        return false;
      }
      return true;
    }));
    SL_RETURN_IF_ERROR(decode);
    if (stop) {
      if (stopped) *stopped = true;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace sightline::traces::store
