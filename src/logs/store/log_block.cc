#include "logs/store/log_block.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include "base/coding.h"
#include "base/compression.h"
#include "base/crc32c.h"
#include "blocks/ulid.h"
#include "io/env.h"
#include "io/object_file.h"
#include "io/object_store.h"

namespace sightline::logs::store {

namespace {

constexpr std::string_view kIndexMagic = "SLLOGIX1";

Status WriteWholeFile(io::Env* env, const std::string& path, std::string_view data) {
  SL_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  SL_RETURN_IF_ERROR(f->Append(data));
  SL_RETURN_IF_ERROR(f->Sync());
  return f->Close();
}

class LocalSource final : public BlockSource {
 public:
  LocalSource(io::Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Result<std::string> ReadFile(const std::string& rel) override {
    return env_->ReadFile(dir_ + "/" + rel);
  }
  Result<std::string> ReadRange(const std::string& rel, uint64_t offset, uint64_t length) override {
    std::string scratch;
    SL_ASSIGN_OR_RETURN(std::string_view v, ReadRangeView(rel, offset, length, &scratch));
    return std::string(v);
  }
  Result<std::string_view> ReadRangeView(const std::string& rel, uint64_t offset, uint64_t length,
                                         std::string* scratch) override {
    SL_ASSIGN_OR_RETURN(io::RandomAccessFile * f, File(rel));
    SL_ASSIGN_OR_RETURN(std::string_view v, f->Read(offset, length, scratch));
    if (v.size() != length) return DataLossError("short read in " + dir_ + "/" + rel);
    return v;
  }
  std::string Describe() const override { return dir_; }

 private:
  // Files stay open (block files never change once meta.json exists).
  Result<io::RandomAccessFile*> File(const std::string& rel) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(rel);
    if (it != files_.end()) return it->second.get();
    SL_ASSIGN_OR_RETURN(auto f, env_->NewRandomAccessFile(dir_ + "/" + rel));
    io::RandomAccessFile* p = f.get();
    files_.emplace(rel, std::move(f));
    return p;
  }

  io::Env* env_;
  std::string dir_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<io::RandomAccessFile>> files_;
};

class RemoteSource final : public BlockSource {
 public:
  RemoteSource(io::ObjectStore* store, std::string prefix, io::PageCache* cache,
               std::map<std::string, uint64_t> sizes)
      : store_(store), prefix_(std::move(prefix)), cache_(cache), sizes_(std::move(sizes)) {}
  Result<std::string> ReadFile(const std::string& rel) override {
    return store_->Get(prefix_ + rel);
  }
  Result<std::string> ReadRange(const std::string& rel, uint64_t offset, uint64_t length) override {
    std::string scratch;
    SL_ASSIGN_OR_RETURN(std::string_view v, ReadRangeView(rel, offset, length, &scratch));
    return std::string(v);
  }
  Result<std::string_view> ReadRangeView(const std::string& rel, uint64_t offset, uint64_t length,
                                         std::string* scratch) override {
    if (cache_ == nullptr) {
      SL_ASSIGN_OR_RETURN(*scratch, store_->GetRange(prefix_ + rel, offset, length));
      if (scratch->size() != length) return DataLossError("short range read of " + prefix_ + rel);
      return std::string_view(*scratch);
    }
    SL_ASSIGN_OR_RETURN(io::RandomAccessFile * f, File(rel));
    SL_ASSIGN_OR_RETURN(std::string_view v, f->Read(offset, length, scratch));
    if (v.size() != length) return DataLossError("short range read of " + prefix_ + rel);
    return v;
  }
  std::string Describe() const override { return prefix_; }

 private:
  Result<io::RandomAccessFile*> File(const std::string& rel) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(rel);
    if (it != files_.end()) return it->second.get();
    std::optional<uint64_t> size;
    if (auto s = sizes_.find(rel); s != sizes_.end()) size = s->second;
    SL_ASSIGN_OR_RETURN(auto f, io::OpenObjectFile(store_, prefix_ + rel, cache_, size));
    io::RandomAccessFile* p = f.get();
    files_.emplace(rel, std::move(f));
    return p;
  }

  io::ObjectStore* store_;
  std::string prefix_;
  io::PageCache* cache_;
  std::map<std::string, uint64_t> sizes_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<io::RandomAccessFile>> files_;
};

}  // namespace

std::unique_ptr<BlockSource> LocalBlockSource(io::Env* env, std::string dir) {
  return std::make_unique<LocalSource>(env, std::move(dir));
}
std::unique_ptr<BlockSource> RemoteBlockSource(io::ObjectStore* store, std::string prefix,
                                               io::PageCache* cache,
                                               std::map<std::string, uint64_t> sizes) {
  return std::make_unique<RemoteSource>(store, std::move(prefix), cache, std::move(sizes));
}

Result<std::string_view> BlockSource::ReadRangeView(const std::string& rel_path, uint64_t offset,
                                                    uint64_t length, std::string* scratch) {
  SL_ASSIGN_OR_RETURN(*scratch, ReadRange(rel_path, offset, length));
  return std::string_view(*scratch);
}

std::string EncodeIndex(const BlockIndex& index) {
  std::string payload;
  coding::PutUvarint(payload, index.streams.size());
  for (const auto& s : index.streams) {
    EncodeLabels(payload, s.labels);
    coding::PutUvarint(payload, s.chunks.size());
    for (const auto& c : s.chunks) {
      coding::PutUvarint(payload, c.offset);
      coding::PutUvarint(payload, c.length);
      coding::PutVarint(payload, c.min_ts);
      coding::PutVarint(payload, c.max_ts - c.min_ts);
      coding::PutUvarint(payload, c.entries);
      coding::PutUvarint(payload, c.raw_bytes);
    }
  }
  coding::PutUvarint(payload, index.traces.size());
  for (const auto& [id, refs] : index.traces) {
    payload.append(reinterpret_cast<const char*>(id.data()), id.size());
    coding::PutUvarint(payload, refs.size());
    for (const auto& r : refs) {
      coding::PutUvarint(payload, r.stream);
      coding::PutUvarint(payload, r.chunk);
    }
  }
  auto compressed = Compress(Codec::kZstd, payload);
  std::string out(kIndexMagic);
  coding::PutUvarint(out, payload.size());
  out += compressed.ok() ? *compressed : std::string();
  coding::PutFixed32LE(out, crc32c::Value(std::string_view(out).substr(kIndexMagic.size())));
  return out;
}

Result<BlockIndex> DecodeIndex(std::string_view data) {
  if (data.size() < kIndexMagic.size() + 4 || data.substr(0, kIndexMagic.size()) != kIndexMagic) {
    return DataLossError("not a logs block index (bad magic)");
  }
  std::string_view body = data.substr(kIndexMagic.size(), data.size() - kIndexMagic.size() - 4);
  if (crc32c::Value(body) != coding::LoadFixed32LE(data.data() + data.size() - 4)) {
    return DataLossError("logs block index checksum mismatch");
  }
  coding::Reader hr(body);
  uint64_t raw_size = hr.Uvarint();
  if (!hr.ok() || raw_size > (1ull << 32)) return DataLossError("corrupt logs block index");
  SL_ASSIGN_OR_RETURN(std::string payload, Decompress(Codec::kZstd, hr.rest(), raw_size));
  coding::Reader r(payload);
  BlockIndex index;
  uint64_t ns = r.Uvarint();
  if (!r.ok() || ns > payload.size()) return DataLossError("corrupt logs block index");
  index.streams.resize(ns);
  for (auto& s : index.streams) {
    if (!DecodeLabels(r, &s.labels)) return DataLossError("corrupt labels in logs block index");
    uint64_t nc = r.Uvarint();
    if (!r.ok() || nc > payload.size()) return DataLossError("corrupt logs block index");
    s.chunks.resize(nc);
    for (auto& c : s.chunks) {
      c.offset = r.Uvarint();
      c.length = r.Uvarint();
      c.min_ts = r.Varint();
      c.max_ts = c.min_ts + r.Varint();
      c.entries = static_cast<uint32_t>(r.Uvarint());
      c.raw_bytes = r.Uvarint();
    }
  }
  uint64_t nt = r.Uvarint();
  if (!r.ok() || nt > payload.size()) return DataLossError("corrupt logs block index");
  index.traces.resize(nt);
  for (auto& [id, refs] : index.traces) {
    std::string_view b = r.Bytes(16);
    if (!r.ok()) return DataLossError("corrupt trace index");
    std::copy(b.begin(), b.end(), id.begin());
    uint64_t n = r.Uvarint();
    if (!r.ok() || n > payload.size()) return DataLossError("corrupt trace index");
    refs.resize(n);
    for (auto& ref : refs) {
      ref.stream = static_cast<uint32_t>(r.Uvarint());
      ref.chunk = static_cast<uint32_t>(r.Uvarint());
      if (ref.stream >= index.streams.size() ||
          ref.chunk >= index.streams[ref.stream].chunks.size()) {
        return DataLossError("trace index refers to a missing chunk");
      }
    }
  }
  if (!r.ok() || !r.empty()) return DataLossError("corrupt logs block index (trailing bytes)");
  return index;
}

Result<blocks::BlockMeta> WriteLogBlock(io::Env* env, const std::string& blocks_dir,
                                        const std::string& tenant,
                                        std::vector<PushStream> streams,
                                        const std::map<std::string, uint64_t>& extra_stats,
                                        const BlockWriteOptions& options) {
  std::sort(streams.begin(), streams.end(),
            [](const PushStream& a, const PushStream& b) { return a.labels < b.labels; });
  blocks::BlockMeta meta;
  meta.ulid = blocks::NewUlid();
  std::string dir = blocks_dir + "/" + meta.ulid.ToString();
  SL_RETURN_IF_ERROR(env->CreateDirs(dir + "/chunks"));
  SL_ASSIGN_OR_RETURN(auto chunks_file, env->NewWritableFile(dir + "/chunks/000001"));

  BlockIndex index;
  std::map<TraceId, std::vector<TraceRef>> traces;
  uint64_t offset = 0, entries_total = 0, raw_total = 0, chunks_total = 0;
  int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
  std::string comp;
  std::vector<TraceId> ids;
  ChunkEncoder encoder(options.chunk);
  for (auto& st : streams) {
    if (st.entries.empty()) continue;
    std::stable_sort(st.entries.begin(), st.entries.end(), [](const Entry& a, const Entry& b) {
      return a.timestamp_ns < b.timestamp_ns;
    });
    BlockStream bs;
    bs.labels = st.labels;
    uint32_t stream_idx = static_cast<uint32_t>(index.streams.size());
    size_t i = 0;
    while (i < st.entries.size()) {
      // Gather entries up to kChunkBlockBytes of encoded size.
      size_t j = i;
      size_t approx = 0;
      uint64_t raw_bytes = 0;
      std::vector<const Entry*> batch;
      std::vector<TraceId> chunk_ids;
      while (j < st.entries.size() && (batch.empty() || approx < options.chunk_block_bytes)) {
        const Entry& e = st.entries[j];
        size_t sz = e.line.size();
        for (const auto& l : e.structured_metadata) sz += l.name.size() + l.value.size();
        approx += sz;
        raw_bytes += e.line.size();
        for (const auto& l : e.structured_metadata) raw_bytes += l.name.size() + l.value.size();
        batch.push_back(&e);
        ids.clear();
        ExtractTraceIds(e, &ids);
        chunk_ids.insert(chunk_ids.end(), ids.begin(), ids.end());
        ++j;
      }
      comp.clear();
      SL_RETURN_IF_ERROR(encoder.Encode(batch.data(), batch.size(), &comp));
      SL_RETURN_IF_ERROR(chunks_file->Append(comp));
      ChunkRef ref;
      ref.offset = offset;
      ref.length = comp.size();
      ref.min_ts = batch.front()->timestamp_ns;
      ref.max_ts = batch.back()->timestamp_ns;
      ref.entries = static_cast<uint32_t>(batch.size());
      ref.raw_bytes = raw_bytes;
      offset += comp.size();
      std::sort(chunk_ids.begin(), chunk_ids.end());
      chunk_ids.erase(std::unique(chunk_ids.begin(), chunk_ids.end()), chunk_ids.end());
      uint32_t chunk_idx = static_cast<uint32_t>(bs.chunks.size());
      for (const auto& id : chunk_ids) traces[id].push_back({stream_idx, chunk_idx});
      min_ts = std::min(min_ts, ref.min_ts);
      max_ts = std::max(max_ts, ref.max_ts);
      entries_total += ref.entries;
      raw_total += raw_bytes;
      ++chunks_total;
      bs.chunks.push_back(ref);
      i = j;
    }
    index.streams.push_back(std::move(bs));
  }
  SL_RETURN_IF_ERROR(chunks_file->Sync());
  SL_RETURN_IF_ERROR(chunks_file->Close());
  index.traces.assign(traces.begin(), traces.end());
  std::string idx = EncodeIndex(index);
  SL_RETURN_IF_ERROR(WriteWholeFile(env, dir + "/index", idx));

  if (entries_total == 0) min_ts = max_ts = 0;
  meta.min_time = min_ts / 1'000'000;
  meta.max_time = max_ts / 1'000'000 + 1;
  meta.stats["numEntries"] = entries_total;
  meta.stats[kTraceIndexHexRunsStat] = 1;
  meta.stats["numStreams"] = index.streams.size();
  meta.stats["numChunks"] = chunks_total;
  meta.stats["numBytes"] = raw_total;
  meta.stats["compressedBytes"] = offset;
  meta.stats["minTimeNs"] = static_cast<uint64_t>(min_ts);
  meta.stats["maxTimeNs"] = static_cast<uint64_t>(max_ts);
  for (const auto& [k, v] : extra_stats) meta.stats[k] = v;
  meta.signal = "logs";
  meta.tenant = tenant;
  meta.format = std::string(kLogsBlockFormat);
  meta.source = "ingester";
  meta.files = {{"chunks/000001", offset}, {"index", idx.size()}};
  SL_RETURN_IF_ERROR(WriteWholeFile(env, dir + "/meta.json", meta.ToJson()));
  SL_RETURN_IF_ERROR(env->SyncDir(dir));
  SL_RETURN_IF_ERROR(env->SyncDir(blocks_dir));
  return meta;
}

Result<std::shared_ptr<LogBlock>> LogBlock::Open(std::unique_ptr<BlockSource> source,
                                                 blocks::BlockMeta meta) {
  std::shared_ptr<LogBlock> b(new LogBlock());
  SL_ASSIGN_OR_RETURN(std::string idx, source->ReadFile("index"));
  auto index = DecodeIndex(idx);
  if (!index.ok()) return index.status().Annotate(source->Describe());
  b->index_ = std::move(index).value();
  b->source_ = std::move(source);
  b->meta_ = std::move(meta);
  b->min_ts_ = INT64_MAX;
  b->max_ts_ = INT64_MIN;
  for (const auto& s : b->index_.streams) {
    for (const auto& c : s.chunks) {
      b->min_ts_ = std::min(b->min_ts_, c.min_ts);
      b->max_ts_ = std::max(b->max_ts_, c.max_ts);
    }
  }
  if (b->min_ts_ > b->max_ts_) b->min_ts_ = b->max_ts_ = 0;
  return b;
}

Status LogBlock::ReadChunk(const ChunkRef& ref, std::vector<Entry>* out) const {
  ChunkView view;
  std::string scratch;
  SL_RETURN_IF_ERROR(ReadChunk(ref, &view, &scratch));
  size_t base = out->size();
  out->resize(base + view.size());
  for (size_t i = 0; i < view.size(); ++i) {
    Entry& e = (*out)[base + i];
    e.timestamp_ns = view.ts(i);
    e.line.assign(view.line(i));
    view.Metadata(i, &e.structured_metadata);
  }
  return view.metadata_status();
}

Status LogBlock::ReadChunk(const ChunkRef& ref, ChunkView* view, std::string* scratch) const {
  SL_ASSIGN_OR_RETURN(std::string_view comp,
                      source_->ReadRangeView("chunks/000001", ref.offset, ref.length, scratch));
  Status s = view->Decode(comp);
  if (!s.ok()) return s.Annotate(source_->Describe());
  if (view->size() != ref.entries) {
    return DataLossError("log chunk block holds " + std::to_string(view->size()) +
                         " entries, the index says " + std::to_string(ref.entries))
        .Annotate(source_->Describe());
  }
  return Status::Ok();
}

const std::vector<TraceRef>* LogBlock::TraceRefs(const TraceId& id) const {
  auto it = std::lower_bound(index_.traces.begin(), index_.traces.end(), id,
                             [](const auto& a, const TraceId& b) { return a.first < b; });
  if (it == index_.traces.end() || it->first != id) return nullptr;
  return &it->second;
}

}  // namespace sightline::logs::store
